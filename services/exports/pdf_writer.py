"""PDF export: a paginated table on landscape A4 with a title, the filters and the generation time.

Drawn with plain content-stream operators and fixed column widths (weighted by field type), one
text object per page, and written page by page through ``PdfStream``: memory stays flat in the
row count (reportlab's Canvas kept every page until saved). The header row repeats on every page;
long cells wrap at word boundaries (at most ``MAX_LINES`` lines, then "…"). User text is shown as
literal glyphs, never parsed as markup, so "<b>x</b>" prints as written; control characters print
as spaces. A Unicode TrueType font (DejaVu Sans when installed, else reportlab's bundled Vera),
embedded as subsets, keeps accented, Cyrillic and Greek names readable; characters it lacks (Chinese,
Japanese, Korean) are drawn from a CJK face (WenQuanYi Micro Hei, Debian's fonts-wqy-microhei) when
one is installed, so 山田太郎 or 김민준 print as written.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.rl_accel import instanceStringWidthTTF
from reportlab.pdfbase.ttfonts import TTFont

from schemas.models import Field
from services.exports.pdf_stream import PdfStream, SubsetFont, pdf_text_string
from services.exports.writers import ExportMeta, text_columns

__all__ = ["PdfWriter", "MAX_LINES"]

MAX_LINES = 6
FONT_SIZE = 7.0
LEADING = 8.4
PAD = 2.0
MARGIN = 28.0
_WEIGHTS = {
    "text": 3.0,
    "email": 2.2,
    "url": 2.0,
    "string": 1.4,
    "phone": 1.8,
    "date": 1.5,
    "boolean": 0.8,
    "integer": 1.0,
    "decimal": 1.2,
    "choice": 1.2,
}
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f]")
_SPACES = re.compile(r"(\s+)")
_CACHE_TEXTS = 4096  # wrapped cells kept; small so memory stays flat, cleared when full
_FONT_FILES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
)
_FALLBACK_FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


@functools.cache
def _faces() -> tuple[TTFont, TTFont]:
    """(regular, bold), parsed once per process; each document keeps its own subset state."""
    for regular, bold in _FONT_FILES:
        if Path(regular).is_file() and Path(bold).is_file():
            break
    else:
        regular, bold = "Vera.ttf", "VeraBd.ttf"  # shipped inside reportlab
    return TTFont("crmio-sans", regular), TTFont("crmio-sans-bold", bold)


@functools.cache
def _fallback_face() -> TTFont | None:
    """A face with Chinese, Japanese and Korean glyphs (DejaVu has none), when one is installed."""
    for path in _FALLBACK_FILES:
        if Path(path).is_file():
            return TTFont("crmio-cjk", path, subfontIndex=0)
    return None


class _FontStack:
    """Text in the primary face; each run of characters it lacks, in the fallback face if that has them."""

    def __init__(self, primary: SubsetFont, fallback: Callable[[], SubsetFont | None]) -> None:
        self.primary = primary
        self._fallback = fallback
        self._covered = primary.ttf.face.charToGlyph
        # The C routine behind TTFont.stringWidth, minus a Python call per measurement.
        self._width: Callable[[str, float], float] = functools.partial(instanceStringWidthTTF, primary.ttf)
        self._mixed: dict[str, list[tuple[SubsetFont, str]] | None] = {}

    def _runs(self, text: str) -> list[tuple[SubsetFont, str]] | None:
        """None when the primary face has every character, which is nearly always."""
        try:
            return self._mixed[text]
        except KeyError:
            pass
        covered, runs = self._covered, None
        if not all(ord(c) in covered for c in text) and (fallback := self._fallback()) is not None:
            other = fallback.ttf.face.charToGlyph
            parts: list[tuple[SubsetFont, list[str]]] = []
            for ch in text:
                font = fallback if ord(ch) not in covered and ord(ch) in other else self.primary
                if parts and parts[-1][0] is font:
                    parts[-1][1].append(ch)
                else:
                    parts.append((font, [ch]))
            runs = [(font, "".join(chars)) for font, chars in parts]
        if len(self._mixed) >= _CACHE_TEXTS:
            self._mixed.clear()
        self._mixed[text] = runs
        return runs

    # Both are in the writer's hottest loop: ASCII text goes straight to the primary face.
    def shows(self, text: str) -> list[tuple[str, str]]:
        if text.isascii() or (runs := self._runs(text)) is None:
            return self.primary.shows(text)
        return [show for font, run in runs for show in font.shows(run)]

    def width(self, text: str, size: float) -> float:
        if text.isascii() or (runs := self._runs(text)) is None:
            return self._width(text, size)
        total: float = sum(font.ttf.stringWidth(run, size) for font, run in runs)
        return total


class _Wrapper:
    """Splits text into lines no wider than a column, with the fonts' real glyph widths."""

    def __init__(self, width_of: Callable[[str, float], float], size: float) -> None:
        self.width_of = width_of
        self.size = size
        self._wrapped: dict[tuple[str, float], list[str]] = {}

    def lines(self, text: str, width: float) -> list[str]:
        if "\n" not in text and self.width_of(text, self.size) <= width:
            return [text]
        # Wrapping is the writer's hottest loop; values that repeat (company, city, title) wrap once.
        key = (text, width)
        hit = self._wrapped.get(key)
        if hit is None:
            if len(self._wrapped) >= _CACHE_TEXTS:
                self._wrapped.clear()
            hit = self._wrapped[key] = self._split(text, width)
        return hit

    def _split(self, text: str, width: float) -> list[str]:
        size, width_of = self.size, self.width_of
        out: list[str] = []
        for para in text.split("\n"):
            line = ""
            for token in _SPACES.split(para):
                candidate = line + token
                if width_of(candidate, size) <= width:
                    line = candidate
                    continue
                if line.strip():
                    out.append(line.rstrip())
                token = token.lstrip()
                while width_of(token, size) > width:  # a word wider than the column: break it
                    cut = max(1, int(len(token) * width / width_of(token, size)))
                    while cut > 1 and width_of(token[:cut], size) > width:
                        cut -= 1
                    out.append(token[:cut])
                    token = token[cut:]
                line = token
                if len(out) > MAX_LINES:
                    break
            out.append(line.rstrip())
            if len(out) > MAX_LINES:
                break
        if len(out) > MAX_LINES:
            out = out[:MAX_LINES]
            last = out[-1]
            while last and width_of(last + "…", size) > width:
                last = last[:-1]
            out[-1] = last + "…"
        return out


