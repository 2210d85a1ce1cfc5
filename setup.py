"""Package discovery for setuptools (everything else is in pyproject.toml).

The sources live in three top-level folders that install as one package:
biomech/ -> biomech, kernels/ -> biomech.kernels, meshes/ -> biomech.meshes.
pyproject.toml's ``[tool.setuptools.packages.find]`` cannot map folders to other
package names, so the sub-packages are found here: a new sub-package (a folder with an
``__init__.py``) is picked up without editing any configuration.  Data folders
(biomech/data, meshes/data) are namespace packages (no ``__init__.py``) so that their
files ship as package data without setuptools' "package would be ignored" warning.
"""
from setuptools import find_namespace_packages, setup

PACKAGE_DIR = {"biomech": "biomech", "biomech.kernels": "kernels", "biomech.meshes": "meshes"}

packages = []
for package, folder in PACKAGE_DIR.items():
    packages += [package] + [f"{package}.{sub}" for sub in
                             find_namespace_packages(folder, exclude=["*__pycache__*"])]

setup(package_dir=PACKAGE_DIR, packages=sorted(set(packages)))
