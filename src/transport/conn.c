/*
 * conn.c: one outbound WebSocket connection on libwebsockets (the dialer
 * of worker.h). Loop thread only.
 *
 * A dial goes: hb_conn_dial (parse URL, pick the TLS vhost, arm the
 * connect_timeout timer) -> next loop turn: resolve on a resolver thread
 * unless the host is numeric -> lws_client_connect_via_info with the IP in
 * .address and the name in .host (lws uses .host for SNI and certificate
 * host-name checks) -> ESTABLISHED or CONNECTION_ERROR.
 *
 * Lifetime: the struct is held by up to four things: the owner (until a
 * terminal callback or hb_conn_close), the lws wsi (until WSI_DESTROY), a
 * resolver job, and our own code while it is on the stack (`busy`). It is
 * freed when none holds it, and only by s_release, which every entry point
 * (timer, resolver note, lws callback, owner call) calls exactly once on its
 * way out: a nested call (lws failing synchronously inside
 * lws_client_connect_via_info, say) never frees what an outer frame still
 * looks at. hb_conn_close detaches the owner at once, so the owner's
 * disconnect handling never waits for lws's close handshake; the socket
 * finishes closing on its own (and is killed after a grace period if the
 * peer never answers the close).
 *
 * How a connection ended (hb_conn_end_cause): a close frame from the peer;
 * else, at LWS_CALLBACK_CLIENT_CLOSED, a socket that is still healthy (a
 * non-blocking MSG_PEEK says "nothing yet" or shows data, not EOF or an
 * error) means lws itself gave up on the stream, which lws 4.1.6 only does
 * for a protocol violation it found while parsing (RSV bits, reserved
 * opcode, bad continuation, oversized control frame...): it reports no
 * callback for that and sends no close frame. Anything else is a lost
 * connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/url.h"
#include "honeybee/worker.h"
#include "transport/conn.h"
#include "transport/loop.h"

#define S_KILL_GRACE_NS (2000ull * 1000 * 1000)

struct hb_conn {
    hb__loop *loop;
    const hb_conn_ops *ops;
    void *ud;
    bool owned;          /* owner attached: callbacks allowed */
    bool opened;         /* handshake done */
    bool wsi_live;       /* lws has a wsi pointing at us */
    bool resolving;      /* a resolver job holds us */
    bool closing;        /* close requested; close_code/close_reason hold it */
    bool write_failed;   /* an lws_write failed: the socket is broken */
    bool hdrs_too_large; /* the extra headers did not fit lws's buffer */
    bool in_connect;     /* inside lws_client_connect_via_info */
    bool rx_seen;        /* TLS: something was received since the last tick */
    uint8_t quiet_ticks; /* TLS: loop ticks without anything received */
    hb_conn_end end;     /* how it ended, set before on_closed */
    int busy;            /* >0 while our own code is on the stack: do not free */
    struct lws *wsi;
    struct lws_vhost *vhost;
    /* end_t is connect_timeout while the owner is attached, then the kill
     * grace after hb_conn_close: the two never overlap, one timer does both. */
    hb__timer start_t, end_t;
    hb__resolve *res; /* the lookup in flight (resolving), else NULL */
    int close_code;
    char *close_reason; /* hb_conn_close's text, NULL if none */
    int peer_code;
    char *peer_reason; /* the peer's close text, NULL if none */
    bool tls;
    bool numeric;
    int ssl_flags;
    int port;
    char *host;     /* bare host name/IP, for the resolver */
    char *host_hdr; /* Host header and TLS name: host[:port] */
    char *path;
    char *protocols; /* comma list or NULL */
    char *hdrs;      /* extra handshake headers, "Name: value\r\n"... */
    size_t hdrs_len;
    hb__link tls_link; /* on the loop's list of open TLS connections */
};

