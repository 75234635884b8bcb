/* audio.h - the audio front end of the recur command (speech): reading
 * sound files with libsndfile into mono float samples, resampling with
 * libsamplerate, and MFCC features computed with FFTW. Tool code above the
 * library, which stays free of these libraries (like src/plot).
 *
 * Functions return RC_OK, or a status with a one-line message in
 * audio_last_error() that names the file or the function ("audio: x.wav:
 * ..."). Buffers handed back through float ** are malloc'd: free() them.
 *
 * The feature pipeline, stage by stage (each stage is a function below):
 *   samples -> pre-emphasis -> frames (25 ms every 10 ms, windowed)
 *   -> power spectrum |rfft|^2 (n_fft = next power of two >= frame length)
 *   -> triangular mel filterbank (HTK mel: 2595 log10(1 + f/700))
 *   -> log(max(energy, floor)) -> orthonormal DCT-II, first n_mfcc
 *   -> deltas and delta-deltas (regression over +-2 frames)
 *   -> per-utterance mean/variance normalisation. */
#ifndef RECUR_AUDIO_H
#define RECUR_AUDIO_H

#include <stddef.h>

#include "recur.h"

/* The message of the last failed call in this thread. */
const char *audio_last_error(void);
/* Sets that message and returns s (for src/audio's own files). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
rc_status audio_fail(rc_status s, const char *fmt, ...);

/* ------------------------------------------------------------ reading -- */

/* The most samples (frames, after channel averaging) a file may hold:
 * about 3.7 hours at 16 kHz. A file declaring more is refused. */
#define AUDIO_MAX_FRAMES ((size_t)1 << 28)

/* Reads any file libsndfile reads (WAV, FLAC, AIFF, ...) as mono float
 * samples in [-1, 1] (the channels averaged). target_rate > 0 resamples to
 * that rate when the file's differs; 0 keeps the file's rate. *rate gets
 * the rate of the samples returned. Errors (RC_ERR_IO / RC_ERR_FORMAT):
 * missing or unreadable file, not audio, no frames, no channels, data
 * shorter than the header says, absurd declared sizes. */
rc_status audio_read(const char *path, int target_rate, float **samples, size_t *n, int *rate);

/* Resamples n samples from rate `from` to rate `to` (band-limited sinc,
 * libsamplerate's best quality); *n_out is about n * to / from. */
rc_status audio_resample(const float *in, size_t n, int from, int to, float **out,
                         size_t *n_out);

/* The samples played `factor` times faster (0.5..2), pitch and tempo
 * together, as speed perturbation augments speech data: *n_out is about
 * n / factor. libsamplerate's fastest sinc converter (this is for
 * training data, not for listening). */
rc_status audio_speed(const float *in, size_t n, double factor, float **out, size_t *n_out);

/* ----------------------------------------------------------- features -- */

typedef enum audio_window_kind {
    AUDIO_HAMMING = 0, /* 0.54 - 0.46 cos(2 pi i / (L - 1)) (symmetric) */
    AUDIO_HANN         /* 0.5 - 0.5 cos(2 pi i / (L - 1)) (symmetric) */
} audio_window_kind;

/* Works zero-initialised: `audio_feature_config c = {0};` is 40 mels,
 * 13 MFCCs, pre-emphasis 0.97, 25 ms / 10 ms Hamming frames, log floor
 * 1e-10, with deltas and delta-deltas and normalisation (39 dims). */
typedef struct audio_feature_config {
    int n_mels;             /* 0 = 40 */
    int n_mfcc;             /* 0 = 13; at most n_mels */
    float preemph;          /* 0 = 0.97; negative = no pre-emphasis */
    float frame_ms;         /* 0 = 25 */
    float hop_ms;           /* 0 = 10 */
    audio_window_kind window;
    float fmin, fmax;       /* mel range in Hz; fmax 0 = rate / 2 */
    float log_floor;        /* 0 = 1e-10 */
    int no_deltas;          /* 1: MFCCs only (n_mfcc dims) */
    int no_cmvn;            /* 1: no mean/variance normalisation */
} audio_feature_config;

/* The whole pipeline: *out gets frames x dims floats, row-major (a frame
 * a row), dims = 3 n_mfcc (n_mfcc with no_deltas). A signal shorter than
 * one frame gives one zero-padded frame. cfg NULL = defaults. */
rc_status audio_features(const float *samples, size_t n, int rate,
                         const audio_feature_config *cfg, float **out, int *frames, int *dims);

/* The frame length and hop in samples for a config at a rate, and the
 * FFT size (the next power of two >= frame length). */
rc_status audio_frame_geometry(const audio_feature_config *cfg, int rate, int *frame_len,
                               int *hop, int *n_fft);
/* Frames of n samples: 1 + (n - frame_len) / hop (the tail that does not
 * fill a frame is dropped), or 1 when n < frame_len; 0 when n is 0. */
int audio_frame_count(size_t n, int frame_len, int hop);

/* y[0] = x[0], y[i] = x[i] - coef x[i-1]. y may be x. */
void audio_preemphasis(const float *x, size_t n, float coef, float *y);
/* The window's len coefficients into w. */
rc_status audio_window(audio_window_kind kind, int len, float *w);
/* Cuts x into n_frames frames of frame_len samples every hop samples,
 * zero-padded past n, each multiplied by the window w; out holds
 * n_frames * frame_len floats. */
void audio_frames(const float *x, size_t n, int n_frames, int frame_len, int hop,
                  const float *w, float *out);
/* |FFT|^2 of each frame (zero-padded to n_fft, a power of two >=
 * frame_len) with FFTW's real-to-complex transform, no scaling: out holds
 * n_frames * (n_fft / 2 + 1) floats. */
rc_status audio_power_spectrum(const float *frames, int n_frames, int frame_len, int n_fft,
                               float *out);
/* Triangular filters, n_mels x (n_fft / 2 + 1), row-major: centres
 * equally spaced on the HTK mel scale between fmin and fmax (n_mels + 2
 * points), weights rising from 0 at the left point to 1 at the centre
 * and back to 0 at the right, evaluated at the bin frequencies
 * k rate / n_fft (unnormalised peaks of 1). */
rc_status audio_mel_filterbank(int n_mels, int n_fft, int rate, float fmin, float fmax,
                               float *out);
/* log(max(fbank . power, floor)) for each frame: out n_frames x n_mels. */
void audio_log_mel(const float *power, int n_frames, int n_bins, const float *fbank,
                   int n_mels, float floor, float *out);
/* Orthonormal DCT-II of each row (n_in values), keeping the first n_out:
 * y_k = s_k sum_i x_i cos(pi k (2 i + 1) / (2 n_in)), s_0 = sqrt(1/n_in),
 * s_k = sqrt(2/n_in) (scipy.fft.dct(x, norm='ortho')[:n_out]). */
void audio_dct(const float *in, int n_frames, int n_in, int n_out, float *out);
/* Deltas: d_t = sum_{k=1..2} k (c_{t+k} - c_{t-k}) / (2 sum k^2), the
 * frames past either end taken as the first / last frame. */
void audio_deltas(const float *in, int n_frames, int dims, float *out);
/* In place, each of the dims columns to mean 0 and (population) standard
 * deviation 1; a constant column becomes 0. */
void audio_cmvn(float *x, int n_frames, int dims);

#endif
