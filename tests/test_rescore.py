"""Rescoring from stored predictions, scorer versions, and migration 3.

Real SQLite files, the real scoring path (pipeline.score → pipeline.record), the real truth
file of a scratch copy of the competition, a real git repository with a bare remote.
"""

from __future__ import annotations

import base64
import csv
import json
import sqlite3
import subprocess
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ROOT

from grader import config, demo, pipeline, predictions, rescore, store
from grader import result as results
from grader import score as scoring
from grader.cli import main
from grader.config import Competition
from grader.errors import ConfigError, InvalidPredictions
from grader.result import Result
from grader.sealing import SealError, new_key
from grader.store import Store

NOW = datetime(2026, 11, 5, 10, tzinfo=UTC)
BY = "teacher"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def comp(tmp_path: Path) -> Competition:
    return demo.scratch_copy(config.load(ROOT / "competition.yaml"), tmp_path / "comp")


def truth_rows(comp: Competition) -> list[dict[str, str]]:
    assert comp.truth.path is not None
    with comp.truth.path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def change_truth(comp: Competition, every: int) -> None:
    """Relabel every ``every``-th row (an organiser fixing labels)."""
    assert comp.truth.path is not None
    rows = truth_rows(comp)
    for i, row in enumerate(rows):
        if i % every == 0:
            row["label"] = str((int(row["label"]) + 1) % 10)
    with comp.truth.path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run_dir(tmp: Path, name: str, comp: Competition, wrong_every: int) -> Path:
    """A completed run whose predictions are the truth with every ``wrong_every``-th label wrong."""
    out = tmp / "runs" / name
    out.mkdir(parents=True)
    lines = ["id,label"]
    for i, row in enumerate(truth_rows(comp)):
        label = int(row["label"])
        lines.append(f"{row['id']},{(label + 1) % 10 if wrong_every and i % wrong_every == 0 else label}")
    (out / "predictions.csv").write_text("\n".join(lines) + "\n")
    results.write(
        Result(status="completed", run_id=name, notebook=f"{name}.ipynb", notebook_sha256=name * 4,
               started_at="2026-11-05T10:00:00Z", runtime_seconds=1.0, predictions="predictions.csv"),
        out,
    )  # fmt: skip
    return out


def grade(tmp: Path, comp: Competition, user: str, name: str, wrong_every: int, minutes: int) -> store.Recorded:
    out = run_dir(tmp, name, comp, wrong_every)
    pipeline.score(out, comp, environ={})
    return pipeline.record(out, comp, user=user, db=pipeline.default_db(comp), now=NOW + timedelta(minutes=minutes))


def board(comp: Competition) -> list[tuple[str, float]]:
    with Store(pipeline.default_db(comp)) as s:
        return [(x.username, round(x.best_score, 4)) for x in s.leaderboard(comp)]


def test_record_keeps_packed_predictions_and_the_scorer_version(tmp_path: Path, comp: Competition) -> None:
    grade(tmp_path, comp, "alice", "a1", 0, 0)
    grade(tmp_path, comp, "bob", "b1", 4, 1)
    version = scoring.current_version(comp, {})
    assert len(version) == 12 and int(version, 16) >= 0
    with Store(pipeline.default_db(comp)) as s:
        rows = s.all_submissions()
        assert [r.scorer_version for r in rows] == [version, version]
        assert s.versions().current == version and s.versions().with_predictions == 2
        stored = s.stored_predictions()
    assert [sid for sid, _, _ in stored] == [1, 2]
    frame = predictions.unpack(stored[1][2], [r["id"] for r in truth_rows(comp)], comp)
    assert list(frame.columns) == ["id", "label"] and len(frame) == len(truth_rows(comp))
    assert all(len(data) < 700 for _, _, data in stored)  # 597 labels packed small
    assert board(comp) == [("alice", 1.0), ("bob", 0.7357)]


