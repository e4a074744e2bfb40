/*
 * tree.h: YAML text and jansson values to hb__node trees (see schema.h for
 * the node). Pure; any thread.
 */
#ifndef HB_CONFIG_TREE_H
#define HB_CONFIG_TREE_H

#include "config/schema.h"

/* Parses one YAML document. Returns 0 and *out (NULL for an empty
 * document), HB_E_CONFIG with errors added (syntax, alias, depth), or
 * HB_E_NOMEM. Caller frees *out with hb__node_free. */
int hb__yaml_tree(const char *yaml, size_t len, const char *file, hb__node **out, hb__errs *errs);

/* Converts a json_t (passed as void * to keep jansson out of this header).
 * Returns 0, HB_E_INVALID_OPTION when nested too deep, or HB_E_NOMEM. */
int hb__json_tree(const void *json, hb__node **out);

#endif
