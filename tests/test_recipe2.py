"""clamp-mini 2's recipe: varied MIDI renderings, the held-out collection, the evaluation queries kept
apart from the training texts, hub-corrected zero-shot and calibration figures."""

from __future__ import annotations

import json
import random
from pathlib import Path

import mido
import numpy as np
import pytest

from clamp_cli.formats.midi import midi_to_mtf
from clamp_cli.retrieval import AUTO_CENTER_MIN, correct_hubs, softmax_rows, zero_shot
from clamp_cli.retrieval.metrics import expected_calibration_error, fit_scale
from clamp_cli.train import describe, render, vocabulary
from clamp_cli.train.eval_queries import SHORT_FORMS, UNSEEN_PHRASINGS
from clamp_cli.train.prepare import (
    UNSEEN_COLLECTION,
    Item,
    abc_items,
    clean_tune,
    corpus_root,
    cut_time,
    routes_of,
    split_of,
)


@pytest.fixture(scope="module")
def tunes():
    """Six real tunes of O'Neill's 1850 collection (music21's corpus), parsed by music21."""
    import music21

    items = abc_items(corpus_root() / "oneills1850" / "0001-0050.abc", "oneills1850", "Irish", None)[:6]
    return [music21.converter.parseData(it.abc, format="abc") for it in items]


def test_renderings_vary_like_peoples_files_and_read_back(tunes):
    rng = random.Random(0)
    seen = {"tpb": set(), "type": set(), "accompaniment": set(), "tracks": set(), "performance": set()}
    for n in range(24):
        score = tunes[n % len(tunes)]
        style = render.draw_style(rng, performance=n % 4 == 0)
        data = render.render(score, style, render.key_of(score))
        mid = mido.MidiFile(file=__import__("io").BytesIO(data))
        mtf = midi_to_mtf(data)
        assert mtf.splitlines()[0] == f"ticks_per_beat {style.ticks_per_beat}"
        notes = [m for m in mid.merged_track if m.type == "note_on" and m.velocity > 0]
        assert len(notes) >= 20
        seen["tpb"].add(mid.ticks_per_beat)
        seen["type"].add(mid.type)
        seen["accompaniment"].add(style.accompaniment)
        seen["tracks"].add(len(mid.tracks))
        seen["performance"].add(style.performance)
        if style.accompaniment != "none":      # chords or bass on their own channels
            assert {m.channel for m in notes} - {0}
        if style.performance:                   # one fixed tempo, onsets off the beat grid, pedal on piano
            assert sum(m.type == "set_tempo" for m in mid.merged_track) == 1
    assert len(seen["tpb"]) >= 5 and seen["type"] == {0, 1} and len(seen["accompaniment"]) >= 3
    assert len(seen["tracks"]) >= 3 and seen["performance"] == {True, False}
    # one style, one file: the renderings are reproducible
    style = render.draw_style(random.Random(7))
    again = render.draw_style(random.Random(7))
    assert render.render(tunes[0], style, (7, False)) == render.render(tunes[0], again, (7, False))


def test_rescale_keeps_the_timing_at_another_resolution(tunes):
    style = render.draw_style(random.Random(3))
    data = render.render(tunes[1], style, render.key_of(tunes[1]))
    high = render.rescale(data, 10080)

    def onsets(raw):
        mid = mido.MidiFile(file=__import__("io").BytesIO(raw))
        now, out = 0.0, []
        for msg in mid:                      # seconds, through the tempo map
            now += msg.time
            if msg.type == "note_on" and msg.velocity:
                out.append((round(now, 2), msg.note))
        return out

    assert mido.MidiFile(file=__import__("io").BytesIO(high)).ticks_per_beat == 10080
    assert onsets(high) == onsets(data) and len(onsets(data)) > 20


def test_harmonise_picks_the_triad_that_covers_the_bar():
    line = render.Line([(0.0, 1.0, 67), (1.0, 1.0, 71), (2.0, 1.0, 74),      # G B D: the dominant of C
                        (3.0, 1.0, 60), (4.0, 1.0, 64), (5.0, 1.0, 67)])     # C E G: the tonic
    chords = render.harmonise(line, [(0.0, 3.0), (3.0, 3.0)], tonic=0, minor=False)
    assert [sorted(p % 12 for p in ps) for _, _, ps in chords] == [[2, 7, 11], [0, 4, 7]]


