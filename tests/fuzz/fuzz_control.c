/*
 * fuzz_control.c: libFuzzer target for hb__ctl_parse, the parser of every
 * frame a ZeroMQ client sends to the control REP socket (SPEC.md section
 * 6). Any byte string goes in; it must come back as a request or as an
 * error code with a message, never crash, leak or read out of bounds.
 *
 * Beyond "no crash" the target checks the parser's contract, which the
 * rest of control.c relies on without re-checking:
 *   - success: the fields each op needs are there, strings are
 *     NUL-terminated at their length, `connect` has a valid id and its
 *     `options` (if any) is the text of a JSON object, `send` text data is
 *     UTF-8 (control.c sends it as a text message unchecked);
 *   - failure: the code is one of the three the parser may give, and the
 *     error reply built from it is a JSON object with ok=false, the code's
 *     name and a message (so the client always learns why).
 * The pure steps a real request takes next are run too: a binary `send`'s
 * base64, a `connect`'s options merged through hb_peer_cfg_from_json.
 * A request that parsed holds at most HB__CTL_MAX_MARKS + 1 JSON values:
 * the pre-scan that bounds jansson's allocations never undercounts (a
 * string scanner that lost track of an escaped quote would).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bridge/bridge.h"
#include "core/utf8.h"
#include "honeybee/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hb_config *s_defaults;

/*
 * Regression: hb__ctl_parse can hand over a text that is not UTF-8 (jansson's
 * error for a bad escape quotes the raw byte after the backslash, e.g.
 * {"op":"\<DE B7>"}, hex 7b226f70223a225cdeb7227d); the reply must still
 * carry a "message".
 */

/* The reply to a failed request must say ok=false, the code and why. */
static void s_check_error_reply(int rc, const char *msg)
{
    char *reply = hb__ctl_error_reply(rc, msg);
    if (!reply) abort(); /* no ENOMEM under the fuzzer: NULL is a bug */
    json_error_t jerr;
    json_t *o = json_loads(reply, 0, &jerr);
    if (!o || !json_is_object(o)) abort();
    if (!json_is_false(json_object_get(o, "ok"))) abort();
    json_t *code = json_object_get(o, "error");
    if (!json_is_string(code) || strcmp(json_string_value(code), hb_errname(rc)) != 0) abort();
    if (!json_is_string(json_object_get(o, "message"))) abort();
    json_decref(o);
    free(reply);
}

/* A string field as the parser hands it out: present, terminated at len. */
static void s_check_str(const char *s, size_t len)
{
    if (!s || s[len] != '\0' || strlen(s) > len) abort();
}

static void s_check_connect(const hb__ctl_req *rq)
{
    s_check_str(rq->id, rq->id_len);
    if (!rq->url) abort();
    if (!hb_peer_id_valid(rq->id, rq->id_len) || strlen(rq->id) != rq->id_len) abort();
    if (rq->options) {
        json_error_t jerr;
        json_t *o = json_loads(rq->options, JSON_ALLOW_NUL, &jerr);
        if (!o || !json_is_object(o)) abort();
        json_decref(o);
    }
    /* What s_connect does next: merge the options into the defaults. */
    hb_peer_cfg p;
    char *errors = NULL;
    memset(&p, 0, sizeof(p));
    int rc = hb_peer_cfg_from_json(&s_defaults->pool, rq->id, rq->url, rq->options, &p, &errors);
    if (rc == 0) {
        if (!p.id || strcmp(p.id, rq->id) != 0 || !p.url) abort();
        hb_peer_cfg_free(&p);
    } else {
        if (rc != HB_E_NOMEM && !errors) abort();
        s_check_error_reply(rc, errors && *errors ? errors : NULL);
    }
    free(errors);
}

static void s_check_send(const hb__ctl_req *rq)
{
    s_check_str(rq->id, rq->id_len);
    s_check_str(rq->data, rq->data_len);
    (void)hb_peer_id_valid(rq->id, rq->id_len);
    if (rq->binary) {
        unsigned char *raw = NULL;
        size_t n = 0;
        int rc = hb__base64_decode(rq->data, rq->data_len, &raw, &n);
        if (rc == 0) {
            if (!raw || n > rq->data_len / 4 * 3 + 2) abort();
        } else if (raw || n) {
            abort();
        }
        free(raw);
    } else if (!hb__utf8_valid(rq->data, rq->data_len)) {
        abort(); /* jansson promised UTF-8; control.c relies on it */
    }
}

/* The values of a parsed tree, the root included. */
static size_t s_values(json_t *v)
{
    size_t n = 1;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) n += s_values(json_array_get(v, i));
    } else if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m) n += s_values(m);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_defaults && hb_config_defaults(&s_defaults) != 0) abort();
    hb__ctl_req rq;
    char msg[256];
    memset(msg, 'x', sizeof(msg)); /* an unset message would show as unterminated */
    int rc = hb__ctl_parse(data, size, &rq, msg, sizeof(msg));
    if (rc != 0) {
        if (rc != HB_E_BAD_REQUEST && rc != HB_E_UNKNOWN_OP && rc != HB_E_INVALID_OPTION &&
            rc != HB_E_NOMEM)
            abort();
        if (!memchr(msg, '\0', sizeof(msg))) abort();
        if (rq.root || rq.options) abort(); /* the parser cleaned up */
        /* hb__ctl_handle sends exactly this reply. */
        s_check_error_reply(rc, msg);
        return 0;
    }
    if (!rq.root || !json_is_object(rq.root)) abort();
    if (s_values(rq.root) > HB__CTL_MAX_MARKS + 1) abort();
    switch (rq.op) {
    case HB__OP_CONNECT:
        s_check_connect(&rq);
        break;
    case HB__OP_REMOVE:
        s_check_str(rq.id, rq.id_len);
        (void)hb_peer_id_valid(rq.id, rq.id_len);
        break;
    case HB__OP_SEND:
        s_check_send(&rq);
        break;
    case HB__OP_STATS:
        if (rq.id) s_check_str(rq.id, rq.id_len);
        break;
    case HB__OP_LIST:
    case HB__OP_PING:
        break;
    default:
        abort();
    }
    hb__ctl_req_free(&rq);
    if (rq.root || rq.options) abort(); /* free leaves the request empty */
    hb__ctl_req_free(&rq);              /* and freeing it again is harmless */
    return 0;
}
