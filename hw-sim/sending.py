"""Sending: AT+CMGS, the network's answer (message reference or +CMS ERROR) and the status reports it returns."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from hwsim.commands import Cmd, CmsError, PlainError, Prompt, handles, prompt_pdu
from hwsim.core import ModemCore
from hwsim.pduinfo import PduError, inspect_submit
from hwsim.sms import encode_status_report

# TS 23.040 §9.2.3.15 TP-Status of the report each outcome gives
REPORT_STATUS = {
    "delivered": 0x00,  # short message received by the SME
    "failed": 0x41,  # permanent error: incompatible destination
    "pending": 0x20,  # temporary error, the SC still trying: congestion (no final report follows)
}
MAX_SUBMIT_OCTETS = 255


def number_key(number: str) -> str:
    """A number as report outcomes are matched: without its leading "+"."""
    return number.strip().removeprefix("+")


class SendingRoom(ModemCore):
    """AT+CMGS in PDU and text mode; every send is kept in `_sent`, refused ones in `_send_failures`."""

    @handles("+CMGS")
    def _cmgs(self, cmd: Cmd) -> list[str] | Prompt:
        if cmd.kind == "test":
            return []
        if cmd.kind != "set":
            raise PlainError(cmd.text)
        self._need_sim_sms()
        if self._settings.cmgf:
            number = cmd.params()[0]
            if not number:
                raise CmsError(305)
            return Prompt(lambda body: self._send(f"text:{number}:{body}", None), cmd.text)
        length = cmd.int_param(0, 1, MAX_SUBMIT_OCTETS)
        return Prompt(lambda body: self._send_pdu(body, length), cmd.text)

    def _send_pdu(self, body: str, length: int) -> list[str]:
        return self._send(prompt_pdu(body, length), length)

    def _send(self, pdu: str, length: int | None) -> list[str]:
        details: dict[str, object]
        recipient_type: int | None = None
        if pdu.startswith("text:"):
            _, recipient, text = pdu.split(":", 2)
            srr = False
            details = {"recipient": recipient, "text": text, "srr": srr}
        else:
            try:
                info = inspect_submit(pdu)
            except PduError:
                raise CmsError(304) from None
            recipient, recipient_type, srr = info.recipient, info.recipient_type, info.status_report
            details = info.to_json()
        if not self.registered:
            raise CmsError(331)
        if (refused := self._faults.take_send_error()) is not None:
            self._send_failures.append({"t": time.time(), "pdu": pdu, "length": length, "error": refused.code,
                                        **details})
            raise refused
        # the modem numbers its sends itself (TS 23.040 §9.2.3.6), whatever TP-MR the terminal wrote
        self._mr = (self._mr + 1) % 256
        entry: dict[str, Any] = {"t": time.time(), "pdu": pdu, "length": length, "mr": self._mr, **details}
        if srr:
            outcome = self._report_outcome_to.get(number_key(recipient), self._report_outcome)
            entry["report"] = outcome
            self._schedule_report(recipient, recipient_type, self._mr, REPORT_STATUS[outcome])
        self._sent.append(entry)
        return [f"+CMGS: {self._mr}"]

    def _schedule_report(self, recipient: str, recipient_type: int | None, mr: int, status: int) -> None:
        """The network's SMS-STATUS-REPORT on this send, `Timing.report_delay_s` from now, to the SIM that sent."""
        sim = self._sims[self._active]
        submitted = _now()

        def arrive() -> None:
            pdu = encode_status_report(recipient, mr, status=status, scts=submitted, discharged=_now(),
                                       recipient_type=recipient_type)
            sim.network.append(pdu)
            self._drain_network(sim)
            self._changed()
        self._later(self.timing.report_delay_s, arrive)

    def _set_report_outcome(self, outcome: str, to: str | None) -> None:
        if to is None:
            self._report_outcome = outcome
            self._report_outcome_to.clear()
        else:
            self._report_outcome_to[number_key(to)] = outcome
        self._changed()


def _now() -> datetime:
    """The service centre's clock, to the second (a TS 23.040 time stamp has no fractions)."""
    return datetime.now(UTC).replace(microsecond=0)
