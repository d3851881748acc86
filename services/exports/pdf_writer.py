"""PDF export (reportlab): a paginated table on landscape A4 with a title, the filters and the generation time.

Drawn straight on the canvas with fixed column widths (weighted by field type), one text object per
page: about ten times faster than platypus tables of Paragraphs. The header row repeats on every
page; long cells wrap at word boundaries (at most ``MAX_LINES`` lines, then "…"). User text is drawn
as literal glyphs, never parsed as markup, so "<b>x</b>" prints as written; control characters
print as spaces. A Unicode TrueType font (DejaVu Sans when installed, else reportlab's bundled Vera)
keeps accented and non-Latin names readable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from schemas.models import Field
from services.exports.writers import ExportMeta, text_columns

__all__ = ["PdfWriter", "MAX_LINES"]

MAX_LINES = 6
FONT_SIZE = 7.0
LEADING = 8.4
PAD = 2.0
MARGIN = 28.0
_WEIGHTS = {"text": 3.0, "email": 2.2, "url": 2.0, "string": 1.4, "phone": 1.8, "date": 1.5, "boolean": 0.8,
            "integer": 1.0, "decimal": 1.2, "choice": 1.2}
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f]")
_SPACES = re.compile(r"(\s+)")
_FONT_FILES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
)


def _fonts() -> tuple[str, str]:
    """(regular, bold) font names, registered once per process."""
    if "crmio-sans" not in pdfmetrics.getRegisteredFontNames():
        for regular, bold in _FONT_FILES:
            if Path(regular).is_file() and Path(bold).is_file():
                break
        else:
            regular, bold = "Vera.ttf", "VeraBd.ttf"  # shipped inside reportlab
        pdfmetrics.registerFont(TTFont("crmio-sans", regular))
        pdfmetrics.registerFont(TTFont("crmio-sans-bold", bold))
    return "crmio-sans", "crmio-sans-bold"


class _Wrapper:
    """Splits text into lines no wider than a column, with the font's real glyph widths."""

    def __init__(self, font: str, size: float) -> None:
        self.width_of = pdfmetrics.getFont(font).stringWidth
        self.size = size

    def lines(self, text: str, width: float) -> list[str]:
        size, width_of = self.size, self.width_of
        if "\n" not in text and width_of(text, size) <= width:
            return [text]
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


class _Glyphs:
    """Text -> PDF string operands in a subsetted TrueType font, cached per text (names, choices and
    cities repeat). Replaces reportlab's per-call textOut path, which re-splits every string."""

    def __init__(self, canvas: Canvas, font_name: str) -> None:
        self._font = pdfmetrics.getFont(font_name)
        self._doc = canvas._doc
        self._escape = canvas._escape
        self._names: dict[int, str] = {}
        self._cache: dict[str, list[tuple[str, str]]] = {}

    def ops(self, text: str) -> list[tuple[str, str]]:
        """[(font resource name, "(escaped) Tj")] for ``text``."""
        hit = self._cache.get(text)
        if hit is None:
            hit = []
            for subset, data in self._font.splitString(text, self._doc):
                name = self._names.get(subset)
                if name is None:
                    name = self._names[subset] = self._font.getSubsetInternalName(subset, self._doc)
                hit.append((name, f"({self._escape(data)}) Tj"))
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[text] = hit
        return hit


