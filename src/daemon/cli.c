/*
 * cli.c: honeybee-bridge's command line. Hand-written rather than getopt_long
 * so that it is reentrant (no global optind to reset) and its messages and
 * exit codes are exactly those of SPEC.md section 2: 2 for anything wrong
 * with the arguments or the configuration, with every configuration problem
 * printed as "FILE:LINE: KEY: message". The configuration library never
 * prints; this file does the printing for it. Main thread, at start-up.
 */
#include "daemon/cli.h"

#include "bridge/auth.h"
#include "config/shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_config_path; /* set once at start-up, read-only after */

static const char s_usage[] =
    "usage: honeybee-bridge [-c FILE] [--check] [--print-config] [--version] [--help]\n";

static const char s_help[] =
    "\n"
    "Keeps WebSocket peers (ws://, wss://) connected and bridges them to ZeroMQ:\n"
    "inbox (PUB), events (PUB), send (PULL), control (REP).\n"
    "\n"
    "  -c, --config FILE  YAML configuration (without it: built-in defaults,\n"
    "                     endpoints on 127.0.0.1, no peers)\n"
    "      --check        load and validate the configuration, print what is\n"
    "                     wrong with file, line and key; exit 0 if valid, 2 if not\n"
    "      --print-config print the commented example configuration (every key\n"
    "                     with its default) and exit\n"
    "  -V, --version      print the version and exit\n"
    "  -h, --help         print this help and exit\n"
    "\n"
    "Environment: HONEYBEE_INBOX, HONEYBEE_EVENTS, HONEYBEE_SEND, HONEYBEE_CONTROL,\n"
    "HONEYBEE_HTTP, HONEYBEE_SHARD, HONEYBEE_LOG_LEVEL, HONEYBEE_LOG_FORMAT override the\n"
    "matching keys; HOSTNAME gives the shard of bridge.shard: auto/N.\n"
    "Signals: SIGTERM/SIGINT shut down gracefully; SIGHUP reloads the peer list.\n"
    "Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad configuration or arguments.\n";

const char *hb__cli_config_path(void)
{
    return s_config_path;
}

/* "honeybee-bridge: WHAT[ ARG]", the usage line, and exit code 2. */
static int s_bad_args(const char *what, const char *arg)
{
    fprintf(stderr, "honeybee-bridge: %s%s%s\n", what, arg ? " " : "", arg ? arg : "");
    fputs(s_usage, stderr);
    return HB__EXIT_CONFIG;
}

/* Prints the collected problems (each line already "FILE:LINE: KEY: ..."). */
static void s_print_errors(const char *errors)
{
    if (errors && *errors) fputs(errors, stderr);
    size_t n = errors ? strlen(errors) : 0;
    if (n && errors[n - 1] != '\n') fputs("\n", stderr);
}

int hb__cli_handle(int argc, char **argv, hb_config **cfg_out)
{
    *cfg_out = NULL;
    const char *path = NULL;
    bool check = false, version = false, help = false, print = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
            if (i + 1 >= argc) return s_bad_args(a, "needs a FILE");
            path = argv[++i];
        } else if (!strncmp(a, "--config=", 9)) {
            path = a + 9;
        } else if (!strncmp(a, "-c", 2) && a[2]) {
            path = a + 2;
        } else if (!strcmp(a, "--check")) {
            check = true;
        } else if (!strcmp(a, "--print-config")) {
            print = true;
        } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            version = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help = true;
        } else if (a[0] == '-') {
            return s_bad_args("unknown option", a);
        } else {
            return s_bad_args("unexpected argument", a);
        }
    }
    if (path && !*path) return s_bad_args("empty configuration file name", NULL);
    if (help) {
        fputs(s_usage, stdout);
        fputs(s_help, stdout);
        return HB__EXIT_OK;
    }
    if (version) {
        printf("honeybee-bridge %s\n", HB_VERSION_STRING);
        return HB__EXIT_OK;
    }
    if (print) {
        hb_config_write_example(stdout);
        return fflush(stdout) == 0 ? HB__EXIT_OK : HB__EXIT_RUNTIME;
    }

    hb_config *cfg = NULL;
    char *errors = NULL;
    int rc = path ? hb_config_load_file(path, &cfg, &errors) : hb_config_defaults(&cfg);
    if (rc == 0) {
        rc = hb_config_apply_env(cfg, NULL, &errors);
        if (rc) hb_config_destroy(&cfg);
    }
    if (rc == 0) {
        /* bridge.curve's certificate and key directories are czmq's, read
         * by the bridge's library: the schema checked that they exist,
         * this that they load. */
        char aerr[512];
        if (hb__auth_check(&cfg->bridge.curve, aerr, sizeof(aerr)) != 0) {
            size_t n = strlen(aerr) + strlen(path ? path : "") + 8;
            errors = malloc(n);
            if (errors) snprintf(errors, n, "%s%s%s\n", path ? path : "", path ? ": " : "", aerr);
            hb_config_destroy(&cfg);
            rc = HB_E_CONFIG;
        }
    }
    if (rc == 0) {
        /* bridge.shard: "auto/N" reads the pod ordinal from HOSTNAME, which
         * only the daemon may read (the schema check is pure). */
        const char *host = getenv("HOSTNAME");
        hb__shard sh;
        char why[256];
        if (hb__shard_parse(cfg->bridge.shard, host ? host : "", &sh, why, sizeof(why))) {
            cfg->bridge.shard_index = sh.index;
            cfg->bridge.shard_count = sh.count;
        } else {
            size_t n = strlen(why) + strlen(path ? path : "") + 64;
            errors = malloc(n);
            if (errors)
                snprintf(errors, n, "%s%sbridge.shard%s: %s\n", path ? path : "", path ? ": " : "",
                         getenv("HONEYBEE_SHARD") ? " (HONEYBEE_SHARD)" : "", why);
            hb_config_destroy(&cfg);
            rc = HB_E_CONFIG;
        }
    }
    if (rc) {
        if (errors)
            s_print_errors(errors);
        else
            fprintf(stderr, "honeybee-bridge: %s\n", hb_strerror(rc));
        free(errors);
        if (check)
            fprintf(stderr, "honeybee-bridge: %s: configuration is not valid\n",
                    path ? path : "built-in defaults");
        return HB__EXIT_CONFIG;
    }
    if (check) {
        hb__shard sh = hb__config_shard(&cfg->bridge);
        size_t total = cfg->n_peers, skipped = hb__config_shard_filter(cfg, sh);
        if (sh.count > 1)
            printf("%s: configuration OK (%zu peer%s; shard %u/%u owns %zu of them, the other "
                   "shards %zu)\n",
                   path ? path : "built-in defaults", total, total == 1 ? "" : "s", sh.index,
                   sh.count, cfg->n_peers, skipped);
        else
            printf("%s: configuration OK (%zu peer%s)\n", path ? path : "built-in defaults",
                   cfg->n_peers, cfg->n_peers == 1 ? "" : "s");
        hb_config_destroy(&cfg);
        return HB__EXIT_OK;
    }
    s_config_path = path;
    *cfg_out = cfg;
    return -1;
}
