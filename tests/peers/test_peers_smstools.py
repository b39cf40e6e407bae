"""smstools3 (incoming_utf8, decode_unicode_text, internal_combine) reads the virtual bank."""

from __future__ import annotations

import pytest

from tests.peers.peerlib import (
    SPECS,
    PeerContract,
    SessionResult,
    Smstools,
    session_fixture,
)

session = session_fixture(Smstools)


class TestSmstools(PeerContract):
    peer_cls = Smstools

    @pytest.mark.parametrize("kind", [s.kind for s in SPECS])
    def test_headers(self, session: SessionResult, kind: str) -> None:
        got = session.received.get(kind)
        assert got is not None, session.diagnostics()
        headers = got.extra["headers"]
        toa = "D0 alphanumeric" if kind == "alphanumeric" else "91 international"
        assert headers["From_TOA"].startswith(toa)
        assert headers["Alphabet"] == "UTF-8"

    def test_peer_read_exactly_the_pdus_sent(self, session: SessionResult) -> None:
        sent = sorted(p for pdus in session.sent.values() for p in pdus)
        assert sorted(session.pdus_read or []) == sent, session.diagnostics()
