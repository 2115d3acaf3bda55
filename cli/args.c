/* args.c - parses the wheelfarm command line and picks the daemon location; no I/O. */
#include "args.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wf.h"

enum {
    OPT_PLATFORM = 1u << 0,
    OPT_PYTHON = 1u << 1,
    OPT_FORCE = 1u << 2,
    OPT_WAIT = 1u << 3,
    OPT_FOLLOW = 1u << 4,
    OPT_JSON = 1u << 5,
    OPT_STATE = 1u << 6,
    OPT_SOCKET = 1u << 7,
    OPT_URL = 1u << 8,
    OPT_HELP = 1u << 9,
    OPT_VERSION = 1u << 10,
    OPT_DRY_RUN = 1u << 11,
};
#define OPT_GLOBAL (OPT_SOCKET | OPT_URL | OPT_HELP | OPT_VERSION)

struct opt_def {
    const char *name; /* long name without "--" */
    char short_name;  /* 0 when none */
    unsigned bit;
    bool takes_value;
};

static const struct opt_def opt_defs[] = {
    {"platform", 0, OPT_PLATFORM, true}, {"python", 0, OPT_PYTHON, true},
    {"force", 0, OPT_FORCE, false},      {"wait", 0, OPT_WAIT, false},
    {"follow", 'f', OPT_FOLLOW, false},  {"json", 0, OPT_JSON, false},
    {"state", 0, OPT_STATE, true},       {"socket", 0, OPT_SOCKET, true},
    {"url", 0, OPT_URL, true},           {"help", 'h', OPT_HELP, false},
    {"version", 0, OPT_VERSION, false},  {"dry-run", 0, OPT_DRY_RUN, false},
};

struct cmd_def {
    const char *name;
    wf_cli_command cmd;
    unsigned opts; /* allowed besides OPT_GLOBAL */
    size_t min_pos, max_pos;
    bool job_arg; /* the one positional is a job id */
    const char *usage;
};

#define GLOBAL_USAGE                                                                               \
    "\nDaemon location: --socket PATH (or WHEELFARM_SOCKET), or --url URL (or WHEELFARM_URL,\n"    \
    "with the token in WHEELFARM_TOKEN). Default: the socket " WF_CLI_DEFAULT_SOCKET " if it\n"    \
    "exists, else " WF_CLI_DEFAULT_URL ".\n"

