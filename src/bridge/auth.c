/*
 * auth.c: the ZAP handler of the bridge's context and the CURVE setup of
 * its sockets (see auth.h for why not zauth).
 *
 * A request (RFC 27) is: version "1.0", request id, domain, address,
 * routing id, mechanism, then the mechanism's credentials (CURVE: the
 * client's 32-byte public key). The answer: version, request id, status
 * code ("200" or "400"), status text, user id (the client key in Z85 when
 * admitted) and empty metadata. Order of the checks: deny, allow, then the
 * mechanism: with CURVE on only CURVE passes, and its key must be in the
 * store of the socket's domain; without CURVE (address rules only) NULL
 * passes. Frames are read and written with czmq's zmsg on our raw socket.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <czmq.h>

#include "bridge/auth.h"
#include "core/netrule.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_MAX_RULES    1024

struct hb__auth_stores {
    zcertstore_t *store[HB__AUTH__DOMAINS]; /* NULL without CURVE */
    hb__cidr *allow, *deny;
    size_t n_allow, n_deny;
};

struct hb__auth {
    bool curve;
    uint8_t public_key[32], secret_key[32];
    void *sock;              /* the ZAP handler (REP); bridge thread */
    hb__auth_stores *stores; /* bridge thread */
    pthread_mutex_t mu;      /* guards `next` */
    hb__auth_stores *next;   /* handed over by a reload */
    _Atomic uint64_t denied[HB__AUTH__DOMAINS][HB__AUTH__DENIALS];
};

static const char *const s_domains[HB__AUTH__DOMAINS] = {HB__AUTH_DOMAIN_READERS,
                                                         HB__AUTH_DOMAIN_WRITERS};
static const char *const s_denials[HB__AUTH__DENIALS] = {"address", "key", "mechanism"};

const char *hb__auth_denial_name(hb__auth_denial d)
{
    return (unsigned)d < HB__AUTH__DENIALS ? s_denials[d] : "?";
}

const char *hb__auth_domain_name(hb__auth_domain d)
{
    return (unsigned)d < HB__AUTH__DOMAINS ? s_domains[d] : "?";
}

/* ---- address rules: any thread ------------------------------------------- */

static int s_rules_load(char **const texts, size_t n, hb__cidr **out, const char *key, char *err,
                        size_t cap)
{
    *out = NULL;
    if (!n) return 0;
    if (n > S_MAX_RULES) {
        snprintf(err, cap, "bridge.curve.%s: at most %d addresses", key, S_MAX_RULES);
        return HB_E_CONFIG;
    }
    hb__cidr *v = calloc(n, sizeof(*v));
    if (!v) return HB_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (!hb__cidr_parse(texts[i], &v[i])) {
            snprintf(err, cap,
                     "bridge.curve.%s: item %zu \"%.64s\" is not an IP address or network "
                     "(192.0.2.7, 10.0.0.0/8, fd00::/8)",
                     key, i, texts[i]);
            free(v);
            return HB_E_CONFIG;
        }
    *out = v;
    return 0;
}

/* ---- files: main thread --------------------------------------------------- */

static bool s_key_is_zero(const uint8_t k[32])
{
    for (int i = 0; i < 32; i++)
        if (k[i]) return false;
    return true;
}

/* Does `path` look like a czmq certificate (a ZPL text with a curve
 * section and a public key)? czmq's loader leaks on a file that is not one
 * (czmq 4.2.1), so it is only given files that pass this. */
static bool s_looks_like_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, "curve") && strstr(buf, "public-key");
}

/* The server certificate: a czmq certificate with its secret key. */
static int s_server_cert(const char *path, uint8_t pub[32], uint8_t sec[32], char *err, size_t cap)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, cap, "bridge.curve.server_cert: cannot read %s: %s", path,
                 errno ? strerror(errno) : "not a regular file");
        return HB_E_CONFIG;
    }
    zcert_t *c = s_looks_like_cert(path) ? zcert_load(path) : NULL;
    if (!c) {
        snprintf(err, cap,
                 "bridge.curve.server_cert: %s is not a czmq certificate (make one with "
                 "honeybee-cli keygen)",
                 path);
        return HB_E_CONFIG;
    }
    int rc = 0;
    if (s_key_is_zero(zcert_secret_key(c))) {
        snprintf(err, cap,
                 "bridge.curve.server_cert: %s holds no secret key (give the _secret file)", path);
        rc = HB_E_CONFIG;
    } else {
        memcpy(pub, zcert_public_key(c), 32);
        memcpy(sec, zcert_secret_key(c), 32);
    }
    zcert_destroy(&c);
    return rc;
}

