/* require "ferry.http": HTTP transfers on the event loop (libcurl multi).
 *
 * http.start(options) returns a request op at once; the Lua side
 * (lua/http.lua) waits on it with task.await, takes streamed data with
 * op:take() and the outcome with op:result(). libcurl's callbacks only
 * append to C buffers and mark the op ready: no Lua runs inside libcurl. */
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buffer.h"
#include "core/error.h"
#include "core/loop.h"
#include "core/modules.h"
#include "core/names.h"
#include "core/options.h"

enum request_state { REQUEST_CLOSED, REQUEST_RUNNING, REQUEST_FINISHED };

struct http_request {
    struct loop_op op; /* first: the scheduler waits on it */
    struct loop_transfer transfer;
    enum request_state state;
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *connect_to;
    struct buffer body;
    struct buffer header_lines;
    int streaming;
    int out_of_memory;
    curl_off_t max_body;  /* bytes held at once; 0: no cap */
    int too_large;        /* the answer crossed max_body */
    /* The body of a POST or PATCH, read by libcurl through on_upload, so
     * that a resend libcurl attempts by itself (a reused connection that
     * died after the request went out) must rewind it, and on_rewind
     * refuses. */
    char *upload;
    size_t upload_length, upload_sent;
    int got_response;     /* a header arrived: a rewind is for a redirect */
    int resend_refused;
    CURLcode result;
    char method[16];
    char *safe_url; /* without user:password@, for error messages */
    char error[CURL_ERROR_SIZE];
};

/* ---- libcurl callbacks: no Lua here ------------------------------------ */

static size_t on_body(char *data, size_t size, size_t count, void *user)
{
    struct http_request *r = user;
    size_t length = size * count;
    if (r->max_body > 0 && (curl_off_t)(r->body.length + length) > r->max_body) {
        r->too_large = 1;
        return 0;
    }
    if (buffer_append(&r->body, data, length) != 0) {
        r->out_of_memory = 1;
        return 0; /* makes libcurl abort the transfer */
    }
    if (r->streaming && length > 0)
        loop_op_ready(&r->op);
    return length;
}

static size_t on_header(char *data, size_t size, size_t count, void *user)
{
    struct http_request *r = user;
    size_t length = size * count;
    r->got_response = 1;
    /* A new status line starts a new response (redirect, 100 Continue). */
    if (length >= 5 && memcmp(data, "HTTP/", 5) == 0)
        buffer_reset(&r->header_lines);
    if (buffer_append(&r->header_lines, data, length) != 0) {
        r->out_of_memory = 1;
        return 0;
    }
    return length;
}

static size_t on_upload(char *data, size_t size, size_t count, void *user)
{
    struct http_request *r = user;
    size_t length = r->upload_length - r->upload_sent;
    if (length > size * count)
        length = size * count;
    memcpy(data, r->upload + r->upload_sent, length);
    r->upload_sent += length;
    return length;
}

/* libcurl rewinds the body to send the request again: after a redirect or
 * an authentication challenge (an answer arrived: the server did not act
 * on the request), or on its own when the reused connection the request
 * went out on died without an answer, when the server may have acted on
 * it: that resend is refused. */
static int on_rewind(void *user, curl_off_t offset, int origin)
{
    struct http_request *r = user;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > r->upload_length)
        return CURL_SEEKFUNC_CANTSEEK;
    if (r->upload_sent > 0 && !r->got_response) {
        r->resend_refused = 1;
        return CURL_SEEKFUNC_FAIL;
    }
    r->upload_sent = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static void on_done(struct loop_transfer *transfer, CURLcode result)
{
    struct http_request *r =
        (struct http_request *)((char *)transfer - offsetof(struct http_request, transfer));
    r->result = result;
    r->state = REQUEST_FINISHED;
    loop_op_ready(&r->op);
}

/* ---- lifetime ----------------------------------------------------------- */

