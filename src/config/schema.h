/*
 * schema.h: the configuration schema, one table (schema.c), and the internal
 * pieces built on it. Private to libhoneybee (tests reach it through the
 * static library).
 *
 * Each row is one key: the section it lives in, its path inside the
 * section, its type and where in the struct it goes, its default written the
 * way a user writes it (parsed by the same code as the file, so defaults can
 * never disagree with the parser), its bounds, flags (required, needs a
 * restart...), an extra check, its unit, the environment variable that
 * overrides it and its documentation. Parsing (YAML and the JSON of a
 * control `connect`), defaults, validation, copy, comparison, the reload's
 * restart check, the example config and docs/config.md are all loops over
 * this table. Each value type has its own small interface (types.c), each
 * extra check is a function (checks.c).
 */
#ifndef HB_CONFIG_SCHEMA_H
#define HB_CONFIG_SCHEMA_H

#include "honeybee/config.h"

#include <stdio.h>

typedef enum hb__cfg_section {
    HB__S_BRIDGE = 0,   /* hb_bridge_cfg: the `bridge` section */
    HB__S_POOL = 1,     /* hb_peer_opts: `pool`, and any peer, key by key */
    HB__S_PEER = 2,     /* hb_peer_cfg: keys only a peer has */
    HB__S_LOG = 3,      /* hb_log_cfg: the `log` section */
    HB__S_POOLWIDE = 4, /* hb_pool_wide_cfg: keys of `pool` no peer overrides */
    HB__S__COUNT
} hb__cfg_section;

typedef enum hb__cfg_type {
    HB__T_STRING,   /* char *, always allocated; "" stays "" */
    HB__T_OPTSTR,   /* char *, NULL when empty */
    HB__T_BOOL,     /* bool */
    HB__T_DURATION, /* uint64_t, ns */
    HB__T_SIZE,     /* uint64_t, bytes */
    HB__T_U32,      /* uint32_t */
    HB__T_INT,      /* int */
    HB__T_DOUBLE,   /* double */
    HB__T_ENUM,     /* an int-sized enum; names in `choices`, index = value */
    HB__T_HEADERS,  /* hb_header * with a size_t count at count_off */
    HB__T_STRLIST,  /* char ** with a size_t count at count_off */
    HB__T_AUTO_U32, /* uint32_t; "auto" is 0, a number must be within the row's bounds */
    HB__T__COUNT
} hb__cfg_type;

enum {
    HB__F_MIN = 1u << 0,      /* min applies */
    HB__F_MIN_EXCL = 1u << 1, /* value must be > min, not >= */
    HB__F_MAX = 1u << 2,      /* max applies */
    HB__F_REQUIRED = 1u << 3, /* no default: a peer must give it */
    HB__F_IDENTITY = 1u << 4, /* id, url: not allowed in connect `options` */
    HB__F_RESTART = 1u << 5,  /* read only at start-up: a reload cannot apply a change */
};

typedef struct hb__cfg_key hb__cfg_key;
typedef struct hb__errs hb__errs;
typedef struct hb__node hb__node;

/* A row's extra check on the value held in `base` (checks.c): records an
 * error naming `key` at `line` and returns false when it fails. */
typedef bool (*hb__cfg_checker)(const hb__cfg_key *k, const void *base, const char *file, int line,
                                const char *key, hb__errs *errs);

bool hb__cfg_check_endpoint(const hb__cfg_key *k, const void *base, const char *file, int line,
                            const char *key, hb__errs *errs); /* "transport://address" */
bool hb__cfg_check_http(const hb__cfg_key *k, const void *base, const char *file, int line,
                        const char *key, hb__errs *errs); /* "" or "host:port" */
bool hb__cfg_check_peer_id(const hb__cfg_key *k, const void *base, const char *file, int line,
                           const char *key, hb__errs *errs); /* hb_peer_id_valid */
bool hb__cfg_check_url(const hb__cfg_key *k, const void *base, const char *file, int line,
                       const char *key, hb__errs *errs); /* ws:// or wss:// with a host */
bool hb__cfg_check_headers(const hb__cfg_key *k, const void *base, const char *file, int line,
                           const char *key, hb__errs *errs); /* token names, clean values */
bool hb__cfg_check_tokens(const hb__cfg_key *k, const void *base, const char *file, int line,
                          const char *key, hb__errs *errs); /* each item an HTTP token */
