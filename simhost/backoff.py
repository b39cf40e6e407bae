"""How long to wait before trying again: doubling waits with jitter, reset by a run that went well."""

from __future__ import annotations

import random
from dataclasses import dataclass

DOUBLINGS_MAX = 16


@dataclass
class Backoff:
    """Consecutive failures of one thing (a port's session, a gateway process) and the wait after each.

    The n-th failure in a row waits `first_s` * 2^(n-1), at most `max_s`, give or take `jitter` (a fraction, so
    that many ports failing together do not retry together); a failure after a run of `stable_s` or more counts
    as the first again.
    """

    first_s: float = 1.0
    max_s: float = 60.0
    jitter: float = 0.25
    stable_s: float = 60.0
    failures: int = 0

    def failed(self, ran_s: float) -> float:
        """Count a failure after a run of `ran_s` seconds; the wait before the next try."""
        self.failures = 1 if ran_s >= self.stable_s else self.failures + 1
        delay: float = min(self.max_s, self.first_s * 2.0 ** min(self.failures - 1, DOUBLINGS_MAX))
        return delay * (1 + random.uniform(-self.jitter, self.jitter))

    def succeeded(self) -> None:
        self.failures = 0
