#!/usr/bin/python3
"""make_audio_reference - the reference for tests/test_audio.c: each stage
of the MFCC front end (src/audio/features.c) on a synthetic signal,
computed here with NumPy/SciPy from the textbook formulas, in float64.

The signal: 0.25 s at 8 kHz, a linear chirp from 200 Hz to 3 kHz plus
white noise (seeded), stored as float32; every stage is computed from the
float32 signal. Written as tests/fixtures/audio_reference.safetensors
(float32 tensors; the configuration under __metadata__).

    /usr/bin/python3 scripts/make_audio_reference.py [out.safetensors]
"""

import os
import sys

import numpy as np
import scipy.fft
import scipy.signal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recur_safetensors  # noqa: E402

RATE = 8000
N = 2000
FRAME = 200   # 25 ms
HOP = 80      # 10 ms
N_FFT = 256
N_MELS = 40
N_MFCC = 13
PREEMPH = 0.97
FLOOR = 1e-10


def signal():
    t = np.arange(N) / RATE
    chirp = 0.5 * scipy.signal.chirp(t, f0=200.0, t1=t[-1], f1=3000.0, method="linear")
    noise = 0.05 * np.random.default_rng(20240601).standard_normal(N)
    return (chirp + noise).astype(np.float32)


def mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def inv_mel(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
        "audio_reference.safetensors")
    x32 = signal()
    x = x32.astype(np.float64)
    pre = np.append(x[0], x[1:] - PREEMPH * x[:-1])
    win = np.hamming(FRAME)  # symmetric: 0.54 - 0.46 cos(2 pi n / (M - 1))
    n_frames = 1 + (N - FRAME) // HOP
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n_frames)[:, None]
    frames = pre[idx] * win[None, :]
    spec = np.fft.rfft(frames, n=N_FFT, axis=1)
    power = np.abs(spec) ** 2
    # triangles by interpolation at the bin frequencies
    freqs = np.arange(N_FFT // 2 + 1) * RATE / N_FFT
    pts = inv_mel(np.linspace(mel(0.0), mel(RATE / 2), N_MELS + 2))
    fbank = np.stack([np.interp(freqs, pts[m:m + 3], [0.0, 1.0, 0.0], left=0.0, right=0.0)
                      for m in range(N_MELS)])
    logmel = np.log(np.maximum(power @ fbank.T, FLOOR))
    mfcc = scipy.fft.dct(logmel, type=2, norm="ortho", axis=1)[:, :N_MFCC]

    def deltas(c):
        p = np.pad(c, ((2, 2), (0, 0)), mode="edge")
        T = c.shape[0]
        num = sum(k * (p[2 + k:2 + k + T] - p[2 - k:2 - k + T]) for k in (1, 2))
        return num / (2 * (1 + 4))

    d1 = deltas(mfcc)
    d2 = deltas(d1)
    feats = np.concatenate([mfcc, d1, d2], axis=1)
    feats = (feats - feats.mean(axis=0)) / feats.std(axis=0)

    tensors = {
        "signal": x32, "preemph": pre, "window": win, "frames": frames, "power": power,
        "fbank": fbank, "logmel": logmel, "mfcc": mfcc, "delta": d1, "delta2": d2,
        "features": feats,
    }
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    meta = {"rate": str(RATE), "frame": str(FRAME), "hop": str(HOP), "n_fft": str(N_FFT),
            "n_mels": str(N_MELS), "n_mfcc": str(N_MFCC), "preemph": str(PREEMPH),
            "frames": str(n_frames),
            "made_by": "scripts/make_audio_reference.py (numpy %s, scipy %s)"
                       % (np.__version__, scipy.__version__)}
    recur_safetensors.write(out, tensors, meta)
    print("wrote %s (%d bytes, %d frames)" % (out, os.path.getsize(out), n_frames))


if __name__ == "__main__":
    main()
