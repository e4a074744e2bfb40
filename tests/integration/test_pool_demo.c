/*
 * test_pool_demo.c: builds nothing itself; runs examples/c/pool_demo.c (as
 * built by CMake, example_pool_demo) against ws_server.py and checks that
 * it prints the N messages it was sent and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "hbt.h"

static void test_demo_prints_messages(void **state)
{
    const char *bin = getenv("HB_BINARY_DIR");
    if (!bin) bin = ".";
    hbt_server *srv = hbt_server_start(NULL);
    assert_non_null(srv);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/example_pool_demo ws://127.0.0.1:%d/demo 3", bin,
             hbt_server_port(srv));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_true(hbt_server_wait(srv, "OPEN 1 ", 10000, NULL, 0));
    hbt_server_cmd(srv, "send text one");
    hbt_server_cmd(srv, "send text two");
    hbt_server_cmd(srv, "send binary 414243");
    char out[8192] = {0};
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = 0;
    int st = pclose(p);
    print_message("%s", out);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(out, "event added demo"));
    assert_non_null(strstr(out, "event connected demo"));
    assert_non_null(strstr(out, "message demo seq=1 conn=1 text one"));
    assert_non_null(strstr(out, "message demo seq=2 conn=1 text two"));
    assert_non_null(strstr(out, "message demo seq=3 conn=1 binary ABC"));
    assert_non_null(strstr(out, "event removed demo reason=shutdown"));
    assert_true(hbt_server_wait(srv, "CLOSED 1 1001", 5000, NULL, 0));
    hbt_server_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_demo_prints_messages, hbt_reap)};
    return HBT_RUN(tests);
}
