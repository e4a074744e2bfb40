/*
 * honeybee-cli: a command-line client of honeybee-bridge, in the spirit of
 * mosquitto_sub / mosquitto_pub. It speaks only the wire protocol of SPEC.md
 * sections 4-6 (plus a plain HTTP GET for /healthz), so it is also a worked
 * example of a consumer in C:
 *
 *   sub     SUB on the inbox: payloads to stdout, seq gaps and conn changes
 *           to stderr (they are what the metadata frame is for)
 *   events  SUB on the events socket: one line per lifecycle event
 *   send    PUSH to the send socket (or the control op `send` with
 *           --via-control, which answers with an error code)
 *   list, stats, connect, remove, ping: one REQ to the control socket, with
 *           a timeout (REQ has no retry of its own: one try, linger 0)
 *   health  GET /healthz (the Docker HEALTHCHECK: the slim image has no curl)
 *
 * Single-threaded: every ZeroMQ socket is created, used and closed on the
 * main thread. The only other context is the SIGINT/SIGTERM handler, which
 * sets a flag; blocking calls are zmq_poll with short slices so the flag is
 * seen promptly. JSON is read and written with jansson, base64 with OpenSSL.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zmq.h>

#include <czmq.h>
#include <sys/stat.h>

#include <honeybee/common.h>

/* Exit codes (also in --help). */
enum {
    EXIT_OK = 0,          /* done; for sub/events: count reached, time up or interrupted */
    EXIT_REFUSED = 1,     /* the bridge answered with an error; health: not 200 */
    EXIT_USAGE = 2,       /* bad arguments */
    EXIT_UNREACHABLE = 3, /* no answer within the timeout, or a socket error */
};

#define DEFAULT_INBOX   "tcp://127.0.0.1:5550"
#define DEFAULT_EVENTS  "tcp://127.0.0.1:5551"
#define DEFAULT_SEND    "tcp://127.0.0.1:5552"
#define DEFAULT_CONTROL "tcp://127.0.0.1:5553"
#define DEFAULT_HTTP    "127.0.0.1:8080"
#define META_SIZE       24
#define MAX_ID          128

static volatile sig_atomic_t s_interrupted;

static void s_on_signal(int sig)
{
    (void)sig;
    s_interrupted = 1;
}

static void s_die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void s_die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("honeybee-cli: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (try --help)\n", stderr);
    va_end(ap);
    exit(EXIT_USAGE);
}

static void s_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("honeybee-cli: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void s_usage(FILE *out)
{
    fputs(
        "usage: honeybee-cli COMMAND [OPTIONS] [ARGS]\n"
        "\n"
        "Commands:\n"
        "  sub [-e EP] [-p PEER] [--meta|--json] [-n N] [-t SECONDS]\n"
        "        tail the inbox; -p keeps one peer exactly (prefix subscription, frame 0\n"
        "        compared); payloads go to stdout, one per line; seq gaps (messages\n"
        "        dropped by ZeroMQ on the way here) and conn changes (the peer\n"
        "        reconnected) are reported on stderr\n"
        "  events [-e EP] [-p PEER] [-k KIND] [--json] [-n N] [-t SECONDS]\n"
        "        tail lifecycle events (added, connected, disconnected, dial_failed,\n"
        "        send_failed, removed)\n"
        "  send [-e EP] [--binary|--text] [--via-control [-e CONTROL_EP]] PEER MESSAGE\n"
        "        write MESSAGE to PEER (\"*\": every connected peer); MESSAGE \"-\" reads\n"
        "        stdin. On the PULL socket refusals arrive as send_failed events;\n"
        "        --via-control uses the control op instead and exits 1 on refusal\n"
        "  list | ping | stats [PEER] | remove ID | connect ID URL [--options JSON]\n"
        "        control requests; readable output, raw reply with --json\n"
        "  health [URL]\n"
        "        GET URL (default http://HONEYBEE_HTTP/healthz, 127.0.0.1:8080)\n"
        "  keygen NAME [-d DIR]\n"
        "        make a CURVE key pair (czmq certificates): DIR/NAME.key (public: give it\n"
        "        to the bridge, or to clients for a bridge) and DIR/NAME.key_secret\n"
        "        (secret, mode 0600: keep it); prints the public key\n"
        "  version\n"
        "\n"
        "Options:\n"
        "  -e, --endpoint EP   ZeroMQ endpoint to connect to. Defaults: inbox " DEFAULT_INBOX ",\n"
        "                      events " DEFAULT_EVENTS ", send " DEFAULT_SEND ",\n"
        "                      control " DEFAULT_CONTROL "; or $HONEYBEE_INBOX, $HONEYBEE_EVENTS,\n"
        "                      $HONEYBEE_SEND, $HONEYBEE_CONTROL (a bind address * or\n"
        "                      0.0.0.0 is read as 127.0.0.1)\n"
        "  -p, --peer PEER     only this peer\n"
        "  -k, --kind KIND     only this event kind\n"
        "  -n, --count N       exit after N messages (sub, events)\n"
        "  -t, --time SECONDS  exit after SECONDS (sub, events)\n"
        "  -T, --timeout SECS  reply/connect timeout for requests (default 5)\n"
        "  --server-key KEY    the bridge's public CURVE key (40 characters of Z85) or its\n"
        "                      certificate file; or $HONEYBEE_SERVER_KEY (bridge.curve)\n"
        "  --cert FILE         this client's certificate with its secret key (a _secret\n"
        "                      file of keygen); or $HONEYBEE_CLIENT_CERT\n"
        "  -d, --dir DIR       keygen: where to write (default .)\n"
        "  --meta              sub: prefix each payload with peer, conn, seq, time, type\n"
        "  --json              one JSON object per line (sub, events), or the raw reply\n"
        "  -h, --help          this text\n"
        "\n"
        "Exit codes: 0 success (sub/events: count reached, time up or interrupted),\n"
        "  1 the bridge refused (ok:false; health: status not 200), 2 bad arguments,\n"
        "  3 bridge unreachable or no reply within the timeout.\n",
        out);
}

/* ---- options -------------------------------------------------------------- */

typedef struct cli_opts {
    const char *endpoint;
    const char *peer;
    const char *kind;
    const char *options_json;
    long count;  /* 0: unlimited */
    double time; /* seconds, 0: unlimited */
    double timeout;
    bool meta;
    bool json;
    int binary; /* -1 let the bridge decide, 0 text, 1 binary */
    bool via_control;
    const char *server_key, *cert, *dir;
    int nargs;
    char **args;
} cli_opts;

static double s_parse_seconds(const char *s, const char *what)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0 || v > 1e7) s_die_usage("bad %s: '%s'", what, s);
    return v;
}

