"""What every room of a virtual modem shares: its state, its settings, and what the rooms ask of one another."""

from __future__ import annotations

import random
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from hwsim.commands import Cmd, CmeError, CmsError, Prompt, handled_names
from hwsim.dialect import Dialect, Timing
from hwsim.faults import Faults
from hwsim.loop import EventLoop, PtyPort, Timer
from hwsim.memory import Memory, Sim

REG_HOME = 1
REG_NONE = 0
REG_SEARCHING = 2
REG_DENIED = 3
REG_SMS_ONLY = 6  # 27.007: registered for "SMS only", home network (E-UTRAN)
REGISTERED = (1, 5, 6, 7)  # home, roaming, and the SMS-only variants of both


@dataclass
class Settings:
    """What AT commands change and ATZ / a reboot restore."""

    echo: bool = True
    verbose: bool = True
    quiet: bool = False
    cmee: int = 0
    cmgf: int = 0
    csms: int = 0
    cnmi: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    clip: int = 0
    crc: int = 0
    ccwa: int = 0
    cvhu: int = 0
    creg: int = 0
    cgreg: int = 0
    cusd: int = 0
    cmms: int = 0
    cscs: str = "IRA"
    csdh: int = 0
    cfun: int = 1
    mems: tuple[str, str, str] = ("SM", "SM", "SM")
    ring_urc: bool = True
    # vendor periodic reports (Huawei ^RSSI/^BOOT; AT^CURC=0 turns them off)
    periodic_reports: bool = True
    # new-message indications (+CMTI/+CMT) come out on this port (Huawei: only after AT^PORTSEL=1)
    sms_urcs_here: bool = True


def address_type(number: str) -> int:
    """The TS 24.008 type of address of `number`: 145 international, 129 otherwise."""
    return 145 if number.startswith("+") else 129


class ModemCore(ABC):
    """The state of one virtual modem, shared by its rooms (the mixins VirtualModem is made of).

    The rooms read and change these attributes directly (VirtualModem.__init__ sets them); the work of
    another room they reach only through the abstract methods below, which name the room doing it.
    """

    DIALECT: ClassVar[Dialect]
    # command name -> method name, gathered from the @handles marks of the class and its bases
    HANDLERS: ClassVar[Mapping[str, str]] = MappingProxyType({})

    name: str
    path: str
    profile: str
    imei: str
    timing: Timing
    _loop: EventLoop
    _port: PtyPort
    _rng: random.Random
    _sims: list[Sim]
    _me: Memory
    _sr: Memory
    # AT+CPMS as the modem keeps it across ATZ and restarts (only where the family saves it)
    _saved_mems: tuple[str, str, str]
    _active: int  # index into _sims
    _target: int  # where new messages go (the incoming slot during a switch)
    _sim_present: bool
    _powered: bool
    _booting: bool
    _reg: int
    _signal: int
    _settings: Settings
    _line: bytearray
    _prompt: Prompt | None
    _prompt_buf: bytearray
    _held_urcs: list[tuple[str, str | None]]
    _last_line: str
    _mr: int
    _sent: list[dict[str, Any]]
    _send_failures: list[dict[str, Any]]
    # how the network's status reports on later sends end ("delivered", "failed", "pending"), and per recipient
    _report_outcome: str
    _report_outcome_to: dict[str, str]
    _unknown: list[str]
    _at_log: deque[dict[str, Any]]
    _faults: Faults
    _awaiting_cnma: tuple[str, Timer] | None
    # call-end lines of a hung-up call held back by the late-no-carrier fault until the next command
    _late_call_end: tuple[str, ...]
    # a USSD session is open (a request waits for its answer), the answer on its way, and every request the network
    # took (the code, and <str> and <dcs> as sent)
    _ussd_open: bool
    _ussd_timer: Timer | None
    _ussd_requests: list[dict[str, Any]]
    _cond: threading.Condition
    _version: int

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        table: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                for command in handled_names(value):
                    table[command] = attr
        cls.HANDLERS = MappingProxyType(table)

    # ---- what the rooms do for one another ------------------------------------------------------------

    @abstractmethod
    def _later(self, delay_s: float, fn: Callable[[], None]) -> Timer:
        """Run `fn` on the loop after `delay_s`, cancelled when the modem shuts down (modem)."""

    @abstractmethod
    def _reboot(self) -> None:
        """Go silent, then come back with defaults and the boot banner (modem)."""

    @abstractmethod
    def _urc(self, line: str, extra: str | None = None) -> None:
        """Write an unsolicited line (wire)."""

    @abstractmethod
    def _memory(self, name: str) -> Memory:
        """The message memory called `name` on the active SIM and this modem (storage)."""

    @abstractmethod
    def _drain_network(self, sim: Sim) -> None:
        """Hand `sim` what the network holds for it, as far as storage and acknowledgements allow (network)."""

    @abstractmethod
    def _send(self, pdu: str, length: int | None) -> list[str]:
        """Send an SMS to the network; the +CMGS line (network)."""

    # ---- shared helpers ----------------------------------------------------------------------------------

    @property
    def registered(self) -> bool:
        """Whether the modem is registered (home, roaming or SMS only): it can receive SMS and calls."""
        return self._reg in REGISTERED

    def _default_settings(self) -> Settings:
        return Settings(cvhu=self.DIALECT.cvhu_default, cscs=self.DIALECT.cscs_default, mems=self._saved_mems)

    def _changed(self) -> None:
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def _home(self) -> int:
        """The registration a present SIM gets when the radio finds the network: home, or denied by a fault."""
        return REG_DENIED if self._active + 1 in self._faults.denied_slots else REG_HOME

    def _need_sim(self) -> Sim:
        if not self._sim_present:
            raise CmeError(10)
        return self._sims[self._active]

    def _need_sim_sms(self) -> Sim:
        if not self._sim_present:
            raise CmsError(310)
        return self._sims[self._active]

    @staticmethod
    def _flag(cmd: Cmd, current: int, hi: int, name: str, test: str | None = None) -> tuple[list[str], int]:
        """A 0..hi setting: (response lines, new value)."""
        if cmd.kind == "read":
            return [f"{name}: {current}"], current
        if cmd.kind == "test":
            return [f"{name}: {test or f'(0-{hi})'}"], current
        if cmd.kind == "exec":
            return [], current
        return [], cmd.int_param(0, 0, hi)
