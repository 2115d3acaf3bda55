/* http_client.h - a minimal blocking HTTP/1.1 client for unit tests: one request a connection,
 * over a Unix socket or loopback TCP, the answer read to end of file and parsed.
 *
 * Meant for a test's client thread while the server runs on the main thread's loop. No global
 * state; every call is independent. Failures to connect or send leave an empty answer
 * (status 0) for the test to report, rather than failing on the client thread.
 */
#ifndef WF_TEST_HTTP_CLIENT_H
#define WF_TEST_HTTP_CLIENT_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* How long a read may wait for the server before the answer counts as ended. Generous: the
 * sanitizer build is several times slower. */
#define HTTP_CLIENT_TIMEOUT_S 20

/* One answer. Every pointer is owned by the answer and freed by http_resp_release. */
typedef struct http_resp {
    int status;      /* 0 = no (parseable) response */
    char *head;      /* the status line and headers, each ending in CRLF */
    char *body;      /* the body, NUL-terminated */
    size_t body_len; /* its length without the terminator */
    cJSON *json;     /* the body parsed, when it is JSON; else NULL */
} http_resp;

/* Frees what r holds and zeroes it, so the slot can take another answer. */
void http_resp_release(http_resp *r);

/* A connected stream socket with a receive timeout of HTTP_CLIENT_TIMEOUT_S: to the Unix
 * socket at socket_path when it is not NULL, else to 127.0.0.1:port. -1 on failure. */
int http_client_connect(const char *socket_path, int port);

/* Sends all of p; stops quietly when the server closes early (it may answer 413 first). */
void http_client_send_all(int fd, const char *p, size_t len);

/* Reads fd to end of file and parses the answer into *out (zeroed first). fd stays open. */
void http_client_read_response(int fd, http_resp *out);

/* Connects as http_client_connect does, sends the raw bytes of a request, reads the answer into
 * *out (zeroed first; left empty when the connection fails) and closes the connection. */
void http_client_send(http_resp *out, const char *socket_path, int port, const char *request,
                      size_t len);

/* Sends "METHOD PATH HTTP/1.1" with Host, Connection: close, `headers` (each ending in CRLF;
 * NULL for none) and a Content-Length for `body` (NULL: empty), as http_client_send does. */
void http_client_request(http_resp *out, const char *socket_path, int port, const char *method,
                         const char *path, const char *headers, const char *body);

/* The value of header `name` (case-insensitive) copied into buf (truncated to size - 1);
 * NULL when absent. */
const char *http_resp_header(const http_resp *r, const char *name, char *buf, size_t size);

/* Fails the test unless header `name` is present with exactly the value `want`. */
void http_assert_header(const http_resp *r, const char *name, const char *want);

/* The answers of one client run, in the order the requests were sent; tests index them with
 * an enum of their requests. Zero-initialise it; http_log_clear frees what it holds. */
#define HTTP_LOG_MAX 64

typedef struct http_log {
    http_resp r[HTTP_LOG_MAX];
    size_t n;
} http_log;

/* The slot for the next answer; once the log is full, the last slot is reused. */
http_resp *http_log_next(http_log *log);

/* Frees the newest answer and gives its slot back: polling loops keep only the answer they
 * waited for. */
void http_log_drop_last(http_log *log);

/* Frees every answer; the log is empty again. */
void http_log_clear(http_log *log);

#endif