static const struct cmd_def cmd_defs[] = {
    {"help", WF_CLI_CMD_HELP, 0, 0, 1, false,
     "usage: wheelfarm help [COMMAND]\n\nShows the overview or one command's usage.\n"},
    {"build", WF_CLI_CMD_BUILD,
     OPT_PLATFORM | OPT_PYTHON | OPT_FORCE | OPT_WAIT | OPT_FOLLOW | OPT_JSON, 1, SIZE_MAX, false,
     "usage: wheelfarm build SPEC... [--platform P]... [--python TAG]... [--force]\n"
     "                       [--wait] [--follow] [--json]\n\n"
     "Asks the daemon to build wheels. SPEC is NAME or NAME==VERSION (a version the recipe\n"
     "lists). Without --platform/--python every platform and python tag of the recipe is built.\n\n"
     "  --platform P   only this platform (linux/amd64, linux/arm64); repeatable\n"
     "  --python TAG   only this python tag (cp311, ...); repeatable\n"
     "  --force        rebuild even when a wheel with the same build key exists\n"
     "  --wait         wait until every job has finished\n"
     "  -f, --follow   wait and show each job's progress live\n"
     "  --json         print the daemon's JSON answer (after waiting, the final request)\n\n"
     "Exit status: 0 when every job succeeded (or there was nothing to do), 1 when a job\n"
     "failed or was cancelled.\n"},
    {"jobs", WF_CLI_CMD_JOBS, OPT_STATE | OPT_JSON, 0, 0, false,
     "usage: wheelfarm jobs [--state S] [--json]\n\n"
     "Lists the newest jobs. S is queued, running, succeeded, failed or cancelled.\n"},
    {"show", WF_CLI_CMD_SHOW, OPT_JSON, 1, 1, true,
     "usage: wheelfarm show JOB [--json]\n\n"
     "Shows one job: state, worker, times, attempts, error and the wheel it produced.\n"},
    {"logs", WF_CLI_CMD_LOGS, OPT_FOLLOW, 1, 1, true,
     "usage: wheelfarm logs JOB [-f]\n\n"
     "Prints a job's build log. With -f (--follow), keeps printing while the job is queued or\n"
     "running; then exits 0 if it succeeded, 1 if it failed or was cancelled.\n"},
    {"cancel", WF_CLI_CMD_CANCEL, 0, 1, 1, true,
     "usage: wheelfarm cancel JOB\n\nCancels a queued or running job.\n"},
    {"retry", WF_CLI_CMD_RETRY, OPT_JSON, 1, 1, true,
     "usage: wheelfarm retry JOB [--json]\n\n"
     "Builds a failed or cancelled job again as a new job (same recipe, version, python,\n"
     "platform and build key), recording who asked. Build failures are never retried\n"
     "automatically; infrastructure failures are, a few times, on their own. The old job and\n"
     "its log stay. Refused (exit status 2) for a queued, running or succeeded job, or when\n"
     "the key is already queued, running or built.\n"},
    {"workers", WF_CLI_CMD_WORKERS, OPT_JSON, 0, 0, false,
     "usage: wheelfarm workers [--json]\n\n"
     "Lists the workers: platforms, busy/slots, state (healthy, unhealthy, draining, or probing\n"
     "before the first probe), since when, the reason when it takes no jobs, and labels.\n"},
    {"drain", WF_CLI_CMD_DRAIN, OPT_JSON, 1, 1, false,
     "usage: wheelfarm drain NAME [--json]\n\n"
     "Drains a worker: its running builds finish, it takes no new jobs. The flag is kept across\n"
     "daemon restarts until 'wheelfarm undrain NAME'.\n"},
    {"undrain", WF_CLI_CMD_UNDRAIN, OPT_JSON, 1, 1, false,
     "usage: wheelfarm undrain NAME [--json]\n\n"
     "Lets a drained worker take jobs again (as soon as it is healthy).\n"},
    {"recipes", WF_CLI_CMD_RECIPES, OPT_JSON, 0, 0, false,
     "usage: wheelfarm recipes [--json]\n\n"
     "Lists the daemon's recipes, then the errors in its recipe files (exit status 1 if any).\n"},
    {"sources", WF_CLI_CMD_SOURCES, OPT_JSON, 2, SIZE_MAX, false,
     "usage: wheelfarm sources add FILE... [--json]\n\n"
     "Stores local files in the daemon's source cache by sha256, so a recipe source or native\n"
     "tarball with that sha256 needs no download (seed it offline: scripts/seed-sources).\n"
     "Works over the Unix socket only: the daemon reads the files itself, on its own host.\n"
     "Prints 'SHA256  SIZE  PATH' per file; exit status 1 if any file could not be stored.\n"},
    {"bump", WF_CLI_CMD_BUMP, OPT_DRY_RUN | OPT_JSON, 0, SIZE_MAX, false,
     "usage: wheelfarm bump [--dry-run] [RECIPE...] [--json]\n\n"
     "Runs a version bump now: for each tracking recipe (those with 'track:'; all of them\n"
     "unless RECIPEs are named) the daemon lists the project on the upstream index, picks the\n"
     "newest version its specifier admits (not yanked, not a pre-release unless asked for, at\n"
     "least min_age old) and queues it unless it is already built, at most bump.max_builds\n"
     "versions per run. Prints the outcome per recipe, then every version with its verdict.\n\n"
     "  --dry-run   only say what would be built and why; queue nothing\n"
     "  --json      print the run's JSON report\n\n"
     "Exit status: 0 when the run finished (built or not), 1 when a recipe could not be\n"
     "judged (upstream index unreachable, ...).\n"},
    {"check", WF_CLI_CMD_CHECK, 0, 1, SIZE_MAX, false,
     "usage: wheelfarm check PATH...\n\n"
     "Validates recipe files or directories offline, without the daemon. Prints every problem\n"
     "as file:line:column: message; exit status 1 if any.\n"},
};

