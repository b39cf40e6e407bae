"""`hwsim bank` as a real process driven by `hwsim --dir DIR ...` subprocesses through the control socket."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hwsim.hwsimlib import AtPort, ok

HWSIM = [sys.executable, "-m", "hwsim.cli"]
START_TIMEOUT_S = 20.0
EXIT_TIMEOUT_S = 10.0


def run(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HWSIM, "--dir", str(directory), *args], capture_output=True, text=True,
                          timeout=START_TIMEOUT_S, check=False)


def result(directory: Path, *args: str) -> Any:
    done = run(directory, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def bank_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any], Path]]:
    directory = tmp_path / "bank"
    proc = subprocess.Popen([*HWSIM, "bank", "--ports", "2", "--dir", str(directory), "--profiles",
                             "generic,sim800", "--slots", "2", "--seed", "9", "--ring-interval", "0.3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no output"
        yield proc, json.loads(line), directory
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=EXIT_TIMEOUT_S)


def test_ready_line_control_commands_and_clean_exit(bank_process: tuple[subprocess.Popen[str], dict[str, Any],
                                                                         Path]) -> None:
    proc, info, directory = bank_process
    assert info["dir"] == str(directory)
    assert info["control"] == str(directory / "control.sock")
    assert [p["profile"] for p in info["ports"]] == ["generic", "sim800"]
    port = info["ports"][0]
    assert Path(port["path"]).is_symlink()
    assert port["slots"][0]["msisdn"].startswith("+7900")
    assert result(directory, "info") == info

    pdus = result(directory, "sms", "port01", "--sender", "+79161234567", "--text", "Привет, мир")
    assert len(pdus) == 1
    state = result(directory, "state", "port01")
    assert [s["pdu"] for s in state["storage"]] == pdus
    assert {"storage", "active_slot", "registration", "signal", "calls", "at_log"} <= set(state)

    at = AtPort(port["path"])
    try:
        ok(at.cmd("ATE0"))
        ok(at.cmd("AT+CLIP=1"))
        assert result(directory, "call", "port01", "--caller", "+79035550001", "--rings", "5") == 1
        assert at.wait_line("CLIP") == '+CLIP: "+79035550001",145,,,,0'
        ok(at.cmd("AT+CHUP"))
        [call] = result(directory, "calls", "port01")
        assert call["hangup_command"] == "AT+CHUP"
        assert call["hung_up_at"] is not None
        assert result(directory, "call", "port01", "--withheld", "--rings", "1") == 2
        assert at.wait_line("CLIP") == '+CLIP: "",128,,,,1'
        assert at.wait_line("NO CARRIER") == "NO CARRIER"  # one ring, then the caller gives up

        assert result(directory, "pdu", "port01", pdus[0]) is None
        assert result(directory, "fault", "port01", "cms-error", "321") is None
        assert at.cmd("AT+CMGR=1") == ["+CMS ERROR: 321"]
        assert result(directory, "slot", "port02", "2") is None
    finally:
        at.close()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(EXIT_TIMEOUT_S) == 0
    assert list(directory.iterdir()) == []


def test_cli_errors_exit_1_with_one_line(bank_process: tuple[subprocess.Popen[str], dict[str, Any],
                                                              Path]) -> None:
    _, _, directory = bank_process
    for args, needle in [
        (("state", "port09"), "no port 'port09'"),
        (("fault", "port01", "explode"), "unknown fault"),
        (("fault", "port01", "cms-error"), "CODE"),
        (("slot", "port01", "7"), "slot 7 does not exist"),
        (("sms", "port01", "--sender", "+7916", "--text", "x", "--scts", "yesterday"), "isoformat"),
    ]:
        done = run(directory, *args)
        assert done.returncode == 1, (args, done.stdout)
        assert needle in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    done = run(directory, "call", "port01")
    assert done.returncode != 0
    assert "--caller" in done.stderr


def test_cli_without_a_bank(tmp_path: Path) -> None:
    done = run(tmp_path, "state", "port01")
    assert done.returncode == 1
    assert "no bank is running" in done.stderr


def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    directory = tmp_path / "b"
    proc = subprocess.Popen([*HWSIM, "bank", "--dir", str(directory), "--profile", "e173"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["ports"][0]["profile"] == "e173"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(EXIT_TIMEOUT_S) == 0
        assert list(directory.iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=EXIT_TIMEOUT_S)


def test_bank_bad_profile_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([*HWSIM, "bank", "--dir", str(tmp_path / "x"), "--profiles", "generic,nokia"],
                          capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)
    assert done.returncode == 2
    assert "nokia" in done.stderr
