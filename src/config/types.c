/*
 * types.c: one small interface per value type of the schema table (as
 * redis gives each config type one): parse a node into the field, give the
 * value as a number for the row's bounds, write a bound and a default the
 * way a user writes them, and free, copy and compare what the field owns.
 * schema.c's loops reach a row's type through hb__cfg_types[row->type].
 * Pure functions on caller-owned data; any thread.
 */
#include "config/schema.h"

#include "core/units.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- shared by the setters ----------------------------------------------------- */

static const char *s_kind_name(const hb__node *v)
{
    return v->kind == HB__N_MAP ? "a mapping" : v->kind == HB__N_SEQ ? "a list" : "a scalar";
}

static bool s_is_null(const hb__node *v)
{
    return v->kind == HB__N_SCALAR && v->plain &&
           (v->len == 0 || strcmp(v->text, "~") == 0 || strcmp(v->text, "null") == 0 ||
            strcmp(v->text, "Null") == 0 || strcmp(v->text, "NULL") == 0);
}

/* A scalar with no NUL inside: what every typed scalar must be. */
static bool s_clean_scalar(const hb__node *v)
{
    return v->kind == HB__N_SCALAR && !memchr(v->text, '\0', v->len);
}

/* A scalar that is text: quoted, or plain but not what YAML reads as a
 * number, a boolean or null. Header values and list items must be text, so
 * `{"Origin": 5}` in a control connect (a JSON number) is refused like an
 * unquoted `5` in the file, instead of turning into "5". */
static bool s_is_text(const hb__node *v)
{
    if (v->kind != HB__N_SCALAR) return false;
    if (!v->plain) return true;
    if (s_is_null(v)) return false;
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (!strcasecmp(v->text, words[i])) return false;
    char *end;
    (void)strtod(v->text, &end);
    return end == v->text || *end != '\0';
}

/* What the message shows of a value that was not accepted. */
static const char *s_shown(const hb__node *v, char *q, size_t cap)
{
    return v->kind == HB__N_SCALAR ? hb__cfg_quote(v->text, v->len, q, cap) : s_kind_name(v);
}

static char *s_scalar_dup(const hb__node *v, const char *file, const char *key, hb__errs *errs)
{
    const char *t = s_is_null(v) ? "" : v->text;
    size_t len = s_is_null(v) ? 0 : v->len;
    if (memchr(t, '\0', len)) {
        hb__errs_add(errs, file, v->line, key, "must not contain NUL characters");
        return NULL;
    }
    char *d = malloc(len + 1);
    if (!d) {
        errs->oom = true;
        return NULL;
    }
    memcpy(d, t, len);
    d[len] = '\0';
    return d;
}

static size_t *s_count(const hb__cfg_key *k, void *base)
{
    return (size_t *)((char *)base + k->count_off);
}

static size_t s_count_of(const hb__cfg_key *k, const void *base)
{
    return *(const size_t *)((const char *)base + k->count_off);
}

static const void *s_cfield(const hb__cfg_key *k, const void *base)
{
    return (const char *)base + k->off;
}

static char *s_dup(const char *s, bool *ok)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *ok = false;
    return d;
}

static bool s_str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void s_bound_number(double v, char *out, size_t cap)
{
    snprintf(out, cap, "%.15g", v);
}

static void s_yaml_plain(const char *def, char *out, size_t cap)
{
    snprintf(out, cap, "%s", def);
}

/* ---- string, optstr: char * ------------------------------------------------------ */

static bool s_set_text(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                       const char *key, hb__errs *errs, bool empty_is_null)
{
    if (v->kind != HB__N_SCALAR) {
        hb__errs_add(errs, file, v->line, key, "expected a string, got %s", s_kind_name(v));
        return false;
    }
    char *d = s_scalar_dup(v, file, key, errs);
    if (!d) return false;
    if (empty_is_null && !*d) {
        free(d);
        d = NULL;
    }
    char **f = hb__cfg_field(k, base);
    free(*f);
    *f = d;
    return true;
}

static bool s_set_string(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                         const char *key, hb__errs *errs)
{
    return s_set_text(k, base, v, file, key, errs, false);
}

static bool s_set_optstr(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                         const char *key, hb__errs *errs)
{
    return s_set_text(k, base, v, file, key, errs, true);
}

static void s_free_str(const hb__cfg_key *k, void *base)
{
    char **f = hb__cfg_field(k, base);
    free(*f);
    *f = NULL;
}

static bool s_copy_str(const hb__cfg_key *k, void *dst, const void *src)
{
    bool ok = true;
    *(char **)hb__cfg_field(k, dst) = s_dup(*(char *const *)s_cfield(k, src), &ok);
    return ok;
}

