"""Small file helpers shared by profiles, the registry, the stages file and rollout configs: bounded JSON
reading, bounded line reading (JSON-lines files), crash-safe writes, an inter-process lock, and versioned JSON
documents.

Everything read from outside is bounded: :func:`read_json` reads at most ``max_bytes`` (a larger file is refused
without being read whole) and :func:`parse_json` refuses nesting deeper than ``max_depth`` and the non-standard
constants ``NaN`` / ``Infinity``, with the caller's error type naming the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import IO, Any, Callable, Iterator

MAX_JSON_BYTES = 16 * 1024 * 1024  # state files (profiles, rollouts, the registry index) are kilobytes
MAX_JSON_DEPTH = 32  # the deepest document this package writes nests 6 levels


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not JSON")


_CONTAINERS = frozenset((dict, list))


def json_depth(value: Any, limit: int | None = None) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0, ``[]`` is 1), level by level without recursion; once
    past ``limit`` it stops looking deeper (and returns ``limit + 1``). Containers are JSON's: dicts and lists."""
    depth, level = 0, ([value] if type(value) in _CONTAINERS else [])  # the containers of one level
    while level and (limit is None or depth <= limit):
        depth += 1
        values = [c.values() if type(c) is dict else c for c in level]
        # a container of scalars only (most of them: vectors) is passed over by a set of its item types
        level = [x for v in values if not _CONTAINERS.isdisjoint(map(type, v)) for x in v if type(x) in _CONTAINERS]
    return depth


def parse_json(text: str | bytes, error: Callable[[str], Exception], what: str, max_bytes: int = MAX_JSON_BYTES,
               max_depth: int = MAX_JSON_DEPTH, constants: bool = False,
               loads: Callable[[str], Any] | None = None) -> Any:
    """Parse JSON text with a size and nesting limit; ``error("<what>: ...")`` for anything else than a bounded,
    standard JSON document (bad UTF-8, syntax, NaN / Infinity, too large, too deep). ``constants`` reads ``NaN`` /
    ``Infinity`` as ``json.loads`` does, for records, whose validation then names the field. ``loads``: another
    standard JSON parser raising ``ValueError`` (e.g. ``orjson.loads``, for a caller that has it), else the standard
    library's."""
    if len(text) > max_bytes:
        raise error(f"{what}: {len(text)} bytes is more than the {max_bytes} allowed")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(f"{what}: not UTF-8 ({e})") from None
    try:
        if loads is not None:
            value = loads(text)
        else:
            value = json.loads(text) if constants else json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise error(f"{what}: nested deeper than {max_depth} levels") from None
    except ValueError as e:  # JSONDecodeError, and integers longer than Python's digit limit
        raise error(f"{what}: not valid JSON ({e})") from None
    if json_depth(value, max_depth) > max_depth:
        raise error(f"{what}: nested deeper than {max_depth} levels")
    return value


