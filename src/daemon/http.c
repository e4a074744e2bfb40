/*
 * http.c: /healthz, /readyz and /metrics over a libwebsockets HTTP server.
 *
 * The server has its own lws context, serviced by its own thread (lws
 * allows one service thread per context; the pool's context is a different
 * one). The only cross-thread call is lws_cancel_service() from
 * hb__http_stop, answered on the HTTP thread, which then leaves its loop
 * and destroys the context itself. A response is rendered whole by the
 * daemon's handler when the request arrives, then written in chunks, one
 * lws_write per WRITEABLE callback, as lws requires.
 *
 * The listen address is checked with a plain bind(2) first, so that an
 * address in use is reported with the system's reason (lws only says it
 * failed).
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "core/url.h"
#include "daemon/http.h"

#define S_CHUNK 16384

struct hb__http {
    struct lws_context *ctx; /* HTTP thread only, after creation */
    pthread_t thread;
    _Atomic bool stop; /* main thread sets, HTTP thread reads */
    hb__http_handler fn;
    void *ud;
    const hb_logger *lg;
    char iface[INET6_ADDRSTRLEN + 1];
    int port;
    /* HTTP thread only: the chunk being written (lws_write copies what it
     * cannot send at once), reused for every chunk of every response. */
    unsigned char wbuf[LWS_PRE + S_CHUNK];
};

/* Per-request state, owned by lws (per_session_data_size). HTTP thread. */
typedef struct s_req {
    char *body;
    size_t len, off;
} s_req;

/* HTTP thread. */
static int s_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    s_req *rq = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        hb__http *h = lws_context_user(lws_get_context(wsi));
        int status = 404;
        const char *ctype = "text/plain; charset=utf-8";
        size_t blen = 0;
        char *body = h->fn(h->ud, in ? (const char *)in : "/", &status, &ctype, &blen);
        free(rq->body);
        rq->body = body;
        rq->len = body ? blen : 0;
        rq->off = 0;
        unsigned char buf[LWS_PRE + 512];
        unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
        if (lws_add_http_common_headers(wsi, (unsigned int)status, ctype, rq->len, &p, end))
            return 1;
        if (lws_finalize_write_http_header(wsi, start, &p, end)) return 1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!rq) return -1;
        size_t n = rq->len - rq->off;
        if (n > S_CHUNK) n = S_CHUNK;
        bool last = rq->off + n >= rq->len;
        hb__http *h = lws_context_user(lws_get_context(wsi));
        unsigned char *buf = h->wbuf;
        if (n) memcpy(buf + LWS_PRE, rq->body + rq->off, n);
        int w = lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
        if (w < (int)n) return -1;
        rq->off += n;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
        free(rq->body);
        rq->body = NULL;
        if (lws_http_transaction_completed(wsi)) return -1;
        return 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
        if (rq) {
            free(rq->body);
            rq->body = NULL;
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols s_protocols[] = {
    {"http", s_callback, sizeof(s_req), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* The HTTP thread: service until told to stop, then destroy the context. */
static void *s_run(void *arg)
{
    hb__http *h = arg;
    while (!atomic_load(&h->stop))
        if (lws_service(h->ctx, 0) < 0) {
            /* Broken context: stop serving (/healthz then fails to connect,
             * which is what an orchestrator should see), but keep the
             * context alive for hb__http_stop's lws_cancel_service. */
            HB_LOG(h->lg, HB_LOG_ERROR, NULL, "http: lws_service failed, not serving");
            while (!atomic_load(&h->stop)) usleep(100000);
        }
    lws_context_destroy(h->ctx);
    return NULL;
}

int hb__http_start(const char *hostport, hb__http_handler fn, void *ud, const hb_logger *lg,
                   hb__http **out, char *err, size_t cap)
{
    char host[256];
    int port = 0;
    *out = NULL;
    if (!hb__hostport_split(hostport, host, sizeof(host), &port)) {
        snprintf(err, cap, "http: invalid address \"%s\" (expected host:port)", hostport);
        return HB_E_CONFIG;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int gai = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, cap, "cannot bind http endpoint %s: %s", hostport, gai_strerror(gai));
        return HB_E_BIND;
    }
    /* Probe with a plain bind so the failure says why. */
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        snprintf(err, cap, "cannot bind http endpoint %s: %s", hostport, strerror(e));
        return HB_E_BIND;
    }
    close(fd);
    hb__http *h = calloc(1, sizeof(*h));
    if (!h) {
        freeaddrinfo(ai);
        return HB_E_NOMEM;
    }
    h->fn = fn;
    h->ud = ud;
    h->lg = lg;
    h->port = port;
    if (host[0])
        getnameinfo(ai->ai_addr, ai->ai_addrlen, h->iface, sizeof(h->iface), NULL, 0,
                    NI_NUMERICHOST);
    freeaddrinfo(ai);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = port;
    info.iface = h->iface[0] ? h->iface : NULL;
    info.protocols = s_protocols;
    info.user = h;
    info.gid = -1;
    info.uid = -1;
    /* No TLS here, and no signal handling: the daemon owns signals. */
    info.options = 0;
    h->ctx = lws_create_context(&info);
    if (!h->ctx) {
        snprintf(err, cap, "cannot bind http endpoint %s: libwebsockets could not listen",
                 hostport);
        free(h);
        return HB_E_BIND;
    }
    if (pthread_create(&h->thread, NULL, s_run, h) != 0) {
        lws_context_destroy(h->ctx);
        free(h);
        snprintf(err, cap, "cannot start the http thread");
        return HB_E_INTERNAL;
    }
    HB_LOG(lg, HB_LOG_INFO, NULL, "http: listening on %s", hostport);
    *out = h;
    return 0;
}

void hb__http_stop(hb__http **hp)
{
    hb__http *h = *hp;
    if (!h) return;
    atomic_store(&h->stop, true);
    /* The context lives until the thread has seen `stop`. A cancel that
     * lands before the thread enters lws_service still wakes it (lws keeps
     * it in a pipe). */
    lws_cancel_service(h->ctx);
    pthread_join(h->thread, NULL);
    free(h);
    *hp = NULL;
}
