"""Rotation turned on without a way to switch slots is said at start."""

from __future__ import annotations

import logging

import pytest

from simhost.config import Settings
from simhost.gateway.rotation import switchers_by_bank


def test_rotation_without_a_switcher_is_said(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "simhost.rotation")
    switchers_by_bank(Settings(rotation_online_min=30), {})
    assert "no slot switcher is set (rotation.switcher is none)" in caplog.text
    caplog.clear()
    switchers_by_bank(Settings(rotation_online_min=30, rotation_switcher="command:/bin/true {slot}"), {})
    assert "no slot switcher" not in caplog.text
