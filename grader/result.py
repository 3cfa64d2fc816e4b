"""result.json: what one run of a notebook produced, read and written in one place.

``grader run`` writes it, ``grader score`` adds the scores, ``grader record`` reads it.
It is data from an untrusted run, so :func:`read` checks every field's type.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from grader import __version__
from grader.errors import GraderError
from grader.untrusted import printable

RESULT_NAME = "result.json"
EXECUTED_NAME = "executed.ipynb"
MAX_RESULT_BYTES = 1_000_000

Status = Literal["completed", "failed", "timeout", "invalid", "rejected"]
STATUSES: tuple[str, ...] = ("completed", "failed", "timeout", "invalid", "rejected")


@dataclass(frozen=True)
class RunError:
    """Why a run did not complete. ``cell_index`` is 0-based; people see it 1-based."""

    type: str
    message: str
    cell_index: int | None = None


@dataclass(frozen=True)
class Result:
    status: Status
    run_id: str
    notebook: str
    notebook_sha256: str
    started_at: str
    runtime_seconds: float
    error: RunError | None = None
    public_score: float | None = None
    private_score: float | None = None
    predictions: str | None = None
    cells_total: int = 0
    cells_executed: int = 0
    grader_version: str = __version__
    extra: dict[str, Any] = field(default_factory=dict)

    def failed(self, status: Status, type: str, message: str, cell_index: int | None = None) -> Result:
        """A copy of this result with a failing status and error."""
        return replace(self, status=status, error=RunError(type, message, cell_index))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_note(directory: Path, markdown: str) -> Path:
    """An ``executed.ipynb`` of one Markdown cell, for a notebook that was not run: the note says why."""
    note = {
        "cells": [{"cell_type": "markdown", "id": "not-run", "metadata": {}, "source": markdown}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = directory / EXECUTED_NAME
    path.write_text(json.dumps(note, indent=1) + "\n", encoding="utf-8")
    return path


def write(result: Result, directory: Path) -> Path:
    """Write ``directory/result.json`` atomically (a reader never sees half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / RESULT_NAME
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".result-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(result.to_json())
    os.chmod(tmp, 0o644)  # mkstemp makes it private; it is an artifact others read
    os.replace(tmp, target)
    return target


def read(directory: Path) -> Result:
    """Read and type-check ``directory/result.json``."""
    path = directory / RESULT_NAME
    if path.is_symlink() or not path.is_file():
        raise GraderError(f"{path}: no result.json here; run `grader run NOTEBOOK --out {directory}` first.")
    if path.stat().st_size > MAX_RESULT_BYTES:
        raise GraderError(f"{path}: larger than {MAX_RESULT_BYTES} bytes; this is not a result.json written by grader.")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as ex:
        raise GraderError(f"{path}: not valid JSON ({ex}).") from None
    except RecursionError:  # hostile nesting, e.g. [[[[...]]]] in an artifact
        raise GraderError(f"{path}: nested too deeply; this is not a result.json written by grader.") from None
    return from_dict(raw, str(path))


def from_dict(raw: Any, where: str = RESULT_NAME) -> Result:
    def bad(key: str, expected: str) -> GraderError:
        return GraderError(f"{where}: `{key}` must be {expected}.")

    if not isinstance(raw, dict):
        raise bad("(top level)", "an object")
    expected: dict[str, tuple[type, ...]] = {
        "status": (str,), "run_id": (str,), "notebook": (str,), "notebook_sha256": (str,),
        "started_at": (str,), "runtime_seconds": (int, float),
    }  # fmt: skip
    for key, types in expected.items():
        if not isinstance(raw.get(key), types) or isinstance(raw.get(key), bool):
            raise bad(key, "a " + " or ".join(t.__name__ for t in types))
    if raw["status"] not in STATUSES:
        raise bad("status", "one of " + ", ".join(STATUSES))
    for key in ("public_score", "private_score"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise bad(key, "a number or null")
    error = raw.get("error")
    if error is not None:
        if not (
            isinstance(error, dict) and isinstance(error.get("type"), str) and isinstance(error.get("message"), str)
        ):
            raise bad("error", "null or an object with string `type` and `message`")
        cell = error.get("cell_index")
        if cell is not None and (not isinstance(cell, int) or isinstance(cell, bool)):
            raise bad("error.cell_index", "an integer or null")
        # Cleaned again here: a result.json from an artifact was written by code the student controlled.
        error = RunError(printable(error["type"])[:100], printable(error["message"]), cell)
    for key in ("cells_total", "cells_executed"):
        if not isinstance(raw.get(key, 0), int):
            raise bad(key, "an integer")
    predictions = raw.get("predictions")
    if predictions is not None and not isinstance(predictions, str):
        raise bad("predictions", "a file name or null")
    extra = raw.get("extra", {})
    if not isinstance(extra, dict):
        raise bad("extra", "an object")
    return Result(
        status=raw["status"],
        run_id=raw["run_id"],
        notebook=raw["notebook"],
        notebook_sha256=raw["notebook_sha256"],
        started_at=raw["started_at"],
        runtime_seconds=float(raw["runtime_seconds"]),
        error=error,
        public_score=raw.get("public_score"),
        private_score=raw.get("private_score"),
        predictions=predictions,
        cells_total=raw.get("cells_total", 0),
        cells_executed=raw.get("cells_executed", 0),
        grader_version=str(raw.get("grader_version", "")),
        extra=extra,
    )
