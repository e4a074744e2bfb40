/*
 * test_core_log.c: the logging front and the stderr sink (src/core/log.c).
 * The level is checked before the arguments are even evaluated; long
 * records survive whole; the text line has the documented shape with control
 * characters escaped; the JSON line parses and carries ts, level, peer and
 * msg (invalid UTF-8 replaced); records written from several threads at once
 * never interleave (one write(2) each). stderr is redirected to a temporary
 * file for the sink tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "honeybee/common.h"

typedef struct capture {
    int calls;
    hb_log_level level;
    char peer[64];
    char *msg;
} capture;

static void capture_fn(void *ud, hb_log_level level, const char *peer, const char *msg)
{
    capture *c = ud;
    c->calls++;
    c->level = level;
    snprintf(c->peer, sizeof c->peer, "%s", peer ? peer : "(null)");
    free(c->msg);
    c->msg = strdup(msg);
}

static int s_evaluated;
static int side_effect(void)
{
    return ++s_evaluated;
}

static void test_levels(void **state)
{
    (void)state;
    assert_string_equal(hb_log_level_name(HB_LOG_ERROR), "error");
    assert_string_equal(hb_log_level_name(HB_LOG_WARN), "warn");
    assert_string_equal(hb_log_level_name(HB_LOG_INFO), "info");
    assert_string_equal(hb_log_level_name(HB_LOG_DEBUG), "debug");
    assert_string_equal(hb_log_level_name((hb_log_level)42), "unknown");

    capture c = {0};
    hb_logger lg = {.fn = capture_fn, .ud = &c, .level = HB_LOG_INFO};
    s_evaluated = 0;
    HB_LOG(&lg, HB_LOG_DEBUG, "p", "x=%d", side_effect());
    assert_int_equal(c.calls, 0);
    assert_int_equal(s_evaluated, 0); /* not even formatted */
    HB_LOG(&lg, HB_LOG_INFO, "p", "x=%d", side_effect());
    assert_int_equal(c.calls, 1);
    assert_int_equal(s_evaluated, 1);
    assert_string_equal(c.msg, "x=1");
    assert_string_equal(c.peer, "p");
    HB_LOG(&lg, HB_LOG_ERROR, NULL, "boom %s", "now");
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.level, HB_LOG_ERROR);
    assert_string_equal(c.peer, "(null)");
    /* hb_log_emit checks the level too, for direct callers. */
    hb_log_emit(&lg, HB_LOG_DEBUG, NULL, "hidden");
    assert_int_equal(c.calls, 2);
    /* A NULL logger or sink is silent. */
    HB_LOG((const hb_logger *)NULL, HB_LOG_ERROR, NULL, "nothing");
    hb_logger silent = {.fn = NULL, .level = HB_LOG_DEBUG};
    hb_log_emit(&silent, HB_LOG_ERROR, NULL, "nothing");
    free(c.msg);
}

static void test_long_record(void **state)
{
    (void)state;
    capture c = {0};
    hb_logger lg = {.fn = capture_fn, .ud = &c, .level = HB_LOG_DEBUG};
    char *big = malloc(10001);
    memset(big, 'x', 10000);
    big[10000] = '\0';
    hb_log_emit(&lg, HB_LOG_INFO, NULL, "[%s]", big);
    assert_int_equal(strlen(c.msg), 10002);
    assert_int_equal(c.msg[10001], ']');
    free(big);
    free(c.msg);
}

/* Runs fn with stderr redirected to a temporary file; returns its content. */
static char *with_stderr(void (*fn)(void *), void *arg)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn(arg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t n = lseek(fileno(tmp), 0, SEEK_END);
    assert_true(n >= 0);
    char *buf = calloc(1, (size_t)n + 1);
    lseek(fileno(tmp), 0, SEEK_SET);
    assert_int_equal(read(fileno(tmp), buf, (size_t)n), (ssize_t)n);
    fclose(tmp);
    return buf;
}

static void emit_text(void *arg)
{
    hb_log_stderr_opts *o = arg;
    hb_logger lg = {.fn = hb_log_stderr, .ud = o, .level = HB_LOG_DEBUG};
    HB_LOG(&lg, HB_LOG_INFO, "relay-a", "connected to %s", "wss://x/");
    HB_LOG(&lg, HB_LOG_WARN, NULL, "line\nbreak\ttab\x01 nel\xc2\x85 ls\xe2\x80\xa8 \xc3\xa9");
    HB_LOG(&lg, HB_LOG_DEBUG, "p\xff", "bad \xc3 utf8");
}

