"""Property tests of the AT line framer and of the channel's reader fed random bytes."""

from __future__ import annotations

import itertools
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from simhost_drivers.at import AtChannel
from simhost_drivers.at.framing import Junk, Line, LineFramer, Prompt
from tests.drivers.fakemodem import FakeModem, frame

PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
WAIT_S = 5.0

lines_st = st.lists(st.text(alphabet=PRINTABLE, min_size=1, max_size=40).filter(str.strip),
                    max_size=10)
terminators_st = st.sampled_from([b"\r\n", b"\r", b"\n", b"\r\n\r\n", b"\n\r"])


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@given(st.lists(st.binary(max_size=200), max_size=20), st.booleans())
def test_framer_never_raises_and_lines_are_clean(chunks: list[bytes], prompt: bool) -> None:
    framer = LineFramer(max_line_bytes=64)
    framer.expect_prompt = prompt
    for chunk in chunks:
        for event in framer.feed(chunk):
            assert isinstance(event, Line | Prompt | Junk)
            if isinstance(event, Line):
                assert event.text
                assert event.text == event.text.strip()
                assert all(c == "\t" or " " <= c <= "~" for c in event.text)


@given(lines_st, st.lists(terminators_st, min_size=1), st.lists(st.integers(min_value=0)))
def test_framer_recovers_lines_across_any_chunking(lines: list[str], terminators: list[bytes],
                                                   cuts: list[int]) -> None:
    data = b"".join(b"%s%s" % (line.encode(), terminators[i % len(terminators)])
                    for i, line in enumerate(lines))
    framer = LineFramer()
    events = [e for chunk in chunked(data, cuts) for e in framer.feed(chunk)]
    assert [e.text for e in events if isinstance(e, Line)] == [line.strip() for line in lines]
    assert not [e for e in events if not isinstance(e, Line)]


@given(st.binary(max_size=300), lines_st, st.lists(st.integers(min_value=0)))
def test_framer_resynchronises_after_junk(junk: bytes, lines: list[str], cuts: list[int]) -> None:
    data = junk + b"\r\n" + b"".join(b"%s\r\n" % line.encode() for line in lines)
    framer = LineFramer(max_line_bytes=128)
    events = [e for chunk in chunked(data, cuts) for e in framer.feed(chunk)]
    texts = [e.text for e in events if isinstance(e, Line)]
    expected = [line.strip() for line in lines]
    assert texts[len(texts) - len(expected):] == expected


def test_prompt_needs_no_line_end() -> None:
    framer = LineFramer()
    framer.expect_prompt = True
    assert framer.feed(b"\r\n>") == [Prompt()]
    framer.expect_prompt = False
    assert framer.feed(b" \r\n> \r\n") == [Line(">")]


def test_channel_reader_survives_random_bytes() -> None:
    with FakeModem() as modem, AtChannel.open(modem.path, name="fuzz") as channel:
        modem.on("AT+CSQ", "+CSQ: 11,99", "OK")
        seen = threading.Condition()
        sentinels: list[str] = []

        def sentinel(line: str, pdu: str | None) -> None:
            with seen:
                sentinels.append(line)
                seen.notify_all()

        channel.register_urc("+SENTINEL:", sentinel)

        @settings(max_examples=60, deadline=None)
        @given(st.lists(st.binary(max_size=300), max_size=6))
        def feed(chunks: list[bytes]) -> None:
            for chunk in chunks:
                modem.send(chunk)
            mark = f"+SENTINEL: {len(sentinels)}"
            # A line end first: random bytes may have left a partial line behind.
            modem.send(b"\r\n" + frame(mark))
            with seen:
                assert seen.wait_for(lambda: mark in sentinels, WAIT_S)
            response = channel.command("AT+CSQ", expect=("+CSQ:",))
            assert response.lines == ("+CSQ: 11,99",)

        feed()
        assert not channel.closed
