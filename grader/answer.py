"""The answer on a pull request: what happened to a submission, as public facts and as text.

:class:`Answer` holds only what a participant may see (public score, rank, quota, the
run's error): it is built on the scoring side, passed to the job that comments, and has no
field for a private score or the truth, so neither can end up in a comment, a commit status
or a job summary. :func:`comment` and :func:`status` are pure and golden-file tested.

Everything that comes from the student's run (error type and message, names) is escaped:
mentions are broken so they ping nobody, HTML is entity-escaped, and the error excerpt sits
in a code fence longer than any run of backticks in it, so it cannot close the fence.

A failed cell's traceback comes from the outputs of ``executed.ipynb``, which the notebook
wrote itself: :func:`traceback_in` reads it as hostile text (terminal codes stripped, capped
to its last lines, fenced) and it is only shown, never used to decide anything.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from grader import render
from grader.config import Competition
from grader.result import Result
from grader.store import Recorded
from grader.untrusted import printable

MARKER = "<!-- grader:result -->"
LATE_NOTE = (
    "Scored late, not ranked: the competition had closed when you submitted. Late submissions are scored so "
    "that you can keep practising; they are shown apart on the site, never ranked and never on the final leaderboard."
)
EXCERPT_LINES = 15
EXCERPT_CHARS = 1500
FRAME_LINES = 9  # of the student's own frame: where, and the lines around the one that failed
RAISED_LINES = 4  # of the exception's own text, its last lines
TRACEBACK_FRAMES = 1000  # traceback entries read from the notebook (an entry may hold a whole frame)

Kind = str  # pending | scored | failed | rejected | refused | error
_MENTION = re.compile(r"@(?=[A-Za-z0-9_])")
_OWN_FRAME = re.compile(r"Cell In\[\d*\]|Input In \[\d*\]|<ipython-input-")  # a notebook cell's frame


@dataclass(frozen=True)
class Answer:
    """The public facts of one graded (or refused) submission."""

    kind: Kind
    pr: int | None = None
    head_sha: str | None = None
    notebook: str | None = None
    status: str | None = None  # the recorded status (completed, failed, timeout, invalid, rejected)
    public_score: float | None = None
    rank: int | None = None
    previous_rank: int | None = None
    best_score: float | None = None
    remaining_today: int | None = None
    quota_resets: str | None = None  # already formatted in the competition's time zone
    runtime_seconds: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_cell: int | None = None  # 0-based
    reasons: tuple[str, ...] = ()
    metric: str | None = None
    greater_is_better: bool = True
    run_url: str | None = None
    submission_id: int | None = None
    already_recorded: bool = False  # a re-run of the scoring: the change of rank was told the first time
    final_choices: int = 0  # how many submissions a participant may choose with /final (0: choosing is off)
    team: str | None = None  # the submitter's team (its rank, best and quota are the team's)
    traceback: str | None = None  # the end of the failing cell's traceback, already excerpted (failed runs only)
    previous_best: float | None = None  # the entrant's best public score before this submission
    user: str | None = None  # who opened the pull request (their history is on the site under this login)
    site_url: str | None = None  # the competition's public site, ending in "/" (set by the job that answers)
    late: bool = False  # made after the end of a competition that keeps scoring (`late: scored`): never ranked
    # (name, public score, greater_is_better) of each secondary metric: shown, never ranked; never a private one
    secondary: tuple[tuple[str, float | None, bool], ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Answer:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("an answer is a JSON object")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
        values["reasons"] = tuple(str(r) for r in values.get("reasons") or ())
        values["secondary"] = tuple(
            (str(name), score, bool(greater)) for name, score, greater in values.get("secondary") or ()
        )
        return cls(**values)


def recorded(
    result: Result,
    outcome: Recorded,
    competition: Competition,
    *,
    pr: int | None,
    head_sha: str | None,
    notebook: str,
    run_url: str | None,
    user: str | None = None,
    traceback: str | None = None,
    at: datetime | None = None,
) -> Answer:
    """The answer for a run that was recorded (scored, failed, or rejected by a rule); ``user`` submitted it.

    ``traceback``: the failing cell's, from :func:`traceback_in` (shown for a ``failed`` run only:
    a timeout or a killed kernel has none of its own). ``at``: when it was submitted; once the
    competition has ended, no quota is left to tell (unless it keeps scoring late submissions, which the
    daily quota still limits).
    """
    error = result.error if outcome.status not in ("completed", "rejected") else None
    ended = at is not None and at >= competition.end and competition.late != "scored"
    shown = _tail(traceback) if traceback and outcome.status == "failed" else None
    resets = outcome.quota_resets_at.astimezone(competition.timezone)
    return Answer(
        kind={"completed": "scored", "rejected": "rejected"}.get(outcome.status, "failed"),
        pr=pr,
        head_sha=head_sha,
        notebook=notebook,
        status=outcome.status,
        public_score=result.public_score if outcome.status == "completed" else None,
        rank=outcome.rank,
        previous_rank=outcome.previous_rank,
        best_score=outcome.best_score,
        remaining_today=None if ended else outcome.remaining_today,
        quota_resets=None if ended else _when(resets),
        runtime_seconds=result.runtime_seconds if outcome.status != "rejected" else None,
        error_type=error.type if error else None,
        error_message=_excerpt(error.message) if error else None,
        error_cell=error.cell_index if error else None,
        reasons=(outcome.reason,) if outcome.status == "rejected" and outcome.reason else (),
        metric=competition.metric.name,
        greater_is_better=competition.metric.greater_is_better,
        run_url=run_url,
        submission_id=outcome.submission_id,
        already_recorded=outcome.already_recorded,
        final_choices=competition.ranking.final_submissions,
        team=competition.entrant(user) if user and competition.entrant(user) != user else None,
        traceback=shown or None,
        previous_best=outcome.previous_best,
        user=user,
        late=outcome.late,
        secondary=_secondary(result, competition) if outcome.status == "completed" else (),
    )


def pending(*, pr: int, head_sha: str, notebook: str, run_url: str | None, user: str | None = None) -> Answer:
    """The answer while a verified run is being scored and recorded: the verdict replaces it."""
    return Answer(kind="pending", pr=pr, head_sha=head_sha, notebook=notebook, run_url=run_url, user=user)


def _secondary(result: Result, competition: Competition) -> tuple[tuple[str, float | None, bool], ...]:
    """The public score of each secondary metric, in the order of competition.yaml."""
    scores = result.extra.get("secondary")
    if not isinstance(scores, dict):
        return ()
    shown = []
    for metric in competition.metric.secondary:
        pair = scores.get(metric.name)
        value = pair.get("public") if isinstance(pair, dict) else None
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        shown.append((metric.name, number, metric.greater_is_better))
    return tuple(shown)


def traceback_in(notebook: object, cell_index: int | None) -> str | None:
    """The traceback of the error output of cell ``cell_index`` in an executed notebook (parsed JSON), or None.

    The notebook is the student's: any shape is possible, and anything unexpected means no traceback.
    """
    if cell_index is None or not isinstance(notebook, dict):
        return None
    cells = notebook.get("cells")
    if not isinstance(cells, list) or not 0 <= cell_index < len(cells) or not isinstance(cells[cell_index], dict):
        return None
    outputs = cells[cell_index].get("outputs")
    errors = (
        [o for o in outputs if isinstance(o, dict) and o.get("output_type") == "error"]
        if isinstance(outputs, list)
        else []
    )
    lines = errors[-1].get("traceback") if errors else None
    if not isinstance(lines, list):
        return None
    entries = [printable(str(e)).strip("\n") for e in lines[-TRACEBACK_FRAMES:]]
    entries = [e for e in entries if e.strip()]
    if not entries:
        return None
    # IPython writes one entry per frame and the exception last. Library frames can fill any
    # excerpt, so the student's own frame (the cell's, with its ----> line) is kept, then the error.
    own = max((i for i, e in enumerate(entries[:-1]) if _OWN_FRAME.match(e)), default=None)
    if own is None:
        return _tail("\n".join(entries)) or None
    parts = ["\n".join(entries[own].splitlines()[:FRAME_LINES])]
    hidden = len(entries) - own - 2
    if hidden:
        parts.append(
            f"… {hidden} more frame{'s' if hidden > 1 else ''} inside libraries (the executed notebook has them)"
        )
    parts.append("\n".join(entries[-1].splitlines()[-RAISED_LINES:]))
    return _tail("\n".join(parts)) or None


def refused(
    reasons: tuple[str, ...], *, pr: int | None, head_sha: str | None, run_url: str | None, kind: Kind = "refused"
) -> Answer:
    """The answer for a pull request that was not graded (``kind='error'``: grading broke, not the student)."""
    return Answer(kind=kind, pr=pr, head_sha=head_sha, reasons=reasons, run_url=run_url)


def comment(answer: Answer) -> str:
    """The markdown of the one comment grader keeps on a pull request."""
    lines = [MARKER, f"### {_headline(answer)}", ""]
    if answer.kind == "pending":
        lines += ["| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in _facts(answer))]
        lines += [
            "",
            "The evaluation run has finished. The grader is now checking it, scoring the predictions and "
            "updating the leaderboard; this comment shows the verdict when that is done, usually within a few "
            "minutes.",
        ]
    elif answer.kind in ("refused", "error"):
        lines += [f"- {inline(r)}" for r in answer.reasons] or ["- no reason was given."]
        if answer.kind == "refused":
            lines += ["", "Fix the pull request and push again: it is graded on every push."]
        else:
            lines += ["", "This is not your notebook's fault: ask the course staff to look at the run."]
    else:
        lines += ["| | |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in _facts(answer)]
        if answer.kind == "failed":
            lines += ["", f"**{_failure(answer)}**"]
            excerpt = _excerpt(answer.error_message or "")
            if excerpt:
                lines += ["", fence(excerpt)]
            if answer.status == "invalid":
                lines += ["", "Your notebook ran to the end; fix the predictions file it writes and push again."]
            shown = _tail(answer.traceback or "")
            if shown:
                lines += [
                    "",
                    "Where it failed, from the cell's traceback: `Cell In[…]` is your notebook's code, "
                    "`---->` marks the line.",
                    "",
                    fence(shown),
                ]
        if answer.kind == "rejected":
            lines += ["", f"**Not scored:** {inline(answer.reasons[0] if answer.reasons else 'rejected')}"]
            if answer.remaining_today == 0 and answer.quota_resets:
                lines[-1] += f" You can submit again from {answer.quota_resets}."
        if answer.late:
            lines += ["", f"**{LATE_NOTE}**"]
        if answer.kind == "scored" and answer.final_choices and not answer.late:
            which = f" #{answer.submission_id}" if answer.submission_id is not None else ""
            anywhere = f", or `/final{which}` on any of your pull requests" if answer.submission_id is not None else ""
            lines += [
                "",
                f"Comment `/final` on this pull request to choose this submission{which} for the private "
                f"leaderboard{anywhere} (up to {answer.final_choices}; `/final off{which}` takes it back). "
                "Without a choice, your best public submission counts.",
            ]
    links = _links(answer)
    if links:
        lines += ["", links]
    if answer.run_url and answer.kind in ("refused", "error"):  # no notebook was run, or it is not known
        lines += ["", f"The [evaluation run]({_url(answer.run_url)}) shows what happened."]
    elif answer.run_url:
        lines += [
            "",
            f"Read the executed notebook on the [evaluation run's page]({_url(answer.run_url)}) (its summary); "
            "the notebook and the log are in its artifact.",
        ]
    short = f" for commit `{answer.head_sha[:12]}`" if answer.head_sha and answer.kind != "error" else ""
    lines += ["", f"<sub>grader's answer{short}; private scores stay hidden until the end.</sub>", ""]
    return "\n".join(lines)


def status(answer: Answer) -> tuple[str, str]:
    """(state, description) of the commit status that carries the verdict on the head commit."""
    if answer.kind == "pending":
        return "pending", "Scoring: the verdict follows in a few minutes"
    if answer.kind == "scored" and answer.late:
        return "success", f"Scored late {render.score(answer.public_score)}, not ranked"
    if answer.kind == "scored":
        rank = f", rank {answer.rank}" if answer.rank is not None else ""
        return "success", f"Scored {render.score(answer.public_score)}{rank}"
    if answer.kind == "failed":
        return "failure", _plain(_failure(answer))
    if answer.kind == "rejected":
        return "failure", _plain(f"Not scored: {answer.reasons[0] if answer.reasons else 'rejected'}")
    if answer.kind == "refused":
        return "failure", _plain(f"Not graded: {answer.reasons[0] if answer.reasons else 'refused'}")
    return "error", "Grading broke; the course staff can re-run it"


def inline(text: str) -> str:
    """Student-influenced text for inline markdown: no pings, no HTML, no control characters."""
    text = printable(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub("@\u2060", " ".join(text.split()))


def fence(text: str) -> str:
    """``text`` in a code fence it cannot close: the fence is longer than any backtick run in it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    bar = "`" * max(3, longest + 1)
    return f"{bar}text\n{text}\n{bar}"


