/*
 * err.c: the error table's two lookups. The table itself is the X-macro in
 * include/honeybee/common.h, so the enum, the wire names and the texts can
 * never drift apart. Any thread.
 */
#include "honeybee/common.h"

static const char *const s_names[] = {
#define HB__ERR_NAME(name, code, text) code,
    HB_ERROR_TABLE(HB__ERR_NAME)
#undef HB__ERR_NAME
};

static const char *const s_texts[] = {
#define HB__ERR_TEXT(name, code, text) text,
    HB_ERROR_TABLE(HB__ERR_TEXT)
#undef HB__ERR_TEXT
};

const char *hb_strerror(int err)
{
    if (err < 0 || err >= HB_E__COUNT) return "unknown error";
    return s_texts[err];
}

const char *hb_errname(int err)
{
    if (err < 0 || err >= HB_E__COUNT) return "unknown";
    return s_names[err];
}