static void s_parse_opts(int argc, char **argv, cli_opts *o)
{
    enum {
        OPT_META = 256,
        OPT_JSON,
        OPT_BINARY,
        OPT_TEXT,
        OPT_OPTIONS,
        OPT_VIA,
        OPT_SKEY,
        OPT_CERT
    };
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"peer", required_argument, NULL, 'p'},
        {"kind", required_argument, NULL, 'k'},
        {"count", required_argument, NULL, 'n'},
        {"time", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, 'T'},
        {"meta", no_argument, NULL, OPT_META},
        {"json", no_argument, NULL, OPT_JSON},
        {"binary", no_argument, NULL, OPT_BINARY},
        {"text", no_argument, NULL, OPT_TEXT},
        {"options", required_argument, NULL, OPT_OPTIONS},
        {"via-control", no_argument, NULL, OPT_VIA},
        {"server-key", required_argument, NULL, OPT_SKEY},
        {"cert", required_argument, NULL, OPT_CERT},
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->timeout = 5;
    o->binary = -1;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "e:p:k:n:t:T:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            o->endpoint = optarg;
            break;
        case 'p':
            o->peer = optarg;
            break;
        case 'k':
            o->kind = optarg;
            break;
        case 'n': {
            char *end;
            errno = 0;
            o->count = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || o->count < 0)
                s_die_usage("bad count: '%s'", optarg);
            break;
        }
        case 't':
            o->time = s_parse_seconds(optarg, "time");
            break;
        case 'T':
            o->timeout = s_parse_seconds(optarg, "timeout");
            if (o->timeout <= 0) s_die_usage("timeout must be > 0");
            break;
        case OPT_META:
            o->meta = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_BINARY:
            o->binary = 1;
            break;
        case OPT_TEXT:
            o->binary = 0;
            break;
        case OPT_OPTIONS:
            o->options_json = optarg;
            break;
        case OPT_VIA:
            o->via_control = true;
            break;
        case OPT_SKEY:
            o->server_key = optarg;
            break;
        case OPT_CERT:
            o->cert = optarg;
            break;
        case 'd':
            o->dir = optarg;
            break;
        case 'h':
            s_usage(stdout);
            exit(EXIT_OK);
        default:
            s_die_usage("bad option");
        }
    }
    o->nargs = argc - optind;
    o->args = argv + optind;
}

/*
 * The endpoint to connect to: -e, else the bridge's own environment variable
 * (so `docker exec bridge honeybee-cli ping` finds it), else the default. A
 * bind address (tcp:// * :5553, tcp://0.0.0.0:5553) is turned into loopback.
 * Returns a malloc'd string the caller frees.
 */
