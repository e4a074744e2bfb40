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
 *   health  GET /healthz (the Docker HEALTHCHECK: the slim image has no curl),
 *           at bridge.http of the config file the bridge runs with (-c)
 *
 * sub and events watch their connection with a socket monitor and exit 3
 * when no bridge answers within -T (a SUB alone would wait forever); -c
 * FILE takes every endpoint from the bridge's own config file.
 *
 * Sharded bridges (bridge.shard "I/N"): -e repeated or comma-separated
 * names one endpoint per shard, in shard order. sub and events connect to
 * all of them; list, stats and ping ask all; connect, remove, stats PEER and
 * send go to the owner, computed with the shard hash below (a wrong_shard
 * reply names the owner: the endpoint that is that shard is found and asked).
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
#include <honeybee/config.h>

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
#define MAX_SHARDS      1024

static volatile sig_atomic_t s_interrupted;
static const char *s_cmd_name; /* for "try honeybee-cli COMMAND --help" */

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
    fprintf(stderr, " (try honeybee-cli %s%s--help)\n", s_cmd_name ? s_cmd_name : "",
            s_cmd_name ? " " : "");
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

/*
 * Help: one entry per command, printed by `honeybee-cli COMMAND --help` (and
 * `honeybee-cli help COMMAND`); the global --help lists the synopses.
 */
typedef struct cli_cmd {
    const char *name;
    const char *synopsis; /* after "honeybee-cli " */
    const char *text;     /* what it does, its own options; each line ends in \n */
} cli_cmd;

static const cli_cmd s_cmds[] = {
    {"sub", "sub [-e EP] [-p PEER] [--meta|--json] [-n N] [-t SECONDS] [-T SECONDS]",
     "Tail the inbox (SUB): each payload on stdout, one per line. Seq gaps (messages\n"
     "dropped by ZeroMQ on the way here), conn changes (the peer reconnected) and a\n"
     "seq that goes down (the peer was added again) are reported on stderr.\n"
     "  -e EP            the inbox endpoint (default $HONEYBEE_INBOX, " DEFAULT_INBOX ");\n"
     "                   several (one per shard): one subscription to all of them\n"
     "  -p PEER          only this peer (prefix subscription, frame 0 compared)\n"
     "  --meta           prefix each payload with PEER conn=N seq=N TIME text|binary LEN\n"
     "  --json           one JSON object per message (data_base64 for binary)\n"
     "  -n N, -t SECONDS exit after N messages, or after SECONDS\n"
     "  -T SECONDS       exit 3 if no bridge answers at EP within SECONDS (default 5)\n"},
    {"events", "events [-e EP] [-p PEER] [-k KIND] [--json] [-n N] [-t SECONDS] [-T SECONDS]",
     "Tail the lifecycle events (SUB): AT KIND ID key=value... per event (added,\n"
     "connected, disconnected, dial_failed, send_failed, removed).\n"
     "  -e EP            the events endpoint (default $HONEYBEE_EVENTS, " DEFAULT_EVENTS ");\n"
     "                   several (one per shard): one subscription to all of them\n"
     "  -p PEER, -k KIND only this peer, only this kind\n"
     "  --json           each event's JSON object as it came\n"
     "  -n N, -t SECONDS exit after N events, or after SECONDS\n"
     "  -T SECONDS       exit 3 if no bridge answers at EP within SECONDS (default 5)\n"},
    {"send", "send [-e EP] [--binary|--text] [--via-control] PEER MESSAGE",
     "Write MESSAGE to PEER (\"*\": every connected peer); MESSAGE \"-\" reads stdin.\n"
     "On the send socket (PUSH) refusals arrive as send_failed events; --via-control\n"
     "uses the control op instead (-e then names the control socket) and exits 1 on\n"
     "a refusal. Without --binary/--text the bridge decides (valid UTF-8 is text).\n"
     "  -e EP            the send endpoint (default $HONEYBEE_SEND, " DEFAULT_SEND ");\n"
     "                   several (one per shard): the owner's (\"*\": every one)\n"
     "  -T SECONDS       exit 3 if the message cannot leave within SECONDS (default 5)\n"},
    {"list", "list [-e EP] [--json]",
     "The peers: ID STATE ATTEMPT CONNECTED_AT URL (--json: the raw reply). With\n"
     "several endpoints (shards) every one is asked, and a SHARD column says\n"
     "which answered (--json: one reply per line).\n"
     "  -e EP            the control endpoint (default $HONEYBEE_CONTROL, " DEFAULT_CONTROL ")\n"
     "  -T SECONDS       reply timeout (default 5)\n"},
    {"stats", "stats [-e EP] [--json] [PEER]",
     "Pool totals, or one peer's counters, as name: value lines. With several\n"
     "endpoints (shards): every shard's totals, each under a [shard I/N EP] line;\n"
     "a PEER is asked of its owner.\n"
     "  -e EP            the control endpoint (default $HONEYBEE_CONTROL, " DEFAULT_CONTROL ")\n"
     "  -T SECONDS       reply timeout (default 5)\n"},
    {"connect", "connect [-e EP] ID URL [--options JSON]",
     "Add a peer at run time; --options takes any peer key of the config as a JSON\n"
     "object, e.g. '{\"reconnect\":{\"initial_delay\":\"5s\"}}'. With several\n"
     "endpoints (shards) it goes to the owner of ID (see shard); a wrong_shard\n"
     "reply names the owner, which is then found among the endpoints and asked.\n"
     "  -e EP            the control endpoint (default $HONEYBEE_CONTROL, " DEFAULT_CONTROL ")\n"
     "  -T SECONDS       reply timeout (default 5)\n"},
    {"remove", "remove [-e EP] ID",
     "Remove a peer (its removed event follows); with several endpoints, at its owner.\n"
     "  -e EP            the control endpoint (default $HONEYBEE_CONTROL, " DEFAULT_CONTROL ")\n"
     "  -T SECONDS       reply timeout (default 5)\n"},
    {"ping", "ping [-e EP] [-T SECONDS]",
     "Is the bridge there? Prints ok, exits 0; 3 when nothing answers in time.\n"
     "With several endpoints (shards): one line EP: ok per shard; 3 if any is silent.\n"
     "  -e EP            the control endpoint (default $HONEYBEE_CONTROL, " DEFAULT_CONTROL ")\n"
     "  -T SECONDS       reply timeout (default 5)\n"},
    {"health", "health [-c FILE] [-T SECONDS] [URL]",
     "GET /healthz and print the status line; exit 0 on 200, 1 on another status.\n"
     "The address: URL, else bridge.http of -c FILE (with the HONEYBEE_* variables\n"
     "applied, as the bridge applies them), else $HONEYBEE_HTTP, else " DEFAULT_HTTP ".\n"
     "With -c and bridge.http \"\" (HTTP off) it pings the control socket instead.\n"
     "The container's HEALTHCHECK: health -c /etc/honeybee/honeybee.yaml.\n"
     "  -T SECONDS       connect and reply timeout (default 5)\n"},
    {"keygen", "keygen NAME [-d DIR]",
     "Make a CURVE key pair as czmq certificates: DIR/NAME.key (public: give it to\n"
     "the bridge's readers/ or writers/ directory, or a bridge's to its clients) and\n"
     "DIR/NAME.key_secret (both keys, mode 0600: keep it). Prints the public key;\n"
     "never overwrites an existing file (exit 1).\n"
     "  -d, --dir DIR    where to write (default .)\n"},
    {"shard", "shard ID N",
     "The shard (I/N) that owns peer ID among N shards: FNV-1a 64 of the id's bytes,\n"
     "then the jump consistent hash (docs/protocol.md, \"Sharding\"). Computed here,\n"
     "nothing is asked of a bridge.\n"},
    {"version", "version", "The versions of honeybee-cli and libzmq.\n"},
};

