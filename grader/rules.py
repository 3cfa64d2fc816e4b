"""The submission rules, pure: data in, decision out.

Whether a submission is accepted (the competition is open, the notebook is not a duplicate of
a completed one, the daily quota in the competition's time zone is not used up, the login is
not a team's name), whether it is late (made after the end of a competition that keeps
scoring, ``late: scored``: scored, never ranked), which refusals are sure enough to skip a run
for (:func:`sure_refusal`), what a participant is told about it (:class:`Recorded`), whether a
final choice may be made, and the checks of logins, reasons and timestamps. Nothing here reads a
clock, a file or a database: the store hands in the entrant's submissions (:class:`Own`) and
the moment of recording, and applies the decision inside its transaction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, NamedTuple

from grader.errors import UsageError
from grader.text import clip_message, duration

if TYPE_CHECKING:
    from grader.config import Competition
    from grader.result import Result

MAX_REASON_CHARS = 500
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_LOGIN = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
# An organiser's kind of removal → the verb of its audit row.
REMOVAL_VERBS = {"removed": "remove", "disqualified": "disqualify"}
# The error type of a run the evaluate workflow skipped because it was sure to be refused (see sure_refusal).
NOT_RUN = "NotRun"
SURE_SPAN = timedelta(days=7)  # longest span a refusal is worked out over (sure_refusal)


class Own(NamedTuple):
    """One of an entrant's submissions, as the rules need it."""

    id: int
    timestamp: str  # the store's form (:func:`timestamp`)
    notebook_sha256: str
    status: str
    reset_id: int | None  # the reset that archived it


class Verdict(NamedTuple):
    """Why a submission is rejected: ``kind`` (``deadline``, ``quota``, ``duplicate``, ``team``, ...) and a message."""

    kind: str
    message: str


class Place(NamedTuple):
    """An entrant's rank and best score (both None while they are not ranked)."""

    rank: int | None
    best_score: float | None


UNPLACED = Place(None, None)


@dataclass(frozen=True)
class Recorded:
    """What recording a run did, with what a pull-request comment needs to say."""

    submission_id: int
    status: str  # the result's status, or "rejected"
    reason: str | None  # why it was rejected, or the run's error message
    already_recorded: bool  # this run_id was recorded before: nothing changed
    rank: int | None  # the participant's rank now (None: not ranked)
    previous_rank: int | None  # before this submission; equals ``rank`` when nothing changed
    best_score: float | None
    remaining_today: int
    quota_resets_at: datetime  # next midnight in the competition's time zone
    previous_best: float | None = None  # the entrant's best public score before this submission
    late: bool = False  # made after the end of a competition that keeps scoring: scored, never ranked


# -- logins, reasons, timestamps ------------------------------------------------------


def check_login(user: str) -> str:
    """Return ``user`` if it is a well-formed GitHub login, else raise :class:`UsageError`."""
    if not isinstance(user, str) or len(user) > 39 or not _LOGIN.fullmatch(user):
        raise UsageError(
            f"{user!r} is not a GitHub login: use 1 to 39 letters, digits or single hyphens, "
            "not starting or ending with a hyphen."
        )
    return user


def check_reason(reason: str) -> str:
    """An organiser's reason on one line (it is shown on the site and in a commit message), or UsageError."""
    text = " ".join(str(reason).split())
    if not text:
        raise UsageError("give a reason (--reason TEXT): it is kept in the audit trail and shown to participants.")
    if len(text) > MAX_REASON_CHARS:
        raise UsageError(f"the reason is {len(text)} characters long; keep it under {MAX_REASON_CHARS}.")
    return text


def check_kind(kind: str) -> str:
    """``kind`` if it is a kind of removal (``removed`` or ``disqualified``), else ValueError."""
    if kind not in REMOVAL_VERBS:
        raise ValueError(f"kind must be 'removed' or 'disqualified', not {kind!r}")
    return kind


def check_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware datetime such as datetime.now(UTC)")
    return moment


def timestamp(moment: datetime) -> str:
    """The store's fixed-width UTC form of an aware datetime: ``2026-11-02T13:05:00.000000Z``."""
    check_aware(moment)
    return moment.astimezone(UTC).strftime(TS_FORMAT)


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, TS_FORMAT).replace(tzinfo=UTC)


def clean_score(score: float | None) -> float | None:
    """A score as stored: a float, or None for none (NaN is no score)."""
    return None if score is None or math.isnan(score) else float(score)


# -- time in the competition's zone ---------------------------------------------------


def tzname(tz: tzinfo) -> str:
    return str(getattr(tz, "key", None) or tz.tzname(None) or tz)


def local(moment: datetime, tz: tzinfo) -> str:
    """``2026-11-02 14:05 Europe/Paris``: a moment as participants read it."""
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M} {tzname(tz)}"


def next_midnight(now: datetime, tz: tzinfo) -> datetime:
    return datetime.combine(now.astimezone(tz).date() + timedelta(days=1), time(0), tzinfo=tz)


# -- the submission rules -------------------------------------------------------------