static char *s_endpoint(const cli_opts *o, const char *env, const char *def)
{
    const char *ep = o->endpoint;
    if (!ep) ep = getenv(env);
    if (!ep || !*ep) ep = def;
    const char *host = strstr(ep, "://");
    if (host && (strncmp(host + 3, "*:", 2) == 0 || strncmp(host + 3, "0.0.0.0:", 8) == 0)) {
        const char *port = strchr(host + 3, ':');
        size_t n = (size_t)(host + 3 - ep) + strlen("127.0.0.1") + strlen(port) + 1;
        char *out = malloc(n);
        if (!out) abort();
        snprintf(out, n, "%.*s127.0.0.1%s", (int)(host + 3 - ep), ep, port);
        return out;
    }
    char *out = strdup(ep);
    if (!out) abort();
    return out;
}

/* ---- CURVE (bridge.curve, docs/security.md) ------------------------------- */

/* czmq's certificate loader leaks on a file that is not a certificate
 * (czmq 4.2.1): it only gets files that look like one. */
static zcert_t *s_cert_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, "curve") && strstr(buf, "public-key") ? zcert_load(path) : NULL;
}

/* The bridge's public key and this client's key pair, when the bridge runs
 * CURVE; applied to every socket by s_secure. Main thread. */
static struct {
    bool on;
    uint8_t server[32], pub[32], sec[32];
} s_curve;

/* --server-key/--cert, else $HONEYBEE_SERVER_KEY/$HONEYBEE_CLIENT_CERT.
 * Both or neither; a file that is not a czmq certificate is a usage error. */
static void s_curve_load(const cli_opts *o)
{
    const char *server = o->server_key ? o->server_key : getenv("HONEYBEE_SERVER_KEY");
    const char *cert = o->cert ? o->cert : getenv("HONEYBEE_CLIENT_CERT");
    bool hs = server && *server, hc = cert && *cert;
    if (!hs && !hc) return;
    if (!hs || !hc)
        s_die_usage("CURVE needs both --server-key and --cert (or HONEYBEE_SERVER_KEY and "
                    "HONEYBEE_CLIENT_CERT)");
    if (strlen(server) == 40 && zmq_z85_decode(s_curve.server, server)) {
        /* the key itself */
    } else {
        zcert_t *c = s_cert_load(server);
        if (!c) s_die_usage("--server-key: '%s' is neither a Z85 key nor a certificate", server);
        memcpy(s_curve.server, zcert_public_key(c), 32);
        zcert_destroy(&c);
    }
    zcert_t *c = s_cert_load(cert);
    if (!c) s_die_usage("--cert: '%s' is not a czmq certificate", cert);
    memcpy(s_curve.pub, zcert_public_key(c), 32);
    memcpy(s_curve.sec, zcert_secret_key(c), 32);
    zcert_destroy(&c);
    static const uint8_t zero[32];
    if (!memcmp(s_curve.sec, zero, 32))
        s_die_usage("--cert: '%s' has no secret key (give the _secret file)", cert);
    s_curve.on = true;
}

/* Make `sock` a CURVE client of the bridge, before it connects. */
static void s_secure(void *sock)
{
    if (!sock || !s_curve.on) return;
    zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, s_curve.server, 32);
    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, s_curve.pub, 32);
    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s_curve.sec, 32);
}

/* keygen NAME: DIR/NAME.key and DIR/NAME.key_secret (0600); never
 * overwrites. */
static int s_cmd_keygen(const cli_opts *o)
{
    if (o->nargs != 1 || !*o->args[0] || strchr(o->args[0], '/'))
        s_die_usage("keygen needs one NAME (no '/')");
    const char *dir = o->dir ? o->dir : ".";
    char pub[4096], sec[4200];
    snprintf(pub, sizeof pub, "%s/%s.key", dir, o->args[0]);
    snprintf(sec, sizeof sec, "%s_secret", pub);
    struct stat st;
    if (stat(pub, &st) == 0 || stat(sec, &st) == 0) {
        s_warn("keygen: %s or %s exists; not overwritten", pub, sec);
        return EXIT_REFUSED;
    }
    zcert_t *c = zcert_new();
    if (!c) {
        s_warn("keygen: cannot make a key pair");
        return EXIT_REFUSED;
    }
    zcert_set_meta(c, "name", "%s", o->args[0]);
    mode_t old = umask(077); /* the secret file is born private */
    const char *bad = NULL;
    if (zcert_save_secret(c, sec) != 0 || chmod(sec, 0600) != 0) bad = sec;
    umask(old);
    if (!bad && zcert_save_public(c, pub) != 0) bad = pub;
    if (bad) {
        s_warn("keygen: cannot write %s: %s", bad, strerror(errno));
        zcert_destroy(&c);
        return EXIT_REFUSED;
    }
    printf("public key %s\npublic certificate %s\nsecret certificate %s\n", zcert_public_txt(c),
           pub, sec);
    zcert_destroy(&c);
    return EXIT_OK;
}

