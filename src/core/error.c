/* error.c - status codes and the per-thread error message. */
#include "../internal.h"

#include <stdio.h>

static _Thread_local char last_error[512];

const char *rc_last_error(void) { return last_error; }

void rc_clear_error(void) { last_error[0] = '\0'; }

rc_status rc_error(rc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *rc_status_name(rc_status s)
{
    switch (s) {
    case RC_OK: return "ok";
    case RC_ERR_ARG: return "bad argument";
    case RC_ERR_SHAPE: return "shape mismatch";
    case RC_ERR_RANGE: return "out of range";
    case RC_ERR_NOMEM: return "out of memory";
    case RC_ERR_IO: return "i/o error";
    case RC_ERR_FORMAT: return "malformed input";
    case RC_ERR_NUMERIC: return "not a finite number";
    case RC_ERR_STATE: return "bad state";
    }
    return "unknown status";
}
