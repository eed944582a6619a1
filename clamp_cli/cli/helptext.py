"""How `--help`, the man page and the completions name an option's value: its metavar, else PATH,
N, NUMBER or TEXT, never a Python type name.

typer (0.2x) prints an option's type as Python spells it (`--text <list[str]>`, `--top <int range>`)
and adds it after every argument's own name (`PATH <list[str]>`), whatever metavar it was given.
`plain_value_names()` replaces that display in typer's parameter classes, once, before any help is
formatted; only typer and the standard library are imported (help must not import torch).
"""

from __future__ import annotations

KIND_NAMES = {"Path": "PATH", "int": "N", "float": "NUMBER"}


def value_name(param) -> str:
    """An option's value as help shows it (`--top N`, `--cache-dir PATH`, `--stdin-score FORMAT`)."""
    if getattr(param, "metavar", None):
        return param.metavar
    kind = str(param.bare_type()) if hasattr(param, "bare_type") else ""
    if kind.startswith("list[") and kind.endswith("]"):     # a repeatable option: one value each time
        kind = kind[5:-1]
    return KIND_NAMES.get(kind, "PATH" if "Path" in kind else "TEXT")


def plain_value_names() -> None:
    import typer.core

    def option_value(self, ctx) -> str | None:
        return None if self.is_flag or self.count else value_name(self)

    def argument_value(self, ctx) -> None:
        return None      # the argument's own name (its metavar: PATH, PIECE, ...) says it

    typer.core.TyperOption.display_type_rich = option_value
    typer.core.TyperArgument.display_type_rich = argument_value
