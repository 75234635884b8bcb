/*
 * text.c - reading a text corpus: the whole file as UTF-8, checked byte by
 * byte so that a bad byte is reported by line and column (in characters),
 * with a UTF-8 byte order mark skipped and CRLF line ends read as LF.
 */
#include "io.h"

#include <stdlib.h>

/* Why the sequence starting at s (lead byte >= 0x80, `left` bytes from s to
 * the end) is not valid UTF-8, or NULL when it is; *n gets its length. */
static const char *utf8_problem(const unsigned char *s, size_t left, size_t *n)
{
    unsigned c = s[0];
    size_t need;
    unsigned long cp, min;
    *n = 1;
    if (c < 0xc0) return "a continuation byte without a lead byte";
    if (c < 0xc2) return "overlong encoding";
    if (c < 0xe0) need = 2, cp = c & 0x1f, min = 0x80;
    else if (c < 0xf0) need = 3, cp = c & 0x0f, min = 0x800;
    else if (c < 0xf5) need = 4, cp = c & 0x07, min = 0x10000;
    else return "a byte that never occurs in UTF-8";
    for (size_t i = 1; i < need; i++) {
        if (i >= left) return "sequence truncated by the end of the text";
        if ((s[i] & 0xc0) != 0x80) return "sequence truncated (too few continuation bytes)";
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min) return "overlong encoding";
    if (cp >= 0xd800 && cp <= 0xdfff) return "a UTF-16 surrogate";
    if (cp > 0x10ffff) return "a code point past U+10FFFF";
    *n = need;
    return NULL;
}

/* Checks text[0..len); messages read "FN: NAME:LINE:COL: ...", with the
 * byte offset reported as `base` + the offset in text. */
static rc_status check_text(const char *fn, const char *name, const char *text, size_t len,
                            size_t base)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t line = 1, col = 1, i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return rc_error(RC_ERR_FORMAT, "%s: %s:%zu:%zu: NUL byte at offset %zu", fn,
                                name, line, col, base + i);
            if (c == '\n') line++, col = 1;
            else col++;
            i++;
            continue;
        }
        size_t n;
        const char *why = utf8_problem(s + i, len - i, &n);
        if (why)
            return rc_error(RC_ERR_FORMAT,
                            "%s: %s:%zu:%zu: invalid UTF-8: byte 0x%02x at offset %zu (%s)", fn,
                            name, line, col, c, base + i, why);
        i += n;
        col++;
    }
    return RC_OK;
}

rc_status rc_text_validate(const char *text, size_t len, const char *name)
{
    if (!text && len) return rc_error(RC_ERR_ARG, "text_validate: text is NULL");
    return check_text("text_validate", name ? name : "text", text, len, 0);
}

rc_status rc_text_read(const char *path, char **text, size_t *len)
{
    if (!text || !len) return rc_error(RC_ERR_ARG, "text_read: text or len is NULL");
    *text = NULL;
    *len = 0;
    unsigned char *buf;
    size_t n;
    rc_status s = rc_read_file("text_read", path, &buf, &n);
    if (s) return s;
    size_t skip = n >= 3 && buf[0] == 0xef && buf[1] == 0xbb && buf[2] == 0xbf ? 3 : 0;
    if (n == skip) {
        free(buf);
        return rc_error(RC_ERR_FORMAT, "text_read: %s: empty%s", path,
                        skip ? " (only a byte order mark)" : "");
    }
    /* Check before changing anything, so offsets are the file's. */
    s = check_text("text_read", path, (const char *)buf + skip, n - skip, skip);
    if (s) {
        free(buf);
        return s;
    }
    /* Drop the BOM and the CR of every CRLF in one pass (in place). */
    size_t o = 0;
    for (size_t i = skip; i < n; i++) {
        if (buf[i] == '\r' && i + 1 < n && buf[i + 1] == '\n') continue;
        buf[o++] = buf[i];
    }
    char *t = realloc(buf, o + 1);
    if (!t) {
        free(buf);
        return rc_error(RC_ERR_NOMEM, "text_read: %s: out of memory", path);
    }
    t[o] = '\0';
    *text = t;
    *len = o;
    return RC_OK;
}
