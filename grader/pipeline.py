"""The grading pipeline, top to bottom: validate → execute → score → record.

Each step is also a command of its own (`grader validate/run/score/record`); this module
strings them together the same way for `grader grade`, `grader check` and the demo, so a
notebook graded on a laptop goes through exactly what the workflows run.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from grader import changes
from grader import result as results
from grader.config import Competition
from grader.errors import InvalidNotebook
from grader.forked import Forked
from grader.gitsync import Git
from grader.result import Result
from grader.sandbox import Mode
from grader.store import Packed, Recorded, Store

if TYPE_CHECKING:
    from grader.score import Scored


@dataclass(frozen=True)
class Graded:
    """What `grader grade` did with one notebook."""

    result: Result
    recorded: Recorded


def default_db(competition: Competition) -> Path:
    return competition.root / "leaderboard" / "leaderboard.db"


def run(
    notebook: Path,
    out_dir: Path,
    competition: Competition,
    *,
    run_timeout: float | None = None,
    memory: int | None = None,
    run_id: str | None = None,
    progress: bool = False,
    sandbox: Mode | None = None,
) -> Result:
    """Validate and execute ``notebook``; always leaves executed.ipynb and result.json in ``out_dir``.

    ``run_timeout`` and ``memory`` override the competition's limits, ``sandbox`` its
    sandbox mode (for local runs; in CI the sandbox is always required). Raises
    :class:`~grader.sandbox.SandboxUnavailable` before running anything when the sandbox is
    required and cannot work, and :class:`~grader.environment.EnvironmentProblem` when the
    competition's notebook environment cannot be built (it is built first when its lock changed),
    and :class:`~grader.datasets.DataUnavailable` when a file of ``data.hub`` cannot be fetched
    or a data file is a Git LFS pointer; ``result.extra["sandbox"]`` says how the notebook ran.
    """
    from grader import datasets
    from grader.environment import ensure
    from grader.sandbox import choose, resolve_mode
    from grader.validate import validate

    bwrap = choose(resolve_mode(competition.sandbox, sandbox))
    environment = ensure(competition.environment, progress=progress)
    datasets.ensure(competition.data, progress=progress)  # the files kept in a dataset, or no run at all
    datasets.check_checked_out(competition.data)  # nor with a Git LFS pointer in place of a file
    run_id = run_id or uuid.uuid4().hex
    try:
        valid = validate(notebook, max_size=competition.submission.max_notebook_size)
    except InvalidNotebook as ex:
        return _refuse(notebook, out_dir, competition, ex.problems, run_id)

    from grader.execute import execute

    limits = competition.limits
    if run_timeout is not None:
        limits = replace(limits, run_timeout=run_timeout, cell_timeout=min(limits.cell_timeout, run_timeout))
    if memory is not None:
        limits = replace(limits, memory=memory)
    return execute(
        valid.node,
        out_dir,
        notebook_name=notebook.name,
        notebook_sha256=valid.sha256,
        data_dir=competition.data.directory,
        predictions_name=competition.submission.predictions,
        limits=limits,
        max_predictions_size=competition.submission.max_predictions_size,
        environment=environment,
        run_id=run_id,
        progress=progress,
        bwrap=bwrap,
    )


def score(out_dir: Path, competition: Competition, environ: Mapping[str, str] = os.environ) -> Result:
    """Score the predictions of a finished run against the hidden truth; updates result.json."""
    from grader.score import score as scoring

    return scoring(out_dir, competition, environ).result


def record(
    out_dir: Path,
    competition: Competition,
    *,
    user: str,
    db: Path,
    now: datetime,
    notebook_path: str | None = None,
    run_id: str | None = None,
    pr_number: int | None = None,
    head_sha: str | None = None,
    packed: Packed | None = None,
    push: Git | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Recorded:
    """Record a scored run in the leaderboard and regenerate the CSV exports; with ``push``, commit and push them.

    ``run_id`` replaces the one in result.json as the idempotency key: the workflows pass the
    evaluate run's id, so scoring the same run again records nothing new (and a push that lost
    a race records it again on top of the other recorder's, see :mod:`grader.changes`).
    ``packed``: the run's predictions as :func:`grader.predictions.pack` packs them, when `grade`'s
    forked process did.
    """
    result = results.read(out_dir)
    if run_id is not None:
        result = replace(result, run_id=run_id)
    if packed is None and result.status == "completed" and result.public_score is not None:
        from grader.predictions import pack

        packed = pack(out_dir, competition)  # kept (sealed with a key) so that the run can be rescored
    shown = notebook_path or result.notebook

    def apply(store: Store) -> Recorded:
        return store.record(result, user=user, competition=competition, now=now, notebook_path=shown,
                            pr_number=pr_number, head_sha=head_sha, predictions=packed)  # fmt: skip

    source = f" from #{pr_number}" if pr_number else ""
    message = f"Record {user}'s submission{source} ({run_id or out_dir.name})"
    # Exported every time, even for a run recorded before: it repairs CSVs left stale by a failed export.
    recorded, _ = changes.change(competition, db, apply, message=message, push=push, full=False, environ=environ)
    return recorded


def grade(
    notebook: Path,
    competition: Competition,
    *,
    user: str,
    out_dir: Path,
    db: Path,
    now: datetime,
    notebook_path: str | None = None,
    run_timeout: float | None = None,
    memory: int | None = None,
    progress: bool = False,
    sandbox: Mode | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Graded:
    """The whole pipeline for one notebook: validate → (rules) → run → score → record.

    The rules that do not depend on the run (deadline, daily quota, duplicate) are checked
    before running, so a submission that would be rejected costs no execution. ``now`` is the
    moment of the submission they are judged at (the `grader` command passes the clock's).
    """
    from grader.score import require_truth_source

    require_truth_source(competition, environ)  # no truth, no point in running: say so before spending the run
    # pandas and scikit-learn import in a forked process while the notebook runs; it then scores
    forked = Forked(partial(_import_scoring, competition), score_and_pack, out_dir, competition, environ)
    try:
        shown_path = notebook_path or _display_path(notebook, competition.root)
        sha = _sha256(notebook, competition.submission.max_notebook_size)
        with Store(db) as store:
            reason = store.precheck(user=user, notebook_sha256=sha, competition=competition, now=now)
        packed = None
        if reason is not None:
            _rejected(notebook, out_dir, sha, reason)
        elif run(notebook, out_dir, competition, run_timeout=run_timeout, memory=memory, progress=progress,
                 sandbox=sandbox).status == "completed":  # fmt: skip
            # Here, if not there: scoring here reports what went wrong.
            packed = (forked.result() or score_and_pack(out_dir, competition, environ)).packed
    finally:
        forked.close()
    recorded = record(out_dir, competition, user=user, db=db, now=now, notebook_path=shown_path, packed=packed,
                      environ=environ)  # fmt: skip
    return Graded(result=results.read(out_dir), recorded=recorded)


def check(
    notebook: Path,
    out_dir: Path,
    competition: Competition,
    *,
    run_timeout: float | None = None,
    progress: bool = False,
    sandbox: Mode | None = None,
) -> tuple[Result, list[str]]:
    """What a student runs before a pull request: validate, run, check predictions (no truth)."""
    from grader.predictions import check_run

    forked = Forked(_import_pandas, check_run, out_dir, competition)  # pandas imports while the notebook runs
    try:
        result = run(notebook, out_dir, competition, run_timeout=run_timeout, progress=progress, sandbox=sandbox)
        if result.status != "completed":
            return result, []
        found = forked.result()
        return result, check_run(out_dir, competition) if found is None else found
    finally:
        forked.close()


def score_and_pack(out_dir: Path, competition: Competition, environ: Mapping[str, str] = os.environ) -> Scored:
    """:func:`score`, with the predictions packed for :func:`record` from the same reading (pandas imported once)."""
    from grader.score import score as scoring

    return scoring(out_dir, competition, environ)


def _import_scoring(competition: Competition) -> None:
    from grader.score import resolve_metric

    resolve_metric(competition.metric, competition.root)


def _import_pandas() -> None:
    import pandas  # noqa: F401


def _refuse(notebook: Path, out_dir: Path, competition: Competition, problems: list[str], run_id: str) -> Result:
    """An invalid notebook still gets an executed.ipynb that says why it was not run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = "**This notebook was not run.** Fix these problems and submit it again:\n\n" + "\n".join(
        f"- {_markdown_escape(p)}" for p in problems
    )
    results.write_note(out_dir, text)
    result = Result(
        status="invalid",
        run_id=run_id,
        notebook=notebook.name,
        notebook_sha256=_sha256(notebook, competition.submission.max_notebook_size),
        started_at=_now_iso(),
        runtime_seconds=0.0,
    ).failed("invalid", "InvalidNotebook", "; ".join(problems))
    results.write(result, out_dir)
    return result


def _rejected(notebook: Path, out_dir: Path, sha: str, reason: str) -> Result:
    result = Result(
        status="rejected",
        run_id=uuid.uuid4().hex,
        notebook=notebook.name,
        notebook_sha256=sha,
        started_at=_now_iso(),
        runtime_seconds=0.0,
    ).failed("rejected", "SubmissionRejected", reason)
    results.write(result, out_dir)
    return result


def _sha256(path: Path, limit: int) -> str:
    """Hash of the notebook's bytes, read safely (no symlinks, no FIFOs, at most ``limit`` + 1 bytes)."""
    try:
        if path.is_symlink() or not path.is_file():
            return ""
        with path.open("rb") as handle:
            return hashlib.sha256(handle.read(limit + 1)).hexdigest()
    except OSError:
        return ""


def _display_path(notebook: Path, root: Path) -> str:
    absolute = notebook.absolute()
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return notebook.name


def _markdown_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_{}[]<>()#+-.!|" else ch for ch in text)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