/* ---- small helpers -------------------------------------------------------- */

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t s_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* The string member `key` of `obj`, or `def`. */
static const char *s_jget(json_t *obj, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : def;
}

/* RFC 3339 UTC with nanoseconds, like the events' `at`. */
static void s_fmt_time(uint64_t ns, char *buf, size_t len)
{
    time_t sec = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%09" PRIu64 "Z", base, ns % 1000000000u);
}

/* Base64 of data; caller frees. */
static char *s_base64(const void *data, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);
    if (!out) abort();
    /* EVP_EncodeBlock takes an int length: honeybee messages may be up to 2 GiB. */
    size_t o = 0;
    const unsigned char *p = data;
    while (len > 0) {
        size_t chunk = len > (3u << 20) ? (3u << 20) : len;
        o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, p, (int)chunk);
        p += chunk;
        len -= chunk;
    }
    out[o] = '\0';
    return out;
}

/* Read all of stdin (for MESSAGE "-"). */
static char *s_read_stdin(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) abort();
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) abort();
            buf = nb;
        }
    }
    *len = n;
    return buf;
}

/* Receive the remaining frames of a multipart message into msgs[0..max). */
static int s_recv_multipart(void *sock, zmq_msg_t *msgs, int max)
{
    int n = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            for (int i = 0; i < n; i++) zmq_msg_close(&msgs[i]);
            return -1;
        }
        bool more = zmq_msg_more(&m);
        if (n < max)
            msgs[n++] = m;
        else
            zmq_msg_close(&m); /* more frames than the protocol has: counted, ignored */
        if (!more) return n;
    }
}

static bool s_frame_eq(zmq_msg_t *m, const char *s)
{
    size_t len = strlen(s);
    return zmq_msg_size(m) == len && memcmp(zmq_msg_data(m), s, len) == 0;
}

/*
 * Wait until `sock` is readable, the deadline passes (0: none) or a signal
 * arrives. Returns 1 readable, 0 deadline, -1 interrupted or error.
 */
static int s_wait_readable(void *sock, double deadline)
{
    for (;;) {
        if (s_interrupted) return -1;
        double left = deadline > 0 ? deadline - s_now() : 0.2;
        if (deadline > 0 && left <= 0) return 0;
        long ms = (long)(left * 1000) + 1;
        if (ms > 200) ms = 200;
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        int rc = zmq_poll(&it, 1, ms);
        if (rc < 0 && errno != EINTR) return -1;
        if (rc > 0) return 1;
    }
}

/* ---- sub ------------------------------------------------------------------ */

/* Flush a record. A reader that went away (`sub | head -1`: EPIPE, SIGPIPE
 * is ignored) ends the tail loops like a signal would. */
static void s_flush(void)
{
    if (fflush(stdout) != 0) s_interrupted = 1;
}

/* Last (conn, seq) seen per peer, to report gaps and reconnects. A plain
 * array: a terminal client follows a handful of peers. */
typedef struct peer_track {
    char *id;
    uint32_t conn;
    uint64_t seq;
} peer_track;

typedef struct tracker {
    peer_track *v;
    size_t n, cap;
} tracker;

static peer_track *s_track(tracker *t, const char *id, size_t len)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->v[i].id) == len && memcmp(t->v[i].id, id, len) == 0) return &t->v[i];
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        peer_track *nv = realloc(t->v, t->cap * sizeof *nv);
        if (!nv) abort();
        t->v = nv;
    }
    peer_track *p = &t->v[t->n++];
    p->id = strndup(id, len);
    if (!p->id) abort();
    p->conn = 0;
    p->seq = 0;
    return p;
}

static void s_check_order(peer_track *p, uint32_t conn, uint64_t seq)
{
    if (p->seq != 0) {
        if (seq > p->seq + 1)
            s_warn("%s: gap: %" PRIu64 " message(s) lost on the way here (seq %" PRIu64
                   " -> %" PRIu64 ")",
                   p->id, seq - p->seq - 1, p->seq, seq);
        else if (seq <= p->seq)
            s_warn("%s: seq restarted (%" PRIu64 " -> %" PRIu64 "): the peer was removed "
                   "and added again",
                   p->id, p->seq, seq);
        if (conn != p->conn)
            s_warn("%s: reconnected (conn %" PRIu32 " -> %" PRIu32
                   "): messages sent meanwhile may be lost",
                   p->id, p->conn, conn);
    }
    p->conn = conn;
    p->seq = seq;
}

