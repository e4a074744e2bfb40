/*
 * load.h: the schema walker shared by the YAML loader and the JSON options of
 * a control `connect`. Pure; any thread.
 */
#ifndef HB_CONFIG_LOAD_H
#define HB_CONFIG_LOAD_H

#include "config/schema.h"

typedef struct hb__cfg_walk_ctx {
    const char *file; /* for messages; NULL for JSON */
    hb__errs *errs;
    unsigned mask;             /* sections whose keys are allowed: 1u << hb__cfg_section */
    bool allow_identity;       /* id and url allowed (a file), or not (options) */
    void *bases[HB__S__COUNT]; /* struct each section's fields go into */
    int *lines;                /* per row: where it was set, or NULL */
} hb__cfg_walk_ctx;

/* Reads the mapping `map` (a null scalar counts as empty) at `prefix` (a
 * path inside the sections, "" at the top) into the bases, recording lines.
 * `keyname` is the path shown in messages ("pool", "peers[2].reconnect"). */
void hb__cfg_walk(const hb__cfg_walk_ctx *c, const hb__node *map, const char *prefix,
                  const char *keyname);

#endif
