/* channel.c - publication channel names ("" main, "pr/N") and where they live. */
#include "channel.h"

#include <string.h>

#include "wf.h"

char *wf_channel_pr(int64_t n)
{
    return wf_asprintf("pr/%lld", (long long)n);
}

int wf_channel_pr_number(const char *channel, int64_t *n_out)
{
    int64_t n = 0;
    if (channel == NULL || strncmp(channel, "pr/", 3) != 0)
        return WF_EINVAL;
    const char *digits = channel + 3;
    size_t len = strlen(digits);
    /* One spelling per number: no sign, no leading zero (wf_parse_i64 takes both). */
    if (len == 0 || digits[0] < '1' || digits[0] > '9' || strspn(digits, "0123456789") != len ||
        wf_parse_i64(digits, len, &n) != 0)
        return WF_EINVAL;
    *n_out = n;
    return 0;
}

int wf_channel_is_main(const char *channel)
{
    return channel == NULL || channel[0] == '\0';
}

char *wf_channel_root(const char *index_root, const char *channel)
{
    if (wf_channel_is_main(channel))
        return wf_strdup(index_root);
    return wf_asprintf("%s/%s", index_root, channel);
}

char *wf_channel_url_prefix(const char *channel)
{
    if (wf_channel_is_main(channel))
        return wf_strdup("");
    return wf_asprintf("/%s", channel);
}

int wf_channel_page_depth(const char *channel)
{
    return wf_channel_is_main(channel) ? 2 : 4;
}
