/*
 * midi.c - Standard MIDI Files to and from piano rolls.
 *
 * Written by hand, without a MIDI library: the format is a header chunk
 * and track chunks of delta-timed events, and all a piano roll needs is
 * note-on, note-off and tempo, so the whole reader is a page of bounds
 * checked byte walking; a dependency (Debian's C MIDI libraries are
 * sequencer / ALSA oriented) would be larger than the code it saves and
 * would tie the library, which needs only libc, to it.
 *
 * The writer emits format 0: MThd (format 0, one track, ticks per quarter
 * note = steps_per_beat * TICKS_PER_STEP), then one MTrk with a tempo meta
 * event, the note events of channel 1 in time order (offs before ons at
 * the same tick) and end of track.
 *
 * The reader keeps every note as (pitch, on tick, off tick) over all tracks
 * and channels, then quantises by ticks (beats), not seconds.
 */
#include "io.h"

#include <math.h>
#include <stdlib.h>

#define TICKS_PER_STEP 120
#define VELOCITY 80
#define MAX_STEPS 10000000L
/* Writing: every tick below 2^28, so each delta fits the 4-byte
 * variable-length quantity that readers accept. */
#define MAX_WRITE_STEPS 2000000L

/* ---- writing ---- */

typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
    int oom;
} bytes;