def _headline(answer: Answer) -> str:
    if answer.kind == "pending":
        return "⏳ Scoring your notebook"
    if answer.kind == "scored":
        return f"✅ Scored{' late' if answer.late else ''}: {render.score(answer.public_score)}"
    if answer.kind == "failed" and answer.status == "invalid":
        return "❌ Your notebook ran, but its predictions were refused"
    if answer.kind == "failed":
        return "❌ Your notebook did not run to the end"
    if answer.kind == "rejected":
        return "⛔ Not scored"
    if answer.kind == "refused":
        return "⛔ This pull request was not graded"
    return "⚠️ Grading did not finish"


def _facts(answer: Answer) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    if answer.notebook:
        at = f" at `{answer.head_sha[:12]}`" if answer.head_sha else ""
        facts.append(("Notebook", f"`{inline(answer.notebook)}`{at}"))
    if answer.kind == "pending":
        return [*facts, ("Status", "scoring")]
    if answer.submission_id is not None:
        facts.append(("Submission", f"#{answer.submission_id}"))
    facts.append(("Status", inline(answer.status or answer.kind)))
    if answer.kind == "scored":
        direction = "higher is better" if answer.greater_is_better else "lower is better"
        facts.append(
            ("Public score", f"**{render.score(answer.public_score)}** ({inline(answer.metric or '')}, {direction})")
        )
        progress = _progress(answer)
        if progress:
            facts.append(("Progress", progress))
        for name, score, greater in answer.secondary:
            better = "higher is better" if greater else "lower is better"
            facts.append((inline(name), f"{render.score(score)} (public; {better}; shown, not ranked)"))
    if answer.team:
        facts.append(("Team", inline(answer.team)))
    facts.append(("Rank", _rank(answer)))
    facts.append(("Your team's best so far" if answer.team else "Your best so far", render.score(answer.best_score)))
    if answer.runtime_seconds is not None:
        facts.append(("Runtime", f"{answer.runtime_seconds:.1f} s"))
    if answer.remaining_today is not None:
        resets = f" (resets {answer.quota_resets})" if answer.quota_resets else ""
        left = "Team submissions left today" if answer.team else "Submissions left today"
        facts.append((left, f"{answer.remaining_today}{resets}"))
    return facts