static const char overview[] =
    "usage: wheelfarm [--socket PATH | --url URL] COMMAND [ARGS]\n"
    "       wheelfarm --help | --version | COMMAND --help\n\n"
    "Commands:\n"
    "  build SPEC...   build wheels (NAME or NAME==VERSION); --wait, --follow\n"
    "  jobs            list jobs\n"
    "  show JOB        show one job\n"
    "  logs JOB        print a job's build log; -f follows it\n"
    "  cancel JOB      cancel a job\n"
    "  retry JOB       build a failed or cancelled job again\n"
    "  workers         list workers and their health\n"
    "  drain NAME      let a worker finish its builds and take no new ones\n"
    "  undrain NAME    let a drained worker take jobs again\n"
    "  recipes         list the daemon's recipes and recipe errors\n"
    "  sources add FILE...  store source archives in the daemon's cache\n"
    "  bump [RECIPE...]  build new upstream versions of tracking recipes; --dry-run\n"
    "  check PATH...   validate recipe files offline\n" GLOBAL_USAGE
    "\nExit status: 0 ok, 1 a build failed (or check found errors), 2 usage or configuration\n"
    "error, 3 daemon unreachable.\n";

static const char *const job_states[] = {"queued", "running", "succeeded", "failed", "cancelled"};

static const struct cmd_def *find_cmd(const char *name)
{
    for (size_t i = 0; i < WF_ARRAY_SIZE(cmd_defs); i++)
        if (strcmp(cmd_defs[i].name, name) == 0)
            return &cmd_defs[i];
    return NULL;
}

static const struct cmd_def *cmd_by_id(wf_cli_command cmd)
{
    for (size_t i = 0; i < WF_ARRAY_SIZE(cmd_defs); i++)
        if (cmd_defs[i].cmd == cmd)
            return &cmd_defs[i];
    return NULL;
}

const char *wf_cli_args_usage(wf_cli_command cmd)
{
    const struct cmd_def *d = cmd_by_id(cmd);
    return d != NULL ? d->usage : overview;
}

const char *wf_cli_args_command_name(wf_cli_command cmd)
{
    const struct cmd_def *d = cmd_by_id(cmd);
    return d != NULL ? d->name : "wheelfarm";
}

static void push(const char ***arr, size_t *n, const char *s)
{
    *arr = wf_realloc((void *)*arr, (*n + 1) * sizeof(**arr));
    (*arr)[(*n)++] = s;
}

/* Finds the option an argument names: "--name", "--name=value" or "-x". *value is set to the
 * inline value after '=', or NULL. */
static const struct opt_def *find_opt(const char *arg, const char **value)
{
    *value = NULL;
    if (arg[1] != '-') {
        for (size_t i = 0; i < WF_ARRAY_SIZE(opt_defs); i++)
            if (opt_defs[i].short_name != 0 && arg[1] == opt_defs[i].short_name && arg[2] == '\0')
                return &opt_defs[i];
        return NULL;
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    for (size_t i = 0; i < WF_ARRAY_SIZE(opt_defs); i++) {
        if (strlen(opt_defs[i].name) == len && strncmp(opt_defs[i].name, name, len) == 0) {
            *value = eq != NULL ? eq + 1 : NULL;
            return &opt_defs[i];
        }
    }
    return NULL;
}

static int apply_opt(wf_cli_args *a, const struct opt_def *o, const char *value, char **err)
{
    switch (o->bit) {
    case OPT_PLATFORM: push(&a->platforms, &a->n_platforms, value); break;
    case OPT_PYTHON: push(&a->python, &a->n_python, value); break;
    case OPT_FORCE: a->force = true; break;
    case OPT_WAIT: a->wait = true; break;
    case OPT_FOLLOW: a->follow = true; break;
    case OPT_JSON: a->json = true; break;
    case OPT_SOCKET: a->socket_path = value; break;
    case OPT_URL: a->url = value; break;
    case OPT_HELP: a->help = true; break;
    case OPT_VERSION: a->version = true; break;
    case OPT_DRY_RUN: a->dry_run = true; break;
    case OPT_STATE:
        for (size_t i = 0; i < WF_ARRAY_SIZE(job_states); i++) {
            if (strcmp(value, job_states[i]) == 0) {
                a->state = value;
                return 0;
            }
        }
        *err = wf_asprintf("unknown job state '%s' (use queued, running, succeeded, failed or "
                           "cancelled)",
                           value);
        return WF_EINVAL;
    default: assert(0 && "option without a handler"); break;
    }
    return 0;
}

/* Handles the option at argv[*i], consuming its value (inline or the next argument). */
static int parse_opt(wf_cli_args *a, unsigned *seen, int argc, char *const *argv, int *i,
                     char **err)
{
    const char *arg = argv[*i];
    const char *value = NULL;
    const struct opt_def *o = find_opt(arg, &value);
    if (o == NULL) {
        *err = wf_asprintf("unknown option '%s'", arg);
        return WF_EINVAL;
    }
    if (!o->takes_value && value != NULL) {
        *err = wf_asprintf("option --%s takes no value", o->name);
        return WF_EINVAL;
    }
    if (o->takes_value && value == NULL) {
        if (*i + 1 >= argc) {
            *err = wf_asprintf("option --%s needs a value", o->name);
            return WF_EINVAL;
        }
        value = argv[++*i];
    }
    if (o->takes_value && value[0] == '\0') {
        *err = wf_asprintf("option --%s needs a non-empty value", o->name);
        return WF_EINVAL;
    }
    *seen |= o->bit;
    return apply_opt(a, o, value, err);
}

static int parse_job_id(const char *s, int64_t *out, char **err)
{
    int64_t id = 0;
    if (wf_parse_i64(s, strlen(s), &id) != 0 || id <= 0) {
        *err =
            wf_asprintf("'%s' is not a job id (a positive number, as 'wheelfarm jobs' shows)", s);
        return WF_EINVAL;
    }
    *out = id;
    return 0;
}

/* Worker names are [a-z0-9-]+ (lib/config.c); anything else cannot name one. */
static bool worker_name_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    return true;
}

