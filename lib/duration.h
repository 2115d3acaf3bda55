/* duration.h - durations written by people in recipes and configs: "2d", "12h", "30m", "45s",
 * "1d12h", or a bare number of seconds ("3600").
 *
 * Pure functions of their input, thread-safe.
 */
#ifndef WF_DURATION_H
#define WF_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Longest accepted duration: ten years, so sums and comparisons with times never overflow. */
#define WF_DURATION_MAX_S (3650ll * 86400)

/* Parses [s, s+len): one or more groups of digits followed by a unit d, h, m or s, units in that
 * order, each at most once ("1d12h", "90m"); or digits alone, meaning seconds. Surrounding
 * whitespace is ignored. Returns 0 and sets *out (seconds), or WF_EINVAL (malformed, empty, a
 * unit repeated or out of order) or WF_ELIMIT (longer than WF_DURATION_MAX_S); *out is then
 * untouched. */
int wf_duration_parse(const char *s, size_t len, int64_t *out);

/* The shortest exact form of secs >= 0 in the units above: 172800 -> "2d", 5400 -> "1h30m",
 * 0 -> "0s". Writes into buf (24 bytes are always enough) and returns it. */
const char *wf_duration_format(char *buf, size_t n, int64_t secs);

#endif
