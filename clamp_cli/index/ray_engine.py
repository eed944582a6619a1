"""`clamp embed --engine ray`: the local engine's conversion and encoder on a Ray cluster (Ray Data),
through Parquet shards, into the same library.

The driver hashes the files (the cache's stat cache), imports the finished shards an earlier
run left, and leaves out every content the library then holds. The rest flows through one Ray
Data pipeline: file keys -> conversion tasks on CPUs (each file in a `formats.pool` worker, with
the local engine's time and memory limits, so a crash or a runaway score costs one file) -> a
pool of encoder actors (a GPU each where the cluster has GPUs, else a fraction of a CPU, so
that the conversion tasks are not starved) that embed a batch of whole files and write it as
one shard of the library's interchange format (`index.imports`) under a temporary name, then
renamed: a shard is complete or absent, and a retried batch rewrites the same name. The driver
imports the shards as they finish, so an interrupted run (a killed worker, Ctrl-C) keeps its
work, and a rerun does only what is left, each key once (the library's import skips what it holds).

Ray is an optional extra (`pip install 'clamp-cli[ray]'`); nothing here imports it at import time.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ClampError, UsageError

INSTALL = "the Ray engine needs Ray: pip install 'clamp-cli[ray]' (or pip install 'ray[data]')"
FILES_PER_SHARD = 128       # files per encoder batch and shard (a killed actor loses at most one)
FILES_PER_TASK = 32         # files per conversion task: enough tasks to keep every CPU busy on small jobs
SHARD_GLOB = "part-*.parquet"
ENV_PREFIXES = ("CLAMP_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_")   # what the workers must see as the driver does


class RayEngineError(ClampError):
    """The cluster could not run the job (no cluster at --address, a worker failing on every
    retry): exit 1, with one line; the finished shards are kept for the rerun. (Ray missing is a
    usage error, exit 2; the model failing to load on a worker is a model error, exit 3.)"""

    exit_code = 1


@dataclass(frozen=True)
class ModelRef:
    """What an encoder actor needs to load the driver's model (it is never pickled itself)."""

    name: str
    text_backbone: str | None
    device: str
    precision: str
    batch_size: int | None
    model_id: str
    prep: str


@dataclass
class FileOutcome:
    """A converted (and embedded) file, as an actor reports it: its pieces, or why each failed."""

    path: bytes
    hash: str
    items: list[str] = field(default_factory=list)        # the pieces embedded ('' for the whole file)
    all_items: list[str] = field(default_factory=list)    # every piece the file holds, failed ones too
    errors: list[tuple[str, str]] = field(default_factory=list)    # (item or '', reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)


def ray_available() -> bool:
    """Found, not imported: importing Ray costs a second and starts threads before the conversion
    workers fork (the job imports it when it starts)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None     # (a submodule's spec would import ray)


def shard_name(hashes: Sequence[str]) -> str:
    """A batch's shard is named by its files' contents: a retried batch writes the same shard."""
    digest = hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()[:20]
    return f"part-{digest}.parquet"


def job_folder(folder: Path, ref: ModelRef) -> Path:
    """The shards of one model and one preparation (per tune or whole file) in a folder of their
    own below the shard folder: a job never imports, clears or rewrites another's."""
    safe = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in ref.model_id)
    return folder / f"{safe}-{hashlib.sha256(ref.prep.encode()).hexdigest()[:8]}"


def finished_shards(folder: Path) -> list[Path]:
    return sorted(folder.glob(SHARD_GLOB))


def clear_partial(folder: Path) -> None:
    """Temporary shards of a run that was killed mid-write (never read: not a shard's name)."""
    for tmp in folder.glob(".part-*.tmp"):
        tmp.unlink(missing_ok=True)


# -- what runs on the cluster ------------------------------------------------------------

def _use_env(env: dict[str, str]) -> None:
    os.environ.update(env)


