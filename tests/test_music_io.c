/* test_music_io.c - music files: the piano-roll JSON (layout, every error
 * with its position, the benchmark files' piece counts when
 * ../shared/data/music/polyphonic is there), and Standard MIDI Files
 * (round trip, hand-made bytes with running status, two tracks,
 * velocity-0 note-offs and a tempo change, malformed files, and a file of
 * ours read by python3-mido when that is installed). */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POLY_DIR RC_SOURCE_DIR "/../shared/data/music/polyphonic"

static int make_dir(void **state) { return (*state = test_tmpdir_make("music")) ? 0 : -1; }
static int remove_dir(void **state) { return test_tmpdir_remove(*state); }
#define FILE_TEST(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)

static int on(const rc_pianorolls *r, int piece, int step, int note)
{
    return r->frames[(r->start[piece] + (size_t)step) * RC_PIANO_KEYS +
                     (size_t)(note - RC_PIANO_LOW)];
}

static int count_on(const uint8_t *frame)
{
    int c = 0;
    for (int k = 0; k < RC_PIANO_KEYS; k++) c += frame[k] != 0;
    return c;
}

/* ---- piano-roll JSON ---- */

static void json_splits(void **state)
{
    (void)state;
    const char *text = "{\"train\": [[[60, 64, 67], [], [21, 108]], [[60]]],\n"
                       " \"valid\": [[[72], [72, 72]]], \"test\": []}";
    rc_pianorolls r;
    assert_int_equal(rc_pianoroll_parse(text, strlen(text), "train", &r), RC_OK);
    assert_int_equal(r.n_pieces, 2);
    assert_int_equal(r.total_steps, 4);
    assert_int_equal(r.n_steps[0], 3);
    assert_int_equal(r.n_steps[1], 1);
    assert_int_equal(r.start[0], 0);
    assert_int_equal(r.start[1], 3);
    assert_int_equal(count_on(r.frames), 3);
    assert_true(on(&r, 0, 0, 60) && on(&r, 0, 0, 64) && on(&r, 0, 0, 67));
    assert_int_equal(count_on(r.frames + RC_PIANO_KEYS), 0);
    assert_int_equal(count_on(r.frames + 2 * RC_PIANO_KEYS), 2);
    assert_int_equal(r.frames[2 * RC_PIANO_KEYS + 0], 1);  /* 21 -> column 0 */
    assert_int_equal(r.frames[2 * RC_PIANO_KEYS + 87], 1); /* 108 -> column 87 */
    assert_true(on(&r, 1, 0, 60));
    assert_int_equal(count_on(r.frames + 3 * RC_PIANO_KEYS), 1);
    rc_pianorolls_free(&r);

    assert_int_equal(rc_pianoroll_parse(text, strlen(text), "valid", &r), RC_OK);
    assert_int_equal(r.n_pieces, 1);
    assert_int_equal(r.n_steps[0], 2);
    assert_true(on(&r, 0, 1, 72));
    assert_int_equal(count_on(r.frames + RC_PIANO_KEYS), 1); /* repeated note counts once */
    rc_pianorolls_free(&r);

    /* a bare list of pieces with split NULL */
    const char *bare = "[[[40],[41]]]";
    assert_int_equal(rc_pianoroll_parse(bare, strlen(bare), NULL, &r), RC_OK);
    assert_int_equal(r.n_pieces, 1);
    assert_true(on(&r, 0, 0, 40) && on(&r, 0, 1, 41));
    rc_pianorolls_free(&r);
}

static void expect_json_error(const char *text, const char *split, const char *w1,
                              const char *w2)
{
    rc_pianorolls r;
    rc_status s = rc_pianoroll_parse(text, strlen(text), split, &r);
    if (s != RC_ERR_FORMAT) fail_msg("\"%s\": status %d, want a format error", text, (int)s);
    const char *m = rc_last_error();
    if (!strstr(m, "pianoroll_parse") || !strstr(m, w1) || (w2 && !strstr(m, w2)))
        fail_msg("\"%s\": message \"%s\" lacks \"%s\" / \"%s\"", text, m, w1, w2 ? w2 : "");
    assert_null(r.frames);
    assert_int_equal(r.n_pieces, 0);
}

