"""Scraping a metrics endpoint over HTTP, as Prometheus does, and reading its samples."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SCRAPE_EVERY_S = 0.05


def scrape(url: str) -> Samples:
    """Every sample the endpoint serves, by name and labels."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert answer.headers.get_content_type() == "text/plain"
        text = answer.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def scrape_until(url: str, predicate: Callable[[Samples], bool], timeout_s: float = 10.0) -> Samples:
    """Scrape until `predicate` holds for the samples (a counter moved by another process shows on a later scrape,
    as Prometheus would see it; an endpoint not listening yet is scraped again); the last samples either way."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            samples = scrape(url)
        except OSError:
            if time.monotonic() >= deadline:
                raise
            samples = {}
        if predicate(samples) or time.monotonic() >= deadline:
            return samples
        time.sleep(SCRAPE_EVERY_S)
