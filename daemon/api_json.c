/* api_json.c - the JSON answers every API module gives: one place decides their shape. */
#include "daemon/api_json.h"

#include <string.h>

#include "lib/wf.h"

void wf_api_reply(wf_http_response *res, int status, cJSON *body)
{
    char *text = cJSON_PrintUnformatted(body);
    res->status = status;
    res->content_type = "application/json";
    /* cJSON only fails to print when out of memory; an empty object keeps the body JSON. */
    wf_buf_adds(&res->body, text != NULL ? text : "{}");
    wf_buf_adds(&res->body, "\n");
    cJSON_free(text);
    cJSON_Delete(body);
}

void wf_api_reply_error(wf_http_response *res, int status, const char *msg, const char *hint)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    if (hint != NULL)
        cJSON_AddStringToObject(o, "hint", hint);
    wf_api_reply(res, status, o);
}

void wf_api_add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (v != NULL)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

void wf_api_add_id_or_null(cJSON *o, const char *key, int64_t id)
{
    if (id > 0)
        cJSON_AddNumberToObject(o, key, (double)id);
    else
        cJSON_AddNullToObject(o, key);
}

int wf_api_method_is(const wf_http_request *req, const char *method)
{
    return req->method_len == strlen(method) && memcmp(req->method, method, req->method_len) == 0;
}
