"""hwsim command line: `hwsim bank ...` runs a bank; `hwsim --dir DIR <command>` drives a running one."""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import click

from hwsim.control import ControlError, request
from hwsim.dialect import Timing
from hwsim.profiles import PROFILES


def _print(result: Any) -> None:
    click.echo(json.dumps(result, ensure_ascii=False))


def _send(ctx: click.Context, payload: dict[str, Any]) -> None:
    directory = ctx.obj.get("dir")
    if not directory:
        raise click.UsageError("give the bank's directory: hwsim --dir DIR " + str(payload.get("cmd")))
    try:
        _print(request(directory, payload))
    except ControlError as exc:
        click.echo(f"hwsim: {exc}", err=True)
        sys.exit(1)


@click.group()
# hwsim ships in the simhost distribution
@click.version_option(package_name="simhost", prog_name="hwsim", message="%(prog)s %(version)s")
@click.option("--dir", "directory", type=click.Path(file_okay=False), envvar="HWSIM_DIR",
              help="Directory of a running bank (its control.sock).")
@click.pass_context
def main(ctx: click.Context, directory: str | None) -> None:
    """Virtual SIM bank of GSM modems on pseudo-terminals.

    \b
    Start a bank (foreground; prints one JSON line with every port's path and SIM identities):
      hwsim bank --ports 4 --dir /tmp/bank --profiles generic,sim800,ec25,e173 --baud 115200
    Drive it from another shell (JSON output):
      hwsim --dir /tmp/bank sms port01 --sender +79161234567 --text "Привет"
      hwsim --dir /tmp/bank call port02 --caller +79161234567
      hwsim --dir /tmp/bank calls port02
      hwsim --dir /tmp/bank fault port03 hang      (then: fault port03 clear)
      hwsim --dir /tmp/bank fault port01 send-error 42 2   (the next two sends fail)
      hwsim --dir /tmp/bank report port01 failed --to +79161234567
      hwsim --dir /tmp/bank ussd port01 "Баланс: 123,45 р." --code '*100#'
      hwsim --dir /tmp/bank state port01
      hwsim --dir /tmp/bank store port01 --memory ME --sender +79161234567 "left in the modem"
    Start with messages already stored (PORT:MEM:N, repeatable; * = every port):
      hwsim bank --ports 2 --dir /tmp/bank --preload port01:ME:3 --preload '*:SM:2'
    Profiles: generic (3GPP 27.005/27.007), sim800 (SIMCom), ec25 (Quectel), e173 (Huawei).
    """
    ctx.ensure_object(dict)
    ctx.obj["dir"] = directory