static int s_dir(const char *path, const char *key, char *err, size_t cap)
{
    struct stat st;
    if (!path || !*path) {
        snprintf(err, cap,
                 "bridge.curve.%s: required with server_cert (a directory of client "
                 "certificates)",
                 key);
        return HB_E_CONFIG;
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, cap, "bridge.curve.%s: %s is not a directory: %s", key, path,
                 errno ? strerror(errno) : "not a directory");
        return HB_E_CONFIG;
    }
    DIR *d = opendir(path);
    if (!d) {
        snprintf(err, cap, "bridge.curve.%s: cannot read %s: %s", key, path, strerror(errno));
        return HB_E_CONFIG;
    }
    closedir(d);
    return 0;
}

static bool s_wanted(const hb_curve_cfg *cfg)
{
    return (cfg->server_cert && *cfg->server_cert) || cfg->n_allow || cfg->n_deny;
}

hb__auth_stores *hb__auth_stores_new(const hb_curve_cfg *cfg, char *err, size_t cap)
{
    hb__auth_stores *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    if (s_rules_load(cfg->allow, cfg->n_allow, &s->allow, "allow", err, cap) ||
        s_rules_load(cfg->deny, cfg->n_deny, &s->deny, "deny", err, cap))
        goto fail;
    s->n_allow = cfg->n_allow;
    s->n_deny = cfg->n_deny;
    if (cfg->server_cert && *cfg->server_cert) {
        const char *dirs[HB__AUTH__DOMAINS] = {cfg->readers, cfg->writers};
        for (int i = 0; i < HB__AUTH__DOMAINS; i++) {
            if (s_dir(dirs[i], s_domains[i], err, cap)) goto fail;
            s->store[i] = zcertstore_new(dirs[i]);
            if (!s->store[i]) {
                snprintf(err, cap, "bridge.curve.%s: cannot load %s", s_domains[i], dirs[i]);
                goto fail;
            }
        }
    }
    return s;
fail:
    hb__auth_stores_destroy(&s);
    return NULL;
}

void hb__auth_stores_destroy(hb__auth_stores **sp)
{
    hb__auth_stores *s = *sp;
    if (!s) return;
    for (int i = 0; i < HB__AUTH__DOMAINS; i++) zcertstore_destroy(&s->store[i]);
    free(s->allow);
    free(s->deny);
    free(s);
    *sp = NULL;
}

int hb__auth_check(const hb_curve_cfg *cfg, char *err, size_t cap)
{
    if (!s_wanted(cfg)) return 0;
    uint8_t pub[32], sec[32];
    if (cfg->server_cert && *cfg->server_cert &&
        s_server_cert(cfg->server_cert, pub, sec, err, cap))
        return HB_E_CONFIG;
    memset(sec, 0, sizeof(sec));
    hb__auth_stores *s = hb__auth_stores_new(cfg, err, cap);
    if (!s) return HB_E_CONFIG;
    hb__auth_stores_destroy(&s);
    return 0;
}

int hb__auth_new(const hb_curve_cfg *cfg, hb__auth **out, char *err, size_t cap)
{
    *out = NULL;
    if (!s_wanted(cfg)) return 0;
    hb__auth *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, cap, "out of memory");
        return HB_E_NOMEM;
    }
    pthread_mutex_init(&a->mu, NULL);
    if (cfg->server_cert && *cfg->server_cert) {
        if (s_server_cert(cfg->server_cert, a->public_key, a->secret_key, err, cap)) {
            hb__auth_destroy(&a);
            return HB_E_CONFIG;
        }
        a->curve = true;
    }
    a->stores = hb__auth_stores_new(cfg, err, cap);
    if (!a->stores) {
        hb__auth_destroy(&a);
        return HB_E_CONFIG;
    }
    *out = a;
    return 0;
}

void hb__auth_destroy(hb__auth **ap)
{
    hb__auth *a = *ap;
    if (!a) return;
    hb__auth_stores_destroy(&a->stores);
    hb__auth_stores_destroy(&a->next);
    memset(a->secret_key, 0, sizeof(a->secret_key));
    pthread_mutex_destroy(&a->mu);
    free(a);
    *ap = NULL;
}

bool hb__auth_curve(const hb__auth *a)
{
    return a && a->curve;
}

/* ---- the handler: bridge thread ------------------------------------------- */

int hb__auth_start(hb__auth *a, void *zctx)
{
    a->sock = zmq_socket(zctx, ZMQ_REP);
    if (!a->sock) return -1;
    int linger = 0;
    zmq_setsockopt(a->sock, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_bind(a->sock, S_ZAP_ENDPOINT) != 0) {
        int e = errno;
        zmq_close(a->sock);
        a->sock = NULL;
        errno = e;
        return -1;
    }
    return 0;
}

void *hb__auth_socket(const hb__auth *a)
{
    return a ? a->sock : NULL;
}

int hb__auth_secure(const hb__auth *a, void *sock, hb__auth_domain domain)
{
    const char *dom = s_domains[domain];
    if (zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, dom, strlen(dom)) != 0) return -1;
    if (!a->curve) return 0;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, a->secret_key, 32) != 0)
        return -1;
    /* Half-done handshakes are reaped (a raw TCP client that says nothing). */
    int ivl = 10000;
    zmq_setsockopt(sock, ZMQ_HANDSHAKE_IVL, &ivl, sizeof(ivl));
    return 0;
}

