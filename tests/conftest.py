"""Shared test fixtures; the autouse leak check fails any test that leaves a pty, thread or child process behind."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator

import pytest

from tests.brokerlib import PrivateBroker

LEAK_GRACE_S = 5.0


def _pty_fds() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target == "/dev/ptmx" or target.startswith("/dev/pts/"):
            found.add(f"{fd}->{target}")
    return found


def _children() -> set[int]:
    me = str(os.getpid())
    kids = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state, fields[1] the parent pid; zombies are reaped children in waiting.
        if fields[1] == me and fields[0] != "Z":
            kids.add(int(pid))
    return kids


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


def _leaks(ptys: set[str], kids: set[int], threads: set[threading.Thread]) -> list[str]:
    problems = []
    new_ptys = _pty_fds() - ptys
    if new_ptys:
        problems.append(f"pty file descriptors left open: {sorted(new_ptys)}")
    new_kids = _children() - kids
    if new_kids:
        problems.append(f"child processes left running: {sorted(new_kids)}")
    new_threads = [t for t in _threads() - threads if t.is_alive()]
    if new_threads:
        problems.append(f"threads left running: {[t.name for t in new_threads]}")
    return problems


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if it leaks a pty, a thread or a child process (checked after its fixtures end)."""
    ptys, kids, threads = _pty_fds(), _children(), _threads()
    yield
    if request.node.get_closest_marker("allow_leaks"):
        return
    deadline = time.monotonic() + LEAK_GRACE_S
    problems = _leaks(ptys, kids, threads)
    while problems and time.monotonic() < deadline:
        for t in _threads() - threads:
            t.join(timeout=0.1)
        problems = _leaks(ptys, kids, threads)
    if problems:
        pytest.fail("resource leak: " + "; ".join(problems), pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_leaks: skip the autouse leak check for this test")
    # every `simhost run` a test starts gets SMPP and web ports of its own instead of the shared 2775 and 8080
    os.environ.setdefault("SIMHOST_SMPP_LISTEN", "127.0.0.1:0")
    os.environ.setdefault("SIMHOST_HTTP_LISTEN", "127.0.0.1:0")


@pytest.fixture(scope="session")
def broker() -> Iterator[PrivateBroker]:
    """A private Mosquitto for the whole session (tests must use unique topic prefixes)."""
    if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        pytest.skip("mosquitto is not installed (scripts/setup.sh installs it)")
    b = PrivateBroker()
    b.start()
    yield b
    b.close()


@pytest.fixture
def own_broker() -> Iterator[PrivateBroker]:
    """A private Mosquitto for one test, which it may stop and start."""
    if not (shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto")):
        pytest.skip("mosquitto is not installed (scripts/setup.sh installs it)")
    b = PrivateBroker()
    b.start()
    yield b
    b.close()