static void request_release(struct http_request *r)
{
    if (r->easy) {
        if (r->state == REQUEST_RUNNING && r->op.loop)
            loop_transfer_stop(r->op.loop, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    curl_slist_free_all(r->connect_to);
    r->connect_to = NULL;
    buffer_free(&r->body);
    buffer_free(&r->header_lines);
    free(r->safe_url);
    r->safe_url = NULL;
    free(r->upload);
    r->upload = NULL;
    loop_op_unready(&r->op);
    r->state = REQUEST_CLOSED;
}

/* __gc, __close and cancel: stops the transfer and frees everything. [-0, +0, -] */
static int request_close(lua_State *L)
{
    request_release(luaL_checkudata(L, 1, FERRY_HTTP_REQUEST_METATABLE));
    return 0;
}

/* ---- building the request ------------------------------------------------ */

/* Whether a query parameter's name says its value is a credential
 * ("token", "access_token", "X-Amz-Signature", "api_key", "sig", ...). */
static int secret_parameter(const char *name, size_t length)
{
    static const char *const parts[] = {"token", "secret", "passw", "key", "signature",
                                        "credential", "auth", "session", NULL};
    static const char *const names[] = {"sig", "code", "pwd", "pass", "jwt", NULL};
    char lower[64];
    if (length >= sizeof lower)
        return 1; /* a name that long is shown without its value, to be safe */
    for (size_t i = 0; i < length; i++)
        lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    lower[length] = '\0';
    for (int i = 0; parts[i]; i++)
        if (strstr(lower, parts[i]))
            return 1;
    for (int i = 0; names[i]; i++)
        if (strcmp(lower, names[i]) == 0)
            return 1;
    return 0;
}

/* A copy of text (a URL, or a path with its query) whose query and fragment
 * parameters that name a credential have "***" for a value: "?token=abc&a=1"
 * -> "?token=***&a=1". NULL when out of memory. */
static char *query_redacted(const char *text)
{
    struct buffer out = {0};
    const char *p = text;
    size_t head = strcspn(p, "?#");
    int failed = buffer_append(&out, p, head);
    p += head;
    while (*p && !failed) {
        failed |= buffer_append(&out, p, 1); /* the '?', '#' or '&' before a parameter */
        p++;
        size_t length = strcspn(p, "&#"), name = strcspn(p, "=&#");
        if (name < length && secret_parameter(p, name))
            failed |= buffer_append(&out, p, name + 1) | buffer_append(&out, "***", 3);
        else
            failed |= buffer_append(&out, p, length);
        p += length;
    }
    failed |= buffer_append(&out, "", 1);
    if (failed) {
        buffer_free(&out);
        return NULL;
    }
    return out.data;
}

/* A copy of url for messages, without its user-info part ("https://user:pw@host"
 * -> "https://host/"), as libcurl's own parser reads it; a URL it cannot parse
 * is not shown at all, since where its credentials end is unknown. NULL when
 * out of memory. */
static char *url_without_userinfo(const char *url)
{
    CURLU *parsed = curl_url();
    if (!parsed)
        return NULL;
    char *user = NULL, *password = NULL, *rebuilt = NULL, *safe = NULL;
    if (curl_url_set(parsed, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        safe = strdup("(a malformed URL)");
    } else {
        curl_url_get(parsed, CURLUPART_USER, &user, 0);
        curl_url_get(parsed, CURLUPART_PASSWORD, &password, 0);
        if (!user && !password) {
            safe = strdup(url); /* as given: nothing to hide */
        } else {
            curl_url_set(parsed, CURLUPART_USER, NULL, 0);
            curl_url_set(parsed, CURLUPART_PASSWORD, NULL, 0);
            curl_url_set(parsed, CURLUPART_OPTIONS, NULL, 0);
            if (curl_url_get(parsed, CURLUPART_URL, &rebuilt, 0) == CURLUE_OK)
                safe = strdup(rebuilt);
        }
    }
    curl_free(user);
    curl_free(password);
    curl_free(rebuilt);
    curl_url_cleanup(parsed);
    return safe;
}

/* A copy of url for messages: no user-info, no credentials in its query. */
static char *url_without_credentials(const char *url)
{
    char *safe = url_without_userinfo(url);
    char *redacted = safe ? query_redacted(safe) : NULL;
    free(safe);
    return redacted;
}

/* Appends "Name: value" to the request headers. [-0, +0, m] */
static void header_add(lua_State *L, struct http_request *r, const char *line)
{
    struct curl_slist *grown = curl_slist_append(r->headers, line);
    if (!grown)
        luaL_error(L, "out of memory");
    r->headers = grown;
}

/* options.headers: {["Name"] = "value"} or {"Name: value", ...}. [-0, +0, e] */
static void headers_set(lua_State *L, struct http_request *r, int options)
{
    if (lua_getfield(L, options, "headers") != LUA_TNIL) {
        luaL_checktype(L, -1, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) == LUA_TNUMBER) {
                header_add(L, r, luaL_checkstring(L, -1));
            } else {
                const char *name = luaL_checkstring(L, -2);
                header_add(L, r, lua_pushfstring(L, "%s: %s", name, luaL_checkstring(L, -1)));
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    header_add(L, r, "Expect:"); /* no 100-continue round trip on large bodies */
}

static void blob_set(CURL *easy, CURLoption option, const char *data)
{
    struct curl_blob blob = {(void *)data, strlen(data), CURL_BLOB_COPY};
    curl_easy_setopt(easy, option, &blob);
}

/* TLS: CA, client certificate and key, from files or PEM text. [-0, +0, e] */
static void tls_set(lua_State *L, struct http_request *r, int options)
{
    const char *value;
    if ((value = ferry_opt_string(L, options, "http", "ca_file")))
        curl_easy_setopt(r->easy, CURLOPT_CAINFO, value);
    if ((value = ferry_opt_string(L, options, "http", "ca_data")))
        blob_set(r->easy, CURLOPT_CAINFO_BLOB, value);
    if ((value = ferry_opt_string(L, options, "http", "cert_file")))
        curl_easy_setopt(r->easy, CURLOPT_SSLCERT, value);
    if ((value = ferry_opt_string(L, options, "http", "cert_data")))
        blob_set(r->easy, CURLOPT_SSLCERT_BLOB, value);
    if ((value = ferry_opt_string(L, options, "http", "key_file")))
        curl_easy_setopt(r->easy, CURLOPT_SSLKEY, value);
    if ((value = ferry_opt_string(L, options, "http", "key_data")))
        blob_set(r->easy, CURLOPT_SSLKEY_BLOB, value);
    if (ferry_opt_boolean(L, options, "insecure")) {
        curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

/* A POST or PATCH is never sent twice: its body goes through on_upload and
 * on_rewind; one without a body (nothing for libcurl to rewind, so nothing
 * to refuse) takes a connection of its own, which libcurl never retries.
 * [-0, +0, m] */
static void upload_set(lua_State *L, struct http_request *r, const char *body, size_t length)
{
    curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)length);
    if (length == 0) {
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
        return;
    }
    if (!(r->upload = malloc(length)))
        luaL_error(L, "out of memory");
    memcpy(r->upload, body, length);
    r->upload_length = length;
    curl_easy_setopt(r->easy, CURLOPT_READFUNCTION, on_upload);
    curl_easy_setopt(r->easy, CURLOPT_READDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_SEEKFUNCTION, on_rewind);
    curl_easy_setopt(r->easy, CURLOPT_SEEKDATA, r);
}

static void method_set(lua_State *L, struct http_request *r, int options)
{
    const char *method = ferry_opt_string(L, options, "http", "method");
    if (!method)
        method = "GET";
    if (strlen(method) >= sizeof r->method)
        luaL_error(L, "http option 'method' is too long: %s", method);
    for (size_t i = 0; method[i]; i++)
        r->method[i] = (char)(method[i] >= 'a' && method[i] <= 'z' ? method[i] - 32 : method[i]);
    if (strcmp(r->method, "HEAD") == 0)
        curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
    else if (strcmp(r->method, "GET") != 0)
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, r->method);
    size_t length = 0;
    const char *body = NULL;
    lua_getfield(L, options, "body");
    if (!lua_isnil(L, -1))
        body = luaL_checklstring(L, -1, &length);
    if (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PATCH") == 0)
        upload_set(L, r, body, length);
    else if (body) {
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)length);
        curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, body);
    }
    lua_pop(L, 1);
}

static void easy_configure(lua_State *L, struct http_request *r, int options, const char *url)
{
    CURL *easy = r->easy;
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &r->transfer);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    double timeout = ferry_opt_number(L, options, "http", "timeout", 0);
    if (timeout > 0)
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    double connect_timeout = ferry_opt_number(L, options, "http", "connect_timeout", 30);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout * 1000));
    /* less than a byte a second, in either direction and while waiting for
     * the answer too, for stall_timeout seconds: the peer is stuck */
    double stall_timeout = ferry_opt_number(L, options, "http", "stall_timeout", 0);
    if (stall_timeout > 0) {
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, stall_timeout < 1 ? 1L : (long)stall_timeout);
    }
    double max_body = ferry_opt_number(L, options, "http", "max_body_bytes", 0);
    if (max_body > 0) {
        r->max_body = (curl_off_t)max_body;
        /* refused at once when the answer announces its length */
        if (!r->streaming)
            curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, r->max_body);
    }
    if (ferry_opt_boolean(L, options, "follow_redirects")) {
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 10L);
    }
    /* "name:port:host:port": talk to host while verifying the certificate
     * (and sending SNI) for name, as kubeconfig's tls-server-name asks. */
    const char *connect_to = ferry_opt_string(L, options, "http", "connect_to");
    if (connect_to) {
        if (!(r->connect_to = curl_slist_append(NULL, connect_to)))
            luaL_error(L, "out of memory");
        curl_easy_setopt(easy, CURLOPT_CONNECT_TO, r->connect_to);
    }
    const char *proxy = ferry_opt_string(L, options, "http", "proxy");
    curl_easy_setopt(easy, CURLOPT_PROXY, proxy ? proxy : "");
    method_set(L, r, options);
    headers_set(L, r, options);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, r->headers);
    tls_set(L, r, options);
}

