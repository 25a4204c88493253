"""Where the project's data lives.

Real data is read from ``../shared/data`` next to the repository (override with the environment variable
``TASTE2VEC_DATA``); nothing from it is copied into the repository except what its licence allows.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RESOURCES = Path(__file__).resolve().parent / "resources"


def data_root() -> Path:
    """Folder holding coffee_reviews/, cqi_cupping/ and flavor_wheel/ (see each SOURCE.md)."""
    env = os.environ.get("TASTE2VEC_DATA")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data"


def require(path: Path, what: str) -> Path:
    """Return ``path`` if it exists, else raise FileNotFoundError that says how to point at the data."""
    if not path.exists():
        raise FileNotFoundError(
            f"{what} not found at {path}. Put the shared data next to the repository (../shared/data) "
            f"or set TASTE2VEC_DATA to the folder that holds it.")
    return path
