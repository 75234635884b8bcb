/*
 * pianoroll.c - the piano-roll JSON of the polyphonic music benchmarks
 * (Boulanger-Lewandowski et al. 2012): {"train":[piece,...],...}, a piece
 * a list of time steps, a step the list of sounding MIDI notes 21-108.
 *
 * The library's own strict JSON parser (json.c) gives a flat node array
 * in document order, so reading is two walks over it: the first checks
 * every value and counts pieces and steps, the second fills the frames.
 */
#include "io.h"

#include <stdlib.h>

typedef struct reader {
    const char *fn, *name, *split;
    const rc_json *doc;
} reader;

/* "piece 3 of train" / "piece 3" for messages (1-based like the lines of
 * a file). */
static rc_status fail_at(const reader *r, uint32_t node, const char *what, long piece,
                         long step)
{
    char where[96] = "";
    if (piece >= 0 && step >= 0)
        snprintf(where, sizeof where, "piece %ld%s%s, step %ld: ", piece + 1,
                 r->split ? " of " : "", r->split ? r->split : "", step + 1);
    else if (piece >= 0)
        snprintf(where, sizeof where, "piece %ld%s%s: ", piece + 1, r->split ? " of " : "",
                 r->split ? r->split : "");
    return rc_error(RC_ERR_FORMAT, "%s: %s: byte %u: %s%s", r->fn, r->name,
                    (unsigned)r->doc->nodes[node].at, where, what);
}

/* The node of the list of pieces, or UINT32_MAX after an error. */
static uint32_t find_pieces(const reader *r, rc_status *st)
{
    const rc_json *d = r->doc;
    const rc_json_node *top = &d->nodes[0];
    char msg[160];
    if (!r->split) {
        if (top->type != RC_JSON_ARRAY) {
            snprintf(msg, sizeof msg, "expected a list of pieces, found %s",
                     rc_json_type_name(top->type));
            *st = fail_at(r, 0, msg, -1, -1);
            return UINT32_MAX;
        }
        return 0;
    }
    if (top->type != RC_JSON_OBJECT) {
        snprintf(msg, sizeof msg, "expected an object with key \"%s\", found %s", r->split,
                 rc_json_type_name(top->type));
        *st = fail_at(r, 0, msg, -1, -1);
        return UINT32_MAX;
    }
    for (uint32_t k = 1; k < top->end; k = d->nodes[k + 1].end) {
        if (strcmp(rc_json_str(d, k), r->split) != 0) continue;
        uint32_t v = k + 1;
        if (d->nodes[v].type != RC_JSON_ARRAY) {
            snprintf(msg, sizeof msg, "\"%s\" must be a list of pieces, found %s", r->split,
                     rc_json_type_name(d->nodes[v].type));
            *st = fail_at(r, v, msg, -1, -1);
            return UINT32_MAX;
        }
        return v;
    }
    snprintf(msg, sizeof msg, "no key \"%s\"", r->split);
    *st = fail_at(r, 0, msg, -1, -1);
    return UINT32_MAX;
}

/* First walk: checks the layout and every note; counts steps. */
static rc_status check(const reader *r, uint32_t list, int *n_pieces, size_t *total)
{
    const rc_json *d = r->doc;
    char msg[160];
    long piece = 0;
    size_t steps = 0;
    for (uint32_t p = list + 1; p < d->nodes[list].end; p = d->nodes[p].end, piece++) {
        const rc_json_node *pn = &d->nodes[p];
        if (pn->type != RC_JSON_ARRAY) {
            snprintf(msg, sizeof msg, "a piece must be a list of time steps, found %s",
                     rc_json_type_name(pn->type));
            return fail_at(r, p, msg, piece, -1);
        }
        if (pn->len == 0) return fail_at(r, p, "a piece without time steps", piece, -1);
        if (pn->len > INT32_MAX) return fail_at(r, p, "too many time steps", piece, -1);
        long step = 0;
        for (uint32_t s = p + 1; s < pn->end; s = d->nodes[s].end, step++) {
            const rc_json_node *sn = &d->nodes[s];
            if (sn->type != RC_JSON_ARRAY) {
                snprintf(msg, sizeof msg,
                         "a time step must be a list of MIDI notes, found %s",
                         rc_json_type_name(sn->type));
                return fail_at(r, s, msg, piece, step);
            }
            for (uint32_t n = s + 1; n < sn->end; n = d->nodes[n].end) {
                const rc_json_node *nn = &d->nodes[n];
                if (nn->type != RC_JSON_NUMBER) {
                    snprintf(msg, sizeof msg, "a note must be an integer, found %s",
                             rc_json_type_name(nn->type));
                    return fail_at(r, n, msg, piece, step);
                }
                if (!nn->is_int)
                    return fail_at(r, n, "a note must be an integer MIDI note number", piece,
                                   step);
                if (nn->i < RC_PIANO_LOW || nn->i >= RC_PIANO_LOW + RC_PIANO_KEYS) {
                    snprintf(msg, sizeof msg, "note %lld out of range %d-%d",
                             (long long)nn->i, RC_PIANO_LOW,
                             RC_PIANO_LOW + RC_PIANO_KEYS - 1);
                    return fail_at(r, n, msg, piece, step);
                }
            }
        }
        steps += pn->len;
        if (piece >= INT32_MAX - 1) return fail_at(r, p, "too many pieces", piece, -1);
    }
    *n_pieces = (int)piece;
    *total = steps;
    return RC_OK;
}