static void s_print_inbox(const cli_opts *o, zmq_msg_t *f)
{
    const char *peer = zmq_msg_data(&f[0]);
    int peer_len = (int)zmq_msg_size(&f[0]);
    const unsigned char *meta = zmq_msg_data(&f[2]);
    bool binary = meta[1] & 1;
    uint32_t conn = (uint32_t)s_be(meta + 4, 4);
    uint64_t seq = s_be(meta + 8, 8), ns = s_be(meta + 16, 8);
    const char *data = zmq_msg_data(&f[1]);
    size_t len = zmq_msg_size(&f[1]);

    if (o->json) {
        json_t *obj = json_pack("{s:s%, s:I, s:I, s:I, s:b}", "peer", peer, (size_t)peer_len,
                                "conn", (json_int_t)conn, "seq", (json_int_t)seq, "received_ns",
                                (json_int_t)ns, "binary", binary);
        json_t *d = binary ? NULL : json_stringn(data, len);
        if (!d) {
            /* Binary, or text that jansson will not take: base64. */
            char *b = s_base64(data, len);
            json_object_set_new(obj, "data_base64", json_string(b));
            free(b);
        } else {
            json_object_set_new(obj, "data", d);
        }
        char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        if (s) puts(s);
        free(s);
        json_decref(obj);
    } else {
        if (o->meta) {
            char when[64];
            s_fmt_time(ns, when, sizeof when);
            printf("%.*s conn=%" PRIu32 " seq=%" PRIu64 " %s %s %zu ", peer_len, peer, conn, seq,
                   when, binary ? "binary" : "text", len);
        }
        fwrite(data, 1, len, stdout);
        putchar('\n');
    }
    s_flush();
}

/* A SUB socket on `ep` subscribed to `topic` (NULL: everything), linger 0.
 * NULL (with a warning) when it cannot connect. */
static void *s_sub_open(void *ctx, const char *ep, const char *topic)
{
    void *sock = zmq_socket(ctx, ZMQ_SUB);
    s_secure(sock);
    if (!sock) {
        s_warn("cannot create a socket: %s", zmq_strerror(errno));
        return NULL;
    }
    int zero = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    if (!topic) topic = "";
    zmq_setsockopt(sock, ZMQ_SUBSCRIBE, topic, strlen(topic));
    if (zmq_connect(sock, ep) != 0) {
        s_warn("cannot connect to %s: %s", ep, zmq_strerror(errno));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

static int s_cmd_sub(void *ctx, const cli_opts *o)
{
    if (o->nargs) s_die_usage("sub takes no arguments");
    if (o->peer && strlen(o->peer) > MAX_ID) s_die_usage("peer id longer than %d bytes", MAX_ID);
    char *ep = s_endpoint(o, "HONEYBEE_INBOX", DEFAULT_INBOX);
    void *sock = s_sub_open(ctx, ep, o->peer);
    if (!sock) {
        free(ep);
        return EXIT_UNREACHABLE;
    }
    tracker tr = {0};
    double deadline = o->time > 0 ? s_now() + o->time : 0;
    long got = 0;
    while (o->count == 0 || got < o->count) {
        int w = s_wait_readable(sock, deadline);
        if (w <= 0) break;
        zmq_msg_t f[3];
        int n = s_recv_multipart(sock, f, 3);
        if (n < 0) break;
        bool ok = n == 3 && zmq_msg_size(&f[2]) == META_SIZE &&
                  ((unsigned char *)zmq_msg_data(&f[2]))[0] == 1;
        if (!ok) {
            s_warn("ignoring a message that is not an inbox message (%d frames)", n);
        } else if (!o->peer || s_frame_eq(&f[0], o->peer)) {
            const unsigned char *meta = zmq_msg_data(&f[2]);
            peer_track *p = s_track(&tr, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]));
            s_check_order(p, (uint32_t)s_be(meta + 4, 4), s_be(meta + 8, 8));
            s_print_inbox(o, f);
            got++;
        }
        for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
    }
    for (size_t i = 0; i < tr.n; i++) free(tr.v[i].id);
    free(tr.v);
    zmq_close(sock);
    free(ep);
    return EXIT_OK;
}

/* ---- events --------------------------------------------------------------- */

static void s_print_event(const cli_opts *o, zmq_msg_t *f)
{
    const char *body = zmq_msg_data(&f[2]);
    size_t len = zmq_msg_size(&f[2]);
    if (o->json) {
        fwrite(body, 1, len, stdout);
        putchar('\n');
        s_flush();
        return;
    }
    json_error_t jerr;
    json_t *ev = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(ev)) {
        s_warn("event with a body that is not a JSON object: %s", jerr.text);
        json_decref(ev);
        return;
    }
    /* at kind id, then every other field as key=value in the order sent. */
    printf("%s %.*s %.*s", s_jget(ev, "at", "-"), (int)zmq_msg_size(&f[0]),
           (const char *)zmq_msg_data(&f[0]), (int)zmq_msg_size(&f[1]),
           (const char *)zmq_msg_data(&f[1]));
    const char *key;
    json_t *val;
    json_object_foreach(ev, key, val)
    {
        if (!strcmp(key, "at") || !strcmp(key, "kind") || !strcmp(key, "id")) continue;
        if (json_is_string(val)) {
            printf(" %s=%s", key, json_string_value(val));
        } else {
            char *s = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
            printf(" %s=%s", key, s ? s : "?");
            free(s);
        }
    }
    putchar('\n');
    s_flush();
    json_decref(ev);
}

