"""Regrading: run recorded submissions again, from the commit they were submitted at.

:func:`regrade` takes the recorded submissions that were run (every status but ``rejected``),
optionally only some (``only``: logins or ids) and only one shard of them (``shard=(I, N)``:
the submissions whose position in id order is I-1 modulo N), gets each notebook's bytes from
git at its recorded head commit (``git cat-file blob SHA:PATH``; a submission without a commit,
or whose commit is not in this clone, falls back to the file in the working tree, and the
outcome says so), and runs each one through :func:`grader.pipeline.run` into ``OUT/<id>/``.

``jobs`` runs go at once, each in a worker process of its own (:func:`run_all`: spawned once,
then given one submission after another over a pipe) that drives its own kernel. The grader's
own work for a run (nbclient's messages, the monitor, the notebook writes) so runs beside the
others' instead of sharing one interpreter lock; each sandbox gets a uid of its own (the
process limit counts that run's processes only); and a worker that dies (a grader bug, an
unconfined notebook killing it) takes only the run it held, reported ``error``, and a new
worker takes the next submission. Every run has its own time limit and
:func:`grader.execute.execute` never raises, so a notebook that fails, hangs or kills its
kernel costs the batch its own time limit and nothing more; a worker still busy
:data:`WORKER_GRACE` seconds past that limit (a stuck grader) is stopped the same way. The
outcomes go into ``OUT/manifest-I-of-N.json``; docs/organisers.md has the measured speed-up.

:func:`merge` reads the manifests of every shard (the folders come from untrusted runs: each
run folder is unpacked like the evaluate artifact, and only submission ids are taken from a
manifest), scores the completed runs against the truth and compares them with what was
recorded. Regrading **reports**; it never changes a recorded score: a re-run uses today's
libraries and machines, and a student is graded on the run they submitted. The report
(public scores only) is ``leaderboard/regrade.csv``, with an audit row; act on it with
``grader admin disqualify`` or ``grader rescore``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import __version__
from grader.config import Competition
from grader.errors import UsageError
from grader.gitsync import Git, Pushed
from grader.rules import check_login, check_reason
from grader.store import Store, SubmissionRow
from grader.text import clip

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import SpawnContext

    from grader.sandbox import Mode

MANIFEST = re.compile(r"manifest-([0-9]+)-of-([0-9]+)\.json")
MAX_MANIFEST_BYTES = 20 * 1024**2
REPORT_NAME = "regrade.csv"
REPORT_COLUMNS = ("id", "username", "notebook_path", "source", "recorded_status", "regraded_status",
                  "recorded_score", "regraded_score", "verdict", "note")  # fmt: skip
_SHA = re.compile(r"[0-9a-f]{7,64}")
SCORE_TOLERANCE = 1e-9
WORKER_GRACE = 60.0  # seconds a worker may take beyond a run's own time limit before it is presumed stuck


@dataclass(frozen=True)
class Outcome:
    """One regraded submission: where its notebook came from and how the run ended."""

    submission_id: int
    username: str
    notebook_path: str
    source: str  # "commit", "working tree" (no usable commit) or "missing" (not run)
    status: str  # the run's status, or "missing" / "error"
    runtime_seconds: float
    message: str | None = None


@dataclass(frozen=True)
class Batch:
    """What :func:`regrade` did."""

    outcomes: list[Outcome]
    manifest: Path
    seconds: float
    shard: tuple[int, int]


@dataclass(frozen=True)
class Compared:
    """One line of the merged report: the recorded result against the regraded one (public score only)."""

    submission_id: int
    username: str
    notebook_path: str
    source: str
    recorded_status: str
    regraded_status: str
    recorded_score: float | None
    regraded_score: float | None
    verdict: str  # same, score differs, status differs, notebook differs, not run
    note: str


@dataclass(frozen=True)
class Merged:
    """What :func:`merge` found."""

    rows: list[Compared]
    report: Path
    shards: int
    pushed: Pushed | None = None


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` (1 ≤ I ≤ N) as (I, N), or UsageError."""
    found = re.fullmatch(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*", text)
    if not found or not 1 <= int(found.group(1)) <= int(found.group(2)):
        raise UsageError(f"--shard {text!r}: write I/N with 1 ≤ I ≤ N, e.g. --shard 2/4 for the second of four.")
    return int(found.group(1)), int(found.group(2))


def select(
    rows: Sequence[SubmissionRow], *, only: Sequence[str] = (), shard: tuple[int, int] = (1, 1)
) -> list[SubmissionRow]:
    """The submissions to regrade: every one that was run, filtered by ``only``, then this shard's share."""
    index, count = shard
    ran = sorted((r for r in rows if r.status != "rejected"), key=lambda r: r.id)
    if only:
        ids = {int(o.lstrip("#")) for o in only if o.lstrip("#").isdigit()}
        logins = {o.lstrip("@") for o in only if not o.lstrip("#").isdigit()}
        for login in logins:
            check_login(login)
        ran = [r for r in ran if r.id in ids or r.username in logins]
        if not ran:
            raise UsageError("--only matches no submission that was run; `grader history LOGIN` lists the ids.")
    return [r for position, r in enumerate(ran) if position % count == index - 1]


def notebook_source(root: Path, row: SubmissionRow, limit: int) -> tuple[bytes | None, str, str | None]:
    """(bytes, source, note): the notebook as committed at ``row.head_sha``, else from the working tree."""
    path = row.notebook_path
    safe = bool(path) and not path.startswith(("/", "-")) and ".." not in Path(path).parts
    note = "no recorded commit" if not row.head_sha else None
    if safe and row.head_sha and _SHA.fullmatch(row.head_sha):
        spec = f"{row.head_sha}:{path}"
        git = Git(root)
        size = git.read("cat-file", "-s", spec)
        if size is not None and size.strip().isdigit():
            if int(size) > limit:
                return None, "commit", f"the notebook at {row.head_sha[:12]} is larger than the limit"
            blob = git.read("cat-file", "blob", spec)
            if blob is not None:
                return blob, "commit", None
        note = f"commit {row.head_sha[:12]} is not in this clone (fetch it, e.g. refs/pull/*/head)"
    elif row.head_sha:
        note = "the recorded commit or path is malformed"
    file = root / path if safe else None
    if file is not None and file.is_file() and not file.is_symlink():
        with file.open("rb") as handle:
            data = handle.read(limit + 1)
        return data, "working tree", f"{note}; ran the working tree's file instead" if note else None
    return None, "missing", f"{note or 'no such path'}; the notebook is not in the working tree either"


def regrade(
    competition: Competition,
    db: Path,
    out: Path,
    *,
    jobs: int = 1,
    shard: tuple[int, int] = (1, 1),
    only: Sequence[str] = (),
    run_timeout: float | None = None,
    sandbox: Mode | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> Batch:
    """Run this shard's submissions again, ``jobs`` at a time, into ``out``; write the shard's manifest."""
    from tqdm import tqdm

    from grader.environment import ensure
    from grader.sandbox import choose, resolve_mode

    if jobs < 1:
        raise UsageError("--jobs must be at least 1.")
    choose(resolve_mode(competition.sandbox, sandbox))  # the sandbox is missing: say so once, before any run
    ensure(competition.environment, progress=progress)  # built once, here, rather than by the first worker
    with Store(db) as store:
        rows = select(store.all_submissions(), only=only, shard=shard)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    job = Job(competition, out, run_timeout, sandbox, _logging_setup())
    patience = (run_timeout or competition.limits.run_timeout) + WORKER_GRACE

    outcomes: list[Outcome] = []
    with tqdm(total=len(rows), disable=not progress, unit="notebook", leave=False) as bar:

        def done(outcome: Outcome) -> None:
            outcomes.append(outcome)
            line = status_line(outcome)
            (bar.write if progress else echo)(line)
            bar.update()

        run_all(job, rows, jobs=jobs, done=done, patience=patience)
    outcomes.sort(key=lambda o: o.submission_id)
    seconds = time.monotonic() - started
    manifest = out / f"manifest-{shard[0]}-of-{shard[1]}.json"
    body = {
        "grader_version": __version__,
        "shard": list(shard),
        "seconds": round(seconds, 3),
        "outcomes": [asdict(o) for o in outcomes],
    }
    manifest.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    return Batch(outcomes, manifest, seconds, shard)


# -- the worker processes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """What every worker process needs to regrade a submission (sent once, when it starts)."""

    competition: Competition
    out: Path
    run_timeout: float | None
    sandbox: Mode | None
    logging: tuple[bool, bool, int] = (False, False, 0)  # the parent's (has handlers, shows logs, level)


Runner = Callable[[Job, SubmissionRow], Outcome]


def run_one(job: Job, row: SubmissionRow) -> Outcome:
    """Regrade one submission into ``job.out/<id>/`` (in a worker process). Never raises."""
    from grader import pipeline

    base = Outcome(row.id, row.username, row.notebook_path, "missing", "missing", 0.0)
    try:
        data, source, note = notebook_source(job.competition.root, row, job.competition.submission.max_notebook_size)
        base = replace(base, source=source, message=note)
        if data is None:
            return base
        run_dir = job.out / str(row.id)
        if run_dir.exists():
            shutil.rmtree(run_dir)
        submitted = job.out / "notebooks" / str(row.id) / (Path(row.notebook_path).name or "notebook.ipynb")
        submitted.parent.mkdir(parents=True, exist_ok=True)
        submitted.write_bytes(data)
        result = pipeline.run(submitted, run_dir, job.competition, run_timeout=job.run_timeout, sandbox=job.sandbox,
                              run_id=f"regrade-{row.id}")  # fmt: skip
        message = result.error.message if result.error else note
        return replace(base, status=result.status, runtime_seconds=result.runtime_seconds, message=message)
    except Exception as ex:  # one broken submission never stops the batch
        return replace(base, status="error", message=f"{type(ex).__name__}: {ex}")


def serve(conn: Connection, job: Job, runner: Runner = run_one) -> None:
    """A worker process: regrade each submission the parent sends, one at a time, until the pipe closes."""
    import logging
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the workers itself
    handlers, shown, level = job.logging
    if shown:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    elif handlers:
        logging.basicConfig(handlers=[logging.NullHandler()])
    from grader.execute import prepare_engine

    prepare_engine()  # papermill and nbclient are slow to import: once per worker, not once per notebook
    while True:
        try:
            row = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(runner(job, row))


class Worker:
    """One worker process (spawned, so it shares nothing with the parent but the pipe) and its current run."""

    def __init__(self, context: SpawnContext, job: Job, runner: Runner) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, job, runner), name="grader-regrade", daemon=True)
        self.process.start()
        child.close()  # the worker holds the only other end: its death reads as the end of the pipe
        self.row: SubmissionRow | None = None
        self.since = 0.0

    def give(self, row: SubmissionRow) -> None:
        self.conn.send(row)
        self.row, self.since = row, time.monotonic()

    def answer(self) -> Outcome | None:
        """The outcome of the current run, or None when the worker died without one."""
        try:
            if self.conn.poll():
                outcome = self.conn.recv()
                if isinstance(outcome, Outcome):
                    return outcome
        except (EOFError, OSError, ValueError, TypeError, AttributeError, ImportError):
            pass
        return None

    def stop(self, kill: bool = False) -> None:
        """Close the pipe (an idle worker then exits); with ``kill``, end it and whatever it started."""
        from grader.execute import KILL_WAIT, kill_process_tree

        if kill and self.process.is_alive() and self.process.pid is not None:
            kill_process_tree(self.process.pid, wait=KILL_WAIT)
        self.conn.close()

    def reap(self) -> None:
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def run_all(
    job: Job, rows: Sequence[SubmissionRow], *, jobs: int, done: Callable[[Outcome], None], patience: float,
    runner: Runner = run_one,
) -> None:  # fmt: skip
    """Regrade ``rows`` on ``jobs`` worker processes, calling ``done`` (in this thread) as each run ends.

    A worker that dies takes only its current run with it (``error``, and a new worker for the
    next one); a worker still busy ``patience`` seconds after it got a run is stopped likewise.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")
    todo = list(reversed(rows))
    workers: list[Worker | None] = [None] * min(jobs, len(rows))
    try:
        while True:
            for slot, worker in enumerate(workers):
                if todo and (worker is None or worker.row is None):
                    if worker is None:
                        worker = workers[slot] = Worker(context, job, runner)
                    worker.give(todo.pop())
            busy = [w for w in workers if w is not None and w.row is not None]
            if not busy:
                return
            timeout = max(0.0, min(w.since + patience for w in busy) - time.monotonic())
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout)
            for slot, worker in enumerate(workers):
                if worker is None or worker.row is None:
                    continue
                row = worker.row
                if worker.conn in ready or worker.process.sentinel in ready:
                    outcome = worker.answer()
                    if outcome is None:
                        worker.stop(kill=True)
                        worker.reap()
                        outcome = _lost(job, row, worker, f"the grader's worker process {_ended(worker)} while "
                                        "running this notebook; the other runs went on")  # fmt: skip
                        workers[slot] = None
                elif time.monotonic() - worker.since >= patience:
                    worker.stop(kill=True)
                    worker.reap()
                    outcome = _lost(job, row, worker, f"the run did not end within its time limit plus "
                                    f"{WORKER_GRACE:g} s; its worker process was stopped")  # fmt: skip
                    workers[slot] = None
                else:
                    continue
                worker.row = None
                done(outcome)
    finally:
        for worker in workers:
            if worker is not None:
                worker.stop(kill=worker.row is not None)  # idle ones exit by themselves, at once
        for worker in workers:
            if worker is not None:
                worker.reap()


def _lost(job: Job, row: SubmissionRow, worker: Worker, message: str) -> Outcome:
    _, source, _ = notebook_source(job.competition.root, row, job.competition.submission.max_notebook_size)
    runtime = round(time.monotonic() - worker.since, 3)
    return Outcome(row.id, row.username, row.notebook_path, source, "error", runtime, message)


def _ended(worker: Worker) -> str:
    import signal

    code = worker.process.exitcode
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}" if code is not None else "stopped answering"


def _logging_setup() -> tuple[bool, bool, int]:
    """How this process logs, for the workers to do the same: (has handlers, shows logs, level)."""
    import logging

    root = logging.getLogger()
    shown = any(not isinstance(h, logging.NullHandler) for h in root.handlers)
    return bool(root.handlers), shown, root.level


def status_line(outcome: Outcome) -> str:
    """One line per notebook as it finishes."""
    mark = {"completed": "✓", "missing": "?", "error": "!"}.get(outcome.status, "✗")
    where = "" if outcome.source == "commit" else f" [{outcome.source}]"
    tail = f" — {clip(outcome.message, 90)}" if outcome.message else ""
    return (
        f"{mark} #{outcome.submission_id} {outcome.username}/{Path(outcome.notebook_path).name}{where}: "
        f"{outcome.status} in {outcome.runtime_seconds:.1f} s{tail}"
    )


def summary(outcomes: Sequence[Outcome]) -> list[tuple[str, int]]:
    """(status, count) for the summary table, most common first."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def merge(
    competition: Competition,
    db: Path,
    folders: Sequence[Path],
    *,
    by: str,
    now: datetime,
    reason: str = "regrade report",
    environ: Mapping[str, str] = os.environ,
    push: Git | None = None,
) -> Merged:
    """Score the regraded runs of every shard, compare them with the record, write ``leaderboard/regrade.csv``.

    Needs every shard's manifest (1 to N, once each). Changes no score: writes the report and
    one audit row (``regrade``), and with ``push`` commits and pushes the leaderboard folder.
    """
    from grader.changes import change, commit_message

    check_login(by)
    reason = check_reason(reason)
    manifests = _manifests(folders)
    with Store(db) as store:
        recorded = {row.id: row for row in store.all_submissions()}
    rows: list[Compared] = []
    for folder, entries in manifests:
        for sid, status, source in entries:
            row = recorded.get(sid)
            if row is None:
                continue  # not a submission of this leaderboard: ignore what a run claims
            regraded_status, score, note = _regraded(folder, sid, status, row, competition, environ)
            rows.append(_compare(row, source, regraded_status, score, note))
    rows.sort(key=lambda r: r.submission_id)
    shards = len(manifests)
    report = competition.root / "leaderboard" / REPORT_NAME
    if db.parent.resolve() != report.parent.resolve():
        report = db.parent / REPORT_NAME
    differ = sum(1 for r in rows if r.verdict != "same")
    audit = f"{reason} ({len(rows)} regraded, {differ} differ)"

    def apply(store: Store) -> None:
        _write_report(report, rows)
        store.log_action("regrade", f"{len(rows)} submissions", by=by, reason=audit, now=now)

    _, pushed = change(
        competition, db, apply, message=commit_message("regrade", f"{len(rows)} submissions", audit), push=push,
    )  # fmt: skip
    return Merged(rows, report, shards, pushed)