def quota_statuses(competition: Competition) -> tuple[str, ...]:
    """The statuses that use up quota: completed runs, and failed ones when ``quota.count_failed``."""
    return ("completed", "failed", "timeout", "invalid") if competition.quota.count_failed else ("completed",)


def used_today(mine: Iterable[Own], competition: Competition, now: datetime) -> int:
    """How many of an entrant's submissions count against the quota of ``now``'s day (in the competition's timezone)."""
    statuses = quota_statuses(competition)
    tz = competition.timezone
    start = timestamp(datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz))
    end = timestamp(next_midnight(now, tz))
    return sum(1 for own in mine if start <= own.timestamp < end and own.status in statuses)


def judge(
    mine: Sequence[Own], sha: str, competition: Competition, now: datetime, *, uses_quota: bool
) -> Verdict | None:
    """Why a submission of the notebook ``sha`` at ``now`` breaks a rule, or None; ``mine``: the entrant's so far.

    In order: the competition is open, the notebook is not one the entrant already submitted
    and completed (since the last reset), and, when the run ``uses_quota``, the day's quota.
    """
    check_aware(now)
    tz = competition.timezone
    if now < competition.start:
        return Verdict("deadline", (
            f"the competition opens on {local(competition.start, tz)}; "
            "submissions made before then are not accepted. Submit again once it is open."
        ))  # fmt: skip
    if now >= competition.end and competition.late != "scored":
        closed = local(competition.end, tz)
        return Verdict("deadline", f"the competition closed on {closed}; no more submissions are accepted.")
    duplicate = min(
        (own for own in mine if own.notebook_sha256 == sha and own.status == "completed" and own.reset_id is None),
        default=None,
    )
    if duplicate is not None:
        return Verdict("duplicate", (
            f"the same notebook was already submitted as #{duplicate.id} on "
            f"{local(parse_timestamp(duplicate.timestamp), tz)}; change it before submitting again."
        ))  # fmt: skip
    if uses_quota:
        return _quota(mine, competition, now)
    return None


def is_late(moment: datetime | str, competition: Competition) -> bool:
    """Whether a submission made at ``moment`` (aware, or the store's timestamp) is late: at or after the end
    of a competition with ``late: scored``. A late submission is scored and shown apart, never ranked.

    Under ``late: refused`` (the default) nothing is late: a submission after the end is rejected.
    """
    if competition.late != "scored":
        return False
    return (moment if isinstance(moment, str) else timestamp(moment)) >= timestamp(competition.end)


def sure_refusal(
    mine: Sequence[Own], sha: str, competition: Competition, *, earliest: datetime, latest: datetime
) -> Verdict | None:
    """The verdict of :func:`judge` at ``latest`` when it refuses at every moment from ``earliest`` on, else None.

    The evaluate workflow asks before building anything, to skip a run that the scoring side
    would refuse anyway (it judges at the moment GitHub created the run, which the evaluate job
    only knows lies between the pull request's last update and its own clock). A refusal can turn
    into an acceptance only at the start and at each midnight of the competition's time zone (a
    new quota day), so a refusal at ``earliest`` and at each of those moments within the span
    holds all along. A span longer than :data:`SURE_SPAN` is never sure.
    """
    check_aware(earliest)
    check_aware(latest)
    if latest < earliest or latest - earliest > SURE_SPAN:
        return None
    moments = [earliest, competition.start]  # the end never turns a refusal into an acceptance
    midnight = next_midnight(earliest, competition.timezone)
    while midnight <= latest:
        moments.append(midnight)
        midnight = next_midnight(midnight, competition.timezone)
    for moment in moments:
        if earliest <= moment <= latest and judge(mine, sha, competition, moment, uses_quota=True) is None:
            return None
    return judge(mine, sha, competition, latest, uses_quota=True)


def _quota(mine: Sequence[Own], competition: Competition, now: datetime) -> Verdict | None:
    used = used_today(mine, competition, now)
    limit = competition.quota.per_day
    if used < limit:
        return None
    tz = competition.timezone
    resets = next_midnight(now, tz)
    failed = "" if competition.quota.count_failed else " Runs that fail do not count."
    return Verdict("quota", (
        f"daily limit reached: {limit} submission{'s' if limit != 1 else ''} per day, and you have "
        f"used {used} today (days run from midnight to midnight, {tzname(tz)} time).{failed} "
        f"Your quota resets at {local(resets, tz)} (in {duration(resets - now)})."
    ))  # fmt: skip