def _rank(answer: Answer) -> str:
    if answer.late:
        return "not ranked: a late submission" + (
            f" (the leaderboard keeps you at {answer.rank})" if answer.rank else ""
        )
    if answer.rank is None:
        return "not ranked yet (no completed submission)"
    before = answer.previous_rank
    if answer.already_recorded:
        return f"**{answer.rank}**"
    if before is None:
        return f"**{answer.rank}** (new on the leaderboard)"
    if before == answer.rank:
        return f"**{answer.rank}** (unchanged)"
    arrow = "▲ up" if answer.rank < before else "▼ down"
    return f"**{answer.rank}** ({arrow} from {before})"


def _progress(answer: Answer) -> str | None:
    """This score against the entrant's best before it: the signed change and whether it is a new best."""
    score, before = answer.public_score, answer.previous_best
    if answer.already_recorded or score is None:
        return None  # a re-run of the scoring: the change was told the first time
    whose = "your team's" if answer.team else "your"
    if before is None:
        return f"{whose} first public score".capitalize()
    change = score - before
    if change == 0:
        return f"the same as {whose} previous best ({render.score(before)})".capitalize()
    better = change > 0 if answer.greater_is_better else change < 0
    if better:
        return f"**{change:+.5f}** on {whose} previous best ({render.score(before)}): a new best"
    return f"{change:+.5f} against {whose} best ({render.score(before)}), which still counts"


