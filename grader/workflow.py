"""The GitHub side of grading, one function per workflow step (each is one `grader pr` command).

evaluate.yml (pull_request, no secrets, read-only token):
    :func:`prepare` — which notebook does the pull request submit? Early refusal if the files
    break the rules; notes the pull request and commit for the scoring side.
    :func:`precheck` — is the submission sure to be refused (deadline, daily quota, duplicate)?
    Then the run is skipped, before the notebook environment is built. Otherwise `grader run`.

score.yml (workflow_run of evaluate, default-branch code):
    :func:`verify` — unpack the artifact as hostile data, ask the API about the pull request
    it claims, decide (:mod:`grader.verify`), and write the trusted facts (``verified.json``)
    beside the unpacked run. Then `grader score`.
    :func:`record` — record the run under the verified facts and push the leaderboard, racing
    safely with other recorders (:mod:`grader.gitsync`); returns the public :class:`Answer`.
    :func:`answer` — the one comment on the pull request, the commit status, the job summary;
    also, with :func:`pending_answer`, the "scoring" status and comment while the run is scored.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import answer as answers
from grader import artifact, verify
from grader import github as gh
from grader.answer import Answer
from grader.config import Competition
from grader.errors import GraderError, UsageError
from grader.result import Result
from grader.rules import NOT_RUN, timestamp

if TYPE_CHECKING:
    from grader.gitsync import Git

VERIFIED_NAME = "verified.json"


@dataclass(frozen=True)
class Verified:
    """The facts the scoring side established itself (never read from the artifact)."""

    pr: int
    user: str
    notebook: str
    head_sha: str
    run_id: str  # the idempotency key: the evaluate run and its attempt
    submitted_at: str  # when GitHub created the evaluate run
    run_url: str


def prepare(out_dir: Path, competition: Competition, *, event: Mapping[str, Any], root: Path) -> verify.Verdict:
    """Evaluate's first step: note the pull request in ``out_dir`` and find its one notebook."""
    from grader.gitsync import changed_files

    number, head_sha, author = gh.pull_request_event(event)
    artifact.write_claim(out_dir, number, head_sha)
    base, default = gh.pull_request_base(event), gh.default_branch(event)
    if default is not None and base != default:  # the scoring side refuses it too: say so before running
        return verify.Verdict(False, (verify.into_default_branch(base, default),))
    return verify.check_files(changed_files(root), author, submissions_dir=competition.submission.directory)


@dataclass(frozen=True)
class Early:
    """What evaluate's check before running found: ``reason`` when the run is skipped, ``problem`` when it
    could not check (the notebook then runs: this check only ever saves work)."""

    reason: str | None = None
    problem: str | None = None


def precheck(
    notebook: Path, out_dir: Path, competition: Competition, *, event: Mapping[str, Any], db: Path, now: datetime
) -> Early:
    """Evaluate's check before building anything: skip a submission the scoring side is sure to refuse.

    Runs without any secret, on the public leaderboard as the pull request's base holds it (``db``,
    read from a copy in memory, never written). The scoring side judges at the moment GitHub created
    the evaluate run, which lies between the pull request's last update and ``now``; only a refusal
    sure over that whole span skips the run (:func:`grader.rules.sure_refusal`). A skipped run leaves a
    result that says so (:data:`grader.rules.NOT_RUN`); the scoring side judges it again, and its
    verdict is the one recorded and answered.
    """
    import hashlib
    import sqlite3
    import uuid

    from grader import clock
    from grader import result as results
    from grader.store import Store

    _, _, author = gh.pull_request_event(event)
    updated = (event.get("pull_request") or {}).get("updated_at")
    try:
        earliest = clock.parse(updated) if isinstance(updated, str) else None
    except ValueError:
        earliest = None
    if earliest is None:
        return Early(problem="the event does not say when the pull request was last updated; not checked.")
    try:
        data = notebook.read_bytes() if notebook.is_file() and not notebook.is_symlink() else None
    except OSError:
        data = None
    if data is None or len(data) > competition.submission.max_notebook_size:
        return Early(problem="the notebook is not a regular file within the size limit; validating it will say why.")
    sha = hashlib.sha256(data).hexdigest()
    conn = sqlite3.connect(":memory:")
    try:
        if db.is_file():
            source = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
            try:
                source.backup(conn)
            finally:
                source.close()
        with Store(conn) as store:
            reason = store.sure_refusal(
                user=author, notebook_sha256=sha, competition=competition, earliest=earliest, latest=now
            )
    except (sqlite3.Error, GraderError) as ex:
        return Early(problem=f"cannot read the leaderboard ({' '.join(str(ex).split())[:300]}); not checked.")
    finally:
        conn.close()
    if reason is None:
        return Early()
    out_dir.mkdir(parents=True, exist_ok=True)
    results.write_note(out_dir, f"**Not run:** {reason}")
    skipped = Result(
        status="failed",
        run_id=uuid.uuid4().hex,
        notebook=notebook.name,
        notebook_sha256=sha,
        started_at=timestamp(now),
        runtime_seconds=0.0,
    ).failed("failed", NOT_RUN, reason)
    results.write(skipped, out_dir)
    return Early(reason=reason)