def admit(result: Result, *, user: str, mine: Sequence[Own], competition: Competition, now: datetime) -> Verdict | None:
    """Why the run ``result`` by ``user`` is rejected when recorded at ``now``, or None when it is accepted.

    A run the pipeline already rejected stays rejected; a login that is also a team's name
    cannot take part on its own; otherwise :func:`judge` (quota only for runs that use it).
    A run the evaluate workflow skipped (:data:`NOT_RUN`) is judged as if it had completed: its
    refusal is this one, never the skip's; when these rules accept it after all, it is rejected
    as not run, so that it counts for nothing and its author pushes again.
    """
    if result.status == "rejected":
        return Verdict(result.error.type, result.error.message) if result.error else Verdict("rejected", "rejected")
    if competition.entrant(user) == user and user.casefold() in {team.casefold() for team in competition.teams}:
        return Verdict("team", (
            f"{user} is also the name of a team in competition.yaml, so this login cannot take part "
            "on its own; ask the organisers to rename the team or to add you to it."
        ))  # fmt: skip
    error = result.error
    not_run = result.status == "failed" and error is not None and error.type == NOT_RUN and error.cell_index is None
    uses_quota = not_run or result.status in quota_statuses(competition)
    verdict = judge(mine, result.notebook_sha256, competition, now, uses_quota=uses_quota)
    if not_run and verdict is None:
        return Verdict("not-run", (
            "this notebook was not run: the check before running expected it to be refused, but the leaderboard "
            "accepts it now. Push a new commit to the pull request (an empty one will do: "
            "`git commit --allow-empty`) to have it run and graded; this attempt counts for nothing."
        ))  # fmt: skip
    return verdict


@dataclass(frozen=True)
class Row:
    """What is stored of one submission when the rules have judged it (scores None for a rejected run)."""

    status: str
    error_type: str | None
    message: str | None
    error_cell: int | None
    score: float | None
    private_score: float | None
    scorer_version: str | None


def stored(result: Result, verdict: Verdict | None) -> Row:
    """The row to store for ``result`` judged ``verdict``: a rejected run keeps its reason and no score.

    Messages are student-controlled and end up in a committed CSV, so they are clipped; the
    scorer version counts only with a score.
    """
    error = result.error
    error_type, message = verdict if verdict else (error.type, error.message) if error else (None, None)
    score = None if verdict else clean_score(result.public_score)
    version = result.extra.get("scorer_version") if score is not None else None
    return Row(
        status="rejected" if verdict else result.status,
        error_type=error_type,
        message=None if message is None else clip_message(message),
        error_cell=None if verdict or error is None else error.cell_index,
        score=score,
        private_score=None if verdict else clean_score(result.private_score),
        scorer_version=version if isinstance(version, str) and version else None,
    )


def outcome(
    submission_id: int,
    status: str,
    reason: str | None,
    *,
    already: bool,
    before: Place,
    after: Place,
    mine: Sequence[Own],
    competition: Competition,
    now: datetime,
    late: bool = False,
) -> Recorded:
    """What a participant is told about a recorded submission: its fate, their rank, the quota left today.

    ``late``: the submission was scored after the end (``late: scored``) and does not rank.
    """
    return Recorded(
        submission_id=submission_id,
        status=status,
        reason=reason,
        already_recorded=already,
        rank=after.rank,
        previous_rank=before.rank,
        best_score=after.best_score,
        previous_best=before.best_score,
        remaining_today=max(0, competition.quota.per_day - used_today(mine, competition, now)),
        quota_resets_at=next_midnight(now, competition.timezone),
        late=late,
    )


# -- final choices --------------------------------------------------------------------


class Candidate(NamedTuple):
    """A submission someone wants to choose for the private leaderboard, as the rules need it."""

    id: int
    entrant: str
    counts: bool  # completed with a public score, ranking (not removed, archived, a baseline's)
    why_not: str  # when it does not count: removed, archived by a reset, its status


def check_choice(
    candidate: Candidate,
    *,
    by: str,
    final: bool,
    organiser: bool,
    chosen: Sequence[int],
    revealed_at: str | None,
    competition: Competition,
    now: datetime,
) -> bool:
    """Whether choosing (``final``) or taking back ``candidate`` changes anything; UsageError when it may not be done.

    A participant may choose their own or their team's scored submissions, up to
    ``ranking.final_submissions``, until the end of the competition; an organiser acts for
    them (after the end too, never after the reveal).
    """
    check_aware(now)
    cap = competition.ranking.final_submissions
    sid = candidate.id
    if not organiser and competition.entrant(by).casefold() != candidate.entrant.casefold():  # logins ignore case
        yours = "your own or your team's" if competition.teams else "your own"
        raise UsageError(f"submission #{sid} is {candidate.entrant}'s; you can choose only {yours} submissions.")
    if revealed_at is not None:
        raise UsageError(f"the private leaderboard was revealed on {revealed_at}; the final choices are closed.")
    if not organiser and now >= competition.end:
        raise UsageError(
            f"the competition closed on {local(competition.end, competition.timezone)}; "
            "final choices could be made until then."
        )
    if cap == 0:
        raise UsageError(
            "this competition does not let participants choose: each participant's best public "
            "submission counts for the private leaderboard (ranking.final_submissions is 0)."
        )
    if final == (sid in chosen):
        return False
    if final and not candidate.counts:
        raise UsageError(
            f"submission #{sid} cannot count ({candidate.why_not}); choose a submission with a public score."
        )
    if final and len(chosen) >= cap:
        listed = ", ".join(f"#{i}" for i in chosen)
        raise UsageError(
            f"{candidate.entrant} has already chosen {len(chosen)} submission{'s' if len(chosen) != 1 else ''} "
            f"({listed}) and may choose {cap}; take one back first (comment `/final off #{chosen[0]}`, or "
            "`/final off` on its pull request), then choose again."
        )
    return True
