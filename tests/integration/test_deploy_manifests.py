"""The Helm chart (deploy/helm/crmio), validated offline: `helm lint --strict`, then every manifest `helm template`
renders checked against the Kubernetes API's JSON schemas (kubernetes-validate's, strict: no unknown field) for the
oldest Kubernetes the chart supports and the newest the package knows; then what the chart promises: the
API, workers autoscaled on lag, migrations as a hook Job, settings that are real CRMIO_* settings.

Needs helm (stack/install.sh builds it into ~/.cache/crmio/bin) and kubernetes-validate (the test extras); no
broker, database or cluster. A missing tool fails the test saying how to install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from services.cli.main import _parser
from services.core.settings import PROJECT_ROOT, Settings

CHART = PROJECT_ROOT / "deploy" / "helm" / "crmio"
VALUES = {
    "default": CHART / "ci" / "test-values.yaml",
    "s3": CHART / "ci" / "s3-values.yaml",
    "kafka-secure": CHART / "ci" / "kafka-secure-values.yaml",
}
KUBE_VERSIONS = ("1.25", None)  # Chart.yaml's kubeVersion floor, and the newest schemas shipped
# Names the chart sets before the settings exist: each takes effect once its work lands, until then the
# typed settings ignore it (extra="ignore"). Once a name is a setting it is checked like the others.
PENDING = {
    "CRMIO_STORAGE_BACKEND": "issue 16 (object storage)",
    "CRMIO_S3_": "issue 16 (object storage)",
}


def helm_binary() -> str:
    pinned = Path.home() / ".cache" / "crmio" / "bin" / "helm"
    found = os.environ.get("CRMIO_HELM") or (str(pinned) if pinned.is_file() else None) or shutil.which("helm")
    if not found:
        pytest.fail(
            "helm not found (looked at $CRMIO_HELM, ~/.cache/crmio/bin/helm and PATH): run `bash stack/install.sh` "
            "(it runs `go install helm.sh/helm/v4/cmd/helm@v4.3.2` into ~/.cache/crmio/bin), or put helm on PATH",
            pytrace=False,
        )
    return found


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=120, check=False)


def render(values: Path, *extra: str) -> list[dict[str, Any]]:
    done = helm("template", "rel", str(CHART), "-f", str(values), *extra)
    assert done.returncode == 0, f"helm template failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def setting_names() -> set[str]:
    names = set()
    for field, info in Settings.model_fields.items():
        names.add(f"CRMIO_{field.upper()}")
        if isinstance(info.validation_alias, AliasChoices):
            names.update(str(c) for c in info.validation_alias.choices)
    return names


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")}


@pytest.mark.parametrize("name", VALUES)
def test_the_chart_lints_strictly(name: str) -> None:
    done = helm("lint", "--strict", str(CHART), "-f", str(VALUES[name]))
    assert done.returncode == 0, f"helm lint --strict failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("name", VALUES)
def test_every_rendered_manifest_fits_the_kubernetes_schemas(name: str) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is missing: pip install -e '.[test]' (or run stack/install.sh)", pytrace=False)
    docs = render(VALUES[name])
    problems = []
    for version in KUBE_VERSIONS:
        wanted = version or kubernetes_validate.utils.latest_version()
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, wanted, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                problems.append(f"{doc['kind']}/{doc['metadata']['name']} on {wanted}: {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                problems.append(f"{doc['kind']}/{doc['metadata']['name']} on {wanted}: {exc.message}")
    assert not problems, "\n".join(problems)


def test_the_default_release_has_the_api_workers_autoscaled_on_lag_and_migrations_as_a_hook() -> None:
    docs = render(VALUES["default"])
    kinds = by_kind(docs)
    assert set(kinds) == {
        ("ServiceAccount", "rel-crmio"),
        ("PersistentVolumeClaim", "rel-crmio-storage"),
        ("Service", "rel-crmio-api"),
        ("Deployment", "rel-crmio-api"),
        ("Deployment", "rel-crmio-worker"),
        ("HorizontalPodAutoscaler", "rel-crmio-worker"),
        ("Secret", "rel-crmio"),
        ("ConfigMap", "rel-crmio"),
        ("Job", "rel-crmio-migrate"),
    }
    hpa = kinds["HorizontalPodAutoscaler", "rel-crmio-worker"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "rel-crmio-worker"}
    (metric,) = hpa["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"] == {
        "name": "crmio_consumer_lag",
        "selector": {"matchLabels": {"topic": "crm.import.records"}},
    }
    assert hpa["maxReplicas"] <= int(kinds["ConfigMap", "rel-crmio"]["data"]["CRMIO_RECORD_PARTITIONS"])
    assert "replicas" not in kinds["Deployment", "rel-crmio-worker"]["spec"]  # the HPA owns the count
    # Each worker serves /healthz, /readyz and /metrics on its pod's address (issue 19 item 2).
    pod = kinds["Deployment", "rel-crmio-worker"]["spec"]["template"]
    (worker,) = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in worker["env"]}
    assert env == {"CRMIO_WORKER_HTTP_PORT": "9102", "CRMIO_WORKER_HTTP_HOST": "0.0.0.0"}
    assert worker["ports"] == [{"name": "http", "containerPort": 9102, "protocol": "TCP"}]
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9102"

    # The Job runs before install and upgrade, after the settings it reads (hooks too, lower weight).
    job = kinds["Job", "rel-crmio-migrate"]["metadata"]["annotations"]
    assert job["helm.sh/hook"] == "pre-install,pre-upgrade"
    for kind in ("ConfigMap", "Secret"):
        settings = kinds[kind, "rel-crmio"]["metadata"]["annotations"]
        assert settings["helm.sh/hook"] == job["helm.sh/hook"]
        assert int(settings["helm.sh/hook-weight"]) < int(job["helm.sh/hook-weight"])
    assert "serviceAccountName" not in kinds["Job", "rel-crmio-migrate"]["spec"]["template"]["spec"]

    service = kinds["Service", "rel-crmio-api"]["spec"]
    api_pod = kinds["Deployment", "rel-crmio-api"]["spec"]["template"]
    assert service["selector"].items() <= api_pod["metadata"]["labels"].items()
    (api,) = api_pod["spec"]["containers"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # The storage volume is shared by the API (uploads) and the workers (splits, exports).
    for name in ("rel-crmio-api", "rel-crmio-worker"):
        (container,) = kinds["Deployment", name]["spec"]["template"]["spec"]["containers"]
        assert {"name": "storage", "mountPath": "/data/storage"} in container["volumeMounts"]


def test_the_s3_release_mounts_no_volume_and_reads_an_existing_secret() -> None:
    docs = render(VALUES["s3"])
    kinds = by_kind(docs)
    assert not {k for k, _ in kinds} & {"PersistentVolumeClaim", "HorizontalPodAutoscaler", "Secret"}
    data = kinds["ConfigMap", "rel-crmio"]["data"]
    assert data["CRMIO_STORAGE_BACKEND"] == "s3"
    assert data["CRMIO_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert data["CRMIO_S3_PREFIX"] == "prod/"
    assert "CRMIO_STORAGE_DIR" not in data
    for name, spec in pod_specs(docs).items():
        (container,) = spec["containers"]
        assert {"secretRef": {"name": "crmio-settings"}} in container["envFrom"], name
        assert all(m["name"] != "storage" for m in container["volumeMounts"]), name
    (worker,) = kinds["Deployment", "rel-crmio-worker"]["spec"]["template"]["spec"]["containers"]
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert kinds["Deployment", "rel-crmio-worker"]["spec"]["replicas"] == 2


def test_a_release_on_a_secured_kafka_cluster_gives_every_pod_its_settings_and_certificates() -> None:
    docs = render(VALUES["kafka-secure"])
    kinds = by_kind(docs)
    data = kinds["ConfigMap", "rel-crmio"]["data"]
    assert {k: v for k, v in data.items() if k.startswith("CRMIO_KAFKA_")} == {
        "CRMIO_KAFKA_BOOTSTRAP": "kafka-0.kafka:9093,kafka-1.kafka:9093,kafka-2.kafka:9093",
        "CRMIO_KAFKA_REPLICATION_FACTOR": "3",
        "CRMIO_KAFKA_MIN_INSYNC_REPLICAS": "2",
        "CRMIO_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CRMIO_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CRMIO_KAFKA_SASL_USERNAME": "crmio",
        "CRMIO_KAFKA_SSL_CHECK_HOSTNAME": "true",
        "CRMIO_KAFKA_SSL_CAFILE": "/etc/crmio/kafka-tls/ca.crt",
        "CRMIO_KAFKA_SSL_CERTFILE": "/etc/crmio/kafka-tls/tls.crt",
        "CRMIO_KAFKA_SSL_KEYFILE": "/etc/crmio/kafka-tls/tls.key",
    }
    assert "CRMIO_KAFKA_SASL_PASSWORD" not in data  # a secret: in the Secret only
    assert kinds["Secret", "rel-crmio"]["stringData"]["CRMIO_KAFKA_SASL_PASSWORD"] == "not-a-real-password"
    # The migration Job, the API and the workers all reach Kafka: each mounts the certificates where they point.
    specs = pod_specs(docs)
    assert set(specs) >= {"rel-crmio-api", "rel-crmio-worker", "rel-crmio-migrate"}
    for name, spec in specs.items():
        assert {"name": "kafka-tls", "secret": {"secretName": "crmio-kafka-tls"}} in spec["volumes"], name
        (container,) = spec["containers"]
        assert {"name": "kafka-tls", "mountPath": "/etc/crmio/kafka-tls", "readOnly": True} in container[
            "volumeMounts"
        ], name
    # Without TLS nothing is mounted and nothing names a certificate; the default stays PLAINTEXT.
    plain = by_kind(render(VALUES["default"]))
    assert plain["ConfigMap", "rel-crmio"]["data"]["CRMIO_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert not any(
        k.startswith(("CRMIO_KAFKA_SSL", "CRMIO_KAFKA_SASL")) for k in plain["ConfigMap", "rel-crmio"]["data"]
    )


@pytest.mark.parametrize("name", VALUES)
def test_every_variable_the_chart_sets_is_a_crmio_setting(name: str) -> None:
    """A typo in a CRMIO_* name would be ignored silently by the typed settings (extra="ignore")."""
    known = setting_names()
    docs = render(VALUES[name])
    names: set[str] = set()
    for doc in docs:
        if doc["kind"] in ("ConfigMap", "Secret"):
            names |= set(doc.get("data") or {}) | set(doc.get("stringData") or {})
    for spec in pod_specs(docs).values():
        for container in spec["containers"]:
            names |= {e["name"] for e in container.get("env", [])}
    unknown = sorted(n for n in names if n not in known and not any(n.startswith(p) for p in PENDING))
    assert not unknown, f"not settings of services/core/settings.py: {unknown}"


@pytest.mark.parametrize("name", VALUES)
def test_every_container_runs_a_crmio_command(name: str) -> None:
    for pod, spec in pod_specs(render(VALUES[name])).items():
        for container in spec["containers"]:
            args = _parser().parse_args(container["args"])  # the image's entry point is `crmio`
            assert args.command in {"api", "worker", "migrate"}, pod


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("kafka.bootstrap=", "kafka.bootstrap: the Kafka brokers"),
        ("database.url=", "database.url: the service role's DSN"),
        ("storage.backend=nfs", 'storage.backend must be local or s3, not "nfs"'),
        ("config.MAX_ROWS=5", "config.MAX_ROWS: settings are CRMIO_* environment variables"),
        ("kafka.securityProtocol=SASL", "kafka.securityProtocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
        ("kafka.securityProtocol=SASL_SSL", "kafka.sasl.username: the SASL user crmio connects as"),
    ],
)
def test_a_missing_or_wrong_value_is_refused_naming_it(setting: str, message: str) -> None:
    done = helm("template", "rel", str(CHART), "-f", str(VALUES["default"]), "--set", setting)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


def test_docker_compose_runs_minio_three_workers_and_only_real_settings() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    workers = [name for name, s in services.items() if s.get("command") == ["worker"]]
    assert len(workers) == 3
    assert {"minio", "minio-bucket", "migrate", "api"} <= set(services)
    for name in (*workers, "api", "migrate"):
        assert services[name]["depends_on"]["minio-bucket"] == {"condition": "service_completed_successfully"}
    env = services["api"]["environment"]
    assert env["CRMIO_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["CRMIO_S3_ACCESS_KEY_ID"] == services["minio"]["environment"]["MINIO_ROOT_USER"]
    known = setting_names()
    unknown = sorted(n for n in env if n not in known and not any(n.startswith(p) for p in PENDING))
    assert not unknown, f"not settings of services/core/settings.py: {unknown}"
