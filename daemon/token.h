/* token.h - the API bearer token: read from a file, or generated (random, 256 bits) on first use.
 */
#ifndef WF_TOKEN_H
#define WF_TOKEN_H

/* Reads the token from path; when the file does not exist, creates it (mode 0600) with a new
 * random token. *out is a heap string the caller wipes and frees with wf_token_free(). */
int wf_token_load(const char *path, char **out, char **errmsg);
void wf_token_free(char *token);

#endif
