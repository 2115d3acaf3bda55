/* client.h - the CLI's HTTP client: one blocking request at a time to the daemon, over its Unix
 * socket or TCP. The only CLI module that talks to libcurl.
 */
#ifndef WF_CLI_CLIENT_H
#define WF_CLI_CLIENT_H

#include <stdint.h>
#include <stdio.h>

#include "cli/args.h"
#include "lib/wf.h"

typedef struct wf_cli_client wf_cli_client;

/* Largest response body kept in memory; a bigger one is a WF_ELIMIT error. */
#define WF_CLI_MAX_BODY (64u * 1024 * 1024)

/* One answer. body holds the response body unless it was streamed to a sink (see below). */
typedef struct wf_cli_response {
    long status;
    wf_buf body;
    char job_state[16]; /* X-Wheelfarm-Job-State, "" when absent */
    int64_t log_size;   /* X-Wheelfarm-Log-Size, -1 when absent */
    size_t received;    /* body bytes received, also when streamed */
} wf_cli_response;
#define WF_CLI_RESPONSE_INIT                                                                       \
    {                                                                                              \
        0, WF_BUF_INIT, "", -1, 0                                                                  \
    }

void wf_cli_response_release(wf_cli_response *r);

/* Creates a client for loc (copied). token (may be NULL) is sent as a Bearer token over TCP
 * only. Returns 0, or WF_EHTTP when libcurl cannot be set up. Free with wf_cli_client_free. */
int wf_cli_client_new(wf_cli_client **out, const wf_cli_location *loc, const char *token);
void wf_cli_client_free(wf_cli_client *c);

/* Sends METHOD path (starting with "/") with an optional JSON body (NULL: none) and fills *out
 * (initialize it with WF_CLI_RESPONSE_INIT; release it afterwards). When sink is not NULL, a 2xx
 * body is written to sink as it arrives instead of being kept; other bodies are kept.
 * Returns 0 when the daemon answered (any status), WF_EHTTP when it could not be reached or the
 * transfer broke (wf_cli_client_error() says why), WF_ELIMIT when the body was too big. */
int wf_cli_client_request(wf_cli_client *c, const char *method, const char *path,
                          const char *json_body, FILE *sink, wf_cli_response *out);

/* libcurl's message for the last failed request; borrowed, valid until the next request. */
const char *wf_cli_client_error(const wf_cli_client *c);

/* Where this client looks, for messages: "unix socket ./var/wheelfarm.sock" or
 * "http://127.0.0.1:8780". Borrowed, lives as long as the client. */
const char *wf_cli_client_where(const wf_cli_client *c);
/* What chose the location ("--socket", "WHEELFARM_URL", "default", ...); static. */
const char *wf_cli_client_origin(const wf_cli_client *c);
/* True when the client speaks TCP (a token applies). */
int wf_cli_client_is_tcp(const wf_cli_client *c);

#endif