def _regraded(
    folder: Path, sid: int, status: str, row: SubmissionRow, competition: Competition, environ: Mapping[str, str]
) -> tuple[str, float | None, str]:
    """(status, public score, note) of one regraded run of a shard, its artifact checked as untrusted."""
    from grader import artifact
    from grader.score import score_run

    run = folder / str(sid)
    if status in ("missing", "error"):
        return status, None, ""
    if not run.is_dir():
        return "missing", None, "the shard has no folder for this run"
    unpacked_dir = folder / ".checked" / str(sid)
    if unpacked_dir.exists():
        shutil.rmtree(unpacked_dir)
    try:
        unpacked = artifact.unpack(run, unpacked_dir, competition)
    except artifact.ArtifactRefused as ex:
        return "refused", None, str(ex)
    result = unpacked.result
    if result is None:
        return "refused", None, unpacked.problem or "no usable result.json"
    if result.notebook_sha256 != row.notebook_sha256:
        return result.status, None, "the regraded notebook is not the one recorded"
    if result.status == "completed":
        scored = score_run(unpacked_dir, competition, environ)
        return scored.status, scored.public_score, clip(scored.error.message, 200) if scored.error else ""
    return result.status, None, clip(result.error.message, 200) if result.error else ""


def _compare(row: SubmissionRow, source: str, status: str, score: float | None, note: str) -> Compared:
    if status in ("missing", "error"):
        verdict = "not run"
    elif note == "the regraded notebook is not the one recorded":
        verdict = "notebook differs"
    elif status != row.status:
        verdict = "status differs"
    elif row.score is not None and score is not None and not math.isclose(row.score, score, abs_tol=SCORE_TOLERANCE):
        verdict = "score differs"
    else:
        verdict = "same"
    return Compared(row.id, row.username, row.notebook_path, source, row.status, status, row.score, score, verdict,
                    note)  # fmt: skip


