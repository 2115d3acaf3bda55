/* api.c - the daemon's JSON API as the commands use it: request, status check, parse. */
#include "api.h"

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/render.h"

const char *wf_cli_api_user(void)
{
    const char *u = getenv("USER");
    if (u != NULL && u[0] != '\0')
        return u;
    struct passwd *pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_name : "unknown";
}

int wf_cli_api_fail(wf_cli_client *c, int rc, const wf_cli_response *resp)
{
    int code = WF_CLI_EXIT_FAILED;
    char *msg;
    if (rc == WF_EHTTP) {
        msg = wf_cli_render_unreachable(wf_cli_client_where(c), wf_cli_client_origin(c),
                                        !wf_cli_client_is_tcp(c), wf_cli_client_error(c));
        code = WF_CLI_EXIT_UNREACHABLE;
    } else if (rc != 0) {
        msg = wf_asprintf("reading the daemon's answer from %s failed: %s", wf_cli_client_where(c),
                          wf_strerror(rc));
    } else {
        msg = wf_cli_render_http_error(resp->status, resp->body.ptr, resp->body.len,
                                       wf_cli_client_is_tcp(c), &code);
    }
    fprintf(stderr, "wheelfarm: %s\n", msg);
    free(msg);
    return code;
}

static int call(wf_cli_client *c, const char *method, const char *path, const char *body,
                unsigned patience_s, cJSON **out)
{
    wf_cli_response resp = WF_CLI_RESPONSE_INIT;
    int rc = wf_cli_client_request(c, method, path, body, NULL, &resp);
    int code = WF_CLI_EXIT_OK;
    for (unsigned waited = 0; rc == WF_EHTTP && waited < patience_s; waited++) {
        sleep(1);
        wf_cli_response_release(&resp);
        resp = (wf_cli_response)WF_CLI_RESPONSE_INIT;
        rc = wf_cli_client_request(c, method, path, body, NULL, &resp);
    }
    if (rc != 0 || resp.status < 200 || resp.status > 299) {
        code = wf_cli_api_fail(c, rc, &resp);
        goto out;
    }
    cJSON *root = cJSON_ParseWithLength(resp.body.ptr != NULL ? resp.body.ptr : "", resp.body.len);
    if (root == NULL) {
        fprintf(stderr,
                "wheelfarm: the daemon at %s answered %s %s with something that is not "
                "JSON; is it really wheelfarmd?\n",
                wf_cli_client_where(c), method, path);
        code = WF_CLI_EXIT_FAILED;
        goto out;
    }
    *out = root;
out:
    wf_cli_response_release(&resp);
    return code;
}

int wf_cli_api_call(wf_cli_client *c, const char *method, const char *path, const char *body,
                    cJSON **out)
{
    return call(c, method, path, body, 0, out);
}

int wf_cli_api_get_patient(wf_cli_client *c, const char *path, unsigned patience_s, cJSON **out)
{
    return call(c, "GET", path, NULL, patience_s, out);
}

void wf_cli_api_print_json(const cJSON *v)
{
    char *s = cJSON_Print(v);
    if (s == NULL) {
        fprintf(stderr, "wheelfarm: out of memory printing JSON\n");
        return;
    }
    fputs(s, stdout);
    fputc('\n', stdout);
    cJSON_free(s);
}
