"""What the control socket asks of a bank: its ready info and its modems by port name."""

from __future__ import annotations

from typing import Any, Protocol

from hwsim.modem import VirtualModem


class PortDirectory(Protocol):
    """A bank as the control socket sees it (hwsim.bank.Bank is one)."""

    info: dict[str, Any]

    def port(self, name: str) -> VirtualModem:
        """The modem on port `name`; KeyError naming the known ports otherwise."""
        ...

    def at(self, location: str) -> VirtualModem:
        """The modem at USB `location`; KeyError otherwise."""
        ...

    def where(self, path: str) -> VirtualModem:
        """The modem whose tty `path` is now; KeyError otherwise."""
        ...
