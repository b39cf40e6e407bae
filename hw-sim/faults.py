"""The faults a test can put on a modem: their names, their arguments, and the typed set of those in force."""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.commands import AtError, CmeError, CmsError
from hwsim.ussd import USSD_FAULTS

FAULT_KINDS = ("unplug", "replug", "hang", "garbage", "urc-in-response", "cms-error", "cme-error", "send-error",
               "storage-full", "no-network", "sms-only", "reboot", "clip-repeat", "late-no-carrier", "ussd",
               "wedge-until-reset", "wedge-until-usb-reset", "wedge-until-power-cycle", "renumber-on-reset", "denied",
               "clear")
# What ends a wedge, weakest first: the family's reset command, a USB reset of the device, a power cycle of its hub
# port. A stronger action ends a weaker wedge too.
WEDGE_LEVELS = ("reset", "usb-reset", "power-cycle")
# where the clip-repeat fault puts the repeated ring: before the hang-up's final result code, or after it
CLIP_REPEAT_WHERE = ("before", "after")
GARBAGE_RESPONSES = 3


def check_fault(kind: str, args: tuple[str, ...]) -> None:
    """ValueError, in words for the operator, unless `kind` is a fault and `args` are what it takes."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULT_KINDS)})")
    if kind in ("cms-error", "cme-error"):
        if len(args) != 1 or not args[0].isdigit():
            raise ValueError(f"{kind} needs one numeric CODE, e.g. {kind} {500 if kind == 'cms-error' else 14}")
    elif kind == "send-error":
        if not 1 <= len(args) <= 2 or not all(a.isdigit() for a in args) or (len(args) == 2 and int(args[1]) < 1):
            raise ValueError("send-error needs a numeric CODE and optionally how many sends fail (COUNT >= 1), "
                             "e.g. send-error 38 2")
    elif kind == "ussd":
        if len(args) != 1 or args[0] not in USSD_FAULTS:
            raise ValueError(f"ussd needs one of {', '.join(USSD_FAULTS)}, e.g. ussd no-answer")
    elif kind == "denied":
        if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
            raise ValueError("denied needs the SLOT whose SIM the network refuses, e.g. denied 3")
    elif kind == "clip-repeat":
        if len(args) > 1 or (args and args[0] not in CLIP_REPEAT_WHERE):
            raise ValueError("clip-repeat takes at most one argument: before (the default) or after")
    elif args:
        raise ValueError(f"fault {kind} takes no arguments")


@dataclass
class Faults:
    """The faults in force; `to_json` names them as the fault kinds do."""

    unplugged: bool = False
    hang: bool = False
    # responses still to be preceded by a burst of garbage
    garbage_left: int = 0
    urc_in_response: bool = False
    cms_error: int | None = None
    cme_error: int | None = None
    # the +CMS ERROR code the next sends (AT+CMGS, AT+CMSS) fail with, and how many of them still will
    send_error: int | None = None
    send_errors_left: int = 0
    # how many filler messages the storage-full fault stored; gone once a deletion frees a record
    storage_full: int | None = None
    no_network: bool = False
    clip_repeat: str | None = None
    late_no_carrier: bool = False
    # how USSD requests fail until cleared: no-answer, cancel (+CUSD: 2), error (+CME ERROR), unsupported (+CUSD: 4)
    ussd: str | None = None
    # wedged: silent to everything until the action named (one of WEDGE_LEVELS); None when not wedged
    wedge: str | None = None
    # the modem comes back under another device name after each USB reset or power cycle
    renumber: bool = False

    # slots whose SIM the network refuses to register (+CREG: 3) whenever it is the active one
    denied_slots: frozenset[int] = frozenset()

    @property
    def stuck(self) -> bool:
        """Whether the firmware answers nothing and reports nothing (hung or wedged)."""
        return self.hang or self.wedge is not None

    def unwedge(self, action: str) -> None:
        """`action` (one of WEDGE_LEVELS) happened: a wedge it is strong enough for ends."""
        if self.wedge is not None and WEDGE_LEVELS.index(action) >= WEDGE_LEVELS.index(self.wedge):
            self.wedge = None

    def take_sms_error(self) -> AtError | None:
        """The error the next SMS command fails with (once), if a cms-error or cme-error fault is set."""
        if self.cms_error is not None:
            code, self.cms_error = self.cms_error, None
            return CmsError(code)
        if self.cme_error is not None:
            code, self.cme_error = self.cme_error, None
            return CmeError(code)
        return None

    def take_send_error(self) -> CmsError | None:
        """The error the next send fails with, if a send-error fault still has sends to fail."""
        if self.send_error is None or self.send_errors_left <= 0:
            return None
        code = self.send_error
        self.send_errors_left -= 1
        if not self.send_errors_left:
            self.send_error = None
        return CmsError(code)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "unplugged": self.unplugged or None, "hang": self.hang or None, "garbage": self.garbage_left or None,
            "urc-in-response": self.urc_in_response or None, "cms-error": self.cms_error,
            "cme-error": self.cme_error,
            "send-error": None if self.send_error is None else {"code": self.send_error,
                                                                 "count": self.send_errors_left},
            "storage-full": self.storage_full, "no-network": self.no_network or None,
            "clip-repeat": self.clip_repeat, "late-no-carrier": self.late_no_carrier or None, "ussd": self.ussd,
            "wedge": self.wedge, "renumber-on-reset": self.renumber or None,
            "denied": sorted(self.denied_slots) or None,
        }
        return {kind: value for kind, value in out.items() if value is not None}
