"""Teams: several logins rank as one entry, with the quota and duplicate check per team.

Real SQLite files, real CSV exports, the real CLI.
"""

from __future__ import annotations

import csv
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from test_admin import BY, cli
from test_store import NOW, rec, result, yaml_text

from grader import admin, config, store
from grader.config import Competition
from grader.errors import ConfigError
from grader.export import grades
from grader.store import Store

TEAMS = "teams:\n  owls: [alice, Bob]\n  foxes: [carol]\n"


def team_comp(folder: Path, teams: str = TEAMS, per_day: int = 5) -> Competition:
    (folder / "competition.yaml").write_text(yaml_text(per_day=per_day) + teams)
    return config.load(folder / "competition.yaml")


@pytest.fixture
def comp(tmp_path: Path) -> Competition:
    return team_comp(tmp_path)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "leaderboard" / "leaderboard.db"


def board(s: Store, comp: Competition) -> list[tuple[int, str, float, int, int]]:
    return [(x.rank, x.username, x.best_score, x.best_submission_id, x.submission_count) for x in s.leaderboard(comp)]


# -- competition.yaml ---------------------------------------------------------------------


def test_teams_are_read_and_map_logins_case_insensitively(comp: Competition) -> None:
    assert comp.teams == {"owls": ("alice", "Bob"), "foxes": ("carol",)}
    assert [comp.entrant(x) for x in ("alice", "bob", "BOB", "carol", "dave")] == [
        "owls", "owls", "owls", "foxes", "dave",
    ]  # fmt: skip
    assert comp.members("owls") == ("alice", "Bob") and comp.members("dave") == ("dave",)
    assert config.load(Path(__file__).parents[1] / "competition.yaml").teams == {}


