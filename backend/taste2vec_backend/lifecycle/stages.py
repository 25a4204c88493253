"""Registry stages: candidate -> staging -> production -> archived, with a complete history.

Stages live next to the bundle registry's ``index.json`` in ``stages.json`` (``taste2vec.stages/1``)::

    {"format": "taste2vec.stages/1",
     "models": {"taste2vec-edge": {"stages": {"1.2.0": "archived", "1.3.0": "production"},
                                   "history": [{"version": "1.3.0", "from": "staging", "to": "production",
                                                "reason": "experiment edge-13: promote", "time": "..."}, ...]}}}

Names follow MLflow's model-registry stages (None/Staging/Production/Archived; ``candidate`` is our None).
Every operation reads the file, changes it in memory and replaces it in one ``os.replace`` of a fully written and
fsynced temporary file, so a promotion (new version to production *and* the old one to archived) is atomic: an
interrupted write leaves the previous state. Versions are never deleted: archiving keeps the bundle, and
``rollback`` brings back the previous production version from the history.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any, Callable

from taste2vec.bundle import check_not_older, version_key
from taste2vec.fileio import file_lock, read_document, write_atomic
from taste2vec.registry import ModelRegistry, RegistryError

STAGES_FILE = "stages.json"
STAGES_FORMAT = "taste2vec.stages/1"
STAGES = ("candidate", "staging", "production", "archived")
# allowed manual transitions; production is entered only by promote / rollback, and left by them
_ALLOWED = {("candidate", "staging"), ("candidate", "archived"), ("staging", "archived"), ("archived", "staging"),
            ("staging", "candidate")}


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a read-modify-write of the stages file under its inter-process lock (no lost transition)."""
    @functools.wraps(method)
    def wrapper(self: "StagedRegistry", *args: Any, **kwargs: Any) -> Any:
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / STAGES_FILE):
            return method(self, *args, **kwargs)
    return wrapper


class StageError(RegistryError):
    """A stage transition is not allowed, or the stages file is unusable."""


