"""LinuxPhysical against a sysfs and /dev tree built in tmp the way the kernel lays them out: a tty's USB place
(usb-serial and cdc-acm), the USB device node, the hub port's disable file, a power cycle command, finding ttys again;
the power cycle rules."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from simhost_drivers.physical import (
    LinuxPhysical,
    PhysicalError,
    PowerCycle,
    UsbPlace,
    parse_power_cycle_rules,
    power_cycle_for,
)


def link(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(os.path.relpath(target, path.parent))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A hub 1-1 on bus 1 with a usb-serial modem (ttyUSB2, ttyUSB3 on interfaces 1.1, 1.2) on its port 4 and a
    cdc-acm modem (ttyACM0) on its port 5; /dev holds the nodes and a by-path link."""
    sys_ = tmp_path / "sys"
    hub = sys_ / "devices/pci0000:00/0000:00:14.0/usb1/1-1"
    hub_if = hub / "1-1:1.0"
    for n in (4, 5):
        (hub_if / f"1-1-port{n}").mkdir(parents=True)
        (hub_if / f"1-1-port{n}" / "disable").write_text("0")
    modem, acm = hub / "1-1.4", hub / "1-1.5"
    for device, num in ((modem, 7), (acm, 8)):
        device.mkdir(parents=True)
        (device / "busnum").write_text("1\n")
        (device / "devnum").write_text(f"{num}\n")
        link(device / "port", hub_if / f"1-1-port{device.name[-1]}")
        link(sys_ / "bus/usb/devices" / device.name, device)
    for interface, tty in (("1.1", "ttyUSB2"), ("1.2", "ttyUSB3")):
        node = modem / f"1-1.4:{interface}" / tty
        (node / "tty" / tty).mkdir(parents=True)
        link(sys_ / "class/tty" / tty / "device", node)
        link(sys_ / "bus/usb/devices" / f"1-1.4:{interface}", modem / f"1-1.4:{interface}")
    (acm / "1-1.5:1.0/tty/ttyACM0").mkdir(parents=True)
    link(sys_ / "class/tty/ttyACM0/device", acm / "1-1.5:1.0")
    link(sys_ / "bus/usb/devices/1-1.5:1.0", acm / "1-1.5:1.0")
    dev = tmp_path / "dev"
    (dev / "bus/usb/001").mkdir(parents=True)
    for name in ("ttyUSB2", "ttyUSB3", "ttyACM0", "ttyS0", "bus/usb/001/007"):
        (dev / name).write_text("")
    link(dev / "serial/by-path/pci-0000:00:14.0-usb-0:1.4:1.2-port0", dev / "ttyUSB3")
    return tmp_path


def physical(tree: Path, power: PowerCycle | None = None) -> LinuxPhysical:
    return LinuxPhysical(power or PowerCycle(), sys=str(tree / "sys"), dev=str(tree / "dev"), power_off_s=0.0)


def test_where_a_tty_sits_by_its_sysfs_parents(tree: Path) -> None:
    p = physical(tree)
    assert p.where(str(tree / "dev/ttyUSB3")) == UsbPlace("1-1.4", "1.2")
    assert p.where(str(tree / "dev/serial/by-path/pci-0000:00:14.0-usb-0:1.4:1.2-port0")) == UsbPlace("1-1.4", "1.2")
    assert p.where(str(tree / "dev/ttyACM0")) == UsbPlace("1-1.5", "1.0")
    assert p.where(str(tree / "dev/ttyS0")) is None  # not a USB tty
    assert p.where(str(tree / "dev/ttyUSB9")) is None  # gone
    place = UsbPlace("1-1.4", "1.2")
    assert (place.hub, place.hub_port, str(place)) == ("1-1", 4, "1-1.4:1.2")
    assert (UsbPlace("2-3").hub, UsbPlace("2-3").hub_port) == ("usb2", 3)


