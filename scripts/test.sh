#!/usr/bin/env bash
# The test command: setup, then lint (ruff), types (mypy) and the whole test suite (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy -p simhost -p simhost_drivers -p hwsim
echo "== pytest"; .venv/bin/pytest "$@"
