"""The evaluate workflow's artifact, read on the scoring side as hostile data.

The artifact was produced next to student code, so anything in it may be forged: names,
sizes, types, contents. :func:`unpack` copies only the files the scoring side needs, by
their known names, from the top level of the downloaded folder into a fresh folder:
regular files only (a symlink anywhere at the top level refuses the whole artifact), each
under its own size cap, read through ``O_NOFOLLOW`` so nothing is followed or executed.
Everything else in the artifact is ignored. ``result.json`` is type-checked and must not
carry scores (evaluate never scores), and ``pull_request.json`` only *claims* a pull
request number: :mod:`grader.verify` checks the claim against GitHub's API.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from grader import result as results
from grader.config import Competition
from grader.errors import GraderError
from grader.untrusted import Unreadable, read_regular

PULL_REQUEST_NAME = "pull_request.json"
LOG_NAME = "log.txt"
MAX_PULL_REQUEST_BYTES = 64 * 1024


class ArtifactRefused(GraderError):
    """The artifact is not what the evaluate workflow writes. The message says what is wrong."""


@dataclass(frozen=True)
class Claim:
    """What the artifact says about the pull request it came from: to be verified, never believed."""

    number: int
    head_sha: str


@dataclass(frozen=True)
class Unpacked:
    """The checked copy of an artifact: its folder, the pull request it claims, and its run's result.

    ``result`` is None when result.json is missing or not one grader writes; ``problem`` says why.
    """

    directory: Path
    claim: Claim | None
    result: results.Result | None
    problem: str | None = None


def caps(competition: Competition) -> dict[str, int]:
    """The files copied from an artifact, each with the largest size accepted."""
    limits = competition.limits
    notebook = competition.submission.max_notebook_size + 4 * limits.max_output + 1024**2
    return {
        results.RESULT_NAME: results.MAX_RESULT_BYTES,
        results.EXECUTED_NAME: notebook,
        LOG_NAME: 2 * limits.max_output + 1024**2,
        competition.submission.predictions: competition.submission.max_predictions_size,
        PULL_REQUEST_NAME: MAX_PULL_REQUEST_BYTES,
    }


def write_claim(directory: Path, number: int, head_sha: str) -> Path:
    """Evaluate's side: note which pull request and commit the run is of."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / PULL_REQUEST_NAME
    target.write_text(json.dumps({"number": number, "head_sha": head_sha}) + "\n", encoding="utf-8")
    return target


def unpack(source: Path, dest: Path, competition: Competition) -> Unpacked:
    """Copy the known files of the artifact in ``source`` to the new folder ``dest`` and check them.

    Raises :class:`ArtifactRefused` when the artifact as a whole is hostile (links, special
    files, oversized files, a malformed claim).
    """
    if source.is_symlink() or not source.is_dir():
        raise ArtifactRefused(f"{source}: no artifact folder here; did the evaluate run upload one?")
    allowed = caps(competition)
    entries = sorted(os.scandir(source), key=lambda e: e.name)
    links = [e.name for e in entries if e.is_symlink()]
    if links:
        raise ArtifactRefused(f"the artifact holds symbolic links ({', '.join(map(repr, links[:5]))}); refused.")
    dest.mkdir(parents=True, exist_ok=False)
    for entry in entries:
        if entry.name in allowed:
            _copy(Path(entry.path), dest / entry.name, allowed[entry.name])
    claim = _claim(dest / PULL_REQUEST_NAME)
    if not (dest / results.RESULT_NAME).is_file():
        return Unpacked(dest, claim, None, "the artifact has no result.json: the evaluate run did not finish.")
    try:
        result = results.read(dest)
    except GraderError as ex:
        return Unpacked(dest, claim, None, f"the artifact's result.json is not one grader wrote: {ex}")
    if result.public_score is not None or result.private_score is not None or result.status == "rejected":
        return Unpacked(
            dest, claim, None, "the artifact's result.json carries scores or a verdict; evaluate never does."
        )
    return Unpacked(dest, claim, result)


def _copy(source: Path, target: Path, cap: int) -> None:
    """Copy one regular file of at most ``cap`` bytes without following links."""
    try:
        data = read_regular(source, cap)
    except Unreadable as ex:
        if ex.reason == "too_large":
            raise ArtifactRefused(f"{source.name!r} in the artifact is more than {cap} bytes; refused.") from None
        if ex.reason in ("missing", "unreadable"):
            detail = f" ({ex.detail})" if ex.detail else ""
            raise ArtifactRefused(f"cannot read {source.name!r} from the artifact{detail}.") from None
        raise ArtifactRefused(f"{source.name!r} in the artifact is not a regular file; refused.") from None
    target.write_bytes(data)


def _claim(path: Path) -> Claim | None:
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ArtifactRefused(f"the artifact's {PULL_REQUEST_NAME} is not valid JSON.") from None
    number, sha = (raw.get("number"), raw.get("head_sha")) if isinstance(raw, dict) else (None, None)
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0 or not isinstance(sha, str):
        raise ArtifactRefused(f"the artifact's {PULL_REQUEST_NAME} needs a positive `number` and a `head_sha`.")
    return Claim(number, sha)