/*
 * Idle TLS memory. lws sets SSL_MODE_RELEASE_BUFFERS, yet with TLS 1.3
 * OpenSSL 3.0 keeps the read buffer (16 KiB of record plus overhead, about
 * 21 KiB of heap) once the first record was read, for the life of the
 * connection: 40 % of an idle wss peer (50 KiB measured before this).
 * SSL_free_buffers() releases it when no record is pending (it refuses
 * otherwise) and OpenSSL allocates it again on the next read. So a TLS
 * connection that received nothing for HB__TLS_QUIET_TICKS ticks of the
 * loop (500 ms each) gets its buffers freed; the check is repeated every 8
 * quiet ticks, since lws answers a server's ping without telling us (the
 * read buffer comes back then). The per-message cost is one store.
 */

/* Loop thread, from the loop's tick, for each open TLS connection. */
void hb__conn_tls_idle(hb__link *l)
{
    hb_conn *c = lws_container_of(l, hb_conn, tls_link);
    if (c->rx_seen) {
        c->rx_seen = false;
        c->quiet_ticks = 0;
        return;
    }
    if (c->quiet_ticks < 255) c->quiet_ticks++;
    if (c->quiet_ticks < HB__TLS_QUIET_TICKS || (c->quiet_ticks - HB__TLS_QUIET_TICKS) % 8 != 0)
        return;
    SSL *ssl = c->wsi ? lws_get_ssl(c->wsi) : NULL;
    /* 0 = a record is pending: next time. 1 also when nothing was held, so
     * only the first release of a quiet period is counted. */
    if (ssl && SSL_free_buffers(ssl) && c->quiet_ticks == HB__TLS_QUIET_TICKS)
        hb__loop_tls_trimmed(c->loop);
}

static const lws_retry_bo_t s_no_validity = {
    .secs_since_valid_ping = 0xfffe,
    .secs_since_valid_hangup = 0xffff,
};

/* What only the dial needs (lws keeps its own copies once connecting):
 * freed when the handshake completes, so an open connection holds none. */
static void s_free_dial_info(hb_conn *c)
{
    free(c->host);
    free(c->host_hdr);
    free(c->path);
    free(c->protocols);
    free(c->hdrs);
    c->host = c->host_hdr = c->path = c->protocols = c->hdrs = NULL;
    c->hdrs_len = 0;
}

static void s_maybe_free(hb_conn *c)
{
    if (c->owned || c->wsi_live || c->resolving || c->busy) return;
    if (c->vhost) hb__loop_vhost_release(c->loop, c->vhost);
    hb__loop_tls_unlink(c->loop, &c->tls_link);
    hb__timer_cancel(&c->start_t);
    hb__timer_cancel(&c->end_t);
    s_free_dial_info(c);
    free(c->close_reason);
    free(c->peer_reason);
    free(c);
}

/* Every entry point holds the struct with s_hold while it works and lets
 * go with s_release on its way out; only the outermost release frees. */
static void s_hold(hb_conn *c)
{
    c->busy++;
}

static void s_release(hb_conn *c)
{
    c->busy--;
    s_maybe_free(c);
}

