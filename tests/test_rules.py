"""The submission rules on their own: data in, decision out, no database, no file, no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from grader import config, rules
from grader.config import Competition
from grader.errors import UsageError
from grader.result import Result, RunError
from grader.rules import Candidate, Own, Place, Verdict

PARIS = ZoneInfo("Europe/Paris")
YAML = """\
title: Rules
start: 2026-11-01T00:00:00
end: 2027-03-01T00:00:00
timezone: Europe/Paris
submission:
  {{directory: submissions, predictions: predictions.csv, id_column: id, prediction_column: label,
   prediction_type: integer}}
data: {{directory: data, test: data/test.csv}}
truth: {{path: truth.csv, split_column: split}}
metric: {{name: accuracy_score, greater_is_better: true}}
limits: {{cell_timeout: 60s, run_timeout: 3m, memory: 2 GiB}}
quota: {{per_day: 2, count_failed: {count_failed}}}
ranking: {{ties: earliest, final_submissions: 2}}
{teams}"""


def competition(*, count_failed: bool = False, teams: str = "") -> Competition:
    text = YAML.format(count_failed=str(count_failed).lower(), teams=teams)
    return config.parse(text, root=Path("/nonexistent-competition"))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=PARIS)


def own(sid: int, when: datetime, sha: str = "other", status: str = "completed", reset: int | None = None) -> Own:
    return Own(sid, rules.timestamp(when), sha, status, reset)


def run(status: str = "completed", sha: str = "nb", error: RunError | None = None, score: float = 0.5) -> Result:
    return Result(status=status, run_id="r", notebook="n.ipynb", notebook_sha256=sha, started_at="",  # type: ignore[arg-type]
                  runtime_seconds=1.0, error=error, public_score=score, private_score=0.25)  # fmt: skip


COMP = competition()
NOON = at(5, 12)


def test_the_competition_is_open_only_between_its_start_and_its_end() -> None:
    before = rules.judge([], "nb", COMP, COMP.start - timedelta(seconds=1), uses_quota=True)
    assert before == Verdict("deadline", (
        "the competition opens on 2026-11-01 00:00 Europe/Paris; submissions made before then are not "
        "accepted. Submit again once it is open."
    ))  # fmt: skip
    assert rules.judge([], "nb", COMP, COMP.start, uses_quota=True) is None
    closed = rules.judge([], "nb", COMP, COMP.end, uses_quota=True)
    assert (
        closed is not None and closed.kind == "deadline" and "closed on 2027-03-01 00:00 Europe/Paris" in closed.message
    )


def test_a_completed_notebook_cannot_be_submitted_again_until_a_reset() -> None:
    mine = [own(1, at(2, 9), sha="nb", status="failed"), own(2, at(3, 9), sha="nb"), own(3, at(4, 9), sha="nb")]
    verdict = rules.judge(mine, "nb", COMP, NOON, uses_quota=False)
    assert verdict == Verdict("duplicate", (
        "the same notebook was already submitted as #2 on 2026-11-03 09:00 Europe/Paris; change it before "
        "submitting again."
    ))  # fmt: skip
    archived = [own(2, at(3, 9), sha="nb", reset=7)]
    assert rules.judge(archived, "nb", COMP, NOON, uses_quota=False) is None
    assert rules.judge([own(1, at(2, 9), sha="nb", status="failed")], "nb", COMP, NOON, uses_quota=True) is None


def test_the_daily_quota_runs_from_midnight_to_midnight_in_the_competitions_zone() -> None:
    # 00:30 in Paris is the day before in UTC: it counts for the Paris day.
    mine = [own(1, at(5, 0, 30)), own(2, at(5, 11))]
    verdict = rules.judge(mine, "nb", COMP, NOON, uses_quota=True)
    assert verdict == Verdict("quota", (
        "daily limit reached: 2 submissions per day, and you have used 2 today (days run from midnight to "
        "midnight, Europe/Paris time). Runs that fail do not count. Your quota resets at 2026-11-06 00:00 "
        "Europe/Paris (in 12 h 00 min)."
    ))  # fmt: skip
    assert rules.judge(mine, "nb", COMP, NOON, uses_quota=False) is None  # a run that failed uses none
    assert rules.judge(mine, "nb", COMP, at(6, 0), uses_quota=True) is None  # a new day
    yesterday = [own(1, at(4, 23, 59)), own(2, at(5, 11))]
    assert rules.used_today(yesterday, COMP, NOON) == 1


def test_failed_runs_use_quota_only_when_the_competition_says_so() -> None:
    mine = [own(1, at(5, 9), status="failed"), own(2, at(5, 10), status="timeout")]
    assert rules.used_today(mine, COMP, NOON) == 0
    strict = competition(count_failed=True)
    assert rules.used_today(mine, strict, NOON) == 2
    verdict = rules.judge(mine, "nb", strict, NOON, uses_quota=True)
    assert verdict is not None and verdict.kind == "quota" and "Runs that fail" not in verdict.message


def test_admit_keeps_a_rejection_refuses_a_teams_name_and_charges_quota_by_status() -> None:
    refused = run("rejected", error=RunError("quota", "over the limit", None))
    assert rules.admit(refused, user="alice", mine=[], competition=COMP, now=NOON) == Verdict("quota", "over the limit")
    teamed = competition(teams="teams: {Owls: [alice, bob]}")
    clash = rules.admit(run(), user="owls", mine=[], competition=teamed, now=NOON)
    assert clash is not None and clash.kind == "team" and clash.message.startswith("owls is also the name of a team")
    assert rules.admit(run(), user="alice", mine=[], competition=teamed, now=NOON) is None
    full = [own(1, at(5, 9)), own(2, at(5, 10))]
    assert (
        rules.admit(run("failed", error=RunError("E", "x", 1)), user="a", mine=full, competition=COMP, now=NOON) is None
    )
    completed = rules.admit(run(), user="a", mine=full, competition=COMP, now=NOON)
    assert completed is not None and completed.kind == "quota"


def test_a_rejected_run_is_stored_without_scores_and_a_long_message_is_clipped() -> None:
    row = rules.stored(replace(run(), extra={"scorer_version": "abc"}), None)
    assert (row.status, row.score, row.private_score, row.scorer_version, row.message) == (
        "completed", 0.5, 0.25, "abc", None,
    )  # fmt: skip
    row = rules.stored(replace(run(), extra={"scorer_version": "abc"}), Verdict("quota", "no"))
    assert (row.status, row.score, row.private_score, row.scorer_version, row.error_type, row.message) == (
        "rejected", None, None, None, "quota", "no",
    )  # fmt: skip
    failed = rules.stored(run("failed", error=RunError("KeyError", "k" * 5000, 3), score=float("nan")), None)
    assert failed.score is None and failed.error_cell == 3
    assert failed.message == "k" * 2000 + " … (truncated)"


def test_the_outcome_tells_rank_and_the_quota_left_today() -> None:
    told = rules.outcome(9, "completed", None, already=False, before=Place(3, 0.4), after=Place(1, 0.9),
                         mine=[own(8, at(5, 9)), own(9, at(5, 11))], competition=COMP, now=NOON)  # fmt: skip
    assert (told.rank, told.previous_rank, told.best_score, told.remaining_today) == (1, 3, 0.9, 0)
    assert told.quota_resets_at == at(6, 0)


def test_final_choices_follow_the_cap_the_owner_and_the_calendar() -> None:
    good = Candidate(5, "alice", counts=True, why_not="completed")

    def choose(candidate: Candidate = good, **changes: object) -> bool:
        options: dict[str, object] = dict(by="alice", final=True, organiser=False, chosen=[], revealed_at=None,
                                          competition=COMP, now=NOON)  # fmt: skip
        options.update(changes)
        return rules.check_choice(candidate, **options)  # type: ignore[arg-type]

    assert choose() is True
    assert choose(chosen=[5]) is False  # already so: nothing to change
    assert choose(final=False, chosen=[5]) is True
    with pytest.raises(UsageError, match="is alice's; you can choose only your own submissions"):
        choose(by="bob")
    assert choose(by="bob", organiser=True) is True
    with pytest.raises(UsageError, match="revealed on 2027-03-02"):
        choose(revealed_at="2027-03-02", organiser=True)
    with pytest.raises(UsageError, match="closed on 2027-03-01 00:00 Europe/Paris"):
        choose(now=COMP.end)
    assert choose(now=COMP.end, organiser=True) is True
    with pytest.raises(UsageError, match=r"cannot count \(removed\)"):
        choose(Candidate(5, "alice", counts=False, why_not="removed"))
    with pytest.raises(UsageError, match=r"has already chosen 2 submissions \(#1, #2\) and may choose 2"):
        choose(chosen=[1, 2])
    with pytest.raises(UsageError, match="does not let participants choose"):
        choose(competition=replace(COMP, ranking=replace(COMP.ranking, final_submissions=0)))


def test_logins_reasons_and_timestamps() -> None:
    assert rules.check_login("a-b1") == "a-b1"
    for bad in ("-a", "a--b", "a" * 40, "a b", ""):
        with pytest.raises(UsageError, match="is not a GitHub login"):
            rules.check_login(bad)
    assert rules.check_reason("  copied\n a   solution ") == "copied a solution"
    with pytest.raises(UsageError, match="give a reason"):
        rules.check_reason(" \n")
    with pytest.raises(UsageError, match="keep it under 500"):
        rules.check_reason("x" * 501)
    assert rules.timestamp(at(5, 12)) == "2026-11-05T11:00:00.000000Z"
    assert rules.parse_timestamp("2026-11-05T11:00:00.000000Z") == datetime(2026, 11, 5, 11, tzinfo=UTC)
    with pytest.raises(ValueError, match="has no time zone"):
        rules.timestamp(datetime(2026, 11, 5))


# -- late submissions and sure refusals ----------------------------------------------------------

LATE_COMP = replace(COMP, late="scored")


def test_after_the_end_a_competition_that_keeps_scoring_judges_like_before_it() -> None:
    after = COMP.end + timedelta(days=1)
    assert rules.judge([], "nb", LATE_COMP, after, uses_quota=True) is None
    assert rules.judge([], "nb", LATE_COMP, COMP.start - timedelta(seconds=1), uses_quota=True) is not None
    mine = [own(1, after, sha="nb")]
    duplicate = rules.judge(mine, "nb", LATE_COMP, after + timedelta(hours=1), uses_quota=True)
    assert duplicate is not None and duplicate.kind == "duplicate"
    full = [own(1, after), own(2, after + timedelta(minutes=1))]
    quota = rules.judge(full, "nb", LATE_COMP, after + timedelta(hours=1), uses_quota=True)
    assert quota is not None and quota.kind == "quota"


def test_a_submission_is_late_from_the_end_on_and_only_when_the_competition_keeps_scoring() -> None:
    assert not rules.is_late(COMP.end - timedelta(microseconds=1), LATE_COMP)
    assert rules.is_late(COMP.end, LATE_COMP)
    assert rules.is_late(rules.timestamp(COMP.end), LATE_COMP)  # the store's form too
    assert not rules.is_late(COMP.end + timedelta(days=1), COMP)  # refused instead


def test_a_refusal_is_sure_only_when_it_holds_over_the_whole_span() -> None:
    end = COMP.end
    sure = rules.sure_refusal([], "nb", COMP, earliest=end, latest=end + timedelta(hours=1))
    assert sure is not None and sure.kind == "deadline"
    before = rules.sure_refusal(
        [], "nb", COMP, earliest=COMP.start - timedelta(days=2), latest=COMP.start - timedelta(days=1)
    )
    assert before is not None and before.kind == "deadline"
    # A span holding the end or the start: the run may have been created while it was open.
    assert rules.sure_refusal([], "nb", COMP, earliest=end - timedelta(seconds=1), latest=end) is None
    assert rules.sure_refusal([], "nb", COMP, earliest=COMP.start - timedelta(seconds=1), latest=COMP.start) is None
    # Before the start and after the end are both "deadline", and the competition was open between them.
    hour = replace(COMP, start=at(5, 10), end=at(5, 11))
    assert rules.sure_refusal([], "nb", hour, earliest=at(5, 9), latest=at(5, 12)) is None
    assert rules.sure_refusal([], "nb", hour, earliest=at(5, 11), latest=at(5, 12)) is not None
    assert rules.sure_refusal([], "nb", LATE_COMP, earliest=end, latest=end + timedelta(hours=1)) is None
    assert rules.sure_refusal([], "nb", COMP, earliest=end + timedelta(hours=1), latest=end) is None  # not a span


def test_a_full_day_is_sure_only_within_that_day_and_a_duplicate_always() -> None:
    full = [own(1, at(5, 9)), own(2, at(5, 10))]
    sure = rules.sure_refusal(full, "nb", COMP, earliest=at(5, 11), latest=NOON)
    assert sure is not None and sure.kind == "quota"
    assert rules.sure_refusal(full, "nb", COMP, earliest=at(4, 23, 59), latest=NOON) is None  # yesterday had room
    both_full = [*full, own(3, at(4, 9)), own(4, at(4, 10))]
    across = rules.sure_refusal(both_full, "nb", COMP, earliest=at(4, 23, 59), latest=NOON)  # either day is full
    assert across is not None and across.kind == "quota"
    gap = [own(5, at(3, 9)), own(6, at(3, 10)), *full]  # the 3rd and the 5th are full, the 4th had room
    assert rules.sure_refusal(gap, "nb", COMP, earliest=at(3, 12), latest=NOON) is None
    three = [*gap, own(7, at(4, 9)), own(8, at(4, 10))]  # every day of the span full
    assert rules.sure_refusal(three, "nb", COMP, earliest=at(3, 12), latest=NOON) is not None
    week = [own(n, at(d, 9)) for d in range(2, 12) for n in (d * 10, d * 10 + 1)]  # full every day, but too long a span
    assert rules.sure_refusal(week, "nb", COMP, earliest=at(2, 12), latest=at(11, 12)) is None
    assert rules.sure_refusal([own(1, at(5, 9))], "nb", COMP, earliest=at(5, 11), latest=NOON) is None
    twice = rules.sure_refusal([own(1, at(2, 9), sha="nb")], "nb", COMP, earliest=at(4, 23), latest=NOON)
    assert twice is not None and twice.kind == "duplicate"


def test_a_skipped_run_is_judged_as_if_it_had_completed() -> None:
    skipped = run("failed", error=RunError(rules.NOT_RUN, "daily limit reached"))
    full = [own(1, at(5, 9)), own(2, at(5, 10))]
    verdict = rules.admit(skipped, user="alice", mine=full, competition=COMP, now=NOON)
    assert verdict is not None and verdict.kind == "quota"  # the quota counts although the run "failed"
    accepted = rules.admit(skipped, user="alice", mine=[], competition=COMP, now=NOON)
    assert accepted is not None and accepted.kind == "not-run" and "Push a new commit" in accepted.message
    assert rules.stored(skipped, accepted).status == "rejected"
