"""Benchmark: deliveries per second per channel against local endpoints, and the end-to-end latency from the
modem's +CMTI to the customer's webhook.

Run: .venv/bin/python bench/bench_delivery.py [--quick]
Prints a table and one JSON line; asserts nothing.

- Channels: N routed messages queued at once over C customers (one queue per customer and channel, so at most
  C tries at a time), delivered by the delivery service in this process to a local HTTP server (200 at once),
  a local SMTP server (aiosmtpd) and, over SMPP, one customer bound with python-smpplib answering each
  deliver_sm (a window of 10). Rate = N / (first try to last recorded), SQLite on this machine's disk.
- End to end: one virtual modem (hwsim, 115200 baud) receives an SMS; `simhost run` (gateway, router and
  delivery in one process, a private Mosquitto) routes it and POSTs it to a local webhook. Latency = the
  webhook's request arriving minus the moment just before hwsim announced the SMS with +CMTI; one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import VENV_BIN, StatusWatch, stop_processes, summary_ms
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from hwsim import Bank
from simhost.cli import main
from simhost.config import Settings
from simhost.db import make_engine, make_sessions
from simhost.delivery.models import DELIVERED, Delivery
from simhost.delivery.queue import enqueue
from simhost.delivery.service import DeliveryService
from simhost.registry.models import RoutedMessage
from simhost.smpp.server import SmppServer
from tests.brokerlib import PrivateBroker

CUSTOMERS = 8
TEXT = "Код подтверждения: 4821. Никому не сообщайте его."
DONE_TIMEOUT_S = 600.0
SMPP_PASSWORD = "bench123"
LOG_ARGS: list[str] = []  # e.g. ["-v", "--log-format", "json"] to see where the end-to-end time goes


def cli(db: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["--db", db, "--region", "RU", *args], catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(result.output)
    return result.output


@contextmanager
def http_sink() -> Iterator[tuple[str, list[float]]]:
    """A local HTTP server answering 200 at once; the arrival time of each request."""
    arrivals: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrivals.append(time.time())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", arrivals
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_sink() -> Iterator[str]:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:  # noqa: N802 (aiosmtpd's)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


def registry(root: Path, channel: str, target: str) -> str:
    db = f"sqlite:///{root / f'{channel}.db'}"
    cli(db, "db", "upgrade")
    for i in range(CUSTOMERS):
        login = f"c{i}"
        cli(db, "owner", "add", login, "--verified")
        if channel == "http":
            cli(db, "owner", "forward", login, "--http-url", target)
        elif channel == "email":
            cli(db, "owner", "forward", login, "--email", f"{login}@example.test")
        elif channel == "smpp" and i == 0:
            cli(db, "owner", "forward", login, "--smpp-system-id", login, "--smpp-password", SMPP_PASSWORD)
    return db


def queue_messages(db: str, n: int, owners: int) -> None:
    engine = make_engine(db)
    try:
        sessions = make_sessions(engine)
        now = datetime.now(UTC)
        rows = []
        for i in range(n):
            owner = f"c{i % owners}"
            mid = uuid.uuid4().hex
            payload = {"schema": 1, "id": mid, "kind": "sms", "owner": owner, "number": "+79000000002",
                       "sender": "+79161234567", "sender_type": "international", "text": TEXT,
                       "received_at": now.isoformat(), "rule": "dedicated"}
            rows.append({"id": mid, "kind": "sms", "status": "routed", "owner": owner, "received_at": now,
                         "routed_at": now, "topic": f"simhost/v1/owners/{owner}/messages",
                         "payload": json.dumps(payload, ensure_ascii=False)})
        with sessions.begin() as s:
            s.execute(insert(RoutedMessage), rows)
            enqueue(s, rows, now)
    finally:
        engine.dispose()


def delivered(db: str) -> int:
    engine = make_engine(db)
    try:
        with make_sessions(engine)() as s:
            return int(s.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == DELIVERED))
                       or 0)
    finally:
        engine.dispose()


def wait_for(done: Callable[[], bool], cond: threading.Condition, timeout_s: float) -> bool:
    with cond:
        return cond.wait_for(done, timeout_s)


def run_channel(root: Path, channel: str, n: int) -> dict[str, Any]:
    if channel == "smpp":
        return run_smpp(root, n)
    with http_sink() as (url, _arrivals), smtp_sink() as smtp:
        db = registry(root, channel, url)
        queue_messages(db, n, CUSTOMERS)
        settings = Settings(db_url=db, region="RU", smtp_url=smtp if channel == "email" else None)
        engine = make_engine(db)
        try:
            service = DeliveryService(settings, make_sessions(engine), allow_private=True)
            started = time.perf_counter()
            service.start()
            try:
                ok = wait_for(lambda: service.tries >= n, service.changed, DONE_TIMEOUT_S)
            finally:
                service.stop()
            elapsed = time.perf_counter() - started
        finally:
            engine.dispose()
        got = delivered(db)
    return {"channel": channel, "n": n, "delivered": got, "seconds": round(elapsed, 2),
            "per_s": round(got / elapsed, 1), "complete": ok and got == n}


def run_smpp(root: Path, n: int) -> dict[str, Any]:
    import smpplib.client

    db = registry(root, "smpp", "")
    queue_messages(db, n, 1)
    engine = make_engine(db)
    count = [0]
    try:
        server = SmppServer(Settings(db_url=db, region="RU"), make_sessions(engine), listen="127.0.0.1:0")
        server.start()
        server.listening.wait(10)
        assert server.address is not None
        client = smpplib.client.Client("127.0.0.1", server.address[1], timeout=1, allow_unknown_opt_params=True)

        def received(pdu: Any) -> None:
            count[0] += 1

        client.set_message_received_handler(received)
        client.connect()
        started = time.perf_counter()
        client.bind_receiver(system_id="c0", password=SMPP_PASSWORD)
        stop = threading.Event()

        def listen() -> None:
            while not stop.is_set():
                try:
                    client.read_once(auto_send_enquire_link=False)
                except Exception:
                    continue

        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        ok = wait_for(lambda: delivered(db) >= n, server.changed, DONE_TIMEOUT_S)
        elapsed = time.perf_counter() - started
        stop.set()
        reader.join(5)
        client.disconnect()
        server.stop()
    finally:
        engine.dispose()
    got = delivered(db)
    return {"channel": "smpp", "n": n, "delivered": got, "seconds": round(elapsed, 2),
            "per_s": round(got / elapsed, 1), "complete": ok and got == n, "deliver_sm": count[0]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_end_to_end(root: Path, n: int) -> dict[str, Any]:
    broker = PrivateBroker()
    broker.start()
    bank = Bank(root / "bank", ports=1, profiles=("ec25",), seed=7, baud=115200)
    bank.start()
    modem = bank.ports[0]
    slot = bank.info["ports"][0]["slots"][0]
    db = f"sqlite:///{root / 'e2e.db'}"
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    proc = None
    watch = None
    try:
        with http_sink() as (url, arrivals):
            for args in (("db", "upgrade"), ("port", "add", "port01", "--url", modem.path),
                         ("owner", "add", "acme", "--verified"),
                         ("slot", "add", "--bank", "1", "--slot", "1", "--iccid", slot["iccid"], "--msisdn",
                          slot["msisdn"], "--kind", "virtual", "--owner", "acme", "--port", "port01"),
                         ("owner", "forward", "acme", "--http-url", url)):
                cli(db, *args)
            env = dict(os.environ, SIMHOST_DB=db, SIMHOST_MQTT=broker.url, SIMHOST_TOPIC_PREFIX=prefix,
                       SIMHOST_DELIVERY_ALLOW_PRIVATE="1", SIMHOST_SMPP_LISTEN="off",
                       SIMHOST_HTTP_LISTEN=f"127.0.0.1:{free_port()}")
            watch = StatusWatch(broker.url, prefix)
            with (root / "run.log").open("ab") as log:
                proc = subprocess.Popen([str(VENV_BIN / "simhost"), *LOG_ARGS, "run", "--gateway-processes", "1"],
                                        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if not watch.wait_ready(["port01"], 60):
                raise RuntimeError("the port never became ready:\n" + (root / "run.log").read_text()[-2000:])
            latencies: list[float] = []
            arrived = threading.Event()
            for i in range(n):
                before = len(arrivals)
                t0 = time.time()
                modem.sms("+79161234567", f"{TEXT} #{i}")
                deadline = time.monotonic() + 30
                while len(arrivals) == before and time.monotonic() < deadline:
                    arrived.wait(0.0005)
                if len(arrivals) > before:
                    latencies.append(arrivals[before] - t0)
    finally:
        if watch is not None:
            watch.close()
        if proc is not None:
            stop_processes([proc], 30)
        bank.stop()
        broker.stop()
    return {"n": n, **summary_ms(latencies)}


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    args = parser.parse_args()
    n = 300 if args.quick else 2000
    e2e_n = 20 if args.quick else 100
    results: dict[str, Any] = {"channels": [], "end_to_end": None}
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        root = Path(tmp)
        for channel in ("http", "email", "smpp", "e2e"):
            (root / channel).mkdir()
        for channel in ("http", "email", "smpp"):
            r = run_channel(root / channel, channel, n)
            results["channels"].append(r)
            print(f"{channel:<6} {r['delivered']:>6} of {r['n']} in {r['seconds']:>7} s: {r['per_s']:>8} /s"
                  f"{'' if r['complete'] else '  (incomplete)'}", flush=True)
        results["end_to_end"] = run_end_to_end(root / "e2e", e2e_n)
        e = results["end_to_end"]
        print(f"+CMTI -> webhook, {e['n']} one at a time: p50 {e.get('p50_ms')} ms, p99 {e.get('p99_ms')} ms, "
              f"max {e.get('max_ms')} ms", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main_()
