/*
 * zmq_consumer: a honeybee consumer in C with plain libzmq and jansson.
 *
 * It asks the bridge for its peers (control `list`), follows the inbox and
 * the events, decodes the 24-byte metadata frame (big-endian u8 version,
 * u8 flags, u16 reserved, u32 conn, u64 seq, u64 received_ns), reports seq
 * gaps (ZeroMQ dropped messages on the way here) and conn changes (the peer
 * reconnected), and can write one message to a peer through the send socket.
 *
 *   example_zmq_consumer [--inbox EP] [--events EP] [--send EP] [--control EP]
 *                        [--peer ID] [--count N] [--seconds T]
 *                        [--send-to ID] [--message TEXT] [--shard-of ID]
 *
 * Endpoints default to HONEYBEE_INBOX, HONEYBEE_EVENTS, HONEYBEE_SEND and
 * HONEYBEE_CONTROL (a bind address tcp://(star):5550 is read as 127.0.0.1),
 * else the bridge's defaults. Output: one line per thing seen, the same in
 * every example language (see examples/python/consumer.py). A bridge with
 * bridge.curve set needs --server-key (its public key, 40 characters of
 * Z85, or its public certificate file) and --cert (this client's
 * certificate with the secret key, `honeybee-cli keygen`), or
 * HONEYBEE_SERVER_KEY and HONEYBEE_CLIENT_CERT; czmq reads the
 * certificates (docs/security.md).
 *
 * Sharded bridges (bridge.shard "I/N"): each endpoint option takes a
 * comma-separated list, one endpoint per shard in shard order. Both SUB
 * sockets connect to every endpoint of their list, every control endpoint
 * is listed (`peers shard=I/N ...`), and --send-to goes to the owner's
 * send socket, found with s_shard_of (docs/protocol.md, "Sharding");
 * --shard-of ID prints which of the --send endpoints owns ID and exits.
 *
 * Single-threaded: both SUB sockets are read from one zmq_poll loop. It uses
 * nothing from libhoneybee: a consumer needs only a ZeroMQ binding.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <czmq.h>
#include <jansson.h>
#include <zmq.h>

typedef struct opts {
    const char *inbox, *events, *send, *control, *peer, *send_to, *message, *shard_of;
    const char *server_key, *cert;
    long count;
    double seconds;
} opts;

/* Last (conn, seq) seen per peer. A small array: examples follow few peers. */
typedef struct seen {
    char id[129];
    uint32_t conn;
    uint64_t seq;
} seen;

static seen s_seen[256];
static size_t s_nseen;

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

/* --flag, else the environment, else the default, as a comma-separated
 * list (one endpoint per shard); a bind address becomes loopback. Writes
 * the list into buf. */
static const char *s_endpoint(const char *flag, const char *env, const char *def, char *buf,
                              size_t len)
{
    const char *eps = flag ? flag : getenv(env);
    if (!eps || (!flag && !*eps)) eps = def;
    size_t used = 0;
    buf[0] = 0;
    while (*eps && used + 1 < len) {
        size_t n = strcspn(eps, ",");
        char ep[512];
        snprintf(ep, sizeof ep, "%.*s", (int)n, eps);
        eps += n + (eps[n] == ',');
        if (!*ep) continue;
        char *star = strstr(ep, "://*:"), *any = strstr(ep, "://0.0.0.0:");
        int w;
        if (star || any) {
            const char *port = strchr((star ? star : any) + 3, ':');
            w = snprintf(buf + used, len - used, "%s%.*s://127.0.0.1%s", used ? "," : "",
                         (int)((star ? star : any) - ep), ep, port);
        } else {
            w = snprintf(buf + used, len - used, "%s%s", used ? "," : "", ep);
        }
        used += w > 0 ? (size_t)w : 0;
    }
    return buf;
}

/* The i-th endpoint of a list into out; false past the end. */
static bool s_nth(const char *list, size_t i, char *out, size_t len)
{
    for (; i; i--) {
        list = strchr(list, ',');
        if (!list) return false;
        list++;
    }
    if (!*list) return false;
    snprintf(out, len, "%.*s", (int)strcspn(list, ","), list);
    return true;
}

static size_t s_count(const char *list)
{
    size_t n = *list ? 1 : 0;
    for (; *list; list++) n += *list == ',';
    return n;
}