static bool s_equal_str(const hb__cfg_key *k, const void *a, const void *b)
{
    return s_str_eq(*(char *const *)s_cfield(k, a), *(char *const *)s_cfield(k, b));
}

static void s_yaml_quoted(const char *def, char *out, size_t cap)
{
    snprintf(out, cap, "\"%s\"", def);
}

/* ---- bool -------------------------------------------------------------------------- */

static bool s_set_bool(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                       const char *key, hb__errs *errs)
{
    static const char *const yes[] = {"true", "True", "TRUE"}, *const no[] = {"false", "False",
                                                                              "FALSE"};
    if (v->kind == HB__N_SCALAR && v->plain)
        for (int i = 0; i < 3; i++) {
            if (!strcmp(v->text, yes[i]) || !strcmp(v->text, no[i])) {
                *(bool *)hb__cfg_field(k, base) = !strcmp(v->text, yes[i]);
                return true;
            }
        }
    char q[128];
    hb__errs_add(errs, file, v->line, key, "expected true or false, got %s",
                 s_shown(v, q, sizeof q));
    return false;
}

static bool s_equal_bool(const hb__cfg_key *k, const void *a, const void *b)
{
    return *(const bool *)s_cfield(k, a) == *(const bool *)s_cfield(k, b);
}

/* ---- duration, size: uint64_t (ns, bytes) ------------------------------------------ */

static bool s_set_duration(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                           const char *key, hb__errs *errs)
{
    if (s_clean_scalar(v) && hb__parse_duration(v->text, hb__cfg_field(k, base))) return true;
    char q[128];
    hb__errs_add(errs, file, v->line, key,
                 "invalid duration %s: use a number and a unit ms, s, m or h (250ms, "
                 "1.5s, 5m); only 0 may omit the unit",
                 s_shown(v, q, sizeof q));
    return false;
}

static bool s_set_size(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                       const char *key, hb__errs *errs)
{
    if (s_clean_scalar(v) && hb__parse_size(v->text, hb__cfg_field(k, base))) return true;
    char q[128];
    hb__errs_add(errs, file, v->line, key,
                 "invalid size %s: use an integer and a unit B, KiB, MiB or GiB (100B, "
                 "512KiB, 16MiB)",
                 s_shown(v, q, sizeof q));
    return false;
}

static double s_number_u64(const void *f)
{
    return (double)*(const uint64_t *)f;
}

/* Values above 2^53 lose precision as doubles: compare exactly. */
static bool s_above_u64(const void *f, double max)
{
    return *(const uint64_t *)f > (uint64_t)max;
}

static bool s_equal_u64(const hb__cfg_key *k, const void *a, const void *b)
{
    return *(const uint64_t *)s_cfield(k, a) == *(const uint64_t *)s_cfield(k, b);
}

static void s_bound_duration(double v, char *out, size_t cap)
{
    hb__format_duration((uint64_t)v, out, cap);
}

static void s_bound_size(double v, char *out, size_t cap)
{
    hb__format_size((uint64_t)v, out, cap);
}

/* ---- u32, int ------------------------------------------------------------------------ */

static bool s_parse_int(const char *s, long long *out)
{
    const char *p = s;
    if (*p == '-') p++;
    if (*p < '0' || *p > '9') return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end) return false;
    if (errno == ERANGE) v = (*s == '-') ? LLONG_MIN : LLONG_MAX; /* reported out of range */
    *out = v;
    return true;
}

/* Both integer types: the value must be a plain integer that fits the
 * field's C type (the row's own bounds are checked later). */
static bool s_set_integer(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                          const char *key, hb__errs *errs)
{
    long long n;
    if (!s_clean_scalar(v) || !v->plain || !s_parse_int(v->text, &n)) {
        char q[128];
        hb__errs_add(errs, file, v->line, key, "expected an integer, got %s",
                     v->kind == HB__N_SCALAR && !v->plain ? "a quoted string"
                                                          : s_shown(v, q, sizeof q));
        return false;
    }
    const hb__cfg_type_ops *t = &hb__cfg_types[k->type];
    if ((double)n < t->repr_min || (double)n > t->repr_max) {
        hb__cfg_range_error(k, true, file, v->line, key, errs);
        return false;
    }
    if (k->type == HB__T_U32)
        *(uint32_t *)hb__cfg_field(k, base) = (uint32_t)n;
    else
        *(int *)hb__cfg_field(k, base) = (int)n;
    return true;
}

static double s_number_u32(const void *f)
{
    return (double)*(const uint32_t *)f;
}

