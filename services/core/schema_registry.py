"""crmio's schemas in a Confluent-compatible schema registry (Confluent Schema Registry, Apicurio's
``/apis/ccompat/v7``, Karapace): the ids in every event's frame come from it when one is set.

Each process registers every version of each schema, oldest first, under its topic's subject
(``<topic>-value``, Confluent's TopicNameStrategy) with FULL_TRANSITIVE compatibility, and reads the
subjects' other versions too, so events are framed and read without a round trip. A writer schema
registered later by another system is fetched by id once and kept. Without a registry the static ids
of ``schemas/avro.py`` stay.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote

import httpx
from fastavro import parse_schema

from schemas import avro
from schemas.topics import TOPICS
from services.core.errors import ConfigurationError, TransientError
from services.core.settings import Settings

__all__ = ["RegistryClient", "RegistryFraming", "install", "subject"]

_MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
COMPATIBILITY = "FULL_TRANSITIVE"


def subject(settings: Settings, schema_name: str) -> str:
    """The subject of a schema: its topic's value (every crmio schema travels on one topic)."""
    for spec in TOPICS:
        if spec.schema == schema_name:
            return f"{settings.topic(spec.name)}-value"
    raise KeyError(schema_name)


class RegistryClient:
    """The few endpoints of the Confluent Schema Registry API crmio calls, synchronously (see ``install``)."""

    def __init__(self, url: str, *, basic_auth: str | None = None, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        auth = tuple(basic_auth.split(":", 1)) if basic_auth else None
        self._http = httpx.Client(
            base_url=self.url,
            auth=auth,  # type: ignore[arg-type]
            timeout=timeout_s,
            headers={"Accept": _MEDIA_TYPE, "Content-Type": _MEDIA_TYPE},
        )

    def close(self) -> None:
        self._http.close()

    def set_compatibility(self, subject: str, level: str) -> None:
        self._call("PUT", f"/config/{quote(subject, safe='')}", {"compatibility": level})

    def register(self, subject: str, schema_text: str) -> int:
        """The id of this schema under ``subject``, registering it as the subject's next version if it is new."""
        body = self._call("POST", f"/subjects/{quote(subject, safe='')}/versions", {"schema": schema_text})
        return int(body["id"])

    def subject_schemas(self, subject: str) -> dict[int, str]:
        """Id -> schema text of every version of ``subject``."""
        out: dict[int, str] = {}
        for version in self._call("GET", f"/subjects/{quote(subject, safe='')}/versions"):
            body = self._call("GET", f"/subjects/{quote(subject, safe='')}/versions/{int(version)}")
            out[int(body["id"])] = str(body["schema"])
        return out

    def schema_text(self, schema_id: int) -> str:
        return str(self._call("GET", f"/schemas/ids/{int(schema_id)}")["schema"])

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, content=json.dumps(body) if body is not None else None)
        except httpx.HTTPError as exc:
            raise TransientError(
                f"the schema registry at {self.url} is not reachable ({type(exc).__name__}: {exc}); "
                "start it or correct CRMIO_SCHEMA_REGISTRY_URL"
            ) from exc
        if response.status_code < 300:
            return response.json()
        try:
            reason = response.json().get("message") or response.text
        except ValueError:
            reason = response.text
        what = f"the schema registry at {self.url} refused {method} {path}: HTTP {response.status_code}, {reason}"
        if response.status_code in (401, 403):
            raise ConfigurationError(f"{what}; set CRMIO_SCHEMA_REGISTRY_BASIC_AUTH to a key:secret it accepts")
        if response.status_code == 409:
            raise ConfigurationError(
                f"{what}; a schema in schemas/avro must stay {COMPATIBILITY} compatible with every version "
                "the subject holds (tests/unit/test_schema_compatibility.py checks ours)"
            )
        if response.status_code >= 500:
            raise TransientError(f"{what}; try again once the registry is healthy")
        raise ConfigurationError(f"{what}; check that CRMIO_SCHEMA_REGISTRY_URL is a Confluent-compatible API")


class RegistryFraming:
    """``schemas.avro.Framing`` with the registry's ids: crmio's versions registered, the subjects' read."""

    def __init__(self, client: RegistryClient, subjects: dict[str, str]) -> None:
        self.client = client
        self._ids: dict[str, int] = {}
        self._writers: dict[int, Any] = {}
        self._lock = threading.Lock()
        for name, subj in subjects.items():
            client.set_compatibility(subj, COMPATIBILITY)
            for static_id in avro.versions(name):
                registry_id = client.register(subj, avro.schema_text(static_id))
                # Our own version: the parsed schema the codec already holds (no resolution when it is the latest).
                self._writers[registry_id] = avro.schema(static_id)
                self._ids[name] = registry_id
            for registry_id, text in client.subject_schemas(subj).items():
                self._writers.setdefault(registry_id, _parsed(text))

    def writer_id(self, name: str) -> int:
        return self._ids[name]

    def writer_schema(self, schema_id: int) -> Any:
        found = self._writers.get(schema_id)
        if found is None:
            # Another system registered a version after this process started: one GET, then kept. This blocks
            # the caller (a Faust codec cannot await) for at most the registry timeout, once per new id.
            with self._lock:
                found = self._writers.get(schema_id)
                if found is None:
                    found = self._writers[schema_id] = _parsed(self.client.schema_text(schema_id))
        return found


def _parsed(text: str) -> Any:
    return parse_schema(json.loads(text))


_installed: dict[tuple[str, str], RegistryFraming] = {}


def install(settings: Settings) -> avro.Framing:
    """Make this process frame events with the registry's ids when ``schema_registry_url`` is set, else the
    static ids; returns the framing in use. Registering is synchronous HTTP: call it off the event loop."""
    url = settings.schema_registry_url
    if not url:
        avro.use(avro.STATIC)
        return avro.STATIC
    key = (url, settings.topic_prefix)
    framing = _installed.get(key)
    if framing is None:
        auth = settings.schema_registry_basic_auth
        client = RegistryClient(
            url, basic_auth=auth.get_secret_value() if auth else None, timeout_s=settings.schema_registry_timeout_s
        )
        framing = _installed[key] = RegistryFraming(client, {name: subject(settings, name) for name in avro.LATEST})
    avro.use(framing)
    return framing