static void json_errors(void **state)
{
    (void)state;
    /* malformed JSON, with the byte offset */
    expect_json_error("{\"train\": [[[60,]]]}", "train", "byte 16", NULL);
    expect_json_error("{\"train\": [[[60]]]", "train", "byte 18", NULL);
    /* a note out of range: piece, step, value */
    expect_json_error("{\"train\": [[[60]], [[61], [62, 20]]]}", "train",
                      "piece 2 of train, step 2", "note 20 out of range 21-108");
    expect_json_error("{\"train\": [[[109]]]}", "train", "note 109", "byte 13");
    expect_json_error("[[[60], [-3]]]", NULL, "piece 1, step 2", "note -3");
    /* non-integer notes */
    expect_json_error("{\"train\": [[[60.5]]]}", "train", "integer", "step 1");
    expect_json_error("{\"train\": [[[\"C4\"]]]}", "train", "found a string", "step 1");
    /* wrong nesting */
    expect_json_error("{\"train\": [[60, 62]]}", "train", "time step must be a list",
                      "found a number");
    expect_json_error("{\"train\": [[[[60]]]]}", "train", "found an array", "step 1");
    expect_json_error("{\"train\": [60]}", "train", "piece must be a list", "piece 1");
    expect_json_error("{\"train\": {}}", "train", "list of pieces", "found an object");
    expect_json_error("[[[60]]]", "train", "expected an object", "\"train\"");
    expect_json_error("{\"train\": [[[60]]]}", NULL, "list of pieces", "found an object");
    expect_json_error("{\"train\": [[[60]]]}", "valid", "no key \"valid\"", NULL);
    expect_json_error("{\"train\": [[[60]], []]}", "train", "piece 2", "without time steps");
    expect_json_error("{\"train\": []}", "train", "no pieces", NULL);
}

static void json_file_errors(void **state)
{
    const char *dir = *state;
    const char *p = test_write_file(dir, "bad.json", "{\"train\": [[[60]]", 17);
    rc_pianorolls r;
    assert_int_equal(rc_pianoroll_read(p, "train", &r), RC_ERR_FORMAT);
    assert_non_null(strstr(rc_last_error(), "bad.json"));
    assert_non_null(strstr(rc_last_error(), "byte 17"));
    assert_int_equal(rc_pianoroll_read(test_path(dir, "missing.json"), "train", &r), RC_ERR_IO);
    assert_non_null(strstr(rc_last_error(), "missing.json"));
}

/* The benchmark files: piece and step counts per split from SOURCE.txt. */
static void check_split(const char *file, const char *split, int pieces, size_t steps, int lo,
                        int hi, int max_notes)
{
    rc_pianorolls r;
    rc_status s = rc_pianoroll_read(file, split, &r);
    if (s) fail_msg("%s %s: %s", file, split, rc_last_error());
    assert_int_equal(r.n_pieces, pieces);
    assert_int_equal(r.total_steps, steps);
    size_t sum = 0;
    int seen_lo = 200, seen_hi = 0, most = 0;
    for (int i = 0; i < r.n_pieces; i++) {
        assert_int_equal(r.start[i], sum);
        sum += (size_t)r.n_steps[i];
    }
    assert_int_equal(sum, steps);
    for (size_t f = 0; f < r.total_steps; f++) {
        const uint8_t *fr = r.frames + f * RC_PIANO_KEYS;
        int c = count_on(fr);
        if (c > most) most = c;
        for (int k = 0; k < RC_PIANO_KEYS; k++)
            if (fr[k]) {
                if (k + RC_PIANO_LOW < seen_lo) seen_lo = k + RC_PIANO_LOW;
                if (k + RC_PIANO_LOW > seen_hi) seen_hi = k + RC_PIANO_LOW;
            }
    }
    /* every split lies within the whole data set's pitch range and polyphony */
    assert_true(seen_lo >= lo && seen_hi <= hi);
    assert_true(most <= max_notes && most >= 1);
    rc_pianorolls_free(&r);
}

