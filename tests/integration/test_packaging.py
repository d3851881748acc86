"""The package (issue 19 item 4): a wheel built from pyproject.toml, `pip install`ed into a fresh venv, works with no
checkout: `crmio --version` and `--help` from another directory with a bare environment, every data file found
inside the installed package (migrations, Avro schemas, the web UI, the stack's configs, the sample), and
`crmio migrate` from the installed package applies every migration to an empty schema of the test database.

The wheel is built with pip (setuptools from PyPI, as any build) from a copy of the packaged files, so nothing of the
checkout (var/, build/, the editable install) can stand in for what the wheel lacks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from services.core.settings import PROJECT_ROOT, Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PACKAGES = ("services", "streams", "schemas", "stack")
NOT_SHIPPED = {"stack/install.sh"}  # prepares a development machine; not part of the package
VERSION = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"]


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    elsewhere: Path  # a working directory with nothing of crmio in it, and the HOME of the commands

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        bare = {"PATH": "/usr/bin:/bin", "HOME": str(self.elsewhere), "LANG": "C.UTF-8"}
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=self.elsewhere,
            env={**bare, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def package_files() -> list[str]:
    """The packages' files in the tree (what a clone holds), bytecode aside."""
    return sorted(
        str(p.relative_to(PROJECT_ROOT))
        for pkg in PACKAGES
        for p in (PROJECT_ROOT / pkg).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def _step(cmd: list[str], cwd: Path, what: str, timeout: float) -> None:
    # cargo where rustup puts it (stack/install.sh), whether or not the shell's profile added it to PATH
    path = f"{Path.home() / '.cargo' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env={**os.environ, "PATH": path}
    )
    assert done.returncode == 0, f"{what} failed ({' '.join(cmd)}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("packaging")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "LICENSE"):
        shutil.copy2(PROJECT_ROOT / name, src / name)
    for rel in package_files():
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / rel, target)
    _step(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), "./src"],
        work,
        "pip wheel",
        300,
    )
    (wheel,) = (work / "dist").glob("crmio-*.whl")
    # Its dependency crmio-native (native/) is not on PyPI: its wheel is built from the tree (cargo), as the image's is.
    native = work / "native"
    shutil.copytree(PROJECT_ROOT / "native", native, ignore=shutil.ignore_patterns("target"))
    _step(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(native)],
        work,
        "pip wheel ./native",
        600,
    )
    (native_wheel,) = (work / "dist").glob("crmio_native-*.whl")
    _step([sys.executable, "-m", "venv", str(work / "venv")], work, "python -m venv", 120)
    _step(
        [str(work / "venv" / "bin" / "pip"), "install", "-q", str(native_wheel), str(wheel)],
        work,
        "pip install of the wheels",
        600,
    )
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    yield Installed(wheel, work / "venv", elsewhere)


