"""Call correlation: RING, +CRING, +CLIP, NO CARRIER and AT+CLCC answers in every order give exactly one hang-up
per call."""

from __future__ import annotations

import pytest

from simhost.gateway.calls import CallCorrelator, CallDecision
from simhost_drivers.modems import CallEntry

ANSWER_S = 0.05  # the hang-up command's round trip: its final result is read this long after it is sent


def incoming(number: str) -> CallEntry:
    return CallEntry(1, 1, 4, 0, False, number, (145 if number.startswith("+") else 129) if number else 128)


def run(events: list[tuple[float, str]]) -> list[tuple[float, str | None, bool]]:
    """Feed (time, event) pairs; return (time, caller, withheld) for each hang-up decided.

    Events: RING, CLIP:<number> (empty: withheld), TICK, NOCARRIER are lines the modem sends (or the clock);
    CALL:<number> puts a ringing call in the modem's AT+CLCC answer, NOCLCC makes the modem refuse AT+CLCC,
    REFUSE makes it refuse the next hang-up (the call keeps ringing). A hang-up decided at t is answered at
    t + ANSWER_S and empties the AT+CLCC answer unless refused.
    """
    c = CallCorrelator(clip_wait_s=1.5, repeat_window_s=2.0)
    listed: list[CallEntry] | None = []
    refuse = False
    hangups = []
    for now, ev in events:
        d: CallDecision | None
        if ev == "RING":
            d = c.ring(now)
        elif ev == "TICK":
            d = c.tick(now)
        elif ev == "NOCARRIER":
            c.call_ended(now)
            d = None
        elif ev == "NOCLCC":
            listed = None
            d = None
        elif ev == "REFUSE":
            refuse = True
            d = None
        elif ev.startswith("CALL:"):
            assert listed is not None
            listed = [incoming(ev[5:])]
            d = None
        elif ev.startswith("CLIP:"):
            number = ev[5:]
            d = c.clip(now, number, 145 if number else 128, 0 if number else 1)
        else:
            raise AssertionError(ev)
        if d is not None and d.check:
            d = c.listed(listed, now + ANSWER_S / 2)
        if d is not None and d.hang_up:
            c.hung_up(d.call, now + ANSWER_S, refused=refuse)
            if listed is not None and not refuse:
                listed = []
            refuse = False
            hangups.append((now, d.call.caller, d.call.withheld))
    return hangups


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([(0, "RING"), (0.01, "CLIP:+79161234567")], [(0.01, "+79161234567", False)],
                     id="ring-then-clip"),
        pytest.param([(0, "CLIP:+79161234567"), (0.01, "RING")], [(0, "+79161234567", False)],
                     id="clip-first"),
        pytest.param([(0, "CLIP:+79161234567")], [(0, "+79161234567", False)], id="clip-alone"),
        pytest.param([(0, "RING"), (0.1, "CLIP:+7916"), (2, "RING"), (2.01, "CLIP:+7916"),
                      (4, "RING")], [(0.1, "+7916", False)], id="repeated-rings-one-call"),
        pytest.param([(0, "RING"), (0.02, "CLIP:")], [(0.02, None, True)], id="withheld"),
        pytest.param([(0, "RING"), (1.0, "TICK"), (1.6, "TICK"), (2.0, "RING")], [(1.6, None, True)],
                     id="no-clip-hangs-up-after-wait"),
        pytest.param([(0, "CLIP:+7001"), (20, "CALL:+7002"), (20, "CLIP:+7002")],
                     [(0, "+7001", False), (20, "+7002", False)], id="two-calls-apart"),
        pytest.param([(0, "CLIP:+7001"), (0.2, "CALL:"), (0.2, "CLIP:+7001"), (0.3, "CLIP:")],
                     [(0, "+7001", False), (0.2, None, True)], id="repeat-of-the-last-caller-as-a-withheld-one-rings"),
        pytest.param([(0, "CLIP:"), (0.2, "CALL:+7001"), (0.2, "CLIP:"), (0.3, "CLIP:+7001")],
                     [(0, None, True), (0.2, "+7001", False)], id="withheld-repeat-as-a-numbered-one-rings"),
        pytest.param([(0, "CLIP:+7001"), (3, "RING"), (8, "RING"), (13.9, "RING"), (20.0, "CALL:+7001"),
                      (20.0, "CLIP:+7001")],
                     [(0, "+7001", False), (20.0, "+7001", False)], id="late-rings-ignored-then-new-call"),
        pytest.param([(0, "RING"), (0.01, "CLIP:+7001"), (2, "CALL:+7002"), (2, "RING"), (2.01, "CLIP:+7002")],
                     [(0.01, "+7001", False), (2, "+7002", False)], id="another-caller-right-after"),
        # the modem's lines read before the hang-up's answer are the hung-up call's, whatever AT+CLCC would say
        pytest.param([(0, "RING"), (0.01, "CLIP:+7001"), (0.02, "CALL:+7002"), (0.03, "RING"),
                      (0.04, "CLIP:+7001")], [(0.01, "+7001", False)], id="repeat-before-the-answer"),
        pytest.param([(0, "RING"), (0.01, "CLIP:+7001"), (0.07, "RING"), (0.07, "CLIP:+7001")],
                     [(0.01, "+7001", False)], id="repeat-after-the-answer-none-listed"),
        pytest.param([(0, "RING"), (0.01, "CLIP:+7001"), (1.0, "CALL:+7001"), (1.0, "RING"),
                      (1.01, "CLIP:+7001"), (3.0, "RING")],
                     [(0.01, "+7001", False), (1.0, "+7001", False)], id="same-number-a-second-later"),
        pytest.param([(0, "CLIP:+7001"), (0.06, "CALL:"), (0.06, "RING"), (0.07, "CLIP:")],
                     [(0, "+7001", False), (0.06, None, True)], id="withheld-right-after-numbered"),
        pytest.param([(0, "CLIP:"), (0.06, "CALL:+7001"), (0.06, "CLIP:+7001"), (0.07, "RING")],
                     [(0, None, True), (0.06, "+7001", False)], id="numbered-right-after-withheld"),
        pytest.param([(0, "CLIP:"), (0.06, "CALL:"), (0.06, "CLIP:")],
                     [(0, None, True), (0.06, None, True)], id="withheld-twice"),
        pytest.param([(0, "CLIP:+7001"), (0.06, "CALL:+7001"), (0.06, "RING"), (0.07, "NOCARRIER"),
                      (0.08, "CLIP:+7001"), (0.2, "NOCARRIER")],
                     [(0, "+7001", False), (0.06, "+7001", False)], id="new-call-while-no-carrier-arrives"),
        # a hang-up the modem refused leaves the call ringing: its next rings are not a new call
        pytest.param([(0, "CALL:+7001"), (0, "REFUSE"), (0, "CLIP:+7001"), (2, "RING"), (2.01, "CLIP:+7001")],
                     [(0, "+7001", False)], id="refused-hang-up-still-ringing"),
        pytest.param([(0, "CALL:+7001"), (0, "REFUSE"), (0, "CLIP:+7001"), (0.5, "NOCARRIER"), (1.0, "CALL:+7001"),
                      (1.0, "RING")], [(0, "+7001", False), (1.0, "+7001", False)],
                     id="refused-hang-up-then-ended-then-new"),
        # a modem that refuses AT+CLCC: what could repeat the hung-up call within the window is taken as repeat
        pytest.param([(0, "NOCLCC"), (0, "CLIP:+7001"), (0.1, "RING"), (0.1, "CLIP:+7001"), (1.0, "CLIP:"),
                      (5, "CLIP:+7001")], [(0, "+7001", False), (1.0, None, True), (5, "+7001", False)],
                     id="no-clcc-window"),
        pytest.param([(0, "NOCLCC"), (0, "CLIP:+7001"), (0.1, "CLIP:+7002")],
                     [(0, "+7001", False), (0.1, "+7002", False)], id="no-clcc-other-caller"),
        pytest.param([(0, "NOCLCC"), (0, "CLIP:+7001"), (0.2, "NOCARRIER"), (0.5, "CLIP:+7001")],
                     [(0, "+7001", False), (0.5, "+7001", False)], id="no-clcc-no-carrier-closes-the-call"),
        pytest.param([(0, "NOCLCC"), (0, "CLIP:+7001"), (3, "RING"), (3.01, "CLIP:+7002")],
                     [(0, "+7001", False), (3.01, "+7002", False)], id="no-clcc-ring-after-the-window"),
        pytest.param([(0, "NOCLCC"), (0, "CLIP:+7001"), (3, "RING"), (4.0, "TICK"), (4.6, "TICK")],
                     [(0, "+7001", False), (4.6, None, True)], id="no-clcc-ring-without-clip"),
    ],
)
def test_call_correlation(events: list[tuple[float, str]], expected: list[tuple[float, str | None, bool]]) -> None:
    assert run(events) == expected


