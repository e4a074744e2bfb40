/*
 * cli.h: the command line of honeybee-bridge (SPEC.md section 2).
 *
 *   honeybee-bridge [-c FILE | --config FILE] [--check] [--print-config]
 *                   [--version] [--help]
 *
 * main() calls hb__cli_handle first. This is the only part of the daemon,
 * with main.c, that prints or picks exit codes. Main thread only, before any
 * other thread starts (it uses getenv and writes stdout/stderr).
 */
#ifndef HB_DAEMON_CLI_H
#define HB_DAEMON_CLI_H

#include "honeybee/config.h"

/* Exit codes of SPEC.md section 2. */
#define HB__EXIT_OK      0 /* clean shutdown, --help, --version, valid --check */
#define HB__EXIT_RUNTIME 1 /* runtime failure, e.g. an endpoint cannot be bound */
#define HB__EXIT_CONFIG  2 /* bad configuration or arguments */

/*
 * Parses the arguments and does what they ask. Returns:
 *   -1  the daemon should run: *cfg_out is the loaded, validated config with
 *       HONEYBEE_* environment overrides applied (built-in defaults when no
 *       -c was given); the caller owns it (hb_config_destroy).
 *   0   --help, --version, --print-config, or --check on a valid config:
 *       exit 0. *cfg_out is NULL.
 *   2   bad arguments or an invalid/unreadable config: the problems were
 *       printed to stderr as "FILE:LINE: KEY: message"; exit 2. *cfg_out is
 *       NULL.
 */
int hb__cli_handle(int argc, char **argv, hb_config **cfg_out);

/*
 * The path given with -c/--config, or NULL when running on defaults. Valid
 * for the life of the process (it points into argv). For SIGHUP: re-read it
 * with hb_config_load_file() (then hb_config_apply_env() so the overrides
 * still hold), and on failure log the returned errors and keep the running
 * set. Without a file there is nothing to reload.
 */
const char *hb__cli_config_path(void);

#endif