/* The shard of n that owns a peer: FNV-1a 64 of the id's bytes, then the
 * jump consistent hash (docs/protocol.md, "Sharding"). The division is a
 * double, as in the definition. */
static uint32_t s_shard_of(const char *id, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
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

/* CURVE: the bridge's public key and this client's pair; all zero = off. */
static uint8_t s_server[32], s_pub[32], s_sec[32];
static bool s_curve;

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

/* --server-key/--cert, else the environment. 0, or -1 with a message. */
static int s_curve_load(const opts *o)
{
    const char *server = o->server_key ? o->server_key : getenv("HONEYBEE_SERVER_KEY");
    const char *cert = o->cert ? o->cert : getenv("HONEYBEE_CLIENT_CERT");
    if ((!server || !*server) && (!cert || !*cert)) return 0;
    if (!server || !*server || !cert || !*cert) {
        fprintf(stderr, "CURVE needs both --server-key and --cert\n");
        return -1;
    }
    if (!(strlen(server) == 40 && zmq_z85_decode(s_server, server))) {
        zcert_t *c = s_cert_load(server);
        if (!c) {
            fprintf(stderr, "--server-key %s: neither a Z85 key nor a certificate\n", server);
            return -1;
        }
        memcpy(s_server, zcert_public_key(c), 32);
        zcert_destroy(&c);
    }
    zcert_t *c = s_cert_load(cert);
    if (!c) {
        fprintf(stderr, "--cert %s: not a czmq certificate\n", cert);
        return -1;
    }
    memcpy(s_pub, zcert_public_key(c), 32);
    memcpy(s_sec, zcert_secret_key(c), 32);
    zcert_destroy(&c);
    s_curve = true;
    return 0;
}

/* Make `sock` a CURVE client of the bridge, before it connects. */
static void *s_secure(void *sock)
{
    if (sock && s_curve) {
        zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, s_server, 32);
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, s_pub, 32);
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s_sec, 32);
    }
    return sock;
}

static void s_list(void *ctx, const char *ep, bool sharded)
{
    void *req = s_secure(zmq_socket(ctx, ZMQ_REQ));
    int zero = 0;
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(req, ep);
    const char *body = "{\"op\":\"list\"}";
    zmq_send(req, body, strlen(body), 0);
    /* REQ has no retry of its own: one request, a poll with a timeout. */
    zmq_pollitem_t it = {.socket = req, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, 5000) <= 0) {
        printf("list failed error=timeout endpoint=%s\n", ep);
        zmq_close(req);
        return;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    zmq_msg_recv(&m, req, 0);
    json_t *r = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, NULL);
    zmq_msg_close(&m);
    zmq_close(req);
    if (!json_is_true(json_object_get(r, "ok"))) {
        const char *err = json_string_value(json_object_get(r, "error"));
        printf("list failed error=%s\n", err ? err : "bad_reply");
        json_decref(r);
        return;
    }
    json_t *peers = json_object_get(r, "peers");
    if (sharded) {
        json_t *si = json_object_get(r, "shard"), *sn = json_object_get(r, "shards");
        if (json_is_integer(si) && json_is_integer(sn))
            printf("peers shard=%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT " n=%zu",
                   json_integer_value(si), json_integer_value(sn), json_array_size(peers));
        else
            printf("peers shard=? n=%zu", json_array_size(peers));
    } else {
        printf("peers n=%zu", json_array_size(peers));
    }
    size_t i;
    json_t *p;
    json_array_foreach(peers, i, p)
    {
        printf(" %s=%s", json_string_value(json_object_get(p, "id")),
               json_string_value(json_object_get(p, "state")));
    }
    printf("\n");
    json_decref(r);
}

/* Receive one multipart message, up to 3 frames kept. Returns frame count. */
static int s_recv(void *sock, zmq_msg_t *f)
{
    int n = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        bool more = zmq_msg_more(&m);
        if (n < 3)
            f[n++] = m;
        else
            zmq_msg_close(&m);
        if (!more) break;
    }
    return n;
}

