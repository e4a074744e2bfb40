/*
 * test_bridge_metrics.c: the Prometheus text of /metrics (SPEC.md section
 * 8): every family with a total and a per-peer series, label escaping, no
 * per-peer unknown_peer/bad_request, honeybee_peers 0/1 per state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridge/bridge.h"

/* The whole line `line` (up to the newline) is in `text`. */
static bool s_has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == 0)) return true;
    return false;
}

static void test_render(void **state)
{
    hb_pool_stats st;
    memset(&st, 0, sizeof(st));
    st.peers[HB_STATE_CONNECTED] = 1;
    st.peers[HB_STATE_WAITING] = 1;
    st.n_peers = 2;
    st.totals.messages_received = 10;
    st.totals.messages_sent = 3;
    st.totals.bytes_received = 1000;
    st.totals.bytes_sent = 30;
    st.totals.reconnects = 2;
    st.totals.send_failed[HB_SF_UNKNOWN_PEER] = 5;
    st.totals.send_failed[HB_SF_BAD_REQUEST] = 6;
    st.totals.send_failed[HB_SF_QUEUE_FULL] = 1;

    hb_peer_info p[2];
    memset(p, 0, sizeof(p));
    strcpy(p[0].id, "a");
    p[0].state = HB_STATE_CONNECTED;
    p[0].counters.messages_received = 10;
    p[0].counters.send_failed[HB_SF_QUEUE_FULL] = 1;
    strcpy(p[1].id, "we\"ird\\id\nx");
    p[1].state = HB_STATE_WAITING;
    p[1].counters.reconnects = 2;

    hb__bridge_counters bc = {.events_dropped = 4};
    char *t = hb__metrics_render(&st, p, 2, &bc);
    assert_non_null(t);

    assert_true(s_has_line(t, "# TYPE honeybee_peers gauge"));
    assert_true(s_has_line(t, "honeybee_peers{state=\"connected\"} 1"));
    assert_true(s_has_line(t, "honeybee_peers{state=\"connecting\"} 0"));
    assert_true(s_has_line(t, "honeybee_peers{state=\"waiting\"} 1"));
    assert_true(s_has_line(t, "honeybee_peers{state=\"closed\"} 0"));
    assert_true(s_has_line(t, "honeybee_peers{peer=\"a\",state=\"connected\"} 1"));
    assert_true(s_has_line(t, "honeybee_peers{peer=\"a\",state=\"waiting\"} 0"));
    assert_true(s_has_line(t, "honeybee_peers{peer=\"we\\\"ird\\\\id\\nx\",state=\"waiting\"} 1"));

    assert_true(s_has_line(t, "# TYPE honeybee_messages_received_total counter"));
    assert_true(s_has_line(t, "honeybee_messages_received_total 10"));
    assert_true(s_has_line(t, "honeybee_messages_received_total{peer=\"a\"} 10"));
    assert_true(s_has_line(t, "honeybee_messages_sent_total 3"));
    assert_true(s_has_line(t, "honeybee_bytes_received_total 1000"));
    assert_true(s_has_line(t, "honeybee_bytes_sent_total 30"));
    assert_true(s_has_line(t, "honeybee_bytes_sent_total{peer=\"a\"} 0"));
    assert_true(s_has_line(t, "honeybee_reconnects_total 2"));
    assert_true(s_has_line(t, "honeybee_reconnects_total{peer=\"we\\\"ird\\\\id\\nx\"} 2"));

    assert_true(s_has_line(t, "honeybee_send_failed_total{reason=\"unknown_peer\"} 5"));
    assert_true(s_has_line(t, "honeybee_send_failed_total{reason=\"bad_request\"} 6"));
    assert_true(s_has_line(t, "honeybee_send_failed_total{reason=\"queue_full\"} 1"));
    assert_true(s_has_line(t, "honeybee_send_failed_total{reason=\"not_connected\"} 0"));
    assert_true(s_has_line(t, "honeybee_send_failed_total{reason=\"too_large\"} 0"));
    assert_true(s_has_line(t, "honeybee_send_failed_total{peer=\"a\",reason=\"queue_full\"} 1"));
    assert_true(s_has_line(t, "honeybee_send_failed_total{peer=\"a\",reason=\"not_connected\"} 0"));
    assert_null(strstr(t, "peer=\"a\",reason=\"unknown_peer\""));
    assert_null(strstr(t, "peer=\"a\",reason=\"bad_request\""));
    assert_true(s_has_line(t, "honeybee_events_dropped_total 4"));
    /* bridge.shard unresolved (0/0) reads as 0/1 */
    assert_true(s_has_line(t, "honeybee_shard_info{shard=\"0\",shards=\"1\"} 1"));

    /* Every non-comment line is "name{labels} value" or "name value". */
    size_t lines = 0;
    for (char *line = t; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl); /* every line ends with a newline */
        if (*line != '#') {
            assert_true(strncmp(line, "honeybee_", 9) == 0);
            char *sp = nl;
            while (sp > line && sp[-1] != ' ') sp--;
            assert_true(sp > line);
            lines++;
        }
        line = nl + 1;
    }
    /* 4 + 8 peers, 5 families x 3, 5 + 6 send_failed, 3 bridge, the control
     * requests and one errors series per code but ok, 4 x 3 handshake
     * failures, the shard and 4 disconnects (no ZAP denials: bridge.curve
     * is off) */
    assert_int_equal(lines, 12 + 15 + 11 + 3 + 1 + (HB_E__COUNT - 1) + 12 + 1 + 4);
    assert_true(s_has_line(t, "honeybee_control_errors_total{error=\"wrong_shard\"} 0"));
    free(t);
}

static void test_no_peers(void **state)
{
    hb_pool_stats st;
    memset(&st, 0, sizeof(st));
    char *t = hb__metrics_render(&st, NULL, 0, NULL);
    assert_non_null(t);
    assert_true(s_has_line(t, "honeybee_messages_sent_total 0"));
    assert_null(strstr(t, "peer=\""));
    assert_null(strstr(t, "events_dropped"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_no_peers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