def convert_batch(batch: dict, style: str, whole_file: bool, env: dict[str, str]) -> dict:
    """Ray task: a batch of files -> for each, its pieces' model text or the reason it failed."""
    _use_env(env)
    batch = batch.to_pydict()
    from ..formats.convert import conversion_crashed, limit_hit
    from ..formats.limits import conversion_limits
    from ..formats.pool import map_files
    from .embedder import convert_file

    keys = [bytes(k) for k in batch["path"]]
    hashes = [str(h) for h in batch["hash"]]
    out: dict[str, list] = {"path": [], "hash": [], "items": [], "texts": [], "errors": [], "warnings": []}
    converted = map_files(convert_file, [os.fsdecode(k) for k in keys], 1, style, whole_file,
                          on_crash=conversion_crashed, limits=conversion_limits(), on_limit=limit_hit,
                          per_file=hashes)
    try:
        for key, h, (_, pieces) in zip(keys, hashes, converted):
            out["path"].append(key)
            out["hash"].append(h)
            out["items"].append([p.item or "" for p in pieces])
            out["texts"].append(["" if p.error else p.text or "" for p in pieces])
            out["errors"].append([p.error or "" for p in pieces])
            out["warnings"].append([" | ".join(p.warnings) for p in pieces])
    finally:
        converted.close()
    return out


class EncodeShards:
    """Ray actor: loads the model once, then embeds batches of converted files into shards."""

    def __init__(self, ref: ModelRef, folder: str, threads: int, env: dict[str, str]):
        _use_env(env)
        import torch

        from ..models import load_model

        if threads:
            torch.set_num_threads(threads)
        self.ref, self.folder = ref, Path(folder)
        try:
            self.encoder = load_model(ref.name, text_backbone=ref.text_backbone, device=ref.device,
                                      download=False, precision=ref.precision)
        except Exception as exc:  # noqa: BLE001 - one line the driver finds in Ray's wrapped error (exit 3 there)
            raise RuntimeError(f"{MODEL_FAILED}{_first_line(exc)}") from None
        if self.encoder.model_id != ref.model_id:
            raise RuntimeError(f"{MODEL_FAILED}the model on this worker is {self.encoder.model_id}, "
                               f"not the driver's {ref.model_id}")

    def __call__(self, batch: dict) -> dict:
        from ..errors import InputError
        from .imports import write_parquet_shard

        batch = batch.to_pydict()
        enc = self.encoder
        seqs, keys, paths, errors = [], [], [], []
        for key, h, items, texts, errs in zip(batch["path"], batch["hash"], batch["items"], batch["texts"], batch["errors"]):
            key, h = bytes(key), str(h)
            failed = []
            for item, text, err in zip(items, texts, errs):
                if err:
                    failed.append(f"{item}\0{err}")
                    continue
                try:
                    seqs.append(enc.music_ids(str(text)))
                except InputError as exc:
                    failed.append(f"{item}\0{exc}")
                    continue
                keys.append(f"{h}#{item}" if item else h)
                try:
                    paths.append(key.decode("utf-8"))
                except UnicodeDecodeError:
                    paths.append(None)      # not UTF-8: the driver records the file by its bytes
            errors.append(failed)
        hashes = [str(h) for h in batch["hash"]]
        name = ""
        if seqs:
            vectors = np.asarray(enc.embed_prepared("music", seqs, self.ref.batch_size), dtype=np.float32)
            name = shard_name(hashes)
            write_parquet_shard(self.folder / name, keys, paths, self.ref.model_id, [self.ref.prep] * len(keys), vectors)
        return {"path": list(batch["path"]), "hash": hashes, "items": list(batch["items"]), "failed": errors,
                "warnings": list(batch["warnings"]), "shard": [name] * len(hashes)}


# -- the driver -------------------------------------------------------------------------

