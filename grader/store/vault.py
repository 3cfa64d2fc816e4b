"""What completed runs predicted, kept so that they can be rescored: sealed, append-only, beside the database.

One JSON line per completed run in ``predictions/NNNNN.jsonl`` (:data:`PER_FILE` submission ids
to a file), appended and synced inside the recording transaction. Git stores a file that only
grows as its newest version plus a few bytes for each older one, and a finished file never
changes again; sealed bytes do not compress, and inside the database they would be copied into
every version of it that git stores whole.

The values are sealed (Fernet) with the private key when there is one; the key is handed in by
the caller (:class:`grader.store.Store` gets it from whoever opens it), never read here from the
environment.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from grader.errors import StoreError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

FOLDER = "predictions"
PER_FILE = 50


@dataclass(frozen=True)
class Packed:
    """A completed run's predictions packed for storage (:func:`grader.predictions.pack`), not yet sealed."""

    ids_digest: str  # which test ids, in which order, the values belong to
    data: bytes


class Kept(NamedTuple):
    """Stored predictions as they are on disk: ``data`` is sealed when ``sealed``."""

    ids_digest: str
    sealed: bool
    data: bytes


def fernet(key: str) -> Fernet:
    """The Fernet of a private key (already checked by :func:`grader.sealing.sealer`)."""
    from cryptography.fernet import Fernet

    return Fernet(key.strip().encode("ascii"))


def seal(box: Fernet | None, data: bytes) -> bytes:
    """``data`` encrypted (a Fernet token as raw bytes: a third smaller than its base64); as is without a key."""
    return data if box is None else base64.urlsafe_b64decode(box.encrypt(data))


def unseal(box: Fernet, data: bytes) -> bytes:
    from cryptography.fernet import InvalidToken

    from grader.sealing import KEY_ENV, SealError

    try:
        return bytes(box.decrypt(base64.urlsafe_b64encode(data)))
    except InvalidToken:
        raise SealError(
            f"${KEY_ENV} cannot open the stored predictions: it is not the key they were sealed with. "
            "Nothing was changed; set the key that the scoring workflow used."
        ) from None


def keep(folder: Path, submission_id: int, run_id: str, kept: Kept) -> None:
    """Append one run's stored predictions to its file in ``folder`` (synced to disk before returning)."""
    entry = {"id": submission_id, "run": run_id, "ids": kept.ids_digest, "sealed": kept.sealed,
             "data": base64.urlsafe_b64encode(kept.data).decode("ascii")}  # fmt: skip
    _append_line(folder / f"{submission_id // PER_FILE:05d}.jsonl", json.dumps(entry, separators=(",", ":")))


def read(folder: Path, runs: dict[int, str]) -> dict[int, Kept]:
    """Submission id → its stored predictions, for the ids of ``runs`` (id → run id) found in ``folder``.

    A line counts only when it names the run recorded under its id: a line whose transaction
    never committed (a crash, a full disk) names an id that a later run may have taken.
    """
    kept: dict[int, Kept] = {}
    if not folder.is_dir():
        return kept
    for path in sorted(folder.glob("*.jsonl")):
        try:
            lines = path.read_bytes().splitlines()
        except OSError as ex:
            raise StoreError(f"cannot read {path} ({ex.strerror}).") from None
        for line in lines:
            entry = _entry(line)
            if entry is not None and runs.get(entry[0]) == entry[1]:
                kept[entry[0]] = entry[2]
    return kept


def _append_line(path: Path, line: str) -> None:
    """Append one line to the file at ``path`` (created, with its folder, if need be) and sync it to disk.

    A line left unfinished by a crash is ended first: it stays one unreadable line that readers skip.
    """
    try:
        path.parent.mkdir(exist_ok=True)
        with path.open("a+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            cut = False
            if size:
                handle.seek(size - 1)
                cut = handle.read(1) != b"\n"
            handle.write((b"\n" if cut else b"") + line.encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as ex:
        raise StoreError(f"cannot write {path} ({ex.strerror}); check the folder and free disk space.") from None


def _entry(line: bytes) -> tuple[int, str, Kept] | None:
    """(submission id, run id, what is kept) from a line of a predictions file; None if it is not one."""
    try:
        entry = json.loads(line)
        sid, run, digest, sealed, text = entry["id"], entry["run"], entry["ids"], entry["sealed"], entry["data"]
        if type(sid) is not int or type(sealed) is not bool or not all(isinstance(v, str) for v in (run, digest, text)):
            return None
        return sid, run, Kept(digest, sealed, base64.b64decode(text.encode("ascii"), altchars=b"-_", validate=True))
    except (ValueError, TypeError, KeyError, RecursionError):  # not JSON, not an object, a key missing, not base64
        return None
