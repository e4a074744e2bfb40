/*
 * example.c: the texts generated from the schema table: the commented
 * example configuration (`honeybee-bridge --print-config`,
 * examples/honeybee.yaml) and the key reference of docs/config.md. Unit
 * tests compare both files with this output, so they cannot drift from the
 * table. Any thread (writes only to the caller's FILE).
 */
#include "config/schema.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sample values for the peer-only keys, which have no default. A unit test
 * checks that every peer row has one. */
static const struct {
    const char *path, *sample;
} s_samples[] = {
    {"id", "relay-a"},
    {"url", "wss://relay.example.com/"},
    {"headers", "{ Origin: \"https://example.com\" }"},
    {"subprotocols", "[]"},
    {"on_connect", "['[\"REQ\",\"all\",{\"limit\":0}]']"},
};

const char *hb__cfg_sample(const char *path)
{
    for (size_t i = 0; i < sizeof s_samples / sizeof s_samples[0]; i++)
        if (!strcmp(s_samples[i].path, path)) return s_samples[i].sample;
    return NULL;
}

static const char *const s_intro[HB__S__COUNT] = {
    "The ZeroMQ sockets and the HTTP endpoint. Changes need a restart.",
    "Defaults for every peer. A peer (or the options of a control connect) may "
    "override any of these keys, key by key.",
    "The peers dialled at start-up; more can be added over the control socket. "
    "Each entry has the keys below, and may override any key of `pool` for this "
    "peer only (`reconnect: {initial_delay: 5s}` keeps the other reconnect keys). "
    "SIGHUP re-reads this list.",
    "Logging to stderr, one line per record. Changes need a restart.",
};

/* "> 0", ">= 1", "0 .. 1", "1B .. 2GiB"; "" when unbounded. */
static void s_range(const hb__cfg_key *k, char *out, size_t cap)
{
    char lo[48] = "", hi[48] = "";
    bool has_max = (k->flags & HB__F_MAX) && !(k->type == HB__T_INT && k->max >= INT_MAX);
    for (int i = 0; i < 2; i++) {
        double v = i ? k->max : k->min;
        hb__cfg_types[k->type].bound_text(v, i ? hi : lo, sizeof lo);
    }
    if (!(k->flags & HB__F_MIN))
        snprintf(out, cap, "%s", has_max ? hi : "");
    else if (k->flags & HB__F_MIN_EXCL)
        snprintf(out, cap, has_max ? "> %s, <= %s" : "> %s", lo, hi);
    else if (has_max)
        snprintf(out, cap, "%s .. %s", lo, hi);
    else
        snprintf(out, cap, ">= %s", lo);
}

/* Writes `text` as comment lines at `indent`, wrapped before column 79. */
static void s_comment(FILE *f, int indent, const char *text)
{
    const int width = 78 - indent - 2;
    const char *p = text;
    while (*p) {
        int len = (int)strlen(p);
        int take = len;
        if (len > width) {
            take = width;
            while (take > 0 && p[take] != ' ') take--;
            if (take == 0) take = width;
        }
        fprintf(f, "%*s# %.*s\n", indent, "", take, p);
        p += take;
        while (*p == ' ') p++;
    }
}

/* Writes the rows of one section, opening group mappings as paths change. */
static void s_write_rows(FILE *f, hb__cfg_section sec, int base)
{
    char group[64] = "";
    bool first = true;
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (k->section != sec) continue;
        const char *dot = strrchr(k->path, '.');
        size_t glen = dot ? (size_t)(dot - k->path) : 0;
        if (glen != strlen(group) || strncmp(group, k->path, glen) != 0) {
            snprintf(group, sizeof group, "%.*s", (int)glen, k->path);
            if (glen) fprintf(f, "%*s%s:\n", base, "", group);
        }
        int ind = base + (glen ? 2 : 0);
        char range[64], meta[160];
        s_range(k, range, sizeof range);
        snprintf(meta, sizeof meta, "[%s%s%s%s%s%s]", k->unit, *range ? ", " : "", range,
                 (k->flags & HB__F_REQUIRED) ? ", required" : "", k->env ? "; env " : "",
                 k->env ? k->env : "");
        s_comment(f, ind, k->doc);
        s_comment(f, ind, meta);
        char val[256];
        const char *name = dot ? dot + 1 : k->path;
        if (k->def)
            hb__cfg_types[k->type].yaml(k->def, val, sizeof val); /* strings quoted */
        else
            snprintf(val, sizeof val, "%s", hb__cfg_sample(k->path) ? hb__cfg_sample(k->path) : "");
        /* In the peer example the first key opens the list item. */
        if (sec == HB__S_PEER && first)
            fprintf(f, "%*s- %s: %s\n", ind - 2, "", name, val);
        else
            fprintf(f, "%*s%s: %s\n", ind, "", name, val);
        first = false;
    }
}