@dataclass
class RayReport:
    outcomes: list[FileOutcome] = field(default_factory=list)    # the files converted in this run
    rows_added: int = 0
    shards: int = 0                    # shards imported (from this run and from earlier ones)
    problems: list[tuple[str, str]] = field(default_factory=list)
    workers: str = ""                  # how the pool was sized, for the notice
    vectors: dict[str, np.ndarray] = field(default_factory=dict)    # piece key -> vector, from the shards read


class _FolderLock:
    """One job per shard folder: a second run on it would clear the first one's temporary shards."""

    def __init__(self, folder: Path):
        self.fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise UsageError(f"{folder}: another `clamp embed --engine ray` is using these shards") from None

    def release(self) -> None:
        os.close(self.fd)


def _quiet_ray() -> None:
    """Ray's own logging and progress bars off: stdout is the results', stderr our one-line notices."""
    import logging

    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")    # its C++ core's lines, e.g. about ray#53727
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    for name in ("ray", "ray.data", "ray.train", "ray.tune"):
        logging.getLogger(name).setLevel(logging.ERROR)


class _stderr_silenced:
    """File descriptor 2 to /dev/null for a moment (C++ code writes to it directly)."""

    def __enter__(self):
        import sys

        sys.stderr.flush()
        self.saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)


CONNECT_TIMEOUT = 10.0      # seconds to reach a cluster's address before Ray is asked to (it waits minutes)


def cluster_address(address: str | None) -> str | None:
    """The cluster the job goes to: --address, else $RAY_ADDRESS (as ray.init reads it), else None
    (a local instance); a malformed one is a usage error, also when the job turns out to need no
    cluster."""
    where = "--address" if address else "$RAY_ADDRESS"
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address != "auto" and _host_port(address) is None:
        raise UsageError(f"{where} {address}: expected host:port, ray://host:port or auto")
    return address


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of host:port or scheme://host:port; None when it is neither."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rstrip("/").rpartition(":")
    return (host.strip("[]"), int(port)) if sep and port.isdigit() and host else None


def check_address(address: str | None) -> None:
    """A cluster address that no one answers is one line at once (ray.init waits for minutes, silent)."""
    import socket

    address = cluster_address(address)
    if not address or address == "auto":
        return
    try:
        socket.create_connection(_host_port(address), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc) or type(exc).__name__)
        raise RayEngineError(f"ray: cannot reach the cluster at {address}: {reason.lower()}") from None


def _silence_ray_loggers() -> None:
    """Every logger of Ray's at CRITICAL and not propagating: Ray Data logs each retry of a failing
    actor at ERROR (dozens of lines); the job's failure is ours to say, once."""
    import logging

    for name in list(logging.root.manager.loggerDict):
        if name == "ray" or name.startswith("ray."):
            logger = logging.getLogger(name)
            logger.setLevel(logging.CRITICAL)
            logger.propagate = False
            for handler in list(logger.handlers):
                logger.removeHandler(handler)


