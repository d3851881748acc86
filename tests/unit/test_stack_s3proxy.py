"""The local S3Proxy's configuration, without starting it: where it listens, its keys, its properties file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from services.core.errors import StackError
from services.core.settings import Settings
from stack import s3proxy


def test_defaults_listen_locally_with_crmios_keys(tmp_path: Path) -> None:
    cfg = s3proxy.config(Settings(state_dir=tmp_path))
    assert (cfg.endpoint, cfg.host, cfg.port, cfg.bucket) == ("http://127.0.0.1:9000", "127.0.0.1", 9000, "crmio")
    props = s3proxy.render_properties(cfg)
    assert "s3proxy.authorization=aws-v2-or-v4" in props and "jclouds.provider=filesystem" in props
    assert f"jclouds.filesystem.basedir={tmp_path / 's3proxy' / 'data'}" in props
    assert "s3proxy.credential=crmio-local-secret" in props


def test_the_s3_settings_choose_its_port_and_keys(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path,
        s3_endpoint_url="http://127.0.0.1:9555",
        s3_access_key_id="me",
        s3_secret_access_key=SecretStr("pw"),
        s3_bucket="other",
    )
    cfg = s3proxy.config(settings)
    assert (cfg.port, cfg.access_key, cfg.secret, cfg.bucket) == (9555, "me", "pw", "other")
    assert "CRMIO_S3_ENDPOINT_URL=http://127.0.0.1:9555" in s3proxy.env_lines(settings)


def test_a_remote_endpoint_is_never_started_or_stopped(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, s3_endpoint_url="https://s3.eu-west-1.amazonaws.com")
    with pytest.raises(StackError, match="CRMIO_S3_ENDPOINT_URL"):
        s3proxy.config(settings)
    s3proxy.stop(settings)  # nothing to do, no error
    assert s3proxy.status(settings).startswith("not local")