static void s_kill(hb_conn *c)
{
    if (c->wsi_live && c->wsi) lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* The dial failed: tell the owner once, then forget it. A lookup still in
 * flight is abandoned (the resolver skips it if it has not started). */
static void s_fail(hb_conn *c, const char *error)
{
    if (!c->owned) return;
    c->owned = false;
    hb__timer_cancel(&c->end_t);
    if (c->resolving) hb__resolve_abandon(c->res);
    c->ops->on_dial_failed(c->ud, c, error);
}

#define S_SYNC_FAIL                                                                              \
    "connect failed (lws refused the connection: out of file descriptors or memory, or the URL " \
    "is too long)"

static void s_closed(hb_conn *c)
{
    if (!c->owned) return;
    if (!c->opened) {
        s_fail(c, c->hdrs_too_large ? "handshake headers too large"
                  : c->in_connect   ? S_SYNC_FAIL
                                    : "connection closed during the handshake");
        return;
    }
    c->owned = false;
    /* SPEC.md section 5: the code received, else the one sent, else 1006.
     * lws sends no close frame when it drops a peer for a protocol error,
     * so that case is 1006 too; the reason word tells it apart. */
    int code = c->peer_code ? c->peer_code : 1006;
    c->ops->on_closed(c->ud, c, code, c->peer_reason && c->peer_reason[0] ? c->peer_reason : NULL);
}

/* LWS_CALLBACK_CLIENT_CLOSED: why did it end? See the top of the file. */
static void s_classify_end(hb_conn *c, struct lws *wsi)
{
    if (c->peer_code) {
        c->end = HB_CONN_END_PEER_CLOSE;
        return;
    }
    c->end = HB_CONN_END_LOST;
    if (!c->opened || c->write_failed) return;
    int fd = lws_get_socket_fd(wsi);
    if (fd < 0) return;
    char b;
    ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
        c->end = HB_CONN_END_PROTOCOL_ERROR;
}

static void s_connect(hb_conn *c, const char *addr)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = hb__loop_ctx(c->loop);
    ci.address = addr;
    ci.port = c->port;
    ci.ssl_connection = c->ssl_flags;
    ci.path = c->path;
    ci.host = c->host_hdr;
    ci.protocol = c->protocols;
    ci.local_protocol_name = "honeybee";
    ci.ietf_version_or_minus_one = -1;
    ci.vhost = c->vhost;
    ci.pwsi = &c->wsi;
    ci.opaque_user_data = c;
    ci.retry_and_idle_policy = &s_no_validity;
    c->wsi_live = true;
    hb__loop_conn_count(c->loop, 1);
    /* lws may call back (and even destroy the wsi) inside the call; the
     * caller's s_hold keeps the struct alive until it is done with it. */
    c->in_connect = true;
    lws_client_connect_via_info(&ci);
    c->in_connect = false;
    /* lws may have failed and destroyed the wsi inside the call; pwsi tells. */
    if (!c->wsi && c->wsi_live) {
        c->wsi_live = false;
        hb__loop_conn_count(c->loop, -1);
        s_fail(c, c->hdrs_too_large ? "handshake headers too large" : S_SYNC_FAIL);
    }
}

/* A lookup and the connection waiting for it: allocated only for a host
 * name (most peers dial an address or a name once in a while, and an open
 * connection should not carry 200 bytes of lookup buffers). */
typedef struct s_lookup {
    hb__resolve r; /* first: the resolver links jobs through r.note */
    hb_conn *c;
} s_lookup;

/* Loop thread: the resolver's answer (or the loop's teardown). */
static void s_resolved(hb__note *n, bool cancelled)
{
    s_lookup *job = lws_container_of(n, s_lookup, r.note);
    hb_conn *c = job->c;
    s_hold(c);
    c->resolving = false;
    c->res = NULL;
    if (cancelled) c->vhost = NULL; /* the loop is being torn down: touch nothing of it */
    if (!cancelled && c->owned) {
        if (job->r.addr[0])
            s_connect(c, job->r.addr);
        else
            s_fail(c, job->r.error);
    }
    free(job);
    s_release(c);
}

/* Loop thread, the turn after hb__conn_dial. */
static void s_start(void *ud)
{
    hb_conn *c = ud;
    s_hold(c);
    if (c->owned) {
        if (c->numeric) {
            s_connect(c, c->host);
        } else {
            s_lookup *job = calloc(1, sizeof(*job));
            char e[160];
            if (!job) {
                s_fail(c, "out of memory");
            } else {
                job->c = c;
                job->r.host = c->host;
                job->r.owner = c->ud;
                job->r.note.fn = s_resolved;
                if (hb__resolve_submit(c->loop, &job->r, e, sizeof(e)) == 0) {
                    c->res = &job->r;
                    c->resolving = true;
                } else {
                    free(job);
                    s_fail(c, e);
                }
            }
        }
    }
    s_release(c);
}

/* Loop thread: end_t. With the owner attached it is connect_timeout; after
 * hb_conn_close it is the grace the close handshake had. */