static bool s_equal_u32(const hb__cfg_key *k, const void *a, const void *b)
{
    return *(const uint32_t *)s_cfield(k, a) == *(const uint32_t *)s_cfield(k, b);
}

static double s_number_int(const void *f)
{
    return (double)*(const int *)f;
}

/* int, and enums (stored as int). */
static bool s_equal_int(const hb__cfg_key *k, const void *a, const void *b)
{
    return *(const int *)s_cfield(k, a) == *(const int *)s_cfield(k, b);
}

/* ---- auto_u32: "auto" (stored as 0) or an integer within the row's bounds ------------- */

static bool s_set_auto_u32(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                           const char *key, hb__errs *errs)
{
    if (s_clean_scalar(v) && !strcmp(v->text, "auto")) {
        *(uint32_t *)hb__cfg_field(k, base) = 0;
        return true;
    }
    long long n;
    if (!s_clean_scalar(v) || !v->plain || !s_parse_int(v->text, &n)) {
        char q[128];
        hb__errs_add(errs, file, v->line, key, "expected auto or an integer, got %s",
                     s_shown(v, q, sizeof q));
        return false;
    }
    /* The bounds are checked here: 0 is how auto is stored, not a value. */
    if (((k->flags & HB__F_MIN) && (double)n < k->min) ||
        ((k->flags & HB__F_MAX) && (double)n > k->max) || n < 1 || n > UINT32_MAX) {
        hb__cfg_range_error(k, false, file, v->line, key, errs);
        return false;
    }
    *(uint32_t *)hb__cfg_field(k, base) = (uint32_t)n;
    return true;
}

/* ---- double -------------------------------------------------------------------------- */

static bool s_parse_double(const char *s, double *out)
{
    if (!*s) return false;
    for (const char *q = s; *q; q++)
        if (!strchr("0123456789.eE+-", *q)) return false; /* no hex, inf, nan */
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool s_set_double(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                         const char *key, hb__errs *errs)
{
    if (s_clean_scalar(v) && v->plain && s_parse_double(v->text, hb__cfg_field(k, base)))
        return true;
    char q[128];
    hb__errs_add(errs, file, v->line, key, "expected a number, got %s",
                 v->kind == HB__N_SCALAR && !v->plain ? "a quoted string"
                                                      : s_shown(v, q, sizeof q));
    return false;
}

static double s_number_double(const void *f)
{
    return *(const double *)f;
}

static bool s_equal_double(const hb__cfg_key *k, const void *a, const void *b)
{
    return *(const double *)s_cfield(k, a) == *(const double *)s_cfield(k, b);
}

/* ---- enum: an int, the index of its name in the row's choices ----------------------- */

static bool s_set_enum(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                       const char *key, hb__errs *errs)
{
    if (s_clean_scalar(v))
        for (int i = 0; k->choices[i]; i++)
            if (strcmp(v->text, k->choices[i]) == 0) {
                *(int *)hb__cfg_field(k, base) = i;
                return true;
            }
    char list[128] = "", q[128];
    for (int i = 0; k->choices[i]; i++) {
        if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, k->choices[i], sizeof list - strlen(list) - 1);
    }
    hb__errs_add(errs, file, v->line, key, "must be one of %s, got %s", list,
                 s_shown(v, q, sizeof q));
    return false;
}

/* ---- headers: hb_header * and a count ------------------------------------------------ */

