"""Every configuration test starts without SIMHOST_* variables from the outer environment, and with a default
config path that does not exist (never the machine's /etc/simhost)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simhost import config


@pytest.fixture(autouse=True)
def default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SIMHOST_* variable from the outer environment, and a default config path that does not exist."""
    for name in list(os.environ):
        if name.startswith("SIMHOST_"):
            monkeypatch.delenv(name)
    absent = tmp_path / "etc" / "simhost.toml"
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", str(absent))
    return absent
