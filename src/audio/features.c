/* features.c - MFCC features: pre-emphasis, windowed frames, FFTW power
 * spectrum, HTK mel filterbank, log, orthonormal DCT-II, deltas, and
 * per-utterance mean/variance normalisation. */
#include "audio.h"

#include <fftw3.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

void audio_preemphasis(const float *x, size_t n, float coef, float *y)
{
    if (n == 0) return;
    /* backwards, so that y may be x */
    for (size_t i = n - 1; i > 0; i--) y[i] = x[i] - coef * x[i - 1];
    y[0] = x[0];
}

rc_status audio_window(audio_window_kind kind, int len, float *w)
{
    if (!w || len <= 0) return audio_fail(RC_ERR_ARG, "audio_window: length %d", len);
    double a;
    if (kind == AUDIO_HAMMING) a = 0.54;
    else if (kind == AUDIO_HANN) a = 0.5;
    else return audio_fail(RC_ERR_ARG, "audio_window: unknown window kind %d", (int)kind);
    if (len == 1) {
        w[0] = 1;
        return RC_OK;
    }
    for (int i = 0; i < len; i++) w[i] = (float)(a - (1 - a) * cos(2 * M_PI * i / (len - 1)));
    return RC_OK;
}

int audio_frame_count(size_t n, int frame_len, int hop)
{
    if (n == 0 || frame_len <= 0 || hop <= 0) return 0;
    if (n < (size_t)frame_len) return 1;
    size_t f = 1 + (n - (size_t)frame_len) / (size_t)hop;
    return f > (size_t)INT_MAX ? INT_MAX : (int)f;
}

void audio_frames(const float *x, size_t n, int n_frames, int frame_len, int hop, const float *w,
                  float *out)
{
    for (int f = 0; f < n_frames; f++) {
        size_t start = (size_t)f * (size_t)hop;
        float *o = out + (size_t)f * frame_len;
        for (int i = 0; i < frame_len; i++) {
            size_t j = start + (size_t)i;
            o[i] = j < n ? x[j] * w[i] : 0.0f;
        }
    }
}

rc_status audio_power_spectrum(const float *frames, int n_frames, int frame_len, int n_fft,
                               float *out)
{
    if (!frames || !out || n_frames <= 0 || frame_len <= 0 || n_fft < frame_len ||
        (n_fft & (n_fft - 1)))
        return audio_fail(RC_ERR_ARG, "audio_power_spectrum: %d frames of %d samples, n_fft %d "
                          "(a power of two >= the frame length)", n_frames, frame_len, n_fft);
    int nb = n_fft / 2 + 1;
    float *in = fftwf_malloc(sizeof(float) * (size_t)n_fft);
    fftwf_complex *spec = fftwf_malloc(sizeof(fftwf_complex) * (size_t)nb);
    fftwf_plan plan = NULL;
    if (in && spec) plan = fftwf_plan_dft_r2c_1d(n_fft, in, spec, FFTW_ESTIMATE);
    if (!plan) {
        fftwf_free(in);
        fftwf_free(spec);
        return audio_fail(RC_ERR_NOMEM, "audio_power_spectrum: no FFTW plan for n_fft %d", n_fft);
    }
    for (int f = 0; f < n_frames; f++) {
        memcpy(in, frames + (size_t)f * frame_len, sizeof(float) * (size_t)frame_len);
        memset(in + frame_len, 0, sizeof(float) * (size_t)(n_fft - frame_len));
        fftwf_execute(plan);
        float *o = out + (size_t)f * nb;
        for (int k = 0; k < nb; k++) o[k] = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
    }
    fftwf_destroy_plan(plan);
    fftwf_free(in);
    fftwf_free(spec);
    return RC_OK;
}

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

rc_status audio_mel_filterbank(int n_mels, int n_fft, int rate, float fmin, float fmax, float *out)
{
    if (!out || n_mels <= 0 || n_fft <= 1 || rate <= 0 || !(fmin >= 0) || !(fmax > fmin) ||
        fmax > rate / 2.0f)
        return audio_fail(RC_ERR_ARG, "audio_mel_filterbank: %d mels, n_fft %d, %d Hz, "
                          "range %g..%g Hz (need 0 <= fmin < fmax <= rate/2)",
                          n_mels, n_fft, rate, fmin, fmax);
    int nb = n_fft / 2 + 1;
    double *hz = malloc(sizeof(double) * (size_t)(n_mels + 2));
    if (!hz) return audio_fail(RC_ERR_NOMEM, "audio_mel_filterbank: out of memory");
    double m0 = hz_to_mel(fmin), m1 = hz_to_mel(fmax);
    for (int i = 0; i < n_mels + 2; i++) hz[i] = mel_to_hz(m0 + (m1 - m0) * i / (n_mels + 1));
    for (int m = 0; m < n_mels; m++) {
        double l = hz[m], c = hz[m + 1], r = hz[m + 2];
        for (int k = 0; k < nb; k++) {
            double f = (double)k * rate / n_fft;
            double up = (f - l) / (c - l), down = (r - f) / (r - c);
            double v = up < down ? up : down;
            out[(size_t)m * nb + k] = v > 0 ? (float)v : 0.0f;
        }
    }
    free(hz);
    return RC_OK;
}