def _links(answer: Answer) -> str | None:
    """Links to the site: the leaderboard and the submitter's own history."""
    if not answer.site_url or answer.kind in ("refused", "error") or _url(answer.site_url) == "#":
        return None
    site = answer.site_url if answer.site_url.endswith("/") else answer.site_url + "/"
    links = [f"[Leaderboard]({_url(site + 'leaderboard.html')})"]
    if answer.user and re.fullmatch(r"[A-Za-z0-9-]{1,39}", answer.user):
        links.append(f"[your submissions]({_url(site + 'participants.html#' + answer.user)})")
    return " · ".join(links)


def _failure(answer: Answer) -> str:
    if answer.status == "invalid":
        first = (answer.error_message or "").strip().splitlines()
        return f"Predictions refused: {inline(first[0])[:100]}" if first else "Predictions refused"
    where = f" in cell {answer.error_cell + 1}" if answer.error_cell is not None else ""
    what = answer.error_type or answer.status or "error"
    return f"{'Timed out' if answer.status == 'timeout' else 'Failed'}{where}: {inline(what)[:80]}"


def _excerpt(message: str) -> str:
    text = printable(message.replace("\r\n", "\n")).strip("\n")
    lines = text.splitlines()
    if len(lines) > EXCERPT_LINES:
        lines = [*lines[:3], "…", *lines[-(EXCERPT_LINES - 4) :]]
    text = "\n".join(line if len(line) <= 200 else line[:199] + "…" for line in lines)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _tail(text: str) -> str:
    """The end of a traceback (where it failed), at most EXCERPT_LINES lines and EXCERPT_CHARS characters."""
    lines = printable(text.replace("\r\n", "\n")).strip("\n").splitlines()
    lines = [line if len(line) <= 200 else line[:199] + "…" for line in lines]
    cut = len(lines) > EXCERPT_LINES
    kept = lines[-(EXCERPT_LINES - 1) :] if cut else lines
    while kept and sum(len(line) + 1 for line in kept) > EXCERPT_CHARS - 2:
        kept, cut = kept[1:], True
    return "\n".join(["…", *kept] if cut and kept else kept)


def _plain(text: str) -> str:
    return " ".join(printable(text).split())


def _url(url: str) -> str:
    """Only http(s) links, with nothing that could end the markdown link early."""
    if not re.fullmatch(r"https?://[^\s()<>\[\]\"'`]+", url):
        return "#"
    return url


def _when(moment: datetime) -> str:
    """The moment in the competition's time zone, and in UTC for students elsewhere."""
    shown = moment.strftime("%Y-%m-%d %H:%M %Z")
    utc = moment.astimezone(UTC)
    return shown if moment.utcoffset() == utc.utcoffset() else f"{shown} / {utc:%Y-%m-%d %H:%M} UTC"
