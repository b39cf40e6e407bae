"""`simhost port scan`: what answers on the serial ports, which of them are registered, how to add the rest."""

from __future__ import annotations

import glob
import logging
import os
import re
import shlex
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import click
from rich.console import Console
from rich.progress import Progress
from serial.tools.list_ports import comports
from sqlalchemy import select

from simhost.commands.common import Context, echo_json, echo_table
from simhost.inputs import PORT_NAME_MAX
from simhost.models import Port
from simhost_drivers.at.errors import PortBusyError, PortOpenError
from simhost_drivers.modems.probe import PortProbe, probe_port

STABLE_NAMES = ("/dev/simhost/*", "/dev/serial/by-path/*")  # udev's names by USB location, ours first
PARALLEL_PROBES = 16
NOT_IN_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class ScannedPort:
    """One path as the scan found it; `outcome` is `answers`, `no answer`, `in use` or `cannot open`."""

    path: str
    outcome: str
    probe: PortProbe | None = None
    registered_as: str | None = None
    error: str | None = None
    add_command: str | None = None

    def to_json(self) -> dict[str, object]:
        p = self.probe or PortProbe(answers=False)
        return {"path": self.path, "device": os.path.realpath(self.path), "outcome": self.outcome,
                "answers": p.answers, "manufacturer": p.manufacturer, "model": p.model, "driver": p.driver,
                "imei": p.imei, "iccid": p.iccid, "registered_as": self.registered_as, "error": self.error or p.error,
                "add_command": self.add_command}


def candidate_paths(given: Sequence[str]) -> list[str]:
    """The paths given, udev's stable names and pyserial's list of ports, each device once under its first name."""
    found: dict[str, str] = {}
    stable = sorted(p for pattern in STABLE_NAMES for p in glob.glob(pattern))
    for path in (*given, *stable, *(p.device for p in comports())):
        found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def _probe(path: str, baudrate: int) -> ScannedPort:
    try:
        probe = probe_port(path, baudrate=baudrate)
    except PortBusyError:
        return ScannedPort(path, "in use", error="in use by a running gateway (the device is locked)")
    except PortOpenError as exc:
        return ScannedPort(path, "cannot open", error=str(exc))
    return ScannedPort(path, "answers" if probe.answers else "no answer", probe)


def _suggested_name(path: str, taken: set[str]) -> str:
    base = NOT_IN_NAME_RE.sub("-", os.path.basename(path)).strip("-.")[:PORT_NAME_MAX - 4] or "port"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


def _stable_alias(path: str) -> str:
    """A udev name by USB location for the device at `path`, if there is one (register those, never ttyUSBn)."""
    device = os.path.realpath(path)
    return next((p for pattern in STABLE_NAMES for p in sorted(glob.glob(pattern))
                 if os.path.realpath(p) == device), path)


def scan_ports(obj: Context, given: Sequence[str], baudrate: int,
               progress: Callable[[int, int], None] | None = None) -> list[ScannedPort]:
    """Probe every candidate path at once (a port that says nothing costs its timeout, not the others')."""
    with obj.sessions()() as s:
        ports = list(s.execute(select(Port.name, Port.url)).tuples())
    by_device = {os.path.realpath(url): name for name, url in ports if "://" not in url}
    by_url = {url: name for name, url in ports}
    paths = candidate_paths(given)
    done: dict[str, ScannedPort] = {}
    if progress is not None:
        progress(0, len(paths))
    with ThreadPoolExecutor(max_workers=min(PARALLEL_PROBES, max(1, len(paths)))) as pool:
        for future in as_completed([pool.submit(_probe, path, baudrate) for path in paths]):
            found = future.result()
            done[found.path] = found
            if progress is not None:
                progress(len(done), len(paths))
    taken = {name for name, _url in ports}
    out = []
    for path in paths:
        found = done[path]
        registered = by_url.get(path) or by_device.get(os.path.realpath(path))
        command = None
        if registered is None and found.outcome == "answers":
            url = _stable_alias(path)
            command = shlex.join(["simhost", "port", "add", _suggested_name(url, taken), "--url", url])
        out.append(ScannedPort(found.path, found.outcome, found.probe, registered, found.error, command))
    return out


def _model(p: PortProbe) -> str | None:
    return " ".join(filter(None, (p.manufacturer, p.model))) or None


def scan_command(obj: Context, given: Sequence[str], baudrate: int, as_json: bool) -> None:
    """`simhost port scan`: a progress bar on a terminal, then a line per port and the commands to add new ones."""
    quiet = logging.getLogger("simhost_drivers")
    if not quiet.isEnabledFor(logging.INFO):
        quiet.setLevel(logging.ERROR)  # a silent port's timeouts are what the table reports
    console = Console(stderr=True)
    if console.is_terminal and not as_json:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("probing serial ports", total=None)
            found = scan_ports(obj, given, baudrate, lambda n, total: bar.update(task, completed=n, total=total))
    else:
        found = scan_ports(obj, given, baudrate)
    if as_json:
        echo_json([f.to_json() for f in found])
        return
    if not found:
        click.echo("no serial ports found (give device paths as arguments to probe them)")
        return
    rows = []
    for f in found:
        p = f.probe or PortProbe(answers=False)
        answer = {"answers": "yes", "no answer": "no answer"}.get(f.outcome, f.error)
        port = f"registered as {f.registered_as}" if f.registered_as else "new"
        rows.append((f.path, answer, _model(p), p.imei, p.iccid, port))
    echo_table(("PATH", "AT", "MODEL", "IMEI", "ICCID", "PORT"), rows)
    commands = [f.add_command for f in found if f.add_command]
    if commands:
        click.echo("\nto register the new ones:")
        for command in commands:
            click.echo(f"  {command}")