static void s_end_timer(void *ud)
{
    hb_conn *c = ud;
    if (!c->owned) {
        s_kill(c);
        return;
    }
    if (c->opened) return;
    s_hold(c);
    s_kill(c);
    s_fail(c, "connect timeout");
    s_release(c);
}

/* ---- building a dial ---------------------------------------------------- */

static char *s_ndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static bool s_append(hb_conn *c, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 4;
    char *h = realloc(c->hdrs, c->hdrs_len + n + 1);
    if (!h) return false;
    c->hdrs = h;
    c->hdrs_len += (size_t)snprintf(h + c->hdrs_len, n + 1, "%s: %s\r\n", name, value);
    return true;
}

hb_conn *hb__conn_dial(hb__loop *loop, const hb_peer_cfg *cfg, const hb_conn_ops *ops, void *ud,
                       int *err)
{
    hb__ws_url u;
    *err = 0;
    if (!cfg->url || !hb__ws_url_parse(cfg->url, &u)) {
        *err = HB_E_INVALID_URL;
        return NULL;
    }
    hb_conn *c = calloc(1, sizeof(*c));
    if (!c) goto nomem;
    c->loop = loop;
    c->ops = ops;
    c->ud = ud;
    c->tls = u.tls;
    c->port = u.port;
    c->host = s_ndup(cfg->url + u.host_off, u.host_len);
    if (!c->host) goto nomem;
    unsigned char tmp[16];
    c->numeric = inet_pton(AF_INET, c->host, tmp) == 1 || inet_pton(AF_INET6, c->host, tmp) == 1;
    bool v6 = strchr(c->host, ':') != NULL;
    size_t hl = strlen(c->host) + 16;
    c->host_hdr = malloc(hl);
    if (!c->host_hdr) goto nomem;
    if (u.port_given)
        snprintf(c->host_hdr, hl, v6 ? "[%s]:%u" : "%s:%u", c->host, (unsigned)u.port);
    else
        snprintf(c->host_hdr, hl, v6 ? "[%s]" : "%s", c->host);
    const char *p = cfg->url + u.path_off;
    if (*p == '/')
        c->path = strdup(p);
    else {
        size_t pl = strlen(p) + 2;
        c->path = malloc(pl);
        if (c->path) snprintf(c->path, pl, "/%s", p);
    }
    if (!c->path) goto nomem;

    bool have_ua = false;
    for (size_t i = 0; i < cfg->n_headers; i++) {
        const hb_header *h = &cfg->headers[i];
        if (!h->name || !h->value) continue;
        /* Origin goes out verbatim here: lws's .origin would prefix "http://". */
        if (strcasecmp(h->name, "Host") == 0) continue; /* lws writes Host from the URL */
        if (strcasecmp(h->name, "User-Agent") == 0) have_ua = true;
        if (!s_append(c, h->name, h->value)) goto nomem;
    }
    if (!have_ua && !s_append(c, "User-Agent", "honeybee/" HB_VERSION_STRING)) goto nomem;
    if (cfg->n_subprotocols) {
        size_t n = 1;
        for (size_t i = 0; i < cfg->n_subprotocols; i++) n += strlen(cfg->subprotocols[i]) + 2;
        if (!(c->protocols = malloc(n))) goto nomem;
        c->protocols[0] = 0;
        for (size_t i = 0; i < cfg->n_subprotocols; i++) {
            if (i) strcat(c->protocols, ", ");
            strcat(c->protocols, cfg->subprotocols[i]);
        }
    }
    if (c->tls) {
        c->ssl_flags = LCCSCF_USE_SSL;
        if (!cfg->opts.tls.verify) {
            c->ssl_flags |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                            LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
            HB_LOG(hb__loop_logger(loop), HB_LOG_WARN, cfg->id,
                   "TLS certificate and host name NOT verified (tls.verify: false)");
        }
    }
    char e[200];
    c->vhost = hb__loop_vhost_acquire(loop, c->tls ? &cfg->opts.tls : NULL, e, sizeof(e));
    if (!c->vhost) {
        HB_LOG(hb__loop_logger(loop), HB_LOG_ERROR, cfg->id, "%s", e);
        *err = HB_E_TLS;
        goto fail;
    }
    c->owned = true;
    hb__timer_init(&c->start_t, loop, s_start, c);
    hb__timer_init(&c->end_t, loop, s_end_timer, c);
    hb__timer_arm(&c->start_t, 0);
    if (cfg->opts.connect_timeout_ns) hb__timer_arm(&c->end_t, cfg->opts.connect_timeout_ns);
    return c;
nomem:
    *err = HB_E_NOMEM;
fail:
    if (c) {
        c->owned = false;
        free(c->host);
        free(c->host_hdr);
        free(c->path);
        free(c->protocols);
        free(c->hdrs);
        free(c);
    }
    return NULL;
}

