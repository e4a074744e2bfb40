/*
 * reader.c: reassembles the pieces the dialer hands over (a frame's payload
 * as it arrives in each receive buffer, frames and continuation frames)
 * into one inbox message, capped at max_message_size. UTF-8 of text
 * messages is not checked here: the dialer's codec checks it once per
 * message, across fragments, and closes with 1007 itself (RFC 6455 8.1).
 *
 * The inbox message is the buffer: a single-piece message is allocated once
 * at its exact size and copied once; a message in several pieces of one
 * frame is allocated once at the size the frame header announced
 * (hb_reader_expect); only a message in several frames grows, by doubling,
 * and is trimmed when it ends with slack, since a sink may hold the
 * allocation for long: the bridge hands it to ZeroMQ zero-copy, where a
 * slow subscriber keeps up to inbox_hwm of them. Loop thread (owned by one
 * session).
 */
#include <stdint.h>
#include <string.h>

#include "honeybee/session.h"

void hb_reader_init(hb_reader *r, hb_plugin *p, uint64_t max_message_size)
{
    r->plugin = p;
    r->max = max_message_size;
    r->msg = NULL;
    r->cap = 0;
    r->expect = 0;
    r->binary = false;
}

void hb_reader_expect(hb_reader *r, size_t more)
{
    r->expect = more;
}

void hb_reader_reset(hb_reader *r)
{
    hb_inbox_msg_free(r->msg);
    r->msg = NULL;
    r->cap = 0;
}

static hb_read_result s_finish(hb_reader *r, hb_inbox_msg *m, hb_inbox_msg **out)
{
    (void)r;
    *out = m;
    return HB_READ_MESSAGE;
}

hb_read_result hb_reader_feed(hb_reader *r, const void *data, size_t len, bool first, bool final,
                              bool binary, hb_inbox_msg **out)
{
    *out = NULL;
    if (first || !r->msg) {
        hb_reader_reset(r);
        r->binary = binary;
        if (len > r->max) return HB_READ_TOO_LARGE;
        if (final) { /* the common case: one piece, one allocation, one copy */
            hb_inbox_msg *m = hb_plugin_msg_new(r->plugin, len);
            if (!m) return HB_READ_NOMEM;
            if (len) memcpy(m->data, data, len);
            m->len = len;
            return s_finish(r, m, out);
        }
        size_t more = r->expect;
        r->expect = 0;
        size_t cap = more ? len + more : len < 4096 ? 4096 : len * 2;
        if (more && cap < len) cap = SIZE_MAX; /* overflow: clamped below */
        if (cap > r->max) cap = (size_t)r->max;
        if (cap < len) cap = len;
        r->msg = hb_plugin_msg_new(r->plugin, cap);
        if (!r->msg) return HB_READ_NOMEM;
        r->msg->len = 0;
        r->cap = cap;
    }
    hb_inbox_msg *m = r->msg;
    if ((uint64_t)m->len + len > r->max) {
        hb_reader_reset(r);
        return HB_READ_TOO_LARGE;
    }
    if (m->len + len > r->cap) {
        size_t cap = r->cap * 2;
        if (cap < m->len + len) cap = m->len + len;
        if (cap > r->max) cap = (size_t)r->max;
        if (hb_plugin_msg_reserve(r->plugin, &r->msg, cap) != 0) {
            hb_reader_reset(r);
            return HB_READ_NOMEM;
        }
        m = r->msg;
        r->cap = cap;
    }
    if (len) memcpy(m->data + m->len, data, len);
    m->len += len;
    if (!final) return HB_READ_MORE;
    /* Grown by doubling (or started at 4 KiB): give back an unused tail of
     * more than 256 bytes and an eighth (realloc shrinks in place), so a
     * held message costs about its size, not up to twice it or 4 KiB. */
    if (r->cap - m->len > 256 && r->cap - m->len > m->len / 8)
        hb_plugin_msg_reserve(r->plugin, &m, m->len); /* on failure m stays as it was */
    r->msg = NULL;
    r->cap = 0;
    return s_finish(r, m, out);
}
