/* log.h - the one log module: leveled lines on stderr, so journald or a terminal captures them.
 *
 * Messages are lowercase, say what failed first, quote user strings and carry an object id
 * (job 12, worker 'local', request 3). Never log secrets. The level is checked before the
 * arguments are evaluated (the macros below).
 */
#ifndef WF_LOG_H
#define WF_LOG_H

typedef enum { WF_LOG_ERROR = 0, WF_LOG_WARN, WF_LOG_INFO, WF_LOG_DEBUG } wf_log_level;

extern wf_log_level wf_log_threshold;

void wf_log_set_level(wf_log_level level);
/* Parses "error", "warn", "info" or "debug". */
int wf_log_parse_level(const char *name, wf_log_level *out);
void wf_log_write(wf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define WF_LOG(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) <= wf_log_threshold)                                                           \
            wf_log_write((level), __VA_ARGS__);                                                    \
    } while (0)
#define wf_log_error(...) WF_LOG(WF_LOG_ERROR, __VA_ARGS__)
#define wf_log_warn(...) WF_LOG(WF_LOG_WARN, __VA_ARGS__)
#define wf_log_info(...) WF_LOG(WF_LOG_INFO, __VA_ARGS__)
#define wf_log_debug(...) WF_LOG(WF_LOG_DEBUG, __VA_ARGS__)

#endif
