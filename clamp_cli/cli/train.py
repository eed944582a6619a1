"""`clamp train`: make training data from music21's corpus and train a model like clamp-mini."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .common import JobsOpt, QuietOpt, Reporter, handle_errors
from .outputs import FORCE_HINT, Entries, refuse_inputs

app = typer.Typer(help="Train clamp-mini (or your own model of its layout) on CPU or GPU.",
                  no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})

MINI_EPOCHS = 8  # the shipped recipe: 175-200 s an epoch on 2 cores
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (data split, sampling, initialisation).")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue from the last finished epoch.")]
TuneRouteOpt = Annotated[str, typer.Option(
    "--tune-route", help="How training tunes become MIDI: varied (render.py's styles, recipe 3) or music21 "
    "(music21's writer, recipe 1). Works always use music21's.", autocompletion=lambda: ["varied", "music21"])]
UnseenOpt = Annotated[str, typer.Option(
    "--unseen", metavar="COLLECTION", help="The tune book held out whole, never trained on (the \"unseen\" "
    "figures of train eval): ryansMammoth, oneills1850 or airdsAirs.",
    autocompletion=lambda: ["ryansMammoth", "oneills1850", "airdsAirs"])]
ModelForceOpt = Annotated[bool, typer.Option(
    "--force", help="Replace a model that exists in the output folder (train again from scratch).")]


def arch_names() -> list[str]:
    from ..models.checkpoint import PRESET_DIR

    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


@app.command("prepare")
@handle_errors
def prepare_cmd(
    out_dir: Annotated[Path, typer.Argument(metavar="DIR", help="Directory for data.jsonl and the files it names.")],
    seed: SeedOpt = 0,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Keep a seeded sample of N pieces.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace the training data in DIR (data.jsonl, abc/, scores/, midi/).")] = False,
    tune_route: TuneRouteOpt = "varied",
    unseen: UnseenOpt = "ryansMammoth",
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Write training data (scores, MIDI renderings, multilingual descriptions) from music21's corpus."""
    _check_choices(tune_route, unseen)
    entries = _prepare_entries(out_dir, force)
    _prepare(entries, seed=seed, jobs=jobs, log=Reporter(quiet).note, limit=limit, tune_route=tune_route,
             unseen=unseen)
    print(out_dir / "data.jsonl")
    return 0


def _check_choices(tune_route: str, unseen: str) -> None:
    from ..train.prepare import TUNE_ROUTES, UNSEEN_CHOICES

    if tune_route not in TUNE_ROUTES:
        raise UsageError(f"--tune-route: {tune_route!r} is not one of {', '.join(TUNE_ROUTES)}")
    if unseen not in UNSEEN_CHOICES:
        raise UsageError(f"--unseen: {unseen!r} is not one of {', '.join(UNSEEN_CHOICES)}")


def _prepare_entries(out_dir: Path, force: bool, hint: str = FORCE_HINT) -> Entries:
    """What `prepare` writes into `out_dir`, checked: none of it holds music21's corpus (the input);
    earlier training data there is replaced only with `force`."""
    from ..train.prepare import ENTRIES, corpus_root

    entries = Entries(out_dir, ENTRIES)
    entries.check(force=force, inputs=[corpus_root()], hint=hint)
    return entries


def _prepare(entries: Entries, **kwargs) -> None:
    """Write the data into a hidden folder in `entries.folder`, then in place of the earlier data."""
    from ..train.prepare import prepare

    with entries.build() as tmp:
        prepare(tmp, **kwargs)


def _progress(out: Path) -> str:
    """ (3 of 8 epochs)" for a model clamp train wrote, else ""."""
    import json

    from ..models.checkpoint import CONFIG_NAME

    try:
        training = json.loads((out / CONFIG_NAME).read_text(encoding="utf-8")).get("training") or {}
        return f" ({len(training['history'])} of {int(training['epochs'])} epochs)"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""


def check_model_output(out: Path, force: bool, resume: bool, inputs=()) -> None:
    """The model folder of `train fit` and `train mini`: never an input (nor holding one: each epoch's
    model replaces the folder whole); an existing model is replaced with --force or continued with
    --resume, never trained over from scratch by accident."""
    import os

    from ..models.checkpoint import CONFIG_NAME
    from ..train.trainer import STATE_NAME

    if force and resume:
        raise UsageError("give --force (train again from scratch) or --resume (continue the training), not both")
    refuse_inputs(out, inputs)
    if os.path.lexists(out) and not out.is_dir():
        raise UsageError(f"{out}: exists and is a file, not a model folder")
    state = out.with_name(out.name + ".work") / STATE_NAME
    if force:
        return
    if (out / CONFIG_NAME).is_file():
        if not resume:
            raise UsageError(f"{out}: a trained model exists here{_progress(out)}; "
                             "--force replaces it, --resume continues its training")
    elif out.is_dir() and any(out.iterdir()):
        raise UsageError(f"{out}: exists and is not empty (and holds no clamp model); {FORCE_HINT}")
    elif state.is_file() and not resume:
        raise UsageError(f"{state}: the state of an earlier training exists; --force starts over, --resume continues it")