static void put(bytes *b, const unsigned char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 1024;
        while (c < b->n + n) c *= 2;
        unsigned char *q = realloc(b->p, c);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_vlq(bytes *b, uint32_t v)
{
    unsigned char t[5];
    int n = 0;
    t[4] = (unsigned char)(v & 0x7f);
    n = 1;
    while ((v >>= 7) != 0) {
        t[4 - n] = (unsigned char)(0x80 | (v & 0x7f));
        n++;
    }
    put(b, t + 5 - n, (size_t)n);
}

static void put_be(unsigned char *p, uint32_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

rc_status rc_midi_write(const char *path, const uint8_t *frames, int n_steps, double bpm,
                        int steps_per_beat)
{
    const char *fn = "midi_write";
    if (!path || !frames) return rc_error(RC_ERR_ARG, "%s: path or frames is NULL", fn);
    if (n_steps < 1 || n_steps > MAX_WRITE_STEPS)
        return rc_error(RC_ERR_ARG, "%s: %s: n_steps %d out of range 1-%ld", fn, path, n_steps,
                        MAX_WRITE_STEPS);
    if (!(bpm >= 4 && bpm <= 1000))
        return rc_error(RC_ERR_ARG, "%s: %s: tempo %g BPM out of range 4-1000", fn, path, bpm);
    if (steps_per_beat < 1 || steps_per_beat > 64)
        return rc_error(RC_ERR_ARG, "%s: %s: steps_per_beat %d out of range 1-64", fn, path,
                        steps_per_beat);
    bytes b = {0};
    unsigned char hdr[22] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 0, 0, 1};
    put_be(hdr + 12, (uint32_t)(steps_per_beat * TICKS_PER_STEP), 2);
    memcpy(hdr + 14, "MTrk", 4); /* length patched below */
    put(&b, hdr, sizeof hdr);
    uint32_t usec = (uint32_t)lround(60e6 / bpm);
    unsigned char tempo[7] = {0, 0xff, 0x51, 3};
    put_be(tempo + 4, usec, 3);
    put(&b, tempo, sizeof tempo);
    uint32_t last = 0; /* tick of the last event */
    for (long s = 0; s <= n_steps; s++) {
        const uint8_t *cur = s < n_steps ? frames + (size_t)s * RC_PIANO_KEYS : NULL;
        const uint8_t *prev = s > 0 ? frames + (size_t)(s - 1) * RC_PIANO_KEYS : NULL;
        uint32_t tick = (uint32_t)s * TICKS_PER_STEP;
        for (int pass = 0; pass < 2; pass++) /* offs, then ons */
            for (int k = 0; k < RC_PIANO_KEYS; k++) {
                int was = prev && prev[k], is = cur && cur[k];
                if (pass == 0 ? !(was && !is) : !(is && !was)) continue;
                put_vlq(&b, tick - last);
                last = tick;
                unsigned char ev[3] = {pass == 0 ? 0x80 : 0x90,
                                       (unsigned char)(k + RC_PIANO_LOW),
                                       pass == 0 ? 64 : VELOCITY};
                put(&b, ev, 3);
            }
    }
    unsigned char eot[4] = {0, 0xff, 0x2f, 0};
    put(&b, eot, 4);
    if (b.oom) {
        free(b.p);
        return rc_error(RC_ERR_NOMEM, "%s: %s: out of memory", fn, path);
    }
    put_be(b.p + 18, (uint32_t)(b.n - 22), 4);
    rc_atomic_file af;
    rc_status s = rc_atomic_open(&af, fn, path);
    if (!s) {
        if (fwrite(b.p, 1, b.n, af.f) != b.n) {
            rc_atomic_abort(&af);
            s = rc_error(RC_ERR_IO, "%s: %s: write failed", fn, path);
        } else s = rc_atomic_commit(&af, fn);
    }
    free(b.p);
    return s;
}

/* ---- reading ---- */

typedef struct note {
    uint64_t on, off;
    uint8_t pitch;
} note;

typedef struct mreader {
    const char *fn, *path;
    const unsigned char *s;
    size_t len;
    note *notes;
    size_t n_notes, cap;
    size_t dropped;
    double bpm;
    int have_tempo;
} mreader;

static rc_status bad(const mreader *r, size_t at, const char *what)
{
    return rc_error(RC_ERR_FORMAT, "%s: %s: byte %zu: %s", r->fn, r->path, at, what);
}

static uint32_t be(const unsigned char *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* A variable-length quantity at *pos, below end; at most 4 bytes (28 bits),
 * as the standard allows. */
static rc_status vlq(const mreader *r, size_t *pos, size_t end, uint32_t *out)
{
    uint32_t v = 0;
    size_t start = *pos;
    for (int i = 0; i < 4; i++) {
        if (*pos >= end) return bad(r, start, "truncated variable-length quantity");
        unsigned char c = r->s[(*pos)++];
        v = (v << 7) | (c & 0x7f);
        if (!(c & 0x80)) {
            *out = v;
            return RC_OK;
        }
    }
    return bad(r, start, "variable-length quantity longer than 4 bytes");
}

static rc_status add_note(mreader *r, int pitch, uint64_t on, uint64_t off)
{
    if (pitch < RC_PIANO_LOW || pitch >= RC_PIANO_LOW + RC_PIANO_KEYS) {
        r->dropped++;
        return RC_OK;
    }
    if (r->n_notes == r->cap) {
        size_t c = r->cap ? 2 * r->cap : 256;
        note *q = realloc(r->notes, c * sizeof *q);
        if (!q) return rc_error(RC_ERR_NOMEM, "%s: %s: out of memory", r->fn, r->path);
        r->notes = q;
        r->cap = c;
    }
    r->notes[r->n_notes++] = (note){on, off, (uint8_t)pitch};
    return RC_OK;
}

/* One track's events in s[pos, end). Sounding notes are kept per channel
 * and pitch; a second note-on of a sounding key ends the first. */
static rc_status read_track(mreader *r, size_t pos, size_t end)
{
    int64_t start[16][128];
    for (int c = 0; c < 16; c++)
        for (int k = 0; k < 128; k++) start[c][k] = -1;
    uint64_t tick = 0;
    int running = 0;
    rc_status st = RC_OK;
    while (pos < end) {
        uint32_t delta = 0;
        if ((st = vlq(r, &pos, end, &delta))) return st;
        tick += delta;
        if (pos >= end) return bad(r, pos, "truncated track: an event time without an event");
        size_t at = pos;
        int status = r->s[pos];
        if (status & 0x80) pos++;
        else if (!running) return bad(r, at, "data byte without running status");
        else status = running;
        if (status == 0xff) { /* meta event */
            running = 0;
            if (pos >= end) return bad(r, at, "truncated meta event");
            int type = r->s[pos++];
            uint32_t n = 0;
            if ((st = vlq(r, &pos, end, &n))) return st;
            if (n > end - pos) return bad(r, at, "meta event runs past the end of its track");
            if (type == 0x51) {
                if (n != 3) return bad(r, at, "tempo event with length other than 3");
                uint32_t usec = be(r->s + pos, 3);
                if (usec == 0) return bad(r, at, "tempo of 0 microseconds per beat");
                if (!r->have_tempo) r->bpm = 60e6 / usec, r->have_tempo = 1;
            }
            pos += n;
            if (type == 0x2f) break; /* end of track */
        } else if (status == 0xf0 || status == 0xf7) { /* system exclusive */
            running = 0;
            uint32_t n = 0;
            if ((st = vlq(r, &pos, end, &n))) return st;
            if (n > end - pos) return bad(r, at, "system exclusive event runs past its track");
            pos += n;
        } else if (status >= 0xf0) {
            char m[64];
            snprintf(m, sizeof m, "status byte 0x%02x is not allowed in a file", status);
            return bad(r, at, m);
        } else {
            running = status;
            int kind = status & 0xf0, ch = status & 0x0f;
            int nd = kind == 0xc0 || kind == 0xd0 ? 1 : 2;
            if ((size_t)nd > end - pos) return bad(r, at, "truncated channel event");
            int d1 = r->s[pos], d2 = nd == 2 ? r->s[pos + 1] : 0;
            if ((d1 | d2) & 0x80) return bad(r, pos, "data byte with the high bit set");
            pos += (size_t)nd;
            int is_on = kind == 0x90 && d2 > 0, is_off = kind == 0x80 || (kind == 0x90 && !d2);
            if ((is_on || is_off) && start[ch][d1] >= 0) {
                if ((st = add_note(r, d1, (uint64_t)start[ch][d1], tick))) return st;
                start[ch][d1] = -1;
            }
            if (is_on) start[ch][d1] = (int64_t)tick;
        }
        if (tick > ((uint64_t)1 << 50)) return bad(r, at, "absurd event time");
    }
    /* notes still sounding end with the track */
    for (int c = 0; c < 16; c++)
        for (int k = 0; k < 128; k++)
            if (start[c][k] >= 0 && (st = add_note(r, k, (uint64_t)start[c][k], tick)))
                return st;
    return RC_OK;
}

static rc_status parse_midi(mreader *r, int steps_per_beat, rc_pianorolls *out)
{
    const unsigned char *s = r->s;
    if (r->len < 14 || memcmp(s, "MThd", 4) != 0)
        return bad(r, 0, r->len < 14 && r->len >= 4 && !memcmp(s, "MThd", 4)
                             ? "truncated header chunk"
                             : "not a Standard MIDI File (no MThd header chunk)");
    uint32_t hlen = be(s + 4, 4);
    if (hlen < 6) return bad(r, 4, "header chunk shorter than 6 bytes");
    if (hlen > r->len - 8) return bad(r, 4, "header chunk runs past the end of the file");
    int format = (int)be(s + 8, 2), ntracks = (int)be(s + 10, 2), division = (int)be(s + 12, 2);
    if (format > 2) return bad(r, 8, "unknown format");
    if (format == 2) return bad(r, 8, "format 2 (independent sequences) is not supported");
    if (ntracks < 1) return bad(r, 10, "header promises no tracks");
    if (format == 0 && ntracks != 1) return bad(r, 10, "format 0 with more than one track");
    if (division & 0x8000) return bad(r, 12, "SMPTE time division is not supported");
    if (division == 0) return bad(r, 12, "time division of 0 ticks per beat");
    size_t pos = 8 + hlen;
    int found = 0;
    while (found < ntracks) {
        if (pos >= r->len) {
            char m[96];
            snprintf(m, sizeof m, "truncated file: the header promises %d tracks, found %d",
                     ntracks, found);
            return bad(r, pos, m);
        }
        if (r->len - pos < 8) return bad(r, pos, "truncated chunk header");
        uint32_t clen = be(s + pos + 4, 4);
        if (clen > r->len - pos - 8) {
            char m[96];
            snprintf(m, sizeof m, "chunk length %lu runs past the end of the file",
                     (unsigned long)clen);
            return bad(r, pos + 4, m);
        }
        if (!memcmp(s + pos, "MTrk", 4)) {
            rc_status st = read_track(r, pos + 8, pos + 8 + clen);
            if (st) return st;
            found++;
        } /* other chunk types are skipped, as the standard asks */
        pos += 8 + (size_t)clen;
    }
    if (r->n_notes == 0) {
        char m[96];
        snprintf(m, sizeof m, "no notes in %d-%d (%zu outside dropped)", RC_PIANO_LOW,
                 RC_PIANO_LOW + RC_PIANO_KEYS - 1, r->dropped);
        return bad(r, 0, m);
    }
    /* quantise: step = round(tick * steps_per_beat / division) */
    uint64_t n_steps = 0;
    for (size_t i = 0; i < r->n_notes; i++) {
        note *n = &r->notes[i];
        uint64_t a = (n->on * (uint64_t)steps_per_beat + (uint64_t)division / 2) / (uint64_t)division;
        uint64_t z = (n->off * (uint64_t)steps_per_beat + (uint64_t)division / 2) / (uint64_t)division;
        if (z <= a) z = a + 1;
        if (z > MAX_STEPS) {
            char m[96];
            snprintf(m, sizeof m, "a piece longer than %ld steps", MAX_STEPS);
            return bad(r, 0, m);
        }
        n->on = a;
        n->off = z;
        if (z > n_steps) n_steps = z;
    }
    out->n_pieces = 1;
    out->total_steps = (size_t)n_steps;
    out->n_steps = malloc(sizeof *out->n_steps);
    out->start = calloc(1, sizeof *out->start);
    out->frames = calloc((size_t)n_steps, RC_PIANO_KEYS);
    if (!out->n_steps || !out->start || !out->frames) {
        rc_pianorolls_free(out);
        return rc_error(RC_ERR_NOMEM, "%s: %s: out of memory for %llu steps", r->fn, r->path,
                        (unsigned long long)n_steps);
    }
    out->n_steps[0] = (int32_t)n_steps;
    for (size_t i = 0; i < r->n_notes; i++)
        for (uint64_t t = r->notes[i].on; t < r->notes[i].off; t++)
            out->frames[t * RC_PIANO_KEYS + (size_t)(r->notes[i].pitch - RC_PIANO_LOW)] = 1;
    return RC_OK;
}

rc_status rc_midi_read(const char *path, int steps_per_beat, rc_pianorolls *out,
                       double *bpm, size_t *n_dropped)
{
    const char *fn = "midi_read";
    if (!out) return rc_error(RC_ERR_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (!path) return rc_error(RC_ERR_ARG, "%s: path is NULL", fn);
    if (steps_per_beat < 1 || steps_per_beat > 64)
        return rc_error(RC_ERR_ARG, "%s: %s: steps_per_beat %d out of range 1-64", fn, path,
                        steps_per_beat);
    unsigned char *buf = NULL;
    size_t len = 0;
    rc_status s = rc_read_file(fn, path, &buf, &len);
    if (s) return s;
    mreader r = {fn, path, buf, len, NULL, 0, 0, 0, 120.0, 0};
    s = parse_midi(&r, steps_per_beat, out);
    if (!s) {
        if (bpm) *bpm = r.bpm;
        if (n_dropped) *n_dropped = r.dropped;
    }
    free(r.notes);
    free(buf);
    return s;
}
