/*
 * tree.c: the two front ends that turn outside text into hb__node trees,
 * which the schema walker (load.c) then reads.
 *
 * YAML goes through libyaml's event API rather than its document API: the
 * events carry the line of every scalar and collection start, and building
 * the tree ourselves lets us refuse aliases (the document API would happily
 * build an alias cycle or a billion-laughs expansion) and cap the nesting
 * depth. JSON (the `options` of a control `connect`) goes through jansson
 * and becomes the same tree without lines, with JSON strings as quoted
 * scalars and numbers, booleans and null as plain ones, so that both inputs
 * obey one set of typing rules. Pure; any thread.
 */
#include "config/tree.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 32

void hb__node_free(hb__node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) hb__node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

static hb__node *s_new(hb__node_kind kind, int line)
{
    hb__node *n = calloc(1, sizeof *n);
    if (n) n->kind = kind, n->line = line;
    return n;
}

static bool s_append(hb__node *parent, hb__node *kid)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        void *np = realloc(parent->kids, cap * sizeof *parent->kids);
        if (!np) return false;
        parent->kids = np, parent->cap = cap;
    }
    parent->kids[parent->n++] = kid;
    return true;
}

static hb__node *s_scalar(const char *text, size_t len, bool plain, int line)
{
    hb__node *n = s_new(HB__N_SCALAR, line);
    if (!n) return NULL;
    n->text = malloc(len + 1);
    if (!n->text) {
        free(n);
        return NULL;
    }
    memcpy(n->text, text, len);
    n->text[len] = '\0';
    n->len = len, n->plain = plain;
    return n;
}

/* A node's explicit tag: none, or the core tag of its own kind (!!str,
 * !!map, !!seq). Any other (!!set, !!binary, !!int, !custom) would change
 * what the node means, and this loader would not honour it: an error, not
 * a silent reading of something else. */
static bool s_tag_ok(const yaml_char_t *tag, const char *own, const char *file, int line,
                     hb__errs *errs)
{
    if (!tag || !strcmp((const char *)tag, own)) return true;
    hb__errs_add(errs, file, line, "(syntax)",
                 "tag %.64s is not supported (only !!str, !!map and !!seq on their own kind)",
                 (const char *)tag);
    return false;
}

