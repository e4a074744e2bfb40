/*
 * test_pool_reader.c: the reader block on its own: single-piece messages,
 * reassembly across pieces, the max_message_size boundary, UTF-8 checked
 * over the whole message (a character split between pieces is fine), and
 * empty messages. The plugin comes from a pool whose factory captures it;
 * no connection is ever made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/stubs.h"
#include "honeybee/session.h"

static hb_plugin *s_plugin;
static hb_pool *s_pool;

static int s_setup(void **state)
{
    s_plugin = hbts_stub_pool("reader-peer", 10, &s_pool);
    return 0;
}

static int s_teardown(void **state)
{
    hb_pool_destroy(&s_pool);
    return 0;
}

static void test_single_piece(void **state)
{
    hb_reader r;
    hb_reader_init(&r, s_plugin, 10);
    hb_inbox_msg *m;
    assert_int_equal(hb_reader_feed(&r, "hello", 5, true, true, false, &m), HB_READ_MESSAGE);
    assert_string_equal(m->peer_id, "reader-peer");
    assert_int_equal(m->peer_id_len, 11);
    assert_int_equal(m->len, 5);
    assert_memory_equal(m->data, "hello", 5);
    hb_inbox_msg_free(m);
    assert_int_equal(hb_reader_feed(&r, "", 0, true, true, false, &m), HB_READ_MESSAGE);
    assert_int_equal(m->len, 0);
    hb_inbox_msg_free(m);
    assert_int_equal(hb_reader_feed(&r, "0123456789", 10, true, true, true, &m), HB_READ_MESSAGE);
    hb_inbox_msg_free(m);
    assert_int_equal(hb_reader_feed(&r, "0123456789A", 11, true, true, true, &m),
                     HB_READ_TOO_LARGE);
    assert_null(m);
}

static void test_pieces(void **state)
{
    hb_reader r;
    hb_reader_init(&r, s_plugin, 10);
    hb_inbox_msg *m;
    /* "é" = C3 A9 split between two pieces is valid text */
    assert_int_equal(hb_reader_feed(&r, "ab\xc3", 3, true, false, false, &m), HB_READ_MORE);
    assert_int_equal(hb_reader_feed(&r, "\xa9", 1, false, false, false, &m), HB_READ_MORE);
    assert_int_equal(hb_reader_feed(&r, "cd", 2, false, true, false, &m), HB_READ_MESSAGE);
    assert_int_equal(m->len, 6);
    assert_memory_equal(m->data,
                        "ab\xc3\xa9"
                        "cd",
                        6);
    hb_inbox_msg_free(m);
    /* UTF-8 is the dialer's check (the codec's), not the reader's */
    assert_int_equal(hb_reader_feed(&r, "ab", 2, true, false, false, &m), HB_READ_MORE);
    assert_int_equal(hb_reader_feed(&r, "\xc3", 1, false, true, false, &m), HB_READ_MESSAGE);
    hb_inbox_msg_free(m);
    /* binary is not checked */
    assert_int_equal(hb_reader_feed(&r, "\xff", 1, true, false, true, &m), HB_READ_MORE);
    assert_int_equal(hb_reader_feed(&r, "\xfe", 1, false, true, true, &m), HB_READ_MESSAGE);
    hb_inbox_msg_free(m);
    /* exactly the limit across pieces, then one over */
    assert_int_equal(hb_reader_feed(&r, "01234", 5, true, false, true, &m), HB_READ_MORE);
    assert_int_equal(hb_reader_feed(&r, "56789", 5, false, true, true, &m), HB_READ_MESSAGE);
    assert_int_equal(m->len, 10);
    hb_inbox_msg_free(m);
    assert_int_equal(hb_reader_feed(&r, "01234", 5, true, false, true, &m), HB_READ_MORE);
    assert_int_equal(hb_reader_feed(&r, "56789A", 6, false, true, true, &m), HB_READ_TOO_LARGE);
    /* a new first piece drops a partial message */
    assert_int_equal(hb_reader_feed(&r, "zz", 2, true, false, true, &m), HB_READ_MORE);
    assert_int_equal(hb_reader_feed(&r, "ok", 2, true, true, false, &m), HB_READ_MESSAGE);
    assert_int_equal(m->len, 2);
    hb_inbox_msg_free(m);
    hb_reader_feed(&r, "zz", 2, true, false, true, &m);
    hb_reader_reset(&r); /* connection gone: no leak */
}

/* A frame lws cuts into pieces: sized once from the announced length. */
static void test_expect_sizes_once(void **state)
{
    enum { TOTAL = 300000, PIECE = 4096 };
    hb_reader r;
    hb_reader_init(&r, s_plugin, 1u << 20);
    unsigned char *buf = malloc(TOTAL);
    for (size_t i = 0; i < TOTAL; i++) buf[i] = (unsigned char)i;
    hb_inbox_msg *m;
    hb_reader_expect(&r, TOTAL - PIECE);
    assert_int_equal(hb_reader_feed(&r, buf, PIECE, true, false, true, &m), HB_READ_MORE);
    assert_int_equal(r.cap, TOTAL);
    hb_inbox_msg *first = r.msg;
    size_t off = PIECE;
    while (off < TOTAL) {
        size_t n = TOTAL - off < PIECE ? TOTAL - off : PIECE;
        hb_read_result rr = hb_reader_feed(&r, buf + off, n, false, off + n == TOTAL, true, &m);
        off += n;
        if (off < TOTAL) {
            assert_int_equal(rr, HB_READ_MORE);
            assert_ptr_equal(r.msg, first); /* never moved: no regrowth */
        } else {
            assert_int_equal(rr, HB_READ_MESSAGE);
        }
    }
    assert_ptr_equal(m, first);
    assert_int_equal(m->len, TOTAL);
    assert_memory_equal(m->data, buf, TOTAL);
    hb_inbox_msg_free(m);

    /* Without a hint (several frames) it grows by doubling, and a large
     * unused tail is given back when the message ends. */
    assert_int_equal(hb_reader_feed(&r, buf, PIECE, true, false, true, &m), HB_READ_MORE);
    for (off = PIECE; off + PIECE < 140000; off += PIECE)
        assert_int_equal(hb_reader_feed(&r, buf + off, PIECE, false, false, true, &m),
                         HB_READ_MORE);
    assert_int_equal(hb_reader_feed(&r, buf + off, PIECE, false, true, true, &m), HB_READ_MESSAGE);
    size_t len = off + PIECE;
    assert_int_equal(m->len, len);
    assert_memory_equal(m->data, buf, len);
    size_t usable = malloc_usable_size(m);
    assert_true(usable < sizeof(*m) + 64 + len + 256); /* not the doubled 262144 */
    hb_inbox_msg_free(m);

    /* A small message in several frames started in a 4 KiB buffer: it is
     * trimmed too, since a sink may hold it (ZeroMQ zero-copy). */
    assert_int_equal(hb_reader_feed(&r, buf, 40, true, false, false, &m), HB_READ_MORE);
    assert_int_equal(hb_reader_feed(&r, buf + 40, 40, false, false, false, &m), HB_READ_MORE);
    assert_int_equal(hb_reader_feed(&r, buf + 80, 20, false, true, false, &m), HB_READ_MESSAGE);
    assert_int_equal(m->len, 100);
    assert_memory_equal(m->data, buf, 100);
    assert_true(malloc_usable_size(m) < sizeof(*m) + 64 + 100 + 64);
    hb_inbox_msg_free(m);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_piece),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_expect_sizes_once),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
