/*
 * hbt_only.h: run only the tests named in $HBT_ONLY (comma-separated test
 * function names; all of them when it is unset or empty). The valgrind
 * entries of tests/CMakeLists.txt use it to run, under memcheck, only the
 * tests whose connections close, within the suite's time budget.
 */
#ifndef HBT_ONLY_H
#define HBT_ONLY_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static inline int hbt__listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* Instead of cmocka_run_group_tests(tests, NULL, NULL). */
static inline int hbt_run_only(const char *group, const struct CMUnitTest *tests, size_t n)
{
    const char *only = getenv("HBT_ONLY");
    if (!only || !*only) return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    struct CMUnitTest *sel = calloc(n ? n : 1, sizeof *sel);
    if (!sel) return 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (hbt__listed(only, tests[i].name)) sel[k++] = tests[i];
    int rc =
        k ? _cmocka_run_group_tests(group, sel, k, NULL, NULL) : 1; /* a typo runs nothing: fail */
    free(sel);
    return rc;
}

#define HBT_RUN(tests) hbt_run_only(#tests, tests, sizeof(tests) / sizeof((tests)[0]))

#endif
