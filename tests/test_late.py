"""Late submissions (`late: scored`) and the check that skips a run sure to be refused.

A late submission is recorded and scored, and stays out of everything that ranks: the public
board, the board of any moment, the private board, the final choices. It is in its author's
history and in the site's "Late submissions" part. Under the default (`late: refused`) it is
rejected as before. Real SQLite files, real git-free leaderboards in tmp_path, the real CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import run_grader

from grader import answer as answers
from grader import config, rules, site, workflow
from grader import result as results
from grader.config import Competition
from grader.errors import UsageError
from grader.result import Result, RunError
from grader.store import Store

PARIS = ZoneInfo("Europe/Paris")
YAML = """\
title: Late
start: 2026-11-01T00:00:00
end: 2027-03-01T00:00:00
timezone: Europe/Paris
submission: {{directory: submissions, predictions: predictions.csv, id_column: id, prediction_column: label,
  prediction_type: integer}}
data: {{directory: data, test: data/test.csv}}
truth: {{path: truth.csv, split_column: split}}
metric: {{name: accuracy_score, greater_is_better: true}}
limits: {{cell_timeout: 60s, run_timeout: 3m, memory: 2 GiB}}
quota: {{per_day: 2}}
ranking: {{ties: earliest, final_submissions: 2}}
{late}"""
END = datetime(2027, 3, 1, tzinfo=PARIS)
ON_TIME = END - timedelta(days=3)
LATE = END + timedelta(days=2, hours=12)


def competition(root: Path, late: str | None = "scored") -> Competition:
    return config.parse(YAML.format(late=f"late: {late}\n" if late else ""), root=root)


def run(run_id: str, score: float, private: float, status: str = "completed") -> Result:
    error = None if status == "completed" else RunError("ValueError", "boom", 1)
    return Result(
        status=status,  # type: ignore[arg-type]
        run_id=run_id,
        notebook="nb.ipynb",
        notebook_sha256=hashlib.sha256(run_id.encode()).hexdigest(),
        started_at="2027-02-01T00:00:00Z",
        runtime_seconds=3.0,
        error=error,
        public_score=score if status == "completed" else None,
        private_score=private if status == "completed" else None,
    )


def record(store: Store, comp: Competition, user: str, run_id: str, now: datetime, score: float, private: float):  # type: ignore[no-untyped-def]
    return store.record(run(run_id, score, private), user=user, competition=comp, now=now, notebook_path="nb.ipynb")


@pytest.fixture
def graded(tmp_path: Path) -> tuple[Store, Competition, int]:
    """alice (0.7) and bob (0.8) on time; alice late with 0.95 (private 0.99); carol only late (0.9)."""
    comp = competition(tmp_path)
    store = Store(tmp_path / "leaderboard" / "leaderboard.db")
    record(store, comp, "alice", "a1", ON_TIME, 0.7, 0.6)
    record(store, comp, "bob", "b1", ON_TIME + timedelta(hours=1), 0.8, 0.5)
    late = record(store, comp, "alice", "a2", LATE, 0.95, 0.99)
    record(store, comp, "carol", "c1", LATE + timedelta(hours=1), 0.9, 0.9)
    assert late.late and late.status == "completed"
    return store, comp, late.submission_id


# -- the record ----------------------------------------------------------------------------------


def test_a_late_run_is_recorded_and_scored_but_never_ranked(graded: tuple[Store, Competition, int]) -> None:
    store, comp, late_id = graded
    row = store.submission(late_id)
    assert row is not None and row.status == "completed" and row.score == 0.95
    board = store.leaderboard(comp)
    assert [(s.username, s.best_score, s.submission_count) for s in board] == [("bob", 0.8, 1), ("alice", 0.7, 1)]
    assert [r.id for r in store.history("alice")] == [1, late_id]  # in her history
    assert [r.username for r in store.history("carol")] == ["carol"]
    store.export_csv(comp)
    exported = (comp.root / "leaderboard" / "leaderboard.csv").read_text()
    assert "carol" not in exported and "0.95" not in exported
    assert "0.95" in (comp.root / "leaderboard" / "submissions.csv").read_text()
    # The board of a moment after the end, and the table rebuilt from scratch, leave them out too.
    at = store.leaderboard_at(comp, LATE + timedelta(days=1))
    assert [(s.username, s.best_score) for s in at] == [("bob", 0.8), ("alice", 0.7)]
    store.rebuild(comp)
    assert [(s.username, s.best_score, s.submission_count) for s in store.leaderboard(comp)] == [
        ("bob", 0.8, 1),
        ("alice", 0.7, 1),
    ]


def test_the_outcome_of_a_late_run_keeps_the_on_time_rank(graded: tuple[Store, Competition, int]) -> None:
    store, comp, _ = graded
    again = record(store, comp, "bob", "b2", LATE + timedelta(hours=2), 0.99, 0.99)
    assert again.late and again.rank == again.previous_rank == 1 and again.best_score == 0.8
    assert again.remaining_today == 1  # the daily limit still applies to late runs
    repeat = record(store, comp, "bob", "b2", LATE + timedelta(hours=3), 0.99, 0.99)
    assert repeat.already_recorded and repeat.late


def test_late_runs_cannot_be_chosen_and_stay_off_the_private_board(graded: tuple[Store, Competition, int]) -> None:
    store, comp, late_id = graded
    with pytest.raises(UsageError, match="a late submission, made after the end"):
        store.select(late_id, by="prof", organiser=True, competition=comp, now=LATE + timedelta(days=1))
    with pytest.raises(UsageError, match="closed"):  # a participant cannot choose after the end anyway
        store.select(late_id, by="alice", competition=comp, now=LATE + timedelta(days=1))
    store.reveal(by="prof", now=LATE + timedelta(days=2), competition=comp)
    final = store.private_leaderboard(comp)
    # alice's late 0.99 private score does not count: her on-time best (0.6) does; carol is absent.
    assert [(s.username, s.best_score) for s in final] == [("alice", 0.6), ("bob", 0.5)]


def test_the_daily_limit_still_applies_to_late_runs(tmp_path: Path) -> None:
    comp = competition(tmp_path)
    with Store(tmp_path / "lb.db") as store:
        for n in range(2):
            assert not record(store, comp, "dave", f"d{n}", LATE + timedelta(minutes=n), 0.5, 0.5).reason
        third = record(store, comp, "dave", "d2", LATE + timedelta(minutes=5), 0.5, 0.5)
    assert third.status == "rejected" and third.reason and third.reason.startswith("daily limit reached")
    assert not third.late  # a rejected run is not a late one: nothing was scored


def test_by_default_a_run_after_the_end_is_refused_as_before(tmp_path: Path) -> None:
    comp = competition(tmp_path, late=None)
    assert comp.late == "refused"
    with Store(tmp_path / "lb.db") as store:
        record(store, comp, "alice", "a1", ON_TIME, 0.7, 0.6)
        after = record(store, comp, "alice", "a2", LATE, 0.95, 0.99)
        assert after.status == "rejected" and not after.late
        assert (
            after.reason == "the competition closed on 2027-03-01 00:00 Europe/Paris; no more submissions are accepted."
        )
        row = store.submission(after.submission_id)
        assert row is not None and row.score is None and row.error_type == "deadline"


def test_late_is_refused_or_scored_and_nothing_else(tmp_path: Path) -> None:
    from grader.errors import ConfigError

    with pytest.raises(ConfigError, match=r"late: 'yes' is not allowed; use one of: refused, scored"):
        competition(tmp_path, late="'yes'")


# -- what the participant and the public see -------------------------------------------------------


def test_the_comment_says_the_run_was_scored_late_and_not_ranked(graded: tuple[Store, Competition, int]) -> None:
    store, comp, _ = graded
    outcome = record(store, comp, "bob", "b2", LATE + timedelta(hours=2), 0.99, 0.99)
    found = answers.recorded(run("b2", 0.99, 0.99), outcome, comp, pr=4, head_sha="a" * 40, notebook="nb.ipynb",
                             run_url=None, user="bob", at=LATE + timedelta(hours=2))  # fmt: skip
    body = answers.comment(found)
    assert "### ✅ Scored late: 0.99000" in body
    assert "\n**Scored late, not ranked: the competition had closed when you submitted." in body
    assert "never ranked and never on the final leaderboard.**" in body
    assert "| Rank | not ranked: a late submission (the leaderboard keeps you at 1) |" in body
    assert "/final" not in body  # nothing to choose after the end
    assert "| Submissions left today | 1 (resets " in body  # the limit still applies after the end
    assert answers.status(found) == ("success", "Scored late 0.99000, not ranked")
    on_time = record(store, comp, "erin", "e1", ON_TIME, 0.5, 0.5)
    plain = answers.recorded(run("e1", 0.5, 0.5), on_time, comp, pr=5, head_sha="b" * 40, notebook="nb.ipynb",
                             run_url=None, user="erin", at=ON_TIME)  # fmt: skip
    assert "late" not in answers.comment(plain).lower()


def test_the_site_shows_late_runs_apart_and_in_the_history(graded: tuple[Store, Competition, int]) -> None:
    store, comp, late_id = graded
    store.close()
    data = site.load(comp, comp.root / "leaderboard" / "leaderboard.db", now=LATE + timedelta(days=1))
    assert [s.username for s in data.public.standings] == ["bob", "alice"]
    files = site.render(data).files
    board = files["leaderboard.md"]
    part = board[board.index("## Late submissions") :]
    assert part.index(">alice</a> — best late public score 0.95000 (1 late submission)") < part.index(
        ">carol</a> — best late public score 0.90000 (1 late submission)"
    )
    assert "never ranked and never on the final leaderboard" in part
    histories = {k: v for name, text in files.items() if name.endswith(".json") for k, v in json.loads(text).items()}
    rows = {row[0]: row for row in histories["alice"]["submissions"]}
    assert len(rows[1]) == 6 and rows[late_id][6] == "late"  # on time: counts; late: marked
    assert histories["alice"]["entries"] == 1 and histories["carol"]["entries"] == 0
    assert "scored, for practice, as late submissions" in files["rules.md"]
    assert "later submissions are still scored, for practice, and never ranked" in files["index.md"]


def test_without_late_runs_the_site_has_no_late_part(tmp_path: Path) -> None:
    comp = competition(tmp_path, late=None)
    with Store(tmp_path / "leaderboard" / "leaderboard.db") as store:
        record(store, comp, "alice", "a1", ON_TIME, 0.7, 0.6)
    files = site.render(site.load(comp, tmp_path / "leaderboard" / "leaderboard.db", now=LATE)).files
    assert "Late submissions" not in files["leaderboard.md"]
    assert "Submissions outside these dates are recorded as rejected." in files["rules.md"]
    assert "still scored" not in files["index.md"]


# -- the check before running ------------------------------------------------------------------


def event(updated_at: str | None, login: str = "alice") -> dict[str, object]:
    pull: dict[str, object] = {"number": 3, "head": {"sha": "c" * 40}, "user": {"login": login}}
    if updated_at is not None:
        pull["updated_at"] = updated_at
    return {"pull_request": pull}


@pytest.fixture
def full_day(tmp_path: Path) -> tuple[Competition, Path, Path]:
    """alice used her two submissions of 2027-02-10 (Paris); her next notebook, not yet recorded."""
    comp = competition(tmp_path, late=None)
    db = tmp_path / "leaderboard" / "leaderboard.db"
    with Store(db) as store:
        for n, hour in enumerate((9, 10)):
            record(store, comp, "alice", f"a{n}", datetime(2027, 2, 10, hour, tzinfo=PARIS), 0.5, 0.5)
    notebook = tmp_path / "submissions" / "alice" / "nb.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text('{"cells": []}')
    return comp, db, notebook


def test_the_check_skips_a_run_over_the_daily_limit_and_leaves_a_result_saying_so(
    full_day: tuple[Competition, Path, Path], tmp_path: Path
) -> None:
    comp, db, notebook = full_day
    before = db.read_bytes()
    out = tmp_path / "run"
    early = workflow.precheck(notebook, out, comp, event=event("2027-02-10T14:00:00Z"), db=db,
                              now=datetime(2027, 2, 10, 16, tzinfo=PARIS))  # fmt: skip
    assert early.reason is not None and early.reason.startswith("daily limit reached: 2 submissions per day")
    assert db.read_bytes() == before  # the base's leaderboard is only read
    skipped = results.read(out)
    assert skipped.status == "failed" and skipped.error is not None and skipped.error.type == rules.NOT_RUN
    assert skipped.notebook == "nb.ipynb"
    assert skipped.notebook_sha256 == hashlib.sha256(notebook.read_bytes()).hexdigest()
    assert "Not run:" in (out / results.EXECUTED_NAME).read_text()


def test_the_check_runs_what_is_not_sure_to_be_refused(
    full_day: tuple[Competition, Path, Path], tmp_path: Path
) -> None:
    comp, db, notebook = full_day
    out = tmp_path / "run"
    # Updated on the day before: GitHub may have created the run before midnight, when the day had room.
    across = workflow.precheck(notebook, out, comp, event=event("2027-02-09T22:50:00Z"), db=db,
                               now=datetime(2027, 2, 10, 16, tzinfo=PARIS))  # fmt: skip
    assert across == workflow.Early()
    assert not out.exists()  # nothing written: the notebook runs
    someone_else = workflow.precheck(notebook, out, comp, event=event("2027-02-10T14:00:00Z", login="bob"), db=db,
                                     now=datetime(2027, 2, 10, 16, tzinfo=PARIS))  # fmt: skip
    assert someone_else == workflow.Early()
    unknown = workflow.precheck(
        notebook, out, comp, event=event(None), db=db, now=datetime(2027, 2, 10, 16, tzinfo=PARIS)
    )
    assert unknown.reason is None and unknown.problem and "last updated" in unknown.problem


def test_the_check_never_stops_a_run_when_it_cannot_read_the_leaderboard(
    full_day: tuple[Competition, Path, Path], tmp_path: Path
) -> None:
    comp, db, notebook = full_day
    db.write_bytes(b"not a database" * 100)
    early = workflow.precheck(notebook, tmp_path / "run", comp, event=event("2027-02-10T14:00:00Z"), db=db,
                              now=datetime(2027, 2, 10, 16, tzinfo=PARIS))  # fmt: skip
    assert early.reason is None and early.problem and early.problem.startswith("cannot read the leaderboard")
    assert not (tmp_path / "run").exists()


def test_the_check_skips_after_the_end_only_without_late_scoring(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text('{"cells": []}')
    after = event("2027-03-02T10:00:00Z")
    now = datetime(2027, 3, 2, 12, tzinfo=PARIS)
    closed = workflow.precheck(notebook, tmp_path / "a", competition(tmp_path, late=None), event=after,
                               db=tmp_path / "none.db", now=now)  # fmt: skip
    assert closed.reason == "the competition closed on 2027-03-01 00:00 Europe/Paris; no more submissions are accepted."
    kept = workflow.precheck(notebook, tmp_path / "b", competition(tmp_path), event=after, db=tmp_path / "none.db",
                             now=now)  # fmt: skip
    assert kept == workflow.Early() and not (tmp_path / "none.db").exists()


def test_the_scoring_side_judges_a_skipped_run_again(full_day: tuple[Competition, Path, Path], tmp_path: Path) -> None:
    """The skip decides nothing: the record applies the rules at the moment of submission."""
    comp, db, notebook = full_day
    out = tmp_path / "run"
    workflow.precheck(notebook, out, comp, event=event("2027-02-10T14:00:00Z"), db=db,
                      now=datetime(2027, 2, 10, 16, tzinfo=PARIS))  # fmt: skip
    skipped = results.read(out)
    with Store(db) as store:
        refused = store.record(replace(skipped, run_id="x1"), user="alice", competition=comp,
                               now=datetime(2027, 2, 10, 15, tzinfo=PARIS), notebook_path="nb.ipynb")  # fmt: skip
        assert refused.status == "rejected" and refused.reason and refused.reason.startswith("daily limit reached")
        # Judged on another day (the leaderboard was reset meanwhile, say): the rules accept it, but it never ran.
        accepted = store.record(replace(skipped, run_id="x2"), user="alice", competition=comp,
                                now=datetime(2027, 2, 11, 9, tzinfo=PARIS), notebook_path="nb.ipynb")  # fmt: skip
        assert accepted.status == "rejected" and accepted.reason and "this notebook was not run" in accepted.reason
        assert accepted.remaining_today == 2  # it counts for nothing
        assert store.submission(accepted.submission_id).score is None  # type: ignore[union-attr]


def test_the_cli_step_outputs_skip_and_exits_0(full_day: tuple[Competition, Path, Path], tmp_path: Path) -> None:
    _, _, notebook = full_day
    (tmp_path / "competition.yaml").write_text(YAML.format(late=""))
    (tmp_path / "event.json").write_text(json.dumps(event("2027-02-10T14:00:00Z")))
    output = tmp_path / "github-output"
    env = {**os.environ, "GRADER_NOW": "2027-02-10T16:00:00+01:00", "GITHUB_OUTPUT": str(output)}
    proc = run_grader("pr", "precheck", str(notebook), "--out", str(tmp_path / "run"), "--event",
                      str(tmp_path / "event.json"), cwd=tmp_path, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Not run: daily limit reached: 2 submissions per day")
    assert "skip<<" in output.read_text() and "\ntrue\n" in output.read_text()
    output.unlink()
    env["GRADER_NOW"] = "2027-02-10T16:00:00Z"
    other = json.dumps(event("2027-02-10T14:00:00Z", login="bob"))
    (tmp_path / "event.json").write_text(other)
    proc = run_grader("pr", "precheck", str(notebook), "--out", str(tmp_path / "run2"), "--event",
                      str(tmp_path / "event.json"), cwd=tmp_path, env=env)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout == "Run it: no rule refuses it for sure.\n", proc.stderr
    assert "\nfalse\n" in output.read_text() and not (tmp_path / "run2").exists()


def test_a_real_cell_error_named_notrun_is_not_a_skip() -> None:
    comp = config.parse(YAML.format(late=""), root=Path("/nonexistent"))
    failed = run("r", 0.0, 0.0, status="failed")
    named = replace(failed, error=RunError(rules.NOT_RUN, "raised by the notebook", 2))
    assert rules.admit(named, user="alice", mine=[], competition=comp, now=ON_TIME) is None


def test_moving_the_end_regroups_the_late_runs(graded: tuple[Store, Competition, int]) -> None:
    store, comp, _ = graded
    later = replace(comp, end=LATE + timedelta(days=10))  # the teacher gives more time: nothing is late now
    assert [(s.username, s.best_score) for s in store.leaderboard(later)] == [
        ("alice", 0.95),
        ("carol", 0.9),
        ("bob", 0.8),
    ]
    assert [(s.username, s.best_score) for s in store.leaderboard(comp)] == [("bob", 0.8), ("alice", 0.7)]


def test_a_late_run_recorded_before_an_on_time_one_is_not_counted(tmp_path: Path) -> None:
    """Scoring takes its time: a run GitHub created before the end may be recorded after a late one."""
    comp = competition(tmp_path)
    with Store(tmp_path / "lb.db") as store:
        record(store, comp, "carol", "c-late", LATE, 0.9, 0.9)
        on_time = record(store, comp, "carol", "c-on-time", ON_TIME, 0.6, 0.6)
        assert on_time.rank == 1 and not on_time.late
        (entry,) = store.leaderboard(comp)
    assert (entry.username, entry.best_score, entry.submission_count) == ("carol", 0.6, 1)
    assert entry.last_submission_at == rules.timestamp(ON_TIME)


def test_a_choice_made_before_the_end_moved_earlier_does_not_count(graded: tuple[Store, Competition, int]) -> None:
    store, comp, late_id = graded
    later = replace(comp, end=LATE + timedelta(days=10))  # the end was later when alice chose
    store.select(late_id, by="alice", competition=later, now=LATE + timedelta(hours=1))
    store.reveal(by="prof", now=LATE + timedelta(days=11), competition=comp)
    assert [(s.username, s.best_score) for s in store.private_leaderboard(comp)] == [("alice", 0.6), ("bob", 0.5)]


def test_grade_runs_and_scores_a_late_notebook_with_a_real_kernel(tmp_path: Path) -> None:
    """The whole path on the command line: `grader grade` after the end of the demo competition, made to keep
    scoring, runs the notebook, scores it and records it late; the board does not show it, the history does."""
    from conftest import ROOT

    from grader import demo

    root = tmp_path / "comp"
    demo.scratch_copy(config.load(ROOT / "competition.yaml"), root)
    (root / "competition.yaml").write_text((root / "competition.yaml").read_text() + "\nlate: scored\n")
    notebook = ROOT / "examples" / "submissions" / "bob" / "1-logistic.ipynb"
    env = {"GRADER_NOW": "2027-03-05T12:00:00Z"}
    graded = run_grader("grade", str(notebook), "--user", "bob", "--no-progress", cwd=root, env=env)
    assert graded.returncode == 0, graded.stderr
    assert "Recorded as submission #1 (completed). Scored late (after the end): not ranked." in graded.stdout
    board = run_grader("leaderboard", cwd=root, env=env)
    assert board.returncode == 0 and "bob" not in board.stdout, board.stdout
    history = run_grader("history", "bob", cwd=root, env=env)
    assert "2027-03-05" in history.stdout and "completed" in history.stdout, history.stdout