def _fit(data: Path, out: Path, arch: str, epochs: int, batch_size: int, lr: float, seed: int, device: str,
         resume: bool, max_steps: int | None, jobs: int | None, quiet: bool) -> int:
    from ..train.trainer import TrainConfig, train
    from .common import progress_bar

    reporter = Reporter(quiet)
    cfg = TrainConfig(data=data, out=out, arch=arch, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                      device=device, resume=resume, max_steps=max_steps, jobs=jobs)
    bar = {}

    def progress(epoch: int, done: int, total: int, loss: float) -> None:
        if "p" not in bar or bar["epoch"] != epoch:
            if "p" in bar:
                bar["p"].stop()
            bar["p"], bar["advance"] = progress_bar(total, f"epoch {epoch + 1}/{epochs}", quiet)
            bar["p"].start()
            bar["epoch"] = epoch
        bar["advance"](1)
        bar["p"].tasks[0].description = f"epoch {epoch + 1}/{epochs} loss {loss:.3f}"

    try:
        path = train(cfg, log=reporter.note, progress=progress)
    finally:
        if "p" in bar:
            bar["p"].stop()
    print(path)
    return 0


@app.command("fit")
@handle_errors
def fit_cmd(
    data: Annotated[Path, typer.Argument(metavar="DATA_JSONL", help="Training JSONL ({\"music\", \"texts\", \"split\", ...} per line).")],
    out: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write (loads with --model).")],
    arch: Annotated[str, typer.Option("--arch", help="Architecture preset (clamp_cli/models/model_configs).",
                                             autocompletion=arch_names)] = "mini",
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = MINI_EPOCHS,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 64,
    lr: Annotated[float, typer.Option("--lr", min=0.0)] = 1e-3,
    seed: SeedOpt = 0,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or mps.")] = "cpu",
    resume: ResumeOpt = False,
    force: ModelForceOpt = False,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", min=1, help="Stop after N steps.")] = None,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Train: symmetric InfoNCE music<->text with text dropout, plus ABC<->MIDI alignment."""
    from ..train.trainer import read_jsonl

    check_model_output(out, force, resume, [data, *(r.music for r in read_jsonl(data))])
    return _fit(data, out, arch, epochs, batch_size, lr, seed, device, resume, max_steps, jobs, quiet)


@app.command("mini")
@handle_errors
def mini_cmd(
    work_dir: Annotated[Path, typer.Argument(metavar="WORK_DIR", help="Directory for the data and the model (WORK/clamp-mini).")],
    seed: SeedOpt = 0,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or mps.")] = "cpu",
    resume: ResumeOpt = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace the data and the model of an earlier run (start over).")] = False,
    tune_route: TuneRouteOpt = "varied",
    unseen: UnseenOpt = "ryansMammoth",
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """The whole clamp-mini recipe in one command: prepare the data, then fit with the shipped settings."""
    _check_choices(tune_route, unseen)
    data = work_dir / "data" / "data.jsonl"
    check_model_output(work_dir / "clamp-mini", force, resume)
    if not (resume and data.exists()):
        hint = f"{FORCE_HINT}, --resume continues with it" if data.exists() else FORCE_HINT
        entries = _prepare_entries(work_dir / "data", force, hint)
        _prepare(entries, seed=seed, jobs=jobs, log=Reporter(quiet).note, tune_route=tune_route, unseen=unseen)
    return _fit(data, work_dir / "clamp-mini", "mini", MINI_EPOCHS, 64, 1e-3, seed, device, resume, None, jobs, quiet)


@app.command("export")
@handle_errors
def export_cmd(
    data: Annotated[Path, typer.Argument(metavar="DATA_JSONL", help="The training JSONL.")],
    out: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="Folder to lay the split out in.")],
    split: Annotated[str, typer.Option("--split", help="Which split.", autocompletion=lambda: ["heldout", "train"])]
    = "heldout",
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an earlier export in OUT_DIR (its scores/, midi/, text/, labels/).")] = False,
    quiet: QuietOpt = False,
) -> int:
    """Lay a split out as folders (scores/, midi/, text/, labels/*.csv) for clamp eval, score, probe and map."""
    from ..train.export import ENTRIES, export_split, split_records
    from ..train.trainer import read_jsonl

    split_records(data, split)           # an empty split is the first thing to say
    entries = Entries(out, ENTRIES)
    entries.check(force=force, inputs=[data, *(r.music for r in read_jsonl(data))])
    with entries.build() as tmp:
        counts = export_split(data, tmp, split)
    Reporter(quiet).note(", ".join(f"{k} {v}" for k, v in counts.items()))
    print(out)
    return 0


@app.command("eval")
@handle_errors
def eval_cmd(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="The trained model (directory or registry name).")],
    data: Annotated[Path, typer.Argument(metavar="DATA_JSONL", help="The training JSONL; its held-out records are used.")],
    baseline: Annotated[bool, typer.Option(
        "--baseline", help="Also evaluate an untrained model of the same architecture.")] = False,
    quiet: QuietOpt = False,
) -> int:
    """Held-out figures: text->music retrieval per language, zero-shot labels, ABC<->MIDI retrieval."""
    import json
    import tempfile

    from ..train.evaluate import evaluate_model, random_baseline

    reporter = Reporter(quiet)
    report = {"model": evaluate_model(model, data, log=reporter.note)}
    if baseline:
        with tempfile.TemporaryDirectory() as tmp:
            report["random"] = evaluate_model(str(random_baseline("mini", Path(tmp) / "random")), data,
                                              log=reporter.note)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0