def test_locate_lists_the_ttys_at_a_place_its_own_interface_first(tree: Path) -> None:
    p = physical(tree)
    dev = tree / "dev"
    assert p.locate(UsbPlace("1-1.4", "1.2")) == [str(dev / "ttyUSB3"), str(dev / "ttyUSB2")]
    assert p.locate(UsbPlace("1-1.4", "1.1")) == [str(dev / "ttyUSB2"), str(dev / "ttyUSB3")]
    assert p.locate(UsbPlace("1-1.5", "1.0")) == [str(dev / "ttyACM0")]
    assert p.locate(UsbPlace("1-1.6", "1.0")) == []


def test_usb_reset_opens_the_device_node_from_busnum_and_devnum(tree: Path) -> None:
    p = physical(tree)
    place = UsbPlace("1-1.4", "1.2")
    assert p.usb_device_node(place) == tree / "dev/bus/usb/001/007"
    # a regular file takes no USBDEVFS_RESET: the error names the device and the node
    with pytest.raises(PhysicalError, match=r"USB reset of 1-1\.4 \(.*/dev/bus/usb/001/007\)"):
        p.usb_reset(place)
    with pytest.raises(PhysicalError, match=r"no USB device 1-1\.9"):
        p.usb_reset(UsbPlace("1-1.9"))
    off = LinuxPhysical(usb_reset=False, sys=str(tree / "sys"), dev=str(tree / "dev"))
    assert not off.can_usb_reset()
    with pytest.raises(PhysicalError, match="turned off"):
        off.usb_reset(place)


def test_power_cycle_through_the_hub_ports_disable_file(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disable = tree / "sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/1-1-port4/disable"
    p = physical(tree, PowerCycle("sysfs"))
    assert p.can_power_cycle()
    assert p.port_disable_file(UsbPlace("1-1.4", "1.2")) == disable
    writes: list[str] = []
    real_write = Path.write_text

    def record(self: Path, data: str, *args: object, **kwargs: object) -> int:
        if self == disable:
            writes.append(data)
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_text", record)
    p.power_cycle(UsbPlace("1-1.4", "1.2"))
    monkeypatch.undo()
    assert writes == ["1", "0"]
    assert disable.read_text() == "0"
    with pytest.raises(PhysicalError, match="power cycling is off"):
        physical(tree).power_cycle(UsbPlace("1-1.4"))


def test_power_cycle_by_a_command_template(tree: Path) -> None:
    out = tree / "cycled"
    template = f"{sys.executable} -c \"import sys; open({str(out)!r}, 'w').write(' '.join(sys.argv[1:]))\" " \
               "{hub} {port} {device}"
    physical(tree, PowerCycle.parse("command:" + template)).power_cycle(UsbPlace("1-1.4", "1.2"))
    assert out.read_text() == "1-1 4 1-1.4"
    failing = PowerCycle.parse(f"command:{sys.executable} -c \"import sys; sys.exit('hub gone')\"")
    with pytest.raises(PhysicalError, match="exited 1: hub gone"):
        physical(tree, failing).power_cycle(UsbPlace("1-1.4"))


def test_power_cycle_rules() -> None:
    assert parse_power_cycle_rules("off") == (("*", PowerCycle()),)
    assert parse_power_cycle_rules("command:uhubctl -l {hub} -p {port} -a cycle") == (
        ("*", PowerCycle("command", "uhubctl -l {hub} -p {port} -a cycle")),)
    rules = parse_power_cycle_rules("bank1-*=sysfs; bank2-port01=command:cycle {device}; *=off")
    assert power_cycle_for(rules, "bank1-port07") == PowerCycle("sysfs")
    assert power_cycle_for(rules, "bank2-port01") == PowerCycle("command", "cycle {device}")
    assert power_cycle_for(rules, "bank2-port02") == PowerCycle()
    assert power_cycle_for(parse_power_cycle_rules("bank1-*=sysfs"), "other") == PowerCycle()
    for bad, why in (("bogus", "expected PORTS=MODE"), ("x=maybe", "give off, sysfs or command:TEMPLATE"),
                     ("command:", "needs a command"), ("command:cycle {hubb}", "'hubb'"), (";", "give off")):
        with pytest.raises(ValueError, match=why):
            parse_power_cycle_rules(bad)
