"""How `--help`, the man page and the completions name an option's value: its metavar, else PATH,
N, NUMBER or TEXT, never a Python type name.

typer (0.2x) prints an option's type as Python spells it (`--text <list[str]>`, `--top <int range>`)
and adds it after every argument's own name (`PATH <list[str]>`), whatever metavar it was given.
`plain_value_names()` replaces that display in typer's parameter classes, once, before any help is
formatted; only typer and the standard library are imported (help must not import torch).
"""

from __future__ import annotations

KIND_NAMES = {"Path": "PATH", "int": "N", "float": "NUMBER"}


CLICK_TYPE_NAMES = {"path": "PATH", "int": "N", "integer": "N", "int range": "N", "float": "NUMBER", "float range": "NUMBER"}


def value_name(param) -> str:
    """An option's value as help shows it (`--top N`, `--cache-dir PATH`, `--stdin-score FORMAT`)."""
    if getattr(param, "metavar", None):
        return param.metavar
    if not hasattr(param, "bare_type"):          # typer before 0.29: the click type says
        return CLICK_TYPE_NAMES.get(getattr(getattr(param, "type", None), "name", ""), "TEXT")
    kind = str(param.bare_type())
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
    if not hasattr(typer.core.TyperOption, "bare_type"):     # typer before 0.29 names values in make_metavar
        def option_metavar(self, ctx=None) -> str:
            return value_name(self)

        def argument_metavar(self, ctx=None, *, usage: bool = False) -> str:
            var = self.metavar or (self.name or "").upper()
            if not usage:    # the Arguments section: the name alone
                return var
            var = f"{{{var}}}" if self.required else f"[{var}]"     # usage lines as typer 0.29 writes them
            return var + ("..." if self.nargs != 1 else "")

        typer.core.TyperOption.make_metavar = option_metavar
        typer.core.TyperArgument.make_metavar = argument_metavar
