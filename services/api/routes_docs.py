"""The problem types' descriptions (what a problem's `type`, /api/problems/<code>, points at), and the OpenAPI page: Swagger UI 5 (OpenAPI 3.1, which FastAPI writes) served from the fastapi-offline
package's files: no CDN (it works offline, and nothing from another origin runs on the API's pages), and
a CSP that lets only its own start script run."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from services.api.http import OrjsonResponse
from services.api.problems import known_problems, problem_type
from services.core.errors import NotFound

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_ASSETS = Path(fastapi_offline.__file__).with_name("static")
_SERVED = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}
_INLINE = re.compile(r"<script>(.*?)</script>", re.S)


@cache
def _page() -> tuple[bytes, str]:
    html = bytes(
        get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="crmio API",
            swagger_js_url="/api/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/api/docs/assets/swagger-ui.css",
            swagger_favicon_url="/api/docs/assets/favicon.png",
        ).body
    )
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE.findall(html.decode())
    )
    csp = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return html, csp


@router.get("/api/docs")
async def docs() -> HTMLResponse:
    html, csp = _page()
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


@router.get("/api/docs/assets/{name}")
async def asset(name: str) -> FileResponse:
    if name not in _SERVED:
        raise NotFound(f"no documentation asset {name!r}")
    return FileResponse(_ASSETS / name, media_type=_SERVED[name], headers={"Cache-Control": "max-age=86400"})


@router.get("/api/problems")
async def problem_types() -> OrjsonResponse:
    return OrjsonResponse(
        {"items": [{"type": problem_type(c), "code": c, **p} for c, p in sorted(known_problems().items())]}
    )


@router.get("/api/problems/{code}")
async def problem_type_description(code: str) -> OrjsonResponse:
    known = known_problems()
    if code not in known:
        raise NotFound(f"no problem type {code!r}; GET /api/problems lists them")
    return OrjsonResponse({"type": problem_type(code), "code": code, **known[code]})
