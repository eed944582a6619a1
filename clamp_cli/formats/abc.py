"""ABC: MusicXML <-> ABC with the authors' abctoolkit, in-process, and interleaved ABC.

xml2abc and abc2xml are scripts at heart: they print to stdout/stderr and keep
state in module globals. Each call here sets that state up, captures what they
print, and turns their failures into `InputError`s. Warnings the authors'
batch script only printed (voices with unequal bar counts or durations) are
returned to the caller to report per file.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import types
import warnings
from pathlib import Path
from types import SimpleNamespace

from unidecode import unidecode

from ..errors import InputError

# xml2abc options each family was trained with (MODELS.md sections 2 and 5).
XML2ABC_OPTIONS = {
    "clamp1": {"m": "2", "c": 6, "x": True},
    "clamp2": {"d": 8, "x": True},
    "clamp3": {"d": 8, "x": True},
    "standard": {"d": 8, "x": True},
}
INTERLEAVE_DROPPED_FIELDS = ["X:", "T:", "C:", "W:", "w:", "Z:", "%%MIDI"]
_CLAMP1_HEADER_DROP = ("A:", "B:", "C:", "D:", "F:", "H:", "N:", "O:", "R:", "r:", "S:", "T:", "W:", "w:", "X:", "Z:")


def _xml2abc_options(**overrides) -> SimpleNamespace:
    """The defaults of xml2abc's command line, as its optparse would produce them."""
    opts = dict(u=None, m=0, c=0, d=0, n=0, b=0, o="", v=0, x=None, p=[], j=None, t=None, s=None, v1=None,
                ped=True, stm=False, i=None)
    opts.update(overrides)
    return SimpleNamespace(**opts)


def in_words(exc: Exception) -> str:
    """What a converter's internal exception says about the file, for a user who never saw its code."""
    text = str(exc)
    m = re.search(r"invalid literal for int\(\) with base 10: '([^']*)'", text)
    if m:
        return f"a number was expected where the score has '{m.group(1)}'"
    if type(exc).__name__ == "ParseError":       # xml.etree / expat: the file itself is not well-formed
        return f"the XML is not well-formed ({text[:100]}); the file may be cut short"
    if isinstance(exc, KeyError):
        return f"it refers to a name it never defines ({text})"
    if isinstance(exc, (TypeError, AttributeError)) and "None" in text:
        return "an element or attribute the converter needs is missing"
    if isinstance(exc, IndexError):
        return "a part, voice or bar is empty or out of step with the others"
    if isinstance(exc, EOFError):
        return "the text ends in the middle of something"
    if isinstance(exc, ZeroDivisionError):
        return "a duration or time signature of zero"
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    return f"something the converter does not expect ({type(exc).__name__}: {text[:100]})"


def xml_to_abc(xml: bytes, flavour: str = "standard") -> str:
    """MusicXML bytes -> ABC text, exactly what `xml2abc.py <options> file` prints to stdout."""
    xml2abc = xml2abc_v143()
    opts = _xml2abc_options(**XML2ABC_OPTIONS[flavour])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        xml2abc.abcOut = xml2abc.ABCoutput("score.abc", "", 0, opts)
        xml2abc.abcOut.outfile = out
        try:
            xml2abc.Parser(opts).parse(io.BytesIO(xml))
        except MemoryError:   # past a worker's memory limit (formats.limits): not the file's fault
            raise
        except Exception as exc:  # noqa: BLE001 - a third-party parser failing on user data
            raise InputError(f"xml2abc cannot convert this score: {in_words(exc)}") from None
    text = out.getvalue()
    if not text.strip():
        raise InputError("xml2abc produced no ABC (the score has no notes?)")
    return text


_V143_OLD = "note.before += ['!stemless!']; abcOut.stemless = 0;"
_V143_NEW = "note.before += ['s']; abcOut.stemless = 1;"


@functools.lru_cache(maxsize=1)
def xml2abc_v143():
    """xml2abc as the CLaMP authors ran it (version 143), built from abctoolkit's copy.

    Quirk: every CLaMP family was trained on the unmodified xml2abc 143, which writes a note with
    <stem>none</stem> as the decoration "s" and declares "U:s=!stemless!" once, after K:.
    abctoolkit's copy writes "!stemless!" inline instead (its one change that alters the ABC, and
    line breaks follow line lengths, so no text substitution afterwards can undo it). We load
    abctoolkit's source with that one statement restored, as a private module.
    """
    from abctoolkit import xml2abc

    source = Path(xml2abc.__file__).read_text(encoding="utf-8")
    if source.count(_V143_OLD) != 1:  # a different abctoolkit: keep it rather than guess
        return xml2abc
    module = types.ModuleType("clamp_cli.formats._xml2abc_v143")
    module.__file__ = xml2abc.__file__
    with warnings.catch_warnings():  # its old regexes ("[.\\d]") warn when compiled
        warnings.simplefilter("ignore")
        code = compile(source.replace(_V143_OLD, _V143_NEW), xml2abc.__file__, "exec")
    exec(code, module.__dict__)
    return module


