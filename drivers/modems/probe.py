"""A quick look at whatever is on a serial port (identity, IMEI, ICCID), for `simhost port scan`."""

from __future__ import annotations

from dataclasses import dataclass

from simhost_drivers.at.channel import AtChannel
from simhost_drivers.at.errors import AtError, CommandError, CommandTimeoutError, ConnectionLostError
from simhost_drivers.at.transport import DEFAULT_BAUDRATE
from simhost_drivers.modems.generic import make_and_model, sync_channel
from simhost_drivers.modems.registry import choose_driver, driver_class

PROBE_TIMEOUT_S = 1.0
RESET_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PortProbe:
    """What a port said: `answers` whether anything answered AT; `error` why one that answered told no more."""

    answers: bool
    driver: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    imei: str | None = None
    iccid: str | None = None
    error: str | None = None


def probe_port(url: str, *, baudrate: int = DEFAULT_BAUDRATE, timeout_s: float = PROBE_TIMEOUT_S) -> PortProbe:
    """Open `url`, see whether a modem answers within `timeout_s`, and read what identifies it and its SIM.

    The port is opened as a gateway opens it, locked: PortBusyError when another process (a running gateway)
    holds it, PortOpenError when it cannot be opened at all.
    """
    # the resynchronisation after a timeout would wait out its own longer timeout on a silent line
    channel = AtChannel.open(url, baudrate=baudrate, resync_timeout_s=timeout_s / 2)
    try:
        try:
            sync_channel(channel, timeout_s=timeout_s, attempts=1)
        except CommandTimeoutError:
            return PortProbe(answers=False)
        except AtError as exc:
            return PortProbe(answers=False, error=str(exc))
        try:
            manufacturer, model = make_and_model(channel)
        except CommandError:
            manufacturer, model = "", ""
        driver = choose_driver(manufacturer, model)(channel)
        found: dict[str, str | None] = {"imei": None, "iccid": None}
        errors = []
        for item, read in (("imei", driver.imei), ("iccid", driver.iccid)):
            try:
                found[item] = read()
            except AtError as exc:
                errors.append(f"{item}: {exc}")
        return PortProbe(answers=True, driver=driver.name, manufacturer=manufacturer or None, model=model or None,
                         imei=found["imei"], iccid=found["iccid"], error="; ".join(errors) or None)
    except AtError as exc:
        return PortProbe(answers=True, error=str(exc))
    finally:
        channel.close()


def reset_port(url: str, driver: str | None = None, *, baudrate: int = DEFAULT_BAUDRATE,
               timeout_s: float = RESET_TIMEOUT_S) -> str | None:
    """Send the family's recovery reset commands (Quirks.recovery_reset_commands, else its reset_command) to the
    modem on `url`, one after the other until one is accepted; that one, or None when none was.

    Nothing is asked first: a modem that stopped answering may still take its reset command. One that stays silent
    may be restarting as well; the next command is sent all the same. The port is opened locked, as a gateway
    opens it (PortBusyError, PortOpenError).
    """
    quirks = driver_class(driver or "generic").DEFAULT_QUIRKS
    for command in quirks.recovery_reset_commands or (quirks.reset_command,):
        # a channel each: after a timeout a channel resynchronises before it sends anything else, and a silent
        # modem would never let the next command out
        with AtChannel.open(url, baudrate=baudrate, finals=quirks.extra_finals,
                            resync_timeout_s=timeout_s / 2) as channel:
            try:
                channel.command(command, timeout_s=timeout_s)
            except (CommandError, CommandTimeoutError):
                continue
            except ConnectionLostError:
                pass  # a USB modem that restarts drops its tty: taken
            return command
    return None