/* ---- the owner's calls ---------------------------------------------------- */

size_t hb_conn_headroom(void)
{
    return LWS_PRE;
}

int hb_conn_write(hb_conn *c, unsigned char *buf, size_t len, int kind)
{
    if (!c->wsi_live || !c->wsi) return -1;
    enum lws_write_protocol wp = kind == 0   ? LWS_WRITE_TEXT
                                 : kind == 1 ? LWS_WRITE_BINARY
                                             : LWS_WRITE_PING;
    int n = lws_write(c->wsi, buf + LWS_PRE, len, wp);
    /* Compare as size_t: an int cast of a length >= 2 GiB goes negative. */
    if (n < 0 || (size_t)n < len) {
        c->write_failed = true;
        return -1;
    }
    return 0;
}

size_t hb_conn_rx_remaining(hb_conn *c)
{
    return c->wsi_live && c->wsi ? lws_remaining_packet_payload(c->wsi) : 0;
}

hb_conn_end hb_conn_end_cause(const hb_conn *c)
{
    return c->end;
}

void hb_conn_want_write(hb_conn *c)
{
    if (c->wsi_live && c->wsi) lws_callback_on_writable(c->wsi);
}

void hb_conn_rx(hb_conn *c, bool enable)
{
    if (c->wsi_live && c->wsi && c->opened) lws_rx_flow_control(c->wsi, enable ? 1 : 0);
}

void hb_conn_close(hb_conn *c, int code, const char *reason)
{
    if (!c || !c->owned) return;
    c->owned = false;
    hb__timer_cancel(&c->end_t);
    if (c->resolving) hb__resolve_abandon(c->res);
    if (c->wsi_live && c->wsi) {
        if (c->opened) {
            c->closing = true;
            c->close_code = code;
            /* A close frame's text is at most 123 bytes (RFC 6455 5.5). On
             * no memory the close goes out without text. */
            free(c->close_reason);
            c->close_reason = reason && *reason ? strndup(reason, 123) : NULL;
            lws_callback_on_writable(c->wsi);
        } else {
            s_kill(c);
        }
        hb__timer_arm(&c->end_t, S_KILL_GRACE_NS);
    }
    s_maybe_free(c);
}

/* ---- the lws callback ----------------------------------------------------- */

/*
 * After an owner callback ran inside an lws callback: close if asked.
 *
 * Only the WRITEABLE callback may end the connection by returning -1. lws
 * 4.1.6 (and 4.3.5) handles a non-zero return from a receive callback
 * (RECEIVE, RECEIVE_PONG) by returning from its byte parser *before* it
 * resets the frame's receive-buffer index, then parses the rest of the
 * buffered frame again and writes each byte one past the 4 KiB buffer: a
 * remote heap overwrite. So a close decided while lws is parsing stops
 * reading (rx flow control, nothing more is delivered to us), asks for
 * WRITEABLE, and is carried out there (lws_close_reason, then -1), a path
 * lws handles like any close. Bytes lws still hands us meanwhile are
 * dropped (the owner is detached). The kill grace timer bounds the wait.
 */