static const cli_cmd *s_find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        if (!strcmp(s_cmds[i].name, name)) return &s_cmds[i];
    return NULL;
}

static const char s_common_help[] =
    "Common options:\n"
    "  -c, --config FILE   read the endpoints from the bridge's config file (the\n"
    "                      HONEYBEE_* variables still override it, as for the bridge)\n"
    "  -e, --endpoint EP   the ZeroMQ endpoint, tcp://HOST:PORT or ipc://PATH; without\n"
    "                      -e: $HONEYBEE_INBOX, $HONEYBEE_EVENTS, $HONEYBEE_SEND or\n"
    "                      $HONEYBEE_CONTROL, else tcp://127.0.0.1:5550..5553 (a bind\n"
    "                      address * or 0.0.0.0 is read as 127.0.0.1). Sharded bridges:\n"
    "                      -e repeated or EP,EP,...: one endpoint per shard, shard 0\n"
    "                      first (the variables take such a list too)\n"
    "  -T, --timeout SECS  how long to wait for the bridge (default 5)\n"
    "  --server-key KEY    the bridge's public CURVE key (40 characters of Z85) or its\n"
    "                      certificate file; or $HONEYBEE_SERVER_KEY (bridge.curve)\n"
    "  --cert FILE         this client's certificate with its secret key (a _secret\n"
    "                      file of keygen); or $HONEYBEE_CLIENT_CERT\n"
    "  -h, --help          help (COMMAND --help: that command's)\n"
    "\n"
    "Exit codes: 0 success (sub/events: count reached, time up or interrupted),\n"
    "  1 the bridge refused (ok:false; health: status not 200), 2 bad arguments,\n"
    "  3 bridge unreachable or no reply within the timeout.\n";

static void s_usage(FILE *out)
{
    fputs("usage: honeybee-cli COMMAND [OPTIONS] [ARGS]\n\nCommands (COMMAND --help for one):\n",
          out);
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf(out, "  %s\n", s_cmds[i].synopsis);
    fprintf(out, "\n%s", s_common_help);
}

static void s_cmd_usage(FILE *out, const cli_cmd *c)
{
    fprintf(out, "usage: honeybee-cli %s\n\n%s\n%s", c->synopsis, c->text, s_common_help);
}

/* ---- options -------------------------------------------------------------- */

