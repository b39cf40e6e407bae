"""The physical side of a modem: where its tty sits on the USB bus, a USB reset, a power cycle of its hub port."""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import os
import re
import shlex
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# _IO('U', 20) from linux/usbdevice_fs.h
USBDEVFS_RESET = 0x5514
POWER_OFF_S = 2.0  # how long a hub port stays off: long enough for a modem's capacitors to drain
COMMAND_TIMEOUT_S = 30.0
OFF = "off"
SYSFS = "sysfs"
COMMAND = "command"
COMMAND_PREFIX = "command:"
# sysfs names: a USB device is BUS-PORT[.PORT...] (1-1.4), one of its interfaces DEVICE:CONFIG.INTERFACE (1-1.4:1.2)
DEVICE_RE = re.compile(r"^\d+-\d+(\.\d+)*$")
INTERFACE_RE = re.compile(r"^(\d+-\d+(?:\.\d+)*):(\d+\.\d+)$")


class PhysicalError(Exception):
    """A physical action that could not be done (no such device, no permission, not configured); says why."""


@dataclass(frozen=True)
class UsbPlace:
    """Where a tty sits on the USB bus: the device's sysfs name (1-1.4) and the interface of the tty (1.2).

    It stays when the tty comes back under another name, so a modem is found again by it (and its IMEI).
    """

    device: str
    interface: str | None = None

    @property
    def hub(self) -> str:
        """The hub's sysfs name (1-1 for 1-1.4; the root hub's bus, usb1, for 1-4)."""
        bus, _, ports = self.device.partition("-")
        return f"{bus}-{ports.rpartition('.')[0]}" if "." in ports else f"usb{bus}"

    @property
    def hub_port(self) -> int:
        """The device's port number on its hub (4 for 1-1.4)."""
        return int(self.device.rpartition("-")[2].rpartition(".")[2])

    def __str__(self) -> str:
        return self.device if self.interface is None else f"{self.device}:{self.interface}"


class PhysicalControl(Protocol):
    """The actions a recovery may take on a modem's hardware; one instance a port (configured for that port)."""

    def where(self, device_path: str) -> UsbPlace | None:
        """The USB place of the tty at `device_path` now; None when it is not a USB tty (or is gone)."""
        ...

    def can_usb_reset(self) -> bool: ...

    def can_power_cycle(self) -> bool: ...

    def usb_reset(self, place: UsbPlace) -> None:
        """Reset the USB device at `place`: it leaves the bus and enumerates again (PhysicalError)."""
        ...

    def power_cycle(self, place: UsbPlace) -> None:
        """Switch the hub port of `place` off and on (PhysicalError, also when not configured)."""
        ...

    def locate(self, place: UsbPlace) -> list[str]:
        """The tty device paths at `place` now, the same interface's first."""
        ...


@dataclass(frozen=True)
class PowerCycle:
    """How a port's hub port is power cycled: not at all, through sysfs, or by a command (a template)."""

    mode: str = OFF  # OFF, SYSFS or COMMAND
    template: str = ""

    @classmethod
    def parse(cls, text: str) -> PowerCycle:
        """`off`, `sysfs` or `command:TEMPLATE` (ValueError otherwise, in words)."""
        text = text.strip()
        if text in (OFF, SYSFS):
            return cls(text)
        if text.startswith(COMMAND_PREFIX):
            template = text[len(COMMAND_PREFIX):].strip()
            try:
                shlex.split(template.format(hub="1-1", port=1, device="1-1.1"))
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"power cycle command {template!r}: {exc} (it may use {{hub}}, {{port}} and "
                                 "{device})") from None
            if not template:
                raise ValueError("command: needs a command, e.g. command:uhubctl -l {hub} -p {port} -a cycle")
            return cls(COMMAND, template)
        raise ValueError(f"power cycle {text!r}: give off, sysfs or command:TEMPLATE")


def parse_power_cycle_rules(text: str) -> tuple[tuple[str, PowerCycle], ...]:
    """A power cycle setting: one mode for every port (`off`, `sysfs`, `command:...`), or `PATTERN=MODE` rules
    separated by `;` (port name patterns as in fnmatch, the first match wins; a port no rule matches is off).
    ValueError, in words, for anything else."""
    text = text.strip()
    if text in (OFF, SYSFS) or text.startswith(COMMAND_PREFIX):
        return (("*", PowerCycle.parse(text)),)
    rules = []
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        pattern, eq, mode = entry.partition("=")
        if not eq or not pattern.strip():
            raise ValueError(f"power cycle rule {entry!r}: expected PORTS=MODE, e.g. port0*=sysfs")
        rules.append((pattern.strip(), PowerCycle.parse(mode)))
    if not rules:
        raise ValueError("power cycle: give off, sysfs, command:TEMPLATE or PORTS=MODE rules")
    return tuple(rules)


def power_cycle_for(rules: tuple[tuple[str, PowerCycle], ...], port: str) -> PowerCycle:
    """The power cycle of port `port` under `rules`."""
    return next((mode for pattern, mode in rules if fnmatch.fnmatchcase(port, pattern)), PowerCycle())


