"""Generate man/clamp.1 and completions/ (bash, zsh, fish) from the CLI itself.

    python -m clamp_cli.cli.docs [REPO_ROOT]

A test regenerates them into a temporary directory and fails when the
checked-in files differ, so they cannot go stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
import typer.main

from .. import __version__
from ..errors import EXIT_CODES
from .helptext import value_name
from .main import app

ENVIRONMENT = [
    ("CLAMP_MODEL", "Default for --model (a registry name or a checkpoint path); else clamp3-c2 when it has "
                    "been downloaded, else the bundled clamp-mini."),
    ("CLAMP_TEXT_BACKBONE", "Default for --text-backbone."),
    ("CLAMP_CACHE_DIR", "Default for --cache-dir; else the platform's user cache directory."),
    ("CLAMP_LIBRARY", "Default for --library (a name in the cache's libraries/ folder, or a folder)."),
    ("CLAMP_MAX_FILE_MB", "Size limit of an input file, in MB: one number for every kind, or KIND=MB,... "
                          "(music, text, audio, recording); default 64 for scores and texts, 256 for .npy "
                          "features, 1024 for recordings."),
    ("CLAMP_CONVERT_TIMEOUT", "Time limit of one score's conversion, in seconds (default 30; 0: none)."),
    ("CLAMP_CONVERT_MEMORY_MB", "Memory limit of one score's conversion, in MB (default 2048; 0: none)."),
    ("HF_HOME, HF_HUB_CACHE", "Where downloaded models live (the Hugging Face cache)."),
    ("HF_HUB_OFFLINE", "Set to 1 and `clamp models pull` does not touch the network either (no other command "
                       "ever does: a model not in the cache exits with 3)."),
    ("NO_COLOR", "Disable colour on stderr and in tables."),
]


def _ctx(cmd):
    return cmd.context_class(cmd)


def _is_group(cmd) -> bool:
    return hasattr(cmd, "list_commands")


def command_tree() -> list[tuple[list, object]]:
    """[(path, command)] for every leaf command, in help order."""
    root = typer.main.get_command(app)
    out = []

    def visit(path: list[str], cmd) -> None:
        if _is_group(cmd):
            for name in cmd.list_commands(_ctx(cmd)):
                visit(path + [name], cmd.get_command(_ctx(cmd), name))
        else:
            out.append((path, cmd))

    visit([], root)
    return out


def groups() -> dict[str, list[str]]:
    root = typer.main.get_command(app)
    ctx = _ctx(root)
    out = {"": root.list_commands(ctx)}
    for name in root.list_commands(ctx):
        cmd = root.get_command(ctx, name)
        if _is_group(cmd):
            out[name] = cmd.list_commands(_ctx(cmd))
    return out


def _short(cmd) -> str:
    return (cmd.help or "").strip().split("\n")[0]


def _options(cmd) -> list:
    return [p for p in cmd.params if p.param_type_name == "option" and not getattr(p, "hidden", False)]


def _arguments(cmd) -> list:
    return [p for p in cmd.params if p.param_type_name == "argument"]


def _metavar(opt) -> str:
    return "" if opt.is_flag else value_name(opt)


def _values(opt) -> list[str]:
    """The values an option's own autocompletion offers (see common.values), else none."""
    if getattr(opt, "_custom_shell_complete", None) is None:
        return []
    return [item.value for item in opt.shell_complete(None, "")]


def _usage(arg) -> str:
    """An argument as the usage line shows it: NAME required, [NAME] optional, ... for several."""
    name = arg.metavar or arg.name.upper()
    return (name if arg.required else f"[{name}]") + ("..." if arg.nargs != 1 else "")


def _roff(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in text.splitlines())


