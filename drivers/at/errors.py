"""AT exceptions, one branch per failure phase: open, I/O, waiting, the modem's verdict, parsing."""

from __future__ import annotations


class AtError(Exception):
    """Base of every error raised by the AT channel and the modem drivers."""


class PortOpenError(AtError):
    """The port could not be opened (bad URL, missing device, permission)."""


class PortBusyError(PortOpenError):
    """Another process holds the device's lock: a running gateway has the port open."""


class ConnectionLostError(AtError):
    """The byte stream failed (device unplugged, socket closed); the channel is closed for good."""


class CommandTimeoutError(AtError, TimeoutError):
    """No final result code arrived in time; the channel resynchronises before the next command."""

    def __init__(self, command: str, timeout_s: float, detail: str = "") -> None:
        self.command = command
        self.timeout_s = timeout_s
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"{command}: no final result code within {timeout_s:g} s{suffix}")


class CommandInterruptedError(AtError):
    """The command in flight was given up before its final result code (e.g. the modem restarted under it)."""

    def __init__(self, command: str, reason: str) -> None:
        self.command = command
        self.reason = reason
        super().__init__(f"{command}: given up: {reason}")


class ResponseError(AtError):
    """The modem answered OK but the information lines could not be understood."""


class CommandError(AtError):
    """The command ended with a failure final result code.

    `final` is the final line as received, `code` the numeric +CME/+CMS code (None for a plain
    ERROR or a text code), `source` is "CME", "CMS" or None, `description` the code's meaning.
    """

    def __init__(
        self,
        command: str,
        final: str,
        *,
        code: int | None = None,
        source: str | None = None,
        description: str = "",
    ) -> None:
        self.command = command
        self.final = final
        self.code = code
        self.source = source
        self.description = description
        meaning = f" ({description})" if description else ""
        super().__init__(f"{command}: {final}{meaning}")


class PhoneFailureError(CommandError):
    """The modem reports an internal failure (CME 0, CMS 300)."""


class NotAllowedError(CommandError):
    """Operation not allowed in the current state (CME 3, CMS 302)."""


class NotSupportedError(CommandError):
    """Operation not supported by this modem (CME 4, CMS 303, `COMMAND NOT SUPPORT`)."""


class InvalidParameterError(CommandError):
    """A parameter was rejected (CMS 304/305, CME 24-27 and 50)."""


class SimError(CommandError):
    """Something is wrong with the SIM card."""


class SimNotInsertedError(SimError):
    """No SIM in the slot (CME 10, CMS 310)."""


class SimLockedError(SimError):
    """The SIM (or the phone) waits for a PIN, PUK or network personalisation code."""


class SimPinRequiredError(SimLockedError):
    """The SIM waits for its PIN (CME 11, CMS 311)."""


class SimPukRequiredError(SimLockedError):
    """The SIM is blocked and waits for its PUK (CME 12, CMS 316)."""


class SimFailureError(SimError):
    """The SIM does not answer properly (CME 13, CMS 313)."""


class SimBusyError(SimError):
    """The SIM is busy, typically while it starts (CME 14, CMS 314)."""


class SimWrongError(SimError):
    """The SIM is not usable in this modem (CME 15, CMS 315)."""


class IncorrectPasswordError(SimError):
    """A PIN or password was wrong (CME 16)."""


class StorageError(CommandError):
    """Message or phonebook storage failed."""


class MemoryFullError(StorageError):
    """Storage is full (CME 20, CMS 322)."""


class InvalidMemoryIndexError(StorageError):
    """No such storage index (CME 21, CMS 321)."""


class NotFoundError(StorageError):
    """Nothing found (CME 22)."""


class MemoryFailureError(StorageError):
    """Storage failed (CME 23, CMS 320)."""


class NetworkError(CommandError):
    """The network refused or did not answer."""


class NoNetworkServiceError(NetworkError):
    """No network service (CME 30, CMS 331)."""


class NetworkTimeoutError(NetworkError):
    """The network did not answer in time (CME 31, CMS 332)."""


class EmergencyOnlyError(NetworkError):
    """Only emergency calls allowed (CME 32)."""


class SmscAddressUnknownError(NetworkError):
    """No service centre address configured (CMS 330)."""


class SmsRejectedError(NetworkError):
    """The network rejected a short message with a TS 24.011/23.040 cause (CMS 0-255)."""


class NoAckExpectedError(CommandError):
    """AT+CNMA when no acknowledgement was expected (CMS 340)."""


class CallFailedError(CommandError):
    """A call-related final result: NO CARRIER, BUSY, NO ANSWER, NO DIALTONE."""
