/* http_client.c - the blocking HTTP/1.1 client of the unit tests (see http_client.h). */
#include "http_client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/wf.h"

void http_resp_release(http_resp *r)
{
    free(r->head);
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int connect_tcp(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int http_client_connect(const char *socket_path, int port)
{
    int fd = socket_path != NULL ? connect_unix(socket_path) : connect_tcp(port);
    if (fd < 0)
        return -1;
    struct timeval tv = {HTTP_CLIENT_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

void http_client_send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Splits "HTTP/1.x NNN ...\r\nheaders\r\n\r\nbody" (in->ptr NUL-terminated); anything else
 * leaves *out empty. */
static void parse_response(const wf_buf *in, http_resp *out)
{
    if (in->len < 12 || memcmp(in->ptr, "HTTP/1.", 7) != 0)
        return;
    int64_t status = 0;
    if (wf_parse_i64(in->ptr + 9, 3, &status) != 0)
        return;
    char *end = strstr(in->ptr, "\r\n\r\n");
    if (end == NULL)
        return;
    out->status = (int)status;
    out->head = wf_strndup(in->ptr, (size_t)(end - in->ptr) + 2);
    out->body_len = in->len - (size_t)(end + 4 - in->ptr);
    out->body = wf_strndup(end + 4, out->body_len);
    out->json = cJSON_ParseWithLength(out->body, out->body_len);
}

void http_client_read_response(int fd, http_resp *out)
{
    memset(out, 0, sizeof(*out));
    wf_buf b = WF_BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
        wf_buf_add(&b, chunk, (size_t)n);
    wf_buf_add(&b, "", 0); /* NUL-terminated for strstr, even when nothing came */
    parse_response(&b, out);
    wf_buf_release(&b);
}

void http_client_send(http_resp *out, const char *socket_path, int port, const char *request,
                      size_t len)
{
    memset(out, 0, sizeof(*out));
    int fd = http_client_connect(socket_path, port);
    if (fd < 0)
        return;
    http_client_send_all(fd, request, len);
    http_client_read_response(fd, out);
    close(fd);
}

void http_client_request(http_resp *out, const char *socket_path, int port, const char *method,
                         const char *path, const char *headers, const char *body)
{
    char *req = wf_asprintf("%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s"
                            "Content-Length: %zu\r\n\r\n%s",
                            method, path, headers ? headers : "", body ? strlen(body) : 0,
                            body ? body : "");
    http_client_send(out, socket_path, port, req, strlen(req));
    free(req);
}

const char *http_resp_header(const http_resp *r, const char *name, char *buf, size_t size)
{
    if (r->head == NULL)
        return NULL;
    char *pat = wf_asprintf("\r\n%s:", name);
    const char *p = strcasestr(r->head, pat);
    size_t plen = strlen(pat);
    free(pat);
    if (p == NULL)
        return NULL;
    p += plen;
    while (*p == ' ')
        p++;
    const char *e = strstr(p, "\r\n");
    size_t n = (size_t)(e - p) < size - 1 ? (size_t)(e - p) : size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

void http_assert_header(const http_resp *r, const char *name, const char *want)
{
    char buf[256];
    const char *v = http_resp_header(r, name, buf, sizeof(buf));
    if (v == NULL)
        fail_msg("header '%s' missing in:\n%s", name, r->head ? r->head : "(no response)");
    assert_string_equal(v, want);
}

http_resp *http_log_next(http_log *log)
{
    return &log->r[log->n < HTTP_LOG_MAX ? log->n++ : HTTP_LOG_MAX - 1];
}

void http_log_drop_last(http_log *log)
{
    if (log->n == 0)
        return;
    log->n--;
    http_resp_release(&log->r[log->n]);
}

void http_log_clear(http_log *log)
{
    for (size_t i = 0; i < log->n; i++)
        http_resp_release(&log->r[i]);
    log->n = 0;
}
