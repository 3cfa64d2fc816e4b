"""Private scores sealed at rest, the reveal, the grade export and the board as it was.

Real SQLite files (their raw bytes are searched for the private scores), real git.
"""

from __future__ import annotations

import struct
from datetime import timedelta
from pathlib import Path

import pytest
from test_admin import BY, LATER, cli, git
from test_store import NOW, competition, rec, result, yaml_text

from grader import admin, rules, sealing, store
from grader.config import Competition
from grader.errors import UsageError
from grader.export import grades
from grader.sealing import KEY_ENV, SealError
from grader.store import Store

KEY = sealing.new_key()
SECRET = 0.123456789012345  # a private score whose bytes would be easy to find


@pytest.fixture
def comp(tmp_path: Path) -> Competition:
    (tmp_path / "competition.yaml").write_text(yaml_text())
    return competition(tmp_path)


@pytest.fixture
def sealed_db(tmp_path: Path, comp: Competition) -> Path:
    path = tmp_path / "leaderboard" / "leaderboard.db"
    with Store(path, private_key=KEY) as s:
        rec(s, result("a1", score=0.9, private=SECRET), comp, "alice", NOW)
        rec(s, result("b1", score=0.8, private=0.95), comp, "bob", NOW + timedelta(minutes=1))
        rec(s, result("b2", score=0.7, private=0.99), comp, "bob", NOW + timedelta(minutes=2))
        s.export_csv(comp)
    return path


def raw_contains(path: Path, score: float) -> bool:
    data = path.read_bytes()
    return struct.pack(">d", score) in data or repr(score).encode() in data


def test_private_scores_are_only_ciphertext_before_the_reveal(sealed_db: Path, comp: Competition) -> None:
    import sqlite3

    with sqlite3.connect(sealed_db) as conn:
        rows = conn.execute("SELECT private_score, private_sealed FROM submissions").fetchall()
    assert all(plain is None and token.startswith("gAAAA") for plain, token in rows)
    assert not raw_contains(sealed_db, SECRET)
    for name in ("leaderboard.csv", "submissions.csv"):
        assert "0.1234" not in (sealed_db.parent / name).read_text()
    assert not (sealed_db.parent / store.PRIVATE_LEADERBOARD_CSV).exists()
    with Store(sealed_db) as s, pytest.raises(UsageError, match="hidden until the reveal"):
        s.private_leaderboard(comp)


