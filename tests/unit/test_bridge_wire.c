/*
 * test_bridge_wire.c: the bridge's wire formats, byte for byte: the inbox
 * metadata frame, the event JSON, control request parsing, error replies,
 * base64 and the JSON of list/stats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridge/bridge.h"

static void test_meta_layout(void **state)
{
    uint8_t m[HB__META_LEN];
    hb__meta_encode(m, HB_MSG_F_BINARY, 0x01020304u, 0x1112131415161718ull, 0x2122232425262728ull);
    const uint8_t want[HB__META_LEN] = {1,    1,    0,    0,    1,    2,    3,    4,
                                        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                                        0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28};
    assert_memory_equal(m, want, HB__META_LEN);
    hb__meta_encode(m, 0, 1, 1, 0);
    assert_int_equal(m[0], 1);
    assert_int_equal(m[1], 0);
    assert_int_equal(m[7], 1);
    assert_int_equal(m[15], 1);
    for (int i = 16; i < 24; i++) assert_int_equal(m[i], 0);
    /* Extremes do not spill. */
    hb__meta_encode(m, 0xff, UINT32_MAX, UINT64_MAX, UINT64_MAX);
    assert_int_equal(m[2], 0);
    assert_int_equal(m[3], 0);
    for (int i = 4; i < 24; i++) assert_int_equal(m[i], 0xff);
}

static json_t *s_parse(const char *txt)
{
    json_error_t e;
    json_t *o = json_loads(txt, 0, &e);
    assert_non_null(o);
    return o;
}

static void test_event_json_fields(void **state)
{
    hb_event *e =
        hb_event_new(HB_EV_DISCONNECTED, "relay-a", "ws://127.0.0.1:1/", "keepalive", "bye");
    assert_non_null(e);
    e->at_ns = 1700000000123456789ull;
    e->code = 1001;
    e->conn = 3;
    char *txt = hb__event_json(e);
    assert_non_null(txt);
    json_t *o = s_parse(txt);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "disconnected");
    assert_string_equal(json_string_value(json_object_get(o, "id")), "relay-a");
    assert_string_equal(json_string_value(json_object_get(o, "at")),
                        "2023-11-14T22:13:20.123456789Z");
    assert_string_equal(json_string_value(json_object_get(o, "url")), "ws://127.0.0.1:1/");
    assert_int_equal(json_integer_value(json_object_get(o, "code")), 1001);
    assert_int_equal(json_integer_value(json_object_get(o, "conn")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "keepalive");
    assert_string_equal(json_string_value(json_object_get(o, "error")), "bye");
    assert_null(json_object_get(o, "attempt")); /* not set: absent */
    json_decref(o);
    free(txt);
    hb_event_free(e);
}

static void test_event_json_minimal(void **state)
{
    hb_event *e = hb_event_new(HB_EV_SEND_FAILED, "", NULL, "bad_request", NULL);
    assert_non_null(e);
    e->at_ns = 0;
    char *txt = hb__event_json(e);
    json_t *o = s_parse(txt);
    assert_int_equal(json_object_size(o), 4); /* kind, id, at, reason */
    assert_string_equal(json_string_value(json_object_get(o, "id")), "");
    assert_string_equal(json_string_value(json_object_get(o, "at")),
                        "1970-01-01T00:00:00.000000000Z");
    json_decref(o);
    free(txt);
    hb_event_free(e);

    e = hb_event_new(HB_EV_DIAL_FAILED, "p", "ws://h/", NULL, "refused \xff");
    e->attempt = 2;
    txt = hb__event_json(e);
    assert_non_null(txt); /* invalid UTF-8 in outside text does not lose the event */
    o = s_parse(txt);
    assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 2);
    /* The valid part of the text is kept; the bad byte becomes U+FFFD. */
    assert_string_equal(json_string_value(json_object_get(o, "error")), "refused \xEF\xBF\xBD");
    json_decref(o);
    free(txt);
    hb_event_free(e);
}

static int s_parse_err(const char *txt)
{
    hb__ctl_req rq;
    char msg[256];
    int rc = hb__ctl_parse(txt, strlen(txt), &rq, msg, sizeof(msg));
    if (rc == 0)
        hb__ctl_req_free(&rq);
    else
        assert_true(strlen(msg) > 0);
    return rc;
}

