"""Package discovery for the three source roots (everything else is in pyproject.toml).

``pyproject.toml`` maps the roots (``src/syncbridge``, ``connectors``, ``flows``) into one import package,
``syncbridge``; a static ``packages`` list would have to name every vendor folder, so the packages are
found here instead: a new ``connectors/<vendor>/`` folder is packaged without editing any list.
"""

from setuptools import find_packages, setup

ROOTS = {"syncbridge": "src/syncbridge", "syncbridge.connectors": "connectors", "syncbridge.flows": "flows"}

packages = []
for prefix, folder in ROOTS.items():
    packages.append(prefix)
    packages.extend(f"{prefix}.{found}" for found in find_packages(folder))

setup(packages=packages)