def test_the_reveal_opens_the_scores_and_publishes_the_final_board(
    sealed_db: Path, comp: Competition, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    with pytest.raises(UsageError, match="the reveal comes after it"):
        admin.reveal(comp, sealed_db, by=BY, now=LATER)
    done = admin.reveal(comp, sealed_db, by=BY, now=comp.end)
    assert done.summary == "Revealed 3 private scores; the private leaderboard is public."
    with Store(sealed_db) as s:
        # Bob's selected submission is his best public one (0.8), so its private 0.95 counts, not 0.99.
        assert [(x.rank, x.username, x.best_score) for x in s.private_leaderboard(comp)] == [
            (1, "bob", 0.95), (2, "alice", SECRET),
        ]  # fmt: skip
        assert s.revealed_at() == rules.timestamp(comp.end)
        assert s.admin_log()[-1].action == "reveal"
        with pytest.raises(UsageError, match="already revealed"):
            s.reveal(by=BY, now=comp.end, competition=comp)
    assert (sealed_db.parent / store.PRIVATE_LEADERBOARD_CSV).read_text().splitlines()[1:] == [
        "1,bob,0.95,2,2,2026-11-05T11:02:00.000000Z",
        f"2,alice,{SECRET!r},1,1,2026-11-05T11:00:00.000000Z",
    ]


def test_a_wrong_or_missing_key_reveals_nothing(
    sealed_db: Path, comp: Competition, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sealed_db.read_bytes()
    monkeypatch.setenv(KEY_ENV, sealing.new_key())
    with pytest.raises(SealError, match="not the key they were sealed with"):
        admin.reveal(comp, sealed_db, by=BY, now=comp.end)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(SealError, match="set \\$GRADER_PRIVATE_KEY"):
        admin.reveal(comp, sealed_db, by=BY, now=comp.end)
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    with pytest.raises(SealError, match="is not a Fernet key"):
        admin.reveal(comp, sealed_db, by=BY, now=comp.end)
    assert sealed_db.read_bytes() == before


def test_plaintext_rows_from_before_the_key_are_sealed_and_leave_no_bytes(
    tmp_path: Path, comp: Competition, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "leaderboard" / "leaderboard.db"
    with Store(path) as s:  # no key: the old behaviour, a private score in clear
        rec(s, result("a1", private=SECRET), comp, "alice", NOW)
    assert raw_contains(path, SECRET)
    monkeypatch.setenv(KEY_ENV, KEY)  # for admin.seal and admin.reveal below, which hand it to the store
    with Store(path, private_key=KEY) as s:  # the first record with the key seals the older rows too
        rec(s, result("b1", private=0.5), comp, "bob", NOW)
    assert not raw_contains(path, SECRET)
    assert admin.seal(comp, path, by=BY, now=LATER) == 0  # nothing left in clear
    admin.reveal(comp, path, by=BY, now=LATER, early=True)
    with Store(path) as s:
        assert s.private_scores() == {1: SECRET, 2: 0.5}


def test_grade_export_one_row_per_student_and_never_into_the_repo(
    sealed_db: Path, comp: Competition, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    roster = tmp_path.parent / f"{tmp_path.name}-roster.csv"
    roster.write_text("\ufeffLogin , id\nALICE,=cmd|' /C calc'!A0\nbob,s2\ndave,s3\n\n".replace("Login ", "login"))
    out = tmp_path.parent / f"{tmp_path.name}-grades.csv"
    done = grades(comp, sealed_db, roster, out)
    assert (done.students, done.with_score, done.revealed, done.not_on_roster) == (3, 2, False, ())
    assert out.read_text().splitlines() == [
        "login,roster_id,best_public,best_private,rank,private_rank,submissions,note",
        "ALICE,'=cmd|' /C calc'!A0,0.9,,1,,1,",
        "bob,s2,0.8,,2,,2,",
        "dave,s3,,,,,0,",
    ]
    monkeypatch.setenv(KEY_ENV, KEY)
    admin.take_off(comp, sealed_db, admin.parse_target("bob"), verb="disqualify", reason="=1+1", by=BY, now=LATER)
    admin.reveal(comp, sealed_db, by=BY, now=comp.end)
    grades(comp, sealed_db, roster, out)
    assert out.read_text().splitlines()[1:3] == [
        f"ALICE,'=cmd|' /C calc'!A0,0.9,{SECRET!r},1,1,1,",
        "bob,s2,,,,,2,disqualified: =1+1",  # a note starting with letters needs no defusing
    ]

    inside = tmp_path / "grades.csv"
    with pytest.raises(UsageError, match="inside the repository and git does not ignore it"):
        grades(comp, sealed_db, roster, inside)
    (tmp_path / ".gitignore").write_text("grades.csv\n")
    grades(comp, sealed_db, roster, inside)  # ignored: fine
    tracked = tmp_path / "roster.csv"
    tracked.write_text(roster.read_text())
    git(tmp_path, "add", "roster.csv")
    with pytest.raises(UsageError, match="roster is personal data"):
        grades(comp, sealed_db, tracked, out)
    bad = tmp_path.parent / f"{tmp_path.name}-bad.csv"
    bad.write_text("login,id\nnot a login,1\nbob,2\nBob,3\n")
    with pytest.raises(
        UsageError, match=r"2 problem\(s\)(.|\n)*line 2: 'not a login'(.|\n)*line 4: Bob is already on line 3"
    ):
        grades(comp, sealed_db, bad, out)


def test_leaderboard_at_a_date_replays_submissions_and_admin_actions(
    sealed_db: Path, comp: Competition, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    with Store(sealed_db) as s:
        s.remove_submission(1, kind="disqualified", reason="r", by=BY, now=NOW + timedelta(days=2), competition=comp)
        s.reset(reason="new data", by=BY, now=NOW + timedelta(days=4), competition=comp)

        def names(days: float) -> list[str]:
            return [x.username for x in s.leaderboard_at(comp, NOW + timedelta(days=days))]

        assert names(-1) == []
        assert names(0) == ["alice"]  # bob's came a minute later
        assert names(1) == ["alice", "bob"]
        assert names(3) == ["bob"]  # alice's only submission was disqualified on day 2
        assert names(5) == []  # after the reset
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "leaderboard", "--at", "2026-11-06", "--format", "csv")
    assert code == 0 and out.splitlines()[1:] == [
        "1,alice,0.9,1,2026-11-05T11:00:00.000000Z",
        "2,bob,0.8,2,2026-11-05T11:02:00.000000Z",
    ]
    code, _, err = cli(capsys, "leaderboard", "--at", "nonsense")
    assert code == 2 and "'nonsense' is not a commit" in err


def test_leaderboard_at_a_commit_reads_the_committed_database(
    tmp_path: Path, comp: Competition, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "leaderboard" / "leaderboard.db"
    git(tmp_path, "init", "-q", "-b", "main")
    with Store(path) as s:
        rec(s, result("a1", score=0.5), comp, "alice", NOW)
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    first = git(tmp_path, "rev-parse", "HEAD").strip()
    with Store(path) as s:
        rec(s, result("b1", score=0.9), comp, "bob", NOW)
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "leaderboard", "--at", first[:10], "--format", "json")
    assert code == 0 and '"username": "alice"' in out and "bob" not in out
    code, out, _ = cli(capsys, "leaderboard", "--format", "json")
    assert "bob" in out
    code, _, err = cli(capsys, "leaderboard", "--at", "--help")
    assert code == 2 and "is not a commit" in err