/* Checks what only makes sense once the command is known: allowed options, argument count. */
static int validate(wf_cli_args *a, const struct cmd_def *d, unsigned seen, char **err)
{
    unsigned allowed = OPT_GLOBAL | (d != NULL ? d->opts : 0);
    for (size_t i = 0; i < WF_ARRAY_SIZE(opt_defs); i++) {
        if ((seen & opt_defs[i].bit) && !(allowed & opt_defs[i].bit)) {
            *err = d != NULL
                       ? wf_asprintf("option --%s is not valid for '%s'", opt_defs[i].name, d->name)
                       : wf_asprintf("option --%s needs a command", opt_defs[i].name);
            return WF_EINVAL;
        }
    }
    if (a->socket_path != NULL && a->url != NULL) {
        *err = wf_strdup("give either --socket or --url, not both");
        return WF_EINVAL;
    }
    if (a->help || a->version)
        return 0;
    if (d == NULL) {
        *err = wf_strdup("no command given");
        return WF_EINVAL;
    }
    if (a->n_positional < d->min_pos) {
        *err = wf_asprintf("'%s' needs %s", d->name,
                           d->job_arg                     ? "a JOB id"
                           : d->cmd == WF_CLI_CMD_BUILD   ? "a SPEC"
                           : d->cmd == WF_CLI_CMD_SOURCES ? "'add' and a FILE"
                           : d->cmd == WF_CLI_CMD_DRAIN || d->cmd == WF_CLI_CMD_UNDRAIN
                               ? "a worker NAME ('wheelfarm workers' lists them)"
                               : "a PATH");
        return WF_EINVAL;
    }
    if (a->n_positional > d->max_pos) {
        *err = wf_asprintf("unexpected argument '%s' for '%s'", a->positional[d->max_pos], d->name);
        return WF_EINVAL;
    }
    if (d->job_arg)
        return parse_job_id(a->positional[0], &a->job_id, err);
    if (d->cmd == WF_CLI_CMD_HELP && a->n_positional == 1 && find_cmd(a->positional[0]) == NULL) {
        *err = wf_asprintf("unknown command '%s'", a->positional[0]);
        return WF_EINVAL;
    }
    if (d->cmd == WF_CLI_CMD_SOURCES && strcmp(a->positional[0], "add") != 0) {
        *err = wf_asprintf("unknown 'sources' subcommand '%s' (use: sources add FILE...)",
                           a->positional[0]);
        return WF_EINVAL;
    }
    if ((d->cmd == WF_CLI_CMD_DRAIN || d->cmd == WF_CLI_CMD_UNDRAIN) &&
        !worker_name_ok(a->positional[0])) {
        *err = wf_asprintf("'%s' is not a worker name (lowercase letters, digits and '-', as "
                           "'wheelfarm workers' shows)",
                           a->positional[0]);
        return WF_EINVAL;
    }
    for (size_t i = 0; d->cmd == WF_CLI_CMD_BUILD && i < a->n_positional; i++) {
        int rc = wf_cli_args_check_spec(a->positional[i], err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int wf_cli_args_parse(wf_cli_args *out, int argc, char *const *argv, char **err)
{
    wf_cli_args a = {0};
    const struct cmd_def *d = NULL;
    unsigned seen = 0;
    bool options_done = false;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
        } else if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            rc = parse_opt(&a, &seen, argc, argv, &i, err);
            if (rc != 0)
                goto out;
        } else if (d == NULL) {
            d = find_cmd(arg);
            if (d == NULL) {
                *err = wf_asprintf("unknown command '%s'", arg);
                rc = WF_EINVAL;
                goto out;
            }
            a.command = d->cmd;
        } else {
            push(&a.positional, &a.n_positional, arg);
        }
    }
    rc = validate(&a, d, seen, err);
    if (a.follow)
        a.wait = true;
out:
    if (rc != 0) {
        wf_cli_command cmd = a.command;
        wf_cli_args_release(&a);
        out->command = cmd;
        return rc;
    }
    *out = a;
    return 0;
}