def read_json(path: str | Path, error: Callable[[str], Exception], what: str, max_bytes: int = MAX_JSON_BYTES,
              max_depth: int = MAX_JSON_DEPTH, loads: Callable[[str], Any] | None = None) -> Any:
    """:func:`parse_json` of a file, reading no more than ``max_bytes + 1`` bytes of it."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise error(f"{path}: cannot read {what} ({e.strerror or e})") from None
    return parse_json(data, error, f"{path}: {what}", max_bytes, max_depth, loads=loads)


def iter_lines(path: str | Path, max_line_bytes: int, digest: Any = None) -> Iterator[tuple[int, str | None, str]]:
    """The lines of a UTF-8 text file (JSON lines, logs), numbered from 1: :func:`iter_stream_lines` of the file."""
    with open(path, "rb") as fh:
        yield from iter_stream_lines(fh, max_line_bytes, digest)


def iter_stream_lines(fh: IO[bytes], max_line_bytes: int, digest: Any = None,
                      ) -> Iterator[tuple[int, str | None, str]]:
    """The lines of a binary stream of UTF-8 text, numbered from 1, without their line ending.

    Each line is read with a byte cap, so one endless line cannot exhaust memory: yields ``(number, text, "")``,
    or ``(number, None, reason)`` for a line longer than ``max_line_bytes`` (skipped to its end, never held
    whole) or not UTF-8. ``digest`` (e.g. ``hashlib.sha256()``) is fed every byte of the stream.
    """
    n = 0
    while raw := fh.readline(max_line_bytes + 2):  # + 2: the line ending fits
        n += 1
        if digest is not None:
            digest.update(raw)
        body = raw.rstrip(b"\r\n")
        if len(body) > max_line_bytes:
            while not raw.endswith(b"\n") and (raw := fh.readline(1 << 16)):
                if digest is not None:
                    digest.update(raw)
            yield n, None, f"line longer than {max_line_bytes} bytes"
            continue
        try:
            yield n, body.decode("utf-8"), ""
        except UnicodeDecodeError as e:
            yield n, None, f"not UTF-8 ({e})"


MAX_NAME_CHARS = 200


def saveable_text(value: Any, max_chars: int) -> bool:
    """A string of at most ``max_chars`` characters that UTF-8 can encode (no lone surrogates)."""
    if not isinstance(value, str) or len(value) > max_chars:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def plain_name(name: Any) -> bool:
    """A single, ordinary path component: a non-empty string of at most 200 characters without separators,
    NUL, leading dot or surrogates (so ``..``, absolute paths and hidden files are out)."""
    return saveable_text(name, MAX_NAME_CHARS) and bool(name) and not name.startswith(".") and \
        not any(c in name for c in ("/", "\\", "\x00", ":"))


def inside(root: str | Path, name: Any, error: Callable[[str], Exception], what: str) -> Path:
    """``root / name`` for a :func:`plain_name` that, after resolving symlinks, stays inside ``root``;
    ``error(...)`` naming ``what`` otherwise."""
    if not plain_name(name):
        raise error(f"{what} {name!r}: not a plain folder name inside {root} (no separators, '..' or leading dot)")
    base = Path(root).resolve()
    path = (base / name).resolve()
    if path.parent != base:
        raise error(f"{what} {name!r}: resolves to {path}, outside {base}")
    return Path(root) / name


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``path`` + ``.lock`` (blocking) for a read-modify-write.

    ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows: standard library only, released by the OS if the
    process dies. The lock file stays (removing it would race with a waiting process).
    """
    lock = Path(path).with_name(Path(path).name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def try_lock(path: str | Path) -> int | None:
    """Take an exclusive inter-process lock on ``path`` (created if missing) without waiting: its open file
    descriptor while held (release with :func:`unlock`), None when another open file holds it. Released by the OS
    when the process dies, so a killed holder's lock is free again."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError / PermissionError: held elsewhere
        os.close(fd)
        return None
    return fd


def unlock(fd: int) -> None:
    """Release a lock of :func:`try_lock` (closing its descriptor releases it)."""
    os.close(fd)


TEMPORARY_PREFIX = ".tmp-"  # write_atomic's temporary files: .tmp-<writer pid>-<uuid>-<name>


def write_atomic(path: str | Path, text: str, fsync: bool = True) -> Path:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half of one: a fsynced
    temporary file ``.tmp-<pid>-<uuid>-<name>`` beside it, then ``os.replace``; the temporary file is removed if that
    fails. A writer killed mid-write leaves its temporary file: :func:`remove_stale_temporaries` deletes it.
    ``fsync=False`` leaves flushing to the caller (who syncs many files at once)."""
    path = Path(path)
    tmp = path.with_name(f"{TEMPORARY_PREFIX}{os.getpid()}-{uuid.uuid4().hex}-{path.name}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete the :func:`write_atomic` temporary files in ``folder`` whose writer process is gone (where a process
    cannot be asked, on Windows or for a name without a writer pid: older than an hour); the number deleted."""
    removed = 0
    for p in Path(folder).glob(TEMPORARY_PREFIX + "*"):
        pid = p.name[len(TEMPORARY_PREFIX):].split("-", 1)[0]
        try:
            alive = _process_alive(int(pid)) if pid.isdigit() and sys.platform != "win32" else \
                time.time() - p.stat().st_mtime < 3600
            if not alive:
                p.unlink()
                removed += 1
        except OSError:
            continue  # gone meanwhile, or not ours to delete
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def read_document(path: str | Path, fmt: str, empty: Callable[[], dict[str, Any]],
                  error: type[Exception], what: str) -> dict[str, Any]:
    """A JSON document whose ``format`` must be ``fmt``; ``empty()`` when the file does not exist yet.

    Raises ``error`` naming the file for unreadable JSON (``"<path>: corrupt <what> (...)"``) or another format.
    """
    path = Path(path)
    if not path.exists():
        return empty()
    doc = read_json(path, error, f"corrupt {what}")
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise error(f"{path}: format {doc.get('format') if isinstance(doc, dict) else None!r}, expected {fmt}")
    return doc
