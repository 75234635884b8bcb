/*
 * csv.c - reading one column of a CSV file as a series of floats.
 *
 * The format is RFC 4180's: fields separated by commas, a field may be
 * quoted ("a, b", with "" for a quote inside, and line breaks allowed
 * inside the quotes), rows end in LF or CRLF (the last one may have no line
 * end). A UTF-8 byte order mark is skipped and blank lines at the end are
 * ignored. Every row must have as many fields as the first one.
 *
 * Errors read "csv_read: FILE:LINE: ..." with the line where the row
 * starts, and name the column (index and header name) of a bad value.
 */
#include "io.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* One parsed row: its fields unescaped and NUL-terminated in `text`,
 * field i starting at text + off[i]. */
typedef struct csv_row {
    char *text;
    size_t len, cap;
    size_t *off;
    int n, cap_off;
    int oom;
} csv_row;

static void row_clear(csv_row *r)
{
    r->len = 0;
    r->n = 0;
}

static void row_free(csv_row *r)
{
    free(r->text);
    free(r->off);
    memset(r, 0, sizeof *r);
}

static void row_putc(csv_row *r, char c)
{
    if (r->oom) return;
    if (r->len == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        char *p = realloc(r->text, cap);
        if (!p) {
            r->oom = 1;
            return;
        }
        r->text = p;
        r->cap = cap;
    }
    r->text[r->len++] = c;
}

static void row_start_field(csv_row *r)
{
    if (r->oom) return;
    if (r->n == r->cap_off) {
        int cap = r->cap_off ? 2 * r->cap_off : 16;
        size_t *p = realloc(r->off, (size_t)cap * sizeof *p);
        if (!p) {
            r->oom = 1;
            return;
        }
        r->off = p;
        r->cap_off = cap;
    }
    r->off[r->n++] = r->len;
}

static const char *row_field(const csv_row *r, int i) { return r->text + r->off[i]; }

/* The reader's position in the file. */
typedef struct csv_cursor {
    const char *path;
    const char *s;
    size_t len, at;
    size_t line; /* line of s[at] (1-based) */
} csv_cursor;

/* Is the rest of the file from `at` only line ends and spaces? */
static int only_blank_left(const csv_cursor *c, size_t at)
{
    for (; at < c->len; at++)
        if (!isspace((unsigned char)c->s[at])) return 0;
    return 1;
}

/* Reads the row starting at c->at into r. Sets *blank when the line is
 * empty (nothing but its line end). Advances past the row's line end. */
static rc_status read_row(csv_cursor *c, csv_row *r, int *blank)
{
    row_clear(r);
    size_t start_line = c->line;
    const char *s = c->s;
    *blank = (c->at < c->len && (s[c->at] == '\n' ||
                                 (s[c->at] == '\r' && c->at + 1 < c->len && s[c->at + 1] == '\n')));
    row_start_field(r);
    for (;;) {
        /* At the start of a field. */
        if (c->at < c->len && s[c->at] == '"') {
            size_t open_line = c->line;
            c->at++;
            for (;;) {
                if (c->at >= c->len)
                    return rc_error(RC_ERR_FORMAT,
                                    "csv_read: %s:%zu: a quoted field opened on line %zu is "
                                    "never closed",
                                    c->path, start_line, open_line);
                char ch = s[c->at++];
                if (ch == '"') {
                    if (c->at < c->len && s[c->at] == '"') {
                        row_putc(r, '"');
                        c->at++;
                        continue;
                    }
                    break;
                }
                if (ch == '\n') c->line++;
                row_putc(r, ch);
            }
            /* After the closing quote: a comma, a line end or the end. */
            if (c->at < c->len && s[c->at] != ',' && s[c->at] != '\n' &&
                !(s[c->at] == '\r' && (c->at + 1 == c->len || s[c->at + 1] == '\n')))
                return rc_error(RC_ERR_FORMAT,
                                "csv_read: %s:%zu: field %d: text after the closing quote "
                                "(write a quote inside a quoted field as \"\")",
                                c->path, c->line, r->n);
        } else {
            while (c->at < c->len && s[c->at] != ',' && s[c->at] != '\n') {
                char ch = s[c->at];
                /* A CR is part of the line end before LF or at the very end. */
                if (ch == '\r' && (c->at + 1 == c->len || s[c->at + 1] == '\n')) break;
                row_putc(r, ch);
                c->at++;
            }
        }
        row_putc(r, '\0');
        if (c->at < c->len && s[c->at] == ',') {
            c->at++;
            row_start_field(r);
            continue;
        }
        /* The line end (or the end of the file). */
        if (c->at < c->len && s[c->at] == '\r') c->at++;
        if (c->at < c->len && s[c->at] == '\n') c->at++, c->line++;
        break;
    }
    if (r->oom) return rc_error(RC_ERR_NOMEM, "csv_read: %s: out of memory", c->path);
    return RC_OK;
}