void rc_pianorolls_free(rc_pianorolls *r)
{
    if (!r) return;
    free(r->n_steps);
    free(r->start);
    free(r->frames);
    memset(r, 0, sizeof *r);
}

static rc_status parse(const char *fn, const char *name, const char *text, size_t len,
                       const char *split, rc_pianorolls *out)
{
    rc_json doc = {0};
    char err[160];
    size_t at = 0;
    rc_status s = rc_json_parse(&doc, text, len, err, sizeof err, &at);
    if (s) return rc_error(s, "%s: %s: byte %zu: %s", fn, name, at, err);
    reader r = {fn, name, split, &doc};
    uint32_t list = find_pieces(&r, &s);
    int n = 0;
    size_t total = 0;
    if (!s) s = check(&r, list, &n, &total);
    if (!s && n == 0) s = fail_at(&r, list, "no pieces", -1, -1);
    if (!s) {
        out->n_pieces = n;
        out->total_steps = total;
        out->n_steps = malloc((size_t)n * sizeof *out->n_steps);
        out->start = malloc((size_t)n * sizeof *out->start);
        out->frames = calloc(total, RC_PIANO_KEYS);
        if (!out->n_steps || !out->start || !out->frames) {
            rc_pianorolls_free(out);
            s = rc_error(RC_ERR_NOMEM, "%s: %s: out of memory for %zu time steps", fn, name,
                         total);
        }
    }
    if (!s) {
        const rc_json *d = &doc;
        size_t frame = 0;
        int i = 0;
        for (uint32_t p = list + 1; p < d->nodes[list].end; p = d->nodes[p].end, i++) {
            out->n_steps[i] = (int32_t)d->nodes[p].len;
            out->start[i] = frame;
            for (uint32_t st = p + 1; st < d->nodes[p].end; st = d->nodes[st].end, frame++)
                for (uint32_t k = st + 1; k < d->nodes[st].end; k++)
                    out->frames[frame * RC_PIANO_KEYS + (size_t)(d->nodes[k].i - RC_PIANO_LOW)] =
                        1;
        }
    }
    rc_json_free(&doc);
    return s;
}

rc_status rc_pianoroll_parse(const char *text, size_t len, const char *split,
                             rc_pianorolls *out)
{
    if (!out) return rc_error(RC_ERR_ARG, "pianoroll_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!text) return rc_error(RC_ERR_ARG, "pianoroll_parse: text is NULL");
    return parse("pianoroll_parse", "text", text, len, split, out);
}

rc_status rc_pianoroll_read(const char *path, const char *split, rc_pianorolls *out)
{
    if (!out) return rc_error(RC_ERR_ARG, "pianoroll_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return rc_error(RC_ERR_ARG, "pianoroll_read: path is NULL");
    unsigned char *buf = NULL;
    size_t len = 0;
    rc_status s = rc_read_file("pianoroll_read", path, &buf, &len);
    if (s) return s;
    s = parse("pianoroll_read", path, (const char *)buf, len, split, out);
    free(buf);
    return s;
}