def abc_to_xml(abc: str) -> str:
    """One ABC tune -> MusicXML text (abc2xml). %%abc-include lines are dropped, never read.
    Within formats.memo.one_file() each tune is converted once (model text and melody)."""
    from .memo import remembered

    return remembered(("abc2xml", abc), lambda: _abc_to_xml(abc))


def _abc_to_xml(abc: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyparsing deprecations while abc2xml builds its grammar
        from abctoolkit import abc2xml

    safe = "\n".join(line for line in abc.splitlines()
                     if not line.startswith(("%%abc-include", "I:abc-include")))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyparsing deprecations inside abc2xml
        try:
            docs = abc2xml.getXmlDocs(safe, 0, 1)
        except MemoryError:   # past a worker's memory limit (formats.limits): not the file's fault
            raise
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"abc2xml cannot read this ABC: {in_words(exc)}") from None
    if not docs:
        reason = err.getvalue().strip().splitlines()
        raise InputError("ABC could not be parsed" + (f" ({reason[-1][:120]})" if reason else ""))
    return abc2xml.fixDoctype(docs[0])


def _lines(text: str) -> list[str]:
    """Lines with their "\\n", as file.readlines() gives them for text written by xml2abc."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def interleave(abc: str) -> tuple[str, list[str]]:
    """Standard ABC from xml2abc -> interleaved ABC (MODELS.md section 5), plus warnings."""
    from abctoolkit.check import check_alignment_unrotated
    from abctoolkit.rotate import rotate_abc
    from abctoolkit.utils import (
        Barlines,
        Quote_re,
        remove_bar_no_annotations,
        remove_information_field,
        strip_empty_bars,
    )

    lines = [line for line in _lines(abc) if line.strip() != ""]
    lines = remove_information_field(abc_lines=lines, info_fields=INTERLEAVE_DROPPED_FIELDS)
    lines = remove_bar_no_annotations(lines)
    for i, line in enumerate(lines):
        if not (re.search(r"^[A-Za-z]:", line) or line.startswith("%")):
            lines[i] = line.replace(r"\"", "")
            for quoted in re.findall(Quote_re, line):
                if any(barline in quoted for barline in Barlines):
                    # quirk (authors' script): rebuilt from the line that still has its \" escapes
                    line = line.replace(quoted, "")
                    lines[i] = line
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            stripped, _ = strip_empty_bars(lines)
    except MemoryError:   # past a worker's memory limit (formats.limits): not the file's fault
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"interleaving the voices failed: {in_words(exc)} (while stripping empty bars)") from None
    if stripped is None:
        said = " ".join(printed.getvalue().split()) or "no bars"
        raise InputError(f"interleaving failed: {said}")
    notes = []
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            _, same_bar_count, same_duration = check_alignment_unrotated(stripped)
        if not same_bar_count:
            notes.append("voices have unequal bar counts")
        if not same_duration:
            notes.append("voices have unequal bar durations (unaligned)")
    except MemoryError:   # past a worker's memory limit (formats.limits): not the file's fault
        raise
    except Exception:  # noqa: BLE001 - the check is advisory, as in the authors' script
        notes.append("bar alignment could not be checked")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            rotated = rotate_abc(stripped)
    except MemoryError:   # past a worker's memory limit (formats.limits): not the file's fault
        raise
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"interleaving the voices failed: {in_words(exc)} (while rotating)") from None
    if rotated is None:
        raise InputError("interleaving failed while rotating")
    return "".join(rotated), notes


def is_interleaved(abc: str) -> bool:
    """True for text already in interleaved form (every music line starts with "[V:")."""
    body = [line for line in abc.splitlines()
            if line.strip() and not re.match(r"^([A-Za-z]:|%)", line)]
    return bool(body) and all(line.startswith("[V:") for line in body)


def clamp1_filter_abc(abc: str) -> str:
    """The CLaMP 1 header filter applied to xml2abc's output before patching.

    Quirks: "G:" lines are kept (the authors' list has "G" without a colon);
    an inline "%" comment keeps the text before the last "%" minus one more
    character; empty lines are kept.
    """
    out = []
    for line in unidecode(abc.replace("\r", "")).split("\n"):
        if line[:2] in _CLAMP1_HEADER_DROP or line == "G" or (line.startswith("%") and not line.startswith("%%score")):
            continue
        if "%" in line and not line.startswith("%%score"):
            line = "%".join(line.split("%")[:-1])[:-1]
        out.append(line + "\n")
    return "".join(out)


def split_tunes(text: str) -> list[tuple[str, str]]:
    """A standard ABC file -> [(tune id, tune text)], one per X: field (the preamble goes to each).

    The id is the X: number; repeated numbers get "-2", "-3", ... A file without
    X: fields is one tune with id "1".
    """
    fragments = re.split(r"^\s*X:", text, flags=re.M)
    preamble, tunes = fragments[0], fragments[1:]
    if not tunes:
        return [("1", text)] if text.strip() else []
    out, seen = [], {}
    for tune in tunes:
        number = (tune.split("\n", 1)[0].strip().split() or ["?"])[0]
        seen[number] = seen.get(number, 0) + 1
        tune_id = number if seen[number] == 1 else f"{number}-{seen[number]}"
        out.append((tune_id, preamble + "X:" + tune))
    return out