static int s_cmd_events(void *ctx, const cli_opts *o)
{
    if (o->nargs) s_die_usage("events takes no arguments");
    char *ep = s_endpoint(o, "HONEYBEE_EVENTS", DEFAULT_EVENTS);
    /* The topic is the kind: a kind filter is exact once frame 0 is compared. */
    void *sock = s_sub_open(ctx, ep, o->kind);
    if (!sock) {
        free(ep);
        return EXIT_UNREACHABLE;
    }
    double deadline = o->time > 0 ? s_now() + o->time : 0;
    long got = 0;
    while (o->count == 0 || got < o->count) {
        if (s_wait_readable(sock, deadline) <= 0) break;
        zmq_msg_t f[3];
        int n = s_recv_multipart(sock, f, 3);
        if (n < 0) break;
        if (n != 3) {
            s_warn("ignoring a message that is not an event (%d frames)", n);
        } else if ((!o->kind || s_frame_eq(&f[0], o->kind)) &&
                   (!o->peer || s_frame_eq(&f[1], o->peer))) {
            s_print_event(o, f);
            got++;
        }
        for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
    }
    zmq_close(sock);
    free(ep);
    return EXIT_OK;
}

/* ---- control -------------------------------------------------------------- */

/*
 * One request, one reply. Returns the reply (caller owns it) or NULL with a
 * message printed: no reply within the timeout, or a socket error.
 */
static json_t *s_request(void *ctx, const cli_opts *o, json_t *req)
{
    char *ep = s_endpoint(o, "HONEYBEE_CONTROL", DEFAULT_CONTROL);
    void *sock = zmq_socket(ctx, ZMQ_REQ);
    s_secure(sock);
    int zero = 0, one = 1, ms = (int)(o->timeout * 1000);
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    /* Queue only on a live connection, so a send to a bridge that is not
     * there times out instead of sitting in a queue. */
    zmq_setsockopt(sock, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(sock, ZMQ_SNDTIMEO, &ms, sizeof ms);
    json_t *reply = NULL;
    char *body = json_dumps(req, JSON_COMPACT);
    double deadline = s_now() + o->timeout;
    if (zmq_connect(sock, ep) != 0) {
        s_warn("cannot connect to %s: %s", ep, zmq_strerror(errno));
    } else if (zmq_send(sock, body, strlen(body), 0) < 0) {
        s_warn("no connection to %s within %gs", ep, o->timeout);
    } else {
        int w = s_wait_readable(sock, deadline);
        if (w == 0) {
            s_warn("no reply from %s within %gs", ep, o->timeout);
        } else if (w > 0) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sock, 0) >= 0) {
                json_error_t jerr;
                reply = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &jerr);
                if (!json_is_object(reply)) {
                    s_warn("reply is not a JSON object: %s", jerr.text);
                    json_decref(reply);
                    reply = NULL;
                }
            }
            zmq_msg_close(&m);
        }
    }
    free(body);
    zmq_close(sock);
    free(ep);
    return reply;
}

/* Flatten a JSON value to "prefix.key: value" lines (stats output). */
static void s_print_flat(const char *prefix, json_t *v)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val)
        {
            char name[512];
            snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
            s_print_flat(name, val);
        }
        return;
    }
    char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    printf("%s: %s\n", prefix, s ? s : json_string_value(v));
    free(s);
}

static void s_print_list(json_t *reply)
{
    json_t *peers = json_object_get(reply, "peers");
    printf("%-24s %-11s %7s  %-30s %s\n", "ID", "STATE", "ATTEMPT", "CONNECTED_AT", "URL");
    size_t i;
    json_t *p;
    json_array_foreach(peers, i, p)
    {
        json_t *at = json_object_get(p, "connected_at");
        json_t *attempt = json_object_get(p, "attempt");
        printf("%-24s %-11s %7" JSON_INTEGER_FORMAT "  %-30s %s\n", s_jget(p, "id", "?"),
               s_jget(p, "state", "?"), json_is_integer(attempt) ? json_integer_value(attempt) : 0,
               json_is_string(at) ? json_string_value(at) : "-", s_jget(p, "url", "?"));
    }
}

/* A JSON string of a command-line argument; invalid UTF-8 is a usage error. */
static json_t *s_jarg(const char *arg)
{
    json_t *s = json_string(arg);
    if (!s) s_die_usage("argument is not valid UTF-8: '%s'", arg);
    return s;
}

