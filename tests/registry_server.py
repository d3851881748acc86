"""A small real schema registry speaking the Confluent Schema Registry API, for the tests.

No registry can run on this machine (docs/events.md, "Schema registry": Apicurio 3.x needs Java 21, 2.x
resolves artifacts Maven Central does not serve; Confluent's is not on Maven Central), so the tests run
crmio's client against this one. It implements the documented endpoints crmio and the Java example use,
with the documented bodies and error codes: ids are global (the same schema text under another subject
keeps its id), a schema already in a subject answers its id, a new version is checked against the subject's
compatibility level (schemas/compatibility.py) and refused with 409. Ids start at ``first_id`` so that a
test can tell them from crmio's static ids. It listens on 127.0.0.1 on a free port of its own.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from schemas.compatibility import incompatibilities

_MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryState:
    def __init__(self, first_id: int) -> None:
        self.next_id = first_id
        self.ids: dict[str, int] = {}  # canonical schema text -> id
        self.texts: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}  # subject -> ids of its versions, oldest first
        self.compatibility: dict[str, str] = {}
        self.calls: Counter[str] = Counter()  # "GET /schemas/ids/{id}" -> count
        self.lock = threading.Lock()

    def register(self, subject: str, text: str) -> tuple[int, dict[str, Any]]:
        schema = json.loads(text)
        canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"))
        versions = self.subjects.setdefault(subject, [])
        known = self.ids.get(canonical)
        if known is not None and known in versions:
            return 200, {"id": known}
        level = self.compatibility.get(subject, "BACKWARD")
        against = versions if level.endswith("_TRANSITIVE") else versions[-1:]
        problems: list[str] = []
        for old in (json.loads(self.texts[i]) for i in against):
            if level.startswith(("BACKWARD", "FULL")):
                problems += incompatibilities(schema, old)
            if level.startswith(("FORWARD", "FULL")):
                problems += incompatibilities(old, schema)
        if level != "NONE" and problems:
            return 409, {"error_code": 409, "message": f"Schema being registered is incompatible ({level}): {problems}"}
        if known is None:
            known = self.ids[canonical] = self.next_id
            self.texts[known] = canonical
            self.next_id += 1
        versions.append(known)
        return 200, {"id": known}


def _handler(state: RegistryState, basic_auth: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet: the tests assert on state.calls
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", _MEDIA_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            if basic_auth is not None:
                expected = "Basic " + base64.b64encode(basic_auth.encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._answer(401, {"error_code": 401, "message": "Unauthorized"})
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else {}
            path = self.path.split("?", 1)[0]
            with state.lock:
                state.calls[f"{method} {re.sub(r'/[0-9]+$', '/{id}', path)}"] += 1
                status, answer = self._dispatch(method, path, body)
            self._answer(status, answer)

        def _dispatch(self, method: str, path: str, body: Any) -> tuple[int, Any]:
            parts = [unquote(p) for p in path.strip("/").split("/")]
            match method, parts:
                case "GET", ["schemas", "ids", sid] if int(sid) in state.texts:
                    return 200, {"schema": state.texts[int(sid)]}
                case "GET", ["schemas", "ids", _]:
                    return 404, {"error_code": 40403, "message": "Schema not found"}
                case "GET", ["subjects"]:
                    return 200, sorted(state.subjects)
                case "GET", ["subjects", subject, "versions"] if state.subjects.get(subject):
                    return 200, list(range(1, len(state.subjects[subject]) + 1))
                case "GET", ["subjects", subject, "versions", version] if state.subjects.get(subject):
                    ids = state.subjects[subject]
                    number = len(ids) if version == "latest" else int(version)
                    if not 1 <= number <= len(ids):
                        return 404, {"error_code": 40402, "message": "Version not found"}
                    sid = ids[number - 1]
                    return 200, {"subject": subject, "version": number, "id": sid, "schema": state.texts[sid]}
                case "GET", ["subjects", subject, *_]:
                    return 404, {"error_code": 40401, "message": f"Subject '{subject}' not found"}
                case "POST", ["subjects", subject, "versions"]:
                    return state.register(subject, body["schema"])
                case "PUT", ["config", subject]:
                    state.compatibility[subject] = body["compatibility"]
                    return 200, {"compatibility": body["compatibility"]}
                case "GET", ["config", subject]:
                    return 200, {"compatibilityLevel": state.compatibility.get(subject, "BACKWARD")}
            return 404, {"error_code": 404, "message": f"no such endpoint: {method} {path}"}

        def do_GET(self) -> None:  # noqa: N802 - http.server's names
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._route("PUT")

    return Handler


class RegistryServer:
    """``with RegistryServer() as registry:`` serves on ``registry.url`` until the block ends."""

    def __init__(self, *, first_id: int = 1001, basic_auth: str | None = None) -> None:
        self.state = RegistryState(first_id)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state, basic_auth))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-registry", daemon=True)

    def __enter__(self) -> RegistryServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