@pytest.mark.parametrize(
    ("teams", "message"),
    [
        ("teams:\n  owls: [alice]\n  foxes: [ALICE]\n", "ALICE is in both owls and foxes"),
        ("teams:\n  alice: [alice, bob]\n", "the team name alice is also the login of a member of alice"),
        ("teams:\n  owls: [bob]\n  Bob: [carol]\n", "the team name Bob is also the login of a member of owls"),
        ("teams:\n  the owls: [alice]\n", "teams"),
        ("teams:\n  owls: []\n", "teams.owls"),
        ("teams:\n  owls: [alice, alice]\n", "teams.owls"),
        ("teams:\n  owls: [not a login]\n", "teams.owls"),
        ("teams: [alice, bob]\n", "teams"),
    ],
)
def test_bad_teams_are_refused_with_the_key(tmp_path: Path, teams: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        team_comp(tmp_path, teams)
    assert message in str(raised.value)


def test_final_submissions_must_be_a_small_count(tmp_path: Path) -> None:
    text = yaml_text().replace("ties: earliest", "ties: earliest\n  final_submissions: -1")
    (tmp_path / "competition.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"ranking\.final_submissions"):
        config.load(tmp_path / "competition.yaml")
    (tmp_path / "competition.yaml").write_text(text.replace("final_submissions: -1", "final_submissions: 0"))
    assert config.load(tmp_path / "competition.yaml").ranking.final_submissions == 0


# -- ranking, quota and duplicates per team -----------------------------------------------


def test_a_team_ranks_as_one_entry_with_each_members_submissions(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        first = rec(s, result("a1", score=0.7), comp, "alice", NOW)
        assert (first.rank, first.best_score) == (1, 0.7)
        rec(s, result("d1", score=0.8), comp, "dave", NOW + timedelta(minutes=1))
        moved = rec(s, result("b1", score=0.9), comp, "Bob", NOW + timedelta(minutes=2))
        assert (moved.previous_rank, moved.rank, moved.best_score) == (2, 1, 0.9)
        rec(s, result("c1", score=0.6), comp, "carol", NOW + timedelta(minutes=3))
        assert board(s, comp) == [(1, "owls", 0.9, 3, 2), (2, "dave", 0.8, 2, 1), (3, "foxes", 0.6, 4, 1)]
        assert [(r.id, r.username, r.login) for r in s.history("owls")] == [(1, "owls", "alice"), (3, "owls", "Bob")]
        s.export_csv(comp)
    rows = list(csv.DictReader((db.parent / store.SUBMISSIONS_CSV).open()))
    assert [(r["username"], r["author"]) for r in rows] == [
        ("owls", "alice"), ("dave", "dave"), ("owls", "Bob"), ("foxes", "carol"),
    ]  # fmt: skip
    assert [r["username"] for r in csv.DictReader((db.parent / store.LEADERBOARD_CSV).open())] == [
        "owls", "dave", "foxes",
    ]  # fmt: skip


def test_the_daily_quota_and_the_duplicate_check_count_per_team(tmp_path: Path, db: Path) -> None:
    comp = team_comp(tmp_path, per_day=2)
    with Store(db) as s:
        rec(s, result("a1", score=0.7), comp, "alice", NOW)
        dup = rec(s, result("b1", score=0.7, sha=result("a1").notebook_sha256), comp, "bob", NOW)
        assert dup.status == "rejected" and "already submitted as #1" in (dup.reason or "")
        assert rec(s, result("b2", score=0.8), comp, "bob", NOW).remaining_today == 0
        over = rec(s, result("a3", score=0.95), comp, "alice", NOW)
        assert over.status == "rejected" and "daily limit reached: 2 submissions" in (over.reason or "")
        assert rec(s, result("d1", score=0.5), comp, "dave", NOW).status == "completed"  # others are untouched
        assert s.precheck(user="bob", notebook_sha256="f" * 64, competition=comp, now=NOW) is not None
        assert s.precheck(user="carol", notebook_sha256="f" * 64, competition=comp, now=NOW) is None


def test_a_login_named_like_a_team_cannot_compete_alone(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        got = rec(s, result("x1", score=0.99), comp, "owls", NOW)
        assert got.status == "rejected" and "also the name of a team" in (got.reason or "")
        assert board(s, comp) == []


def test_changing_the_teams_regroups_every_submission(tmp_path: Path, db: Path) -> None:
    solo = team_comp(tmp_path, teams="")
    with Store(db) as s:
        rec(s, result("a1", score=0.7), solo, "alice", NOW)
        rec(s, result("b1", score=0.9), solo, "bob", NOW + timedelta(minutes=1))
        rec(s, result("c1", score=0.8), solo, "carol", NOW + timedelta(minutes=2))
        assert [x[1] for x in board(s, solo)] == ["bob", "carol", "alice"]
        s.export_csv(solo)
    comp = team_comp(tmp_path)  # the organisers add the teams to competition.yaml
    with Store(db) as s:
        s.record_and_export(result("d1", score=0.5), user="dave", competition=comp, now=NOW,
                            notebook_path="submissions/dave/x.ipynb")  # fmt: skip
        assert board(s, comp) == [(1, "owls", 0.9, 2, 2), (2, "foxes", 0.8, 3, 1), (3, "dave", 0.5, 4, 1)]
        assert s.sync_teams(comp) is False  # once is enough
        assert [r.run_id for r in s.history("owls")] == ["a1", "b1"] and s.history("alice") == []
        again = rec(s, result("b2", sha=s.history("owls")[0].notebook_sha256), comp, "bob", NOW + timedelta(hours=1))
        assert again.reason is not None and "already submitted as #1" in again.reason  # alice's, now the team's
    rows = list(csv.DictReader((db.parent / store.SUBMISSIONS_CSV).open()))
    assert [(r["username"], r["author"]) for r in rows] == [  # rows exported before the change are rewritten
        ("owls", "alice"), ("owls", "bob"), ("foxes", "carol"), ("dave", "dave"),
    ]  # fmt: skip
    with Store(db) as s:
        assert board(s, team_comp(tmp_path, teams="")) == [
            (1, "bob", 0.9, 2, 1), (2, "carol", 0.8, 3, 1), (3, "alice", 0.7, 1, 1), (4, "dave", 0.5, 4, 1),
        ]  # fmt: skip


def test_a_database_from_before_teams_is_migrated(tmp_path: Path, db: Path, comp: Competition) -> None:
    with Store(db) as s:
        rec(s, result("a1", score=0.7), comp, "dave", NOW)
    with sqlite3.connect(db) as conn:  # back to schema 4: no author column, no selections table, no chains
        conn.execute("DROP TABLE selections")
        conn.execute("DROP TABLE chains")
        conn.execute("ALTER TABLE submissions DROP COLUMN author")
        conn.execute("ALTER TABLE submissions DROP COLUMN previous_id")
        for column in ("secondary", "secondary_private", "secondary_sealed"):  # nor secondary metrics (schema 9)
            conn.execute(f"ALTER TABLE submissions DROP COLUMN {column}")
        conn.execute("PRAGMA user_version = 4")
    conn.close()
    with Store(db) as s:
        assert [r.author for r in s.history("dave")] == ["dave"]
        rec(s, result("a2", score=0.8), comp, "alice", NOW)
        assert board(s, comp)[0][:2] == (1, "owls")
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_removing_a_member_removes_the_team(db: Path, comp: Competition) -> None:
    with Store(db) as s:
        rec(s, result("a1", score=0.9), comp, "alice", NOW)
        rec(s, result("d1", score=0.5), comp, "dave", NOW)
    done = admin.take_off(comp, db, admin.parse_target("bob"), verb="disqualify", reason="shared code", by=BY,
                          now=NOW + timedelta(hours=1))  # fmt: skip
    assert done.action.target == "owls" and done.summary.startswith("Owls disqualified")
    with Store(db) as s:
        assert [x[1] for x in board(s, comp)] == ["dave"]


def test_grades_give_each_member_the_teams_score_and_their_own_count(
    tmp_path: Path, db: Path, comp: Competition
) -> None:
    with Store(db) as s:
        rec(s, result("a1", score=0.9), comp, "alice", NOW)
        rec(s, result("a2", score=0.8), comp, "alice", NOW + timedelta(minutes=1))
        rec(s, result("d1", score=0.95), comp, "dave", NOW)
    roster = tmp_path.parent / f"{tmp_path.name}-roster.csv"
    roster.write_text("login,id\nalice,s1\nbob,s2\ndave,s3\n")
    out = tmp_path.parent / f"{tmp_path.name}-grades.csv"
    grades(comp, db, roster, out)
    rows = [(r["login"], r["best_public"], r["rank"], r["submissions"]) for r in csv.DictReader(out.open())]
    assert rows == [("alice", "0.9", "2", "2"), ("bob", "0.9", "2", "0"), ("dave", "0.95", "1", "1")]


def test_history_shows_the_team_and_who_submitted(
    tmp_path: Path, db: Path, comp: Competition, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(db) as s:
        rec(s, result("a1", score=0.9), comp, "alice", NOW)
        rec(s, result("b1", score=0.8), comp, "Bob", NOW + timedelta(minutes=1))
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "history", "bob")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Team owls: alice, Bob"
    assert lines[1].split() == ["#", "submitted", "by", "notebook", "status", "score", "final", "note"]
    assert [line.split()[4] for line in lines[3:]] == ["alice", "Bob"]
