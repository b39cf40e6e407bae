"""The built wheel works outside the checkout: migrations, udev rules and version come from the installed package."""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from simhost.db import HEAD_REVISION

REPO = Path(__file__).resolve().parents[2]
# what the build reads; copied so that the build never writes build/ or *.egg-info into the checkout
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "LICENSE",
           "simhost", "drivers", "hw-sim", "alembic", "udev")


@dataclass
class Installed:
    wheel: Path
    venv: Path
    outside: Path  # a working directory outside the checkout

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("SIMHOST_")}
        return subprocess.run([str(self.venv / "bin" / args[0]), *args[1:]], capture_output=True, text=True,
                              cwd=self.outside, env=env, timeout=120, check=False)


def _check(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built from a copy of the sources, installed with --no-deps into a fresh venv whose
    dependencies come from this interpreter's site-packages (a .pth file): no network needed."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, src / name)
    dist = root / "dist"
    # build isolation fetches setuptools and wheel through pip's configured (here: local) indexes
    _check([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)], root)
    (wheel,) = dist.glob("simhost-*.whl")
    venv = root / "venv"
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)], root)
    python = venv / "bin" / "python"
    _check([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
            str(wheel)], root)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    # appended after the venv's own site-packages, whose simhost is the wheel's
    (Path(purelib) / "simhost-deps.pth").write_text("".join(f"{p}\n" for p in ours))
    outside = root / "outside"
    outside.mkdir()
    return Installed(wheel, venv, outside)


def test_code_and_data_come_from_the_venv(installed: Installed) -> None:
    result = installed.run("python", "-c", "import hwsim, simhost, simhost_drivers, simhost_migrations.versions, "
                           "simhost_udev\nfor m in (hwsim, simhost, simhost_drivers, simhost_migrations.versions, "
                           "simhost_udev): print(m.__file__)")
    assert result.returncode == 0, result.stderr
    files = result.stdout.split()
    assert len(files) == 5
    for f in files:
        assert Path(f).is_relative_to(installed.venv), f


def test_db_upgrade_outside_the_checkout(installed: Installed) -> None:
    db = installed.outside / "x.db"
    result = installed.run("simhost", "--db", f"sqlite:///{db}", "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"database 'sqlite:///{db}' is at the newest schema\n"
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD_REVISION,)]
        tables = {row[0] for row in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"ports", "outbox", "customers", "sim_slots"} <= tables


def test_udev_rules_outside_the_checkout(installed: Installed) -> None:
    result = installed.run("simhost", "udev", "rules")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (REPO / "udev" / "99-simhost.rules").read_text()


def test_version_from_the_installed_metadata(installed: Installed) -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    expected = cfg["metadata"]["version"]
    assert installed.wheel.name.startswith(f"simhost-{expected}-")
    for command in ("simhost", "hwsim"):
        result = installed.run(command, "--version")
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{command} {expected}\n"


def test_wheel_metadata(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as whl:
        names = whl.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [line for line in whl.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
        licenses = [n for n in names if ".dist-info/" in n and n.endswith("/LICENSE")]
        assert len(licenses) == 1
        assert "simhost developers" in whl.read(licenses[0]).decode()
    runtime = [r for r in requires if "extra ==" not in r]
    assert not [r for r in runtime if "psycopg" in r or "gsmmodem" in r], runtime
    assert any("psycopg" in r and 'extra == "postgres"' in r for r in requires), requires
    assert any("psycopg" in r and 'extra == "test"' in r for r in requires), requires
    revisions = {f"simhost_migrations/versions/{p.name}" for p in (REPO / "alembic" / "versions").glob("*.py")}
    assert {n for n in names if n.startswith("simhost_migrations/versions/")} == revisions
    data = {"simhost_migrations/env.py", "simhost_migrations/script.py.mako", "simhost_udev/99-simhost.rules"}
    assert data <= set(names)


def test_web_pages_outside_the_checkout(installed: Installed) -> None:
    result = installed.run("python", "-c", "from simhost.web.pages import STATIC\n"
                           "print(sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob('*.*')))")
    assert result.returncode == 0, result.stderr
    shipped = set(ast.literal_eval(result.stdout))
    here = REPO / "simhost" / "web" / "static"
    assert shipped == {p.relative_to(here).as_posix() for p in here.rglob("*.*")}
    assert {"account.html", "operator.html", "signin.html", "i18n/ru.json", "i18n/en.json"} <= shipped
