"""Final choices: participants choose which submissions count for the private leaderboard.

Real SQLite files, a real git repository pushing to a bare remote, a local stand-in for
GitHub's REST API, the real CLI.
"""

from __future__ import annotations

import copy
import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import PAYLOADS
from fake_github import FakeGitHub
from test_admin import BY, cli, git
from test_reveal import KEY
from test_store import NOW, result, yaml_text

from grader import admin, config, finals
from grader.config import Competition
from grader.errors import UsageError
from grader.github import GitHub, marker
from grader.gitsync import Git
from grader.sealing import KEY_ENV
from grader.store import Store

REPO = "octo-org/grading"
LATER = NOW + timedelta(hours=1)


def make_comp(folder: Path, *, cap: int | None = None, teams: str = "") -> Competition:
    text = yaml_text()
    if cap is not None:
        text = text.replace("ties: earliest", f"ties: earliest\n  final_submissions: {cap}")
    (folder / "competition.yaml").write_text(text + teams)
    return config.load(folder / "competition.yaml")


@pytest.fixture
def comp(tmp_path: Path) -> Competition:
    return make_comp(tmp_path, teams="teams:\n  owls: [carol, dave]\n")


def rec(s: Store, run: str, user: str, score: float, private: float, minutes: int, comp: Competition, pr: int) -> int:
    got = s.record(result(run, score=score, private=private), user=user, competition=comp,
                   now=NOW + timedelta(minutes=minutes), notebook_path=f"submissions/{user}/{run}.ipynb",
                   pr_number=pr, head_sha="a" * 40)  # fmt: skip
    return got.submission_id


@pytest.fixture
def db(tmp_path: Path, comp: Competition) -> Path:
    """alice: #1 (public 0.9, private 0.70, PR 1), #2 (0.8, 0.95, PR 2), #3 (0.85, 0.90, PR 3);
    bob: #4 (0.88, 0.80, PR 4); the owls (carol, dave): #5 by carol (0.7, 0.6, PR 5), #6 by dave (0.6, 0.99, PR 6)."""
    path = tmp_path / "leaderboard" / "leaderboard.db"
    with Store(path, private_key=KEY) as s:
        rec(s, "a1", "alice", 0.9, 0.70, 0, comp, 1)
        rec(s, "a2", "alice", 0.8, 0.95, 1, comp, 2)
        rec(s, "a3", "alice", 0.85, 0.90, 2, comp, 3)
        rec(s, "b1", "bob", 0.88, 0.80, 3, comp, 4)
        rec(s, "c1", "carol", 0.7, 0.6, 4, comp, 5)
        rec(s, "d1", "dave", 0.6, 0.99, 5, comp, 6)
        s.export_csv(comp)
    return path


def final_board(db: Path, comp: Competition, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str, float, int]]:
    monkeypatch.setenv(KEY_ENV, KEY)
    admin.reveal(comp, db, by=BY, now=comp.end)
    with Store(db) as s:
        return [(x.rank, x.username, x.best_score, x.best_submission_id) for x in s.private_leaderboard(comp)]


def choose(db: Path, comp: Competition, sid: int, by: str, **kw: Any) -> finals.Chosen:
    return finals.choose(comp, db, by=by, now=LATER, submission_id=sid, **kw)


