"""Regressions from `benchmarks/fuzz_inputs.py`: each input is a minimised finding of the fuzzer
(or generated the way the fuzzer made it), refused now with one clear reason instead of a crash."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest

from clamp_cli.errors import InputError
from clamp_cli.formats import load_npy
from clamp_cli.formats.musicxml import read_musicxml


def npy(header: dict, body: bytes = b"") -> bytes:
    """A version 1.0 .npy file with this header dict (padded as numpy pads it) and these data bytes."""
    h = repr(header).encode("latin-1")
    h += b" " * ((-(10 + len(h) + 1)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + body


# An .mxl whose local headers were cut off: only the central directory is left, so its offsets
# point before the start of the file. zipfile raised ValueError ("negative seek value"), which
# ended `clamp embed` with a traceback (the embed worker had no last-resort handler either).
MXL_CENTRAL_DIRECTORY_ONLY = bytes.fromhex(
    "504b0102140314000000080059a20b4d7afa68940e110000414801000a0000000000000000000000a481000000006277"
    "763334322e786d6c504b0102140314000000080059a20b4d465871106700000088000000160000000000000000000000"
    "8001361100004d4554412d494e462f636f6e7461696e65722e786d6c504b050600000000020002007c000000d1110000"
    "0000"
)


def test_mxl_with_offsets_before_the_file_is_a_damaged_archive():
    assert len(MXL_CENTRAL_DIRECTORY_ONLY) == 146
    with pytest.raises(InputError, match=r"^damaged \.mxl archive \(negative seek value"):
        read_musicxml(MXL_CENTRAL_DIRECTORY_ONLY, ".mxl")


def test_a_bug_in_conversion_costs_one_file_in_embed_too(tmp_path, monkeypatch):
    """The embed worker's conversion (index.embedder.convert_file) turns an unexpected exception into
    the file's one-line error, as `clamp convert`'s worker does, instead of ending the batch."""
    from clamp_cli.index import embedder

    def boom(*args, **kwargs):
        raise ValueError("negative seek value -155")

    monkeypatch.setattr(embedder, "music_pieces", boom)
    (tmp_path / "a.abc").write_text("X:1\nK:C\nCDEF|\n")
    [piece] = embedder.convert_file(str(tmp_path / "a.abc"), "interleaved", False)
    assert piece.error == ("clamp could not convert it (internal error ValueError: negative seek value -155; "
                           "please report it with the file)")


def test_npy_header_numpy_cannot_tokenize():
    """A header of "')" and garbage: numpy's header filter raised tokenize.TokenError, not ValueError."""
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", 0x78) + b"')" + b" " * 22 + bytes(range(0x30, 0x90))
    with pytest.raises(InputError, match=r"^a damaged NumPy \.npy file \(its header or data cannot be read: TokenError\)$"):
        load_npy(data)


@pytest.mark.parametrize("shape", [(99_999_999_999_999, 768), (1_000_000_000, 768), (1, 1_000_000, 768)])
def test_npy_header_asking_for_more_than_the_file_holds(shape):
    """A damaged shape: numpy allocated the array the header describes first (MemoryError for
    terabytes, a traceback in the parent process), before finding the data missing."""
    data = npy({"descr": "<f4", "fortran_order": False, "shape": shape}, b"\x00" * 3072)
    need = int(np.prod(shape, dtype=object)) * 4
    with pytest.raises(InputError, match=rf"describes {need:,} bytes of data, the file holds 3,072\)$"):
        load_npy(data)


def test_npy_version_3_header_asking_for_more_than_the_file_holds():
    """Format version 3.0 (a UTF-8 header) skipped the size check: numpy allocated 273 PB first."""
    h = repr({"descr": "<f4", "fortran_order": False, "shape": (99_999_999_999_999, 768)}).encode()
    h += b" " * ((-(12 + len(h) + 1)) % 64) + b"\n"
    data = b"\x93NUMPY\x03\x00" + struct.pack("<I", len(h)) + h + b"\x00" * 3072
    with pytest.raises(InputError, match=r"its header describes 307,199,999,999,996,928 bytes of data, the file holds 3,072\)$"):
        load_npy(data)


def test_npy_files_np_save_writes_still_load():
    for array in (np.zeros((1, 3, 768), np.float32), np.ones(768, np.float16), np.zeros((0, 768), np.float32)):
        for version in ((1, 0), (2, 0), (3, 0)):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, array, version=version)
            assert np.array_equal(load_npy(buf.getvalue()), array)


def test_a_midi_key_signature_mido_cannot_decode():
    """A key_signature meta event of 69 sharps: mido raised its own KeySignatureError (an Exception,
    not a ValueError), which `clamp convert` reported as an internal error."""
    from clamp_cli.formats.convert import convert_bytes
    from clamp_cli.formats.midi import read_midi

    data = (b"MThd\x00\x00\x00\x06\xff\x01\x00\x05'`"
            b"MTrk\x00\x00\x00\x1a\x00\xffQ\x03\x07\xa1 \x00\xffY\x02E\x00")
    with pytest.raises(InputError, match=r"^not a readable MIDI file \(Could not decode key with 69 sharps and mode 0\)$"):
        read_midi(data)
    with pytest.raises(InputError, match="not a readable MIDI file"):
        convert_bytes(data, ".mid", "musicxml")