static void json_benchmarks(void **state)
{
    (void)state;
    const char *jsb = POLY_DIR "/jsb_chorales.json";
    const char *nott = POLY_DIR "/nottingham.json";
    if (access(jsb, R_OK) != 0 || access(nott, R_OK) != 0) TEST_SKIP();
    check_split(jsb, "train", 229, 13807, 43, 96, 4);
    check_split(jsb, "valid", 76, 4602, 43, 96, 4);
    check_split(jsb, "test", 77, 4725, 43, 96, 4);
    check_split(nott, "train", 694, 176561, 31, 93, 9);
    check_split(nott, "valid", 173, 45513, 31, 93, 9);
    check_split(nott, "test", 170, 44463, 31, 93, 9);
    /* the first chord of the first JSB chorale: 60 72 79 88 */
    rc_pianorolls r;
    assert_int_equal(rc_pianoroll_read(jsb, "train", &r), RC_OK);
    assert_int_equal(count_on(r.frames), 4);
    assert_true(on(&r, 0, 0, 60) && on(&r, 0, 0, 72) && on(&r, 0, 0, 79) && on(&r, 0, 0, 88));
    rc_pianorolls_free(&r);
}

/* ---- MIDI ---- */

/* A test roll: leading silence, chords, held and repeated keys, the
 * extreme keys, and a note on the last step. */
static void make_roll(uint8_t *f, int n)
{
    memset(f, 0, (size_t)n * RC_PIANO_KEYS);
    for (int s = 2; s < n; s++) {
        f[s * RC_PIANO_KEYS + 60 - 21] = (uint8_t)(s % 4 != 0);
        f[s * RC_PIANO_KEYS + 64 - 21] = (uint8_t)(s >= 5 && s < 9);
        f[s * RC_PIANO_KEYS + (s * 7) % RC_PIANO_KEYS] = 1;
    }
    f[3 * RC_PIANO_KEYS + 0] = 1;  /* note 21 */
    f[4 * RC_PIANO_KEYS + 87] = 1; /* note 108 */
    f[(n - 1) * RC_PIANO_KEYS + 40] = 1;
}

static void midi_round_trip(void **state)
{
    const char *dir = *state;
    enum { N = 40 };
    uint8_t roll[N * RC_PIANO_KEYS];
    make_roll(roll, N);
    const char *p = test_path(dir, "roll.mid");
    assert_int_equal(rc_midi_write(p, roll, N, 100.0, 4), RC_OK);
    assert_int_equal(access(test_path(dir, "roll.mid.tmp"), F_OK), -1); /* no temporary left */
    /* the header: format 0, one track, 4 * 120 ticks per quarter note */
    unsigned char *b = (unsigned char *)test_slurp(dir, "roll.mid");
    assert_non_null(b);
    assert_memory_equal(b, "MThd\0\0\0\6\0\0\0\1\x01\xe0MTrk", 18);
    /* tempo 600000 microseconds per beat = 100 BPM */
    assert_memory_equal(b + 22, "\0\xff\x51\x03\x09\x27\xc0", 7);
    free(b);

    rc_pianorolls r;
    double bpm = 0;
    size_t dropped = 99;
    assert_int_equal(rc_midi_read(p, 4, &r, &bpm, &dropped), RC_OK);
    assert_int_equal(r.n_pieces, 1);
    assert_int_equal(r.n_steps[0], N);
    assert_int_equal(r.total_steps, N);
    assert_memory_equal(r.frames, roll, sizeof roll);
    assert_true(bpm > 99.999 && bpm < 100.001);
    assert_int_equal(dropped, 0);
    rc_pianorolls_free(&r);

    /* at 2 steps per beat, times are rounded half up: note 21 (step 3
     * only, ticks 360-480) becomes step 2 only (1.5 -> 2, 2 -> 2, at least
     * one step), and the last note (step 39, ticks 4680-4800) step 20, so
     * the roll has 21 steps */
    assert_int_equal(rc_midi_read(p, 2, &r, NULL, NULL), RC_OK);
    assert_int_equal(r.n_steps[0], 21);
    for (int s = 0; s < 21; s++) assert_int_equal(on(&r, 0, s, 21), s == 2);
    assert_true(on(&r, 0, 20, 61));
    rc_pianorolls_free(&r);

    /* bad arguments */
    assert_int_equal(rc_midi_write(p, roll, 0, 100.0, 4), RC_ERR_ARG);
    assert_int_equal(rc_midi_write(p, roll, N, 0.5, 4), RC_ERR_ARG);
    assert_int_equal(rc_midi_write(p, roll, N, 120.0, 0), RC_ERR_ARG);
    assert_int_equal(rc_midi_read(p, 0, &r, NULL, NULL), RC_ERR_ARG);
}

