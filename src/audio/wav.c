/* wav.c - reading sound files with libsndfile (mono float, channels
 * averaged) and resampling with libsamplerate. */
#include "audio.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ errors -- */

static _Thread_local char audio_err[512];

const char *audio_last_error(void) { return audio_err; }

rc_status audio_fail(rc_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(audio_err, sizeof audio_err, fmt, ap);
    va_end(ap);
    return s;
}

/* --------------------------------------------------------- resampling -- */

static rc_status resample(const float *in, size_t n, int from, int to, int quality, float **out,
                          size_t *n_out);

rc_status audio_resample(const float *in, size_t n, int from, int to, float **out, size_t *n_out)
{
    return resample(in, n, from, to, SRC_SINC_BEST_QUALITY, out, n_out);
}

rc_status audio_speed(const float *in, size_t n, double factor, float **out, size_t *n_out)
{
    if (!(factor >= 0.5 && factor <= 2.0)) {
        if (out) *out = NULL;
        if (n_out) *n_out = 0;
        return audio_fail(RC_ERR_ARG, "audio_speed: factor %g is outside [0.5, 2]", factor);
    }
    /* Played faster by `factor`: the same samples read as if taken at
     * factor times the rate, brought back to the rate. */
    return resample(in, n, (int)lround(10000 * factor), 10000, SRC_SINC_FASTEST, out, n_out);
}

static rc_status resample(const float *in, size_t n, int from, int to, int quality, float **out,
                          size_t *n_out)
{
    if (!out || !n_out || (!in && n)) return audio_fail(RC_ERR_ARG, "audio_resample: NULL argument");
    *out = NULL;
    *n_out = 0;
    if (from <= 0 || to <= 0)
        return audio_fail(RC_ERR_ARG, "audio_resample: rates must be positive (from %d to %d)",
                          from, to);
    if (n > AUDIO_MAX_FRAMES || (double)n * to / from > (double)AUDIO_MAX_FRAMES)
        return audio_fail(RC_ERR_ARG, "audio_resample: %zu samples from %d Hz to %d Hz is too many",
                          n, from, to);
    double ratio = (double)to / from;
    if (!src_is_valid_ratio(ratio))
        return audio_fail(RC_ERR_ARG, "audio_resample: ratio %d/%d is beyond libsamplerate's range",
                          to, from);
    size_t cap = (size_t)ceil((double)n * ratio) + 16;
    float *y = malloc(cap * sizeof *y);
    if (!y) return audio_fail(RC_ERR_NOMEM, "audio_resample: out of memory for %zu samples", cap);
    if (n == 0) {
        *out = y;
        return RC_OK;
    }
    if (from == to) {
        memcpy(y, in, n * sizeof *y);
        *out = y;
        *n_out = n;
        return RC_OK;
    }
    SRC_DATA d = {0};
    d.data_in = in;
    d.data_out = y;
    d.input_frames = (long)n;
    d.output_frames = (long)cap;
    d.src_ratio = ratio;
    d.end_of_input = 1;
    int e = src_simple(&d, quality, 1);
    if (e) {
        free(y);
        return audio_fail(RC_ERR_NUMERIC, "audio_resample: %d Hz to %d Hz: %s", from, to,
                          src_strerror(e));
    }
    *out = y;
    *n_out = (size_t)d.output_frames_gen;
    return RC_OK;
}

/* ------------------------------------------------------------ reading -- */

/* Bytes per sample of the uncompressed PCM sub-formats, 0 for the others
 * (compressed: their declared length cannot be checked against the file
 * size). */
static int pcm_bytes(int format)
{
    switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8: case SF_FORMAT_PCM_U8: return 1;
    case SF_FORMAT_PCM_16: return 2;
    case SF_FORMAT_PCM_24: return 3;
    case SF_FORMAT_PCM_32: case SF_FORMAT_FLOAT: return 4;
    case SF_FORMAT_DOUBLE: return 8;
    default: return 0;
    }
}

/* libsndfile notes a WAV header that promises more data than the file
 * holds in its log ("data : 4000 (should be 100)"), then quietly reads
 * what there is: finds that note. 1 with the two sizes, else 0. (Only the
 * data chunk: a wrong RIFF size alone is common and harmless.) */
static int log_says_truncated(SNDFILE *sf, unsigned long long *declared, unsigned long long *held)
{
    char log[8192];
    memset(log, 0, sizeof log);
    sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log - 1);
    for (const char *p = log; (p = strstr(p, "data : ")); p++) {
        if (p != log && p[-1] != '\n') continue;
        if (sscanf(p, "data : %llu (should be %llu)", declared, held) == 2 && *declared > *held)
            return 1;
    }
    return 0;
}

