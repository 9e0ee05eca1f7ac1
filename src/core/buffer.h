/* A growable byte buffer owned by C (used where data arrives inside a C
 * library callback, where no Lua call may be made). */
#ifndef FERRY_BUFFER_H
#define FERRY_BUFFER_H

#include <stddef.h>

struct buffer {
    char *data;
    size_t length, capacity;
};

/* Appends; returns 0, or -1 when memory is exhausted (buffer unchanged). */
int buffer_append(struct buffer *b, const char *data, size_t length);
void buffer_reset(struct buffer *b); /* length = 0, keeps the memory */
void buffer_free(struct buffer *b);

#endif
