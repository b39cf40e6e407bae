#!/usr/bin/env bash
# The demo (main job): setup, a Mosquitto if none is reachable, then a virtual bank read by simhost.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
