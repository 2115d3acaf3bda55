/* channel.h - publication channels of the built-in index: their names, directories and URLs.
 *
 * A channel is where a job's wheel is published. The main channel "" is the index at /simple/
 * and /files/; pull request N has the channel "pr/N", served at /pr/N/simple/ and
 * /pr/N/files/, whose files never appear in the main index. Pure functions, thread-safe.
 */
#ifndef WF_CHANNEL_H
#define WF_CHANNEL_H

#include <stdint.h>

/* "pr/<n>" for a pull request number n >= 1; the caller frees it. */
char *wf_channel_pr(int64_t n);

/* The pull request number of a channel "pr/<n>" (n a decimal >= 1 without a sign or leading
 * zero) into *n_out: 0, or WF_EINVAL for "" (the main channel), NULL and anything else. */
int wf_channel_pr_number(const char *channel, int64_t *n_out);

/* 1 for the main channel (NULL or ""). */
int wf_channel_is_main(const char *channel);

/* The directory of a channel under the index root: index_root itself for the main channel,
 * "<index_root>/pr/<n>" for a pull request. It holds simple/ and files/. Caller frees. */
char *wf_channel_root(const char *index_root, const char *channel);

/* The URL path prefix of a channel: "" for the main channel, "/pr/<n>" for a pull request.
 * Caller frees. */
char *wf_channel_url_prefix(const char *channel);

/* How many directories a channel's project pages sit below the index root: 2 for the main
 * channel (simple/<project>/), 4 for a pull request (pr/<n>/simple/<project>/). Links from a
 * project page to a file under the index root climb that many levels. */
int wf_channel_page_depth(const char *channel);

#endif
