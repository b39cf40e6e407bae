"""Benchmark: router throughput and latency through Mosquitto, with 10,000 customers, 1,000 numbers and
100,000 sent-log rows, on SQLite and PostgreSQL; one router process, then two sharing the subscription.

Run: .venv/bin/python bench/bench_router.py [--quick] [--db sqlite|postgresql|both]
Prints a table and one JSON line. The routers are `simhost run --only router` processes, as deployed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import stop_processes

from hwsim.identity import luhn_check_digit
from simhost.db import make_engine, make_sessions, upgrade
from simhost.registry.models import Customer, SentLog, SimSlot
from tests.brokerlib import PrivateBroker

VENV_BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
KINDS = ("shared", "virtual", "hosted-company", "hosted-client")
ROUTER_STOP_TIMEOUT_S = 20.0


def luhn_iccid(n: int) -> str:
    body = f"8970199{n:012d}"
    return body + luhn_check_digit(body)


def populate(url: str, customers: int, numbers: int, sends: int) -> list[dict[str, Any]]:
    """Fill the registry; returns the numbers with their kind and owner for building traffic."""
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessions(engine)
    rng = random.Random(1)
    now = datetime.now(UTC)
    out = []
    with sessions.begin() as s:
        s.add_all(Customer(login=f"c{i:05d}", name=f"Customer {i}", verified=True, enabled=True)
                  for i in range(customers))
    with sessions() as s:
        ids = [c.id for c in s.query(Customer).order_by(Customer.id)]
    with sessions.begin() as s:
        for n in range(numbers):
            kind = KINDS[n % len(KINDS)]
            owner = None if kind == "shared" else ids[rng.randrange(len(ids))]
            msisdn = f"+7900{n:07d}"
            s.add(SimSlot(bank=1 + n // 256, slot=n % 256, iccid=luhn_iccid(n), msisdn=msisdn, kind=kind,
                          owner_id=owner, enabled=True))
            out.append({"msisdn": msisdn, "kind": kind, "owner": owner})
    batch = []
    for k in range(sends):
        batch.append(SentLog(from_number=f"+7900{rng.randrange(numbers):07d}",
                             to_subscriber=f"+7916{k % 50000:07d}", owner_id=ids[rng.randrange(len(ids))],
                             at=now - timedelta(seconds=rng.randrange(20 * 86400)), source="cli"))
        if len(batch) == 10000:
            with sessions.begin() as s:
                s.add_all(batch)
            batch = []
    if batch:
        with sessions.begin() as s:
            s.add_all(batch)
    engine.dispose()
    return out


def message(numbers: list[dict[str, Any]], rng: random.Random, i: int) -> dict[str, Any]:
    n = numbers[rng.randrange(len(numbers))]
    sender = f"+7916{rng.randrange(60000):07d}"
    return {
        "schema": 1, "id": f"b{i:07d}-{uuid.uuid4().hex[:8]}", "kind": "sms", "number": n["msisdn"],
        "port": "port01", "iccid": None, "sender": sender, "sender_type": "international",
        "text": f"bench message {i}", "received_at": datetime.now(UTC).isoformat(), "sent_at": None,
        "parts": 1, "incomplete": False, "pdus": [], "bench_sent": time.time(),
    }


class Sink:
    """Counts routed and unrouted messages and their latency from `bench_sent`."""

    def __init__(self, broker: PrivateBroker, prefix: str) -> None:
        self.count = 0
        self.latencies: list[float] = []
        self.cond = threading.Condition()
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.online: set[str] = set()
        self.client.subscribe([(f"{prefix}/v1/owners/+/messages", 1), (f"{prefix}/v1/unrouted", 1),
                               (f"{prefix}/v1/routers/+/status", 1)])
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        now = time.time()
        if msg.topic.endswith("/status"):
            with self.cond:
                if msg.payload and json.loads(msg.payload).get("state") == "online":
                    self.online.add(msg.topic)
                self.cond.notify_all()
            return
        try:
            sent = json.loads(msg.payload).get("bench_sent")
        except ValueError:
            sent = None
        with self.cond:
            self.count += 1
            if isinstance(sent, float):
                self.latencies.append(now - sent)
            self.cond.notify_all()

    def wait(self, n: int, timeout_s: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.count >= n, timeout_s)

    def wait_routers(self, n: int, timeout_s: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.online) >= n, timeout_s)

    def reset(self) -> None:
        with self.cond:
            self.count = 0
            self.latencies = []

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def start_routers(k: int, env: dict[str, str], workdir: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for r in range(k):
        log = (workdir / f"router{r}.log").open("ab")
        procs.append(subprocess.Popen(
            [str(VENV_BIN / "simhost"), "run", "--only", "router", "--router-id", f"bench{r}"],
            env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return procs


def run_case(db_url: str, numbers: list[dict[str, Any]], routers: int, count: int, workdir: Path) -> dict[str, Any]:
    broker = PrivateBroker()
    broker.start()
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, SIMHOST_DB=db_url, SIMHOST_MQTT=broker.url, SIMHOST_TOPIC_PREFIX=prefix)
    sink = Sink(broker, prefix)
    procs = start_routers(routers, env, workdir)
    pub = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    rng = random.Random(routers)
    topic = f"{prefix}/v1/inbound/port01"
    try:
        # every router has loaded its directory and subscribed (its retained status says online)
        if not sink.wait_routers(routers, 120):
            raise SystemExit(f"routers did not come up: see {workdir}/router*.log")
        for i in range(routers * 20):
            pub.publish(topic, json.dumps(message(numbers, rng, i)), qos=1)
        if not sink.wait(routers * 20, 120):
            raise SystemExit(f"routers did not start: see {workdir}/router*.log")
        # latency at a moderate rate (200 msg/s)
        sink.reset()
        n_lat = min(1000, count // 4)
        for i in range(n_lat):
            pub.publish(topic, json.dumps(message(numbers, rng, 10_000_000 + i)), qos=1)
            time.sleep(0.005)
        sink.wait(n_lat, 60)
        lat = sorted(sink.latencies)
        # throughput: everything at once
        sink.reset()
        payloads = [json.dumps(message(numbers, rng, 20_000_000 + i)) for i in range(count)]
        t0 = time.monotonic()
        for p in payloads:
            pub.publish(topic, p, qos=1)
        ok = sink.wait(count, 600)
        elapsed = time.monotonic() - t0
        return {
            "routers": routers, "messages": count, "complete": ok, "seconds": round(elapsed, 2),
            "msg_per_s": round(sink.count / elapsed, 1),
            "latency_p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
            "latency_p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 1) if lat else None,
        }
    finally:
        pub.loop_stop()
        pub.disconnect()
        stop_processes(procs, ROUTER_STOP_TIMEOUT_S)
        sink.close()
        broker.close()


def postgres_database() -> tuple[str, Any] | None:
    try:
        import psycopg
    except ImportError:
        return None
    name = f"simhost_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}; skipping it", file=sys.stderr)
        return None

    def drop() -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller registry and fewer messages")
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args()
    customers, numbers_n, sends, count = (1000, 200, 10000, 4000) if args.quick else (10000, 1000, 100000, 20000)
    results = []
    with tempfile.TemporaryDirectory(prefix="simhost-bench-router-") as tmp:
        work = Path(tmp)
        dbs: list[tuple[str, str, Any]] = []
        if args.db in ("sqlite", "both"):
            dbs.append(("sqlite", f"sqlite:///{work}/bench.db", None))
        if args.db in ("postgresql", "both"):
            pg = postgres_database()
            if pg is not None:
                dbs.append(("postgresql", pg[0], pg[1]))
        for label, url, drop in dbs:
            try:
                t0 = time.monotonic()
                numbers = populate(url, customers, numbers_n, sends)
                print(f"{label}: registry of {customers} customers, {numbers_n} numbers, {sends} sends "
                      f"written in {time.monotonic() - t0:.1f} s", file=sys.stderr)
                for k in (1, 2):
                    r = run_case(url, numbers, k, count, work)
                    r["db"] = label
                    results.append(r)
                    print(f"  {label} {k} router(s): {r}", file=sys.stderr)
            finally:
                if drop is not None:
                    drop()
    print(f"{'database':<12}{'routers':>8}{'messages':>10}{'msg/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for r in results:
        print(f"{r['db']:<12}{r['routers']:>8}{r['messages']:>10}{r['msg_per_s']:>10}"
              f"{r['latency_p50_ms']!s:>9}{r['latency_p99_ms']!s:>9}")
    print(json.dumps({"customers": customers, "numbers": numbers_n, "sends": sends, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