def _start(address: str | None):
    import logging

    _quiet_ray()
    try:
        import ray
        import ray.data  # noqa: F401 - Ray without its data extra
    except ImportError:
        raise UsageError(INSTALL) from None

    try:
        with _stderr_silenced():    # the core's one start-up line ("Set ray log level ...") is not ours to print
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                     configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayEngineError(f"ray: cannot {'reach the cluster at ' + address if address else 'start a local Ray instance'}: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    _silence_ray_loggers()
    return ray


def pool_shape(resources: dict, node_cpus: Sequence[int] = ()) -> tuple[int, dict, int, str]:
    """Encoder actors, their resources, torch threads each, and the words for the notice: one actor
    per GPU; without GPUs one per 8 CPUs at a quarter of a CPU each (the conversion tasks, at half a
    CPU each, get the rest; resources that differ also keep Ray from fusing the two stages into
    one actor, where conversion would wait for the encoder). An actor's torch threads are sized by
    the smallest node's CPUs (`node_cpus`), never by the whole cluster's."""
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    if gpus:
        return gpus, {"num_gpus": 1, "num_cpus": 1}, 0, f"{gpus} encoder actor(s), a GPU each"
    actors = max(1, cpus // 8)
    node = min((int(c) for c in node_cpus if c), default=cpus)
    threads = max(1, min(node, cpus // actors))
    return actors, {"num_cpus": 0.25}, threads, f"{actors} encoder actor(s) on CPUs ({threads} threads each), {cpus} CPUs"


def _node_cpus(ray) -> list[int]:
    try:
        return [int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    except Exception:  # noqa: BLE001 - a sizing hint only
        return []


def env_for_workers() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}


def run_job(lib, store, ref: ModelRef, files: Sequence[tuple[bytes, str]], style: str, whole_file: bool,
            folder: Path, address: str | None = None, keep_shards: bool = True,
            on_progress: Callable[[int], None] | None = None,
            on_start: Callable[[str], None] | None = None) -> RayReport:
    """Embed `files` ((path key, content hash)) on Ray into `lib`, the new vectors into `store` (the
    feature cache) too; contents the library holds whole are left out."""
    if not ray_available():
        raise UsageError(INSTALL)
    address = cluster_address(address)
    given, folder = folder, job_folder(Path(os.path.abspath(folder)), ref)   # the workers' working folder is not ours
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = _FolderLock(folder)
    except OSError as exc:
        raise UsageError(f"{given}: cannot keep shards there ({(exc.strerror or str(exc)).lower()})") from None
    report = RayReport()
    try:
        clear_partial(folder)
        _import(lib, store, ref, finished_shards(folder), report, keep_shards)     # an earlier run's work
        done = complete_contents(lib, store, ref.prep, {h for _, h in files})
        todo, seen = [], set()
        for key, h in files:
            if h not in done and h not in seen:
                seen.add(h)
                todo.append({"path": key, "hash": h})
        if on_progress and len(files) - len(todo):
            on_progress(len(files) - len(todo))
        if not todo:
            return report
        check_address(address)
        try:
            if on_start:
                on_start(f"connecting to {address}" if address else "starting a local Ray instance")
            ray = _start(address)
            actors, resources, threads, report.workers = pool_shape(ray.cluster_resources(), _node_cpus(ray))
            if on_start:
                on_start(report.workers)
            env = env_for_workers()
            import ray.data

            blocks = max(1, -(-len(todo) // FILES_PER_TASK))
            ds = ray.data.from_items(todo, override_num_blocks=blocks)
            ds = ds.map_batches(convert_batch, fn_kwargs={"style": style, "whole_file": whole_file, "env": env},
                                batch_size=FILES_PER_TASK, batch_format="pyarrow", num_cpus=0.5)
            ds = ds.map_batches(_bound(EncodeShards, ref, str(folder), threads, env),
                                batch_size=FILES_PER_SHARD, batch_format="pyarrow",
                                compute=ray.data.ActorPoolStrategy(size=actors), **resources)
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                _silence_ray_loggers()      # loggers Ray made since (its executor's) stay quiet too
                _take(batch.to_pydict(), lib, store, ref, folder, report, keep_shards, on_progress)
        except KeyboardInterrupt:
            raise
        except ClampError:
            raise
        except Exception as exc:  # noqa: BLE001 - Ray's errors wrap the worker's; one line, the shards kept
            model_failed = _model_error_in(exc)
            if model_failed:
                from ..errors import ModelError

                raise ModelError(f"ray: a worker could not load the model: {model_failed}") from None
            raise RayEngineError(f"ray: the job failed ({_first_line(exc)}); finished shards are kept in {folder}, "
                                 f"run the command again to go on") from None
        finally:        # also when the start itself failed half-way
            started = sys.modules.get("ray")
            if started is not None and started.is_initialized():
                started.shutdown()
        return report
    finally:
        lock.release()


MODEL_FAILED = "clamp model not loaded: "    # how an encoder actor's constructor says its model failed


def _model_error_in(exc: BaseException) -> str:
    """The reason an encoder actor gave for not loading the model, found in Ray's wrapped error."""
    for line in str(exc).splitlines():
        if MODEL_FAILED in line:
            return line.split(MODEL_FAILED, 1)[1].strip()[:300]
    return ""


def complete_contents(lib, store, prep: str, hashes: set[str]) -> set[str]:
    """Contents the library holds whole (dead rows count: a file brought back revives them): every
    piece the feature cache's list of the file names, when it has one, else any piece at all. A
    tune that failed in an earlier run is in the list and not in the library, and so is retried,
    as the local engine retries it."""
    if not hashes:
        return set()
    held = lib.pieces_of(hashes, live_only=False)
    manifests = store.get_pieces(prep, held)
    done = set()
    for h, pieces in held.items():
        have = {p.item or "" for p in pieces}
        if h not in manifests or {i or "" for i in manifests[h]} <= have:
            done.add(h)
    return done


def _bound(cls, *args):
    """The actor class with its arguments inside (pickled with it): Ray keeps constructor arguments
    in the object store, from which a restarted actor could not get them back (ray#53727)."""

    class Bound(cls):
        def __init__(self):
            super().__init__(*args)

    Bound.__name__ = Bound.__qualname__ = cls.__name__
    return Bound


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    lines = [t for t in text if t.strip() and not t.startswith(("Traceback", "  "))]
    return (lines[-1] if lines else type(exc).__name__)[:300]


def _import(lib, store, ref: ModelRef, shards: list[Path], report: RayReport, keep: bool) -> None:
    """Shards into the library, and their vectors (as the model gave them, not the library's
    normalised copy) into the feature cache and the report."""
    if not shards:
        return
    from .imports import import_parquet

    got = import_parquet(lib, shards)
    report.rows_added += got.rows_added
    report.problems += got.problems
    bad = {where for where, _ in got.problems}
    good = [s for s in shards if str(s) not in bad]
    report.shards += len(good)
    for shard in good:
        vectors = shard_vectors(shard, ref.prep)
        report.vectors.update(vectors)
        if vectors and not store.readonly:
            store.put(ref.model_id, ref.prep, vectors)
    if not keep:
        for s in good:
            s.unlink(missing_ok=True)


def shard_vectors(shard: Path, prep: str) -> dict[str, np.ndarray]:
    """key -> vector of a shard's rows of `prep`."""
    import pyarrow.parquet as pq

    table = pq.read_table(str(shard), columns=["key", "prep", "vector"], use_threads=False)
    keys, preps = table.column("key").to_pylist(), table.column("prep").to_pylist()
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    block = flat.reshape(len(keys), -1) if keys else flat.reshape(0, 1)
    return {k: block[i].copy() for i, (k, p) in enumerate(zip(keys, preps)) if p == prep}


def _take(rows: dict, lib, store, ref: ModelRef, folder: Path, report: RayReport, keep: bool, on_progress) -> None:
    """One finished batch from the actors: its shard into the library, its files' outcomes noted."""
    shards = sorted({name for name in rows["shard"] if name})
    _import(lib, store, ref, [folder / name for name in shards], report, keep)
    for path, h, items, failed, warnings in zip(rows["path"], rows["hash"], rows["items"], rows["failed"], rows["warnings"]):
        errors = [tuple(f.split("\0", 1)) for f in failed]
        bad = {item for item, _ in errors}
        outcome = FileOutcome(bytes(path), h, [i for i in items if i not in bad], list(items), errors,
                              [(item, w) for item, w in zip(items, warnings) if w])
        report.outcomes.append(outcome)
    if on_progress:
        on_progress(len(rows["path"]))


def ray_results(collection, files: Sequence[Path], scope: Sequence[Path], ref: ModelRef, folder: Path,
                address: str | None = None, keep_shards: bool = True,
                on_progress: Callable[[int], None] | None = None,
                on_start: Callable[[str], None] | None = None):
    """`clamp embed --engine ray` over score files: the job, the files recorded in the library, and
    one Result per piece (input order, the vector as the model gave it), as the local engine's
    `Collection.results` gives them. Returns (results, RayReport)."""
    from ..fsutil import path_key
    from .embedder import Result, hash_files

    lib, embedder = collection.library, collection.embedder
    found = [Result(p, "music") for p in files]
    hash_files(embedder.store, found)
    good = [r for r in found if r.status != "failed"]
    failed_now = [r for r in found if r.status == "failed"]
    if on_progress and failed_now:
        on_progress(len(failed_now))
    report = run_job(lib, embedder.store, ref, [(path_key(r.path), r.hash) for r in good],
                     embedder.encoder.layout.music_text, embedder.whole_file, folder, address, keep_shards,
                     on_progress, on_start)
    by_hash = {o.hash: o for o in report.outcomes}
    contents = lib.pieces_of({r.hash for r in good}, live_only=False)    # dead rows: revived by the add below
    recorded = []
    for r in good:
        if r.hash in contents:
            try:
                recorded.append((r.path, os.stat(path_key(r.path)), r.hash))
            except OSError:
                pass
    for start in range(0, len(recorded), 4096):
        lib.add(recorded[start:start + 4096], {})
    if scope:
        plan = lib.reconcile([r.path for r in good], scope)
        if plan.gone:
            lib.remove_files(plan.gone)
    out: list[Result] = []
    rows: dict[int, int] = {}          # id(result) -> its library row
    for r in found:
        if r.status == "failed":
            out.append(r)
            continue
        outcome = by_hash.get(r.hash)
        warned = dict(outcome.warnings) if outcome else {}
        for piece in contents.get(r.hash, ()):
            status = "embedded" if outcome is not None else "cached"
            res = Result(r.path, piece.kind, piece.item or None, r.hash, status=status,
                         warnings=[w for w in warned.get(piece.item, "").split(" | ") if w])
            rows[id(res)] = piece.row
            out.append(res)
        for item, reason in outcome.errors if outcome else ():
            bad = Result(r.path, "music", item or None, r.hash)
            bad.fail(reason)
            out.append(bad)
    _vectors_of(out, rows, lib, embedder.store, ref, report.vectors)
    _to_cache(embedder.store, ref, report.outcomes, out)
    return out, report


def _vectors_of(results, rows: dict[int, int], lib, store, ref: ModelRef, from_shards: dict[str, np.ndarray]) -> None:
    """Each result's vector as the model gave it: from this run's shards, else the feature cache;
    the library's (normalised) copy only for a piece neither holds."""
    ok = [r for r in results if r.status != "failed"]
    cached = store.get(ref.model_id, ref.prep, {r.key for r in ok if r.key not in from_shards}, lib.dim)
    rest = [r for r in ok if r.key not in from_shards and r.key not in cached]
    for r in ok:
        r.vector = from_shards.get(r.key, cached.get(r.key))
    if rest:
        for r, v in zip(rest, lib.raw_vectors([rows[id(r)] for r in rest])):
            r.vector = v


def _to_cache(store, ref: ModelRef, outcomes: list[FileOutcome], results) -> None:
    """The piece lists of this run's files into the feature cache (their vectors are there already),
    as the local engine leaves them: a later `clamp embed` without Ray, or `-O`, finds them."""
    if store.readonly:
        return
    new = {o.hash: o for o in outcomes}
    pieces = {h: [i or None for i in o.all_items] for h, o in new.items()
              if o.all_items and not (len(o.all_items) == 1 and o.errors and not o.all_items[0])}
    if pieces:      # the vectors went in as their shards were imported
        store.put_pieces(ref.prep, pieces)