def test_without_choices_the_best_public_submission_counts(
    db: Path, comp: Competition, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert final_board(db, comp, monkeypatch) == [(1, "bob", 0.8, 4), (2, "alice", 0.7, 1), (3, "owls", 0.6, 5)]


def test_the_best_private_score_among_the_chosen_counts(
    db: Path, comp: Competition, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = choose(db, comp, 2, "alice")
    assert first.selection.chosen == (2,) and first.selection.changed
    assert first.summary == (
        "Submission #2 is now one of alice's final choices. Chosen: #2 (1 of 2); the best private score "
        "among them counts when the private leaderboard is revealed."
    )
    assert choose(db, comp, 3, "alice").selection.chosen == (2, 3)
    assert not choose(db, comp, 3, "alice").selection.changed  # asking again changes nothing
    choose(db, comp, 6, "carol")  # a member chooses a teammate's submission
    with Store(db) as s:
        assert s.selections() == {"alice": [2, 3], "owls": [6]}
        assert [(a.actor, a.action, a.target) for a in s.admin_log()] == [
            ("alice", "select", "#2"), ("alice", "select", "#3"), ("carol", "select", "#6"),
        ]  # fmt: skip
    # The public board does not change; the private one uses the chosen submissions.
    assert final_board(db, comp, monkeypatch) == [(1, "owls", 0.99, 6), (2, "alice", 0.95, 2), (3, "bob", 0.8, 4)]


def test_the_cap_is_enforced_and_a_choice_can_be_taken_back(db: Path, comp: Competition) -> None:
    choose(db, comp, 1, "alice")
    choose(db, comp, 2, "alice")
    with pytest.raises(UsageError, match=r"alice has already chosen 2 submissions \(#1, #2\) and may choose 2"):
        choose(db, comp, 3, "alice")
    back = choose(db, comp, 1, "alice", final=False)
    assert back.selection.chosen == (2,) and back.summary.startswith("Submission #1 is no longer one of alice's")
    assert choose(db, comp, 3, "alice").selection.chosen == (2, 3)
    with Store(db) as s:
        assert [a.action for a in s.admin_log()] == ["select", "select", "unselect", "select"]


@pytest.mark.parametrize(
    ("sid", "by", "kw", "message"),
    [
        (4, "alice", {}, "submission #4 is bob's; you can choose only your own or your team's submissions."),
        (6, "bob", {}, "submission #6 is owls's"),
        (99, "alice", {}, "there is no submission #99"),
    ],
)
def test_someone_elses_or_a_missing_submission_is_refused(
    db: Path, comp: Competition, sid: int, by: str, kw: dict[str, Any], message: str
) -> None:
    before = db.read_bytes()
    with pytest.raises(UsageError) as raised:
        choose(db, comp, sid, by, **kw)
    assert message in str(raised.value)
    with Store(db) as s:
        assert s.selections() == {} and s.admin_log() == []
    assert len(db.read_bytes()) == len(before)


def test_choices_close_at_the_end_and_at_the_reveal(
    db: Path, comp: Competition, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UsageError, match=r"the competition closed on .*final choices could be made until then"):
        finals.choose(comp, db, by="alice", now=comp.end, submission_id=2)
    done = finals.choose(comp, db, by=BY, now=comp.end, submission_id=2, organiser=True, reason="asked by e-mail")
    assert done.selection.chosen == (2,)
    with Store(db) as s:
        assert (s.admin_log()[-1].actor, s.admin_log()[-1].reason) == (BY, "asked by e-mail")
    monkeypatch.setenv(KEY_ENV, KEY)
    admin.reveal(comp, db, by=BY, now=comp.end)
    with pytest.raises(UsageError, match=r"revealed on .*the final choices are closed"):
        finals.choose(comp, db, by=BY, now=comp.end, submission_id=3, organiser=True)


def test_unscored_removed_and_switched_off_choices_are_refused(tmp_path: Path, db: Path, comp: Competition) -> None:
    with Store(db) as s:
        s.record(result("f1", status="failed"), user="alice", competition=comp, now=LATER,
                 notebook_path="submissions/alice/f.ipynb", pr_number=9)  # fmt: skip
        s.remove_submission(1, kind="removed", reason="withdrawn", by=BY, now=LATER, competition=comp)
    with pytest.raises(UsageError, match=r"submission #7 cannot count \(failed\)"):
        choose(db, comp, 7, "alice")
    with pytest.raises(UsageError, match=r"submission #1 cannot count \(removed\)"):
        choose(db, comp, 1, "alice")
    off = make_comp(tmp_path, cap=0)
    with pytest.raises(UsageError, match="does not let participants choose"):
        choose(db, off, 2, "alice")


# -- /final on a pull request --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/final", True),
        ("  /FINAL  \nthanks!", True),
        ("/final off", False),
        ("/final undo", False),
        ("/final #12", True),
        ("/final 12", True),
        ("/FINAL OFF #3  ", False),
        ("/final #", None),
        ("/final #12 #13", None),
        ("/final #-1", None),
        ("/final # 12", None),
        ("/finalize", None),
        ("please /final", None),
        ("/final of", None),
        ("", None),
    ],
)
def test_command_is_the_first_line(body: str, expected: bool | None) -> None:
    assert finals.command(body) is expected