static void s_free_header_array(hb_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

static void s_free_headers(const hb__cfg_key *k, void *base)
{
    hb_header **f = hb__cfg_field(k, base);
    s_free_header_array(*f, *s_count(k, base));
    *f = NULL, *s_count(k, base) = 0;
}

static bool s_set_headers(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                          const char *key, hb__errs *errs)
{
    if (s_is_null(v)) {
        s_free_headers(k, base);
        return true;
    }
    if (v->kind != HB__N_MAP) {
        hb__errs_add(errs, file, v->line, key, "expected a mapping of header: value, got %s",
                     s_kind_name(v));
        return false;
    }
    size_t n = v->n / 2;
    hb_header *h = calloc(n ? n : 1, sizeof *h);
    if (!h) {
        errs->oom = true;
        return false;
    }
    bool ok = true;
    char q[128];
    for (size_t i = 0; i < n && ok; i++) {
        const hb__node *kn = v->kids[2 * i], *vn = v->kids[2 * i + 1];
        if (kn->kind != HB__N_SCALAR || !s_is_text(vn)) {
            hb__errs_add(errs, file, vn->line, key,
                         "header values must be strings (quote numbers, booleans and null), "
                         "got %s",
                         s_shown(vn, q, sizeof q));
            ok = false;
            break;
        }
        h[i].name = s_scalar_dup(kn, file, key, errs);
        h[i].value = s_scalar_dup(vn, file, key, errs);
        if (!h[i].name || !h[i].value) ok = false;
        for (size_t j = 0; ok && j < i; j++) {
            if (strcasecmp(h[j].name, h[i].name) == 0) {
                hb__errs_add(errs, file, kn->line, key, "duplicate header %s",
                             hb__cfg_quote(kn->text, kn->len, q, sizeof q));
                ok = false;
            }
        }
    }
    if (!ok) {
        s_free_header_array(h, n);
        return false;
    }
    s_free_headers(k, base);
    *(hb_header **)hb__cfg_field(k, base) = n ? h : NULL, *s_count(k, base) = n;
    if (!n) free(h);
    return true;
}

static bool s_copy_headers(const hb__cfg_key *k, void *dst, const void *src)
{
    size_t n = s_count_of(k, src);
    const hb_header *sh = *(hb_header *const *)s_cfield(k, src);
    if (!n) return true;
    hb_header *h = calloc(n, sizeof *h);
    if (!h) return false;
    *(hb_header **)hb__cfg_field(k, dst) = h, *s_count(k, dst) = n;
    bool ok = true;
    for (size_t j = 0; j < n; j++) {
        h[j].name = s_dup(sh[j].name, &ok);
        h[j].value = s_dup(sh[j].value, &ok);
    }
    return ok;
}

static bool s_equal_headers(const hb__cfg_key *k, const void *a, const void *b)
{
    size_t n = s_count_of(k, a);
    if (n != s_count_of(k, b)) return false;
    const hb_header *ha = *(hb_header *const *)s_cfield(k, a);
    const hb_header *hb = *(hb_header *const *)s_cfield(k, b);
    for (size_t j = 0; j < n; j++)
        if (!s_str_eq(ha[j].name, hb[j].name) || !s_str_eq(ha[j].value, hb[j].value)) return false;
    return true;
}

/* ---- strlist: char ** and a count ------------------------------------------------------ */

static void s_free_list_array(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++) free(l[i]);
    free(l);
}

static void s_free_list(const hb__cfg_key *k, void *base)
{
    char ***f = hb__cfg_field(k, base);
    s_free_list_array(*f, *s_count(k, base));
    *f = NULL, *s_count(k, base) = 0;
}

/* A list's default: "" (no items) is written [], as a user writes it. */
static void s_yaml_list(const char *def, char *out, size_t cap)
{
    snprintf(out, cap, "%s", *def ? def : "[]");
}

static bool s_set_list(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                       const char *key, hb__errs *errs)
{
    if (s_is_null(v)) {
        s_free_list(k, base);
        return true;
    }
    if (v->kind != HB__N_SEQ) {
        hb__errs_add(errs, file, v->line, key, "expected a list of strings, got %s",
                     s_kind_name(v));
        return false;
    }
    char **l = calloc(v->n ? v->n : 1, sizeof *l);
    if (!l) {
        errs->oom = true;
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < v->n && ok; i++) {
        const hb__node *it = v->kids[i];
        if (!s_is_text(it)) {
            char q[128];
            if (it->kind != HB__N_SCALAR)
                hb__errs_add(errs, file, it->line, key,
                             "item %zu: expected a string, got %s (quote JSON messages)", i,
                             s_kind_name(it));
            else
                hb__errs_add(errs, file, it->line, key,
                             "item %zu: expected a string, got %s (quote numbers, booleans and "
                             "null)",
                             i, s_shown(it, q, sizeof q));
            ok = false;
            break;
        }
        l[i] = s_scalar_dup(it, file, key, errs);
        if (!l[i]) ok = false;
    }
    if (!ok) {
        s_free_list_array(l, v->n);
        return false;
    }
    s_free_list(k, base);
    *(char ***)hb__cfg_field(k, base) = v->n ? l : NULL, *s_count(k, base) = v->n;
    if (!v->n) free(l);
    return true;
}

static bool s_copy_list(const hb__cfg_key *k, void *dst, const void *src)
{
    size_t n = s_count_of(k, src);
    char *const *sl = *(char **const *)s_cfield(k, src);
    if (!n) return true;
    char **l = calloc(n, sizeof *l);
    if (!l) return false;
    *(char ***)hb__cfg_field(k, dst) = l, *s_count(k, dst) = n;
    bool ok = true;
    for (size_t j = 0; j < n; j++) l[j] = s_dup(sl[j], &ok);
    return ok;
}