/* http.start{url=, method=, headers=, body=, timeout=, stream=, ...}
 * -> request op, already running. [-1, +1, e] */
static int http_start(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *url = ferry_opt_string(L, 1, "http", "url");
    if (!url)
        luaL_error(L, "http.request needs a url");
    /* closed state first: any error below leaves __gc something safe */
    struct http_request *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, FERRY_HTTP_REQUEST_METATABLE);
    r->transfer.done = on_done;
    r->streaming = ferry_opt_boolean(L, 1, "stream");
    if (!(r->safe_url = url_without_credentials(url)) || !(r->easy = curl_easy_init()))
        return luaL_error(L, "out of memory");
    easy_configure(L, r, 1, url);
    struct ferry_loop *loop = ferry_loop_get(L);
    loop_op_init(&r->op, loop);
    loop_op_register(L, -1, &r->op);
    if (loop_transfer_start(loop, r->easy) != CURLM_OK)
        return luaL_error(L, "cannot start the HTTP transfer to %s", r->safe_url);
    r->state = REQUEST_RUNNING;
    return 1;
}

/* ---- results --------------------------------------------------------------- */

static const char *failure_kind(CURLcode code)
{
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "resolve";
    case CURLE_COULDNT_CONNECT:
        return "connect";
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return "tls";
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return "connection";
    case CURLE_OUT_OF_MEMORY:
        return "memory";
    default:
        return "http";
    }
}