def test_the_unseen_collection_and_the_midi_routes():
    it = Item("ryansMammoth/x#1", "ryansMammoth:x", UNSEEN_COLLECTION)
    assert split_of(it, 0) == "unseen"
    other = Item("oneills1850/x#1", "oneills1850:x", "oneills1850")
    assert split_of(other, 0) in ("train", "heldout")
    rng = random.Random(0)
    assert routes_of(other, "train", rng) == ("varied",)          # training tunes never see music21's writer
    work = Item("bach/bwv66.6", "bach:bwv66.6", "bach", score=Path("bwv66.6.mxl"))
    assert routes_of(work, "train", rng) == ("music21",)          # works keep recipe 1's rendering
    routes = {routes_of(it, "unseen", rng) for _ in range(50)}
    assert routes == {("music21",), ("music21", "performance")}
    # --tune-route music21: training tunes written as recipe 1 wrote them; the other splits unchanged
    assert routes_of(other, "train", rng, "music21") == ("music21",)
    assert routes_of(work, "train", rng, "music21") == ("music21",)
    assert {routes_of(it, "heldout", rng, "music21") for _ in range(50)} == routes
    # --unseen oneills1850: O'Neill's is held out whole and Ryan's Mammoth is trained on
    assert split_of(other, 0, "oneills1850") == "unseen"
    assert split_of(it, 0, "oneills1850") in ("train", "heldout")


def test_cut_time_doubles_every_note_and_keeps_the_bars():
    import music21

    reel = "X:1\nM:2/4\nL:1/16\nQ:1/4=100\nK:A\nA2(Ac) eAce | acea Tc'2(ba) |\nfaea ceaf|ecBA FAEC:|\n"
    cut = cut_time(reel)
    assert cut.splitlines()[1:4] == ["M:C|", "L:1/8", "K:A"]         # the tempo, in the old unit, is dropped
    before, after = (list(music21.converter.parseData(t, format="abc").parts[0].getElementsByClass("Measure"))
                     for t in (reel, cut))
    assert [m.duration.quarterLength for m in before] == [2.0] * 4
    assert [m.duration.quarterLength for m in after] == [4.0] * 4          # one full bar of 2/2 each
    assert [p.nameWithOctave for p in after[0].pitches] == [p.nameWithOctave for p in before[0].pitches]
    assert cut_time(reel.replace("M:2/4", "M:6/8")) is None
    assert cut_time(reel.replace("L:1/16", "L:1/8")) is None
    assert cut_time(reel.replace("faea", "[L:1/8]faea")) is None            # changes its unit inside: left alone


def test_clean_tune_keeps_chords_and_drops_fingerings_bowings_and_words():
    tune = 'X:1\nT:Title\nR:reel\nM:C|\nL:1/8\nK:G\nvG"^4"AB "Am"c "Fine" uA2|"D7"d4 [V:1]z4|\n'
    assert clean_tune(tune, "1").splitlines()[-1] == 'GAB "Am"c  A2|"D7"d4 [V:1]z4|'


def test_a_jig_in_nine_eight_is_a_slip_jig(tmp_path):
    tunes = tmp_path / "book.abc"
    tunes.write_text("X:1\nT:A\nR:jig\nM:9/8\nL:1/8\nK:G\nGAB GAB GAB|GAB GAB GAB|\n\n"
                     "X:2\nT:B\nR:jig\nM:6/8\nL:1/8\nK:G\nGAB GAB|GAB GAB|\n")
    assert [it.labels["tune_type"] for it in abc_items(tunes, "book", None, None)] == ["slip jig", "jig"]


def test_an_unknown_tune_route_is_a_usage_error(tmp_path):
    from typer.testing import CliRunner

    from clamp_cli.cli.main import app

    result = CliRunner().invoke(app, ["train", "prepare", str(tmp_path / "d"), "--tune-route", "fluidsynth"])
    assert result.exit_code == 2 and "--tune-route" in result.output and "varied, music21" in result.output
    assert not (tmp_path / "d").exists()
    result = CliRunner().invoke(app, ["train", "mini", str(tmp_path / "w"), "--unseen", "essen"])
    assert result.exit_code == 2 and "--unseen: 'essen' is not one of ryansMammoth, oneills1850" in result.output
    assert not (tmp_path / "w").exists()


