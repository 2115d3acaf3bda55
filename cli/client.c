/* client.c - blocking HTTP requests to the daemon through libcurl's easy interface. */
#include "client.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct wf_cli_client {
    CURL *curl;
    char *socket_path; /* NULL over TCP */
    char *base;        /* "http://localhost" over the socket, else the daemon's URL */
    char *auth_header; /* "Authorization: Bearer ..." or NULL */
    char *where;
    const char *origin;
    char errbuf[CURL_ERROR_SIZE];
};

/* What one transfer writes into. */
struct transfer {
    wf_cli_client *c;
    wf_cli_response *resp;
    FILE *sink;
    int rc;
};

static int curl_ready;

int wf_cli_client_new(wf_cli_client **out, const wf_cli_location *loc, const char *token)
{
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return WF_EHTTP;
        curl_ready = 1;
    }
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        return WF_EHTTP;
    wf_cli_client *c = wf_calloc(1, sizeof(*c));
    c->curl = curl;
    c->origin = loc->origin;
    if (loc->socket_path != NULL) {
        c->socket_path = wf_strdup(loc->socket_path);
        c->base = wf_strdup("http://localhost");
        c->where = wf_asprintf("unix socket %s", loc->socket_path);
    } else {
        c->base = wf_strdup(loc->url);
        c->where = wf_strdup(loc->url);
        if (token != NULL && token[0] != '\0')
            c->auth_header = wf_asprintf("Authorization: Bearer %s", token);
    }
    *out = c;
    return 0;
}

void wf_cli_client_free(wf_cli_client *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    free(c->socket_path);
    free(c->base);
    if (c->auth_header != NULL) {
        /* The token is a secret: do not leave it in freed memory. */
        explicit_bzero(c->auth_header, strlen(c->auth_header));
        free(c->auth_header);
    }
    free(c->where);
    free(c);
}

void wf_cli_response_release(wf_cli_response *r)
{
    wf_buf_release(&r->body);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    struct transfer *t = ctx;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(t->c->curl, CURLINFO_RESPONSE_CODE, &status);
    t->resp->received += n;
    if (t->sink != NULL && status >= 200 && status < 300) {
        if (n > 0 && fwrite(ptr, 1, n, t->sink) != n)
            t->rc = WF_EIO;
        return t->rc == 0 ? n : 0;
    }
    if (t->resp->body.len + n > WF_CLI_MAX_BODY) {
        t->rc = WF_ELIMIT;
        return 0; /* aborts the transfer */
    }
    wf_buf_add(&t->resp->body, ptr, n);
    return n;
}

/* Copies the value of "Name: value\r\n" into dst when the header is the one named. */
static int header_value(const char *line, size_t len, const char *name, char *dst, size_t cap)
{
    size_t nlen = strlen(name);
    if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0)
        return 0;
    const char *v = line + nlen + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t n = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 1;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    struct transfer *t = ctx;
    size_t n = size * nmemb;
    char num[32];
    header_value(ptr, n, "X-Wheelfarm-Job-State", t->resp->job_state, sizeof(t->resp->job_state));
    if (header_value(ptr, n, "X-Wheelfarm-Log-Size", num, sizeof(num))) {
        int64_t v = -1;
        if (wf_parse_i64(num, strlen(num), &v) == 0 && v >= 0)
            t->resp->log_size = v;
    }
    return n;
}

static int setup(wf_cli_client *c, const char *method, const char *url, const char *json_body,
                 struct curl_slist *headers, struct transfer *t)
{
    CURL *h = c->curl;
    curl_easy_reset(h);
    c->errbuf[0] = '\0';
    if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_WRITEDATA, t) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_HEADERDATA, t) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_USERAGENT, "wheelfarm/" WF_VERSION) != CURLE_OK)
        return WF_EHTTP;
    if (c->socket_path != NULL &&
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path) != CURLE_OK)
        return WF_EHTTP;
    if (json_body != NULL) {
        if (curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json_body)) !=
                CURLE_OK)
            return WF_EHTTP;
    }
    if (strcmp(method, "POST") == 0 && json_body == NULL &&
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "") != CURLE_OK)
        return WF_EHTTP;
    if (strcmp(method, "GET") != 0 &&
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
        return WF_EHTTP;
    return 0;
}

static struct curl_slist *make_headers(const wf_cli_client *c, int has_body)
{
    struct curl_slist *l = NULL;
    struct curl_slist *n = curl_slist_append(l, "Accept: application/json");
    if (n == NULL)
        return NULL;
    l = n;
    if (has_body) {
        n = curl_slist_append(l, "Content-Type: application/json");
        if (n == NULL)
            goto fail;
        l = n;
    }
    if (c->auth_header != NULL) {
        n = curl_slist_append(l, c->auth_header);
        if (n == NULL)
            goto fail;
        l = n;
    }
    return l;
fail:
    curl_slist_free_all(l);
    return NULL;
}

int wf_cli_client_request(wf_cli_client *c, const char *method, const char *path,
                          const char *json_body, FILE *sink, wf_cli_response *out)
{
    struct transfer t = {c, out, sink, 0};
    char *url = wf_asprintf("%s%s", c->base, path);
    struct curl_slist *headers = make_headers(c, json_body != NULL);
    int rc = headers != NULL ? setup(c, method, url, json_body, headers, &t) : WF_EHTTP;
    if (rc != 0)
        goto out;
    CURLcode cc = curl_easy_perform(c->curl);
    if (t.rc != 0) {
        rc = t.rc;
        goto out;
    }
    if (cc != CURLE_OK) {
        long os_errno = 0;
        /* Over the socket curl talks of "localhost port 80"; the system's reason is clearer. */
        if (cc == CURLE_COULDNT_CONNECT && c->socket_path != NULL &&
            curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno != 0)
            snprintf(c->errbuf, sizeof(c->errbuf), "%s", strerror((int)os_errno));
        if (c->errbuf[0] == '\0')
            snprintf(c->errbuf, sizeof(c->errbuf), "%s", curl_easy_strerror(cc));
        rc = WF_EHTTP;
        goto out;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &out->status);
out:
    curl_slist_free_all(headers);
    free(url);
    return rc;
}

const char *wf_cli_client_error(const wf_cli_client *c)
{
    return c->errbuf;
}

const char *wf_cli_client_where(const wf_cli_client *c)
{
    return c->where;
}

const char *wf_cli_client_origin(const wf_cli_client *c)
{
    return c->origin;
}

int wf_cli_client_is_tcp(const wf_cli_client *c)
{
    return c->socket_path == NULL;
}
