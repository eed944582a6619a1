"""Recordings in, 24 kHz mono float32 samples out: what MERT (CLaMP 3's audio front end) reads.

Decoding: libsndfile through `soundfile` (WAV, FLAC, OGG/Vorbis, Opus, MP3), PyAV (FFmpeg) for
what it cannot read (M4A/AAC, unusual MP3s). 16-bit PCM becomes int16 / 32768 as in the
authors' torchaudio loading. Mono is the mean of the channels.

Resampling reproduces torchaudio's `Resample` defaults, which the authors use (windowed sinc,
6 zero crossings, roll-off 0.99, Hann window, kernel computed in float64 and applied in
float32): torchaudio's wheels pin an older torch than ours, so the kernel is built here.
"""

from __future__ import annotations

import io
import math

import numpy as np

from ..errors import InputError

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a")
MERT_RATE = 24_000
MAX_SECONDS = 60 * 60          # longer recordings are refused rather than decoded into memory


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """(mono float32 samples, sample rate) of an audio file's bytes."""
    if not data:
        raise InputError("empty file")
    try:
        import soundfile

        with soundfile.SoundFile(io.BytesIO(data)) as f:
            if f.frames > MAX_SECONDS * f.samplerate:
                raise InputError(f"longer than {MAX_SECONDS // 60} minutes ({f.frames / f.samplerate / 60:.0f} min)")
            rate = f.samplerate
            # block by block into one mono array: the multichannel signal never exists whole
            mono, filled = np.empty(max(f.frames, 0), np.float32), 0
            for b in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                if filled + len(b) > len(mono):      # a header that undercounts: grow (rare)
                    mono = np.concatenate([mono[:filled], np.empty(len(b) + len(mono), np.float32)])
                mono[filled:filled + len(b)] = b.mean(axis=1, dtype=np.float32) if b.shape[1] > 1 else b[:, 0]
                filled += len(b)
            mono = mono[:filled]
    except InputError:
        raise
    except Exception:  # noqa: BLE001 - libsndfile refused it: FFmpeg may still read it
        x, rate = _decode_with_av(data)
        mono = x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]
    if mono.size == 0:
        raise InputError("no audio samples")
    if not np.isfinite(mono).all():
        raise InputError("the decoded audio holds NaN or infinite samples")
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def _decode_with_av(data: bytes) -> tuple[np.ndarray, int]:
    try:
        import av

        with av.open(io.BytesIO(data)) as container:
            streams = container.streams.audio
            if not streams:
                raise InputError("no audio stream")
            stream = streams[0]
            if stream.codec_context is None:     # a codec tag FFmpeg has no decoder for (no rate, no layout)
                raise InputError("an audio codec FFmpeg cannot decode")
            rate = stream.rate or stream.codec_context.sample_rate
            resampler = av.AudioResampler(format="flt", layout=stream.layout.name if stream.layout else "mono",
                                          rate=rate)
            chunks, frames = [], 0
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1, out.layout.nb_channels if hasattr(out.layout, "nb_channels")
                                                   else len(out.layout.channels))
                    chunks.append(arr)
                    frames += arr.shape[0]
                    if frames > MAX_SECONDS * rate:
                        raise InputError(f"longer than {MAX_SECONDS // 60} minutes")
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - FFmpeg's errors on damaged files are many
        raise InputError(f"not a readable audio file ({type(exc).__name__}: {str(exc)[:80]})") from None
    if not chunks:
        raise InputError("no audio samples")
    return np.concatenate(chunks).astype(np.float32), int(rate)


def sinc_kernel(orig: int, new: int, zeros: int = 6, rolloff: float = 0.99) -> tuple[np.ndarray, int]:
    """torchaudio's resampling filters: (new', 1, taps) float32 and the padding width, where
    orig' and new' are the rates divided by their gcd."""
    g = math.gcd(orig, new)
    orig, new = orig // g, new // g
    cutoff = min(orig, new) * rolloff
    width = math.ceil(zeros * orig / cutoff)
    taps = np.arange(-width, width + orig, dtype=np.float64) / orig
    t = (np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + taps[None, :]) * cutoff
    t = np.clip(t, -zeros, zeros)
    window = np.cos(t * math.pi / zeros / 2) ** 2
    t = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(t == 0, 1.0, np.sin(t) / np.where(t == 0, 1.0, t))
    return (sinc * window * (cutoff / orig)).astype(np.float32)[:, None, :], width


# Resampling exactly from `orig` to `new` Hz builds a filter of new' x (orig' + taps) coefficients
# (the rates over their gcd): a few thousand for the usual rates, 16.6 million for 44,056 Hz, but
# 10^9 (8 GB to build) for a rate such as 44,101 Hz that no recorder uses (a damaged header says it).
MAX_FILTER = 2**24


def check_rate(orig: int, new: int = MERT_RATE) -> None:
    """Refuse a sample rate that cannot be resampled to `new` Hz within MAX_FILTER coefficients."""
    if orig <= 0:
        raise InputError(f"a sample rate of {orig} Hz")
    g = math.gcd(orig, new)
    o, n = orig // g, new // g
    size = n * (2 * math.ceil(6 * o / (min(o, n) * 0.99)) + o)
    if size > MAX_FILTER:
        raise InputError(f"a sample rate of {orig} Hz, which cannot be resampled to {new} Hz exactly without a "
                         f"filter of {size:,} coefficients (a damaged header, or resample it to 44,100 or 48,000 Hz first)")


def resample(x: np.ndarray, orig: int, new: int = MERT_RATE, chunk: int = 1 << 20) -> np.ndarray:
    """Band-limited resampling of mono float32 samples, as torchaudio.transforms.Resample does it.

    torchaudio pads the whole signal and runs one strided convolution; here the same convolution
    runs over `chunk` input samples at a time into one preallocated output, so neither a padded
    copy of a long recording nor a second 24 kHz one is ever made.
    """
    if orig == new:
        return x
    check_rate(orig, new)
    import torch

    kernel, width = sinc_kernel(orig, new)
    weight = torch.from_numpy(kernel)
    g = math.gcd(orig, new)
    stride, up = orig // g, new // g
    x = np.ascontiguousarray(x, dtype=np.float32)
    frames = len(x) // stride + 1                  # torchaudio's convolution positions
    out = np.empty(frames * up, np.float32)
    per = max(1, chunk // stride)
    with torch.no_grad():
        for k0 in range(0, frames, per):
            k1 = min(frames, k0 + per)
            lo, hi = k0 * stride - width, (k1 - 1) * stride + width + stride   # the inputs frames k0..k1-1 read
            piece = np.zeros(hi - lo, np.float32)
            a, b = max(lo, 0), min(hi, len(x))
            if b > a:
                piece[a - lo:b - lo] = x[a:b]
            y = torch.nn.functional.conv1d(torch.from_numpy(piece)[None, None], weight, stride=stride)
            out[k0 * up:k1 * up] = y[0].T.reshape(-1).numpy()
    return out[:math.ceil(up * len(x) / stride)]      # a view: the 24 kHz signal exists once


def load_recording(data: bytes) -> np.ndarray:
    """An audio file's bytes -> mono float32 at 24 kHz."""
    samples, rate = decode(data)
    return resample(samples, rate)
