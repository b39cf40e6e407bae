"""Benchmark: the simhost gateway against a virtual bank paced at 115200 baud — receive latency, burst drain
against the serial line-rate limit, call hang-up latency, idle CPU/RSS, and drain speed beside gammu-smsd and
smstools3 on the same kind of bank.

Run: .venv/bin/python bench/bench_gateway.py [--quick] [--skip-peers]
Prints a table and one JSON line; asserts nothing. The gateway is `simhost run --only gateway` as a separate
process (ports registered with the `simhost port add` command), the bank is hwsim in this process, the broker
a private Mosquitto.

Latency starts at the time hwsim's AT log gives the +CMTI (or +CLIP) line: the log entry is written as the
bytes go to an idle pty, so it is the wire time; VirtualModem.sms() returns a fraction of a millisecond later
(printed), which would flatter the gateway slightly.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import (
    LINE_BITS_PER_BYTE,
    GatewayProcess,
    StatusWatch,
    Subscriber,
    cpu_seconds,
    proc_status_kib,
    process_tree,
    stop_processes,
    summary_ms,
    thread_count,
    tree_cpu_seconds,
    tree_sum,
)

from hwsim import Bank, VirtualModem
from tests.brokerlib import PrivateBroker

BAUD = 115200
PROFILES = ("generic", "sim800", "ec25", "e173")
SENDER = "+79161234567"
CALLER = "+79035550001"
CALL_RINGS = 5
SEED = 11
READY_TIMEOUT_S = 120.0
READY_STABLE_S = 10.0
ARRIVAL_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 300.0
PEER_TIMEOUT_S = 120.0
PEER_STOP_TIMEOUT_S = 10.0
SETTLE_S = 2.0
PEER_POLL_S = 0.05
URC_NEEDLES = ("+CMTI:", "+CMT:")


@dataclass(frozen=True)
class Plan:
    latency: tuple[tuple[int, int], ...]  # (ports, samples)
    interval_s: float
    calls: int
    calls_ports: int
    idle_s: float
    idle_at: tuple[int, ...]
    burst_ports: int
    burst_per_port: int
    burst_scaling: tuple[int, ...]  # smaller banks drained the same way, to show where the lines bind
    peer_ports: int
    peer_per_port: int


FULL = Plan(latency=((1, 400), (64, 512), (256, 512)), interval_s=0.05, calls=50, calls_ports=64,
            idle_s=120.0, idle_at=(64, 256), burst_ports=64, burst_per_port=30, burst_scaling=(1, 8, 16),
            peer_ports=4, peer_per_port=30)
QUICK = Plan(latency=((1, 50), (16, 64), (64, 64)), interval_s=0.05, calls=16, calls_ports=16,
             idle_s=60.0, idle_at=(64,), burst_ports=16, burst_per_port=30, burst_scaling=(4,),
             peer_ports=2, peer_per_port=30)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---- rigs ------------------------------------------------------------------------------------

@contextmanager
def bank_of(directory: Path, ports: int) -> Iterator[Bank]:
    bank = Bank(directory, ports=ports, profiles=PROFILES, baud=BAUD, seed=SEED)
    bank.start()
    try:
        yield bank
    finally:
        bank.stop()


@contextmanager
def gateway_for(directory: Path, broker_url: str, bank: Bank, processes: int | None = None) -> Iterator[GatewayProcess]:
    """A gateway for `bank`'s ports, in `processes` processes (None: the gateway's own choice, `auto`)."""
    gw = GatewayProcess(directory, broker_url)
    if processes is not None:
        gw.env["SIMHOST_GATEWAY_PROCESSES"] = str(processes)
    gw.add_ports((m.name, m.path) for m in bank.ports)
    try:
        yield gw
    finally:
        rc = gw.stop()
        if rc not in (0, None):
            log(f"gateway exited {rc}: {gw.log_tail()}")


def start_ready(gw: GatewayProcess, broker_url: str, names: Sequence[str]) -> tuple[float, list[str]]:
    """Start the gateway and wait until every port reports `ready`, or until the number of ready ports has
    stopped changing; (seconds until the last port became ready, the ready ports)."""
    watch = StatusWatch(broker_url, gw.prefix)
    try:
        gw.start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        ready, last_change, ready_at = 0, time.monotonic(), time.time()
        while time.monotonic() < deadline:
            if watch.wait_ready(names, 1.0):
                ready_at = time.time()
                break
            now_ready = watch.count("ready")
            if now_ready != ready:
                ready, last_change, ready_at = now_ready, time.monotonic(), time.time()
            elif ready and time.monotonic() - last_change > READY_STABLE_S:
                break
        up = [n for n in names if watch.states.get(n) == "ready"]
        if len(up) < len(names):
            others = sorted({s for n, s in watch.states.items() if s != "ready"})
            log(f"  only {len(up)}/{len(names)} ports ready (others: {', '.join(others) or 'no status'}); "
                f"gateway log: {gw.log_tail(3)}")
        return ready_at - gw.started_at, up
    finally:
        watch.close()


_ARRIVALS: weakref.WeakKeyDictionary[Subscriber, tuple[int, dict[str, float]]] = weakref.WeakKeyDictionary()


def _arrivals(sub: Subscriber) -> dict[str, float]:
    """Text of each inbound SMS -> the time its first copy reached the subscriber (kept per subscriber).

    Parses only what arrived since the last call: the drain waits re-check this after every message, and
    re-reading them all (quadratic) took more CPU than the gateway on the two cores they share.
    """
    seen, out = _ARRIVALS.get(sub, (0, {}))
    new = sub.since(seen)
    for t, _topic, payload in new:
        msg = json.loads(payload)
        if msg.get("kind") == "sms":
            out.setdefault(str(msg.get("text")), t)
    _ARRIVALS[sub] = (seen + len(new), out)
    return out


def texts_by_arrival(sub: Subscriber) -> dict[str, float]:
    """A copy of the arrival time of each inbound SMS text so far."""
    return dict(_arrivals(sub))


def all_arrived(sub: Subscriber, texts: set[str]) -> bool:
    """Whether every one of `texts` has arrived (checked after each message: cheap until the count is there)."""
    arrived = _arrivals(sub)
    return len(arrived) >= len(texts) and texts <= arrived.keys()


def tx_times(modem: VirtualModem, needles: Sequence[str]) -> list[float]:
    """When hwsim put each line containing one of `needles` on the wire (its AT log, modem -> host)."""
    return sorted(e["t"] for e in modem.state()["at_log"]
                  if e["dir"] == "tx" and any(n in e["data"] for n in needles))


def first_at_or_after(times: list[float], t: float) -> float | None:
    i = bisect.bisect_left(times, t)
    return times[i] if i < len(times) else None


def line_floor_s(pdu: str, index: int = 1) -> float:
    """Time the modem needs to send the +CMTI line and the AT+CMGR answer at BAUD (the host's commands and
    the AT+CMGD after the commit are left out: the message can be published before the delete)."""
    tpdu_octets = len(pdu) // 2 - 1 - int(pdu[:2], 16)
    cmti = f'\r\n+CMTI: "SM",{index}\r\n'
    cmgr_a = f"\r\n+CMGR: 0,,{tpdu_octets}\r\n{pdu}\r\n\r\nOK\r\n"
    return len(cmti + cmgr_a) * LINE_BITS_PER_BYTE / BAUD


# ---- 1. receive latency -----------------------------------------------------------------------

def measure_latency(modems: Sequence[VirtualModem], inbound: Subscriber, samples: int, interval_s: float,
                    tag: str) -> dict[str, Any]:
    sent: list[tuple[str, VirtualModem, float, float]] = []
    longest = ""
    start = time.monotonic()
    for i in range(samples):
        modem = modems[i % len(modems)]
        delay = start + i * interval_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the offered load, not waiting for state
        text = f"latency {tag} #{i}"
        before = time.time()
        pdu = modem.sms(SENDER, text)[0]
        sent.append((text, modem, before, time.time()))
        longest = max(longest, pdu, key=len)
    wanted = {s[0] for s in sent}
    inbound.wait_until(lambda: all_arrived(inbound, wanted), ARRIVAL_TIMEOUT_S)
    arrived = texts_by_arrival(inbound)
    wire: dict[str, list[float]] = {}
    from_wire: list[float] = []
    from_return: list[float] = []
    return_minus_wire: list[float] = []
    for text, modem, before, after in sent:
        if text not in arrived:
            continue
        times = wire.setdefault(modem.name, tx_times(modem, URC_NEEDLES))
        on_wire = first_at_or_after(times, before)
        from_return.append(arrived[text] - after)
        if on_wire is not None:
            from_wire.append(arrived[text] - on_wire)
            return_minus_wire.append(after - on_wire)
    return {"ports": len(modems), "sent": samples, "arrived": len(wanted & set(arrived)),
            "interval_ms": interval_s * 1000, "line_floor_ms": round(1000 * line_floor_s(longest), 2),
            "from_wire": summary_ms(from_wire),
            "from_sms_return": summary_ms(from_return), "sms_return_after_wire": summary_ms(return_minus_wire)}


# ---- 3. call hang-up latency -------------------------------------------------------------------

def measure_calls(ready: Sequence[VirtualModem], calls: int, interval_s: float) -> dict[str, Any]:
    # one call per port: the gateway folds a second call within its quiet time into the first
    modems = ready[:calls]
    placed: list[tuple[VirtualModem, int, float]] = []
    start = time.monotonic()
    for i, modem in enumerate(modems):
        delay = start + i * interval_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        before = time.time()
        placed.append((modem, modem.call(CALLER, rings=CALL_RINGS), before))
    latencies: list[float] = []
    commands: dict[str, int] = {}
    for modem, call_id, before in placed:
        def hung_up(m: VirtualModem, cid: int = call_id) -> bool:
            return any(c["id"] == cid and c["state"] != "ringing" for c in m.calls())
        modem.wait_until(hung_up, ARRIVAL_TIMEOUT_S)
        call = next(c for c in modem.calls() if c["id"] == call_id)
        clip = first_at_or_after(tx_times(modem, ("+CLIP:",)), before)
        if call["hung_up_at"] is None or clip is None:
            continue
        latencies.append(call["hung_up_at"] - clip)
        commands[call["hangup_command"]] = commands.get(call["hangup_command"], 0) + 1
    return {"ports": len(ready), "calls": len(placed), "hung_up": len(latencies),
            "clip_to_hangup": summary_ms(latencies), "commands": commands}


# ---- 4. idle -------------------------------------------------------------------------------------

def measure_idle(pid: int, seconds: float, ports: Sequence[VirtualModem]) -> dict[str, Any]:
    """CPU, memory and threads of the gateway's processes (it may run its ports in several), and the AT
    commands the idle ports received (from hwsim's AT logs), per port and minute."""
    cpu0, t0, wall0 = tree_cpu_seconds(pid), time.monotonic(), time.time()
    time.sleep(seconds)  # the measurement window itself
    cpu1, t1, wall1 = tree_cpu_seconds(pid), time.monotonic(), time.time()
    commands = sum(1 for m in ports for e in m.state()["at_log"] if e["dir"] == "rx" and wall0 <= e["t"] < wall1)
    return {"window_s": round(t1 - t0, 1), "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
            "at_commands_per_port_minute": round(commands / max(1, len(ports)) / ((wall1 - wall0) / 60), 2),
            "rss_mib": round(tree_sum(pid, lambda p: proc_status_kib(p, "VmRSS")) / 1024, 1),
            "peak_rss_mib": round(tree_sum(pid, lambda p: proc_status_kib(p, "VmHWM")) / 1024, 1),
            "threads": int(tree_sum(pid, thread_count)),
            "processes": len(process_tree(pid))}


# ---- 2. burst drain and the line-rate limit ------------------------------------------------------

def preload(bank: Bank, per_port: int, tag: str) -> tuple[set[str], str]:
    """Deliver `per_port` SMS to every port while nothing reads them; (texts, the longest PDU)."""
    texts: set[str] = set()
    longest = ""
    for modem in bank.ports:
        for k in range(per_port):
            text = f"{tag} {modem.name} #{k:02d}"
            pdu = modem.sms(SENDER, text)[0]
            longest = max(longest, pdu, key=len)
            texts.add(text)
    return texts, longest


def first_listing_at(modem: VirtualModem) -> float | None:
    """When the port's first AT+CMGL reached hwsim (wall clock, hwsim's AT log)."""
    return next((e["t"] for e in modem.state()["at_log"]
                 if e["dir"] == "rx" and e["data"].upper().startswith("AT+CMGL")), None)


def wire_bytes(modem: VirtualModem) -> tuple[int, int]:
    """(modem -> host, host -> modem) bytes from the port's first AT+CMGL on, from hwsim's AT log."""
    log_entries = modem.state()["at_log"]
    start = next((i for i, e in enumerate(log_entries)
                  if e["dir"] == "rx" and e["data"].upper().startswith("AT+CMGL")), 0)
    tx = rx = 0
    for e in log_entries[start:]:
        n = len(e["data"].encode("utf-8", "surrogateescape"))
        if e["dir"] == "tx":
            tx += n
        else:
            rx += n + 1  # the logged command line lacks its CR
    return tx, rx


def computed_bytes_per_message(pdu: str, index: int = 10) -> dict[str, int]:
    """Bytes on the wire for one message, echo off, verbose results, both directions added."""
    tpdu_octets = len(pdu) // 2 - 1 - int(pdu[:2], 16)  # +CMGR/+CMGL give the length without the SMSC
    cmti = f'\r\n+CMTI: "SM",{index}\r\n'
    cmgr_q = f"AT+CMGR={index}\r"
    cmgr_a = f"\r\n+CMGR: 0,,{tpdu_octets}\r\n{pdu}\r\n\r\nOK\r\n"
    cmgd_q = f"AT+CMGD={index}\r"
    ok = "\r\nOK\r\n"
    cmgl_entry = f"+CMGL: {index},0,,{tpdu_octets}\r\n{pdu}\r\n"
    return {"cmti_cmgr_cmgd": len(cmti + cmgr_q + cmgr_a + cmgd_q + ok),
            "cmgl_cmgd": len(cmgl_entry + cmgd_q + ok)}


def measure_burst(root: Path, broker_url: str, ports: int, per_port: int,
                  processes: int | None = None) -> dict[str, Any]:
    with bank_of(root / "bank", ports) as bank:
        texts, sample_pdu = preload(bank, per_port, "burst")
        queued = sum(len(m.state()["storage"]) for m in bank.ports)
        with gateway_for(root / "gw", broker_url, bank, processes) as gw:
            inbound = Subscriber(broker_url, f"{gw.prefix}/v1/inbound/+")
            try:
                own_cpu0 = cpu_seconds(os.getpid())
                gw.start()
                inbound.wait_until(lambda: all_arrived(inbound, texts), DRAIN_TIMEOUT_S)
                gw_cpu = tree_cpu_seconds(gw.pid)
                own_cpu = cpu_seconds(os.getpid()) - own_cpu0
                arrived = {t: at for t, at in texts_by_arrival(inbound).items() if t in texts}
            finally:
                inbound.close()
            for m in bank.ports:
                m.wait_until(lambda mm: not mm.state()["storage"], 10.0)
            tx_rx = [wire_bytes(m) for m in bank.ports]
            listings = [t for t in (first_listing_at(m) for m in bank.ports) if t is not None]
    total = len(texts)
    times = sorted(arrived.values())
    result: dict[str, Any] = {"ports": ports, "per_port": per_port, "messages": total,
                              "gateway_processes": processes or "auto",
                              "stored_on_sims_at_start": queued, "queued_by_network_at_start": total - queued,
                              "arrived": len(arrived)}
    if not times:
        return result
    wall = times[-1] - gw.started_at
    steady = times[-1] - times[0]
    tx = sum(t for t, _ in tx_rx) / total
    rx = sum(r for _, r in tx_rx) / total
    line_bytes_per_s = BAUD / LINE_BITS_PER_BYTE
    limit = ports * line_bytes_per_s / (tx + rx)
    limit_tx_only = ports * line_bytes_per_s / tx
    computed = computed_bytes_per_message(sample_pdu)
    result.update({
        "seconds_from_start": round(wall, 2), "first_after_start_s": round(times[0] - gw.started_at, 2),
        "gateway_cpu_s": round(gw_cpu, 2), "gateway_cpu_ms_per_msg": round(1000 * gw_cpu / total, 2),
        "bank_and_subscriber_cpu_s": round(own_cpu, 2),
        "msgs_per_s_from_start": round(total / wall, 1),
        "msgs_per_s_first_to_last": round((len(times) - 1) / steady, 1) if steady > 0 else None,
        "measured_bytes_per_msg": {"modem_to_host": round(tx, 1), "host_to_modem": round(rx, 1)},
        "computed_bytes_per_msg": computed,
        "line_rate_limit_msgs_per_s": round(limit, 1),
        "line_rate_limit_modem_to_host_only": round(limit_tx_only, 1),
        "fraction_of_limit_from_start": round(total / wall / limit, 4),
        "fraction_of_limit_first_to_last": round((len(times) - 1) / steady / limit, 4) if steady > 0 else None,
    })
    if listings:
        # the lines' share of the time: from the first listing command on any line (process start and modem
        # initialisation left out) to the last message on the broker
        on_lines = times[-1] - min(listings)
        result["msgs_per_s_from_first_listing"] = round(total / on_lines, 1)
        result["fraction_of_limit_from_first_listing"] = round(total / on_lines / limit, 4)
    return result


# ---- 5. peers -----------------------------------------------------------------------------------

def peer_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/bin", "/usr/sbin"):
        if os.access(f"{d}/{name}", os.X_OK):
            return f"{d}/{name}"
    return None


def gammu_config(directory: Path, device: str, loop_sleep: int) -> Path:
    for d in ("inbox", "outbox", "sent", "error"):
        (directory / d).mkdir(parents=True, exist_ok=True)
    conf = directory / "smsdrc"
    # receive on every loop, no status/battery/signal/network/security checks between reads
    conf.write_text(f"""[gammu]
device = {device}
connection = at
[smsd]
service = files
inboxpath = {directory}/inbox/
outboxpath = {directory}/outbox/
sentsmspath = {directory}/sent/
errorsmspath = {directory}/error/
inboxformat = standard
logfile = {directory}/smsd.log
debuglevel = 0
CheckSecurity = 0
CheckBattery = 0
CheckSignal = 0
CheckNetwork = 0
StatusFrequency = 0
ReceiveFrequency = 0
CommTimeout = 1
LoopSleep = {loop_sleep}
""")
    return conf


def smstools_config(directory: Path, devices: Sequence[str], delaytime: int) -> Path:
    for d in ("incoming", "outgoing", "checked", "failed", "sent"):
        (directory / d).mkdir(parents=True, exist_ok=True)
    names = [f"GSM{i + 1}" for i in range(len(devices))]
    sections = "".join(f"""[{name}]
device = {dev}
incoming = yes
baudrate = {BAUD}
check_memory_method = 31
check_network = 0
""" for name, dev in zip(names, devices, strict=True))
    conf = directory / "smsd.conf"
    conf.write_text(f"""devices = {",".join(names)}
logfile = {directory}/smsd.log
loglevel = 5
infofile = {directory}/smsd.working
pidfile = {directory}/smsd.pid
outgoing = {directory}/outgoing
checked = {directory}/checked
failed = {directory}/failed
incoming = {directory}/incoming
sent = {directory}/sent
delaytime = {delaytime}
delaytime_mainprocess = {delaytime}
decode_unicode_text = yes
incoming_utf8 = yes
receive_before_send = no
{sections}""")
    return conf


def inbox_files(dirs: Sequence[Path]) -> list[Path]:
    found = []
    for d in dirs:
        found += [p for p in d.iterdir() if p.is_file() and "concatenated" not in p.name]
    return found


def peer_drain(root: Path, broker_url: str, peer: str, setting: str, ports: int, per_port: int) -> dict[str, Any]:
    """Preload a bank, start the reader, time from its start until every message is stored/published."""
    with bank_of(root / "bank", ports) as bank:
        texts, _ = preload(bank, per_port, "peer")
        total = len(texts)
        env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8")
        procs: list[subprocess.Popen[bytes]] = []
        done_at: float | None = None
        first_at = 0.0
        cpu = 0.0
        got = 0
        started = 0.0
        if peer == "simhost":
            with gateway_for(root / "gw", broker_url, bank) as gw:
                inbound = Subscriber(broker_url, f"{gw.prefix}/v1/inbound/+")
                try:
                    gw.start()
                    started = gw.started_at
                    inbound.wait_until(lambda: all_arrived(inbound, texts), PEER_TIMEOUT_S)
                    cpu = tree_cpu_seconds(gw.pid)
                    arrived = [t for x, t in texts_by_arrival(inbound).items() if x in texts]
                finally:
                    inbound.close()
            got = len(arrived)
            if arrived:
                first_at, done_at = min(arrived), max(arrived)
        else:
            outdirs: list[Path] = []
            try:
                if peer == "gammu-smsd":
                    binary = peer_binary("gammu-smsd")
                    assert binary is not None
                    configs = []
                    for m in bank.ports:
                        d = root / "peer" / m.name
                        configs.append(gammu_config(d, m.path, int(setting.split("=")[1])))
                        outdirs.append(d / "inbox")
                    started = time.time()
                    for conf in configs:
                        out = (conf.parent / "stdout.txt").open("ab")
                        procs.append(subprocess.Popen([binary, "-c", str(conf)], cwd=conf.parent, env=env,
                                                      stdout=out, stderr=subprocess.STDOUT,
                                                      stdin=subprocess.DEVNULL))
                        out.close()
                else:
                    binary = peer_binary("smsd")
                    assert binary is not None
                    d = root / "peer"
                    d.mkdir(parents=True, exist_ok=True)
                    conf = smstools_config(d, [m.path for m in bank.ports], int(setting.split("=")[1]))
                    outdirs.append(d / "incoming")
                    started = time.time()
                    out = (d / "stdout.txt").open("ab")
                    procs.append(subprocess.Popen([binary, "-c", str(conf), "-t"], cwd=d, env=env, stdout=out,
                                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
                    out.close()
                deadline = time.monotonic() + PEER_TIMEOUT_S
                while time.monotonic() < deadline:
                    files = inbox_files(outdirs)
                    if len(files) >= total or not any(p.poll() is None for p in procs):
                        break
                    time.sleep(PEER_POLL_S)  # a peer's output is files: nothing to wait on but the directory
                cpu = sum(tree_cpu_seconds(p.pid) for p in procs if p.poll() is None)
                files = inbox_files(outdirs)
                got = len(files)
                if files:
                    mtimes = [p.stat().st_mtime_ns / 1e9 for p in files]
                    first_at, done_at = min(mtimes), max(mtimes)
            finally:
                stop_processes(procs, PEER_STOP_TIMEOUT_S)
        left = sum(len(m.state()["storage"]) for m in bank.ports)
    result: dict[str, Any] = {"peer": peer, "setting": setting, "ports": ports, "messages": total, "stored": got,
                              "left_on_sims": left, "cpu_s_to_done": round(cpu, 2)}
    if done_at is not None and got >= total:
        result["seconds_from_start"] = round(done_at - started, 2)
        result["first_after_start_s"] = round(first_at - started, 2)
        result["msgs_per_s"] = round(total / (done_at - started), 1)
        if done_at > first_at:
            result["msgs_per_s_first_to_last"] = round((total - 1) / (done_at - first_at), 1)
    return result


# ---- the run -------------------------------------------------------------------------------------

def fmt_lat(s: dict[str, Any]) -> str:
    if not s.get("n"):
        return "no samples"
    return f"p50 {s['p50_ms']:7.2f} ms  p99 {s['p99_ms']:7.2f} ms  max {s['max_ms']:7.2f} ms  (n={s['n']})"


def run(plan: Plan, skip_peers: bool, root: Path, broker_url: str) -> dict[str, Any]:
    results: dict[str, Any] = {"baud": BAUD, "profiles": list(PROFILES), "cpus": os.cpu_count(),
                               "gateway": "simhost run --only gateway (separate process)",
                               "latency": [], "peers": []}
    results["idle"] = []
    for ports, samples in plan.latency:
        log(f"latency: {ports} port(s), {samples} samples")
        with bank_of(root / f"lat{ports}" / "bank", ports) as bank, \
                gateway_for(root / f"lat{ports}" / "gw", broker_url, bank) as gw:
            ready_s, up = start_ready(gw, broker_url, [m.name for m in bank.ports])
            log(f"  {len(up)}/{ports} port(s) ready in {ready_s:.1f} s")
            ready = [m for m in bank.ports if m.name in set(up)]
            inbound = Subscriber(broker_url, f"{gw.prefix}/v1/inbound/+")
            try:
                time.sleep(SETTLE_S)  # let start-up work (first status round, health queries) finish
                if ports in plan.idle_at:
                    log(f"  idle CPU/RSS over {plan.idle_s:.0f} s")
                    results["idle"].append({"ports": ports, "ready": len(up), "ready_s": round(ready_s, 1),
                                            **measure_idle(gw.pid, plan.idle_s, ready)})
                lat = measure_latency(ready, inbound, samples, plan.interval_s, f"p{ports}")
                lat.update({"ports": ports, "ready": len(up), "ready_s": round(ready_s, 1)})
                if len(up) < ports:
                    lat["gateway_log_tail"] = gw.log_tail(1)
                results["latency"].append(lat)
                if ports == plan.calls_ports:
                    log(f"  calls: {plan.calls}")
                    results["calls"] = measure_calls(ready, plan.calls, 0.1)
            finally:
                inbound.close()
    log(f"burst: {plan.burst_ports} ports x {plan.burst_per_port}")
    results["burst"] = measure_burst(root / "burst", broker_url, plan.burst_ports, plan.burst_per_port)
    log(f"burst: {plan.burst_ports} ports x {plan.burst_per_port}, one gateway process")
    results["burst_one_process"] = measure_burst(root / "burst1p", broker_url, plan.burst_ports,
                                                 plan.burst_per_port, processes=1)
    results["burst_scaling"] = []
    for ports in plan.burst_scaling:
        log(f"burst: {ports} ports x {plan.burst_per_port}")
        results["burst_scaling"].append(measure_burst(root / f"burst{ports}", broker_url, ports, plan.burst_per_port))
    if not skip_peers:
        runs = [("simhost", "defaults")]
        if peer_binary("gammu-smsd"):
            runs += [("gammu-smsd", "LoopSleep=1"), ("gammu-smsd", "LoopSleep=0")]
        if peer_binary("smsd"):
            runs += [("smstools3", "delaytime=1"), ("smstools3", "delaytime=0")]
        for peer, setting in runs:
            log(f"peer drain: {peer} ({setting}), {plan.peer_ports} ports x {plan.peer_per_port}")
            tag = f"{peer}-{setting}".replace("=", "")
            results["peers"].append(peer_drain(root / "peers" / tag, broker_url, peer, setting,
                                               plan.peer_ports, plan.peer_per_port))
    return results


def print_table(r: dict[str, Any]) -> None:
    print(f"simhost gateway benchmark — hwsim bank paced at {r['baud']} baud, profiles {', '.join(r['profiles'])}, "
          f"{r['cpus']} CPUs; gateway = {r['gateway']}")
    print()
    print("1. Receive latency, +CMTI on the wire (hwsim AT log) -> message at an MQTT subscriber")
    for lat in r["latency"]:
        print(f"   {lat['ports']:>3} port(s), one SMS every {lat['interval_ms']:.0f} ms: {fmt_lat(lat['from_wire'])}"
              f"  arrived {lat['arrived']}/{lat['sent']}, {lat['ready']}/{lat['ports']} ports ready in "
              f"{lat['ready_s']} s")
        if "gateway_log_tail" in lat:
            print(f"       {lat['ports'] - lat['ready']} ports never became ready; the gateway's last log line: "
                  f"{lat['gateway_log_tail'].strip()}")
    if r["latency"]:
        floor = r["latency"][0]["line_floor_ms"]
        p50 = r["latency"][0]["from_wire"].get("p50_ms")
        ratio = f" — p50 at 1 port is {p50 / floor:.2f}x the floor" if p50 else ""
        print(f"   line-time floor (+CMTI line + AT+CMGR answer at {r['baud']} baud): {floor} ms{ratio}")
    gaps = [lat["sms_return_after_wire"].get("p50_ms") for lat in r["latency"]]
    print(f"   (VirtualModem.sms() returns {', '.join(f'{g} ms' for g in gaps)} (p50) after the +CMTI write:"
          " the AT log time is the wire time)")
    b = r["burst"]
    print()
    print(f"2. Burst drain: {b['ports']} ports x {b['per_port']} SMS waiting before the gateway starts "
          f"({b['stored_on_sims_at_start']} on the SIMs, {b['queued_by_network_at_start']} held by the network "
          "until SIM space frees)")
    if "seconds_from_start" in b:
        mb = b["measured_bytes_per_msg"]
        cb = b["computed_bytes_per_msg"]
        print(f"   all {b['arrived']}/{b['messages']} on the broker {b['seconds_from_start']} s after process start "
              f"(first after {b['first_after_start_s']} s): {b['msgs_per_s_from_start']} msg/s from start, "
              f"{b['msgs_per_s_first_to_last']} msg/s first-to-last")
        print(f"   wire bytes per message (measured, AT log from the first AT+CMGL): {mb['modem_to_host']} modem->host "
              f"+ {mb['host_to_modem']} host->modem; computed: {cb['cmgl_cmgd']} via CMGL+CMGD, "
              f"{cb['cmti_cmgr_cmgd']} via CMTI+CMGR+CMGD")
        print(f"   CPU during the drain: gateway process {b['gateway_cpu_s']} s ({b['gateway_cpu_ms_per_msg']} ms per "
              f"message, start-up included), hwsim bank + subscriber "
              f"{b['bank_and_subscriber_cpu_s']} s (of {r['cpus']} cores x {b['seconds_from_start']} s)")
        print(f"   line-rate limit, {b['ports']} ports in parallel at {r['baud']} baud: "
              f"{b['line_rate_limit_msgs_per_s']} msg/s; achieved {100 * b['fraction_of_limit_from_start']:.1f}% "
              f"(from start), {100 * b.get('fraction_of_limit_from_first_listing', 0):.1f}% (from the first "
              f"AT+CMGL on the wire: {b.get('msgs_per_s_from_first_listing')} msg/s), "
              f"{100 * (b['fraction_of_limit_first_to_last'] or 0):.1f}% (first-to-last)")
    else:
        print(f"   only {b['arrived']}/{b['messages']} arrived")
    for x in [r["burst_one_process"], *r.get("burst_scaling", [])] if "burst_one_process" in r else []:
        if "seconds_from_start" not in x:
            print(f"   {x['ports']} ports: only {x['arrived']}/{x['messages']} arrived")
            continue
        one = " in one process" if x["gateway_processes"] == 1 else ""
        print(f"   {x['ports']:>3} ports x {x['per_port']}{one}: {x['msgs_per_s_from_start']} msg/s from start "
              f"({100 * x['fraction_of_limit_from_start']:.1f}% of {x['line_rate_limit_msgs_per_s']}), "
              f"{x['msgs_per_s_first_to_last']} first-to-last "
              f"({100 * (x['fraction_of_limit_first_to_last'] or 0):.1f}%); first after {x['first_after_start_s']} s, "
              f"gateway CPU {x['gateway_cpu_s']} s")
    c = r.get("calls")
    if c:
        print()
        print(f"3. Call hang-up latency, +CLIP on the wire -> hang-up command at hwsim, {c['calls']} calls on "
              f"{c['ports']} ports: {fmt_lat(c['clip_to_hangup'])}  commands {c['commands']}")
    if r["idle"]:
        print()
        print("4. Idle gateway process (from /proc)")
    for i in r["idle"]:
        print(f"   {i['ports']:>3} ports ({i['ready']} ready): {i['cpu_percent_of_one_core']}% of one core "
              f"over {i['window_s']} s, RSS {i['rss_mib']} MiB (peak {i['peak_rss_mib']} MiB), "
              f"{i['threads']} threads, {i['at_commands_per_port_minute']} AT commands a minute per port")
    if r["peers"]:
        print()
        print("5. Drain beside the peers (same bank kind, all messages waiting at start; time from process start "
              "to the last message stored/published)")
        base = next((p for p in r["peers"] if p["peer"] == "simhost" and "msgs_per_s" in p), None)
        print(f"   {'reader':<11} {'setting':<13} {'bank':<6} {'first msg':>9} {'last msg':>9} {'msg/s':>7} "
              f"{'msg/s first->last':>17} {'CPU s':>6}  simhost/peer (from start, first->last)")
        for p in r["peers"]:
            size = f"{p['ports']}x{p['messages'] // p['ports']}"
            if "msgs_per_s" not in p:
                print(f"   {p['peer']:<11} {p['setting']:<13} {size:<6} incomplete: {p['stored']}/{p['messages']}")
                continue
            steady = p.get("msgs_per_s_first_to_last") or 0.0
            ratio = ""
            if base is not None and p is not base:
                base_steady = base.get("msgs_per_s_first_to_last") or 0.0
                ratio = (f"{base['msgs_per_s'] / p['msgs_per_s']:.2f}x, "
                         f"{base_steady / steady:.2f}x" if steady else "")
            print(f"   {p['peer']:<11} {p['setting']:<13} {size:<6} {p['first_after_start_s']:>8.2f}s "
                  f"{p['seconds_from_start']:>8.2f}s {p['msgs_per_s']:>7.1f} {steady:>17.1f} "
                  f"{p['cpu_s_to_done']:>6.2f}  {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer ports and samples (under 2 minutes)")
    parser.add_argument("--skip-peers", action="store_true", help="leave out gammu-smsd and smstools3")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) and print its path")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    root = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    broker = PrivateBroker()
    broker.start()
    started = time.monotonic()
    try:
        results = run(plan, args.skip_peers, root, broker.url)
    finally:
        broker.close()
        if args.keep:
            log(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    results["quick"] = args.quick
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    print_table(results)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
