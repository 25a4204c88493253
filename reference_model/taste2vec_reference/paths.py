"""Where the project's data lives.

Real data is read from ``../shared/data`` next to the repository (override with the environment variable
``TASTE2VEC_DATA``); nothing from it is copied into the repository except what its licence allows. "The repository"
is the checkout this package runs from (an editable install), else the working directory: an installed toolkit
(``pip install . ./toolkit``) run from the checkout's root finds the same folder.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RESOURCES = Path(__file__).resolve().parent / "resources"


def data_candidates() -> list[Path]:
    """Where the data is looked for, in order: ``$TASTE2VEC_DATA``; ``../shared/data`` next to the checkout this
    package runs from; next to the working directory; inside it."""
    env = os.environ.get("TASTE2VEC_DATA")
    if env:
        return [Path(env)]
    cwd = Path.cwd()
    return [REPO_ROOT.parent / "shared" / "data", cwd.parent / "shared" / "data", cwd / "shared" / "data"]


def data_root() -> Path:
    """Folder holding coffee_reviews/, cqi_cupping/ and flavor_wheel/ (see each SOURCE.md): the first of
    :func:`data_candidates` that exists (the first one when none does, so that messages name it)."""
    places = data_candidates()
    return next((p for p in places if p.is_dir()), places[0])


def require(path: Path, what: str) -> Path:
    """Return ``path`` if it exists, else raise FileNotFoundError that says how to point at the data."""
    if not path.exists():
        tried = ", ".join(str(p) for p in dict.fromkeys(data_candidates()))
        raise FileNotFoundError(
            f"{what} not found at {path} (data folders tried: {tried}). Put the shared data next to the repository "
            f"(../shared/data) and run from the repository's root, or set TASTE2VEC_DATA to the folder that holds it.")
    return path
