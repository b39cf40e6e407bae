#!/usr/bin/env bash
# One-time (idempotent) setup on a Debian machine: system packages, then .venv/ with simhost and hwsim.
set -euo pipefail
cd "$(dirname "$0")/.."

# libgammu-dev: python-gammu builds against it where pip has no binary wheel for this Python.
# chromium: the browser the web pages' tests drive through Playwright.
APT_PACKAGES=(mosquitto mosquitto-clients gammu gammu-smsd libgammu-dev smstools libdbd-sqlite3 sqlite3
              python3-venv chromium)
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    # Package post-install scripts must not start daemons: the tests start their own.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.simhost-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[test]'
    touch "$stamp"
fi

# mypy cannot follow setuptools' package_dir mapping: give it the import names as links.
mkdir -p .venv/typing
ln -sfn ../../simhost .venv/typing/simhost
ln -sfn ../../drivers .venv/typing/simhost_drivers
ln -sfn ../../hw-sim .venv/typing/hwsim