/* Hand-made bytes: format 1, 96 ticks per beat, two tracks. */
static const unsigned char two_tracks[] = {
    'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 1, 0, 2, 0, 96,
    /* track 1: tempo 120 BPM, at tick 96 tempo 60 BPM, note 108 on at
     * tick 240 and off (0x80) at 288 */
    'M', 'T', 'r', 'k', 0, 0, 0, 27,
    0x00, 0xff, 0x51, 0x03, 0x07, 0xa1, 0x20,
    0x60, 0xff, 0x51, 0x03, 0x0f, 0x42, 0x40,
    0x81, 0x10, 0x90, 0x6c, 0x40,
    0x30, 0x80, 0x6c, 0x00,
    0x00, 0xff, 0x2f, 0x00,
    /* track 2 */
    'M', 'T', 'r', 'k', 0, 0, 0, 55,
    0x00, 0x90, 0x3c, 0x64,       /* t=0 C4 on */
    0x00, 0x40, 0x64,             /* t=0 E4 on, running status */
    0x00, 0xc0, 0x05,             /* program change (one data byte) */
    0x00, 0xf0, 0x02, 0x7e, 0xf7, /* system exclusive */
    0x60, 0x90, 0x3c, 0x00,       /* t=96 C4 off: velocity 0 */
    0x00, 0x40, 0x00,             /* t=96 E4 off: velocity 0, running status */
    0x00, 0x91, 0x43, 0x50,       /* t=96 G4 on, channel 2 */
    0x00, 0x80, 0x30, 0x40,       /* note-off of a key that is not on: ignored */
    0x60, 0x81, 0x43, 0x00,       /* t=192 G4 off */
    0x00, 0x90, 0x15, 0x64,       /* t=192 A0 (21) on */
    0x00, 0x14, 0x64,             /* note 20: dropped */
    0x30, 0x15, 0x00,             /* t=240 A0 off */
    0x00, 0x14, 0x00,
    0x00, 0x90, 0x6d, 0x01,       /* note 109: dropped (ends with the track) */
    0x00, 0xff, 0x2f, 0x00,
};

static void midi_hand_made(void **state)
{
    const char *dir = *state;
    const char *p = test_write_file(dir, "two.mid", two_tracks, sizeof two_tracks);
    rc_pianorolls r;
    double bpm = 0;
    size_t dropped = 0;
    if (rc_midi_read(p, 2, &r, &bpm, &dropped)) fail_msg("%s", rc_last_error());
    assert_int_equal(r.n_steps[0], 6);
    assert_int_equal(dropped, 2);
    assert_true(bpm == 120.0); /* the first tempo */
    const int want[6][3] = {{60, 64, 0}, {60, 64, 0}, {67, 0, 0},
                            {67, 0, 0},  {21, 0, 0},  {108, 0, 0}};
    for (int s = 0; s < 6; s++) {
        int n = 0;
        for (int j = 0; j < 3 && want[s][j]; j++, n++) assert_true(on(&r, 0, s, want[s][j]));
        assert_int_equal(count_on(r.frames + s * RC_PIANO_KEYS), n);
    }
    rc_pianorolls_free(&r);
    /* one step per beat: C4, E4 in step 0; G4 in 1; A0 from 2 (tick 192)
     * to round(240/96) = 3 (half up), so step 2 only; 108 at tick 240
     * (2.5 -> 3) to 288 (3.5 -> 3, at least one step): step 3 */
    assert_int_equal(rc_midi_read(p, 1, &r, NULL, NULL), RC_OK);
    assert_int_equal(r.n_steps[0], 4);
    assert_true(on(&r, 0, 0, 60) && on(&r, 0, 0, 64) && on(&r, 0, 1, 67) && on(&r, 0, 2, 21));
    assert_true(on(&r, 0, 3, 108));
    assert_int_equal(count_on(r.frames), 2);
    assert_int_equal(count_on(r.frames + 1 * RC_PIANO_KEYS), 1);
    assert_int_equal(count_on(r.frames + 2 * RC_PIANO_KEYS), 1);
    assert_int_equal(count_on(r.frames + 3 * RC_PIANO_KEYS), 1);
    rc_pianorolls_free(&r);
}