def _flac(rate: int) -> bytes:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.zeros((200, 2), np.float32), rate, format="FLAC", subtype="PCM_24")
    return buf.getvalue()


def test_a_sample_rate_no_filter_can_resample_is_refused_before_building_the_filter():
    """A FLAC whose header says 22,051 Hz: resampling it exactly to 24 kHz needs a 24,000 x 22,065
    filter (4 GB of float64 for one of its arrays); it ran out of memory, or took the machine's."""
    from clamp_cli.formats.audio import load_recording

    with pytest.raises(InputError, match=r"^a sample rate of 22051 Hz, which cannot be resampled to 24000 Hz "
                                         r"exactly without a filter of 529,560,000 coefficients"):
        load_recording(_flac(22051))


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 32000, 37800, 44056, 44100, 47250, 48000, 88200,
                                  96000, 176400, 192000, 384000])
def test_every_usual_sample_rate_is_still_resampled(rate):
    from clamp_cli.formats.audio import check_rate

    check_rate(rate)


def test_a_sample_rate_of_zero_is_refused():
    from clamp_cli.formats.audio import resample

    with pytest.raises(InputError, match=r"^a sample rate of 0 Hz$"):
        resample(np.zeros(100, np.float32), 0)


def test_a_wav_of_a_codec_ffmpeg_cannot_decode_says_so():
    """A WAV whose format tag was changed to 0xEE00: libsndfile refuses it, FFmpeg opens it with no
    decoder, and the fallback read its missing rate ("AttributeError: 'AudioStream' object has no
    attribute 'rate'" was the reason printed)."""
    import soundfile

    from clamp_cli.formats.audio import decode

    buf = io.BytesIO()
    soundfile.write(buf, np.zeros((4000, 2), np.float32), 16000, format="WAV", subtype="PCM_U8")
    data = buf.getvalue()
    assert data[20:22] == b"\x01\x00"            # WAVE_FORMAT_PCM
    with pytest.raises(InputError, match=r"^an audio codec FFmpeg cannot decode$"):
        decode(data[:20] + b"\x00\xee" + data[22:])


def test_a_utf16_mei_file_is_read():
    """music21's own MEI test file in UTF-16 was refused as "binary data, not text" (the fuzzer's
    refusal counts showed a third of its MEI mutants stopping there)."""
    import music21

    from clamp_cli.formats.convert import convert_bytes

    folder = Path(music21.__file__).parent / "mei" / "test"
    data = (folder / "notes_in_utf16.mei").read_bytes()
    assert data.startswith(b"\xff\xfe<\x00?\x00")
    [piece] = convert_bytes(data, ".mei", "iabc")
    [same] = convert_bytes((folder / "notes_in_utf8.mei").read_bytes(), ".mei", "iabc")  # the same score in UTF-8
    assert piece.error is None and piece.text == same.text and "[V:1]G,,2 A,,2 B,,2 C,2|" in piece.text


def test_complex_feature_files_are_refused_not_cast():
    """A .npy of complex numbers passed the "numbers" check: numpy printed a ComplexWarning on stderr
    and the imaginary parts were dropped silently. Now one line; real dtypes still read."""
    from types import SimpleNamespace

    from clamp_cli.models.encoder import Encoder

    model = SimpleNamespace(supports_audio=True, family="clamp3", model=SimpleNamespace(audio_input_size=768))
    buf = io.BytesIO()
    np.save(buf, np.ones((1, 768), np.complex64))
    with pytest.raises(InputError, match=r"^audio features must be real numbers shaped \(\.\.\., 768\), "
                                         r"got complex64 \(1, 768\)$"):
        Encoder.audio_frames(model, load_npy(buf.getvalue()))
    for dtype in (np.float16, np.float64, np.int16):
        assert Encoder.audio_frames(model, np.ones((1, 4, 768), dtype)).shape == (6, 768)


def test_features_past_float32s_range_are_refused_without_a_warning(recwarn):
    """The campaign's finding: a float128 .npy holding 1e4906 overflowed in the cast to float32, and
    numpy printed "RuntimeWarning: overflow encountered in cast" on stderr before the refusal."""
    from types import SimpleNamespace

    from clamp_cli.models.encoder import Encoder

    model = SimpleNamespace(supports_audio=True, family="clamp3", model=SimpleNamespace(audio_input_size=768))
    for dtype, big in ((np.float64, 1e300), (np.longdouble, np.longdouble("1e4906") if np.finfo(np.longdouble).max > 1e4906 else 1e300)):
        arr = np.zeros((1, 768), dtype)
        arr[0, 5] = big
        with pytest.raises(InputError, match=r"^audio features hold NaN or infinite values \(or values past float32's range\)$"):
            Encoder.audio_frames(model, arr)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