bool hb__cfg_check_utf8(const hb__cfg_key *k, const void *base, const char *file, int line,
                        const char *key, hb__errs *errs); /* text, or each item */
bool hb__cfg_check_networks(const hb__cfg_key *k, const void *base, const char *file, int line,
                            const char *key, hb__errs *errs); /* each item an IP or a CIDR */
bool hb__cfg_check_allow(const hb__cfg_key *k, const void *base, const char *file, int line,
                         const char *key, hb__errs *errs); /* each item a pool.allow rule */
bool hb__cfg_check_pem(const hb__cfg_key *k, const void *base, const char *file, int line,
                       const char *key, hb__errs *errs); /* "" or a readable PEM file */
bool hb__cfg_check_file(const hb__cfg_key *k, const void *base, const char *file, int line,
                        const char *key, hb__errs *errs); /* "" or a readable regular file */
bool hb__cfg_check_shard(const hb__cfg_key *k, const void *base, const char *file, int line,
                         const char *key, hb__errs *errs); /* "I/N" or "auto/N" */
bool hb__cfg_check_dir(const hb__cfg_key *k, const void *base, const char *file, int line,
                       const char *key, hb__errs *errs); /* "" or a readable directory */

struct hb__cfg_key {
    hb__cfg_section section;
    const char *path; /* inside the section, "reconnect.jitter" */
    hb__cfg_type type;
    size_t off;       /* offset of the field in the section's struct */
    size_t count_off; /* HEADERS, STRLIST: offset of the count */
    const char *def;  /* default as a user writes it; NULL: none */
    double min, max;  /* bounds, in ns or bytes for durations and sizes */
    unsigned flags;
    const char *const *choices; /* ENUM: NULL-terminated names */
    hb__cfg_checker check;      /* NULL: type and bounds only */
    const char *unit;           /* for the docs: "duration", "size", "messages", ... */
    const char *env;            /* environment variable that overrides it, or NULL */
    const char *doc;            /* one or two sentences for a person */
};

/* pool.loops auto for a process that may use `cpus` CPUs (hb_config_loops). */
uint32_t hb__cfg_loops_auto(long cpus);

/* The CPUs a cgroup CPU quota allows, rounded up: `max` is cgroup v2's
 * cpu.max ("QUOTA PERIOD" or "max PERIOD"); with `max` NULL, v1's
 * cfs_quota_us and cfs_period_us as text. 0: no quota, or unreadable. */
long hb__cfg_cpu_quota(const char *max, const char *quota_us, const char *period_us);

extern const hb__cfg_key hb__cfg_keys[];
extern const size_t hb__cfg_nkeys;

/*
 * A value type's interface (types.c). `set` parses a node into the row's
 * field of `base`, replacing (and freeing) what was there; on failure it
 * records an error naming `key` and leaves the field as it was. Numbers
 * have `number` (the value for the row's bounds) and, for 64-bit values
 * past 2^53, `above` (exact "> max"). `bound_text` and `yaml` write a bound
 * and a default the way a user writes them. Types that own memory have
 * `free` (leaves the field empty) and `copy` (after a struct copy, makes
 * dst's field its own copy of src's; false on out of memory, dst's field
 * then freeable); `counted` types keep a size_t count at count_off.
 */
typedef struct hb__cfg_type_ops {
    const char *name;
    bool (*set)(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                const char *key, hb__errs *errs);
    double repr_min, repr_max; /* what the field's C type can hold */
    double (*number)(const void *field);
    bool (*above)(const void *field, double max);
    void (*bound_text)(double v, char *out, size_t cap);
    void (*yaml)(const char *def, char *out, size_t cap);
    void (*free)(const hb__cfg_key *k, void *base);
    bool (*copy)(const hb__cfg_key *k, void *dst, const void *src);
    bool (*equal)(const hb__cfg_key *k, const void *a, const void *b);
    bool counted;
} hb__cfg_type_ops;

extern const hb__cfg_type_ops hb__cfg_types[HB__T__COUNT];
/* Top-level name of a section ("bridge", "pool", "peers", "log"; the
 * pool-wide keys are in "pool" too). */
const char *hb__cfg_section_name(hb__cfg_section s);
/* sizeof the struct a section's fields live in. */
size_t hb__cfg_section_size(hb__cfg_section s);

/* ---- collected errors ----------------------------------------------------- */

/* Problems found so far, kept sorted by line when rendered; capped so that a
 * hostile input cannot make the message list huge. */