static void expect_midi_error(const char *dir, const void *bytes, size_t n, const char *w1,
                              const char *w2)
{
    const char *p = test_write_file(dir, "bad.mid", bytes, n);
    rc_pianorolls r;
    rc_status s = rc_midi_read(p, 4, &r, NULL, NULL);
    if (s != RC_ERR_FORMAT) fail_msg("want a format error about \"%s\", got %d", w1, (int)s);
    const char *m = rc_last_error();
    if (!strstr(m, "midi_read") || !strstr(m, "bad.mid") || !strstr(m, w1) ||
        (w2 && !strstr(m, w2)))
        fail_msg("message \"%s\" lacks \"%s\" / \"%s\"", m, w1, w2 ? w2 : "");
    assert_null(r.frames);
}

#define HDR(fmt, ntr) 'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, fmt, 0, ntr, 0, 96
#define TRK(len) 'M', 'T', 'r', 'k', 0, 0, 0, len

static void midi_errors(void **state)
{
    const char *dir = *state;
    const unsigned char riff[] = "RIFF\0\0\0\0WAVEfmt ";
    expect_midi_error(dir, riff, sizeof riff - 1, "byte 0", "no MThd");
    expect_midi_error(dir, "MThd\0\0", 6, "truncated header", NULL);
    const unsigned char short_hdr[] = {'M', 'T', 'h', 'd', 0, 0, 0, 5, 0, 0, 0, 1, 0, 96};
    expect_midi_error(dir, short_hdr, sizeof short_hdr, "byte 4", "shorter than 6");
    const unsigned char fmt2[] = {HDR(2, 1), TRK(4), 0, 0xff, 0x2f, 0};
    expect_midi_error(dir, fmt2, sizeof fmt2, "format 2", NULL);
    unsigned char smpte[] = {HDR(0, 1), TRK(4), 0, 0xff, 0x2f, 0};
    smpte[12] = 0xe7, smpte[13] = 40;
    expect_midi_error(dir, smpte, sizeof smpte, "SMPTE", "byte 12");
    const unsigned char missing[] = {HDR(1, 2), TRK(8), 0, 0x90, 60, 64, 0, 0xff, 0x2f, 0};
    expect_midi_error(dir, missing, sizeof missing, "truncated file", "promises 2 tracks, found 1");
    const unsigned char past[] = {HDR(0, 1), TRK(100), 0, 0x90, 60, 64, 0, 0xff, 0x2f, 0};
    expect_midi_error(dir, past, sizeof past, "byte 18", "chunk length 100 runs past the end");
    const unsigned char long_vlq[] = {HDR(0, 1), TRK(12), 0x81, 0x81, 0x81, 0x81, 0x01,
                                      0x90, 60, 64, 0, 0xff, 0x2f, 0};
    expect_midi_error(dir, long_vlq, sizeof long_vlq, "byte 22", "longer than 4 bytes");
    const unsigned char cut_event[] = {HDR(0, 1), TRK(3), 0, 0x90, 60};
    expect_midi_error(dir, cut_event, sizeof cut_event, "byte 23", "truncated channel event");
    const unsigned char no_status[] = {HDR(0, 1), TRK(7), 0, 60, 64, 0, 0xff, 0x2f, 0};
    expect_midi_error(dir, no_status, sizeof no_status, "byte 23", "without running status");
    const unsigned char no_notes[] = {HDR(0, 1), TRK(11), 0, 0xff, 0x51, 3, 7, 0xa1, 0x20,
                                      0, 0xff, 0x2f, 0};
    expect_midi_error(dir, no_notes, sizeof no_notes, "no notes in 21-108", "0 outside");
    const unsigned char only_low[] = {HDR(0, 1), TRK(12), 0, 0x90, 12, 64, 8, 0x80, 12, 0,
                                      0, 0xff, 0x2f, 0};
    expect_midi_error(dir, only_low, sizeof only_low, "no notes in 21-108", "1 outside");

    /* every proper prefix of a good file is an error, never a crash */
    enum { N = 12 };
    uint8_t roll[N * RC_PIANO_KEYS];
    make_roll(roll, N);
    const char *good = test_path(dir, "good.mid");
    assert_int_equal(rc_midi_write(good, roll, N, 120.0, 2), RC_OK);
    unsigned char *all = (unsigned char *)test_slurp(dir, "good.mid");
    assert_non_null(all);
    size_t len = 22 + ((size_t)all[18] << 24 | (size_t)all[19] << 16 | (size_t)all[20] << 8 | all[21]);
    for (size_t k = 0; k < len; k++) {
        const char *p = test_write_file(dir, "cut.mid", all, k);
        rc_pianorolls r;
        rc_status s = rc_midi_read(p, 2, &r, NULL, NULL);
        if (s != RC_ERR_FORMAT) fail_msg("prefix of %zu bytes: status %d", k, (int)s);
    }
    free(all);
}

