"""Packaging: the project's metadata and settings are in pyproject.toml; only the list of
packages is made here.

Every package under ``deblur/`` is found (a new subpackage cannot be left out of a wheel),
plus ``deblur.weights``: the shipped weights live once, in the top-level ``weights/``
folder, which pyproject.toml's ``package-dir`` maps to ``deblur/weights`` and which
discovery alone cannot see as part of ``deblur``.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["deblur", "deblur.*"]), "deblur.weights"])
