"""A client generated from the API's OpenAPI document by a well-known generator (openapi-python-client, pinned in
pyproject's test extras) runs an import and an export end to end against the real API, PostgreSQL, Kafka and a
worker: upload, import, its outcome, export, download; and reads an error answer as a problem."""

from __future__ import annotations

import asyncio
import csv
import importlib
import io
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import orjson
import pytest

from services.api import create_app
from services.core.settings import Settings
from tests.integration.test_api import (  # noqa: F401 - fixtures shared with the API tests
    LEAD_MAPPING,
    api_settings,
    base_url,
    leads_csv,
    new_company,
)

pytestmark = pytest.mark.integration

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "crmio_generated_client"


@pytest.fixture(scope="module")
def generated(api_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package generated from the document the API serves, importable for this module's tests."""
    if not GENERATOR.exists():
        pytest.fail(
            f"{GENERATOR} is missing: install the test extras (`pip install -e '.[test]'`, or stack/install.sh), "
            "which pin openapi-python-client",
            pytrace=False,
        )
    where = tmp_path_factory.mktemp("generated")
    spec = where / "openapi.json"
    spec.write_bytes(orjson.dumps(create_app(api_settings).openapi()))
    config = where / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatting pass over the generated code: it is only imported
    done = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(spec), "--meta", "none", "--output-path", str(where / PACKAGE)]
        + ["--config", str(config)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0 and "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _part(module: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{module}")


async def _wait_final(get_job: Any, client: Any, job_id: uuid.UUID | str, timeout_s: float = 180) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = await get_job.asyncio_detailed(str(job_id), client=client)
        assert answer.status_code == 200, answer.content
        if answer.parsed.job_status in ("completed", "failed", "cancelled"):
            return answer.parsed
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish within {timeout_s} s")


async def test_a_generated_client_imports_and_exports(generated: ModuleType, base_url: str, pool: asyncpg.Pool) -> None:
    acme = await new_company(pool)
    models = _part("models")
    types = _part("types")
    create_upload = _part("api.uploads.create_upload")  # operation ids: the route functions' names
    create_job = _part("api.jobs.create_job")
    get_job = _part("api.jobs.get_job")
    download = _part("api.jobs.download")

    async with generated.AuthenticatedClient(base_url=base_url, token=acme.admin) as client:
        # Upload 50 leads, 5 of them bad (no last name, a broken e-mail).
        data = leads_csv(50, bad_every=10)
        body = models.CreateUploadBody(
            file=types.File(payload=io.BytesIO(data), file_name="leads.csv", mime_type="text/csv"),
            target_model=models.CreateUploadBodyTargetModel.LEAD,
        )
        made = await create_upload.asyncio_detailed(client=client, body=body, idempotency_key=str(uuid.uuid4()))
        assert made.status_code == 201, made.content
        upload = made.parsed
        assert isinstance(upload, models.UploadCreated) and upload.row_estimate == 50
        assert upload.headers == list(LEAD_MAPPING) and made.headers["location"] == f"/api/v1/uploads/{upload.id}"

        started = await create_job.asyncio_detailed(
            client=client,
            body=models.ImportJobRequest(
                job_type="import",
                upload_id=uuid.UUID(upload.id),
                target_model=models.ImportJobRequestTargetModelType0.LEAD,
                mapping=models.ImportJobRequestMappingType0.from_dict(LEAD_MAPPING),
                duplicate_handling=models.ImportJobRequestDuplicateHandling.UPDATE,
            ),
        )
        assert started.status_code == 201 and isinstance(started.parsed, models.Job), started.content
        imported = await _wait_final(get_job, client, started.parsed.id)
        assert imported.job_status == "completed", imported.to_dict()
        assert (imported.total_records, imported.success_records, imported.error_records) == (50, 45, 5)

        exported = await create_job.asyncio_detailed(
            client=client,
            body=models.ExportJobRequest(
                job_type="export",
                target_model=models.ExportJobRequestTargetModel.LEAD,
                fields=["first_name", "last_name", "email"],
                sort=["first_name"],
                file_format=models.ExportJobRequestFileFormat.CSV,
            ),
        )
        assert exported.status_code == 201, exported.content
        export = await _wait_final(get_job, client, exported.parsed.id)
        assert export.job_status == "completed", export.to_dict()
        file = await download.asyncio_detailed(export.id, client=client)
        assert file.status_code == 200 and file.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(file.parsed.lstrip("\ufeff"))))
        assert rows[0] == ["first_name", "last_name", "email"]
        good = {i for i in range(1, 51) if i % 10}
        assert sorted(rows[1:]) == sorted([f"First{i}", f"Last{i}", f"user{i}@example.com"] for i in good)

        # An error answer parses as a problem.
        missing = await get_job.asyncio_detailed(str(uuid.uuid4()), client=client)
        assert missing.status_code == 404 and isinstance(missing.parsed, models.Problem)
        assert (
            missing.parsed.code == "NotFound" and missing.parsed.correlation_id == missing.headers["x-correlation-id"]
        )