def _manifests(folders: Sequence[Path]) -> list[tuple[Path, list[tuple[int, str, str]]]]:
    """Each folder with its manifest's (id, status, source) entries; every shard of one split exactly once."""
    found: dict[int, tuple[Path, list[tuple[int, str, str]]]] = {}
    counts: set[int] = set()
    for folder in folders:
        names = [p for p in sorted(folder.iterdir()) if MANIFEST.fullmatch(p.name)] if folder.is_dir() else []
        if not names:
            raise UsageError(f"{folder} holds no manifest-I-of-N.json; pass the folders `grader regrade --out` wrote.")
        for path in names:
            match = MANIFEST.fullmatch(path.name)
            assert match is not None
            index, count = int(match.group(1)), int(match.group(2))
            if path.is_symlink() or path.stat().st_size > MAX_MANIFEST_BYTES:
                raise UsageError(f"{path} is not a manifest grader writes (a link, or too large).")
            if index in found:
                raise UsageError(f"shard {index}/{count} appears twice ({found[index][0]} and {folder}).")
            counts.add(count)
            found[index] = (folder, _entries(path))
    if len(counts) != 1:
        raise UsageError(f"the manifests come from different splits ({', '.join(map(str, sorted(counts)))} shards).")
    (count,) = counts
    missing = [str(i) for i in range(1, count + 1) if i not in found]
    if missing:
        raise UsageError(f"shard(s) {', '.join(missing)} of {count} are missing; run them and merge again.")
    return [found[i] for i in range(1, count + 1)]


def _entries(path: Path) -> list[tuple[int, str, str]]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        entries = [(int(o["submission_id"]), str(o["status"])[:20], str(o["source"])[:20]) for o in body["outcomes"]]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise UsageError(f"{path} is not a manifest written by `grader regrade`.") from None
    return entries


def _write_report(path: Path, rows: Sequence[Compared]) -> None:
    from grader.store.exports import write_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    cells = [(r.submission_id, r.username, r.notebook_path, r.source, r.recorded_status, r.regraded_status,
              r.recorded_score, r.regraded_score, r.verdict, r.note) for r in rows]  # fmt: skip
    write_csv(path, REPORT_COLUMNS, cells, ("username", "notebook_path", "regraded_status", "note"))


def describe(outcomes: Sequence[Outcome], seconds: float) -> dict[str, Any]:
    """Numbers for the summary: how many, how long, how many needed the working tree."""
    return {
        "notebooks": len(outcomes),
        "seconds": seconds,
        "working_tree": sum(1 for o in outcomes if o.source == "working tree"),
        "missing": sum(1 for o in outcomes if o.source == "missing"),
    }