static void s_check(const char *peer, uint32_t conn, uint64_t seq)
{
    seen *s = NULL;
    for (size_t i = 0; i < s_nseen; i++)
        if (!strcmp(s_seen[i].id, peer)) s = &s_seen[i];
    if (!s) {
        if (s_nseen == sizeof s_seen / sizeof s_seen[0]) return;
        s = &s_seen[s_nseen++];
        snprintf(s->id, sizeof s->id, "%s", peer);
    } else {
        if (seq > s->seq + 1)
            printf("gap peer=%s lost=%" PRIu64 " seq=%" PRIu64 "->%" PRIu64 "\n", peer,
                   seq - s->seq - 1, s->seq, seq);
        else if (seq <= s->seq)
            printf("restart peer=%s seq=%" PRIu64 "->%" PRIu64 "\n", peer, s->seq, seq);
        if (conn != s->conn)
            printf("reconnect peer=%s conn=%" PRIu32 "->%" PRIu32 "\n", peer, s->conn, conn);
    }
    s->conn = conn;
    s->seq = seq;
}

static void s_on_inbox(const opts *o, zmq_msg_t *f, int n, long *got)
{
    if (n != 3 || zmq_msg_size(&f[2]) != 24) {
        printf("skip frames=%d\n", n);
        return;
    }
    char peer[129];
    size_t plen = zmq_msg_size(&f[0]);
    if (plen >= sizeof peer) return;
    memcpy(peer, zmq_msg_data(&f[0]), plen);
    peer[plen] = '\0';
    /* The subscription is a prefix match: compare frame 0 exactly. */
    if (o->peer && strcmp(peer, o->peer) != 0) return;
    const unsigned char *meta = zmq_msg_data(&f[2]);
    if (meta[0] != 1) {
        printf("skip version=%u\n", meta[0]);
        return;
    }
    bool binary = meta[1] & 1;
    uint32_t conn = (uint32_t)s_be(meta + 4, 4);
    uint64_t seq = s_be(meta + 8, 8);
    s_check(peer, conn, seq);
    printf("message peer=%s conn=%" PRIu32 " seq=%" PRIu64 " binary=%d data=", peer, conn, seq,
           binary);
    const unsigned char *d = zmq_msg_data(&f[1]);
    for (size_t i = 0; i < zmq_msg_size(&f[1]); i++) {
        if (binary)
            printf("%02x", d[i]);
        else if (d[i] == '\n')
            fputs("\\n", stdout);
        else
            putchar(d[i]);
    }
    putchar('\n');
    (*got)++;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"inbox", required_argument, NULL, 'i'},
        {"events", required_argument, NULL, 'e'},
        {"send", required_argument, NULL, 's'},
        {"control", required_argument, NULL, 'c'},
        {"peer", required_argument, NULL, 'p'},
        {"count", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 't'},
        {"send-to", required_argument, NULL, 'T'},
        {"message", required_argument, NULL, 'm'},
        {"server-key", required_argument, NULL, 'K'},
        {"cert", required_argument, NULL, 'C'},
        {"shard-of", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    opts o = {.message = "hello from c"};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            o.inbox = optarg;
            break;
        case 'e':
            o.events = optarg;
            break;
        case 's':
            o.send = optarg;
            break;
        case 'c':
            o.control = optarg;
            break;
        case 'p':
            o.peer = optarg;
            break;
        case 'n':
            o.count = strtol(optarg, NULL, 10);
            break;
        case 't':
            o.seconds = strtod(optarg, NULL);
            break;
        case 'T':
            o.send_to = optarg;
            break;
        case 'm':
            o.message = optarg;
            break;
        case 'K':
            o.server_key = optarg;
            break;
        case 'C':
            o.cert = optarg;
            break;
        case 'S':
            o.shard_of = optarg;
            break;
        default:
            fprintf(stderr,
                    "usage: %s [--inbox EP] [--events EP] [--send EP] [--control EP] "
                    "[--peer ID] [--count N] [--seconds T] [--send-to ID] "
                    "[--message TEXT] [--server-key KEY|FILE --cert FILE] [--shard-of ID]\n",
                    argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, even into a pipe */
    char inbox_ep[4096], events_ep[4096], send_ep[4096], control_ep[4096], ep[512];
    s_endpoint(o.inbox, "HONEYBEE_INBOX", "tcp://127.0.0.1:5550", inbox_ep, sizeof inbox_ep);
    s_endpoint(o.events, "HONEYBEE_EVENTS", "tcp://127.0.0.1:5551", events_ep, sizeof events_ep);
    s_endpoint(o.send, "HONEYBEE_SEND", "tcp://127.0.0.1:5552", send_ep, sizeof send_ep);
    s_endpoint(o.control, "HONEYBEE_CONTROL", "tcp://127.0.0.1:5553", control_ep,
               sizeof control_ep);

    /* --shard-of ID: which of the send endpoints owns ID, and nothing else
     * (the routing --send-to does, shown; the tests pin it). */
    if (o.shard_of) {
        size_t n = s_count(send_ep);
        printf("shard peer=%s shard=%u/%zu\n", o.shard_of,
               s_shard_of(o.shard_of, (uint32_t)(n ? n : 1)), n ? n : 1);
        return 0;
    }
    if (s_curve_load(&o) != 0) return 2;
    void *ctx = zmq_ctx_new();
    int zero = 0;
    void *inbox = s_secure(zmq_socket(ctx, ZMQ_SUB));
    zmq_setsockopt(inbox, ZMQ_LINGER, &zero, sizeof zero);
    const char *topic = o.peer ? o.peer : "";
    zmq_setsockopt(inbox, ZMQ_SUBSCRIBE, topic, strlen(topic));
    void *events = s_secure(zmq_socket(ctx, ZMQ_SUB));
    zmq_setsockopt(events, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(events, ZMQ_SUBSCRIBE, "", 0);
    /* One SUB to every shard: a peer lives on one, so its seq and conn
     * stay one sequence. */
    for (size_t i = 0; s_nth(inbox_ep, i, ep, sizeof ep); i++)
        if (zmq_connect(inbox, ep) != 0) {
            fprintf(stderr, "connect %s: %s\n", ep, zmq_strerror(zmq_errno()));
            return 1;
        }
    for (size_t i = 0; s_nth(events_ep, i, ep, sizeof ep); i++)
        if (zmq_connect(events, ep) != 0) {
            fprintf(stderr, "connect %s: %s\n", ep, zmq_strerror(zmq_errno()));
            return 1;
        }
    printf("ready inbox=%s\n", inbox_ep);

    size_t n_control = s_count(control_ep);
    for (size_t i = 0; s_nth(control_ep, i, ep, sizeof ep); i++) s_list(ctx, ep, n_control > 1);

    if (o.send_to) {
        /* A peer's messages go to its owner's send socket; "*" to every shard. */
        size_t n_send = s_count(send_ep);
        bool all = !strcmp(o.send_to, "*");
        size_t owner = all || !n_send ? 0 : s_shard_of(o.send_to, (uint32_t)n_send);
        for (size_t i = 0; s_nth(send_ep, i, ep, sizeof ep); i++) {
            if (!all && i != owner) continue;
            void *push = s_secure(zmq_socket(ctx, ZMQ_PUSH));
            int linger = 5000; /* let the message leave before close */
            zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
            zmq_connect(push, ep);
            /* Refusals come back as send_failed events: PULL is one-way. */
            zmq_send(push, o.send_to, strlen(o.send_to), ZMQ_SNDMORE);
            zmq_send(push, o.message, strlen(o.message), 0);
            zmq_close(push);
        }
        printf("sent peer=%s\n", o.send_to);
    }

    double deadline = o.seconds > 0 ? s_now() + o.seconds : 0;
    long got = 0;
    while (o.count == 0 || got < o.count) {
        long wait = 200;
        if (deadline > 0) {
            double left = deadline - s_now();
            if (left <= 0) break;
            if (left * 1000 < wait) wait = (long)(left * 1000) + 1;
        }
        zmq_pollitem_t items[2] = {{.socket = events, .events = ZMQ_POLLIN},
                                   {.socket = inbox, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, 2, wait) < 0) break; /* interrupted */
        zmq_msg_t f[3];
        if (items[0].revents & ZMQ_POLLIN) {
            int n = s_recv(events, f);
            if (n == 3)
                printf("event kind=%.*s id=%.*s json=%.*s\n", (int)zmq_msg_size(&f[0]),
                       (char *)zmq_msg_data(&f[0]), (int)zmq_msg_size(&f[1]),
                       (char *)zmq_msg_data(&f[1]), (int)zmq_msg_size(&f[2]),
                       (char *)zmq_msg_data(&f[2]));
            for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
        }
        if (items[1].revents & ZMQ_POLLIN) {
            int n = s_recv(inbox, f);
            s_on_inbox(&o, f, n, &got);
            for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
        }
    }
    printf("done messages=%ld\n", got);
    zmq_close(inbox);
    zmq_close(events);
    zmq_ctx_term(ctx);
    return 0;
}
