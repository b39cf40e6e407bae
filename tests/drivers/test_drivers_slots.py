"""Slot switchers: the virtual bank's control socket, an operator's command line (no shell), none; their specs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hwsim import Bank
from simhost_drivers.slots import CommandSwitcher, HwsimSwitcher, NoSwitcher, SwitchError, check_spec, open_switcher

RECORDER = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(' '.join(sys.argv[2:]))"


def test_the_hwsim_switcher_switches_the_bank_port_its_url_names(tmp_path: Path) -> None:
    with Bank(tmp_path / "bank", ports=2, slots=3) as bank:
        urls = {"left": bank.ports[0].path, "right": f"spy://{bank.ports[1].path}"}
        open_switcher("hwsim", urls).switch("right", 3)
        HwsimSwitcher(urls, str(tmp_path / "bank")).switch("left", 2)
        assert bank.ports[1].wait_until(lambda m: m.state()["active_slot"] == 3, 5)
        assert bank.ports[0].wait_until(lambda m: m.state()["active_slot"] == 2, 5)
        with pytest.raises(SwitchError, match=r"port left: the bank refused slot 9: .*slot 9 does not exist"):
            open_switcher("hwsim", urls).switch("left", 9)
        with pytest.raises(SwitchError, match="port nowhere: unknown to the switcher"):
            open_switcher("hwsim", urls).switch("nowhere", 1)
    with pytest.raises(SwitchError, match="cannot reach the bank"):
        open_switcher("hwsim", urls).switch("left", 1)


def test_the_command_switcher_fills_each_word_and_runs_no_shell(tmp_path: Path) -> None:
    out = tmp_path / "args"
    urls = {"port01": "/dev/serial/by-path/usb-1; rm -rf x"}
    switcher = open_switcher(f"command:{sys.executable} -c \"{RECORDER}\" {out} --modem={{port}} {{slot}} {{url}}",
                             urls)
    assert isinstance(switcher, CommandSwitcher)
    switcher.switch("port01", 7)
    assert out.read_text() == "--modem=port01 7 /dev/serial/by-path/usb-1; rm -rf x"


def test_a_failed_command_is_one_line_with_what_it_said() -> None:
    failing = f"command:{sys.executable} -c \"import sys; sys.exit('slot {{slot}} is empty')\" {{slot}}"
    with pytest.raises(SwitchError, match=r"port p: .* exited with status 1: slot 4 is empty"):
        open_switcher(failing, {}).switch("p", 4)
    with pytest.raises(SwitchError, match="cannot run /no/such/bankctl"):
        open_switcher("command:/no/such/bankctl {slot}", {}).switch("p", 1)


@pytest.mark.parametrize(("spec", "error"), [
    ("command:", "empty"),
    ("command:bankctl {port}", "does not name the slot"),
    ("command:bankctl {slot} {bank}", "unknown placeholder"),
    ("command:bankctl 'open", "No closing quotation"),
    ("hwsim:", "give none, hwsim"),
    ("serial", "give none, hwsim"),
])
def test_bad_specs_are_refused(spec: str, error: str) -> None:
    with pytest.raises(SwitchError, match=error):
        check_spec(spec)


def test_none_refuses_every_switch() -> None:
    switcher = open_switcher("none", {})
    assert isinstance(switcher, NoSwitcher)
    with pytest.raises(SwitchError, match="rotation is off"):
        switcher.switch("port01", 2)