struct hb__errs {
    struct hb__err_item {
        int line;
        char *text;
    } * items;
    size_t n, cap;
    size_t dropped;
    bool oom;
};

/* Adds "FILE:LINE: KEY: message" (FILE: KEY: when line <= 0; KEY: when no
 * file). */
void hb__errs_add(hb__errs *e, const char *file, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* One problem per line, sorted by line (stable). Caller frees. Frees e. */
char *hb__errs_take(hb__errs *e);
void hb__errs_free(hb__errs *e);
/* A value quoted for a message into buf: printable, at most ~40 characters. */
const char *hb__cfg_quote(const char *s, size_t len, char *buf, size_t cap);

/* ---- the parse tree (YAML or JSON) ------------------------------------------ */

typedef enum hb__node_kind { HB__N_SCALAR, HB__N_MAP, HB__N_SEQ } hb__node_kind;

/* A loaded document: scalars keep their text, whether they were plain (not
 * quoted: YAML numbers, booleans and null are plain), and their line. A map
 * holds keys and values alternately in kids. */
struct hb__node {
    hb__node_kind kind;
    int line; /* 1-based; 0 when unknown (JSON) */
    bool plain;
    char *text;
    size_t len;
    struct hb__node **kids;
    size_t n, cap;
};

void hb__node_free(hb__node *n);

/* ---- internal API shared by the config sources ------------------------------ */

/* Where each key's value came from: 0 not set here, > 0 its line, -1 set
 * without a line (JSON, environment), HB__LINE_FAILED given but rejected
 * (already reported). Indexed like hb__cfg_keys. */
#define HB__LINE_FAILED (-2)
typedef struct hb__cfg_lines {
    int *line;
} hb__cfg_lines;

/* Pointer to the field of row k in the struct of its section. */
void *hb__cfg_field(const hb__cfg_key *k, void *base);

/* Sets row k in `base` from the value node. On failure records an error
 * (naming `key`) and returns false. */
bool hb__cfg_set(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                 const char *key, hb__errs *errs);

/* Checks bounds and the row's check on the value held in `base`. */
bool hb__cfg_check_value(const hb__cfg_key *k, const void *base, const char *file, int line,
                         const char *key, hb__errs *errs);

/* Records the row's range as the error ("must be between 0 and 1"); with
 * `repr`, the field's C type's limits stand in where the row has none. */
void hb__cfg_range_error(const hb__cfg_key *k, bool repr, const char *file, int line,
                         const char *key, hb__errs *errs);

/* True when row k holds the same value in `a` and `b` (structs of its section). */
bool hb__cfg_key_equal(const hb__cfg_key *k, const void *a, const void *b);

/* Fills a struct of `section` with its defaults (strings allocated). */
int hb__cfg_section_defaults(hb__cfg_section section, void *base);
/* Frees the strings of a section struct (not the struct). */
void hb__cfg_section_free(hb__cfg_section section, void *base);
/* Deep copy of a section struct; dst is overwritten (not freed first). */
int hb__cfg_section_copy(hb__cfg_section section, void *dst, const void *src);
bool hb__cfg_section_equal(hb__cfg_section section, const void *a, const void *b);

/* Whole-config validation (ranges, checks, peer ids, URLs, duplicates).
 * `lines` may be NULL (a config built in code). Appends to errs; returns
 * true when nothing was wrong. */
bool hb__config_validate(const hb_config *cfg, const char *file, const hb__cfg_lines *top,
                         const hb__cfg_lines *peers, hb__errs *errs);

/* The cross-key rules of the endpoints: no two of the four sockets and the
 * HTTP address on one endpoint (also after the environment overrides). */
bool hb__config_check_endpoints(const hb_config *cfg, const char *file, const hb__cfg_lines *top,
                                hb__errs *errs);

/* Validates one peer: its own keys (and, with check_all, every pool key).
 * `key` prefixes messages ("peers[2]" or "options"). */
bool hb__peer_validate(const hb_peer_cfg *p, const char *file, const char *key,
                       const hb__cfg_lines *lines, bool check_all, hb__errs *errs);

/* Sample value of a peer-only key for the example config, or NULL. */
const char *hb__cfg_sample(const char *path);

/* Writes docs/config.md's generated key reference (a Markdown table per
 * section) to f. */
void hb__config_write_doc(FILE *f);

/* The struct a top-level section's keys live in (bridge, pool, log), or
 * NULL for peer-only keys, which have no single home. */
void *hb__cfg_section_base(hb_config *cfg, int section);

#endif