void wf_cli_args_release(wf_cli_args *a)
{
    free((void *)a->positional);
    free((void *)a->platforms);
    free((void *)a->python);
    memset(a, 0, sizeof(*a));
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int wf_cli_args_check_spec(const char *spec, char **err)
{
    const char *eq = strstr(spec, "==");
    size_t name_len = eq != NULL ? (size_t)(eq - spec) : strlen(spec);
    bool ok = name_len > 0 && is_alnum(spec[0]) && is_alnum(spec[name_len - 1]);
    for (size_t i = 0; ok && i < name_len; i++)
        ok = is_alnum(spec[i]) || spec[i] == '.' || spec[i] == '_' || spec[i] == '-';
    if (!ok) {
        *err = wf_asprintf("bad build spec '%s': write NAME or NAME==VERSION (for example "
                           "confluent-kafka==2.6.0)",
                           spec);
        return WF_EINVAL;
    }
    if (eq == NULL)
        return 0;
    const char *v = eq + 2;
    ok = v[0] != '\0' && is_alnum(v[0]);
    for (size_t i = 0; ok && v[i] != '\0'; i++)
        ok = is_alnum(v[i]) || strchr(".+!_-", v[i]) != NULL;
    if (!ok) {
        *err = wf_asprintf("bad version in build spec '%s': write NAME==VERSION with an exact "
                           "version such as 2.6.0",
                           spec);
        return WF_EINVAL;
    }
    return 0;
}

static int check_url(const char *url, const char *origin, char **err)
{
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
        return 0;
    *err = wf_asprintf("%s '%s' is not an http:// or https:// URL (for example %s)", origin, url,
                       WF_CLI_DEFAULT_URL);
    return WF_ECONFIG;
}

static char *strip_slash(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    return wf_strndup(url, n);
}

int wf_cli_args_locate(wf_cli_location *out, const wf_cli_args *a, const char *env_socket,
                       const char *env_url, bool default_socket_exists, char **err)
{
    wf_cli_location loc = {0};
    const char *url = NULL;
    if (env_socket != NULL && env_socket[0] == '\0')
        env_socket = NULL;
    if (env_url != NULL && env_url[0] == '\0')
        env_url = NULL;

    if (a->socket_path != NULL) {
        loc.socket_path = wf_strdup(a->socket_path);
        loc.origin = "--socket";
    } else if (a->url != NULL) {
        url = a->url;
        loc.origin = "--url";
    } else if (env_socket != NULL) {
        loc.socket_path = wf_strdup(env_socket);
        loc.origin = "WHEELFARM_SOCKET";
    } else if (env_url != NULL) {
        url = env_url;
        loc.origin = "WHEELFARM_URL";
    } else if (default_socket_exists) {
        loc.socket_path = wf_strdup(WF_CLI_DEFAULT_SOCKET);
        loc.origin = "default";
    } else {
        url = WF_CLI_DEFAULT_URL;
        loc.origin = "default";
    }
    if (url != NULL) {
        int rc = check_url(url, loc.origin, err);
        if (rc != 0)
            return rc;
        loc.url = strip_slash(url);
    }
    *out = loc;
    return 0;
}

void wf_cli_location_release(wf_cli_location *loc)
{
    free(loc->socket_path);
    free(loc->url);
    memset(loc, 0, sizeof(*loc));
}