void hb_config_write_example(void *fp)
{
    FILE *f = fp;
    fputs("# honeybee-bridge configuration: every key, with its default.\n"
          "#\n"
          "# Generated from the schema table (src/config/schema.c) by\n"
          "# `honeybee-bridge --print-config`; docs/config.md explains each key.\n"
          "# Durations: a decimal number and ms, s, m or h (250ms, 1.5s, 5m); 0 may\n"
          "# omit the unit. Sizes: an integer and B, KiB, MiB or GiB (100B, 512KiB,\n"
          "# 16MiB). Environment variables named below override their key.\n",
          f);
    static const hb__cfg_section order[] = {HB__S_BRIDGE, HB__S_POOL, HB__S_PEER, HB__S_LOG};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        hb__cfg_section sec = order[i];
        fputs("\n", f);
        s_comment(f, 0, s_intro[sec]);
        if (sec != HB__S_PEER) {
            fprintf(f, "%s:\n", hb__cfg_section_name(sec));
            s_write_rows(f, sec, 2);
            continue;
        }
        /* Peers have no default: an empty list, then a commented example. */
        fputs("peers: []\n# For example:\n# peers:\n", f);
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m) continue;
        s_write_rows(m, sec, 4);
        fputs("    # any key of `pool` may be overridden here, key by key:\n"
              "    reconnect: { initial_delay: 5s }\n",
              m);
        fclose(m);
        for (char *line = buf, *nl; line && *line; line = nl + 1) {
            nl = strchr(line, '\n');
            if (!nl) break;
            fprintf(f, "# %.*s\n", (int)(nl - line), line);
        }
        free(buf);
    }
}

/* A Markdown table cell: pipes escaped. */
static void s_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else
            fputc(*s, f);
    }
}

void hb__config_write_doc(FILE *f)
{
    static const hb__cfg_section order[] = {HB__S_BRIDGE, HB__S_POOL, HB__S_PEER, HB__S_LOG};
    for (size_t s = 0; s < sizeof order / sizeof order[0]; s++) {
        hb__cfg_section sec = order[s];
        fprintf(f, "### `%s`\n\n", hb__cfg_section_name(sec));
        fprintf(f, "%s\n", s_intro[sec]);
        fputs("\n| key | type | default | range | env | meaning |\n"
              "|-----|------|---------|-------|-----|---------|\n",
              f);
        for (size_t i = 0; i < hb__cfg_nkeys; i++) {
            const hb__cfg_key *k = &hb__cfg_keys[i];
            if (k->section != sec) continue;
            char range[64];
            s_range(k, range, sizeof range);
            fprintf(f, "| `%s%s.%s` | ", hb__cfg_section_name(sec), sec == HB__S_PEER ? "[]" : "",
                    k->path);
            s_cell(f, k->unit);
            fputs(" | ", f);
            if (k->flags & HB__F_REQUIRED)
                fputs("required", f);
            else if (k->def && *k->def)
                fprintf(f, "`%s`", k->def);
            else if (k->def)
                fputs("`\"\"`", f);
            else
                fputs("empty", f);
            fputs(" | ", f);
            s_cell(f, range);
            fprintf(f, " | %s%s%s | ", k->env ? "`" : "", k->env ? k->env : "", k->env ? "`" : "");
            s_cell(f, k->doc);
            fputs(" |\n", f);
        }
        fputs("\n", f);
    }
}