typedef struct cli_opts {
    const cli_cmd *cmd;
    const char *config; /* -c FILE */
    char *endpoint;     /* every -e, joined by commas */
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

static void s_parse_opts(const cli_cmd *cmd, int argc, char **argv, cli_opts *o)
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
        {"config", required_argument, NULL, 'c'},
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
    o->cmd = cmd;
    o->timeout = 5;
    o->binary = -1;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:e:p:k:n:t:T:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'e': {
            /* Repeated: one list, in the order given (shard order). */
            size_t a = o->endpoint ? strlen(o->endpoint) : 0, b = strlen(optarg);
            char *j = realloc(o->endpoint, a + b + 2);
            if (!j) abort();
            if (a) j[a++] = ',';
            memcpy(j + a, optarg, b + 1);
            o->endpoint = j;
            break;
        }
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
            s_cmd_usage(stdout, cmd);
            exit(EXIT_OK);
        default:
            s_die_usage("bad option for %s", cmd->name);
        }
    }
    o->nargs = argc - optind;
    o->args = argv + optind;
}

/*
 * The endpoints a command connects to: -e, else the config file of -c (with
 * the HONEYBEE_* variables applied over it, as the bridge does), else the
 * bridge's own variable (so `docker exec bridge honeybee-cli ping` finds
 * it), else the default. Each is a comma-separated list (one endpoint per
 * shard, shard 0 first). A bind address (tcp:// * :5553, tcp://0.0.0.0:5553,
 * tcp://[::]:5553) is turned into loopback. An endpoint without a transport
 * is a usage error with a hint: ZeroMQ itself only says "Invalid argument".
 * `key` is the bridge key ("inbox"...). Returns a malloc'd array of
 * malloc'd strings, *n of them (at least 1).
 */
static char *s_endpoint_one(const char *ep, const char *where)
{
    const char *sep = strstr(ep, "://");
    if (!sep) {
        if (strchr(ep, ':'))
            s_die_usage("%s: endpoint '%s' names no transport: did you mean tcp://%s?", where, ep,
                        ep);
        s_die_usage("%s: '%s' is not an endpoint (tcp://HOST:PORT or ipc://PATH)", where, ep);
    }
    const char *host = sep + 3;
    static const char *const any[] = {"*:", "0.0.0.0:", "[::]:"};
    for (size_t i = 0; i < sizeof any / sizeof any[0]; i++) {
        if (strncmp(host, any[i], strlen(any[i])) != 0) continue;
        const char *lo = i == 2 ? "[::1]" : "127.0.0.1";
        const char *port = host + strlen(any[i]) - 1; /* from the ':' */
        size_t n = (size_t)(host - ep) + strlen(lo) + strlen(port) + 1;
        char *out = malloc(n);
        if (!out) abort();
        snprintf(out, n, "%.*s%s%s", (int)(host - ep), ep, lo, port);
        return out;
    }
    char *out = strdup(ep);
    if (!out) abort();
    return out;
}

static char **s_endpoints(const cli_opts *o, const hb_config *cfg, const char *key, size_t *n)
{
    static const struct {
        const char *key, *env, *def;
    } known[] = {
        {"inbox", "HONEYBEE_INBOX", DEFAULT_INBOX},
        {"events", "HONEYBEE_EVENTS", DEFAULT_EVENTS},
        {"send", "HONEYBEE_SEND", DEFAULT_SEND},
        {"control", "HONEYBEE_CONTROL", DEFAULT_CONTROL},
    };
    size_t k = 0;
    while (strcmp(known[k].key, key) != 0) k++;
    const char *env = getenv(known[k].env);
    bool env_set = env && *env;
    char where[512];
    const char *ep;
    if (o->endpoint) {
        ep = o->endpoint;
        snprintf(where, sizeof where, "-e");
    } else if (cfg) {
        const char *v[] = {cfg->bridge.inbox, cfg->bridge.events, cfg->bridge.send,
                           cfg->bridge.control};
        ep = v[k] && *v[k] ? v[k] : known[k].def;
        if (env_set)
            snprintf(where, sizeof where, "$%s", known[k].env);
        else
            snprintf(where, sizeof where, "%s: bridge.%s", o->config, key);
    } else if (env_set) {
        ep = env;
        snprintf(where, sizeof where, "$%s", known[k].env);
    } else {
        ep = known[k].def;
        snprintf(where, sizeof where, "default");
    }
    char *list = strdup(ep);
    if (!list) abort();
    char **out = NULL;
    *n = 0;
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        if (!*t) continue;
        if (*n == MAX_SHARDS) s_die_usage("%s: more than %d endpoints", where, MAX_SHARDS);
        char **g = realloc(out, (*n + 1) * sizeof *out);
        if (!g) abort();
        out = g;
        out[(*n)++] = s_endpoint_one(t, where);
    }
    free(list);
    if (!*n) s_die_usage("%s: no endpoint in '%s'", where, ep);
    return out;
}

static void s_endpoints_free(char **eps, size_t n)
{
    for (size_t i = 0; i < n; i++) free(eps[i]);
    free(eps);
}

/* ---- the shard hash (docs/protocol.md, "Sharding") ------------------------- */

/*
 * The shard of `n` that owns peer `id`: FNV-1a 64 over the id's bytes, then
 * the jump consistent hash of Lamping and Veach. Written out here, as a
 * client in any language would (the bridge's copy is src/core/shard.c;
 * tests/support/shard_vectors.json pins both). The division is a double,
 * as in the definition.
 */
static uint32_t s_shard_of(const char *id, size_t len, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= 0x100000001b3ULL;
    }
    int64_t b = -1, j = 0;
    while (j < (int64_t)n) {
        b = j;
        h = h * 2862933555777941757ULL + 1;
        j = (int64_t)((double)(b + 1) * ((double)(1LL << 31) / (double)((h >> 33) + 1)));
    }
    return b < 0 ? 0 : (uint32_t)b;
}