void audio_log_mel(const float *power, int n_frames, int n_bins, const float *fbank, int n_mels,
                   float floor, float *out)
{
    for (int f = 0; f < n_frames; f++) {
        const float *p = power + (size_t)f * n_bins;
        for (int m = 0; m < n_mels; m++) {
            const float *w = fbank + (size_t)m * n_bins;
            double e = 0;
            for (int k = 0; k < n_bins; k++) e += (double)w[k] * p[k];
            out[(size_t)f * n_mels + m] = (float)log(e > floor ? e : floor);
        }
    }
}

void audio_dct(const float *in, int n_frames, int n_in, int n_out, float *out)
{
    double s0 = sqrt(1.0 / n_in), sk = sqrt(2.0 / n_in);
    for (int f = 0; f < n_frames; f++) {
        const float *x = in + (size_t)f * n_in;
        for (int k = 0; k < n_out; k++) {
            double acc = 0;
            for (int i = 0; i < n_in; i++) acc += x[i] * cos(M_PI * k * (2 * i + 1) / (2.0 * n_in));
            out[(size_t)f * n_out + k] = (float)(acc * (k ? sk : s0));
        }
    }
}

void audio_deltas(const float *in, int n_frames, int dims, float *out)
{
    const int N = 2;
    const double denom = 2.0 * (1 * 1 + 2 * 2);
    for (int t = 0; t < n_frames; t++)
        for (int d = 0; d < dims; d++) {
            double acc = 0;
            for (int k = 1; k <= N; k++) {
                int a = t + k < n_frames ? t + k : n_frames - 1;
                int b = t - k >= 0 ? t - k : 0;
                acc += k * ((double)in[(size_t)a * dims + d] - in[(size_t)b * dims + d]);
            }
            out[(size_t)t * dims + d] = (float)(acc / denom);
        }
}

void audio_cmvn(float *x, int n_frames, int dims)
{
    if (n_frames <= 0) return;
    for (int d = 0; d < dims; d++) {
        double mean = 0, var = 0;
        for (int t = 0; t < n_frames; t++) mean += x[(size_t)t * dims + d];
        mean /= n_frames;
        for (int t = 0; t < n_frames; t++) {
            double v = x[(size_t)t * dims + d] - mean;
            var += v * v;
        }
        var /= n_frames;
        double sd = sqrt(var);
        for (int t = 0; t < n_frames; t++) {
            float *v = &x[(size_t)t * dims + d];
            *v = sd > 1e-8 ? (float)((*v - mean) / sd) : 0.0f;
        }
    }
}

/* ------------------------------------------------------------ pipeline -- */

static audio_feature_config resolve(const audio_feature_config *cfg, int rate)
{
    audio_feature_config c = cfg ? *cfg : (audio_feature_config){0};
    if (!c.n_mels) c.n_mels = 40;
    if (!c.n_mfcc) c.n_mfcc = 13;
    if (c.preemph == 0) c.preemph = 0.97f;
    if (c.frame_ms == 0) c.frame_ms = 25;
    if (c.hop_ms == 0) c.hop_ms = 10;
    if (c.fmax == 0) c.fmax = rate / 2.0f;
    if (c.log_floor == 0) c.log_floor = 1e-10f;
    return c;
}

rc_status audio_frame_geometry(const audio_feature_config *cfg, int rate, int *frame_len, int *hop,
                               int *n_fft)
{
    if (!frame_len || !hop || !n_fft || rate <= 0 || rate > 1000000)
        return audio_fail(RC_ERR_ARG, "audio_frame_geometry: rate %d Hz", rate);
    audio_feature_config c = resolve(cfg, rate);
    if (!(c.frame_ms > 0 && c.frame_ms <= 1000) || !(c.hop_ms > 0 && c.hop_ms <= 1000))
        return audio_fail(RC_ERR_ARG, "audio: frames of %g ms every %g ms (need 0 < ms <= 1000)",
                          c.frame_ms, c.hop_ms);
    *frame_len = (int)lround(rate * (double)c.frame_ms / 1000.0);
    *hop = (int)lround(rate * (double)c.hop_ms / 1000.0);
    if (*frame_len < 1) *frame_len = 1;
    if (*hop < 1) *hop = 1;
    int p = 1;
    while (p < *frame_len) p *= 2;
    *n_fft = p;
    return RC_OK;
}

