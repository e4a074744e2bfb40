/*
 * pool_demo.c: libhoneybee on its own, no bridge, no ZeroMQ.
 *
 *   example_pool_demo URL [N]
 *
 * Connects one peer to URL, prints every lifecycle event and the first N
 * messages received (default 5), then shuts the pool down and exits 0.
 * Exits 1 if nothing arrives within 30 seconds.
 *
 * The sink runs on the pool's loop thread and must not block, so it only
 * prints and signals the main thread.
 */
#include <honeybee/pool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_cond = PTHREAD_COND_INITIALIZER;
static long s_got, s_want = 5;

static bool on_message(void *ud, hb_inbox_msg *m)
{
    pthread_mutex_lock(&s_mu);
    if (s_got < s_want) {
        printf("message %s seq=%llu conn=%u %s %.*s\n", m->peer_id, (unsigned long long)m->seq,
               m->conn, (m->flags & HB_MSG_F_BINARY) ? "binary" : "text", (int)m->len,
               (const char *)m->data);
        fflush(stdout);
    }
    s_got++;
    pthread_cond_signal(&s_cond);
    pthread_mutex_unlock(&s_mu);
    hb_inbox_msg_free(m);
    return true; /* never full: we print and drop */
}

static void on_event(void *ud, hb_event *e)
{
    printf("event %s %s", hb_event_kind_name(e->kind), e->id);
    if (e->code) printf(" code=%d", e->code);
    if (e->reason) printf(" reason=%s", e->reason);
    if (e->error) printf(" error=%s", e->error);
    printf("\n");
    fflush(stdout);
    hb_event_free(e);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s ws://host:port/path [N]\n", argv[0]);
        return 2;
    }
    if (argc > 2) s_want = strtol(argv[2], NULL, 10);

    hb_log_stderr_opts lo = {.json = false};
    hb_logger lg = {.fn = hb_log_stderr, .ud = &lo, .level = HB_LOG_WARN};
    hb_pool_config pc = {.sink = {.inbox = on_message, .event = on_event}, .logger = &lg};
    hb_pool *pool;
    int rc = hb_pool_new(&pc, &pool);
    if (rc) {
        fprintf(stderr, "hb_pool_new: %s\n", hb_strerror(rc));
        return 1;
    }

    /* Every option set explicitly; the daemon gets these from its YAML. */
    hb_peer_cfg peer = {0};
    peer.id = "demo";
    peer.url = argv[1];
    peer.opts.connect_timeout_ns = 10000000000ull;
    peer.opts.reconnect = (hb_reconnect_cfg){.initial_delay_ns = 500000000ull,
                                             .max_delay_ns = 5000000000ull,
                                             .multiplier = 2.0,
                                             .jitter = 0.2,
                                             .max_retries = 0,
                                             .stable_after_ns = 10000000000ull};
    peer.opts.keepalive =
        (hb_keepalive_cfg){.ping_interval_ns = 20000000000ull, .timeout_ns = 60000000000ull};
    peer.opts.write_timeout_ns = 10000000000ull;
    peer.opts.max_message_size = 16u << 20;
    peer.opts.send_queue = 1024;
    peer.opts.tls.verify = true;
    rc = hb_pool_connect(pool, &peer);
    if (rc) {
        fprintf(stderr, "hb_pool_connect: %s\n", hb_strerror(rc));
        hb_pool_destroy(&pool);
        return 1;
    }

    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 30;
    pthread_mutex_lock(&s_mu);
    while (s_got < s_want)
        if (pthread_cond_timedwait(&s_cond, &s_mu, &dl) != 0) break;
    long got = s_got;
    pthread_mutex_unlock(&s_mu);

    hb_pool_shutdown(pool, 1000000000ull);
    hb_pool_destroy(&pool);
    return got >= s_want ? 0 : 1;
}