def comment_event(number: Any, login: Any, body: Any, *, kind: str = "User", pull: bool = True) -> dict[str, Any]:
    """An issue_comment payload as GitHub documents it, around the repository of tests/payloads/'s pull request."""
    base = json.loads((PAYLOADS / "pull_request.opened.payload.json").read_text(encoding="utf-8"))
    issue: dict[str, Any] = {"number": number, "title": "My notebook", "state": "open", "user": {"login": login}}
    if pull:
        issue["pull_request"] = {"url": f"https://api.github.com/repos/{REPO}/pulls/{number}", "merged_at": None}
    return {
        "action": "created",
        "issue": issue,
        "comment": {"id": 1, "body": body, "user": {"login": login, "type": kind}, "author_association": "NONE"},
        "repository": copy.deepcopy(base["repository"]),
        "sender": {"login": login, "type": kind},
    }


def test_a_submission_id_is_read_from_the_command() -> None:
    assert finals.parse("/final #12") == (True, 12)
    assert finals.parse("/final off #3\nplease") == (False, 3)
    assert finals.parse("/final") == (True, None)
    assert finals.parse("/final #1234567890") is None  # no id is that long: not a command
    assert finals.read_comment(comment_event(2, "alice", "/final #5")) == finals.Comment(2, "alice", True, 5)


def test_hostile_or_unrelated_comment_events_are_ignored_or_refused() -> None:
    assert finals.read_comment(comment_event(2, "alice", "/final")) == finals.Comment(2, "alice", True)
    assert finals.read_comment(comment_event(2, "alice", "nice work")) is None
    assert finals.read_comment(comment_event(2, "alice", "/final", pull=False)) is None
    assert finals.read_comment(comment_event(2, "github-actions[bot]", "/final", kind="Bot")) is None
    assert finals.read_comment({**comment_event(2, "alice", "/final"), "action": "edited"}) is None
    assert finals.read_comment({"comment": "x", "issue": []}) is None
    assert finals.read_comment(comment_event(2, "alice", ["/final"])) is None
    for number, login in ((True, "alice"), ("2", "alice"), (0, "alice"), (2, None), (2, "a/../b"), (2, "x" * 40)):
        with pytest.raises(UsageError):
            finals.read_comment(comment_event(number, login, "/final"))