@main.command()
@click.option("--ports", type=click.IntRange(1, 999), default=1, show_default=True, help="Number of modems.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="Directory for port01.. symlinks and control.sock (default: the group's --dir).")
@click.option("--profile", type=click.Choice(list(PROFILES)), default=None, help="One profile for every port.")
@click.option("--profiles", "profile_list", default=None, help="Comma-separated profiles, cycled over the ports.")
@click.option("--slots", type=click.IntRange(1, 16), default=1, show_default=True, help="SIM slots per modem.")
@click.option("--baud", type=click.IntRange(min=1), default=None, help="Pace output at this serial rate.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for identities and faults.")
@click.option("--ring-interval", type=click.FloatRange(min=0.01), default=None,
              help="Seconds between rings (default 2).")
@click.option("--report-delay", type=click.FloatRange(min=0), default=None,
              help="Seconds from a send asking for a status report to the report (default 1).")
@click.option("--sms-validity", type=click.FloatRange(min=0), default=None,
              help="Seconds the network holds an SMS for a SIM out of its slot before dropping it (default 86400).")
@click.option("--preload", "preload", multiple=True, metavar="PORT:MEM:N",
              help="Start PORT with N messages already stored in MEM (SM on the SIM, ME in the modem, SR status "
                   "reports), as if another program had left them; PORT * means every port. Repeatable.")
@click.pass_context
def bank(ctx: click.Context, ports: int, directory: str | None, profile: str | None, profile_list: str | None,
         slots: int, baud: int | None, seed: int, ring_interval: float | None, report_delay: float | None,
         sms_validity: float | None, preload: tuple[str, ...]) -> None:
    """Run a bank in the foreground until SIGINT/SIGTERM; prints one JSON line when ready.

    \b
    --preload PORT:MEM:N, e.g. port01:ME:3 (three messages in port01's modem memory), *:SM:2 (two on every
    port's SIM), port02:SR:1 (a status report, on profiles that have "SR": e173, ec25). The messages come from
    +79000000002 with the text "preloaded K of N in MEM of PORT", unread, with no +CMTI.
    """
    from hwsim.bank import Bank

    directory = directory or ctx.obj.get("dir")
    if not directory:
        raise click.UsageError("--dir is required")
    if profile and profile_list:
        raise click.UsageError("give --profile or --profiles, not both")
    names = [p.strip() for p in profile_list.split(",")] if profile_list else [profile or "generic"]
    unknown = [p for p in names if p not in PROFILES]
    if unknown or not all(names):
        raise click.BadParameter(f"unknown profile(s) {unknown} (known: {', '.join(PROFILES)})",
                                 param_hint="--profiles")
    timing = Timing()
    if ring_interval:
        timing = replace(timing, ring_interval_s=ring_interval)
    if report_delay is not None:
        timing = replace(timing, report_delay_s=report_delay)
    if sms_validity is not None:
        timing = replace(timing, sms_validity_s=sms_validity)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        b = Bank(Path(directory), ports=ports, profiles=names, slots=slots, baud=baud, seed=seed, timing=timing,
                 preload=preload)
    except (ValueError, KeyError) as exc:
        raise click.BadParameter(str(exc.args[0] if isinstance(exc, KeyError) else exc),
                                 param_hint="--preload") from None
    try:
        info = b.start()
    except OSError as exc:
        click.echo(f"hwsim: cannot start the bank in {directory}: {exc}", err=True)
        sys.exit(1)
    try:
        _print(info)
        sys.stdout.flush()
        while not stop.wait(3600):
            pass
    finally:
        b.stop()


@main.command()
@click.argument("port")
@click.option("--sender", required=True, help="Originating address: +digits, digits, or a name.")
@click.option("--text", required=True)
@click.option("--encoding", type=click.Choice(["auto", "gsm7", "ucs2"]), default="auto", show_default=True)
@click.option("--concat", type=click.Choice(["8", "16"]), default="8", show_default=True,
              help="Concatenation reference bits.")
@click.option("--class", "message_class", type=click.IntRange(0, 3), default=None, help="Message class.")
@click.option("--scts", default=None, help="Service-centre time stamp, ISO 8601 with offset.")
@click.option("--smsc", default=None, help="Service-centre number in the PDU.")
@click.option("--slot", type=click.IntRange(min=1), default=None,
              help="To the SIM in this slot (default: the active one); held by the network until the slot is "
                   "online, dropped after the validity period (24 h).")
@click.pass_context
def sms(ctx: click.Context, port: str, sender: str, text: str, encoding: str, concat: str,
        message_class: int | None, scts: str | None, smsc: str | None, slot: int | None) -> None:
    """Deliver an SMS to PORT's active SIM (or the SIM in --slot); prints the PDUs."""
    _send(ctx, {"cmd": "sms", "port": port, "sender": sender, "text": text, "encoding": encoding,
                "concat": int(concat), "class": message_class, "scts": scts, "smsc": smsc, "slot": slot})


@main.command()
@click.argument("port")
@click.argument("text", default="")
@click.option("--memory", type=click.Choice(["SM", "ME", "SR"], case_sensitive=False), required=True,
              help="SM: the active SIM; ME: the modem; SR: status reports (e173, ec25).")
@click.option("--sender", required=True, help="Originating address (in SR: the recipient the report is about).")
@click.option("--stat", type=click.IntRange(0, 3), default=0, show_default=True,
              help="<stat>: 0 unread, 1 read, 2 unsent, 3 sent.")
@click.option("--encoding", type=click.Choice(["auto", "gsm7", "ucs2"]), default="auto", show_default=True)
@click.option("--scts", default=None, help="Service-centre time stamp, ISO 8601 with offset.")
@click.pass_context
def store(ctx: click.Context, port: str, text: str, memory: str, sender: str, stat: int, encoding: str,
          scts: str | None) -> None:
    """Put a message into PORT's MEMORY as if it had been stored there before: no +CMTI, the network is not
    involved. In SR, a status report saying the message to SENDER was delivered (TEXT unused). Prints the
    stored entries (mem, index, pdu); a long TEXT takes one index per part."""
    _send(ctx, {"cmd": "store", "port": port, "memory": memory.upper(), "sender": sender, "text": text,
                "stat": stat, "encoding": encoding, "scts": scts})


@main.command()
@click.argument("port")
@click.argument("hex_pdu", metavar="HEX")
@click.pass_context
def pdu(ctx: click.Context, port: str, hex_pdu: str) -> None:
    """Deliver a raw PDU (SMSC octets included) to PORT."""
    _send(ctx, {"cmd": "pdu", "port": port, "hex": hex_pdu})


@main.command()
@click.argument("port")
@click.option("--caller", default=None, help="Calling number.")
@click.option("--withheld", is_flag=True, help="The caller withholds the number.")
@click.option("--rings", type=click.IntRange(1, 100), default=3, show_default=True)
@click.pass_context
def call(ctx: click.Context, port: str, caller: str | None, withheld: bool, rings: int) -> None:
    """Ring PORT; prints the call id.

    A call placed while another one is still ringing or up is rejected as busy (no call waiting), as the
    network does; a call placed right after the previous one was hung up rings normally.
    """
    if bool(caller) == withheld:
        raise click.UsageError("give exactly one of --caller NUMBER or --withheld")
    _send(ctx, {"cmd": "call", "port": port, "caller": caller, "withheld": withheld, "rings": rings})


@main.command()
@click.argument("port")
@click.pass_context
def calls(ctx: click.Context, port: str) -> None:
    """List PORT's calls with their hang-up time and command."""
    _send(ctx, {"cmd": "calls", "port": port})


@main.command()
@click.argument("port")
@click.argument("k", type=click.IntRange(min=1))
@click.pass_context
def slot(ctx: click.Context, port: str, k: int) -> None:
    """Switch PORT to SIM slot K."""
    _send(ctx, {"cmd": "slot", "port": port, "slot": k})


@main.command()
@click.argument("port")
@click.argument("kind")
@click.argument("args", nargs=-1)
@click.pass_context
def fault(ctx: click.Context, port: str, kind: str, args: tuple[str, ...]) -> None:
    """Inject a fault into PORT.

    \b
    KIND:
      unplug           the modem vanishes (pty closed, link kept) until `replug`
      replug           the modem comes back, booting as after power-on
      hang             the modem stops answering until `clear`
      garbage          random bytes now and between the lines of the next responses
      urc-in-response  an unsolicited line inside the next response
      cms-error CODE   +CMS ERROR: CODE on the next SMS command (AT+CMGS included)
      send-error CODE [COUNT]
                       the next COUNT sends (AT+CMGS, AT+CMSS; default 1) fail after the PDU with
                       +CMS ERROR: CODE, as when the network refuses them; then sends succeed again.
                       Transient: 38 network out of order, 42 congestion, 500 unknown error;
                       permanent: 21 short message transfer rejected, 28 unidentified subscriber
      cme-error CODE   +CME ERROR: CODE on the next SMS command (e.g. 14, SIM busy)
      storage-full     the SIM storage is filled with filler messages; new ones wait in the network
      no-network       registration drops to "searching" (+CREG: 2) and stays there, messages held by
                       the network, until the radio restarts (AT+CFUN=1,1, CFUN 0/4 then 1, reboot)
      sms-only         registered for SMS only (+CREG: 6, as on LTE without voice); SMS still arrive
      reboot           restart with the profile's boot banner (RDY, Call Ready, ^BOOT ...)
      clip-repeat [before|after]
                       the next hang-up (ATH, AT+CHUP, AT+CHLD) makes the modem repeat the call's
                       RING/+CRING and +CLIP once: before the command's final result (default) or
                       right after it
      denied SLOT      the network refuses to register the SIM in SLOT (+CREG: 3) whenever it is active
      late-no-carrier  the next hang-up is followed by the profile's call-end lines (NO CARRIER),
                       held back until the next command line arrives and written just before its
                       answer, so that they cross it (and a call starting meanwhile) on the wire
      ussd HOW         USSD requests fail until `clear`: no-answer (the session stays open until
                       AT+CUSD=2), cancel (+CUSD: 2, the network ends it), error (+CME ERROR: 100),
                       unsupported (+CUSD: 4)
      wedge-until-reset
                       silent to everything but the family's reset command (AT+CFUN=1,1), which it
                       answers with OK before it restarts; the network holds messages meanwhile
      wedge-until-usb-reset
                       silent to everything until a USB reset (`usb-reset`) or power cycle
      wedge-until-power-cycle
                       silent to everything, a USB reset included, until `power-cycle`
      renumber-on-reset
                       after each USB reset or power cycle the tty comes back under another name
                       (PORT-r1, PORT-r2, ...) at the same USB location, with the same IMEI
      clear            end every fault but `unplug`; held messages are delivered
    """
    _send(ctx, {"cmd": "fault", "port": port, "kind": kind, "args": list(args)})


@main.command()
@click.argument("port")
@click.argument("outcome", type=click.Choice(["delivered", "failed", "pending"]))
@click.option("--to", "number", default=None, help="Only for sends to this number (else for every recipient).")
@click.pass_context
def report(ctx: click.Context, port: str, outcome: str, number: str | None) -> None:
    """How the status reports on PORT's later sends end.

    \b
    A send whose SMS-SUBMIT asks for a status report (TP-SRR) gets one from the network a moment later
    (1 s), with the message reference the modem answered to that send (one per part of a long message):
      delivered  TP-ST 0x00, received by the recipient (the default)
      failed     TP-ST 0x41, incompatible destination: a permanent error
      pending    TP-ST 0x20, congestion, the service centre still trying; no final report follows
    It reaches the terminal as AT+CNMI's <ds> says: 1 = +CDS (acknowledged with AT+CNMA under
    AT+CSMS=1), 2 = stored and announced with +CDSI ("SR" on ec25, else the receive memory), 0 = not at all.
    Without --to the outcome is for every recipient (and replaces earlier --to choices).
    """
    _send(ctx, {"cmd": "report", "port": port, "outcome": outcome, "to": number})


@main.command()
@click.argument("port")
@click.argument("reply")
@click.option("--code", default="*", show_default=True, help="The USSD code it answers; * for any other code.")
@click.option("--delay", type=click.FloatRange(0, 600), default=None,
              help="Seconds from the request to the answer (default 0.3).")
@click.option("--encoding", type=click.Choice(["auto", "gsm7", "ucs2"]), default="auto", show_default=True,
              help="auto: GSM 7-bit when REPLY fits the alphabet, else UCS2.")
@click.option("--slot", type=click.IntRange(min=1), default=None, help="The SIM in this slot (default: the active).")
@click.pass_context
def ussd(ctx: click.Context, port: str, reply: str, code: str, delay: float | None, encoding: str,
         slot: int | None) -> None:
    """What the network answers USSD requests from PORT's SIM; prints that SIM's USSD settings.

    \b
    The answer comes as the modem family writes it: GSM 7-bit text as plain text with <dcs> 15, on e173 as
    packed septets in hex (dcs 15, as Huawei firmware gives it, which also wants the request packed);
    UCS2 (Cyrillic) as hex of its UTF-16 units with <dcs> 72, on every profile:
      hwsim --dir /tmp/bank ussd port01 "Баланс: 123,45 р." --code '*100#'
    Codes not set answer "Balance: 100.00 RUB". Failures: `fault PORT ussd no-answer|cancel|error|unsupported`.
    """
    _send(ctx, {"cmd": "ussd", "port": port, "reply": reply, "code": code, "delay": delay, "encoding": encoding,
                "slot": slot})


@main.command()
@click.argument("port")
@click.pass_context
def state(ctx: click.Context, port: str) -> None:
    """PORT's state: storage, registration, signal, active slot, calls, AT log, and what was sent.

    \b
    "sent": one entry per send the network took: t, pdu, length, mr (the +CMGS answer), and decoded
    from the SMS-SUBMIT recipient, text (or data for 8-bit), udh and concat {ref, total, seq} when a
    header is there, srr (a status report asked for) and report (its outcome); "send_failures": the
    sends a send-error fault refused, with their error code.
    """
    _send(ctx, {"cmd": "state", "port": port})


@main.command()
@click.argument("path")
@click.pass_context
def where(ctx: click.Context, path: str) -> None:
    """The USB location (and port) of the modem whose tty is PATH now."""
    _send(ctx, {"cmd": "where", "path": path})


@main.command()
@click.argument("location")
@click.pass_context
def locate(ctx: click.Context, location: str) -> None:
    """The tty paths of the modem at USB LOCATION now (none while it is off the bus)."""
    _send(ctx, {"cmd": "locate", "location": location})


@main.command("usb-reset")
@click.argument("location")
@click.pass_context
def usb_reset(ctx: click.Context, location: str) -> None:
    """Reset the USB device at LOCATION (as USBDEVFS_RESET): it leaves the bus and enumerates again."""
    _send(ctx, {"cmd": "usb-reset", "location": location})


@main.command("power-cycle")
@click.argument("location")
@click.pass_context
def power_cycle(ctx: click.Context, location: str) -> None:
    """Switch the hub port of LOCATION off and on: the modem restarts from cold."""
    _send(ctx, {"cmd": "power-cycle", "location": location})


@main.command()
@click.pass_context
def info(ctx: click.Context) -> None:
    """The running bank's ready info."""
    _send(ctx, {"cmd": "info"})


if __name__ == "__main__":
    main()