/* Pushes the cap as people read it: "64 MiB", "1500 bytes". [-0, +1, m] */
static const char *size_push(lua_State *L, curl_off_t bytes)
{
    if (bytes >= 1 << 20 && bytes % (1 << 20) == 0)
        return lua_pushfstring(L, "%I MiB", (lua_Integer)(bytes >> 20));
    return lua_pushfstring(L, "%I bytes", (lua_Integer)bytes);
}

/* Raises the transfer's failure as {kind, message, url}. [-0, +0, v] */
static int request_raise_failure(lua_State *L, struct http_request *r)
{
    const char *kind = failure_kind(r->result), *reason;
    if (r->too_large || r->result == CURLE_FILESIZE_EXCEEDED) {
        kind = "too_large";
        reason = lua_pushfstring(L, "the answer is larger than %s (the option max_body_bytes raises the cap)",
                                 size_push(L, r->max_body));
    } else if (r->resend_refused) {
        kind = "connection";
        reason = "the connection closed after the request was sent, before any answer; "
                 "not sent again, since the server may have acted on it";
    } else {
        reason = r->out_of_memory ? "out of memory while receiving"
                 : r->error[0]    ? r->error
                                  : curl_easy_strerror(r->result);
    }
    ferry_error_push(L, kind, "%s %s: %s", r->method, r->safe_url, reason);
    ferry_error_set_string(L, "url", r->safe_url);
    ferry_error_set_string(L, "method", r->method);
    return lua_error(L);
}

/* Pushes the response headers as {lowercase-name = value}; repeated headers
 * are joined with ", " as HTTP allows. [-0, +1, m] */
static void headers_push(lua_State *L, const struct buffer *lines)
{
    lua_newtable(L);
    const char *p = lines->data, *end = lines->data + lines->length;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && colon > p) {
            luaL_Buffer name;
            luaL_buffinit(L, &name);
            for (const char *c = p; c < colon; c++)
                luaL_addchar(&name, (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c));
            luaL_pushresult(&name);
            const char *v = colon + 1, *v_end = line_end;
            while (v < v_end && (*v == ' ' || *v == '\t'))
                v++;
            while (v_end > v && (v_end[-1] == '\r' || v_end[-1] == ' '))
                v_end--;
            lua_pushvalue(L, -1);
            if (lua_rawget(L, -3) == LUA_TSTRING) {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(v_end - v));
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(v_end - v));
            }
            lua_rawset(L, -3);
        }
        p = eol ? eol + 1 : NULL;
    }
}