static void test_ctl_parse_errors(void **state)
{
    assert_int_equal(s_parse_err(""), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("[1,2]"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("\"ping\""), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("42"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{}"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":7}"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":\"dance\"}"), HB_E_UNKNOWN_OP);
    assert_int_equal(s_parse_err("{\"op\":\"pingx\"}"), HB_E_UNKNOWN_OP);
    assert_int_equal(s_parse_err("{\"op\":\"ping\",\"op\":\"list\"}"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":\"connect\",\"url\":\"ws://h/\"}"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":\"connect\",\"id\":\"a\"}"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":\"connect\",\"id\":\"a*b\",\"url\":\"ws://h/\"}"),
                     HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":\"connect\",\"id\":\"\",\"url\":\"ws://h/\"}"),
                     HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":\"connect\",\"id\":\"a\\u0000b\",\"url\":\"ws://h/\"}"),
                     HB_E_BAD_REQUEST);
    /* A URL that C would cut at U+0000 is not the URL the client sent:
     * invalid_url, before the pool is asked (so no pool is needed here). */
    {
        const char *t = "{\"op\":\"connect\",\"id\":\"a\",\"url\":\"ws://h/\\u0000x\"}";
        hb_config *cfg = NULL;
        assert_int_equal(hb_config_defaults(&cfg), 0);
        int res = -1;
        char *reply = hb__ctl_handle(NULL, &cfg->pool, NULL, (hb__shard){0, 1}, false, t, strlen(t),
                                     NULL, &res, NULL);
        assert_non_null(reply);
        assert_non_null(strstr(reply, "\"error\":\"invalid_url\""));
        assert_int_equal(res, HB_E_INVALID_URL); /* what the bridge counts */
        free(reply);
        hb_config_destroy(&cfg);
    }
    /* bridge.shard: another shard's peer is refused before anything else
     * (its options are not even read), naming the owner; "relay-1" is
     * shard 0 of 3 (tests/support/shard_vectors.json). */
    {
        const char *t = "{\"op\":\"connect\",\"id\":\"relay-1\",\"url\":\"ws://h/\","
                        "\"options\":{\"nope\":1}}";
        hb_config *cfg = NULL;
        assert_int_equal(hb_config_defaults(&cfg), 0);
        int res = -1;
        char *reply = hb__ctl_handle(NULL, &cfg->pool, NULL, (hb__shard){1, 3}, false, t, strlen(t),
                                     NULL, &res, NULL);
        assert_non_null(reply);
        assert_int_equal(res, HB_E_WRONG_SHARD);
        assert_string_equal(reply, "{\"ok\":false,\"error\":\"wrong_shard\",\"message\":\"peer "
                                   "\\\"relay-1\\\" belongs to shard 0/3; this is shard 1/3\","
                                   "\"shard\":0,\"shards\":3}");
        free(reply);
        /* an invalid id is bad_request at any shard */
        t = "{\"op\":\"connect\",\"id\":\"relay*1\",\"url\":\"ws://h/\"}";
        reply = hb__ctl_handle(NULL, &cfg->pool, NULL, (hb__shard){1, 3}, false, t, strlen(t), NULL,
                               &res, NULL);
        assert_non_null(strstr(reply, "\"error\":\"bad_request\""));
        assert_int_equal(res, HB_E_BAD_REQUEST);
        /* a ping answers ok with result 0 */
        t = "{\"op\":\"ping\"}";
        free(reply);
        reply = hb__ctl_handle(NULL, &cfg->pool, NULL, (hb__shard){1, 3}, false, t, strlen(t), NULL,
                               &res, NULL);
        assert_string_equal(reply, "{\"ok\":true}");
        assert_int_equal(res, 0);
        free(reply);
        hb_config_destroy(&cfg);
    }
    assert_int_equal(
        s_parse_err("{\"op\":\"connect\",\"id\":\"a\",\"url\":\"ws://h/\",\"options\":[]}"),
        HB_E_INVALID_OPTION);
    assert_int_equal(s_parse_err("{\"op\":\"remove\"}"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":\"remove\",\"id\":1}"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":\"send\",\"id\":\"a\"}"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":\"send\",\"id\":\"a\",\"data\":5}"), HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":\"send\",\"id\":\"a\",\"data\":\"x\",\"binary\":1}"),
                     HB_E_BAD_REQUEST);
    assert_int_equal(s_parse_err("{\"op\":\"stats\",\"id\":false}"), HB_E_BAD_REQUEST);
    char big[300];
    memset(big, 'a', sizeof(big));
    memcpy(big, "{\"op\":\"connect\",\"url\":\"ws://h/\",\"id\":\"", 38);
    strcpy(big + 200, "\"}");
    assert_int_equal(s_parse_err(big), HB_E_BAD_REQUEST); /* 162-byte id */
}

/* {"op":"ping","x":[ITEM,ITEM,...]} with n items; caller frees. */
static char *s_ping_array(size_t n, const char *item)
{
    size_t il = strlen(item);
    char *t = malloc(32 + n * (il + 1));
    assert_non_null(t);
    char *p = t + sprintf(t, "{\"op\":\"ping\",\"x\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) *p++ = ',';
        memcpy(p, item, il);
        p += il;
    }
    strcpy(p, "]}");
    return t;
}