class PdfWriter:
    """Streams rows onto pages; each page gets the repeated header row and a page number."""

    def __init__(self) -> None:
        self._canvas: Canvas | None = None
        self._path: Path | None = None
        self._count = 0

    def open(self, path: Path, fields: Sequence[Field], meta: ExportMeta) -> None:
        self._path = path
        self._font, self._bold = _fonts()
        self._page_w, self._page_h = landscape(A4)
        usable = self._page_w - 2 * MARGIN
        weights = [_WEIGHTS.get(f.type, 1.4) for f in fields]
        self._widths = [usable * w / sum(weights) for w in weights]
        self._xs = [MARGIN + sum(self._widths[:i]) for i in range(len(fields))]
        self._wrap = _Wrapper(self._font, FONT_SIZE)
        self._titles = [f.title for f in fields]
        self._meta = meta
        self._page = 0
        c = self._canvas = Canvas(str(path), pagesize=(self._page_w, self._page_h), pageCompression=1)
        c.setTitle(meta.title)
        c.setAuthor("crmio")
        c.setCreator("crmio")
        self._glyphs, self._bold_glyphs = _Glyphs(c, self._font), _Glyphs(c, self._bold)
        self._start_page()

    def _start_page(self) -> None:
        """Page furniture, then the header row; sets ``self._y`` to the top of the first data row."""
        c = self._canvas
        assert c is not None
        self._page += 1
        top = self._page_h - MARGIN
        if self._page == 1:
            c.setFont(self._bold, 13)
            c.drawString(MARGIN, top - 13, _plain(self._meta.title))
            c.setFont(self._font, 8)
            y = top - 28
            stamp = self._meta.generated_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
            for line in [f"Generated {stamp}", *(f"Filter: {_plain(f)}" for f in self._meta.filters or ("none",))]:
                c.drawString(MARGIN, y, line[:300])
                y -= 10
            top = y - 4
        else:
            c.setFont(self._font, 8)
            c.drawString(MARGIN, top - 8, _plain(self._meta.title)[:200])
            top -= 14
        c.setFont(self._font, 7)
        c.drawRightString(self._page_w - MARGIN, MARGIN / 2, f"Page {self._page}")
        header = [self._wrap.lines(t, w - 2 * PAD) for t, w in zip(self._titles, self._widths)]
        height = max(map(len, header)) * LEADING + 2 * PAD
        c.setFillGray(0.88)
        c.rect(MARGIN, top - height, self._page_w - 2 * MARGIN, height, stroke=0, fill=1)
        c.setFillGray(0)
        self._table_top = top
        self._code = ["BT"]
        self._current = ""
        self._draw_row(header, top, self._bold_glyphs)
        self._rules = [top, top - height]
        self._y = top - height

    def _draw_row(self, cells: Sequence[Sequence[str]], top: float, glyphs: _Glyphs) -> None:
        code, ops, size = self._code, glyphs.ops, FONT_SIZE
        for x, lines in zip(self._xs, cells):
            y = top - PAD - size
            for line in lines:
                code.append(f"1 0 0 1 {x + PAD:.2f} {y:.2f} Tm")
                for font, show in ops(line):
                    if font != self._current:
                        code.append(f"{font} {size} Tf")
                        self._current = font
                    code.append(show)
                y -= LEADING

    def _end_page(self) -> None:
        c = self._canvas
        assert c is not None
        self._code.append("ET")
        c._code.append("\n".join(self._code))  # the page's table text, built by _draw_row
        c.setLineWidth(0.3)
        c.setStrokeGray(0.6)
        left, right = MARGIN, self._page_w - MARGIN
        bottom = self._rules[-1]
        c.lines([(left, y, right, y) for y in self._rules]
                + [(x, self._table_top, x, bottom) for x in (*self._xs, right)])
        c.showPage()

    def write_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows or self._canvas is None:
            return
        cols = text_columns(rows, len(self._widths))
        cols = [_clean_column(col) for col in cols]
        inner = [w - 2 * PAD for w in self._widths]
        lines_of = self._wrap.lines
        glyphs = self._glyphs
        floor = MARGIN
        for row in zip(*cols):
            cells = [lines_of(v, w) if v else () for v, w in zip(row, inner)]
            height = max(1, max(map(len, cells))) * LEADING + 2 * PAD
            if self._y - height < floor:
                self._end_page()
                self._start_page()
            self._draw_row(cells, self._y, glyphs)
            self._y -= height
            self._rules.append(self._y)
        self._count += len(rows)

    def close(self) -> int:
        if self._canvas is not None:
            self._end_page()
            self._canvas.save()
            self._canvas = None
        return self._count

    def abort(self) -> None:
        self._canvas = None  # nothing is on disk before save()
        if self._path is not None:
            self._path.unlink(missing_ok=True)


def _plain(text: str) -> str:
    return _CONTROL.sub(" ", text.replace("\r\n", "\n")).replace("\n", " ")


def _clean_column(col: Sequence[str | None]) -> Sequence[str | None]:
    """Control characters (tab, CR, ...) print as spaces; newlines stay line breaks."""
    if _CONTROL.search("\n".join(filter(None, col))) is None:
        return col
    return tuple(v and _CONTROL.sub(" ", v.replace("\r\n", "\n")) for v in col)
