#include "core/buffer.h"

#include <stdlib.h>
#include <string.h>

int buffer_append(struct buffer *b, const char *data, size_t length)
{
    if (length > b->capacity - b->length) {
        size_t capacity = b->capacity ? b->capacity : 4096;
        while (capacity - b->length < length) {
            if (capacity > ((size_t)-1) / 2)
                return -1;
            capacity *= 2;
        }
        char *grown = realloc(b->data, capacity);
        if (!grown)
            return -1;
        b->data = grown;
        b->capacity = capacity;
    }
    if (length)
        memcpy(b->data + b->length, data, length);
    b->length += length;
    return 0;
}

void buffer_reset(struct buffer *b)
{
    b->length = 0;
}

void buffer_free(struct buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->length = b->capacity = 0;
}