/* Is s all ASCII digits (and not empty)? */
static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Parses a field as a finite number: optional spaces around a decimal
 * number ("12", "-0.5", "1e3"); returns 0 and a reason otherwise. */
static int parse_number(const char *f, float *out, const char **why)
{
    while (*f == ' ' || *f == '\t') f++;
    if (!*f) {
        *why = "empty";
        return 0;
    }
    for (const char *p = f; *p; p++)
        if (*p == 'x' || *p == 'X' || *p == 'n' || *p == 'N' || *p == 'i' || *p == 'I') {
            *why = "not a number";
            return 0;
        }
    char *end;
    errno = 0;
    double d = strtod(f, &end);
    if (end == f) {
        *why = "not a number";
        return 0;
    }
    while (*end == ' ' || *end == '\t') end++;
    if (*end) {
        *why = "not a number";
        return 0;
    }
    if (!isfinite(d) || fabs(d) > 3.4e38) {
        *why = "out of float range";
        return 0;
    }
    *out = (float)d;
    return 1;
}

/* Appends the header's names, quoted and comma-separated, to a message
 * buffer (shortened when long). */
static void list_names(const csv_row *hdr, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < hdr->n && k + 1 < n; i++) {
        int w = snprintf(buf + k, n - k, "%s'%s'", i ? ", " : "", row_field(hdr, i));
        if (w < 0 || (size_t)w >= n - k) {
            if (n > 4) snprintf(buf + n - 4, 4, "...");
            return;
        }
        k += (size_t)w;
    }
}

void rc_csv_column_free(rc_csv_column *c)
{
    if (!c) return;
    free(c->values);
    memset(c, 0, sizeof *c);
}

