"""`crmio download` and `crmio export --wait --output` on the local CLI: the export's file copied where asked."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.core.settings import Settings
from tests.integration.test_cli import crmio

pytestmark = pytest.mark.integration


def test_export_output_and_download_copy_the_file(settings: Settings, worker: Any, tmp_path: Path) -> None:
    company = str(uuid.uuid4())
    leads = tmp_path / "leads.csv"
    leads.write_text("First Name,Last Name,Email\nAda,Lovelace,ada@example.com\n", encoding="utf-8")
    imported = crmio(settings, "import", str(leads), "--company", company, "--model", "lead", "--wait", "--json")
    assert imported.returncode == 0, imported.stderr
    out = tmp_path / "out.csv"
    args = ("--company", company, "--model", "lead", "--format", "csv", "--fields", "email", "--wait")
    done = crmio(settings, "export", *args, "--output", str(out))
    assert done.returncode == 0 and done.stdout.strip() == str(out), done.stderr
    assert out.read_text(encoding="utf-8").splitlines() == ["email", "ada@example.com"]

    job = orjson.loads(crmio(settings, "export", *args, "--json").stdout)
    copy = tmp_path / "copy.csv"
    got = crmio(settings, "download", job["id"], "--company", company, "--output", str(copy), "--json")
    assert got.returncode == 0, got.stderr
    assert orjson.loads(got.stdout) == {"job_id": job["id"], "path": str(copy), "bytes": copy.stat().st_size}
    assert copy.read_bytes() == Path(job["file_path"]).read_bytes()

    refused = crmio(settings, "download", orjson.loads(imported.stdout)["id"], "--company", company)
    assert refused.returncode == 2 and "only a completed export has one" in refused.stderr
