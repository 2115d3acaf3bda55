/* api_json.h - the JSON answers every API module gives (docs/API.md): one body per response,
 * errors as {"error", "hint"}, absent values as null. */
#ifndef WF_DAEMON_API_JSON_H
#define WF_DAEMON_API_JSON_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "daemon/httpd.h"

/* Sets status and an application/json body from body (printed compactly, newline-terminated);
 * takes ownership of body. */
void wf_api_reply(wf_http_response *res, int status, cJSON *body);

/* {"error": msg, "hint": hint}; the hint is left out when NULL. */
void wf_api_reply_error(wf_http_response *res, int status, const char *msg, const char *hint);

/* key: v, or key: null when v is NULL. */
void wf_api_add_str_or_null(cJSON *o, const char *key, const char *v);

/* key: id, or key: null when id is not a row id (<= 0). */
void wf_api_add_id_or_null(cJSON *o, const char *key, int64_t id);

/* 1 when the request's method is exactly method ("GET", "POST", ...). */
int wf_api_method_is(const wf_http_request *req, const char *method);

#endif