def test_a_changed_truth_ranks_nothing_new_until_rescore_then_everything_is_rescored(
    tmp_path: Path, comp: Competition, capsys: pytest.CaptureFixture[str]
) -> None:
    db = pipeline.default_db(comp)
    grade(tmp_path, comp, "alice", "a1", 0, 0)  # perfect under the old truth
    grade(tmp_path, comp, "bob", "b1", 4, 1)
    with Store(db) as s:  # a submission from before predictions were kept: it cannot be rescored
        s.record(
            Result(status="completed", run_id="legacy", notebook="old.ipynb", notebook_sha256="f" * 64,
                   started_at="x", runtime_seconds=1.0, public_score=0.99, private_score=0.98,
                   extra={"scorer_version": scoring.current_version(comp, {})}),
            user="carol", competition=comp, now=NOW + timedelta(minutes=2), notebook_path="old.ipynb",
        )  # fmt: skip
    old = scoring.current_version(comp, {})
    assert [u for u, _ in board(comp)] == ["alice", "carol", "bob"]

    change_truth(comp, 3)
    new = scoring.current_version(comp, {})
    assert new != old
    recorded = grade(tmp_path, comp, "dave", "d1", 0, 3)  # scored by the new scorer: waits for the rescore
    assert recorded.status == "completed" and recorded.rank is None
    assert "dave" not in [u for u, _ in board(comp)]

    code = _cli(capsys, "--config", str(comp.root / "competition.yaml"), "rescore", "--by", BY,
                "--reason", "fixed mislabelled rows")  # fmt: skip
    assert code[0] == 0, code
    assert f"Rescored 3 submission(s) with scorer {new} (was {old}); 2 public score(s) changed" in code[1]
    assert "#3 not rescored, no longer ranked: no stored predictions" in code[2]
    now_board = board(comp)
    assert [u for u, _ in now_board] == ["dave", "alice", "bob"]  # carol's score cannot be rescored: off the board
    assert now_board[0][1] == 1.0 and 0.6 < now_board[1][1] < 0.7
    with Store(db) as s:
        rows = {r.id: r for r in s.all_submissions()}
        assert rows[1].scorer_version == new and rows[3].scorer_version == old
        action = s.admin_log()[-1]
    assert (action.action, action.actor, action.target, action.reason) == (
        "rescore",
        BY,
        f"scorer {new}",
        "fixed mislabelled rows",
    )
    exported = (db.parent / "submissions.csv").read_text()
    assert f",{rows[1].score!r}," in exported  # the CSV was rewritten with the new scores
    assert "alice," + repr(rows[1].score) in (db.parent / "leaderboard.csv").read_text()


def test_sealed_predictions_and_private_scores_stay_sealed_through_a_rescore(
    tmp_path: Path, comp: Competition, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key()
    monkeypatch.setenv("GRADER_PRIVATE_KEY", key)
    db = pipeline.default_db(comp)
    grade(tmp_path, comp, "alice", "a1", 5, 0)
    keyed = scoring.current_version(comp, {"GRADER_PRIVATE_KEY": key})
    assert keyed != scoring.current_version(comp, {})  # with a key the truth enters only as an HMAC
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM predictions").fetchone() == (0,)  # kept beside it, not in it
    (line,) = (db.parent / "predictions" / "00000.jsonl").read_text().splitlines()
    assert json.loads(line)["sealed"] is True
    assert conn.execute("SELECT private_score FROM submissions").fetchall() == [(None,)]
    conn.close()
    change_truth(comp, 2)
    done = rescore.rescore(comp, db, by=BY, reason="new labels", now=NOW + timedelta(hours=1))
    assert done.rescored == 1 and done.not_rescored == []
    conn = sqlite3.connect(db)
    private, sealed = conn.execute("SELECT private_score, private_sealed FROM submissions").fetchone()
    conn.close()
    assert private is None and sealed
    monkeypatch.delenv("GRADER_PRIVATE_KEY")
    with Store(db) as s, pytest.raises(SealError):
        s.stored_predictions()  # sealed predictions need the key
    with pytest.raises(SealError):
        rescore.rescore(comp, db, by=BY, reason="again", now=NOW + timedelta(hours=2), environ={})
    with Store(db, private_key=key) as s:
        s.reveal(by=BY, now=NOW + timedelta(hours=3), competition=comp)
        (score,) = s.private_scores().values()
    assert score is not None and 0 < score < 1


def test_a_broken_metric_or_damaged_predictions_change_nothing(tmp_path: Path, comp: Competition) -> None:
    db = pipeline.default_db(comp)
    grade(tmp_path, comp, "alice", "a1", 0, 0)
    before = db.read_bytes()
    text = (
        (comp.root / "competition.yaml")
        .read_text()
        .replace("greater_is_better: true", "greater_is_better: true\n  args: {no_such_arg: 1}")
    )
    broken = config.parse(text, root=comp.root)
    with pytest.raises(ConfigError, match=r"metric\.args"):
        rescore.rescore(broken, db, by=BY, reason="oops", now=NOW)
    assert db.read_bytes() == before
    ids = [r["id"] for r in truth_rows(comp)]
    for damaged in (b"not zlib", zlib.compress(b"[1, [1, 2]]")):
        with pytest.raises(InvalidPredictions):
            predictions.unpack(damaged, ids, comp)
    with pytest.raises(InvalidPredictions, match="too large"):
        predictions.unpack(zlib.compress(b" " * (predictions.MAX_UNPACKED_BYTES + 10)), ids, comp)


def test_rescore_pushes_one_commit_to_a_real_remote(
    tmp_path: Path, comp: Competition, capsys: pytest.CaptureFixture[str]
) -> None:
    grade(tmp_path, comp, "alice", "a1", 3, 0)
    repo = comp.root
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    change_truth(comp, 2)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "new truth")
    git(repo, "push", "-q", "origin", "main")
    code, out, err = _cli(capsys, "--config", str(repo / "competition.yaml"), "rescore", "--by", BY, "--reason",
                          "labels fixed", "--push")  # fmt: skip
    assert code == 0, out + err
    assert "Pushed " in out
    subject = git(bare, "log", "-1", "--format=%s", "main").strip()
    assert subject.startswith("admin: rescore scorer ") and subject.endswith("— labels fixed")


