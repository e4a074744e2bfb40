/*
 * fuzz_config.c: libFuzzer target for the configuration loader. Any byte
 * string is fed to hb_config_load_string; it must return a config or
 * errors, never crash, leak or read out of bounds. A loaded config is also
 * deep-copied peer by peer and compared, and the environment overrides are
 * applied, to reach the table-driven helpers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "honeybee/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *s_env(const char *name)
{
    return strcmp(name, "HONEYBEE_LOG_LEVEL") == 0 ? "debug" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hb_config *cfg = NULL;
    char *errors = NULL;
    int rc = hb_config_load_string((const char *)data, size, "fuzz.yaml", &cfg, &errors);
    if (rc == 0) {
        if (!cfg || errors) abort(); /* success means a config and no errors */
        for (size_t i = 0; i < cfg->n_peers; i++) {
            hb_peer_cfg copy;
            if (hb_peer_cfg_copy(&copy, &cfg->peers[i]) == 0) {
                if (!hb_peer_cfg_equal(&copy, &cfg->peers[i])) abort();
                hb_peer_cfg_free(&copy);
            }
        }
        char *env_errors = NULL;
        hb_config_apply_env(cfg, s_env, &env_errors);
        free(env_errors);
    } else if (cfg || (rc == HB_E_CONFIG && !errors)) {
        abort(); /* failure means no config, and HB_E_CONFIG always says why */
    }
    free(errors);
    hb_config_destroy(&cfg);
    return 0;
}