class PdfWriter:
    """Streams rows onto pages; each page gets the repeated header row and a page number."""

    def __init__(self) -> None:
        self._pdf: PdfStream | None = None
        self._path: Path | None = None
        self._count = 0

    def open(self, path: Path, fields: Sequence[Field], meta: ExportMeta) -> None:
        self._path = path
        regular, bold = _faces()
        self._cjk: SubsetFont | None = None
        self._font = _FontStack(SubsetFont(regular, "F1"), self._fallback)
        self._bold = _FontStack(SubsetFont(bold, "F2"), self._fallback)
        self._page_w, self._page_h = landscape(A4)
        usable = self._page_w - 2 * MARGIN
        weights = [_WEIGHTS.get(f.type, 1.4) for f in fields]
        self._widths = [usable * w / sum(weights) for w in weights]
        self._xs = [MARGIN + sum(self._widths[:i]) for i in range(len(fields))]
        self._tm_x = [f"1 0 0 1 {x + PAD:.2f} " for x in self._xs]  # text matrix prefix per column
        self._wrap = _Wrapper(self._font.width, FONT_SIZE)
        self._titles = [f.title for f in fields]
        self._meta = meta
        self._page = 0
        self._code: list[str] = []
        self._current: tuple[str, float] = ("", 0.0)
        self._pdf = PdfStream(path, self._page_w, self._page_h)
        self._start_page()

    def _fallback(self) -> SubsetFont | None:
        """This document's CJK subsets, started on the first character that needs them."""
        if self._cjk is None and (face := _fallback_face()) is not None:
            self._cjk = SubsetFont(face, "F3")
        return self._cjk

    def _text(self, font: _FontStack, size: float, x: float, y: float, text: str) -> None:
        """One line of literal text at (x, y), inside the page's text object."""
        code = self._code
        code.append(f"1 0 0 1 {x:.2f} {y:.2f} Tm")
        for name, show in font.shows(text):
            if (name, size) != self._current:
                code.append(f"{name} {size} Tf")
                self._current = (name, size)
            code.append(show)

    def _start_page(self) -> None:
        """Page furniture, then the header row; sets ``self._y`` to the top of the first data row."""
        self._page += 1
        self._current = ("", 0.0)  # (font, size) in effect: Tf only when it changes
        top = self._page_h - MARGIN
        header = [self._wrap.lines(t, w - 2 * PAD) for t, w in zip(self._titles, self._widths)]
        height = max(map(len, header)) * LEADING + 2 * PAD
        if self._page == 1:
            head = top - 28 - 10 * len(self._meta.filters or ("none",)) - 10 - 4
        else:
            head = top - 14
        # The header band is filled before any text so the text lands on top of it.
        self._code = [
            f"0.88 g {MARGIN:.2f} {head - height:.2f} {self._page_w - 2 * MARGIN:.2f} {height:.2f} re f 0 g",
            "BT",
        ]
        if self._page == 1:
            self._text(self._bold, 13, MARGIN, top - 13, _plain(self._meta.title))
            y = top - 28
            stamp = self._meta.generated_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
            for line in [f"Generated {stamp}", *(f"Filter: {_plain(f)}" for f in self._meta.filters or ("none",))]:
                self._text(self._font, 8, MARGIN, y, line[:300])
                y -= 10
        else:
            self._text(self._font, 8, MARGIN, top - 8, _plain(self._meta.title)[:200])
        label = f"Page {self._page}"
        self._text(self._font, 7, self._page_w - MARGIN - self._font.width(label, 7), MARGIN / 2, label)
        self._table_top = head
        self._draw_row(header, head, self._bold)
        self._rules = [head, head - height]
        self._y = head - height

    def _draw_row(self, cells: Sequence[Sequence[str]], top: float, font: _FontStack) -> None:
        code, shows, size = self._code, font.shows, FONT_SIZE
        for x, lines in zip(self._tm_x, cells):
            y = top - PAD - size
            for line in lines:
                code.append(f"{x}{y:.2f} Tm")
                for name, show in shows(line):
                    if (name, size) != self._current:
                        code.append(f"{name} {size} Tf")
                        self._current = (name, size)
                    code.append(show)
                y -= LEADING

    def _end_page(self) -> None:
        assert self._pdf is not None
        code = self._code
        code.append("ET")
        left, right = MARGIN, self._page_w - MARGIN
        bottom = self._rules[-1]
        code.append("0.3 w 0.6 G")
        code.extend(f"{left:.2f} {y:.2f} m {right:.2f} {y:.2f} l" for y in self._rules)
        code.extend(f"{x:.2f} {self._table_top:.2f} m {x:.2f} {bottom:.2f} l" for x in (*self._xs, right))
        code.append("S")
        self._pdf.add_page("\n".join(code).encode("latin-1"))
        self._code = []

    def write_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows or self._pdf is None:
            return
        cols = text_columns(rows, len(self._widths))
        cols = [_clean_column(col) for col in cols]
        inner = [w - 2 * PAD for w in self._widths]
        lines_of = self._wrap.lines
        font = self._font
        floor = MARGIN
        for row in zip(*cols):
            cells = [lines_of(v, w) if v else () for v, w in zip(row, inner)]
            height = max(1, max(map(len, cells))) * LEADING + 2 * PAD
            if self._y - height < floor:
                self._end_page()
                self._start_page()
            self._draw_row(cells, self._y, font)
            self._y -= height
            self._rules.append(self._y)
        self._count += len(rows)

    def close(self) -> int:
        if self._pdf is not None:
            self._end_page()
            meta = self._meta
            stamp = meta.generated_at.strftime("D:%Y%m%d%H%M%S")
            info = {
                "Title": pdf_text_string(meta.title),
                "Author": "(crmio)",
                "Creator": "(crmio)",
                "Producer": "(crmio pdf_stream)",
                "CreationDate": f"({stamp})",
            }
            fonts = [self._font.primary, self._bold.primary, *([self._cjk] if self._cjk is not None else [])]
            self._pdf.close(fonts, info)
            self._pdf = None
        return self._count

    def abort(self) -> None:
        if self._pdf is not None:
            self._pdf.abort()
            self._pdf = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)


def _plain(text: str) -> str:
    return _CONTROL.sub(" ", text.replace("\r\n", "\n")).replace("\n", " ")


def _clean_column(col: Sequence[str | None]) -> Sequence[str | None]:
    """Control characters (tab, CR, ...) print as spaces; newlines stay line breaks."""
    if _CONTROL.search("\n".join(filter(None, col))) is None:
        return col
    return tuple(v and _CONTROL.sub(" ", v.replace("\r\n", "\n")) for v in col)