/* A request of many small values is refused before jansson builds it
 * (HB__CTL_MAX_MARKS); strings, however long and whatever they hold, add
 * no marks. */
static void test_ctl_value_budget(void **state)
{
    (void)state;
    hb__ctl_req rq;
    char msg[256];
    /* {"op": ,"x": [ = 5 marks, then '{' and ',' per item: 4000 items are
     * 8004 marks, 4100 are 8204 */
    char *t = s_ping_array(4000, "{}");
    assert_int_equal(hb__ctl_parse(t, strlen(t), &rq, msg, sizeof(msg)), 0);
    hb__ctl_req_free(&rq);
    free(t);
    t = s_ping_array(4100, "{}");
    assert_int_equal(hb__ctl_parse(t, strlen(t), &rq, msg, sizeof(msg)), HB_E_BAD_REQUEST);
    assert_non_null(strstr(msg, "too complex: more than 8192"));
    assert_true(rq.op_known == false && rq.root == NULL);
    free(t);
    /* marks inside strings, escaped quotes and escaped backslashes do not count */
    t = s_ping_array(8000, "\"[{,:}]\\\"[,\\\\\"");
    assert_int_equal(hb__ctl_parse(t, strlen(t), &rq, msg, sizeof(msg)), 0);
    hb__ctl_req_free(&rq);
    free(t);
    /* ... but what follows an escaped backslash before the quote does */
    t = s_ping_array(8200, "\"\\\\\"");
    assert_int_equal(hb__ctl_parse(t, strlen(t), &rq, msg, sizeof(msg)), HB_E_BAD_REQUEST);
    free(t);
    /* a send's op is kept when a later field is wrong: the bridge counts it
     * as a refused send */
    const char *s = "{\"op\":\"send\",\"id\":\"a\"}";
    assert_int_equal(hb__ctl_parse(s, strlen(s), &rq, msg, sizeof(msg)), HB_E_BAD_REQUEST);
    assert_true(rq.op_known && rq.op == HB__OP_SEND && rq.root == NULL);
}

static void test_ctl_parse_ok(void **state)
{
    hb__ctl_req rq;
    char msg[256];
    const char *t = "{\"op\":\"connect\",\"id\":\"r1\",\"url\":\"ws://h/\","
                    "\"options\":{\"send_queue\":5},\"extra\":true}";
    assert_int_equal(hb__ctl_parse(t, strlen(t), &rq, msg, sizeof(msg)), 0);
    assert_int_equal(rq.op, HB__OP_CONNECT);
    assert_string_equal(rq.id, "r1");
    assert_string_equal(rq.url, "ws://h/");
    assert_string_equal(rq.options, "{\"send_queue\":5}");
    hb__ctl_req_free(&rq);

    t = "{\"op\":\"send\",\"id\":\"r1\",\"data\":\"a\\u0000b\",\"binary\":false}";
    assert_int_equal(hb__ctl_parse(t, strlen(t), &rq, msg, sizeof(msg)), 0);
    assert_int_equal(rq.op, HB__OP_SEND);
    assert_int_equal(rq.data_len, 3);
    assert_memory_equal(rq.data, "a\0b", 3);
    assert_false(rq.binary);
    hb__ctl_req_free(&rq);

    t = "{\"op\":\"send\",\"id\":\"r1\",\"data\":\"AAE=\",\"binary\":true}";
    assert_int_equal(hb__ctl_parse(t, strlen(t), &rq, msg, sizeof(msg)), 0);
    assert_true(rq.binary);
    hb__ctl_req_free(&rq);

    const char *simple[] = {"{\"op\":\"list\"}", "{\"op\":\"ping\"}", "{\"op\":\"stats\"}",
                            "{\"op\":\"remove\",\"id\":\"x\"}"};
    hb__ctl_op ops[] = {HB__OP_LIST, HB__OP_PING, HB__OP_STATS, HB__OP_REMOVE};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(hb__ctl_parse(simple[i], strlen(simple[i]), &rq, msg, sizeof(msg)), 0);
        assert_int_equal(rq.op, ops[i]);
        hb__ctl_req_free(&rq);
    }
    t = "{\"op\":\"stats\",\"id\":\"p\"}";
    assert_int_equal(hb__ctl_parse(t, strlen(t), &rq, msg, sizeof(msg)), 0);
    assert_string_equal(rq.id, "p");
    hb__ctl_req_free(&rq);
}