/* A file of ours read by mido (python3-mido), when it is installed. */
static void midi_mido(void **state)
{
    const char *dir = *state;
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import mido' >/dev/null 2>&1") != 0)
        TEST_SKIP();
    enum { N = 6 };
    uint8_t roll[N * RC_PIANO_KEYS] = {0};
    roll[0 * RC_PIANO_KEYS + 60 - 21] = roll[1 * RC_PIANO_KEYS + 60 - 21] = 1; /* C4, steps 0-1 */
    roll[1 * RC_PIANO_KEYS + 67 - 21] = 1;                                     /* G4, step 1 */
    roll[5 * RC_PIANO_KEYS + 108 - 21] = 1;                                    /* C8, step 5 */
    assert_int_equal(rc_midi_write(test_path(dir, "m.mid"), roll, N, 90.0, 2), RC_OK);
    const char *py =
        "import mido,sys\n"
        "f=mido.MidiFile(sys.argv[1])\n"
        "o=open(sys.argv[2],'w')\n"
        "o.write('%d %d %d\\n'%(f.type,len(f.tracks),f.ticks_per_beat))\n"
        "t=0\n"
        "for m in f.tracks[0]:\n"
        "    t+=m.time\n"
        "    if m.type=='set_tempo': o.write('tempo %d %d\\n'%(t,m.tempo))\n"
        "    if m.type in('note_on','note_off'):\n"
        "        on=m.type=='note_on' and m.velocity>0\n"
        "        o.write('%s %d %d\\n'%('on' if on else 'off',t,m.note))\n";
    test_write_file(dir, "read.py", py, strlen(py));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' '%s'", test_path(dir, "read.py"),
             test_path(dir, "m.mid"), test_path(dir, "events.txt"));
    assert_int_equal(system(cmd), 0);
    char *got = test_slurp(dir, "events.txt");
    assert_non_null(got);
    assert_string_equal(got, "0 1 240\n"
                             "tempo 0 666667\n"
                             "on 0 60\n"
                             "on 120 67\n"
                             "off 240 60\n"
                             "off 240 67\n"
                             "on 600 108\n"
                             "off 720 108\n");
    free(got);
}

TEST_GROUP(music_io, "music_io", cmocka_unit_test(json_splits), cmocka_unit_test(json_errors),
           FILE_TEST(json_file_errors), cmocka_unit_test(json_benchmarks),
           FILE_TEST(midi_round_trip), FILE_TEST(midi_hand_made), FILE_TEST(midi_errors),
           FILE_TEST(midi_mido));
