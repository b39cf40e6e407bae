"""`simhost config show`: the settings in effect and where each came from, secrets hidden."""

from __future__ import annotations

from dataclasses import asdict

import click

from simhost.commands.common import Context, echo_json, echo_table, json_option
from simhost.config import DEFAULT_CONFIG_PATH, SETTINGS, LoadedSettings, Value


@click.group()
def config() -> None:
    """The settings: flags override the environment, which overrides the config file, which overrides the
    defaults."""


@config.command("show")
@json_option
@click.pass_obj
def show(obj: Context, as_json: bool) -> None:
    """Show every setting in effect (by its key in the config file), where it came from (default, file PATH,
    env VAR, flag --OPTION or password file PATH) and its environment variable; secrets show as ***. The
    balance checks of the file's [[ussd]] tables follow.

    It reads no database and connects to nothing.
    """
    loaded = obj.loaded if obj.loaded is not None else LoadedSettings(obj.settings, {})
    rows = []
    for setting in SETTINGS:
        value: Value = getattr(loaded.settings, setting.field)
        source = loaded.sources.get(setting.field, "unknown")
        # a default is no secret (the routers' group "routers" is not)
        rows.append((setting.key, value if source == "default" else setting.masked(value), source, setting.env))
    if as_json:
        echo_json({
            "config_file": None if loaded.config_file is None else {
                "path": loaded.config_file, "from": loaded.config_named_by},
            "settings": {key: {"value": value, "from": source, "env": env} for key, value, source, env in rows},
            "ussd": [asdict(check) for check in loaded.settings.ussd],
        })
        return
    if loaded.config_file is None:
        click.echo(f"config file: none ({DEFAULT_CONFIG_PATH} does not exist)")
    else:
        click.echo(f"config file: {loaded.config_file} ({loaded.config_named_by})")
    echo_table(("KEY", "VALUE", "FROM", "ENV"), [(key, _text(value), source, env) for key, value, source, env in rows])
    for check in loaded.settings.ussd:
        click.echo(f"[[ussd]] network {check.network}: {check.code} every {check.interval_s:g} s, amount "
                   f"{check.amount}, timeout {check.timeout_s:g} s")


def _text(value: Value) -> str | None:
    """`value` as the config file would spell it; None (unset) shows as `-`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return None if value is None else str(value)