def render_man() -> str:
    root = typer.main.get_command(app)
    lines = [
        f'.TH CLAMP 1 "" "clamp {__version__}" "User Commands"',
        ".SH NAME",
        "clamp \\- grep for music: search and label scores by meaning",
        ".SH SYNOPSIS",
        ".B clamp",
        "\\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
        _roff((root.help or "").split("\n")[0]),
        "Inputs are files, directories (searched recursively; hidden files and .git skipped), glob "
        "patterns, or \\- to read paths from standard input. Results go to standard output (a table on "
        "a terminal, JSON otherwise); progress, notices and errors go to standard error.",
        ".SH COMMANDS",
    ]
    for path, cmd in command_tree():
        args = "".join(" " + _usage(p) for p in _arguments(cmd))
        lines.append(f'.SS "clamp {" ".join(path)} [OPTIONS]{args}"')
        lines.append(_roff((cmd.help or "").strip()))
        for opt in _options(cmd):
            names = ", ".join(f"\\fB{_roff(n)}\\fR" for n in opt.opts + opt.secondary_opts)
            meta = _metavar(opt)
            lines.append(".TP")
            lines.append(names + (f" \\fI{meta}\\fR" if meta else ""))
            lines.append(_roff(opt.help or ""))
    lines.append(".SH EXIT STATUS")
    for code, text in EXIT_CODES.items():
        lines += [".TP", f"\\fB{code}\\fR", _roff(text[0].upper() + text[1:] + ".")]
    lines.append(".SH ENVIRONMENT")
    for name, text in ENVIRONMENT:
        lines += [".TP", f"\\fB{_roff(name)}\\fR", _roff(text)]
    lines += [
        ".SH FILES",
        ".TP",
        "\\fI$CLAMP_CACHE_DIR/clamp.sqlite3\\fR",
        "Feature cache: vectors keyed by file content hash, model id and preprocessing version.",
        ".TP",
        "\\fI$CLAMP_CACHE_DIR/libraries/NAME/\\fR",
        "A library: its tables (library.sqlite3), its memory\\-mapped vectors (vectors.f32) and, above "
        "200,000 pieces, its approximate index (ann\\-*.faiss).",
        ".SH EXAMPLES",
        ".nf",
        'clamp search \\-\\-text "a happy jazz song" ./scores \\-n 5',
        'clamp classify piece.abc \\-\\-labels genres.txt \\-\\-prompt "This piece is <>"',
        "clamp search \\-\\-music query.abc ./scores \\-f | xargs ls \\-l",
        ".fi",
    ]
    return "\n".join(lines) + "\n"


def _zsh_escape(text: str) -> str:
    return text.replace("'", "'\\''").replace("[", "(").replace("]", ")").replace(":", "\\:")


def render_bash() -> str:
    tree = groups()
    lines = ["# bash completion for clamp; generated by `python -m clamp_cli.cli.docs`, do not edit",
             "_clamp() {",
             '    local cur="${COMP_WORDS[COMP_CWORD]}" opts=""',
             "    if [[ $COMP_CWORD -eq 1 ]]; then",
             f'        COMPREPLY=($(compgen -W "{" ".join(tree[""])} --help --version" -- "$cur"))',
             "        return",
             "    fi",
             '    local cmd="${COMP_WORDS[1]}"']
    for group, subs in tree.items():
        if group:
            lines += [f'    if [[ "$cmd" == "{group}" && $COMP_CWORD -eq 2 ]]; then',
                      f'        COMPREPLY=($(compgen -W "{" ".join(subs)} --help" -- "$cur"))',
                      "        return", "    fi",
                      f'    [[ "$cmd" == "{group}" ]] && cmd="{group} ${{COMP_WORDS[2]}}"']
    lines += ['    local prev="${COMP_WORDS[COMP_CWORD-1]}"', '    case "$cmd $prev" in']
    for path, cmd in command_tree():
        for opt in _options(cmd):
            if _values(opt):
                pattern = "|".join(f'"{" ".join(path)} {n}"' for n in opt.opts + opt.secondary_opts)
                lines.append(f'        {pattern}) COMPREPLY=($(compgen -W "{" ".join(_values(opt))}" -- "$cur")); '
                             'return ;;')
    lines += ["    esac", '    case "$cmd" in']
    for path, cmd in command_tree():
        opts = " ".join(n for o in _options(cmd) for n in o.opts + o.secondary_opts)
        lines.append(f'        "{" ".join(path)}") opts="{opts} --help" ;;')
    lines += ["    esac",
              '    if [[ "$cur" == -* ]]; then',
              '        COMPREPLY=($(compgen -W "$opts" -- "$cur"))',
              "    else",
              '        COMPREPLY=($(compgen -f -- "$cur"))',
              "    fi",
              "}",
              "complete -o filenames -o bashdefault -F _clamp clamp",
              ""]
    return "\n".join(lines)