/* op:finished() -> boolean. [-0, +1, -] */
static int request_finished(lua_State *L)
{
    struct http_request *r = luaL_checkudata(L, 1, FERRY_HTTP_REQUEST_METATABLE);
    lua_pushboolean(L, r->state != REQUEST_RUNNING);
    return 1;
}

/* op:status() -> the HTTP status received so far (0 before the headers). [-0, +1, -] */
static int request_status(lua_State *L)
{
    struct http_request *r = luaL_checkudata(L, 1, FERRY_HTTP_REQUEST_METATABLE);
    long status = 0;
    if (r->easy)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_pushinteger(L, status);
    return 1;
}

/* op:take() -> the body bytes received since the last take ("" if none). [-0, +1, m] */
static int request_take(lua_State *L)
{
    struct http_request *r = luaL_checkudata(L, 1, FERRY_HTTP_REQUEST_METATABLE);
    lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.length);
    buffer_reset(&r->body);
    return 1;
}

/* op:result() -> {status, headers, body} or raises the transfer's failure.
 * [-0, +1, e] */
static int request_result(lua_State *L)
{
    struct http_request *r = luaL_checkudata(L, 1, FERRY_HTTP_REQUEST_METATABLE);
    if (r->state == REQUEST_CLOSED)
        return luaL_error(L, "the HTTP request was closed or cancelled");
    if (r->state == REQUEST_RUNNING)
        return luaL_error(L, "the HTTP request has not finished");
    if (r->result != CURLE_OK || r->out_of_memory)
        return request_raise_failure(L, r);
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    headers_push(L, &r->header_lines);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.length);
    lua_setfield(L, -2, "body");
    long http_version = 0;
    curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &http_version);
    lua_pushstring(L, http_version == CURL_HTTP_VERSION_2_0 ? "2" : "1.1");
    lua_setfield(L, -2, "http_version");
    return 1;
}

/* ---- URLs: libcurl's parser and percent-encoder, for the Lua side -------- */

/* Strings libcurl allocated, pushed by a protected call so that an error
 * while pushing them never skips their curl_free. */
#define URL_PART_COUNT 8
struct curl_strings {
    char *value[URL_PART_COUNT];
    size_t length; /* of value[0] when it may hold NUL bytes (unescape) */
};

static const struct {
    CURLUPart part;
    const char *name;
    unsigned int flags;
} url_parts[URL_PART_COUNT] = {
    {CURLUPART_SCHEME, "scheme", 0},
    {CURLUPART_USER, "user", CURLU_URLDECODE},
    {CURLUPART_PASSWORD, "password", CURLU_URLDECODE},
    {CURLUPART_HOST, "host", 0},
    {CURLUPART_PORT, "port", 0},
    {CURLUPART_PATH, "path", 0},
    {CURLUPART_QUERY, "query", 0},
    {CURLUPART_FRAGMENT, "fragment", 0},
};

/* Frees the strings, then raises the pending error if pushing failed. */
static int curl_strings_finish(lua_State *L, struct curl_strings *strings, int status)
{
    for (int i = 0; i < URL_PART_COUNT; i++)
        curl_free(strings->value[i]);
    if (status != LUA_OK)
        return lua_error(L);
    return 1;
}

/* Runs protected: the one string of a curl_strings. [-1, +1, m] */
static int push_first_string(lua_State *L)
{
    const struct curl_strings *strings = lua_touserdata(L, 1);
    lua_pushlstring(L, strings->value[0], strings->length);
    return 1;
}

/* Runs protected: the table of a parsed URL's parts. [-1, +1, m] */
static int push_url_parts(lua_State *L)
{
    const struct curl_strings *strings = lua_touserdata(L, 1);
    lua_createtable(L, 0, URL_PART_COUNT);
    for (int i = 0; i < URL_PART_COUNT; i++) {
        if (!strings->value[i])
            continue;
        if (url_parts[i].part == CURLUPART_PORT)
            lua_pushinteger(L, strtol(strings->value[i], NULL, 10));
        else
            lua_pushstring(L, strings->value[i]);
        lua_setfield(L, -2, url_parts[i].name);
    }
    return 1;
}

