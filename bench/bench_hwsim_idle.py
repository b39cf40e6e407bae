"""Benchmark: CPU an idle `hwsim bank` of 256 modems burns (target: under 2% of one core), and its start time."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` (all its threads) from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[11], fields[12] are utime and stime (stat fields 14 and 15)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure(ports: int, profiles: str, baud: int | None, seconds: float) -> dict[str, float | int | str]:
    with tempfile.TemporaryDirectory(prefix="hwsim-idle-") as tmp:
        directory = Path(tmp) / "bank"
        cmd = [sys.executable, "-m", "hwsim.cli", "bank", "--ports", str(ports), "--dir", str(directory),
               "--profiles", profiles]
        if baud:
            cmd += ["--baud", str(baud)]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise SystemExit(f"bank did not start: {proc.stderr.read() if proc.stderr else ''}")
            ready_s = time.monotonic() - started
            info = json.loads(line)
            assert len(info["ports"]) == ports
            cpu_before, t_before = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(seconds)
            cpu_after, t_after = cpu_seconds(proc.pid), time.monotonic()
            threads = len(os.listdir(f"/proc/{proc.pid}/task"))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=STOP_TIMEOUT_S)
        return {"ports": ports, "profiles": profiles, "baud": baud or 0, "threads": threads,
                "ready_s": round(ready_s, 2), "window_s": round(t_after - t_before, 1),
                "idle_cpu_percent_of_one_core": round(100 * (cpu_after - cpu_before) / (t_after - t_before), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ports", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--profiles", default="generic,sim800,ec25,e173")
    parser.add_argument("--baud", type=int, default=115200)
    args = parser.parse_args()
    result = measure(args.ports, args.profiles, args.baud, args.seconds)
    print(f"hwsim bank, {result['ports']} ports ({result['profiles']}), baud {result['baud']}: "
          f"ready in {result['ready_s']} s, {result['threads']} threads, "
          f"idle CPU {result['idle_cpu_percent_of_one_core']}% of one core over {result['window_s']} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