static int s_cmd_shard(const cli_opts *o)
{
    if (o->nargs != 2) s_die_usage("usage: shard ID N");
    char *end;
    errno = 0;
    long n = strtol(o->args[1], &end, 10);
    if (errno || *end || end == o->args[1] || n < 1 || n > MAX_SHARDS)
        s_die_usage("N must be a number of shards, 1..%d: '%s'", MAX_SHARDS, o->args[1]);
    printf("%u/%ld\n", s_shard_of(o->args[0], strlen(o->args[0]), (uint32_t)n), n);
    return EXIT_OK;
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

/* zmq_connect, with a message that says which endpoint was refused and why.
 * ZeroMQ refuses only a malformed endpoint here (it dials later, in its I/O
 * thread), so a failure is a usage error. */
static int s_connect(void *sock, const char *ep)
{
    if (zmq_connect(sock, ep) == 0) return 0;
    s_warn("bad endpoint %s: %s (an endpoint is tcp://HOST:PORT or ipc://PATH)", ep,
           zmq_strerror(errno));
    return -1;
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

/* A reply's shard as "I/N" (its integers `shard` and `shards`), "?" when
 * it has none. */
static const char *s_shard_text(json_t *reply, char *buf, size_t cap)
{
    json_t *i = json_object_get(reply, "shard"), *n = json_object_get(reply, "shards");
    if (!json_is_integer(i) || !json_is_integer(n)) return "?";
    snprintf(buf, cap, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT, json_integer_value(i),
             json_integer_value(n));
    return buf;
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

/*
 * Whether a SUB socket has reached a bridge. A SUB never learns on its own
 * that nobody publishes at its endpoint, so `sub` and `events` watch the
 * connection with a ZeroMQ socket monitor (an inproc PAIR fed by the
 * socket's I/O thread, read here on the main thread): a completed ZMTP
 * handshake means a ZeroMQ socket answered; none within -T means the bridge
 * is unreachable (exit 3). A control ping first would need the control
 * endpoint as well, which a user who gives only -e for the inbox has not
 * named. After the first handshake the monitor stays open to report a lost
 * and a regained connection on stderr. With several endpoints (shards) the
 * bridge is reached when every one of them has answered once: a shard
 * missing from a subscription would lose its peers silently.
 */
typedef struct conn_watch {
    void *pair;   /* monitor events of the SUB socket */
    bool up;      /* a handshake succeeded and no disconnect since */
    bool ever_up; /* every endpoint's handshake succeeded once */
    char **eps;   /* the endpoints (borrowed), and which answered once */
    bool *seen;
    size_t n_eps, n_seen;
    int failed; /* last ZMQ_EVENT_HANDSHAKE_FAILED_* seen, 0 if none */
    long stray; /* messages before any handshake: no ZMTP 3 peer (ZMTP 1.0 guess) */
} conn_watch;

/* A SUB socket on the endpoints `eps` subscribed to `topic` (NULL:
 * everything), linger 0, its connections watched by `w`. NULL (with a
 * warning) on failure. */
static void *s_sub_open(void *ctx, char **eps, size_t n_eps, const char *topic, conn_watch *w)
{
    static int monitors;
    memset(w, 0, sizeof *w);
    w->eps = eps;
    w->n_eps = n_eps;
    w->seen = calloc(n_eps, sizeof *w->seen);
    if (!w->seen) abort();
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
    char addr[64];
    snprintf(addr, sizeof addr, "inproc://honeybee-cli-monitor-%d", monitors++);
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(sock, addr, events) != 0 || !(w->pair = zmq_socket(ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(w->pair, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_connect(w->pair, addr) != 0) {
        s_warn("cannot monitor the connection: %s", zmq_strerror(errno));
        if (w->pair) zmq_close(w->pair);
        zmq_close(sock);
        return NULL;
    }
    for (size_t i = 0; i < n_eps; i++) {
        if (s_connect(sock, eps[i]) != 0) {
            zmq_close(w->pair);
            zmq_close(sock);
            free(w->seen);
            return NULL;
        }
    }
    return sock;
}

static void s_sub_close(void *sock, conn_watch *w)
{
    zmq_socket_monitor(sock, NULL, 0);
    zmq_close(w->pair);
    zmq_close(sock);
    free(w->seen);
}

/* A handshake with the endpoint the monitor names (frame 2 of its event):
 * that endpoint answered once. A name that matches none (a resolved
 * address) counts for the first that has not answered yet. */
static void s_watch_seen(conn_watch *w, zmq_msg_t *addr)
{
    size_t k = w->n_eps;
    for (size_t i = 0; addr && i < w->n_eps; i++)
        if (strlen(w->eps[i]) == zmq_msg_size(addr) &&
            !memcmp(w->eps[i], zmq_msg_data(addr), zmq_msg_size(addr)))
            k = i;
    if (k == w->n_eps || w->seen[k])
        for (k = 0; k < w->n_eps && w->seen[k]; k++) {
        }
    if (k < w->n_eps && !w->seen[k]) {
        w->seen[k] = true;
        w->n_seen++;
    }
}

/* One monitor event: update `w`, report a lost or regained connection. */
static void s_watch_read(conn_watch *w, const char *ep)
{
    zmq_msg_t f[2];
    int n = s_recv_multipart(w->pair, f, 2);
    if (n < 1) return;
    uint16_t ev = 0;
    if (zmq_msg_size(&f[0]) >= 6) memcpy(&ev, zmq_msg_data(&f[0]), sizeof ev);
    if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) s_watch_seen(w, n > 1 ? &f[1] : NULL);
    for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
    if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        if (w->ever_up && !w->up) s_warn("connected to %s again", ep);
        w->up = true;
        if (w->n_seen >= w->n_eps) w->ever_up = true;
        w->failed = 0;
    } else if (ev == ZMQ_EVENT_DISCONNECTED) {
        if (w->up) s_warn("lost the connection to %s; waiting for it to come back", ep);
        w->up = false;
    } else if (ev) {
        w->failed = ev;
    }
}

static void s_watch_drain(conn_watch *w, const char *ep)
{
    zmq_pollitem_t it = {.socket = w->pair, .events = ZMQ_POLLIN};
    while (zmq_poll(&it, 1, 0) > 0) s_watch_read(w, ep);
}

/* Exit 3's message: nobody answered at `ep` within the timeout. */
static void s_unreachable(const conn_watch *w, const char *ep, const char *what, double timeout)
{
    const char *why = "";
    if (w->failed == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        why = " (something answered, but the ZeroMQ handshake failed: authentication)";
    else if (w->stray)
        why = " (something answered, but it does not speak ZeroMQ: an HTTP port?)";
    else if (w->failed == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        /* The other end hung up inside the greeting: a server that parses
         * the greeting as its own protocol and closes (our HTTP port). */
        why = " (something answered, but it closed the connection during the ZeroMQ "
              "greeting: it does not speak ZeroMQ, an HTTP port?)";
    else if (w->failed)
        why = " (something answered, but not a ZeroMQ socket of the right kind: the "
              "ZeroMQ handshake failed)";
    if (w->n_eps > 1) {
        /* Name the shards that stayed silent. */
        for (size_t i = 0; i < w->n_eps; i++)
            if (!w->seen[i])
                s_warn("bridge unreachable: shard %zu/%zu: no %s socket answered at %s within "
                       "%gs%s",
                       i, w->n_eps, what, w->eps[i], timeout, why);
        return;
    }
    s_warn("bridge unreachable: no %s socket answered at %s within %gs%s", what, ep, timeout, why);
}

enum { TAIL_UNREACHABLE = -2 };

/*
 * Wait until the SUB socket is readable (1), the deadline passes (0: none),
 * a signal arrives or an error happens (-1), or no bridge answered within
 * `connect_by` (TAIL_UNREACHABLE; also when the deadline comes first).
 */
static int s_tail_wait(void *sock, conn_watch *w, const char *ep, double deadline,
                       double connect_by)
{
    for (;;) {
        if (s_interrupted) return -1;
        double now = s_now();
        if (!w->ever_up) s_watch_drain(w, ep); /* a handshake not yet read */
        if (!w->ever_up && (now >= connect_by || (deadline > 0 && now >= deadline)))
            return TAIL_UNREACHABLE;
        if (deadline > 0 && now >= deadline) return 0;
        double until = deadline > 0 ? deadline : now + 0.2;
        if (!w->ever_up && connect_by < until) until = connect_by;
        long ms = (long)((until - now) * 1000) + 1;
        if (ms > 200) ms = 200;
        zmq_pollitem_t it[2] = {{.socket = sock, .events = ZMQ_POLLIN},
                                {.socket = w->pair, .events = ZMQ_POLLIN}};
        int rc = zmq_poll(it, 2, ms);
        if (rc < 0 && errno != EINTR) return -1;
        if (rc > 0 && (it[1].revents & ZMQ_POLLIN)) s_watch_drain(w, ep);
        if (rc > 0 && (it[0].revents & ZMQ_POLLIN)) {
            s_watch_drain(w, ep);
            if (w->ever_up) return 1;
            /* Data without a ZMTP 3 handshake: libzmq took a non-ZeroMQ
             * server's bytes for a ZMTP 1.0 peer. Not the bridge: drop it. */
            zmq_msg_t f[4];
            int n = s_recv_multipart(sock, f, 4);
            for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
            w->stray++;
        }
    }
}

static int s_cmd_sub(void *ctx, const cli_opts *o, char **eps, size_t n_eps, const char *ep)
{
    if (o->nargs) s_die_usage("sub takes no arguments");
    if (o->peer && strlen(o->peer) > MAX_ID) s_die_usage("peer id longer than %d bytes", MAX_ID);
    conn_watch w;
    void *sock = s_sub_open(ctx, eps, n_eps, o->peer, &w);
    if (!sock) return EXIT_USAGE;
    tracker tr = {0};
    double deadline = o->time > 0 ? s_now() + o->time : 0;
    double connect_by = s_now() + o->timeout;
    long got = 0;
    int rc = EXIT_OK;
    while (o->count == 0 || got < o->count) {
        int r = s_tail_wait(sock, &w, ep, deadline, connect_by);
        if (r == TAIL_UNREACHABLE) {
            s_unreachable(&w, ep, "inbox", o->timeout);
            rc = EXIT_UNREACHABLE;
        }
        if (r <= 0) break;
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
    s_sub_close(sock, &w);
    return rc;
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

static int s_cmd_events(void *ctx, const cli_opts *o, char **eps, size_t n_eps, const char *ep)
{
    if (o->nargs) s_die_usage("events takes no arguments");
    /* The topic is the kind: a kind filter is exact once frame 0 is compared. */
    conn_watch w;
    void *sock = s_sub_open(ctx, eps, n_eps, o->kind, &w);
    if (!sock) return EXIT_USAGE;
    double deadline = o->time > 0 ? s_now() + o->time : 0;
    double connect_by = s_now() + o->timeout;
    long got = 0;
    int rc = EXIT_OK;
    while (o->count == 0 || got < o->count) {
        int r = s_tail_wait(sock, &w, ep, deadline, connect_by);
        if (r == TAIL_UNREACHABLE) {
            s_unreachable(&w, ep, "events", o->timeout);
            rc = EXIT_UNREACHABLE;
        }
        if (r <= 0) break;
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
    s_sub_close(sock, &w);
    return rc;
}

/* ---- control -------------------------------------------------------------- */

/*
 * One request, one reply. Returns the reply (caller owns it) or NULL with a
 * message printed: no reply within the timeout, or a socket error.
 */
static json_t *s_request(void *ctx, const cli_opts *o, const char *ep, json_t *req, bool *bad_ep)
{
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
    *bad_ep = false;
    if (s_connect(sock, ep) != 0) {
        *bad_ep = true;
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

/* The table of `list`; `sharded`: a SHARD column first (the reply's
 * "shard"), `header`: the title line. */
static void s_print_list(json_t *reply, bool sharded, bool header)
{
    json_t *peers = json_object_get(reply, "peers");
    if (header && sharded) printf("%-9s ", "SHARD");
    if (header)
        printf("%-24s %-11s %7s  %-30s %s\n", "ID", "STATE", "ATTEMPT", "CONNECTED_AT", "URL");
    size_t i;
    json_t *p;
    json_array_foreach(peers, i, p)
    {
        json_t *at = json_object_get(p, "connected_at");
        json_t *attempt = json_object_get(p, "attempt");
        char sh[48];
        if (sharded) printf("%-9s ", s_shard_text(reply, sh, sizeof sh));
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

/* Print one reply as the options ask and map it to an exit code. `ep`
 * (several endpoints: which one answered) and `first` (the first of
 * several: the list's header) shape the output of a fan-out. */
static int s_show_reply(const cli_opts *o, const char *op, json_t *reply, const char *ep,
                        bool first)
{
    bool ok = json_is_true(json_object_get(reply, "ok"));
    if (o->json) {
        char *s = json_dumps(reply, JSON_COMPACT);
        puts(s ? s : "{}");
        free(s);
    } else if (!ok) {
        s_warn("%s%s%s: %s: %s", ep ? ep : "", ep ? ": " : "", op, s_jget(reply, "error", "error"),
               s_jget(reply, "message", ""));
    } else if (!strcmp(op, "list")) {
        s_print_list(reply, ep != NULL, first);
    } else if (!strcmp(op, "stats")) {
        json_object_del(reply, "ok");
        char sh[48];
        if (ep) printf("[shard %s %s]\n", s_shard_text(reply, sh, sizeof sh), ep);
        s_print_flat("", reply);
    } else if (ep) {
        printf("%s: ok\n", ep);
    } else {
        puts("ok");
    }
    fflush(stdout);
    return ok ? EXIT_OK : EXIT_REFUSED;
}

/* Send `req` (consumed), print the reply as the options ask, map it to an
 * exit code. */
static int s_control_reply(void *ctx, const cli_opts *o, const char *ep, const char *op,
                           json_t *req)
{
    bool bad_ep;
    json_t *reply = s_request(ctx, o, ep, req, &bad_ep);
    json_decref(req);
    if (!reply) return bad_ep ? EXIT_USAGE : EXIT_UNREACHABLE;
    int rc = s_show_reply(o, op, reply, NULL, true);
    json_decref(reply);
    return rc;
}

/* The worse of two exit codes: unreachable over usage over refused. */
static int s_worse(int a, int b)
{
    static const int rank[] = {
        [EXIT_OK] = 0, [EXIT_REFUSED] = 1, [EXIT_USAGE] = 2, [EXIT_UNREACHABLE] = 3};
    return rank[b] > rank[a] ? b : a;
}

/* list, stats, ping of several shards: every endpoint is asked in turn,
 * each answer shown with the shard (or endpoint) that gave it. */
static int s_control_all(void *ctx, const cli_opts *o, char **eps, size_t n, const char *op,
                         json_t *req)
{
    int rc = EXIT_OK;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        bool bad_ep;
        json_t *reply = s_request(ctx, o, eps[i], req, &bad_ep);
        if (!reply) {
            rc = s_worse(rc, bad_ep ? EXIT_USAGE : EXIT_UNREACHABLE);
            continue;
        }
        rc = s_worse(rc, s_show_reply(o, op, reply, eps[i], first));
        first = false;
        json_decref(reply);
    }
    json_decref(req);
    return rc;
}

/* The endpoint that says it is shard `name` ("I/N", from a wrong_shard
 * reply), asked with `stats`; `skip` is the one that just refused. The
 * endpoints are meant to be in shard order, so shard I's place is tried
 * first; any order is found. Returns its index, or n. */
static size_t s_find_shard(void *ctx, const cli_opts *o, char **eps, size_t n, const char *name,
                           size_t skip)
{
    unsigned long i = 0, m = 0;
    char tail;
    if (sscanf(name, "%lu/%lu%c", &i, &m, &tail) != 2) return n;
    if (m != n)
        s_warn("the bridges count %lu shards, -e names %zu endpoints: give one endpoint per "
               "shard, in shard order",
               m, n);
    json_t *req = json_pack("{s:s}", "op", "stats");
    size_t found = n;
    for (size_t k = 0; k < n && found == n; k++) {
        size_t at = (i + k) % n;
        if (at == skip) continue;
        bool bad_ep;
        json_t *r = s_request(ctx, o, eps[at], req, &bad_ep);
        char sh[48];
        if (r && !strcmp(s_shard_text(r, sh, sizeof sh), name)) found = at;
        json_decref(r);
    }
    json_decref(req);
    return found;
}

/* One peer's request (`id`) to the shard that owns it among `n`; a
 * wrong_shard reply names the owner, which is looked for among the
 * endpoints and asked once (the endpoints were not in shard order). */
static int s_control_routed(void *ctx, const cli_opts *o, char **eps, size_t n, const char *op,
                            json_t *req, const char *id)
{
    size_t at = s_shard_of(id, strlen(id), (uint32_t)n);
    for (int tries = 0;; tries++) {
        bool bad_ep;
        json_t *reply = s_request(ctx, o, eps[at], req, &bad_ep);
        if (!reply) {
            json_decref(req);
            return bad_ep ? EXIT_USAGE : EXIT_UNREACHABLE;
        }
        if (tries == 0 && !strcmp(s_jget(reply, "error", ""), "wrong_shard")) {
            char sh[48];
            const char *owner = s_shard_text(reply, sh, sizeof sh);
            size_t to = s_find_shard(ctx, o, eps, n, owner, at);
            if (to < n) {
                s_warn("%s: %s answered wrong_shard (%s); asking shard %s at %s", op, eps[at],
                       owner, owner, eps[to]);
                json_decref(reply);
                at = to;
                continue;
            }
            s_warn("%s: no endpoint given is shard %s", op, owner);
        }
        int rc = s_show_reply(o, op, reply, NULL, true);
        json_decref(reply);
        json_decref(req);
        return rc;
    }
}

static int s_cmd_control(void *ctx, const char *op, const cli_opts *o, char **eps, size_t n)
{
    json_t *req = json_pack("{s:s}", "op", op);
    const char *id = NULL;
    if (!strcmp(op, "list") || !strcmp(op, "ping")) {
        if (o->nargs) s_die_usage("%s takes no arguments", op);
    } else if (!strcmp(op, "stats")) {
        if (o->nargs > 1) s_die_usage("stats takes at most one peer id");
        if (o->nargs == 1) json_object_set_new(req, "id", s_jarg(id = o->args[0]));
    } else if (!strcmp(op, "remove")) {
        if (o->nargs != 1) s_die_usage("usage: remove ID");
        json_object_set_new(req, "id", s_jarg(id = o->args[0]));
    } else if (!strcmp(op, "connect")) {
        if (o->nargs != 2) s_die_usage("usage: connect ID URL [--options JSON]");
        json_object_set_new(req, "id", s_jarg(id = o->args[0]));
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
    if (n == 1) return s_control_reply(ctx, o, eps[0], op, req);
    if (id) return s_control_routed(ctx, o, eps, n, op, req, id);
    return s_control_all(ctx, o, eps, n, op, req);
}

/* ---- send ----------------------------------------------------------------- */

/* One message on a PUSH to `ep`: 0, or an exit code after a warning. */
static int s_push(void *ctx, const cli_opts *o, const char *ep, const char *peer, const char *data,
                  size_t len)
{
    void *sock = zmq_socket(ctx, ZMQ_PUSH);
    s_secure(sock);
    int one = 1, ms = (int)(o->timeout * 1000);
    zmq_setsockopt(sock, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(sock, ZMQ_SNDTIMEO, &ms, sizeof ms);
    /* Linger so the message leaves before the context is terminated. */
    zmq_setsockopt(sock, ZMQ_LINGER, &ms, sizeof ms);
    int rc = EXIT_OK;
    if (s_connect(sock, ep) != 0) {
        rc = EXIT_USAGE;
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
    return rc;
}

static int s_cmd_send(void *ctx, const cli_opts *o, char **eps, size_t n)
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
        /* -e names the control socket(s) here; "*" goes to every shard. */
        if (n == 1)
            rc = s_control_reply(ctx, o, eps[0], "send", req);
        else if (!strcmp(peer, "*"))
            rc = s_control_all(ctx, o, eps, n, "send", req);
        else
            rc = s_control_routed(ctx, o, eps, n, "send", req, peer);
    } else if (!strcmp(peer, "*")) {
        rc = EXIT_OK;
        for (size_t i = 0; i < n; i++) rc = s_worse(rc, s_push(ctx, o, eps[i], peer, data, len));
    } else {
        rc = s_push(ctx, o, eps[s_shard_of(peer, strlen(peer), (uint32_t)n)], peer, data, len);
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
static int s_cmd_health(const cli_opts *o, const hb_config *cfg)
{
    char url[512];
    if (o->nargs == 1) {
        snprintf(url, sizeof url, "%s", o->args[0]);
    } else if (cfg) {
        /* The file with the HONEYBEE_* variables applied: what the bridge runs. */
        snprintf(url, sizeof url, "%s/healthz", cfg->bridge.http);
    } else {
        const char *http = getenv("HONEYBEE_HTTP");
        snprintf(url, sizeof url, "%s/healthz", http && *http ? http : DEFAULT_HTTP);
    }
    char given[sizeof url];
    memcpy(given, url, sizeof url);
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
        if (!close || close[1] != ':') s_die_usage("bad URL '%s'", given);
        *close = '\0';
        host++;
        port = close + 2;
    } else {
        port = strrchr(host, ':');
        if (!port) s_die_usage("URL needs a port: '%s'", given);
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

/* -c FILE: the bridge's config, loaded and overridden by the environment
 * the way the bridge does it. Exits 2 on an invalid file. */
static hb_config *s_load_config(const char *path)
{
    hb_config *cfg = NULL;
    char *errors = NULL;
    int rc = hb_config_load_file(path, &cfg, &errors);
    if (rc == 0) rc = hb_config_apply_env(cfg, NULL, &errors);
    if (rc != 0) {
        fprintf(stderr, "honeybee-cli: -c %s:\n%s", path, errors ? errors : hb_strerror(rc));
        if (errors && errors[strlen(errors) - 1] != '\n') fputc('\n', stderr);
        free(errors);
        hb_config_destroy(&cfg);
        exit(EXIT_USAGE);
    }
    return cfg;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        const cli_cmd *c = argc > 2 ? s_find_cmd(argv[2]) : NULL;
        if (c)
            s_cmd_usage(stdout, c);
        else
            s_usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "--version")) name = "version";
    const cli_cmd *cmd = s_find_cmd(name);
    if (!cmd) s_die_usage("unknown command '%s'", name);
    s_cmd_name = cmd->name;
    cli_opts o;
    s_parse_opts(cmd, argc - 1, argv + 1, &o);
    if (!strcmp(name, "version")) {
        int maj, min, pat;
        zmq_version(&maj, &min, &pat);
        printf("honeybee-cli %s (libzmq %d.%d.%d)\n", HB_VERSION_STRING, maj, min, pat);
        return EXIT_OK;
    }
    if (!strcmp(name, "health") && o.nargs > 1) s_die_usage("usage: health [URL]");

    /* No SA_RESTART: a signal makes zmq_poll return, and the loops check the
     * flag. SIGPIPE is ignored so a closed stdout ends us through EPIPE. */
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!strcmp(name, "keygen")) return s_cmd_keygen(&o);
    if (!strcmp(name, "shard")) return s_cmd_shard(&o);
    hb_config *cfg = o.config ? s_load_config(o.config) : NULL;
    /* health with bridge.http "" (HTTP off) has no /healthz: it pings instead. */
    bool health_ping =
        !strcmp(name, "health") && o.nargs == 0 && cfg && !(cfg->bridge.http && *cfg->bridge.http);
    if (!strcmp(name, "health") && !health_ping) {
        int rc = s_cmd_health(&o, cfg);
        hb_config_destroy(&cfg);
        return rc;
    }
    s_curve_load(&o);
    const char *key = "control";
    if (!strcmp(name, "sub"))
        key = "inbox";
    else if (!strcmp(name, "events"))
        key = "events";
    else if (!strcmp(name, "send") && !o.via_control)
        key = "send";
    size_t n_eps = 0;
    char **eps = s_endpoints(&o, cfg, key, &n_eps);
    hb_config_destroy(&cfg);
    /* For messages: the endpoints as one text. */
    size_t jl = 1;
    for (size_t i = 0; i < n_eps; i++) jl += strlen(eps[i]) + 1;
    char *ep = calloc(1, jl);
    if (!ep) abort();
    for (size_t i = 0; i < n_eps; i++) {
        if (i) strcat(ep, ",");
        strcat(ep, eps[i]);
    }

    void *ctx = zmq_ctx_new();
    if (!ctx) {
        s_warn("zmq_ctx_new: %s", zmq_strerror(errno));
        free(ep);
        s_endpoints_free(eps, n_eps);
        free(o.endpoint);
        return EXIT_UNREACHABLE;
    }
    int rc;
    if (health_ping) {
        s_warn("health: bridge.http is off in %s; pinging the control socket instead", o.config);
        o.nargs = 0;
        rc = s_cmd_control(ctx, "ping", &o, eps, n_eps);
    } else if (!strcmp(name, "sub")) {
        rc = s_cmd_sub(ctx, &o, eps, n_eps, ep);
    } else if (!strcmp(name, "events")) {
        rc = s_cmd_events(ctx, &o, eps, n_eps, ep);
    } else if (!strcmp(name, "send")) {
        rc = s_cmd_send(ctx, &o, eps, n_eps);
    } else {
        rc = s_cmd_control(ctx, name, &o, eps, n_eps);
    }
    zmq_ctx_term(ctx);
    free(ep);
    s_endpoints_free(eps, n_eps);
    free(o.endpoint);
    return rc;
}