def test_migration_3_keeps_a_version_2_database(tmp_path: Path, comp: Competition) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    for _, statements in store.MIGRATIONS[:2]:
        assert not callable(statements)
        for statement in statements:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.execute(
        "INSERT INTO submissions (run_id, username, timestamp, notebook_path, notebook_sha256, status, score) "
        "VALUES ('r', 'alice', '2026-11-05T10:00:00.000000Z', 'n.ipynb', 'x', 'completed', 0.5)"
    )
    conn.execute("INSERT INTO admin_actions VALUES (1, 't', 'teacher', 'disqualify', 'participant', 'alice', 'why')")
    conn.execute("INSERT INTO participants VALUES ('alice', 'disqualified', 'why', 1)")
    conn.close()
    with Store(path) as s:
        assert [a.action for a in s.admin_log()] == ["disqualify"]
        assert s.participants() == {"alice": ("disqualified", "why")}
        assert s.versions().current is None  # unversioned scores keep ranking until a rescore
        s.log_action("regrade", "1 submission", by=BY, reason="check", now=NOW)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION  # through migrations 3 and 4
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO admin_actions VALUES (9, 't', 'x', 'delete everything', 'competition', 'x', 'y')")
    conn.close()


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def _packed(tmp: Path, comp: Competition, name: str, wrong_every: int) -> store.Packed:
    packed = predictions.pack(run_dir(tmp, name, comp, wrong_every), comp)
    assert packed is not None
    return packed


def _completed(run_id: str) -> Result:
    return Result(status="completed", run_id=run_id, notebook="nb.ipynb", notebook_sha256=run_id.ljust(64, "0"),
                  started_at="x", runtime_seconds=1.0, public_score=0.5, private_score=0.5)  # fmt: skip


def test_predictions_are_sealed_lines_appended_beside_the_database_fifty_ids_to_a_file(
    tmp_path: Path, comp: Competition
) -> None:
    packed = _packed(tmp_path, comp, "p", 7)
    db = pipeline.default_db(comp)
    folder = db.parent / "predictions"
    key = new_key()
    with Store(db, private_key=key) as s:
        for i in range(49):
            s.record(_completed(f"r{i}"), user=f"user{i}", competition=comp, now=NOW + timedelta(minutes=i),
                     notebook_path="nb.ipynb", predictions=packed)  # fmt: skip
        first = (folder / "00000.jsonl").read_bytes()
        for i in range(49, 60):
            s.record(_completed(f"r{i}"), user=f"user{i}", competition=comp, now=NOW + timedelta(minutes=i),
                     notebook_path="nb.ipynb", predictions=packed)  # fmt: skip
        assert s.versions().with_predictions == 60
        stored = s.stored_predictions()
    assert sorted(p.name for p in folder.iterdir()) == ["00000.jsonl", "00001.jsonl"]  # ids 1-49, then 50-99
    assert (folder / "00000.jsonl").read_bytes() == first  # a finished file never changes again
    lines = [json.loads(line) for name in ("00000.jsonl", "00001.jsonl") for line in (folder / name).open("rb")]
    assert [line["id"] for line in lines] == list(range(1, 61))
    assert [line["run"] for line in lines] == [f"r{i}" for i in range(60)]
    assert all(line["sealed"] is True and line["ids"] == packed.ids_digest for line in lines)
    clear = base64.urlsafe_b64encode(packed.data).decode()
    assert all(line["data"] != clear and len(line["data"]) > len(clear) for line in lines)
    assert stored == [(i, packed.ids_digest, packed.data) for i in range(1, 61)]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM predictions").fetchone() == (0,)
    conn.close()
    with Store(db) as s, pytest.raises(SealError):
        s.stored_predictions()  # sealed: the key is needed to read them back
    with Store(db, private_key=new_key()) as s, pytest.raises(SealError):
        s.stored_predictions()