def verify_run(
    artifact_dir: Path, out_dir: Path, competition: Competition, *, event: Mapping[str, Any], api: gh.GitHub
) -> tuple[Verified | None, Answer | None]:
    """Check the evaluate run's artifact and its pull request: (facts, None) or (None, refusal)."""
    run = gh.workflow_run(event)
    known = run.pull_numbers[0] if len(run.pull_numbers) == 1 else None

    def refuse(reason: str, pr: int | None) -> tuple[None, Answer]:
        return None, answers.refused((reason,), pr=pr, head_sha=run.head_sha, run_url=run.html_url)

    if run.event != "pull_request":
        return refuse(f"the evaluate run was started by a {run.event!r} event, not a pull request.", None)
    try:
        unpacked = artifact.unpack(artifact_dir, out_dir, competition)
    except artifact.ArtifactRefused as ex:
        return refuse(str(ex), known)
    claim = unpacked.claim
    if claim is not None and claim.head_sha != run.head_sha:
        return refuse("the artifact names another commit than the one evaluated; the artifact is forged.", None)
    number = claim.number if claim is not None else known
    if number is None:
        return refuse("the artifact does not say which pull request it comes from.", None)
    pull = api.pull_request(number)
    verdict = verify.verify_pull_request(
        pull,
        run_head_sha=run.head_sha,
        run_head_repo=run.head_repo,
        run_pull_numbers=run.pull_numbers,
        submissions_dir=competition.submission.directory,
        default_branch=gh.default_branch(event),
    )
    pr = number if verdict.pull_verified else None
    if not verdict.accepted or verdict.notebook is None or verdict.author is None:
        return None, answers.refused(verdict.reasons, pr=pr, head_sha=run.head_sha, run_url=run.html_url)
    if unpacked.result is None:
        return refuse(unpacked.problem or "the artifact has no usable result.json.", pr)
    if unpacked.result.notebook != Path(verdict.notebook).name:
        return refuse("the artifact is of another notebook than the one the pull request submits.", pr)
    attempt = event["workflow_run"].get("run_attempt") or 1
    facts = Verified(
        pr=number,
        user=verdict.author,
        notebook=verdict.notebook,
        head_sha=run.head_sha,
        run_id=f"github-{run.id}-{attempt}",
        submitted_at=run.created_at,
        run_url=run.html_url,
    )
    (out_dir / VERIFIED_NAME).write_text(json.dumps(asdict(facts), indent=2) + "\n", encoding="utf-8")
    return facts, None


def score(run_dir: Path, competition: Competition) -> str:
    """Score a verified run against the truth; one line of grader-made text (:func:`scored_line`)."""
    from grader import pipeline

    read_verified(run_dir)  # only a verified run is scored
    return scored_line(pipeline.score(run_dir, competition))


def scored_line(scored: Result) -> str:
    """What a job holding the truth's key may print about a run: no name, no message from the run.

    GitHub masks secrets in that job's public log, so text a student controls must not appear
    there (docs/github.md, "The truth"); the answer, written by a job without the key, says why.
    """
    if scored.status == "completed" and scored.public_score is not None:
        return f"Scored: public score {scored.public_score:.5f}."
    if scored.error is not None and scored.error.type == NOT_RUN:
        return "Not scored: the evaluate run skipped the notebook; the answer on the pull request says why."
    status = scored.status if scored.status in _STATUSES else "not completed"
    return f"Not scored: the run ended {status}; the answer on the pull request says why."


_STATUSES = {"failed", "timeout", "invalid", "rejected"}


def read_verified(run_dir: Path) -> Verified:
    path = run_dir / VERIFIED_NAME
    if not path.is_file():
        raise UsageError(f"{path}: missing; run `grader pr verify ARTIFACT --out {run_dir}` first.")
    return Verified(**json.loads(path.read_text(encoding="utf-8")))