@pytest.fixture
def remote(tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The competition repository with its leaderboard, cloned from a bare remote (as in a workflow)."""
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "competition.yaml", "leaderboard")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed")
    bare = tmp_path.parent / f"{tmp_path.name}-remote.git"
    git(tmp_path.parent, "clone", "-q", "--bare", str(tmp_path), str(bare))
    git(tmp_path, "remote", "add", "origin", str(bare))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    return bare


def test_final_comments_choose_push_and_answer_once(db: Path, comp: Competition, remote: Path) -> None:
    with FakeGitHub(REPO) as fake:
        for number in (2, 3, 4):
            fake.add_pull(number, author="alice", head_sha="a" * 40, files=[])
        api = GitHub(REPO, "t", base_url=fake.url, backoff=0.01, sleep=lambda s: time.sleep(min(s, 0.05)), pace=False)

        def say(number: int, login: str, body: str) -> str | None:
            return finals.from_comment(
                comp, db, comment_event(number, login, body), api=api, now=LATER, push=Git(comp.root)
            )

        text = say(2, "alice", "/final")
        assert text is not None and text.startswith("**Final choice** (@alice): Submission #2 is now one of")
        last = git(remote, "log", "-1", "--format=%s", "main")
        assert last == "admin: select the submission of pull request #2 — by alice\n"
        with Store(db) as s:
            assert s.selections() == {"alice": [2]}
        assert say(2, "alice", "thanks") is None  # not a command: no answer, nothing pushed
        refused = say(4, "alice", "/final")  # bob's pull request
        assert refused is not None and "submission #4 is bob's" in refused and "not changed" in refused
        say(3, "alice", "/final")
        say(2, "alice", "/final off")
        bodies = {n: [c["body"] for c in fake.comments.get(n, [])] for n in (2, 3, 4)}
        assert [len(b) for b in bodies.values()] == [1, 1, 1]  # one answer per pull request, edited in place
        assert all(b[0].startswith(marker("final")) for b in bodies.values())
        assert "Submission #2 is no longer one of alice's final choices. Chosen: #3 (1 of 2)" in bodies[2][0]
        assert [s for s in git(remote, "log", "--format=%s", "main").splitlines()][:3] == [
            "admin: unselect the submission of pull request #2 — by alice",
            "admin: select the submission of pull request #3 — by alice",
            "admin: select the submission of pull request #2 — by alice",
        ]
        with Store(db) as s:
            assert s.selections() == {"alice": [3]}


def test_a_final_comment_before_the_grade_says_to_wait(db: Path, comp: Competition, remote: Path) -> None:
    with FakeGitHub(REPO) as fake:
        fake.add_pull(12, author="alice", head_sha="b" * 40, files=[])
        api = GitHub(REPO, "t", base_url=fake.url, backoff=0.01, sleep=lambda s: None, pace=False)
        text = finals.from_comment(
            comp, db, comment_event(12, "alice", "/final"), api=api, now=LATER, push=Git(comp.root)
        )
    assert text is not None and "pull request #12 has no recorded submission yet" in text
    assert git(remote, "log", "--format=%s", "main").splitlines() == ["seed"]


def test_cli_select_pushes_and_history_marks_the_choice(
    db: Path, comp: Competition, remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "select", "#5", "--by", "dave", "--push")
    assert code == 0, err
    assert out.startswith("Submission #5 is now one of owls's final choices.") and "Pushed " in out
    assert git(remote, "log", "-1", "--format=%s", "main") == "admin: select #5 — by dave\n"
    code, out, err = cli(capsys, "select", "4", "--by", "dave")
    assert (code, out) == (2, "") and err.startswith("error: submission #4 is bob's;")
    code, out, err = cli(capsys, "select", "five", "--by", "dave")
    assert code == 2 and "'five' is not a submission id" in err
    code, out, _ = cli(capsys, "history", "carol")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:]}
    assert out.splitlines()[0] == "Team owls: carol, dave"
    assert (rows["5"][4], rows["5"][-1], rows["6"][4], rows["6"][-1]) == ("carol", "yes", "dave", "0.60000")


GOLDEN = Path(__file__).parent / "golden" / "answers"


def golden(name: str, text: str) -> None:
    """Compare a /final answer with tests/golden/answers/NAME.md (GRADER_UPDATE_GOLDEN=1 rewrites it)."""
    path = GOLDEN / f"{name}.md"
    if os.environ.get("GRADER_UPDATE_GOLDEN"):
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")


def test_final_with_an_id_chooses_any_of_ones_scored_submissions(db: Path, comp: Competition, remote: Path) -> None:
    """/final #ID from any pull request of theirs: an earlier run, another pull request; refusals list the choices."""
    with Store(db) as s:  # alice's failed run, #7, on pull request 3
        s.record(result("f1", status="failed"), user="alice", competition=comp, now=LATER,
                 notebook_path="submissions/alice/f.ipynb", pr_number=3)  # fmt: skip
    git(comp.root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "a failed run")
    git(comp.root, "push", "-q", "origin", "main")
    with FakeGitHub(REPO) as fake:
        for number in (3, 4):
            fake.add_pull(number, author="alice", head_sha="a" * 40, files=[])
        api = GitHub(REPO, "t", base_url=fake.url, backoff=0.01, sleep=lambda s: None, pace=False)

        def say(number: int, login: str, body: str) -> str:
            text = finals.from_comment(
                comp, db, comment_event(number, login, body), api=api, now=LATER, push=Git(comp.root)
            )
            assert text is not None
            return text

        chosen = say(3, "alice", "/final #1")  # on pull request 3: #1 came from pull request 1
        golden("final-id", chosen)
        assert git(remote, "log", "-1", "--format=%s", "main") == "admin: select #1 — by alice\n"
        say(3, "alice", "/final #2")
        refusals = {
            "#4": "submission #4 is bob's",
            "#7": "submission #7 cannot count (failed)",
            "#99": "there is no submission #99; the grader's answer on each of your pull requests shows",
            "#3": "alice has already chosen 2 submissions (#1, #2) and may choose 2",
        }
        for sid, why in refusals.items():
            text = say(3, "alice", f"/final {sid}")
            assert "not changed. " + why in text, text
            assert "Your final choices (2 of 2):\n- #1: public score 0.90000, pull request #1\n- #2:" in text
        golden("final-refused", text)
        back = say(4, "alice", "/final off #1")
        assert "Submission #1 is no longer one of alice's final choices" in back
        assert "Your final choices (1 of 2):\n- #2: public score 0.80000, pull request #2" in back
        refused = say(4, "bob", "/final #2")
        assert "submission #2 is alice's" in refused and "Your final choices: none yet" in refused
    with Store(db) as s:
        assert s.selections() == {"alice": [2]}
        assert [(a.action, a.target) for a in s.admin_log()] == [("select", "#1"), ("select", "#2"), ("unselect", "#1")]
