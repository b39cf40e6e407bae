"""`simhost pdu`: inspect SMS PDUs from the command line (`pdu decode HEX` prints JSON)."""

from __future__ import annotations

import json

import click

from simhost_drivers.pdu import PduError, decode_pdu


def _hex_octets(ctx: click.Context, param: click.Parameter, value: str) -> bytes:
    text = "".join(value.split())
    if not text:
        raise click.BadParameter("the PDU is empty")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter(
            "not hexadecimal octets (pairs of 0-9/A-F, as AT+CMGR/+CMGL print them)"
        ) from None


@click.group()
def pdu() -> None:
    """Inspect SMS PDUs (3GPP TS 23.040 / 23.038)."""


@pdu.command()
@click.argument("hex_pdu", metavar="HEX", callback=_hex_octets)
@click.option("--no-smsc", is_flag=True,
              help="The PDU starts at the TPDU, with no SMSC address field (as AT+CMGS takes it).")
def decode(hex_pdu: bytes, no_smsc: bool) -> None:
    """Decode the PDU HEX (SMS-DELIVER, SMS-STATUS-REPORT or SMS-SUBMIT) and print it as JSON."""
    try:
        decoded = decode_pdu(hex_pdu, smsc_included=not no_smsc)
    except PduError as exc:
        raise click.ClickException(f"malformed PDU: {exc}") from None
    click.echo(json.dumps(decoded.to_json(), ensure_ascii=False, indent=2))