/* Pushes strings with pusher, then frees them whatever happened. [-0, +1, m] */
static int curl_strings_push(lua_State *L, struct curl_strings *strings, lua_CFunction pusher)
{
    lua_pushcfunction(L, pusher);
    lua_pushlightuserdata(L, strings);
    return curl_strings_finish(L, strings, lua_pcall(L, 1, 1, 0));
}

/* Runs protected: the malloc'd string at 1 as a Lua string. [-1, +1, m] */
static int push_c_string(lua_State *L)
{
    lua_pushstring(L, lua_touserdata(L, 1));
    return 1;
}

/* http.redact_url(text) -> text (a URL or a path) with the values of its
 * credential query parameters as "***". [-1, +1, m] */
static int http_redact_url(lua_State *L)
{
    luaL_checkstack(L, 3, NULL);
    char *redacted = query_redacted(luaL_checkstring(L, 1));
    if (!redacted)
        return luaL_error(L, "out of memory");
    lua_pushcfunction(L, push_c_string);
    lua_pushlightuserdata(L, redacted);
    int status = lua_pcall(L, 1, 1, 0); /* frees redacted whatever happens */
    free(redacted);
    if (status != LUA_OK)
        return lua_error(L);
    return 1;
}

/* http.escape(text) -> text with every byte but A-Z a-z 0-9 - . _ ~ written
 * as %XX (RFC 3986's unreserved characters stay). [-1, +1, m] */
static int http_escape(lua_State *L)
{
    size_t length;
    const char *text = luaL_checklstring(L, 1, &length);
    luaL_argcheck(L, length <= INT_MAX, 1, "text too long");
    luaL_checkstack(L, 3, NULL);
    struct curl_strings strings = {{curl_easy_escape(NULL, text, (int)length)}, 0};
    if (!strings.value[0])
        return luaL_error(L, "out of memory");
    strings.length = strlen(strings.value[0]);
    return curl_strings_push(L, &strings, push_first_string);
}

/* http.unescape(text) -> text with every %XX decoded. [-1, +1, m] */
static int http_unescape(lua_State *L)
{
    size_t length;
    const char *text = luaL_checklstring(L, 1, &length);
    luaL_argcheck(L, length <= INT_MAX, 1, "text too long");
    luaL_checkstack(L, 3, NULL);
    int decoded_length = 0;
    struct curl_strings strings = {{curl_easy_unescape(NULL, text, (int)length, &decoded_length)}, 0};
    if (!strings.value[0])
        return luaL_error(L, "out of memory");
    strings.length = (size_t)decoded_length;
    return curl_strings_push(L, &strings, push_first_string);
}

/* http.parse_url(url) -> {scheme, user, password, host, port, path, query,
 * fragment} (the parts the URL has; user and password decoded, port an
 * integer, path "/" at least, an IPv6 host in brackets), or nil, why.
 * [-1, +1|2, m] */
static int http_parse_url(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    luaL_checkstack(L, 4, NULL);
    CURLU *parsed = curl_url();
    if (!parsed)
        return luaL_error(L, "out of memory");
    struct curl_strings strings = {{NULL}, 0};
    CURLUcode code = curl_url_set(parsed, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    for (int i = 0; code == CURLUE_OK && i < URL_PART_COUNT; i++) {
        if (curl_url_get(parsed, url_parts[i].part, &strings.value[i], url_parts[i].flags) == CURLUE_OUT_OF_MEMORY)
            code = CURLUE_OUT_OF_MEMORY;
    }
    curl_url_cleanup(parsed);
    if (code != CURLUE_OK) {
        curl_strings_finish(L, &strings, LUA_OK);
        lua_pushnil(L);
        lua_pushstring(L, curl_url_strerror(code));
        return 2;
    }
    return curl_strings_push(L, &strings, push_url_parts);
}

static const luaL_Reg request_methods[] = {
    {"finished", request_finished},
    {"take", request_take},
    {"status", request_status},
    {"result", request_result},
    {"cancel", request_close},
    {"__gc", request_close},
    {"__close", request_close},
    {NULL, NULL},
};

static const luaL_Reg http_functions[] = {
    {"start", http_start},
    {"escape", http_escape},
    {"unescape", http_unescape},
    {"parse_url", http_parse_url},
    {"redact_url", http_redact_url},
    {NULL, NULL},
};

int luaopen_ferry_http(lua_State *L)
{
    if (luaL_newmetatable(L, FERRY_HTTP_REQUEST_METATABLE)) {
        luaL_setfuncs(L, request_methods, 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, http_functions);
    return 1;
}
