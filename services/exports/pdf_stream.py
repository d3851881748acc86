"""A streaming PDF file: each page goes to disk when it is finished; fonts, page tree and xref at the end.

reportlab's Canvas keeps every page object until ``save()``, so its memory grows with the pages.
Here a finished page is compressed and written at once and only its byte offset is kept (8 bytes
per object), so memory stays flat in the page count. All pages share one /Resources object whose
number is reserved up front: the embedded TrueType subsets it names are only known at the end.
reportlab still does what it does well: glyph metrics, assigning characters to 256-glyph subsets
(``TTFont.splitString``) and building the subset font files (``TTFontFile.makeSubset``).
"""

from __future__ import annotations

import hashlib
import zlib
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path

from reportlab.pdfbase.ttfonts import SUBSETN, TTFont, makeToUnicodeCMap

__all__ = ["PdfStream", "SubsetFont", "pdf_text_string"]

# Object numbers fixed up front so pages can point at them before they are written.
_CATALOG, _PAGES, _RESOURCES, _INFO = 1, 2, 3, 4
_FIRST_FREE = 5
# In a literal string only these need escaping; CR and LF because readers normalize raw line ends.
_LITERAL = str.maketrans({"(": "\\(", ")": "\\)", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})
_CACHE_TEXTS = 4096  # small on purpose: repeated values (status, city) hit; unique ones just cycle


def _num(v: float) -> str:
    """A PDF number: no exponent notation, at most three decimals."""
    return f"{v:.3f}".rstrip("0").rstrip(".")


def pdf_text_string(text: str) -> str:
    """A PDF text string (UTF-16BE with BOM, hex) for the document information dictionary."""
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


class _DocKey:
    """reportlab keeps subset assignments per document in a WeakKeyDictionary; this is our document."""


class SubsetFont:
    """One TrueType font in one document: text -> show operators in 256-glyph subsets, embedded at the end."""

    def __init__(self, ttf: TTFont, prefix: str) -> None:
        self.ttf = ttf
        self._prefix = prefix
        self._key = _DocKey()
        self._names: dict[int, str] = {}
        self._cache: dict[str, list[tuple[str, str]]] = {}
        # reportlab seeds subset 0 with printable ASCII at its own codes (asciiReadable): such text
        # needs no per-character assignment, which is most of an export.
        state = ttf._assignState(self._key)
        self._ascii_direct = all(state.assignments.get(c) == c for c in range(32, 127))
        self._subset0 = self._name(0)

    def shows(self, text: str) -> list[tuple[str, str]]:
        """[(font resource name, "(escaped bytes) Tj")] for ``text``; the bytes are latin-1 characters."""
        hit = self._cache.get(text)
        if hit is None:
            if self._ascii_direct and text.isascii() and text.isprintable():
                return [(self._subset0, f"({text.translate(_LITERAL)}) Tj")]
            hit = []
            for subset, data in self.ttf.splitString(text, self._key):
                hit.append((self._name(subset), f"({data.decode('latin-1').translate(_LITERAL)}) Tj"))
            if len(self._cache) >= _CACHE_TEXTS:
                self._cache.clear()
            self._cache[text] = hit
        return hit

    def _name(self, subset: int) -> str:
        name = self._names.get(subset)
        if name is None:
            name = self._names[subset] = f"/{self._prefix}+{subset}"
        return name

    def write_objects(self, pdf: PdfStream) -> dict[str, int]:
        """Embeds every subset used (font file, descriptor, widths, ToUnicode); resource name -> object."""
        state = self.ttf.state.pop(self._key, None)
        if state is None:
            return {}
        face = self.ttf.face
        out: dict[str, int] = {}
        for n, subset in enumerate(state.subsets):
            base = (SUBSETN(n) + b"+" + face.name + face.subfontNameX).decode("latin-1")
            program = face.makeSubset(subset)
            file_obj = pdf.write_stream(program, f"/Length1 {len(program)}")
            cmap_obj = pdf.write_stream(makeToUnicodeCMap(base, subset).encode("latin-1"))
            flags = (face.flags & ~(1 << 5)) | (1 << 2)  # symbolic, not non-symbolic: the codes are our own
            descriptor = pdf.write_object(
                f"<< /Type /FontDescriptor /FontName /{base} /Flags {flags}"
                f" /FontBBox [{' '.join(map(_num, face.bbox))}] /ItalicAngle {_num(face.italicAngle)}"
                f" /Ascent {_num(face.ascent)} /Descent {_num(face.descent)} /CapHeight {_num(face.capHeight)}"
                f" /StemV {_num(face.stemV)} /MissingWidth {_num(face.defaultWidth)} /FontFile2 {file_obj} 0 R >>"
            )
            widths = " ".join(_num(face.getCharWidth(code)) for code in subset)
            name = f"{self._prefix}+{n}"
            out["/" + name] = pdf.write_object(
                f"<< /Type /Font /Subtype /TrueType /Name /{name} /BaseFont /{base} /FirstChar 0"
                f" /LastChar {len(subset) - 1} /Widths [{widths}] /ToUnicode {cmap_obj} 0 R"
                f" /FontDescriptor {descriptor} 0 R >>"
            )
        return out