def _zsh_args(cmd) -> str:
    specs = []
    for opt in _options(cmd):
        names = opt.opts + opt.secondary_opts
        help_text = _zsh_escape((opt.help or "").split(". ")[0])
        choices = _values(opt)
        value = ("" if opt.is_flag else f":{_metavar(opt).lower()}:({' '.join(choices)})" if choices
                 else ":file:_files" if _metavar(opt) == "PATH" else f":{_metavar(opt).lower()}:")
        group = "(" + " ".join(names) + ")" if len(names) > 1 else ""
        target = "{" + ",".join(names) + "}" if len(names) > 1 else names[0]
        specs.append(f"'{group}'{target}'[{help_text}]{value}'" if group else f"'{target}[{help_text}]{value}'")
    if _arguments(cmd):
        specs.append("'*:file:_files'")
    return " \\\n                ".join(specs)


def render_zsh() -> str:
    tree = groups()
    root = typer.main.get_command(app)
    ctx = _ctx(root)
    lines = ["#compdef clamp", "# zsh completion for clamp; generated by `python -m clamp_cli.cli.docs`, do not edit",
             "_clamp() {", "    local -a commands subcommands", "    commands=("]
    for name in tree[""]:
        lines.append(f"        '{name}:{_zsh_escape(_short(root.get_command(ctx, name)))}'")
    lines += ["    )", "    if (( CURRENT == 2 )); then", "        _describe 'command' commands", "        return",
              "    fi", "    local cmd=$words[2]"]
    for group, subs in tree.items():
        if not group:
            continue
        grp = root.get_command(ctx, group)
        lines += [f'    if [[ $cmd == {group} ]]; then', "        subcommands=("]
        for sub in subs:
            lines.append(f"            '{sub}:{_zsh_escape(_short(grp.get_command(_ctx(grp), sub)))}'")
        lines += ["        )", "        if (( CURRENT == 3 )); then", "            _describe 'subcommand' subcommands",
                  "            return", "        fi", f'        cmd="{group} $words[3]"', "        shift words",
                  "        (( CURRENT-- ))", "    fi"]
    lines += ["    shift words", "    (( CURRENT-- ))", '    case "$cmd" in']
    for path, cmd in command_tree():
        lines.append(f'        "{" ".join(path)}")')
        lines.append(f"            _arguments \\\n                {_zsh_args(cmd)}")
        lines.append("            ;;")
    lines += ["    esac", "}", '_clamp "$@"', ""]
    return "\n".join(lines)


def render_fish() -> str:
    tree = groups()
    root = typer.main.get_command(app)
    ctx = _ctx(root)
    esc = lambda t: t.replace("\\", "\\\\").replace("'", "\\'")  # noqa: E731
    lines = ["# fish completion for clamp; generated by `python -m clamp_cli.cli.docs`, do not edit",
             "complete -c clamp -f -n '__fish_use_subcommand' -l version -d 'Print the version and exit'"]
    for name in tree[""]:
        lines.append(f"complete -c clamp -f -n '__fish_use_subcommand' -a {name} "
                     f"-d '{esc(_short(root.get_command(ctx, name)))}'")
    for group, subs in tree.items():
        if not group:
            continue
        grp = root.get_command(ctx, group)
        cond = f"__fish_seen_subcommand_from {group}; and not __fish_seen_subcommand_from {' '.join(subs)}"
        for sub in subs:
            lines.append(f"complete -c clamp -f -n '{cond}' -a {sub} "
                         f"-d '{esc(_short(grp.get_command(_ctx(grp), sub)))}'")
    for path, cmd in command_tree():
        cond = " ; and ".join(f"__fish_seen_subcommand_from {p}" for p in path)
        for opt in _options(cmd):
            parts = []
            for n in opt.opts + opt.secondary_opts:
                parts.append(f"-l {n[2:]}" if n.startswith("--") else f"-s {n[1:]}")
            req = "" if opt.is_flag else " -r"
            if _values(opt):
                req += f" -f -a '{' '.join(_values(opt))}'"
            lines.append(f"complete -c clamp -n '{cond}' {' '.join(parts)}{req} -d '{esc((opt.help or '').split('. ')[0])}'")
    return "\n".join(lines) + "\n"


def write_all(root: Path) -> list[Path]:
    outputs = {
        root / "man" / "clamp.1": render_man(),
        root / "completions" / "clamp.bash": render_bash(),
        root / "completions" / "_clamp": render_zsh(),
        root / "completions" / "clamp.fish": render_fish(),
    }
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(outputs)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
    for p in write_all(target):
        print(p)