static int s_after(hb_conn *c, struct lws *wsi, bool may_close)
{
    if (!c->closing) return 0;
    if (!may_close) {
        lws_rx_flow_control(wsi, 0);
        lws_callback_on_writable(wsi);
        return 0;
    }
    const char *r = c->close_reason ? c->close_reason : "";
    lws_close_reason(wsi, (enum lws_close_status)c->close_code, (unsigned char *)r, strlen(r));
    c->closing = false;
    return -1;
}

/* Loop thread: one lws event for a connection of ours. */
static int s_dispatch(hb_conn *c, struct lws *wsi, enum lws_callback_reasons reason, void *in,
                      size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        char **p = in;
        if (!c->hdrs_len) return 0;
        if ((size_t)len <= c->hdrs_len + 1) {
            /* Dropping them silently would dial without, say, the
             * Authorization header: fail the dial and say why. */
            c->hdrs_too_large = true;
            s_fail(c, "handshake headers too large");
            return -1;
        }
        memcpy(*p, c->hdrs, c->hdrs_len);
        *p += c->hdrs_len;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        char e[160] = "connection failed";
        if (in)
            snprintf(e, sizeof(e), "%.*s", (int)(len ? len : strnlen(in, sizeof(e) - 1)),
                     (const char *)in);
        s_fail(c, e);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (c->owned) hb__timer_cancel(&c->end_t); /* else it is the kill grace */
        c->opened = true;
        s_free_dial_info(c);
        hb__loop_dial_done(c->loop);
        if (c->tls) hb__loop_tls_link(c->loop, &c->tls_link);
        if (!c->owned) return -1;
        c->ops->on_open(c->ud, c);
        return s_after(c, wsi, false);
    case LWS_CALLBACK_CLIENT_RECEIVE:
        c->rx_seen = true;
        if (!c->owned) return s_after(c, wsi, false); /* closing: drop what lws still parses */
        c->ops->on_data(c->ud, c, in, len, lws_is_first_fragment(wsi) != 0,
                        lws_is_final_fragment(wsi) != 0, lws_frame_is_binary(wsi) != 0);
        return s_after(c, wsi, false);
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
        c->rx_seen = true;
        if (c->owned) c->ops->on_pong(c->ud, c);
        return s_after(c, wsi, false);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c->closing || !c->owned) return s_after(c, wsi, true);
        if (c->ops->on_writable(c->ud, c) < 0) {
            c->write_failed = true; /* our drop, not the peer's protocol error */
            return -1;
        }
        return s_after(c, wsi, true);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *b = in;
            c->peer_code = (b[0] << 8) | b[1];
            size_t n = len - 2 < 123 ? len - 2 : 123; /* RFC 6455 5.5: at most 123 */
            free(c->peer_reason);
            c->peer_reason = n ? malloc(n + 1) : NULL; /* no memory: no text */
            if (c->peer_reason) {
                memcpy(c->peer_reason, b + 2, n);
                c->peer_reason[n] = 0;
            }
        } else {
            c->peer_code = 1005;
        }
        c->end = HB_CONN_END_PEER_CLOSE;
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c->owned) s_classify_end(c, wsi);
        s_closed(c);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        hb__loop_tls_unlink(c->loop, &c->tls_link);
        if (!c->opened) hb__loop_dial_done(c->loop);
        if (c->wsi_live) {
            c->wsi_live = false;
            hb__loop_conn_count(c->loop, -1);
        }
        c->wsi = NULL;
        lws_set_opaque_user_data(wsi, NULL);
        s_closed(c);
        return 0;
    default:
        return 0;
    }
}

/* Loop thread: lws calls this for every event on our protocol. */
int hb__conn_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        hb__loop_wait_cancelled(wsi);
        return 0;
    }
    hb_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    if (!c) return 0;
    s_hold(c);
    int rc = s_dispatch(c, wsi, reason, in, len);
    s_release(c);
    return rc;
}
