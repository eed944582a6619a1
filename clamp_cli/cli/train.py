"""`clamp train`: make training data from music21's corpus and train a model like clamp-mini."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import JobsOpt, QuietOpt, Reporter, handle_errors

app = typer.Typer(help="Train clamp-mini (or your own model of its layout) on CPU or GPU.",
                  no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})

MINI_EPOCHS = 8  # the shipped recipe: 175-200 s an epoch on 2 cores
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (data split, sampling, initialisation).")]


def arch_names() -> list[str]:
    from ..models.checkpoint import PRESET_DIR

    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


@app.command("prepare")
@handle_errors
def prepare_cmd(
    out_dir: Annotated[Path, typer.Argument(metavar="DIR", help="Directory for data.jsonl and the files it names.")],
    seed: SeedOpt = 0,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Keep a seeded sample of N pieces.")] = None,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Write training data (scores, MIDI renderings, multilingual descriptions) from music21's corpus."""
    from ..train.prepare import prepare

    reporter = Reporter(quiet)
    print(prepare(out_dir, seed=seed, jobs=jobs, log=reporter.note, limit=limit))
    return 0


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
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last finished epoch.")] = False,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", min=1, help="Stop after N steps.")] = None,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Train: symmetric InfoNCE music<->text with text dropout, plus ABC<->MIDI alignment."""
    return _fit(data, out, arch, epochs, batch_size, lr, seed, device, resume, max_steps, jobs, quiet)


@app.command("mini")
@handle_errors
def mini_cmd(
    work_dir: Annotated[Path, typer.Argument(metavar="WORK_DIR", help="Directory for the data and the model (WORK/clamp-mini).")],
    seed: SeedOpt = 0,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or mps.")] = "cpu",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last finished epoch.")] = False,
    jobs: JobsOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """The whole clamp-mini recipe in one command: prepare the data, then fit with the shipped settings."""
    from ..train.prepare import prepare

    data = work_dir / "data" / "data.jsonl"
    if not (resume and data.exists()):
        prepare(work_dir / "data", seed=seed, jobs=jobs, log=Reporter(quiet).note)
    return _fit(data, work_dir / "clamp-mini", "mini", MINI_EPOCHS, 64, 1e-3, seed, device, resume, None, jobs, quiet)


@app.command("export")
@handle_errors
def export_cmd(
    data: Annotated[Path, typer.Argument(metavar="DATA_JSONL", help="The training JSONL.")],
    out: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="Folder to lay the split out in.")],
    split: Annotated[str, typer.Option("--split", help="Which split.", autocompletion=lambda: ["heldout", "train"])]
    = "heldout",
    quiet: QuietOpt = False,
) -> int:
    """Lay a split out as folders (scores/, midi/, text/, labels/*.csv) for clamp eval, score, probe and map."""
    from ..train.export import export_split

    counts = export_split(data, out, split)
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
