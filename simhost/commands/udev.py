"""`simhost udev`: the udev rules that name modems by USB location, and the serial ports plugged in now."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

RULES_PACKAGE = "simhost_udev"  # udev/ in the repository
RULES_FILE = "99-simhost.rules"
STABLE_DIRS = (Path("/dev/simhost"), Path("/dev/serial/by-path"), Path("/dev/serial/by-id"))


@click.group()
def udev() -> None:
    """Stable device names for modems (by USB location, never ttyUSBn)."""


@udev.command("rules")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="Write the rules to this file (e.g. /etc/udev/rules.d/99-simhost.rules) instead of stdout.")
def udev_rules(out: Path | None) -> None:
    """Print the udev rules giving each modem interface /dev/simhost/<ID_PATH>-if<N>.

    After installing them: `udevadm control --reload && udevadm trigger`, then register ports with
    those paths (`simhost port add NAME --url /dev/simhost/...`).
    """
    try:
        text = resources.files(RULES_PACKAGE).joinpath(RULES_FILE).read_text(encoding="utf-8")
    except (ImportError, OSError) as exc:
        raise click.ClickException(f"cannot read the shipped rules ({RULES_PACKAGE}/{RULES_FILE}): {exc}") from None
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"wrote {out}; now run: udevadm control --reload && udevadm trigger", err=True)


def _scan(dirs: list[Path]) -> list[dict[str, Any]]:
    found = []
    for d in dirs:
        if not d.is_dir():
            continue
        for link in sorted(d.iterdir()):
            if link.name.startswith(".") or not (link.is_symlink() or link.is_char_device()):
                continue
            target = Path(os.path.realpath(link))
            if not target.exists():
                continue
            found.append({"path": str(link), "device": str(target)})
    return found


@udev.command("ports")
@click.option("--dev", "dev_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory of stable names to scan (repeatable; default /dev/simhost, /dev/serial/by-path, "
                   "/dev/serial/by-id).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def udev_ports(obj: Any, dev_dirs: tuple[Path, ...], as_json: bool) -> None:
    """List serial devices by their stable names, and which registered port uses each.

    A registered port whose URL is a bare /dev/ttyUSBn is flagged: that name changes when modems
    are replugged or the host reboots.
    """
    from simhost.commands.common import echo_json
    from simhost.models import Port

    found = _scan(list(dev_dirs) or list(STABLE_DIRS))
    with obj.sessions()() as s:
        ports = {p.url: p.name for p in s.scalars(select(Port))}
    by_device: dict[str, str] = {}
    for url, name in ports.items():
        if url.startswith("/dev/"):
            by_device[os.path.realpath(url)] = name
    for item in found:
        item["port"] = ports.get(item["path"]) or by_device.get(item["device"])
    unstable = sorted(n for url, n in ports.items() if url.startswith(("/dev/ttyUSB", "/dev/ttyACM")))
    if as_json:
        echo_json({"devices": found, "unstable_ports": unstable})
        return
    if not found:
        click.echo("no serial devices found under " + ", ".join(str(d) for d in (dev_dirs or STABLE_DIRS)))
    for item in found:
        port = item["port"] or "-"
        click.echo(f"{port:<12} {item['path']} -> {item['device']}")
    for name in unstable:
        click.echo(f"warning: port {name} uses a ttyUSB/ttyACM name, which changes on replug; "
                   "use its /dev/simhost/... or /dev/serial/by-path/... name", err=True)