void hb__auth_swap_stores(hb__auth *a, hb__auth_stores **s)
{
    pthread_mutex_lock(&a->mu);
    hb__auth_stores *old = a->next;
    a->next = *s;
    *s = NULL;
    pthread_mutex_unlock(&a->mu);
    hb__auth_stores_destroy(&old);
}

void hb__auth_apply(hb__auth *a)
{
    pthread_mutex_lock(&a->mu);
    hb__auth_stores *s = a->next;
    a->next = NULL;
    pthread_mutex_unlock(&a->mu);
    if (!s) return;
    hb__auth_stores_destroy(&a->stores);
    a->stores = s;
}

/* The decision for one request: 0 admitted, else the denial + 1. */
static int s_decide(hb__auth *a, hb__auth_domain dom, const char *address, const char *mech,
                    zframe_t *cred, char key_txt[41])
{
    const hb__auth_stores *s = a->stores;
    int family;
    unsigned char addr[16];
    if (hb__ip_parse(address, &family, addr)) {
        for (size_t i = 0; i < s->n_deny; i++)
            if (hb__cidr_match(&s->deny[i], family, addr)) return 1 + HB__AUTH_DENY_ADDRESS;
        if (s->n_allow) {
            bool in = false;
            for (size_t i = 0; i < s->n_allow && !in; i++)
                in = hb__cidr_match(&s->allow[i], family, addr);
            if (!in) return 1 + HB__AUTH_DENY_ADDRESS;
        }
    } else if (s->n_allow) {
        return 1 + HB__AUTH_DENY_ADDRESS; /* not an IP address: not in the list */
    }
    if (!a->curve) return strcmp(mech, "NULL") ? 1 + HB__AUTH_DENY_MECHANISM : 0;
    if (strcmp(mech, "CURVE") || !cred || zframe_size(cred) != 32)
        return 1 + HB__AUTH_DENY_MECHANISM;
    zmq_z85_encode(key_txt, zframe_data(cred), 32);
    if (!s->store[dom] || !zcertstore_lookup(s->store[dom], key_txt)) return 1 + HB__AUTH_DENY_KEY;
    return 0;
}

void hb__auth_serve(hb__auth *a)
{
    hb__auth_apply(a);
    zmsg_t *req = zmsg_recv(a->sock);
    if (!req) return;
    char *version = zmsg_popstr(req), *id = zmsg_popstr(req), *domain = zmsg_popstr(req);
    char *address = zmsg_popstr(req), *routing = zmsg_popstr(req), *mech = zmsg_popstr(req);
    zframe_t *cred = zmsg_pop(req);
    char key_txt[41] = "";
    const char *code = "400", *text = "denied";
    hb__auth_domain dom = HB__AUTH_READERS;
    int verdict = 1 + HB__AUTH_DENY_MECHANISM;
    if (version && !strcmp(version, "1.0") && domain && address && mech) {
        if (!strcmp(domain, HB__AUTH_DOMAIN_WRITERS)) dom = HB__AUTH_WRITERS;
        if (!strcmp(domain, HB__AUTH_DOMAIN_READERS) || !strcmp(domain, HB__AUTH_DOMAIN_WRITERS))
            verdict = s_decide(a, dom, address, mech, cred, key_txt);
    }
    if (verdict == 0) {
        code = "200";
        text = "OK";
    } else {
        atomic_fetch_add_explicit(&a->denied[dom][verdict - 1], 1, memory_order_relaxed);
    }
    /* A reply always goes out (REP), even to a malformed request. */
    zmsg_t *rep = zmsg_new();
    if (rep) {
        zmsg_addstr(rep, "1.0");
        zmsg_addstr(rep, id ? id : "");
        zmsg_addstr(rep, code);
        zmsg_addstr(rep, text);
        zmsg_addstr(rep, verdict == 0 ? key_txt : "");
        zmsg_addmem(rep, "", 0);
        if (zmsg_send(&rep, a->sock) != 0) zmsg_destroy(&rep);
    }
    zframe_destroy(&cred);
    free(version);
    free(id);
    free(domain);
    free(address);
    free(routing);
    free(mech);
    zmsg_destroy(&req);
}

void hb__auth_stop(hb__auth *a)
{
    if (a && a->sock) {
        zmq_close(a->sock);
        a->sock = NULL;
    }
}

void hb__auth_denied(const hb__auth *a, uint64_t out[HB__AUTH__DOMAINS][HB__AUTH__DENIALS])
{
    for (int d = 0; d < HB__AUTH__DOMAINS; d++)
        for (int r = 0; r < HB__AUTH__DENIALS; r++)
            out[d][r] =
                a ? atomic_load_explicit(&((hb__auth *)a)->denied[d][r], memory_order_relaxed) : 0;
}