def test_checked_ring_takes_the_number_from_clcc() -> None:
    c = CallCorrelator()
    first = c.clip(0.0, "+7001", 145, 0)
    assert first is not None
    assert first.hang_up
    c.hung_up(first.call, 0.05)
    d = c.ring(1.0)
    assert d is not None
    assert d.check
    assert not d.hang_up
    assert c.ring(1.001) is None  # nothing more while the answer is awaited
    d = c.listed([CallEntry(1, 0, 0, 0, False, "112", 129), incoming("+7002")], 1.01)
    assert d is not None
    assert d.hang_up
    assert (d.call.caller, d.call.caller_type, d.call.withheld) == ("+7002", 145, False)


def test_session_start_hangs_up_a_listed_call_only() -> None:
    c = CallCorrelator()
    assert c.listed([], 0.0) is None
    assert c.listed(None, 0.0) is None
    assert c.listed([CallEntry(1, 0, 2, 0, False, "112", 129)], 0.0) is None  # one we dial is no incoming call
    d = c.listed([incoming("+7001")], 1.0)
    assert d is not None
    assert d.hang_up
    assert d.call.caller == "+7001"
    c.hung_up(d.call, 1.05)
    # its RING and +CLIP queued while the port came up were read before the hang-up's answer
    assert c.ring(1.02) is None
    assert c.clip(1.03, "+7001", 145, 0) is None


def test_deadline_only_while_waiting_for_clip() -> None:
    c = CallCorrelator(clip_wait_s=1.5)
    assert c.next_deadline() is None
    c.ring(10.0)
    assert c.next_deadline() == 11.5
    d = c.clip(10.2, "+7916", 145, 0)
    assert d is not None
    c.hung_up(d.call, 10.3)
    assert c.next_deadline() is None
