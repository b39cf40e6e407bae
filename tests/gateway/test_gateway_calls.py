"""Call correlation: RING, +CRING and +CLIP in every order give exactly one hang-up per call."""

from __future__ import annotations

import pytest

from simhost.gateway.calls import CallCorrelator


def run(events: list[tuple[float, str]]) -> list[tuple[float, str | None, bool]]:
    """Feed (time, event) pairs; return (time, caller, withheld) for each hang-up decided."""
    c = CallCorrelator(clip_wait_s=1.5, quiet_s=6.0)
    hangups = []
    for now, ev in events:
        if ev == "RING":
            d = c.ring(now)
        elif ev == "TICK":
            d = c.tick(now)
        elif ev.startswith("CLIP:"):
            number = ev[5:]
            d = c.clip(now, number, 145 if number else 128, 0 if number else 1)
        else:
            raise AssertionError(ev)
        if d is not None and d.hang_up:
            c.hung_up(d.call, now)
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
        pytest.param([(0, "CLIP:+7001"), (20, "CLIP:+7002")], [(0, "+7001", False), (20, "+7002", False)],
                     id="two-calls-apart"),
        pytest.param([(0, "CLIP:+7001"), (3, "RING"), (8, "RING"), (13.9, "RING"), (20.0, "CLIP:+7001")],
                     [(0, "+7001", False), (20.0, "+7001", False)], id="late-rings-absorbed-then-new-call"),
        pytest.param([(0, "RING"), (0.01, "CLIP:+7001"), (2, "RING"), (2.01, "CLIP:+7002")],
                     [(0.01, "+7001", False), (2.01, "+7002", False)], id="another-caller-right-after"),
    ],
)
def test_call_correlation(events: list[tuple[float, str]], expected: list[tuple[float, str | None, bool]]) -> None:
    assert run(events) == expected


def test_deadline_only_while_waiting_for_clip() -> None:
    c = CallCorrelator(clip_wait_s=1.5)
    assert c.next_deadline() is None
    c.ring(10.0)
    assert c.next_deadline() == 11.5
    d = c.clip(10.2, "+7916", 145, 0)
    assert d is not None
    c.hung_up(d.call, 10.3)
    assert c.next_deadline() is None
