"""Benchmark: sending SMS through the gateway to a virtual bank paced at 115200 baud — sends per second per port
(bound by the line with no gap between sends, and by the default 3 s gap), and the time from a request being
stored to its `sent` outcome (the gateway looks for due sends four times a second).

Run: .venv/bin/python bench/bench_send.py [--quick]
Prints a table and one JSON line; asserts nothing. The gateway runs in this process (simhost.gateway.service),
the bank is hwsim, the broker a private Mosquitto (the outcomes go out through it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import summary_ms
from click.testing import CliRunner
from sqlalchemy.orm import sessionmaker

from hwsim import Bank
from simhost.cli import main
from simhost.config import Settings
from simhost.db import make_engine
from simhost.gateway.service import Gateway
from simhost.gateway.spool import OutboxRow
from simhost.gateway.worker import PortConfig, open_port_driver
from simhost.sending.requests import SendRequest, accept
from simhost.topics import Topics
from tests.brokerlib import PrivateBroker

BAUD = 115200
PREFIX = "bench"
RECIPIENT = "+79161234567"
TEXT = "Your one-time code is 482913. It expires in 5 minutes."
READY_TIMEOUT_S = 60.0
DONE_TIMEOUT_S = 600.0


def cli(db: str, *args: str) -> None:
    result = CliRunner().invoke(main, ["--db", db, "--region", "RU", *args], catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(result.output)


def run_case(root: Path, broker: PrivateBroker, ports: int, per_port: int, gap_s: float,
             one_at_a_time: bool = False) -> dict[str, Any]:
    """`per_port` single-part sends requested at once on each of `ports` ports (or, `one_at_a_time`, each once
    the one before is sent: the latency of a send that finds the queue empty); rate and request-to-sent times."""
    bank = Bank(root / "bank", ports=ports, profiles=("ec25",), seed=3, baud=BAUD)
    bank.start()
    db = f"sqlite:///{root / 'simhost.db'}"
    cli(db, "db", "upgrade")
    cli(db, "owner", "add", "acme", "--verified")
    numbers = []
    for i, port in enumerate(bank.info["ports"], start=1):
        slot = port["slots"][0]
        cli(db, "port", "add", port["name"], "--url", port["path"])
        cli(db, "slot", "add", "--bank", "1", "--slot", str(i), "--iccid", slot["iccid"], "--msisdn", slot["msisdn"],
            "--kind", "virtual", "--owner", "acme", "--port", port["name"])
        numbers.append(slot["msisdn"])
    engine = make_engine(db)
    settings = Settings(db_url=db, mqtt_url=broker.url, topic_prefix=PREFIX, region="RU", router_ack_timeout_s=0,
                        send_gap_s=gap_s)
    configs = [PortConfig(name=p["name"], url=p["path"]) for p in bank.info["ports"]]
    gateway = Gateway(settings, engine, configs, open_port_driver, gateway_id="bench")
    sent_at: dict[str, float] = {}
    cond = threading.Condition()
    relay_notify = gateway.sends.on_outcome

    def outcome(rows: list[OutboxRow]) -> None:
        now = time.monotonic()
        with cond:
            for row in rows:
                if row.id.endswith(":sent"):
                    sent_at[row.id.split(":")[0]] = now
            cond.notify_all()
        if relay_notify is not None:
            relay_notify(rows)

    gateway.sends.on_outcome = outcome
    gateway.start()
    try:
        if not all(w.ready.wait(READY_TIMEOUT_S) for w in gateway.workers):
            raise RuntimeError("ports not ready")
        requested: dict[str, float] = {}
        sessions = sessionmaker(engine, expire_on_commit=False)
        start = time.monotonic()
        for number in numbers:
            for _ in range(per_port):
                with sessions.begin() as s:
                    row, _ = accept(s, SendRequest("acme", number, RECIPIENT, TEXT, False), region="RU",
                                    source="cli", topics=Topics(PREFIX))
                requested[row.id] = time.monotonic()
                if one_at_a_time:
                    with cond:
                        cond.wait_for(lambda send_id=row.id: send_id in sent_at, DONE_TIMEOUT_S)
        with cond:
            cond.wait_for(lambda: len(sent_at) == len(requested), DONE_TIMEOUT_S)
        end = max(sent_at.values()) if sent_at else time.monotonic()
        air = sum(len(m.state()["sent"]) for m in bank.ports)
        return {"ports": ports, "per_port": per_port, "gap_s": gap_s, "one_at_a_time": one_at_a_time,
                "sent": len(sent_at), "on_air": air,
                "seconds": round(end - start, 2),
                "sends_per_s_per_port": round(len(sent_at) / (end - start) / ports, 2),
                "request_to_sent": summary_ms([sent_at[i] - requested[i] for i in sent_at])}
    finally:
        gateway.stop()
        engine.dispose()
        bank.stop()


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer sends (under a minute)")
    args = parser.parse_args()
    cases = ([(1, 20, 0.0, False), (8, 10, 0.0, False), (1, 5, 0.0, True)] if args.quick else
             [(1, 100, 0.0, False), (8, 50, 0.0, False), (1, 10, 3.0, False), (1, 40, 0.0, True)])
    broker = PrivateBroker()
    broker.start()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="simhost-bench-send-") as tmp:
            for i, (ports, per_port, gap, single) in enumerate(cases):
                results.append(run_case(Path(tmp) / f"case{i}", broker, ports, per_port, gap, single))
    finally:
        broker.close()
    print(f"Sending at {BAUD} baud, single-part GSM 7-bit SMS ({len(TEXT)} characters), no status reports")
    for r in results:
        lat = r["request_to_sent"]
        how = "one at a time" if r["one_at_a_time"] else f"gap {r['gap_s']:.0f} s"
        print(f"  {r['ports']:>2} port(s) x {r['per_port']:>3}, {how}: {r['sent']} sent "
              f"({r['on_air']} on the air) in {r['seconds']} s = {r['sends_per_s_per_port']} sends/s per port; "
              f"request -> sent p50 {lat.get('p50_ms')} ms, p99 {lat.get('p99_ms')} ms")
    print(json.dumps({"bench": "send", "results": results}))


if __name__ == "__main__":
    main_()