int hb__yaml_tree(const char *yaml, size_t len, const char *file, hb__node **out, hb__errs *errs)
{
    *out = NULL;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return HB_E_NOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);

    hb__node *root = NULL;
    hb__node *stack[MAX_DEPTH];
    size_t depth = 0;
    int docs = 0;
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            /* libyaml notices a broken construct where it gives up (the
             * problem mark), often lines after the construct began (the
             * context mark): the message leads with the line a person has to
             * fix and names the other. */
            int line = (int)parser.problem_mark.line + 1;
            const char *problem = parser.problem ? parser.problem : "error";
            if (parser.error == YAML_MEMORY_ERROR)
                rc = HB_E_NOMEM;
            else if (parser.context)
                hb__errs_add(errs, file, (int)parser.context_mark.line + 1, "(syntax)",
                             "%s (opened here): %s at line %d", parser.context, problem, line);
            else
                hb__errs_add(errs, file, line, "(syntax)", "%s", problem);
            if (!rc) rc = HB_E_CONFIG;
            break;
        }
        int line = (int)ev.start_mark.line + 1;
        hb__node *made = NULL;
        bool done = false, push = false;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                hb__errs_add(errs, file, line, "(syntax)",
                             "only one YAML document is allowed (found a second '---')");
                rc = HB_E_CONFIG;
            }
            break;
        case YAML_ALIAS_EVENT:
            hb__errs_add(errs, file, line, "(syntax)", "aliases (*name) are not supported");
            rc = HB_E_CONFIG;
            break;
        case YAML_SCALAR_EVENT: {
            bool plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            /* An explicit !!str tag makes a plain scalar a string. */
            if (ev.data.scalar.tag && strcmp((const char *)ev.data.scalar.tag, YAML_STR_TAG) == 0)
                plain = false;
            else if (!s_tag_ok(ev.data.scalar.tag, YAML_STR_TAG, file, line, errs)) {
                rc = HB_E_CONFIG;
                break;
            }
            made = s_scalar((const char *)ev.data.scalar.value, ev.data.scalar.length, plain, line);
            if (!made) rc = HB_E_NOMEM;
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (ev.type == YAML_MAPPING_START_EVENT
                    ? !s_tag_ok(ev.data.mapping_start.tag, YAML_MAP_TAG, file, line, errs)
                    : !s_tag_ok(ev.data.sequence_start.tag, YAML_SEQ_TAG, file, line, errs)) {
                rc = HB_E_CONFIG;
                break;
            }
            if (depth == MAX_DEPTH) {
                hb__errs_add(errs, file, line, "(syntax)", "nested deeper than %d levels",
                             MAX_DEPTH);
                rc = HB_E_CONFIG;
                break;
            }
            made = s_new(ev.type == YAML_MAPPING_START_EVENT ? HB__N_MAP : HB__N_SEQ, line);
            if (!made) rc = HB_E_NOMEM;
            push = true;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0) depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (made) {
            if (depth > 0) {
                if (!s_append(stack[depth - 1], made)) {
                    hb__node_free(made);
                    rc = HB_E_NOMEM;
                }
            } else if (!root) {
                root = made;
            } else {
                hb__node_free(made); /* only with a second document, already an error */
            }
            if (!rc && push) stack[depth++] = made;
        }
        if (done || rc) break;
    }
    yaml_parser_delete(&parser);
    if (rc) {
        hb__node_free(root);
        return rc;
    }
    *out = root;
    return 0;
}

static hb__node *s_from_json(const json_t *j, int depth, bool *bad)
{
    char num[64];
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        if (depth >= MAX_DEPTH) {
            *bad = true;
            return NULL;
        }
        hb__node *n = s_new(HB__N_MAP, 0);
        if (!n) return NULL;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)j, key, val)
        {
            hb__node *k = s_scalar(key, strlen(key), false, 0);
            hb__node *v = s_from_json(val, depth + 1, bad);
            if (!k || !v || !s_append(n, k) || !s_append(n, v)) {
                /* k or v may already belong to n: free only what does not. */
                if (n->n == 0 || n->kids[n->n - 1] != k) hb__node_free(k);
                if (n->n == 0 || n->kids[n->n - 1] != v) hb__node_free(v);
                hb__node_free(n);
                return NULL;
            }
        }
        return n;
    }
    case JSON_ARRAY: {
        if (depth >= MAX_DEPTH) {
            *bad = true;
            return NULL;
        }
        hb__node *n = s_new(HB__N_SEQ, 0);
        if (!n) return NULL;
        size_t i;
        json_t *val;
        json_array_foreach((json_t *)j, i, val)
        {
            hb__node *v = s_from_json(val, depth + 1, bad);
            if (!v || !s_append(n, v)) {
                hb__node_free(v);
                hb__node_free(n);
                return NULL;
            }
        }
        return n;
    }
    case JSON_STRING:
        return s_scalar(json_string_value(j), json_string_length(j), false, 0);
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return s_scalar(num, strlen(num), true, 0);
    case JSON_REAL:
        snprintf(num, sizeof num, "%.17g", json_real_value(j));
        return s_scalar(num, strlen(num), true, 0);
    case JSON_TRUE:
        return s_scalar("true", 4, true, 0);
    case JSON_FALSE:
        return s_scalar("false", 5, true, 0);
    case JSON_NULL:
        return s_scalar("null", 4, true, 0);
    }
    return NULL;
}

int hb__json_tree(const void *json, hb__node **out)
{
    bool bad = false;
    *out = s_from_json((const json_t *)json, 0, &bad);
    if (!*out) return bad ? HB_E_INVALID_OPTION : HB_E_NOMEM;
    return 0;
}
