"""The per-company running-jobs limit has one name inside (max_running_jobs, as the API, the CLI and
crm_company_settings call it); the environment takes both names it ever had."""

from __future__ import annotations

import pytest

from services.core.settings import Settings
from services.jobs.limits import defaults


@pytest.mark.parametrize("var", ["CRMIO_MAX_RUNNING_JOBS", "CRMIO_MAX_CONCURRENT_JOBS_PER_COMPANY"])
def test_either_environment_name_sets_the_limit(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    monkeypatch.delenv("CRMIO_MAX_RUNNING_JOBS", raising=False)
    monkeypatch.delenv("CRMIO_MAX_CONCURRENT_JOBS_PER_COMPANY", raising=False)
    monkeypatch.setenv(var, "5")
    settings = Settings()
    assert settings.max_running_jobs == 5
    assert defaults(settings).max_running_jobs == 5


def test_the_limit_is_set_by_its_name_in_code() -> None:
    assert Settings(max_running_jobs=3).max_running_jobs == 3
    assert Settings().model_copy(update={"max_running_jobs": 4}).max_running_jobs == 4