class StagedRegistry:
    """A :class:`~taste2vec.registry.ModelRegistry` whose versions carry lifecycle stages (see module docs)."""

    def __init__(self, root: str | Path, trusted_keys=None, allow_unsigned: bool = False) -> None:
        self.root = Path(root)
        self.registry = ModelRegistry(self.root, trusted_keys, allow_unsigned)

    # ------------------------------------------------------------------ reading
    def _read(self) -> dict[str, Any]:
        path = self.root / STAGES_FILE
        doc = read_document(path, STAGES_FORMAT, lambda: {"format": STAGES_FORMAT, "models": {}}, StageError,
                            "stages file")
        _check_stages(doc, path)
        return doc

    def stage(self, name: str, version: str) -> str:
        """The stage of one registered version (``candidate`` when registered before stages were used)."""
        self.registry.entry(name, version)
        return self._read()["models"].get(name, {}).get("stages", {}).get(version, "candidate")

    def versions(self, name: str, stage: str | None = None) -> list[str]:
        """Registered versions of ``name`` (newest first), optionally only those in ``stage``."""
        vs = [m["version"] for m in self.registry.list() if m["name"] == name]
        return [v for v in vs if stage is None or self.stage(name, v) == stage]

    def production(self, name: str) -> str | None:
        prod = self.versions(name, "production")
        return prod[0] if prod else None

    def history(self, name: str) -> list[dict[str, Any]]:
        return list(self._read()["models"].get(name, {}).get("history", []))

    # ------------------------------------------------------------------ writing
    @_locked
    def register(self, bundle_path: str | Path, reason: str = "registered") -> dict[str, Any]:
        """Register a bundle (verified, copied) as a ``candidate``; idempotent for the same content."""
        entry = self.registry.register(bundle_path)
        doc = self._read()
        model = doc["models"].setdefault(entry["name"], {"stages": {}, "history": []})
        if entry["version"] not in model["stages"]:
            model["stages"][entry["version"]] = "candidate"
            model["history"].append(_event(entry["version"], None, "candidate", reason))
            self._write(doc)
        return entry

    @_locked
    def transition(self, name: str, version: str, to: str, reason: str = "") -> None:
        """A manual stage change (candidate <-> staging, to archived, archived -> staging)."""
        if to not in STAGES:
            raise StageError(f"unknown stage {to!r} (allowed: {', '.join(STAGES)})")
        cur = self.stage(name, version)
        if (cur, to) not in _ALLOWED:
            raise StageError(f"{name} {version}: {cur} -> {to} is not allowed (production changes only through "
                             "promote and rollback)")
        doc = self._read()
        self._set(doc, name, version, cur, to, reason)
        self._write(doc)

    @_locked
    def promote(self, name: str, version: str, reason: str = "", allow_downgrade: bool = False) -> str | None:
        """Staging -> production; the current production version (returned) goes to archived, in one write.
        Anti-rollback: a version older than production is refused (:class:`DowngradeError`) unless
        ``allow_downgrade`` (the event then records the downgrade, so servers follow it)."""
        cur = self.stage(name, version)
        if cur != "staging":
            raise StageError(f"{name} {version} is {cur}; only a staging version can be promoted")
        doc = self._read()
        old = self.production(name)
        down = old is not None and version_key(version) < version_key(old)
        if down:
            check_not_older(version, old, allow_downgrade, f"promote {name}")
        if old is not None:
            self._set(doc, name, old, "production", "archived", f"replaced by {version}. {reason}".strip())
        self._set(doc, name, version, "staging", "production", reason, downgrade=down)
        self._write(doc)
        return old

    @_locked
    def rollback(self, name: str, reason: str = "") -> str:
        """Production -> archived and the previous production version back to production; returns it."""
        cur = self.production(name)
        if cur is None:
            raise StageError(f"{name} has no production version to roll back")
        previous = [h["version"] for h in self.history(name) if h["to"] == "production" and h["version"] != cur]
        if not previous:
            raise StageError(f"{name} {cur} has no earlier production version to roll back to")
        back = previous[-1]
        doc = self._read()
        self._set(doc, name, cur, "production", "archived", f"rolled back. {reason}".strip())
        self._set(doc, name, back, self.stage(name, back), "production", f"rollback of {cur}. {reason}".strip(),
                  downgrade=True)
        self._write(doc)
        return back

    def _set(self, doc: dict[str, Any], name: str, version: str, frm: str | None, to: str, reason: str,
             downgrade: bool = False) -> None:
        model = doc["models"].setdefault(name, {"stages": {}, "history": []})
        model["stages"][version] = to
        event = _event(version, frm, to, reason)
        if downgrade:
            event["downgrade"] = True  # a deliberate move to an older production version (rollback, allowed promote)
        model["history"].append(event)

    def downgrade_intended(self, name: str, version: str) -> bool:
        """Whether ``version`` became production by a deliberate downgrade (``rollback`` or an allowed promote): a
        server following the registry may then move back to it."""
        events = [h for h in self.history(name) if h["to"] == "production" and h["version"] == version]
        return bool(events) and events[-1].get("downgrade") is True

    def _write(self, doc: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.root / STAGES_FILE, json.dumps(doc, indent=1, ensure_ascii=False))


MAX_HISTORY = 100_000


def _check_stages(doc: dict[str, Any], path: Path) -> None:
    """The stages file's structure (StageError naming the key): what every reader of it relies on."""
    def bad(where: str, what: str) -> StageError:
        return StageError(f"{path}: {where}: expected {what} (a damaged stages file; fix or restore it)")

    models = doc.get("models")
    if not isinstance(models, dict):
        raise bad("models", "an object keyed by model name")
    for name, m in models.items():
        if not isinstance(m, dict):
            raise bad(f"models.{name}", 'an object with "stages" and "history"')
        stages, history = m.get("stages", {}), m.get("history", [])
        if not isinstance(stages, dict) or not all(isinstance(v, str) and s in STAGES for v, s in stages.items()):
            raise bad(f"models.{name}.stages", f"an object version -> one of {', '.join(STAGES)}")
        if not isinstance(history, list) or len(history) > MAX_HISTORY:
            raise bad(f"models.{name}.history", f"a list of at most {MAX_HISTORY} events")
        for i, h in enumerate(history):
            if not (isinstance(h, dict) and isinstance(h.get("version"), str) and h.get("to") in STAGES
                    and (h.get("from") is None or h.get("from") in STAGES)):
                raise bad(f"models.{name}.history[{i}]", 'an event {"version", "from", "to", "reason", "time"}')
        m.setdefault("stages", stages)
        m.setdefault("history", history)


def _event(version: str, frm: str | None, to: str, reason: str) -> dict[str, Any]:
    return {"version": version, "from": frm, "to": to, "reason": reason,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
