"""The web UI: index.html at / and its static files (CSS, ES modules) under /ui/; no build step, no API key needed.

The page holds no data: it signs in with an API key and calls the JSON API like any other client.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from services.core.errors import NotFound

__all__ = ["router", "WEB_DIR"]

WEB_DIR = Path(__file__).with_name("web")

router = APIRouter(tags=["web UI"], include_in_schema=False)

_MEDIA = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# Scripts and styles only from this origin, no inline script, no framing: an injected string cannot run.
_SECURITY = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (cheap: ETag / Last-Modified), so a new release is never mixed with cached modules.
    "Cache-Control": "no-cache",
}


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=_MEDIA[path.suffix], headers=_SECURITY)


@router.get("/")
async def index() -> FileResponse:
    return _file(WEB_DIR / "index.html")


@router.get("/ui/{name:path}")
async def static(name: str) -> FileResponse:
    if "\x00" in name:  # the file system refuses the name (a 500 before): it names no file
        raise NotFound(f"no UI file {name!r}")
    path = (WEB_DIR / name).resolve()
    # Only files inside web/ with a known type: no traversal (../), no directories, no stray files.
    if not path.is_relative_to(WEB_DIR.resolve()) or path.suffix not in _MEDIA or not path.is_file():
        raise NotFound(f"no UI file {name}")
    return _file(path)
