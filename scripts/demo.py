"""Demo: a virtual SIM bank (hwsim) read by the simhost gateway, routed to customers by the router, delivered
to a customer's webhook and shown by the REST API and `simhost status --watch`.

Everything runs as an operator would run it: `hwsim bank` and `simhost run` are started as processes,
customers and SIM slots are registered with `simhost owner|slot|whitelist|sent`, SMS and calls are
injected with `hwsim --dir DIR sms|call`, and the inbound, owner and unrouted topics are watched.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

VENV_BIN = Path(sys.executable).parent
DEFAULT_BROKER = ("127.0.0.1", 1883)


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not reachable("127.0.0.1", port):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("demo: could not start mosquitto")
        time.sleep(0.05)
    return proc, port


def _notify(cond: threading.Condition) -> None:
    with cond:
        cond.notify_all()


class Hook:
    """What the demo's webhook receiver got: each body with its signature header."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.bodies: list[tuple[bytes, str]] = []
        self.cond = threading.Condition()


def webhook_receiver() -> tuple[Hook, ThreadingHTTPServer]:
    holder: list[Hook] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with holder[0].cond:
                holder[0].bodies.append((body, self.headers.get("X-Simhost-Signature", "")))
                holder[0].cond.notify_all()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Hook(f"http://127.0.0.1:{server.server_address[1]}/sms"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return holder[0], server


def signed(secret: str, body: bytes, header: str) -> bool:
    """How a customer checks a webhook's signature (the README's few lines)."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    t = next((v for k, v in fields if k == "t"), "")
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in fields)


def watch_tables(proc: subprocess.Popen[str], count: int, timeout_s: float) -> list[str]:
    """The first `count` tables `simhost status --watch` prints (blank-line separated) within `timeout_s`."""
    assert proc.stdout is not None
    tables: list[str] = []
    current: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(tables) < count and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.strip():
            current.append(line.rstrip())
        elif current:
            tables.append("\n".join(current))
            current = []
    if current and len(tables) < count:
        tables.append("\n".join(current))
    return tables


def run(*args: str, **kw: Any) -> str:
    out = subprocess.run(args, check=True, capture_output=True, text=True, **kw)
    return out.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ports", type=int, default=4, help="virtual modems (default 4, at least 4)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--keep-running", action="store_true",
                    help="leave the services running at the end (to look at the web pages) until Ctrl-C")
    args = ap.parse_args()
    if args.ports < 4:
        ap.error("--ports must be at least 4 (one per number kind)")

    work = Path(tempfile.mkdtemp(prefix="simhost-demo-"))
    procs: list[subprocess.Popen[Any]] = []
    servers: list[ThreadingHTTPServer] = []
    broker_host, broker_port = DEFAULT_BROKER
    try:
        if reachable(*DEFAULT_BROKER):
            print(f"demo: using the Mosquitto already running on {broker_host}:{broker_port}")
        else:
            proc, broker_port = start_mosquitto(work)
            procs.append(proc)
            print(f"demo: no broker on 127.0.0.1:1883, started a private Mosquitto on port {broker_port}")
        mqtt_url = f"mqtt://{broker_host}:{broker_port}"
        prefix = f"simhost-demo-{uuid.uuid4().hex[:6]}"
        web_port = free_port()
        env = dict(os.environ, SIMHOST_DB=f"sqlite:///{work}/simhost.db", SIMHOST_MQTT=mqtt_url,
                   SIMHOST_TOPIC_PREFIX=prefix, SIMHOST_HTTP_LISTEN=f"127.0.0.1:{web_port}",
                   SIMHOST_SMPP_LISTEN=f"127.0.0.1:{free_port()}",
                   SIMHOST_DELIVERY_ALLOW_PRIVATE="1")  # the demo's webhook receiver is on this machine

        bank_dir = work / "bank"
        bank = subprocess.Popen(
            [str(VENV_BIN / "hwsim"), "bank", "--ports", str(args.ports), "--dir", str(bank_dir),
             "--profiles", "generic,sim800,ec25,e173", "--baud", "115200"],
            stdout=subprocess.PIPE, text=True,
        )
        procs.append(bank)
        assert bank.stdout is not None
        info = json.loads(bank.stdout.readline())
        print(f"demo: virtual bank ready with {len(info['ports'])} modems in {bank_dir}")
        simhost = str(VENV_BIN / "simhost")
        run(simhost, "db", "upgrade", env=env)
        kinds = [("shared", None), ("virtual", "acme"), ("hosted-company", "beta"), ("hosted-client", "beta")]
        for login, name in (("acme", "Acme Ltd"), ("beta", "Beta Bank")):
            run(simhost, "owner", "add", login, "--name", name, env=env)
            run(simhost, "owner", "verify", login, env=env)
        for i, p in enumerate(info["ports"]):
            slot = p["slots"][0]
            kind, owner = kinds[i % len(kinds)]
            print(f"  {p['name']}: {p['profile']:<8} IMEI {p['imei']} ICCID {slot['iccid']} {slot['msisdn']}"
                  f"  {kind}{' of ' + owner if owner else ''}")
            run(simhost, "port", "add", p["name"], "--url", p["path"], env=env)
            run(simhost, "slot", "add", "--bank", "1", "--slot", str(i + 1), "--iccid", slot["iccid"],
                "--msisdn", slot["msisdn"], "--kind", kind, "--port", p["name"],
                *(["--owner", owner] if owner else []), env=env)
        numbers = [p["slots"][0]["msisdn"] for p in info["ports"]]
        run(simhost, "whitelist", "add", numbers[2], "Sberbank", env=env)
        run(simhost, "sent", "record", "--from", numbers[0], "--to", "+79035550001", "--owner", "acme", env=env)
        print("demo: registered acme and beta; port01 is shared, acme sent an SMS to +79035550001 from it")
        hook, hook_server = webhook_receiver()
        servers.append(hook_server)
        secret = run(simhost, "owner", "forward", "acme", "--http-url", hook.url, env=env).split(
            "(shown only now): ")[1].split()[0]
        print(f"demo: acme's messages also go to its webhook {hook.url}, signed with its secret")

        received: list[dict[str, Any]] = []
        routed: list[tuple[str, dict[str, Any]]] = []
        cond = threading.Condition()

        ready: set[str] = set()

        def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
            payload = json.loads(msg.payload)
            with cond:
                if msg.topic.endswith("/status"):
                    if payload.get("state") == "ready":
                        ready.add(payload["port"])
                elif "/inbound/" in msg.topic:
                    received.append(payload)
                else:
                    routed.append((msg.topic, payload))
                cond.notify_all()

        sub = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        sub.on_message = on_message
        sub.connect(broker_host, broker_port)
        sub.subscribe(f"{prefix}/v1/inbound/+", qos=1)
        sub.subscribe(f"{prefix}/v1/ports/+/status", qos=1)
        sub.subscribe(f"{prefix}/v1/owners/+/messages", qos=1)
        sub.subscribe(f"{prefix}/v1/unrouted", qos=1)
        sub.loop_start()

        services = subprocess.Popen([simhost, "run"], env=env)
        procs.append(services)
        with cond:
            if not cond.wait_for(lambda: len(ready) == len(info["ports"]), timeout=60):
                print(f"demo: only {sorted(ready)} became ready in 60 s", file=sys.stderr)
                return 1
        print(f"demo: the gateway reports all {len(ready)} ports ready; delivering SMS and calls")

        hw = [str(VENV_BIN / "hwsim"), "--dir", str(bank_dir)]
        names = [p["name"] for p in info["ports"]]
        injected = [
            ("sms", names[0], ["--sender", "+79161234567", "--text", "acme: Hello from the virtual bank! [ok] €5"]),
            ("sms", names[0], ["--sender", "+79035550001", "--text", "Привет, мир! Тест №2 😀"]),
            ("sms", names[2], ["--sender", "Sberbank", "--text", "Код подтверждения: 4821"]),
            ("sms", names[1], ["--sender", "VK", "--text", "Your VK code: 1234"]),
            ("sms", names[3], ["--sender", "900", "--text", "Long message " * 30]),
            ("call", names[1], ["--caller", "+79161234567"]),
            ("call", names[0], ["--withheld"]),
        ]
        for cmd, port_name, extra in injected:
            run(*hw, cmd, port_name, *extra)
        with cond:
            cond.wait_for(lambda: len(routed) >= len(injected), timeout=60)
        print(f"\ndemo: {len(received)} message(s) published on {prefix}/v1/inbound/#, and routed:")
        by_id = {p.get("id"): (t, p) for t, p in routed}
        for m in received:
            text = (m.get("text") or "").replace("\n", " ")
            print(f"  [{m['kind']}] {m['port']} from {m['sender']} ({m['sender_type']}) to {m['number']}: "
                  f"{text[:60]}{'…' if len(text) > 60 else ''} (parts {m.get('parts')})")
            topic, r = by_id.get(m["id"], ("", {}))
            if r.get("owner") and "/owners/" in topic:
                print(f"      -> {r['owner']} by rule {r['rule']} on {topic}")
            elif r:
                print(f"      -> {topic}: {r.get('reason')}")
            else:
                print("      -> not routed yet")
        # acme replies from its virtual number: the modem sends it, and acme is told each outcome
        sends: list[dict[str, Any]] = []
        sub.message_callback_add(f"{prefix}/v1/owners/+/sends",
                                 lambda _c, _u, msg: (sends.append(json.loads(msg.payload)), _notify(cond)))
        sub.subscribe(f"{prefix}/v1/owners/+/sends", qos=1)
        print(f"\ndemo: acme sends an SMS from its virtual number {numbers[1]} with simhost send --wait")
        send_id = run(simhost, "send", "--owner", "acme", "--from", numbers[1], "--to", "+79161234567", "--wait",
                      "Thanks! We got your message.", env=env).strip()
        with cond:
            cond.wait_for(lambda: any(x["state"] == "delivered" for x in sends), timeout=30)
        on_air = json.loads(run(*hw, "state", names[1]))["sent"]
        print(f"  send {send_id}: outcomes on {prefix}/v1/owners/acme/sends: "
              f"{' -> '.join(x['state'] for x in sends if x['id'] == send_id)}")
        for entry in on_air:
            print(f"  {names[1]} sent to {entry.get('recipient')}: {entry.get('text')!r} (message reference "
                  f"{entry.get('mr')}, delivery report {entry.get('report') or 'none'})")
        acme_routed = sum(1 for t, _r in routed if "/owners/acme/" in t)
        with hook.cond:
            hook.cond.wait_for(lambda: len(hook.bodies) >= acme_routed, timeout=30)
            posted = list(hook.bodies)
        good = sum(1 for body, header in posted if signed(secret, body, header))
        print(f"\ndemo: acme's webhook received {len(posted)} POST(s), {good} with a valid X-Simhost-Signature:")
        for body, _header in posted:
            m = json.loads(body)
            print(f"  [{m['kind']}] from {m['sender']}: {(m.get('text') or '')[:50]}")

        key = run(simhost, "owner", "apikey", "acme", env=env).split("(shown only now): ")[-1].split()[0]
        request = urllib.request.Request(f"http://127.0.0.1:{web_port}/api/v1/messages?limit=3",
                                         headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            page = json.loads(answer.read())
        print(f"\ndemo: GET http://127.0.0.1:{web_port}/api/v1/messages?limit=3 with acme's API key: "
              f"{len(page['items'])} message(s), newest first")
        for m in page["items"]:
            print(f"  {m.get('received_at', '')[:19]} [{m.get('kind')}] from {m.get('sender')}: "
                  f"{(m.get('text') or '')[:40]}")
        print(f"  (the personal account: http://127.0.0.1:{web_port}/ while the demo runs with --keep-running)")

        print("\ndemo: simhost status --watch (not a terminal here, so one plain table per change):")
        watch = subprocess.Popen([simhost, "status", "--watch", "--interval", "0.5"], env=env,
                                 stdout=subprocess.PIPE, text=True)
        try:
            tables = watch_tables(watch, 1, timeout_s=15)
        finally:
            watch.send_signal(signal.SIGINT)
            watch.wait(timeout=10)
        print(tables[-1] if tables else "  (no table in 15 s)")
        if args.keep_running:
            print(f"demo: running; the web pages are at http://127.0.0.1:{web_port}/ (Ctrl-C ends it)")
            with contextlib.suppress(KeyboardInterrupt):
                services.wait()
        sub.loop_stop()
        sub.disconnect()
        return 0 if len(routed) >= len(injected) and on_air and posted and good == len(posted) else 1
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
