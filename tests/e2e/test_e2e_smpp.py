"""End to end over SMPP: an SMS the virtual bank receives reaches the customer bound with python-smpplib as a
deliver_sm; the customer's submit_sm goes out through the modem and its receipt comes back when the network
reports it delivered."""

from __future__ import annotations

import socket
import threading

from tests.e2e.test_e2e_routing import stop
from tests.e2e.test_e2e_sending import RECIPIENT, SendSite, site
from tests.smpp.smpplib_rig import PASSWORD, Customer, text_of

__all__ = ["site"]  # the fixture, used by name
WAIT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_message_and_a_send_over_smpp_through_the_whole_pipeline(site: SendSite) -> None:
    out = site.cli("owner", "forward", "acme", "--smpp-system-id", "acme", "--smpp-password", PASSWORD)
    assert out.returncode == 0, out.stderr
    port = _free_port()
    delivery = site.proc.spawn("delivery", "--smpp-listen", f"127.0.0.1:{port}")
    customer = None
    try:
        pause = threading.Event()
        for _ in range(int(WAIT_S / 0.05)):  # another process's listening socket: nothing to wait on but it
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            pause.wait(0.05)
        customer = Customer(port)
        site.modem.sms("+79035550001", "Привет из банка")
        assert customer.read_until(lambda: len(customer.got.pdus) == 1, WAIT_S), site.logs()
        (got,) = customer.got.pdus
        assert text_of([got]) == "Привет из банка"
        assert (got.source_addr.decode(), got.destination_addr.decode()) == ("79035550001", site.number.lstrip("+"))

        customer.client.send_message(source_addr_ton=1, source_addr=site.number.lstrip("+"), dest_addr_ton=1,
                                     destination_addr=RECIPIENT.lstrip("+"), short_message=b"Your code is 1234",
                                     registered_delivery=1)
        assert customer.read_until(lambda: len(customer.sent) == 1, WAIT_S)
        send_id = customer.sent[0].message_id.decode()
        site.wait_states(send_id, "sent")
        site.modem.report("delivered", to=RECIPIENT)
        assert customer.read_until(lambda: len(customer.got.pdus) == 2, WAIT_S), site.logs()
        receipt = customer.got.pdus[1]
        assert receipt.esm_class == 0x04
        assert f"id:{send_id} ".encode() in receipt.short_message
        assert b"stat:DELIVRD" in receipt.short_message
    finally:
        if customer is not None:
            customer.close()
        stop(delivery)
