"""gammu-smsd (SQLite backend) reads the virtual bank: every message kind and a call."""

from __future__ import annotations

import pytest

from tests.peers.peerlib import (
    SPEC_BY_KIND,
    GammuSmsd,
    PeerContract,
    SessionResult,
    session_fixture,
)

session = session_fixture(GammuSmsd)


class TestGammuSmsd(PeerContract):
    peer_cls = GammuSmsd

    @pytest.mark.parametrize(("kind", "coding"), [
        ("gsm7_extension", "Default_No_Compression"), ("ucs2_cyrillic", "Unicode_No_Compression"),
        ("emoji", "Unicode_No_Compression"), ("multipart_8bit", "Default_No_Compression"),
        ("multipart_16bit", "Default_No_Compression"), ("multipart_ucs2", "Unicode_No_Compression"),
        ("alphanumeric", "Default_No_Compression"),
    ])
    def test_coding_seen(self, session: SessionResult, kind: str, coding: str) -> None:
        got = session.received.get(kind)
        assert got is not None, session.diagnostics()
        assert got.extra["coding"] == [coding] * SPEC_BY_KIND[kind].parts

    @pytest.mark.parametrize(("kind", "prefix"), [
        ("multipart_8bit", "050003"), ("multipart_16bit", "060804"), ("multipart_ucs2", "050003"),
    ])
    def test_concatenation_header_seen(self, session: SessionResult, kind: str,
                                       prefix: str) -> None:
        got = session.received.get(kind)
        assert got is not None, session.diagnostics()
        udhs = got.extra["udh"]
        ref = udhs[0][len(prefix):-4]
        assert udhs == [f"{prefix}{ref}03{seq:02X}" for seq in (1, 2, 3)]

    def test_every_insert_succeeded_first_time(self, session: SessionResult) -> None:
        # a failed INSERT is retried after a reconnect, which would hide a harness that reads
        # the database while gammu writes it
        assert "SQL failed" not in session.peer_log, session.diagnostics()