static void test_stderr_text(void **state)
{
    (void)state;
    hb_log_stderr_opts o = {.json = false};
    char *out = with_stderr(emit_text, &o);
    char *l1 = out, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    /* "2026-11-28T09:17:08.123456789Z INFO [peer=relay-a] message" */
    assert_true(strlen(l1) > 31);
    assert_true(l1[4] == '-' && l1[10] == 'T' && l1[19] == '.' && l1[29] == 'Z' && l1[30] == ' ');
    assert_memory_equal(l1 + 31, "INFO [peer=relay-a] connected to wss://x/\n", 42);
    /* NEL and U+2028 too: some readers break lines there; é stays */
    const char *want2 = "WARN line\\nbreak\\ttab\\x01 nel\\u0085 ls\\u2028 \xc3\xa9\n";
    assert_memory_equal(l2 + 31, want2, strlen(want2));
    assert_memory_equal(l3 + 31, "DEBUG [peer=p\xff] bad \xc3 utf8\n", 26);
    assert_string_equal(strchr(l3, '\n'), "\n"); /* exactly three lines */
    free(out);
}

static void test_stderr_json(void **state)
{
    (void)state;
    hb_log_stderr_opts o = {.json = true};
    char *out = with_stderr(emit_text, &o);
    char *line = out;
    const char *levels[] = {"info", "warn", "debug"};
    const char *peers[] = {"relay-a", NULL, "p\xef\xbf\xbd"};
    /* JSON escapes the ASCII controls; NEL and U+2028 are plain characters
     * of a JSON string, and no JSON reader splits a record there */
    const char *msgs[] = {"connected to wss://x/",
                          "line\nbreak\ttab\x01 nel\xc2\x85 ls\xe2\x80\xa8 \xc3\xa9",
                          "bad \xef\xbf\xbd utf8"};
    for (int i = 0; i < 3; i++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        if (!j) fail_msg("not JSON: %s (%s)", line, err.text);
        const char *ts = json_string_value(json_object_get(j, "ts"));
        assert_non_null(ts);
        assert_int_equal(strlen(ts), 30);
        assert_string_equal(json_string_value(json_object_get(j, "level")), levels[i]);
        if (peers[i])
            assert_string_equal(json_string_value(json_object_get(j, "peer")), peers[i]);
        else
            assert_null(json_object_get(j, "peer"));
        assert_string_equal(json_string_value(json_object_get(j, "msg")), msgs[i]);
        json_decref(j);
        line = nl + 1;
    }
    assert_string_equal(line, "");
    free(out);
}

#define THREADS 4
#define RECORDS 300

static void *writer(void *arg)
{
    hb_log_stderr_opts o = {.json = false};
    hb_logger lg = {.fn = hb_log_stderr, .ud = &o, .level = HB_LOG_DEBUG};
    char pad[600];
    memset(pad, 'a' + (int)(intptr_t)arg, sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < RECORDS; i++) HB_LOG(&lg, HB_LOG_INFO, "t", "%d %s end", i, pad);
    return NULL;
}

static void run_threads(void *arg)
{
    (void)arg;
    pthread_t t[THREADS];
    for (intptr_t i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, writer, (void *)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
}

static void test_no_interleaving(void **state)
{
    (void)state;
    char *out = with_stderr(run_threads, NULL);
    int lines = 0;
    for (char *line = out, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        lines++;
        /* Each line: stamp, INFO [peer=t] N aaaa...a end, one letter only. */
        const char *pad = strchr(line + 45, ' ');
        assert_non_null(pad);
        pad++;
        for (int k = 0; k < 599; k++) assert_int_equal(pad[k], pad[0]);
        assert_string_equal(pad + 599, " end");
    }
    assert_int_equal(lines, THREADS * RECORDS);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels),          cmocka_unit_test(test_long_record),
        cmocka_unit_test(test_stderr_text),     cmocka_unit_test(test_stderr_json),
        cmocka_unit_test(test_no_interleaving),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