class LinuxPhysical:
    """PhysicalControl on Linux: sysfs for places, USBDEVFS_RESET on /dev/bus/usb/BBB/DDD, and a hub port's
    `disable` file (or a command such as uhubctl) for power. `sys` and `dev` are the roots (tests use a tree)."""

    def __init__(self, power: PowerCycle = PowerCycle(), *, usb_reset: bool = True, sys: str = "/sys",
                 dev: str = "/dev", power_off_s: float = POWER_OFF_S) -> None:
        self.power = power
        self.usb_reset_enabled = usb_reset
        self.sys = Path(sys)
        self.dev = Path(dev)
        self.power_off_s = power_off_s

    def can_usb_reset(self) -> bool:
        return self.usb_reset_enabled

    def can_power_cycle(self) -> bool:
        return self.power.mode != OFF

    def where(self, device_path: str) -> UsbPlace | None:
        try:
            name = Path(os.path.realpath(device_path)).name
            node = (self.sys / "class" / "tty" / name / "device").resolve(strict=True)
        except OSError:
            return None
        for part in (node, *node.parents):
            m = INTERFACE_RE.match(part.name)
            if m:
                return UsbPlace(m.group(1), m.group(2))
            if DEVICE_RE.match(part.name):
                return UsbPlace(part.name)
        return None

    def _device_dir(self, place: UsbPlace) -> Path:
        path = self.sys / "bus" / "usb" / "devices" / place.device
        if not path.exists():
            raise PhysicalError(f"no USB device {place.device} (not in {path.parent})")
        return path

    def usb_device_node(self, place: UsbPlace) -> Path:
        """/dev/bus/usb/BBB/DDD of the device at `place`, from its busnum and devnum in sysfs."""
        device = self._device_dir(place)
        try:
            bus, num = (int((device / f).read_text().strip()) for f in ("busnum", "devnum"))
        except (OSError, ValueError) as exc:
            raise PhysicalError(f"USB device {place.device}: cannot read its bus and device numbers: {exc}") from exc
        return self.dev / "bus" / "usb" / f"{bus:03d}" / f"{num:03d}"

    def usb_reset(self, place: UsbPlace) -> None:
        if not self.usb_reset_enabled:
            raise PhysicalError("USB resets are turned off")
        node = self.usb_device_node(place)
        try:
            fd = os.open(node, os.O_WRONLY)
            try:
                fcntl.ioctl(fd, USBDEVFS_RESET, 0)
            finally:
                os.close(fd)
        except OSError as exc:
            raise PhysicalError(f"USB reset of {place.device} ({node}): {exc.strerror or exc}"
                                f"{' (root or a udev rule granting write access is needed)' if exc.errno == 13 else ''}"
                                ) from exc

    def port_disable_file(self, place: UsbPlace) -> Path:
        """The hub port's `disable` file of the device at `place` (its `port` link leads to the hub's port)."""
        try:
            port = (self._device_dir(place) / "port").resolve(strict=True)
        except OSError as exc:
            raise PhysicalError(f"USB device {place.device} has no hub port link in sysfs: {exc}") from exc
        disable = port / "disable"
        if not disable.exists():
            raise PhysicalError(f"hub port {port.name} of {place.device} cannot be switched off here (no {disable}: "
                                "kernel 4.13 or later is needed)")
        return disable

    def power_cycle(self, place: UsbPlace) -> None:
        if self.power.mode == OFF:
            raise PhysicalError("power cycling is off for this port")
        if self.power.mode == COMMAND:
            self._run(place)
            return
        # resolved first: the device's own directory goes away once its port is off
        disable = self.port_disable_file(place)
        try:
            disable.write_text("1")
            try:
                threading.Event().wait(self.power_off_s)
            finally:
                disable.write_text("0")
        except OSError as exc:
            raise PhysicalError(f"power cycle of {place.device} through {disable}: {exc.strerror or exc}") from exc

    def _run(self, place: UsbPlace) -> None:
        argv = shlex.split(self.power.template.format(hub=place.hub, port=place.hub_port, device=place.device))
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PhysicalError(f"power cycle of {place.device}: {shlex.join(argv)}: {exc}") from exc
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise PhysicalError(f"power cycle of {place.device}: {shlex.join(argv)} exited {done.returncode}"
                                f"{': ' + said[-1] if said else ''}")

    def locate(self, place: UsbPlace) -> list[str]:
        found: list[tuple[bool, str]] = []
        devices = self.sys / "bus" / "usb" / "devices"
        with contextlib.suppress(OSError):
            for interface in sorted(devices.glob(f"{place.device}:*")):
                same = place.interface is not None and interface.name == f"{place.device}:{place.interface}"
                # usb-serial puts ttyUSBn right under the interface, cdc-acm under tty/
                names = [p.name for p in (*interface.glob("tty*"), *interface.glob("tty/tty*"))
                         if p.name != "tty"]
                found.extend((not same, str(self.dev / name)) for name in sorted(names))
        return [path for _, path in sorted(found, key=lambda f: f[0])]
