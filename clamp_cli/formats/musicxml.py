"""MusicXML in: plain .xml/.musicxml and compressed .mxl, read safely.

.mxl is a zip: only the score it names is read, with a cap on its uncompressed
size (a zip bomb is refused, not inflated). XML that declares entities is
refused before parsing (no entity expansion), and XML whose root is not a
MusicXML score is reported as such.
"""

from __future__ import annotations

import codecs
import io
import re
import xml.etree.ElementTree as ET
import zipfile

from ..errors import InputError

MAX_SCORE_BYTES = 64 * 1024 * 1024  # uncompressed MusicXML; the largest real scores are a few MB
MAX_CONTAINER_BYTES = 64 * 1024
SCORE_ROOTS = ("score-partwise", "score-timewise")
_ROOT_RE = re.compile(rb"<(?!\?|!)([A-Za-z_][\w.\-]*)")


def unzip_score(data: bytes) -> bytes:
    """The MusicXML document inside a .mxl archive (bounded read)."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise InputError("not a .mxl archive (not a zip file)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            name = _rootfile(z)
            if name is None:
                raise InputError("the .mxl archive holds no MusicXML score")
            size = z.getinfo(name).file_size
            if size > MAX_SCORE_BYTES:
                raise InputError(f"the score in the archive is {size} bytes uncompressed, over the "
                                 f"{MAX_SCORE_BYTES // 2**20} MB limit (refused as a possible zip bomb)")
            with z.open(name) as f:
                content = f.read(MAX_SCORE_BYTES + 1)
            if len(content) > MAX_SCORE_BYTES:  # the header lied about the size
                raise InputError(f"the score in the archive inflates past the {MAX_SCORE_BYTES // 2**20} MB "
                                 "limit (refused as a possible zip bomb)")
            return content
    except (InputError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile on a damaged archive raises many types (ValueError: negative seek, zlib.error, ...)
        raise InputError(f"damaged .mxl archive ({str(exc)[:120] or type(exc).__name__})") from None


def _rootfile(z: zipfile.ZipFile) -> str | None:
    names = z.namelist()
    if "META-INF/container.xml" in names and z.getinfo("META-INF/container.xml").file_size <= MAX_CONTAINER_BYTES:
        try:
            container = z.read("META-INF/container.xml")
            check_xml_safety(container)
            for el in ET.fromstring(container).iter():
                if el.tag.endswith("rootfile") and el.get("full-path") in names:
                    return el.get("full-path")
        except (ET.ParseError, InputError):
            pass
    for n in names:
        if not n.startswith("META-INF") and n.lower().endswith((".xml", ".musicxml")):
            return n
    return None


def check_xml_safety(data: bytes) -> None:
    if b"<!ENTITY" in data or "<!ENTITY".encode("utf-16-le") in data or "<!ENTITY".encode("utf-16-be") in data:
        raise InputError("XML that declares entities is refused (entity expansion)")


_UTF16_32 = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
             (codecs.BOM_UTF16_BE, "utf-16"), (b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))
_DECLARED = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([^"']*)""")


def as_utf8(data: bytes) -> bytes:
    """UTF-16/32 XML (its BOM, or the shape of "<?", says so; older Finale exports) -> UTF-8, with the
    declaration changed to match. Every other encoding is left to the XML parser, which honours
    the declaration; UTF-8 input is returned unchanged."""
    codec = next((c for bom, c in _UTF16_32 if data.startswith(bom)), None)
    if codec is None:
        return data
    try:
        text = data.decode(codec).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise InputError(f"starts like {codec.upper()} XML but is not valid {codec.upper()} (byte {exc.start})") from None
    return _DECLARED.sub(lambda m: m.group(1) + "UTF-8", text, count=1).encode("utf-8")


def root_tag(data: bytes) -> str | None:
    """The document element's name, read without parsing the whole file."""
    m = _ROOT_RE.search(data, 0, 1 << 20)
    return m.group(1).decode("ascii", "replace") if m else None


def read_musicxml(data: bytes, suffix: str) -> bytes:
    """File bytes (.xml, .musicxml, .mxl) -> a checked MusicXML document."""
    if not data.strip():
        raise InputError("empty file")
    if suffix == ".mxl":
        data = unzip_score(data)
    elif len(data) > MAX_SCORE_BYTES:
        raise InputError(f"MusicXML over the {MAX_SCORE_BYTES // 2**20} MB limit")
    data = as_utf8(data)
    check_xml_safety(data)
    tag = root_tag(data)
    if tag not in SCORE_ROOTS:
        raise InputError(f"XML but not MusicXML (root element <{tag}>)" if tag else "not XML")
    return data
