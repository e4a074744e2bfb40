/*
 * errs.c: the configuration's collected errors ("FILE:LINE: KEY: message",
 * sorted by line, capped) and the quoting of a value inside a message.
 * Pure functions on caller-owned data; any thread.
 */
#include "config/schema.h"
#include "core/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ERRORS 100

void hb__errs_add(hb__errs *e, const char *file, int line, const char *key, const char *fmt, ...)
{
    if (e->n >= MAX_ERRORS) {
        e->dropped++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char head[64] = "";
    if (file && line > 0) snprintf(head, sizeof head, ":%d", line);
    size_t need = (file ? strlen(file) : 0) + strlen(head) + strlen(key) + strlen(msg) + 8;
    char *text = malloc(need);
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        void *np = realloc(e->items, cap * sizeof *e->items);
        if (!np) {
            free(text);
            e->oom = true;
            return;
        }
        e->items = np, e->cap = cap;
    }
    if (!text) {
        e->oom = true;
        return;
    }
    if (file)
        snprintf(text, need, "%s%s: %s: %s", file, head, key, msg);
    else
        snprintf(text, need, "%s: %s", key, msg);
    e->items[e->n].line = line;
    e->items[e->n].text = text;
    e->n++;
}

void hb__errs_free(hb__errs *e)
{
    for (size_t i = 0; i < e->n; i++) free(e->items[i].text);
    free(e->items);
    memset(e, 0, sizeof *e);
}

char *hb__errs_take(hb__errs *e)
{
    /* Insertion sort by line, stable: the list is short (capped). */
    for (size_t i = 1; i < e->n; i++) {
        struct hb__err_item it = e->items[i];
        size_t j = i;
        while (j > 0 && e->items[j - 1].line > it.line) {
            e->items[j] = e->items[j - 1];
            j--;
        }
        e->items[j] = it;
    }
    size_t len = 1;
    for (size_t i = 0; i < e->n; i++) len += strlen(e->items[i].text) + 1;
    char tail[96] = "";
    if (e->dropped) snprintf(tail, sizeof tail, "(%zu more errors not shown)\n", e->dropped);
    if (e->oom) snprintf(tail + strlen(tail), sizeof tail - strlen(tail), "(out of memory)\n");
    len += strlen(tail);
    char *out = malloc(len);
    if (out) {
        size_t o = 0;
        for (size_t i = 0; i < e->n; i++) {
            size_t l = strlen(e->items[i].text);
            memcpy(out + o, e->items[i].text, l);
            o += l;
            out[o++] = '\n';
        }
        memcpy(out + o, tail, strlen(tail) + 1);
    }
    hb__errs_free(e);
    return out;
}

const char *hb__cfg_quote(const char *s, size_t len, char *buf, size_t cap)
{
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        /* Cut after 40 bytes, at a character's start: never half of one. */
        if (i >= 40 && (c & 0xc0) != 0x80) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        size_t bl = 0;
        unsigned cp = c >= 0x80 ? hb__utf8_break_at((const unsigned char *)s + i, len - i, &bl) : 0;
        if (cp) {
            o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", cp);
            i += bl - 1;
        } else if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