static bool s_equal_list(const hb__cfg_key *k, const void *a, const void *b)
{
    size_t n = s_count_of(k, a);
    if (n != s_count_of(k, b)) return false;
    char *const *la = *(char **const *)s_cfield(k, a), *const *lb = *(char **const *)s_cfield(k, b);
    for (size_t j = 0; j < n; j++)
        if (!s_str_eq(la[j], lb[j])) return false;
    return true;
}

/* ---- the table of types -------------------------------------------------------------- */

#define U64_MAX_D 18446744073709551615.0

const hb__cfg_type_ops hb__cfg_types[HB__T__COUNT] = {
    [HB__T_STRING] = {.name = "string",
                      .set = s_set_string,
                      .repr_min = -INFINITY,
                      .repr_max = INFINITY,
                      .bound_text = s_bound_number,
                      .yaml = s_yaml_quoted,
                      .free = s_free_str,
                      .copy = s_copy_str,
                      .equal = s_equal_str},
    [HB__T_OPTSTR] = {.name = "optstr",
                      .set = s_set_optstr,
                      .repr_min = -INFINITY,
                      .repr_max = INFINITY,
                      .bound_text = s_bound_number,
                      .yaml = s_yaml_quoted,
                      .free = s_free_str,
                      .copy = s_copy_str,
                      .equal = s_equal_str},
    [HB__T_BOOL] = {.name = "bool",
                    .set = s_set_bool,
                    .repr_min = -INFINITY,
                    .repr_max = INFINITY,
                    .bound_text = s_bound_number,
                    .yaml = s_yaml_plain,
                    .equal = s_equal_bool},
    [HB__T_DURATION] = {.name = "duration",
                        .set = s_set_duration,
                        .repr_min = 0,
                        .repr_max = U64_MAX_D,
                        .number = s_number_u64,
                        .above = s_above_u64,
                        .bound_text = s_bound_duration,
                        .yaml = s_yaml_plain,
                        .equal = s_equal_u64},
    [HB__T_SIZE] = {.name = "size",
                    .set = s_set_size,
                    .repr_min = 0,
                    .repr_max = U64_MAX_D,
                    .number = s_number_u64,
                    .above = s_above_u64,
                    .bound_text = s_bound_size,
                    .yaml = s_yaml_plain,
                    .equal = s_equal_u64},
    [HB__T_U32] = {.name = "u32",
                   .set = s_set_integer,
                   .repr_min = 0,
                   .repr_max = (double)UINT32_MAX,
                   .number = s_number_u32,
                   .bound_text = s_bound_number,
                   .yaml = s_yaml_plain,
                   .equal = s_equal_u32},
    [HB__T_INT] = {.name = "int",
                   .set = s_set_integer,
                   .repr_min = (double)INT_MIN,
                   .repr_max = (double)INT_MAX,
                   .number = s_number_int,
                   .bound_text = s_bound_number,
                   .yaml = s_yaml_plain,
                   .equal = s_equal_int},
    [HB__T_DOUBLE] = {.name = "double",
                      .set = s_set_double,
                      .repr_min = -INFINITY,
                      .repr_max = INFINITY,
                      .number = s_number_double,
                      .bound_text = s_bound_number,
                      .yaml = s_yaml_plain,
                      .equal = s_equal_double},
    [HB__T_ENUM] = {.name = "enum",
                    .set = s_set_enum,
                    .repr_min = -INFINITY,
                    .repr_max = INFINITY,
                    .bound_text = s_bound_number,
                    .yaml = s_yaml_plain,
                    .equal = s_equal_int},
    [HB__T_HEADERS] = {.name = "headers",
                       .set = s_set_headers,
                       .repr_min = -INFINITY,
                       .repr_max = INFINITY,
                       .bound_text = s_bound_number,
                       .yaml = s_yaml_plain,
                       .free = s_free_headers,
                       .copy = s_copy_headers,
                       .equal = s_equal_headers,
                       .counted = true},
    [HB__T_AUTO_U32] = {.name = "auto_u32",
                        .set = s_set_auto_u32,
                        .repr_min = 0,
                        .repr_max = (double)UINT32_MAX,
                        .bound_text = s_bound_number,
                        .yaml = s_yaml_plain,
                        .equal = s_equal_u32},
    [HB__T_STRLIST] = {.name = "strlist",
                       .set = s_set_list,
                       .repr_min = -INFINITY,
                       .repr_max = INFINITY,
                       .bound_text = s_bound_number,
                       .yaml = s_yaml_list,
                       .free = s_free_list,
                       .copy = s_copy_list,
                       .equal = s_equal_list,
                       .counted = true},
};