/* Send `req` (consumed), print the reply as the options ask, map it to an
 * exit code. */
static int s_control_reply(void *ctx, const cli_opts *o, const char *op, json_t *req)
{
    json_t *reply = s_request(ctx, o, req);
    json_decref(req);
    if (!reply) return EXIT_UNREACHABLE;
    bool ok = json_is_true(json_object_get(reply, "ok"));
    if (o->json) {
        char *s = json_dumps(reply, JSON_COMPACT);
        puts(s ? s : "{}");
        free(s);
    } else if (!ok) {
        s_warn("%s: %s: %s", op, s_jget(reply, "error", "error"), s_jget(reply, "message", ""));
    } else if (!strcmp(op, "list")) {
        s_print_list(reply);
    } else if (!strcmp(op, "stats")) {
        json_object_del(reply, "ok");
        s_print_flat("", reply);
    } else {
        puts("ok");
    }
    fflush(stdout);
    json_decref(reply);
    return ok ? EXIT_OK : EXIT_REFUSED;
}

static int s_cmd_control(void *ctx, const char *op, const cli_opts *o)
{
    json_t *req = json_pack("{s:s}", "op", op);
    if (!strcmp(op, "list") || !strcmp(op, "ping")) {
        if (o->nargs) s_die_usage("%s takes no arguments", op);
    } else if (!strcmp(op, "stats")) {
        if (o->nargs > 1) s_die_usage("stats takes at most one peer id");
        if (o->nargs == 1) json_object_set_new(req, "id", s_jarg(o->args[0]));
    } else if (!strcmp(op, "remove")) {
        if (o->nargs != 1) s_die_usage("usage: remove ID");
        json_object_set_new(req, "id", s_jarg(o->args[0]));
    } else if (!strcmp(op, "connect")) {
        if (o->nargs != 2) s_die_usage("usage: connect ID URL [--options JSON]");
        json_object_set_new(req, "id", s_jarg(o->args[0]));
        json_object_set_new(req, "url", s_jarg(o->args[1]));
        if (o->options_json) {
            json_error_t jerr;
            json_t *opts = json_loads(o->options_json, 0, &jerr);
            if (!json_is_object(opts)) {
                const char *why = opts ? "not an object" : jerr.text;
                json_decref(opts);
                json_decref(req);
                s_die_usage("--options is not a JSON object: %s", why);
            }
            json_object_set_new(req, "options", opts);
        }
    }
    return s_control_reply(ctx, o, op, req);
}

/* ---- send ----------------------------------------------------------------- */

static int s_cmd_send(void *ctx, const cli_opts *o)
{
    if (o->nargs != 2) s_die_usage("usage: send PEER MESSAGE");
    const char *peer = o->args[0];
    size_t len;
    char *data;
    if (!strcmp(o->args[1], "-")) {
        data = s_read_stdin(&len);
    } else {
        data = strdup(o->args[1]);
        if (!data) abort();
        len = strlen(data);
    }

    int rc;
    if (o->via_control) {
        json_t *req = json_pack("{s:s, s:o}", "op", "send", "id", s_jarg(peer));
        if (o->binary == 1) {
            char *b = s_base64(data, len);
            json_object_set_new(req, "data", json_string(b));
            json_object_set_new(req, "binary", json_true());
            free(b);
        } else {
            json_t *d = json_stringn(data, len);
            if (!d) s_die_usage("a text message must be valid UTF-8 (use --binary)");
            json_object_set_new(req, "data", d);
        }
        /* -e names the control socket here. */
        rc = s_control_reply(ctx, o, "send", req);
    } else {
        char *ep = s_endpoint(o, "HONEYBEE_SEND", DEFAULT_SEND);
        void *sock = zmq_socket(ctx, ZMQ_PUSH);
        s_secure(sock);
        int one = 1, ms = (int)(o->timeout * 1000);
        zmq_setsockopt(sock, ZMQ_IMMEDIATE, &one, sizeof one);
        zmq_setsockopt(sock, ZMQ_SNDTIMEO, &ms, sizeof ms);
        /* Linger so the message leaves before the context is terminated. */
        zmq_setsockopt(sock, ZMQ_LINGER, &ms, sizeof ms);
        rc = EXIT_OK;
        if (zmq_connect(sock, ep) != 0) {
            s_warn("cannot connect to %s: %s", ep, zmq_strerror(errno));
            rc = EXIT_UNREACHABLE;
        } else {
            bool typed = o->binary >= 0;
            const char *type = o->binary == 1 ? "binary" : "text";
            if (zmq_send(sock, peer, strlen(peer), ZMQ_SNDMORE) < 0 ||
                zmq_send(sock, data, len, typed ? ZMQ_SNDMORE : 0) < 0 ||
                (typed && zmq_send(sock, type, strlen(type), 0) < 0)) {
                s_warn("no connection to %s within %gs", ep, o->timeout);
                rc = EXIT_UNREACHABLE;
            }
        }
        zmq_close(sock);
        free(ep);
    }
    free(data);
    return rc;
}

