"""PhysicalControl on a virtual bank: USB places, resets and power cycles through hwsim's control socket, as a host
would do them through sysfs and usbfs."""

from __future__ import annotations

import threading
from pathlib import Path

from hwsim.control import ControlError, request
from simhost_drivers.physical import PhysicalError, UsbPlace


class HwsimPhysical:
    """The physical side of one port of the bank in `directory`; `actions` lists what was done, (action, place)."""

    def __init__(self, directory: Path, *, usb_reset: bool = True, power_cycle: bool = True) -> None:
        self.directory = directory
        self.usb_reset_enabled = usb_reset
        self.power_cycle_enabled = power_cycle
        self.actions: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def can_usb_reset(self) -> bool:
        return self.usb_reset_enabled

    def can_power_cycle(self) -> bool:
        return self.power_cycle_enabled

    def where(self, device_path: str) -> UsbPlace | None:
        try:
            return UsbPlace(str(request(self.directory, {"cmd": "where", "path": device_path})["location"]))
        except ControlError:
            return None

    def _act(self, action: str, place: UsbPlace) -> None:
        with self._lock:
            self.actions.append((action, str(place)))
        try:
            request(self.directory, {"cmd": action, "location": place.device})
        except ControlError as exc:
            raise PhysicalError(f"{action} of {place}: {exc}") from exc

    def usb_reset(self, place: UsbPlace) -> None:
        if not self.usb_reset_enabled:
            raise PhysicalError("USB resets are turned off")
        self._act("usb-reset", place)

    def power_cycle(self, place: UsbPlace) -> None:
        if not self.power_cycle_enabled:
            raise PhysicalError("power cycling is off for this port")
        self._act("power-cycle", place)

    def locate(self, place: UsbPlace) -> list[str]:
        try:
            return [str(p) for p in request(self.directory, {"cmd": "locate", "location": place.device})["paths"]]
        except ControlError:
            return []
