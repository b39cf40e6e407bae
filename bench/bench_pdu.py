"""Benchmark: PDU decode and SMS-SUBMIT encode throughput, ours beside python-gsmmodem-new's decoder."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from gsmmodem.pdu import decodeSmsPdu

from simhost_drivers.pdu import decode_pdu, encode_submit

VECTORS_PATH = Path(__file__).resolve().parents[1] / "tests" / "data" / "pdu-vectors.jsonl"
ROUNDS = 200


def _rate(label: str, items: list[str], func: Callable[[str], object]) -> None:
    start = time.perf_counter()
    done = 0
    for _ in range(ROUNDS):
        for item in items:
            # gsmmodem raises on a few vectors: the attempt counts all the same.
            with contextlib.suppress(Exception):
                func(item)
            done += 1
    elapsed = time.perf_counter() - start
    print(f"{label:<34} {done / elapsed:>10,.0f} /s  {elapsed / done * 1e6:>7.1f} us each")


def main() -> None:
    lines = VECTORS_PATH.read_text(encoding="utf-8").splitlines()
    pdus = [json.loads(line)["pdu"] for line in lines if line.strip()]
    print(f"{len(pdus)} vectors x {ROUNDS} rounds")
    _rate("simhost decode_pdu", pdus, decode_pdu)
    _rate("simhost decode_pdu + to_json", pdus, lambda p: decode_pdu(p).to_json())
    _rate("gsmmodem decodeSmsPdu", pdus, decodeSmsPdu)
    texts = ["hello", "a" * 400, "Привет, мир! " * 20]
    _rate("simhost encode_submit (1-4 parts)", texts, lambda t: encode_submit("+79161234567", t))


if __name__ == "__main__":
    main()