/* ---- health --------------------------------------------------------------- */

/*
 * GET the URL over plain HTTP/1.0 and look at the status line only. This is
 * not an HTTP client: it is what a HEALTHCHECK needs (the slim image carries
 * no curl), against the bridge's own endpoint, which answers HTTP/1.x.
 * Accepts http://HOST:PORT/PATH, HOST:PORT/PATH or HOST:PORT ([v6]:PORT too).
 */
static int s_cmd_health(const cli_opts *o)
{
    if (o->nargs > 1) s_die_usage("usage: health [URL]");
    char url[512];
    if (o->nargs == 1) {
        snprintf(url, sizeof url, "%s", o->args[0]);
    } else {
        const char *http = getenv("HONEYBEE_HTTP");
        snprintf(url, sizeof url, "%s/healthz", http && *http ? http : DEFAULT_HTTP);
    }
    char *p = url;
    if (!strncmp(p, "http://", 7)) p += 7;
    char *path = strchr(p, '/');
    char pathbuf[256] = "/healthz";
    if (path) {
        snprintf(pathbuf, sizeof pathbuf, "%s", path);
        *path = '\0';
    }
    char *host = p, *port;
    if (*host == '[') {
        char *close = strchr(host, ']');
        if (!close || close[1] != ':') s_die_usage("bad URL '%s'", o->args[0]);
        *close = '\0';
        host++;
        port = close + 2;
    } else {
        port = strrchr(host, ':');
        if (!port) s_die_usage("URL needs a port: '%s'", url);
        *port++ = '\0';
    }
    if (!*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "*")) host = "127.0.0.1";

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        s_warn("health: %s: %s", host, gai_strerror(gai));
        return EXIT_UNREACHABLE;
    }
    int rc = EXIT_UNREACHABLE, ms = (int)(o->timeout * 1000);
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    char req[1024], resp[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     pathbuf, host);
    if (n < 0 || (size_t)n >= sizeof req) s_die_usage("URL too long");
    size_t got = 0;
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        s_warn("health: cannot connect to %s:%s: %s", host, port, strerror(errno));
    } else if (write(fd, req, (size_t)n) != n) {
        s_warn("health: write: %s", strerror(errno));
    } else {
        ssize_t r;
        while (got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0) {
            got += (size_t)r;
            if (memchr(resp, '\n', got)) break;
        }
        resp[got] = '\0';
        char *eol = strpbrk(resp, "\r\n");
        if (eol) *eol = '\0';
        int status = 0;
        if (sscanf(resp, "HTTP/%*d.%*d %d", &status) == 1) {
            puts(resp);
            rc = status == 200 ? EXIT_OK : EXIT_REFUSED;
        } else {
            s_warn("health: no HTTP status line from %s:%s", host, port);
        }
    }
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return rc;
}

/* ---- main ----------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        s_usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        int maj, min, pat;
        zmq_version(&maj, &min, &pat);
        printf("honeybee-cli %s (libzmq %d.%d.%d)\n", HB_VERSION_STRING, maj, min, pat);
        return EXIT_OK;
    }
    cli_opts o;
    s_parse_opts(argc - 1, argv + 1, &o);

    /* No SA_RESTART: a signal makes zmq_poll return, and the loops check the
     * flag. SIGPIPE is ignored so a closed stdout ends us through EPIPE. */
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!strcmp(cmd, "health")) return s_cmd_health(&o);
    if (!strcmp(cmd, "keygen")) return s_cmd_keygen(&o);
    s_curve_load(&o);

    void *ctx = zmq_ctx_new();
    if (!ctx) {
        s_warn("zmq_ctx_new: %s", zmq_strerror(errno));
        return EXIT_UNREACHABLE;
    }
    int rc;
    if (!strcmp(cmd, "sub"))
        rc = s_cmd_sub(ctx, &o);
    else if (!strcmp(cmd, "events"))
        rc = s_cmd_events(ctx, &o);
    else if (!strcmp(cmd, "send"))
        rc = s_cmd_send(ctx, &o);
    else if (!strcmp(cmd, "list") || !strcmp(cmd, "stats") || !strcmp(cmd, "connect") ||
             !strcmp(cmd, "remove") || !strcmp(cmd, "ping"))
        rc = s_cmd_control(ctx, cmd, &o);
    else {
        zmq_ctx_term(ctx);
        s_die_usage("unknown command '%s'", cmd);
    }
    zmq_ctx_term(ctx);
    return rc;
}