rc_status rc_csv_read_column(const char *path, const char *column, int header,
                             rc_csv_column *out)
{
    if (!out) return rc_error(RC_ERR_ARG, "csv_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!column || !*column) return rc_error(RC_ERR_ARG, "csv_read: no column given");
    if (header != 0 && header != 1 && header != RC_CSV_HEADER_AUTO)
        return rc_error(RC_ERR_ARG, "csv_read: header must be 0, 1 or RC_CSV_HEADER_AUTO, not %d",
                        header);
    unsigned char *buf;
    size_t len;
    rc_status s = rc_read_file("csv_read", path, &buf, &len);
    if (s) return s;
    csv_cursor c = {path, (const char *)buf, len, 0, 1};
    if (len >= 3 && buf[0] == 0xef && buf[1] == 0xbb && buf[2] == 0xbf) c.at = 3;
    csv_row first = {0}, row = {0};
    float *vals = NULL;
    size_t n = 0, cap = 0;
    if (only_blank_left(&c, c.at)) {
        s = rc_error(RC_ERR_FORMAT, "csv_read: %s: empty file (no rows)", path);
        goto done;
    }
    /* Leading blank lines are skipped: the first row is the first with text. */
    int blank;
    size_t first_line;
    do {
        first_line = c.line;
        if ((s = read_row(&c, &first, &blank))) goto done;
    } while (blank);
    int n_fields = first.n;

    /* Which column, and is the first row a header? A header name equal to
     * the request wins over reading it as a number. */
    int col = -1, has_header = header == 1;
    if (header != 0)
        for (int i = 0; i < n_fields && col < 0; i++)
            if (!strcmp(row_field(&first, i), column)) col = i, has_header = 1;
    float v;
    const char *why;
    if (col < 0 && all_digits(column)) {
        long k = strlen(column) > 9 ? 0 : strtol(column, NULL, 10);
        if (k < 1 || k > n_fields) {
            s = rc_error(RC_ERR_FORMAT, "csv_read: %s:%zu: no column %s: the rows have %d column%s",
                         path, first_line, column, n_fields, n_fields == 1 ? "" : "s");
            goto done;
        }
        col = (int)k - 1;
        if (header == RC_CSV_HEADER_AUTO)
            has_header = !parse_number(row_field(&first, col), &v, &why);
    }
    if (col < 0) {
        char names[256];
        list_names(&first, names, sizeof names);
        if (header == 0)
            s = rc_error(RC_ERR_ARG,
                         "csv_read: %s: column '%s' is a name, but the file is read without a "
                         "header (give a 1-based column number)",
                         path, column);
        else
            s = rc_error(RC_ERR_FORMAT, "csv_read: %s:%zu: no column '%s' in the header (%s)",
                         path, first_line, column, names);
        goto done;
    }
    if (has_header)
        snprintf(out->name, sizeof out->name, "%s", row_field(&first, col));
    else
        snprintf(out->name, sizeof out->name, "column %d", col + 1);
    out->index = col + 1;
    out->header = has_header;

    /* The data rows (the first row too when it is not a header). */
    int pending_first = !has_header;
    for (;;) {
        size_t line = c.line;
        csv_row *r = &row;
        if (pending_first) {
            r = &first;
            line = first_line;
            pending_first = 0;
        } else {
            if (c.at >= c.len || only_blank_left(&c, c.at)) break;
            if ((s = read_row(&c, &row, &blank))) goto done;
            if (blank) {
                s = rc_error(RC_ERR_FORMAT,
                             "csv_read: %s:%zu: blank line inside the data (a missing value?)",
                             path, line);
                goto done;
            }
        }
        if (r->n != n_fields) {
            s = rc_error(RC_ERR_FORMAT, "csv_read: %s:%zu: %d field%s, but the %s has %d", path,
                         line, r->n, r->n == 1 ? "" : "s", has_header ? "header" : "first row",
                         n_fields);
            goto done;
        }
        if (!parse_number(row_field(r, col), &v, &why)) {
            if (!strcmp(why, "empty"))
                s = rc_error(RC_ERR_FORMAT, "csv_read: %s:%zu: column %d (%s): empty value", path,
                             line, col + 1, out->name);
            else
                s = rc_error(RC_ERR_FORMAT, "csv_read: %s:%zu: column %d (%s): '%.40s' is %s",
                             path, line, col + 1, out->name, row_field(r, col), why);
            goto done;
        }
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 256;
            float *p = realloc(vals, nc * sizeof *p);
            if (!p) {
                s = rc_error(RC_ERR_NOMEM, "csv_read: %s: out of memory", path);
                goto done;
            }
            vals = p;
            cap = nc;
        }
        if (n == 0) out->first_line = line;
        vals[n++] = v;
    }
    if (n == 0) {
        s = rc_error(RC_ERR_FORMAT, "csv_read: %s: no data rows after the header", path);
        goto done;
    }
    out->values = vals;
    out->n = n;
    vals = NULL;
    s = RC_OK;
done:
    if (s != RC_OK) memset(out, 0, sizeof *out);
    free(vals);
    row_free(&first);
    row_free(&row);
    free(buf);
    return s;
}
