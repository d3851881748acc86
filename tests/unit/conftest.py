"""Fixtures shared by unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.cleansing import cleaning


@pytest.fixture(params=["compiled", "python"])
def both_cleaners(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Runs a test with the compiled fast paths of native/src/cleaner.rs and with the Python cleaners alone:
    both must give the same outcomes (issue 15)."""
    monkeypatch.setattr(cleaning, "COMPILED", request.param == "compiled")
    yield request.param