class PdfStream:
    """Writes objects straight to the file; keeps only their offsets and the page object numbers."""

    def __init__(self, path: Path, width: float, height: float) -> None:
        self._file = path.open("wb", buffering=1 << 16)
        self._pos = 0
        self._offsets = array("q", [0] * _FIRST_FREE)  # by object number; 0 is the free-list head
        self._pages = array("q")
        self._media = f"[0 0 {_num(width)} {_num(height)}]"
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")  # binary comment: transfer tools keep bytes intact

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._pos += len(data)

    def _begin(self, number: int | None = None) -> int:
        if number is None:
            number = len(self._offsets)
            self._offsets.append(self._pos)
        else:
            self._offsets[number] = self._pos
        self._write(b"%d 0 obj\n" % number)
        return number

    def write_object(self, body: str, number: int | None = None) -> int:
        number = self._begin(number)
        self._write(body.encode("latin-1") + b"\nendobj\n")
        return number

    def write_stream(self, data: bytes, extra: str = "") -> int:
        """A Flate-compressed stream object; ``extra`` adds dictionary entries."""
        packed = zlib.compress(data, 6)
        number = self._begin()
        self._write(b"<< /Length %d /Filter /FlateDecode %s>>\nstream\n" % (len(packed), extra.encode("latin-1")))
        self._write(packed)
        self._write(b"\nendstream\nendobj\n")
        return number

    def add_page(self, content: bytes) -> None:
        contents = self.write_stream(content)
        self._pages.append(
            self.write_object(
                f"<< /Type /Page /Parent {_PAGES} 0 R /MediaBox {self._media} /Resources {_RESOURCES} 0 R"
                f" /Contents {contents} 0 R >>"
            )
        )

    @property
    def page_count(self) -> int:
        return len(self._pages)

    def close(self, fonts: Sequence[SubsetFont], info: Mapping[str, str]) -> None:
        """Fonts, the shared resources, page tree, info, catalog, xref and trailer; then closes the file."""
        refs: dict[str, int] = {}
        for font in fonts:
            refs.update(font.write_objects(self))
        font_dict = " ".join(f"{name} {obj} 0 R" for name, obj in refs.items())
        self.write_object(f"<< /Font << {font_dict} >> /ProcSet [/PDF /Text] >>", _RESOURCES)
        kids = " ".join(f"{p} 0 R" for p in self._pages)
        self.write_object(f"<< /Type /Pages /Count {len(self._pages)} /Kids [{kids}] >>", _PAGES)
        self.write_object("<< " + " ".join(f"/{k} {v}" for k, v in info.items()) + " >>", _INFO)
        self.write_object(f"<< /Type /Catalog /Pages {_PAGES} 0 R >>", _CATALOG)
        start = self._pos
        size = len(self._offsets)
        self._write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
        for i in range(1, size, 4096):
            self._write(b"".join(b"%010d 00000 n \n" % o for o in self._offsets[i : i + 4096]))
        doc_id = hashlib.md5(repr((sorted(info.items()), size, start)).encode()).hexdigest()
        self._write(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
            % (size, _CATALOG, _INFO, doc_id.encode(), doc_id.encode(), start)
        )
        self._file.close()

    def abort(self) -> None:
        self._file.close()