def test_the_wheel_holds_every_module_and_data_file_of_the_packages(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    missing = sorted(f for f in package_files() if f not in names and f not in NOT_SHIPPED)
    assert not missing, f"in the tree but not in the wheel (pyproject.toml's packages / package-data): {missing}"
    assert f"crmio-{VERSION}.dist-info/licenses/LICENSE" in names


def test_version_and_help_from_another_directory_with_a_bare_environment(installed: Installed) -> None:
    done = installed.run("crmio", "--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"crmio {VERSION}"), done.stderr
    done = installed.run("crmio", "--help")
    assert done.returncode == 0, done.stderr
    for command in ("migrate", "worker", "api", "import", "export", "keys"):
        assert command in done.stdout


def test_the_installed_package_finds_its_files_inside_itself(installed: Installed) -> None:
    probe = """
import sys
from services.api.routes_web import WEB_DIR
from services.cli.main import SAMPLE
from services.core.db import MIGRATIONS, _migration_files
from services.core.settings import Settings
from schemas import avro
from stack.local import STACK_DIR
s = Settings()
for path in (MIGRATIONS, WEB_DIR / "index.html", WEB_DIR / "js" / "app.js", avro._DIR, STACK_DIR / "kafka" / "pom.xml", SAMPLE):
    print(path.resolve(), path.exists())
print(len(_migration_files()), s.state_dir, s.storage_dir)
"""
    done = installed.run("python", "-c", probe)
    assert done.returncode == 0, done.stderr
    *paths, last = done.stdout.splitlines()
    site = str((installed.venv / "lib").resolve())
    for line in paths:
        path, exists = line.rsplit(" ", 1)
        assert path.startswith(site) and exists == "True", line
    count, state_dir, storage_dir = last.split(" ")
    assert int(count) == len(list((PROJECT_ROOT / "schemas" / "migrations").glob("*.sql")))
    # No checkout to write in: state and files default under HOME, never inside site-packages.
    assert state_dir == str(installed.elsewhere / ".local" / "state" / "crmio")
    assert storage_dir == f"{state_dir}/storage"


def _with_search_path(dsn: str, schema: str) -> str:
    """asyncpg passes a DSN's unknown query parameters to the server as settings."""
    parts = urlsplit(dsn)
    query = "&".join(q for q in (parts.query, f"search_path={schema}") if q)
    return urlunsplit(parts._replace(query=query))


async def test_crmio_migrate_from_the_installed_package_applies_every_migration(
    installed: Installed, settings: Settings, pool: asyncpg.Pool
) -> None:
    schema = f"pkg_{uuid.uuid4().hex[:10]}"  # an empty schema of the test database, first on the search path
    await pool.execute(f"CREATE SCHEMA {schema}")
    try:
        done = installed.run(
            "crmio",
            "migrate",
            env={
                "CRMIO_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                "CRMIO_SYSTEM_DATABASE_URL": _with_search_path(settings.system_dsn(), schema),
                "CRMIO_DATABASE_URL": _with_search_path(settings.dsn(), schema),
                "CRMIO_TOPIC_PREFIX": settings.topic_prefix,  # the session's topics: they exist already
                "CRMIO_APP_ID": settings.app_id,
            },
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        shipped = sorted(p.stem for p in (PROJECT_ROOT / "schemas" / "migrations").glob("*.sql"))
        assert f"migrations applied: {', '.join(shipped)}" in done.stderr, done.stderr
        applied = await pool.fetch(f"SELECT version FROM {schema}.crmio_schema_migrations ORDER BY version")
        assert [r["version"] for r in applied] == shipped
        tables = await pool.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'crm_%'", schema
        )
        assert tables >= 10
    finally:
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")


def test_the_image_installs_the_wheel_and_no_source_tree() -> None:
    """The Dockerfile, read with Docker's own parser (no engine here to build it): the first stage builds the wheel
    from what the wheel above is built from, the runtime stage installs only that wheel and runs as the uid the
    Helm chart's securityContext names."""
    import dockerfile
    import yaml

    commands = dockerfile.parse_file(str(PROJECT_ROOT / "Dockerfile"))
    stages: list[list[dockerfile.Command]] = []
    for c in commands:
        if c.cmd == "FROM":
            stages.append([])
        stages[-1].append(c)
    native, build, runtime = stages
    assert native[0].value[-2:] == ("AS", "native")
    assert {v for c in native if c.cmd == "COPY" for v in c.value[:-1]} == {"native"}
    assert any(c.cmd == "RUN" and c.value[0].startswith("pip wheel --no-deps") for c in native)
    assert build[0].value[-2:] == ("AS", "wheel")
    copied = {v for c in build if c.cmd == "COPY" for v in c.value[:-1]}
    assert copied == {"pyproject.toml", "LICENSE", *PACKAGES}
    assert any(c.cmd == "RUN" and c.value[0].startswith("pip wheel --no-deps") for c in build)

    assert not [c for c in runtime if c.cmd in ("COPY", "ADD")], "the runtime stage copies nothing but the wheel"
    (install,) = [c for c in runtime if c.cmd == "RUN" and "pip install /native/crmio_native-" in c.value[0]]
    assert "/wheels/crmio-" in install.value[0]
    assert "--mount=type=bind,from=wheel,source=/wheels,target=/wheels" in install.flags
    assert "--mount=type=bind,from=native,source=/wheels,target=/native" in install.flags
    assert [c.value for c in runtime if c.cmd == "ENTRYPOINT"] == [("crmio",)]
    values = yaml.safe_load((PROJECT_ROOT / "deploy" / "helm" / "crmio" / "values.yaml").read_text())
    uid, gid = values["podSecurityContext"]["runAsUser"], values["podSecurityContext"]["runAsGroup"]
    assert [c.value for c in runtime if c.cmd == "USER"] == [(f"{uid}:{gid}",)]
    lines = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert not (copied | {"native"}) & ignored