rc_status audio_read(const char *path, int target_rate, float **samples, size_t *n, int *rate)
{
    if (!path || !samples || !n || !rate) return audio_fail(RC_ERR_ARG, "audio_read: NULL argument");
    *samples = NULL;
    *n = 0;
    *rate = 0;
    if (target_rate < 0)
        return audio_fail(RC_ERR_ARG, "audio: %s: target rate %d is negative", path, target_rate);
    struct stat stt;
    if (stat(path, &stt) != 0)
        return audio_fail(RC_ERR_IO, "audio: %s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(stt.st_mode)) return audio_fail(RC_ERR_IO, "audio: %s: is a directory", path);
    if (stt.st_size == 0) return audio_fail(RC_ERR_FORMAT, "audio: %s: empty file (0 bytes)", path);
    FILE *probe = fopen(path, "rb");
    if (!probe) return audio_fail(RC_ERR_IO, "audio: %s: cannot open: %s", path, strerror(errno));
    fclose(probe);

    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf)
        return audio_fail(RC_ERR_FORMAT, "audio: %s: not a sound file libsndfile can read: %s", path,
                          sf_strerror(NULL));
    rc_status st = RC_OK;
    float *buf = NULL, *mono = NULL;
    if (info.channels <= 0) {
        st = audio_fail(RC_ERR_FORMAT, "audio: %s: %d channels", path, info.channels);
        goto done;
    }
    if (info.samplerate <= 0) {
        st = audio_fail(RC_ERR_FORMAT, "audio: %s: sample rate %d Hz", path, info.samplerate);
        goto done;
    }
    unsigned long long declared, held;
    if (log_says_truncated(sf, &declared, &held)) {
        st = audio_fail(RC_ERR_FORMAT, "audio: %s: truncated or a bad size: the header declares "
                        "%llu bytes of audio data, the file holds %llu", path, declared, held);
        goto done;
    }
    if (info.frames <= 0) {
        st = audio_fail(RC_ERR_FORMAT, "audio: %s: no audio frames (empty)", path);
        goto done;
    }
    if ((uint64_t)info.frames > AUDIO_MAX_FRAMES || info.channels > 1024) {
        st = audio_fail(RC_ERR_FORMAT, "audio: %s: declares %lld frames of %d channels, more than "
                        "the %zu frames (or 1024 channels) accepted",
                        path, (long long)info.frames, info.channels, AUDIO_MAX_FRAMES);
        goto done;
    }
    int bps = pcm_bytes(info.format);
    if (bps && (uint64_t)info.frames * (uint64_t)info.channels * (uint64_t)bps >
                   (uint64_t)stt.st_size) {
        st = audio_fail(RC_ERR_FORMAT, "audio: %s: declares %lld frames (%llu bytes) but the file "
                        "has %lld bytes (truncated)", path, (long long)info.frames,
                        (unsigned long long)info.frames * (unsigned)info.channels * (unsigned)bps,
                        (long long)stt.st_size);
        goto done;
    }
    size_t total = (size_t)info.frames, ch = (size_t)info.channels;
    enum { CHUNK = 4096 };
    buf = malloc(CHUNK * ch * sizeof *buf);
    mono = malloc(total * sizeof *mono);
    if (!buf || !mono) {
        st = audio_fail(RC_ERR_NOMEM, "audio: %s: out of memory for %zu frames", path, total);
        goto done;
    }
    size_t got = 0;
    while (got < total) {
        sf_count_t want = (sf_count_t)(total - got < CHUNK ? total - got : CHUNK);
        sf_count_t r = sf_readf_float(sf, buf, want);
        if (r <= 0) break;
        for (sf_count_t i = 0; i < r; i++) {
            double s = 0;
            for (size_t c = 0; c < ch; c++) s += buf[(size_t)i * ch + c];
            mono[got + (size_t)i] = (float)(s / (double)ch);
        }
        got += (size_t)r;
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR) {
        st = audio_fail(RC_ERR_FORMAT, "audio: %s: read error after %zu of %zu frames: %s", path,
                        got, total, sf_strerror(sf));
        goto done;
    }
    if (got < total) {
        st = audio_fail(RC_ERR_FORMAT, "audio: %s: truncated: %zu of the %zu frames declared", path,
                        got, total);
        goto done;
    }
    for (size_t i = 0; i < total; i++)
        if (!isfinite(mono[i])) {
            st = audio_fail(RC_ERR_NUMERIC, "audio: %s: sample %zu is not finite", path, i);
            goto done;
        }
    if (target_rate > 0 && target_rate != info.samplerate) {
        float *rs;
        size_t nr;
        st = audio_resample(mono, total, info.samplerate, target_rate, &rs, &nr);
        if (st != RC_OK) {
            char m[512];
            snprintf(m, sizeof m, "%s", audio_err);
            audio_fail(st, "audio: %s: %s", path, m);
            goto done;
        }
        free(mono);
        mono = rs;
        total = nr;
        *rate = target_rate;
    } else {
        *rate = info.samplerate;
    }
    *samples = mono;
    *n = total;
    mono = NULL;
done:
    free(buf);
    free(mono);
    sf_close(sf);
    return st;
}