def record(
    run_dir: Path,
    competition: Competition,
    *,
    db: Path,
    push: Git | None,
) -> Answer:
    """Record the verified run (``run_dir`` after `grader score`) and, with ``push``, push the leaderboard."""
    from grader import pipeline
    from grader import result as results

    facts = read_verified(run_dir)
    scored = results.read(run_dir)
    if scored.status == "completed" and scored.public_score is None:
        raise UsageError(f"{run_dir} was not scored; run `grader score {run_dir}` (with the truth) first.")
    now = datetime.fromisoformat(facts.submitted_at.replace("Z", "+00:00"))
    args: dict[str, Any] = dict(
        user=facts.user, db=db, now=now, notebook_path=facts.notebook, run_id=facts.run_id, pr_number=facts.pr,
        head_sha=facts.head_sha,
    )  # fmt: skip
    outcome = pipeline.record(run_dir, competition, push=push, **args)
    final = results.read(run_dir)
    cell = final.error.cell_index if final.error else None
    return answers.recorded(
        final, outcome, competition, pr=facts.pr, head_sha=facts.head_sha,
        notebook=facts.notebook, run_url=facts.run_url, user=facts.user,
        traceback=failing_traceback(run_dir, competition, cell), at=now,
    )  # fmt: skip


def failing_traceback(run_dir: Path, competition: Competition, cell: int | None) -> str | None:
    """The failing cell's traceback from the run's executed.ipynb, or None if the notebook is missing or odd."""
    from grader import result as results
    from grader.untrusted import Unreadable, read_regular

    if cell is None:
        return None
    try:
        raw = read_regular(run_dir / results.EXECUTED_NAME, artifact.caps(competition)[results.EXECUTED_NAME])
        notebook = json.loads(raw)
    except (Unreadable, ValueError, RecursionError):  # the notebook's own outputs: never a reason to fail
        return None
    return answers.traceback_in(notebook, cell)


def pending_answer(facts: Verified) -> Answer:
    """What the pull request shows between the end of its evaluation and the verdict."""
    return answers.pending(
        pr=facts.pr, head_sha=facts.head_sha, notebook=facts.notebook, run_url=facts.run_url, user=facts.user
    )


def site_address(environ: Mapping[str, str] = os.environ) -> str | None:
    """The public site's address for the answer's links, ending in "/"; None when it is not known.

    ``GRADER_SITE_URL`` (the repository variable ``SITE_URL``, for a custom domain) wins; else the
    address GitHub Pages gives the repository (score.yml publishes there), from ``GITHUB_REPOSITORY``.
    """
    given = environ.get("GRADER_SITE_URL", "").strip()
    if given:
        return given if given.endswith("/") else given + "/"
    server, name = environ.get("GITHUB_SERVER_URL", "https://github.com"), environ.get("GITHUB_REPOSITORY", "")
    found = re.fullmatch(r"([A-Za-z0-9-]{1,39})/([A-Za-z0-9._-]{1,100})", name)
    if server != "https://github.com" or found is None:
        return None
    owner, repo = found[1].lower(), found[2]
    host = f"https://{owner}.github.io/"
    return host if repo.lower() == f"{owner}.github.io" else f"{host}{repo}/"


def failed_answer(event: Mapping[str, Any], reason: str) -> Answer:
    """What to say when the scoring side itself broke (no answer came out of it)."""
    run = gh.workflow_run(event)
    known = run.pull_numbers[0] if len(run.pull_numbers) == 1 else None
    return answers.refused((reason,), pr=known, head_sha=run.head_sha, run_url=run.html_url, kind="error")


def answer(found: Answer, *, api: gh.GitHub, summary: Path | None, site_url: str | None = None) -> str:
    """Comment on the pull request (when it is verified), set the commit status, write the job summary.

    ``site_url`` (:func:`site_address`): the answer links the leaderboard and the submitter's history there.
    """
    if site_url and not found.site_url:
        found = replace(found, site_url=site_url)
    body = answers.comment(found)
    if found.pr is not None:
        api.upsert_comment(found.pr, body)
    if found.head_sha:
        state, description = answers.status(found)
        api.set_status(found.head_sha, state, description, target_url=found.run_url)
    if summary is not None:
        with summary.open("a", encoding="utf-8") as handle:
            handle.write(body.replace(answers.MARKER + "\n", "") + "\n")
    return body


def set_output(name: str, value: str, environ: Mapping[str, str] = os.environ) -> None:
    """Append a step output to ``$GITHUB_OUTPUT`` (if set), safe for any value: a random delimiter ends it."""
    path = environ.get("GITHUB_OUTPUT")
    if not path:
        return
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    if delimiter in value:  # pragma: no cover - 128 random bits
        raise GraderError("refusing to write an output that contains its delimiter.")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
