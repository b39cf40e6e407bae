"""Property tests of how parts pending under one concatenation key are grouped into messages: every part in
exactly one message, no sequence number twice in a message, and messages sent far apart (a reference reused
after a wrap) never mixed, whatever arrives and in whatever order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.sms import encode_deliver
from simhost.gateway.spool import PendingPart, content_id, group_parts

SENT = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
STORED = datetime(2026, 11, 25, 9, 0)
TEXT = "Часть сообщения, которое не помещается в одну SMS и приходит по частям. " * 3  # three UCS2 parts


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[PendingPart], dict[str, int]]:
    """Parts of 1-4 messages with one reference, days apart, some parts missing, in a random order."""
    count = draw(st.integers(1, 4))
    parts: list[PendingPart] = []
    message_of: dict[str, int] = {}
    for m in range(count):
        pdus = encode_deliver("+79161234567", f"{m} {TEXT}", reference=42, scts=SENT + timedelta(days=3 * m))
        present = draw(st.lists(st.sampled_from(range(len(pdus))), min_size=1, unique=True))
        for seq0 in present:
            part_id = content_id("iccid", pdus[seq0])
            message_of[part_id] = m
            parts.append(PendingPart(part_id, "p", "iccid", None, pdus[seq0], seq0 + 1, len(pdus), STORED))
    order = draw(st.permutations(parts))
    stored = [p._replace(received_at=STORED + timedelta(seconds=i)) for i, p in enumerate(order)]
    return stored, message_of


@settings(max_examples=60, deadline=None)
@given(arrivals())
def test_grouping_keeps_every_part_once_and_never_mixes_messages(
    case: tuple[list[PendingPart], dict[str, int]],
) -> None:
    parts, message_of = case
    groups = group_parts(parts)
    placed = [p.id for g in groups for p in g]
    assert sorted(placed) == sorted(p.id for p in parts)  # each part in exactly one message
    for g in groups:
        seqs = [p.seq for p in g]
        assert seqs == sorted(set(seqs))  # in order, no sequence number twice
        assert len({message_of[p.id] for p in g}) == 1  # sent days apart: never put together
    # a message all of whose parts arrived comes out whole
    complete = {m for m in set(message_of.values())
                if sum(1 for v in message_of.values() if v == m) == parts[0].total}
    whole = {message_of[g[0].id] for g in groups if len(g) == parts[0].total}
    assert complete <= whole