def test_a_predictions_line_whose_record_did_not_commit_is_never_read(
    tmp_path: Path, comp: Competition, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, other = _packed(tmp_path, comp, "good", 0), _packed(tmp_path, comp, "other", 3)
    db = pipeline.default_db(comp)
    folder = db.parent / "predictions"
    with Store(db) as s:
        s.record(_completed("r1"), user="alice", competition=comp, now=NOW, notebook_path="nb.ipynb", predictions=good)
    keep = Store._store_predictions

    def then_fail(self: Store, submission_id: int, packed: store.Packed) -> None:
        keep(self, submission_id, packed)
        raise RuntimeError("the machine died after writing the line")

    monkeypatch.setattr(Store, "_store_predictions", then_fail)
    with Store(db) as s, pytest.raises(RuntimeError):
        s.record(_completed("lost"), user="bob", competition=comp, now=NOW, notebook_path="nb.ipynb", predictions=other)
    monkeypatch.undo()
    assert len((folder / "00000.jsonl").read_text().splitlines()) == 2  # the line stayed; the record did not
    with (folder / "00000.jsonl").open("ab") as handle:
        handle.write(b'{"id":3,"run":"r3","ids":"')  # and a line cut short by a crash
    with Store(db) as s:
        # Submission #2 is now another run, without predictions: the lost run's line is not its.
        s.record(_completed("r2"), user="carol", competition=comp, now=NOW, notebook_path="nb.ipynb")
        s.record(_completed("r3"), user="dave", competition=comp, now=NOW, notebook_path="nb.ipynb", predictions=other)
        assert [(sid, data) for sid, _, data in s.stored_predictions()] == [(1, good.data), (3, other.data)]
        assert s.versions().with_predictions == 2
    last = (folder / "00000.jsonl").read_bytes().splitlines()[-1]
    assert json.loads(last)["run"] == "r3"  # written on a line of its own after the cut one


def test_predictions_in_the_table_of_an_older_database_are_still_rescored(tmp_path: Path, comp: Competition) -> None:
    db = pipeline.default_db(comp)
    grade(tmp_path, comp, "alice", "a1", 0, 0)  # its predictions go to a file
    grade(tmp_path, comp, "bob", "b1", 4, 1)
    folder = db.parent / "predictions"
    # Bob's predictions as a grader before the files kept them: in the database's table.
    sid, digest, data = _entry(folder, 2)
    lines = (folder / "00000.jsonl").read_text().splitlines()
    (folder / "00000.jsonl").write_text(lines[0] + "\n")
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO predictions VALUES (?, ?, 0, ?)", (sid, digest, data))
    conn.commit()
    conn.close()
    with Store(db) as s:
        assert [sid for sid, _, _ in s.stored_predictions()] == [1, 2] and s.versions().with_predictions == 2
    change_truth(comp, 3)
    done = rescore.rescore(comp, db, by=BY, reason="relabelled", now=NOW + timedelta(hours=1), environ={})
    assert done.rescored == 2 and done.not_rescored == [] and done.changed == 2


def test_an_in_memory_store_keeps_predictions_in_its_table(tmp_path: Path, comp: Competition) -> None:
    packed = _packed(tmp_path, comp, "p", 5)
    with Store(":memory:", private_key=new_key()) as s:
        s.record(
            _completed("r1"), user="alice", competition=comp, now=NOW, notebook_path="nb.ipynb", predictions=packed
        )
        assert s.stored_predictions() == [(1, packed.ids_digest, packed.data)]
        assert s._conn.execute("SELECT sealed, length(data) > 0 FROM predictions").fetchall() == [(1, 1)]
    assert not (tmp_path / "predictions").exists()


def _entry(folder: Path, sid: int) -> tuple[int, str, bytes]:
    """(submission id, ids digest, packed data) of the unsealed line for ``sid`` in the first predictions file."""
    for line in (folder / "00000.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["id"] == sid:
            assert entry["sealed"] is False
            return sid, entry["ids"], base64.urlsafe_b64decode(entry["data"])
    raise AssertionError(f"no line for #{sid}")


def test_one_character_labels_pack_as_a_string_and_json_packed_ones_still_read(
    tmp_path: Path, comp: Competition
) -> None:
    out = run_dir(tmp_path, "p", comp, 7)
    packed = predictions.pack(out, comp)
    assert packed is not None
    text = zlib.decompress(packed.data)
    rows = truth_rows(comp)
    assert text.startswith(b"2\n") and len(text) == 2 + len(rows)
    labels = [line.split(",")[1] for line in (out / "predictions.csv").read_text().splitlines()[1:]]
    older = zlib.compress(json.dumps([1, [int(x) for x in labels]], separators=(",", ":")).encode(), 9)
    assert len(packed.data) < 0.8 * len(older)
    ids = [r["id"] for r in rows]
    new, old = (
        predictions.unpack(packed.data, ids, comp),
        predictions.unpack(older, ids, comp),
    )  # format 1: an older grader's
    assert new.equals(old) and list(new["label"]) == labels
    for damaged in (text[:-1], b"[3,[]]"):  # a value short; a format no grader wrote
        with pytest.raises(InvalidPredictions, match="do not match"):
            predictions.unpack(zlib.compress(damaged), ids, comp)
