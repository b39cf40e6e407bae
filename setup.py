"""Build glue: maps the import names onto the repository's folders (drivers/, hw-sim/)."""

from setuptools import find_packages, setup

ROOTS = {"simhost": "simhost", "simhost_drivers": "drivers", "hwsim": "hw-sim"}


def _packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(package_dir=ROOTS, packages=_packages())