static void test_error_reply(void **state)
{
    char *t = hb__ctl_error_reply(HB_E_QUEUE_FULL, NULL);
    json_t *o = s_parse(t);
    assert_true(json_is_false(json_object_get(o, "ok")));
    assert_string_equal(json_string_value(json_object_get(o, "error")), "queue_full");
    assert_true(strlen(json_string_value(json_object_get(o, "message"))) > 0);
    json_decref(o);
    free(t);
    const int codes[] = {HB_E_BAD_REQUEST,   HB_E_UNKNOWN_OP,  HB_E_PEER_EXISTS,
                         HB_E_UNKNOWN_PEER,  HB_E_INVALID_URL, HB_E_INVALID_OPTION,
                         HB_E_NOT_CONNECTED, HB_E_QUEUE_FULL,  HB_E_TOO_LARGE,
                         HB_E_SHUTTING_DOWN};
    const char *names[] = {"bad_request", "unknown_op",     "peer_exists",   "unknown_peer",
                           "invalid_url", "invalid_option", "not_connected", "queue_full",
                           "too_large",   "shutting_down"};
    for (int i = 0; i < 10; i++) {
        t = hb__ctl_error_reply(codes[i], "words");
        o = s_parse(t);
        assert_string_equal(json_string_value(json_object_get(o, "error")), names[i]);
        assert_string_equal(json_string_value(json_object_get(o, "message")), "words");
        json_decref(o);
        free(t);
    }
}

static void s_b64(const char *in, const char *want, size_t want_len)
{
    unsigned char *out = NULL;
    size_t n = 99;
    assert_int_equal(hb__base64_decode(in, strlen(in), &out, &n), 0);
    assert_int_equal(n, want_len);
    if (want_len) assert_memory_equal(out, want, want_len);
    free(out);
}

static void test_base64(void **state)
{
    s_b64("", "", 0);
    s_b64("Zg==", "f", 1);
    s_b64("Zg", "f", 1);
    s_b64("Zm8=", "fo", 2);
    s_b64("Zm8", "fo", 2);
    s_b64("Zm9v", "foo", 3);
    s_b64("Zm9vYmFy", "foobar", 6);
    s_b64("AAD/", "\0\0\xff", 3);
    const char *bad[] = {"Z",     "Zg=",    "Zg===", "Z===",     "Zm9v!",
                         "Zm 9v", "Zm9v\n", "=Zm9",  "Zg==Zg==", "Zm9vY"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char *out = (unsigned char *)"x";
        size_t n = 0;
        assert_int_equal(hb__base64_decode(bad[i], strlen(bad[i]), &out, &n), HB_E_BAD_REQUEST);
        assert_null(out);
    }
}

static void test_list_stats_json(void **state)
{
    hb_peer_info p;
    memset(&p, 0, sizeof(p));
    strcpy(p.id, "a");
    p.url = "ws://h/";
    p.state = HB_STATE_WAITING;
    p.attempt = 3;
    json_t *o = hb__peer_info_json(&p);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "waiting");
    assert_true(json_is_null(json_object_get(o, "connected_at")));
    assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "url")), "ws://h/");
    json_decref(o);
    p.connected_at_ns = 1000000000ull;
    o = hb__peer_info_json(&p);
    assert_string_equal(json_string_value(json_object_get(o, "connected_at")),
                        "1970-01-01T00:00:01.000000000Z");
    json_decref(o);

    hb_pool_stats st;
    memset(&st, 0, sizeof(st));
    st.peers[HB_STATE_CONNECTED] = 2;
    st.totals.messages_received = 7;
    st.totals.send_failed[HB_SF_UNKNOWN_PEER] = 4;
    o = hb__stats_json(&st);
    assert_true(json_is_true(json_object_get(o, "ok")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "peers"), "connected")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(o, "messages_received_total")), 7);
    json_t *sf = json_object_get(o, "send_failed_total");
    assert_int_equal(json_object_size(sf), 5);
    assert_int_equal(json_integer_value(json_object_get(sf, "unknown_peer")), 4);
    json_decref(o);

    p.counters.bytes_sent = 11;
    o = hb__peer_stats_json(&p);
    assert_int_equal(json_integer_value(json_object_get(o, "bytes_sent_total")), 11);
    sf = json_object_get(o, "send_failed_total");
    assert_int_equal(json_object_size(sf), 3);
    assert_null(json_object_get(sf, "unknown_peer"));
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_layout),        cmocka_unit_test(test_event_json_fields),
        cmocka_unit_test(test_event_json_minimal), cmocka_unit_test(test_ctl_parse_errors),
        cmocka_unit_test(test_ctl_parse_ok),       cmocka_unit_test(test_ctl_value_budget),
        cmocka_unit_test(test_error_reply),        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_list_stats_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