def _training_texts() -> set[str]:
    """Every text the templates can give a tune, in every language: single facts over each tune type,
    origin, metre and key, and the composites (which join two or more facts with a comma)."""
    out: set[str] = set()

    def strings(x):
        if isinstance(x, str):
            out.add(x)
        elif isinstance(x, dict):
            for v in x.values():
                strings(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                strings(v)

    for name in dir(vocabulary):
        if name.isupper():
            strings(getattr(vocabulary, name))
    for tune_type in vocabulary.TUNE_TYPES:
        for origin in (None, "Irish", "Scottish"):
            facts = {"kind": "fiddle", "tune_type": tune_type, "metre": "6/8", "key": ("D", "major"),
                     "bars": 16, "voices": 1, "range": 12, **({"origin": origin} if origin else {})}
            for seed in range(5):
                out.update(describe.describe(facts, random.Random(seed))[0])
    return out


def test_unseen_phrasings_are_never_training_texts():
    texts = _training_texts()
    assert "waltz" in texts and "Walzer" in texts and "华尔兹" in texts   # the short forms are trained on
    for concept, phrasings in UNSEEN_PHRASINGS.items():
        assert concept in vocabulary.TUNE_TYPES
        for q in phrasings:
            assert q not in texts, q
            assert ", " not in q and "，" not in q            # so no composite sentence can equal it
    for concept, langs in SHORT_FORMS.items():
        assert concept in vocabulary.TUNE_TYPES and all(q in texts for qs in langs.values() for q in qs), concept


def test_hub_correction_lets_the_piece_decide():
    rng = np.random.default_rng(0)
    labels = rng.normal(size=(3, 16)).astype(np.float32)
    hub = labels.sum(axis=0)                       # close to every label's pieces
    truth = np.repeat(np.arange(3), 40)
    pieces = labels[truth] + 0.8 * rng.normal(size=(120, 16)).astype(np.float32) + 2.5 * hub
    label_vecs = np.vstack([labels, hub])          # a fourth label, the hub
    cos, plain = zero_shot(pieces, label_vecs, 10.0)
    _, centred = zero_shot(pieces, label_vecs, 10.0, "center")
    assert (plain.argmax(axis=1) == 3).mean() > 0.9           # the hub wins almost everywhere
    assert (centred.argmax(axis=1) == truth).mean() > 0.7
    assert np.allclose(cos, pieces / np.linalg.norm(pieces, axis=1, keepdims=True)
                       @ (label_vecs / np.linalg.norm(label_vecs, axis=1, keepdims=True)).T, atol=1e-5)
    small = cos[: AUTO_CENTER_MIN - 1]
    assert np.array_equal(correct_hubs(small, "auto"), small)                 # too few pieces: unchanged
    assert not np.array_equal(correct_hubs(cos, "auto"), cos)
    with pytest.raises(ValueError):
        correct_hubs(cos, "zscore")


def test_calibration_error_and_the_fitted_scale():
    rng = np.random.default_rng(1)
    n, k = 4000, 4
    truth = rng.integers(0, k, n)
    cos = rng.normal(0, 0.05, size=(n, k))
    cos[np.arange(n), truth] += 0.06               # a modest signal
    over = softmax_rows(cos * 100.0)                # far too sharp
    scale = fit_scale([cos], [truth])
    fitted = softmax_rows(cos * scale)
    assert 1.0 < scale < 100.0
    assert expected_calibration_error(fitted, truth) < 0.5 * expected_calibration_error(over, truth)
    assert expected_calibration_error(np.eye(k)[truth], truth) == 0.0         # sure and right


def test_classify_correct_option(tmp_path):
    from .test_cli import run

    r = run(["classify", str(tmp_path), "-l", "a", "-l", "b", "--correct", "zscore"], {}, check=2)
    assert "zscore" in r.stderr and "Traceback" not in r.stderr


def test_eval_classify_reports_plain_and_centred(tmp_path):
    """`clamp eval classify` on real tunes of two kinds: both rules' figures, the chosen one on top."""
    from .test_cli import run

    for kind in ("Reel", "Jig"):
        (tmp_path / kind.lower()).mkdir()
        for p in sorted((corpus_root() / "ryansMammoth").glob(f"*{kind}.abc"))[:12]:
            (tmp_path / kind.lower() / p.name).write_bytes(p.read_bytes())
    out = json.loads(run(["eval", "classify", str(tmp_path), "--json", "-q", "--correct", "center"],
                         {"NO_COLOR": "1"}, check=0).stdout)
    assert out["correct"] == "center" and out["n"] == 24
    assert out["accuracy"] == out["accuracy_centred"] and out["macro_f1"] == out["macro_f1_centred"]
    assert 0.0 <= out["accuracy_plain"] <= 1.0