rc_status audio_features(const float *samples, size_t n, int rate, const audio_feature_config *cfg,
                         float **out, int *frames, int *dims)
{
    if (!samples || !out || !frames || !dims)
        return audio_fail(RC_ERR_ARG, "audio_features: NULL argument");
    *out = NULL;
    *frames = *dims = 0;
    if (n == 0) return audio_fail(RC_ERR_ARG, "audio_features: no samples");
    int flen, hop, n_fft;
    rc_status st = audio_frame_geometry(cfg, rate, &flen, &hop, &n_fft);
    if (st != RC_OK) return st;
    audio_feature_config c = resolve(cfg, rate);
    if (c.n_mels < 1 || c.n_mels > 512 || c.n_mfcc < 1 || c.n_mfcc > c.n_mels)
        return audio_fail(RC_ERR_ARG, "audio_features: %d MFCCs of %d mels (need 1 <= n_mfcc <= "
                          "n_mels <= 512)", c.n_mfcc, c.n_mels);
    if ((int)c.window != AUDIO_HAMMING && (int)c.window != AUDIO_HANN)
        return audio_fail(RC_ERR_ARG, "audio_features: unknown window kind %d", (int)c.window);
    if (!(c.log_floor > 0))
        return audio_fail(RC_ERR_ARG, "audio_features: log floor %g (need > 0)", c.log_floor);
    int nf = audio_frame_count(n, flen, hop), nb = n_fft / 2 + 1;
    int nd = c.no_deltas ? c.n_mfcc : 3 * c.n_mfcc;
    float *x = malloc(sizeof(float) * n), *w = malloc(sizeof(float) * (size_t)flen);
    float *fr = malloc(sizeof(float) * (size_t)nf * flen);
    float *pw = malloc(sizeof(float) * (size_t)nf * nb);
    float *fb = malloc(sizeof(float) * (size_t)c.n_mels * nb);
    float *lm = malloc(sizeof(float) * (size_t)nf * c.n_mels);
    float *cc = malloc(sizeof(float) * (size_t)nf * c.n_mfcc);
    float *d1 = malloc(sizeof(float) * (size_t)nf * c.n_mfcc);
    float *d2 = malloc(sizeof(float) * (size_t)nf * c.n_mfcc);
    float *res = malloc(sizeof(float) * (size_t)nf * nd);
    if (!x || !w || !fr || !pw || !fb || !lm || !cc || !d1 || !d2 || !res) {
        st = audio_fail(RC_ERR_NOMEM, "audio_features: out of memory for %d frames", nf);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(samples[i])) {
            st = audio_fail(RC_ERR_NUMERIC, "audio_features: sample %zu is not finite", i);
            goto done;
        }
    if (c.preemph > 0) audio_preemphasis(samples, n, c.preemph, x);
    else memcpy(x, samples, sizeof(float) * n);
    if ((st = audio_window(c.window, flen, w)) != RC_OK) goto done;
    audio_frames(x, n, nf, flen, hop, w, fr);
    if ((st = audio_power_spectrum(fr, nf, flen, n_fft, pw)) != RC_OK) goto done;
    if ((st = audio_mel_filterbank(c.n_mels, n_fft, rate, c.fmin, c.fmax, fb)) != RC_OK) goto done;
    audio_log_mel(pw, nf, nb, fb, c.n_mels, c.log_floor, lm);
    audio_dct(lm, nf, c.n_mels, c.n_mfcc, cc);
    if (c.no_deltas) {
        memcpy(res, cc, sizeof(float) * (size_t)nf * c.n_mfcc);
    } else {
        audio_deltas(cc, nf, c.n_mfcc, d1);
        audio_deltas(d1, nf, c.n_mfcc, d2);
        for (int t = 0; t < nf; t++) {
            float *r = res + (size_t)t * nd;
            memcpy(r, cc + (size_t)t * c.n_mfcc, sizeof(float) * c.n_mfcc);
            memcpy(r + c.n_mfcc, d1 + (size_t)t * c.n_mfcc, sizeof(float) * c.n_mfcc);
            memcpy(r + 2 * c.n_mfcc, d2 + (size_t)t * c.n_mfcc, sizeof(float) * c.n_mfcc);
        }
    }
    if (!c.no_cmvn) audio_cmvn(res, nf, nd);
    *out = res;
    res = NULL;
    *frames = nf;
    *dims = nd;
done:
    free(x); free(w); free(fr); free(pw); free(fb); free(lm); free(cc); free(d1); free(d2);
    free(res);
    return st;
}
