"""Build glue: maps the import names onto the repository's folders (drivers/, hw-sim/, alembic/, udev/)."""

from setuptools import find_packages, setup

ROOTS = {"simhost": "simhost", "simhost_drivers": "drivers", "hwsim": "hw-sim"}
# Files simhost reads at run time, found through importlib.resources under these names. alembic/ has no
# __init__.py (it would shadow the alembic library wherever the repository's root is on sys.path, as in the
# tests), so simhost_migrations is a namespace package, found through its regular subpackage `versions`.
DATA_ROOTS = {"simhost_migrations": "alembic", "simhost_migrations.versions": "alembic/versions",
              "simhost_udev": "udev"}
PACKAGE_DATA = {"simhost_migrations": ["script.py.mako"], "simhost_udev": ["*.rules"],
                "simhost.web": ["static/*.*", "static/i18n/*.json"]}


def _packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return found + list(DATA_ROOTS)


setup(package_dir={**ROOTS, **DATA_ROOTS}, packages=_packages(), package_data=PACKAGE_DATA)
