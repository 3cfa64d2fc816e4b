"""Rules that decide final grades, each pinned by a test that turns red when its line changes.

An audit changed single lines of the rule modules (which chosen submission counts on the
private board, which submission ``/final`` means, what uses quota, the test file's own ids,
the evaluated commit, notebook names, the sealed scores' integrity) and found no test
noticing. Each test here was checked by breaking its rule by hand; ``scripts/mutation.py``
repeats such checks over the rule modules.

Real SQLite files in ``tmp_path``, the public entry points only (``Store.record``,
``finals.choose``, ``verify_pull_request``, ``expected_ids``, ``Sealer``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from test_admin import cli
from test_reveal import KEY
from test_rules import COMP as RULES_COMP
from test_rules import NOON, at, own
from test_rules import run as a_run
from test_score import csv_text, make_competition, problems_of
from test_store import NOW, competition, rec, result, yaml_text

from grader import admin, config, finals, rules
from grader.config import Competition
from grader.errors import ConfigError, UsageError
from grader.predictions import expected_ids
from grader.ranking import Scored, best_submission, place
from grader.result import Result, RunError
from grader.sealing import KEY_ENV, Sealer, SealError, new_key
from grader.store import Store
from grader.verify import ChangedFile, PullRequest, check_files, verify_pull_request

BY = "teacher"
SHA = "a" * 40

# --- which chosen submission counts on the private board ---------------------------------------


def finals_comp(folder: Path, *, greater: bool = True, cap: int = 3) -> Competition:
    text = yaml_text(greater=greater).replace("ties: earliest", f"ties: earliest\n  final_submissions: {cap}")
    (folder / "competition.yaml").write_text(text)
    return config.load(folder / "competition.yaml")


def record_runs(db: Path, comp: Competition, runs: list[tuple[str, str, float, float | None]]) -> list[int]:
    """Record (run, user, public, private) in order, a minute apart, each from its own pull request."""
    ids = []
    with Store(db, private_key=KEY) as s:
        for minute, (run, user, public, private) in enumerate(runs):
            got = s.record(result(run, score=public, private=private), user=user, competition=comp,
                           now=NOW + timedelta(minutes=minute), notebook_path=f"submissions/{user}/{run}.ipynb",
                           pr_number=minute + 1, head_sha=SHA)  # fmt: skip
            ids.append(got.submission_id)
    return ids


def private_board(db: Path, comp: Competition, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float, int]]:
    monkeypatch.setenv(KEY_ENV, KEY)
    admin.reveal(comp, db, by=BY, now=comp.end)
    with Store(db) as s:
        return [(x.username, x.best_score, x.best_submission_id) for x in s.private_leaderboard(comp)]


def choose(db: Path, comp: Competition, sid: int, by: str) -> None:
    finals.choose(comp, db, by=by, now=NOW + timedelta(hours=1), submission_id=sid)


@pytest.mark.parametrize("greater", [True, False], ids=["higher-is-better", "lower-is-better"])
def test_the_best_private_score_among_three_chosen_counts_wherever_it_sits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, greater: bool
) -> None:
    # alice chooses three; the best private score is the middle one (by id and by time), so
    # neither "the first chosen" nor "the last chosen" nor the public best gives it.
    comp = finals_comp(tmp_path, greater=greater)
    db = tmp_path / "leaderboard.db"
    good, bad = (0.9, 0.1) if greater else (0.1, 0.9)
    ids = record_runs(db, comp, [("a1", "alice", good, 0.5), ("a2", "alice", 0.5, good), ("a3", "alice", 0.5, bad),
                                 ("b1", "bob", 0.5, 0.5)])  # fmt: skip
    for sid in ids[:3]:
        choose(db, comp, sid, "alice")
    board = private_board(db, comp, monkeypatch)
    assert board == [("alice", good, ids[1]), ("bob", 0.5, ids[3])]


def test_a_chosen_submission_without_a_private_score_does_not_hide_a_chosen_one_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    comp = finals_comp(tmp_path)
    db = tmp_path / "leaderboard.db"
    ids = record_runs(db, comp, [("a1", "alice", 0.9, 0.3), ("a2", "alice", 0.8, None)])
    choose(db, comp, ids[1], "alice")
    choose(db, comp, ids[0], "alice")
    assert private_board(db, comp, monkeypatch) == [("alice", 0.3, ids[0])]


def test_choosing_only_submissions_without_a_private_score_leaves_the_private_board(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    comp = finals_comp(tmp_path)
    db = tmp_path / "leaderboard.db"
    ids = record_runs(db, comp, [("a1", "alice", 0.9, 0.7), ("a2", "alice", 0.8, None), ("b1", "bob", 0.5, 0.5)])
    choose(db, comp, ids[1], "alice")
    assert private_board(db, comp, monkeypatch) == [("bob", 0.5, ids[2])]


@pytest.mark.parametrize("greater", [True, False], ids=["higher-is-better", "lower-is-better"])
def test_a_worse_submission_made_earlier_but_recorded_later_does_not_become_the_best(greater: bool) -> None:
    # Runs can be recorded out of order (a slow evaluation, a regrade): only an equal score is
    # decided by time, a worse one never wins for being earlier.
    best, worse = (0.9, 0.8) if greater else (0.1, 0.2)
    runs = [Scored(2, best, "2026-11-05T12:00:00.000000Z"), Scored(1, worse, "2026-11-05T11:00:00.000000Z")]
    assert best_submission(runs, greater_is_better=greater) == runs[0]
    equal = [Scored(2, best, "2026-11-05T12:00:00.000000Z"), Scored(1, best, "2026-11-05T11:00:00.000000Z")]
    assert best_submission(equal, greater_is_better=greater) == equal[1]


def test_a_participant_whose_only_score_is_nan_has_no_best() -> None:
    nan = float("nan")
    assert best_submission([Scored(1, nan, "2026-11-05T11:00:00.000000Z")], greater_is_better=True) is None
    runs = [Scored(1, nan, "2026-11-05T11:00:00.000000Z"), Scored(2, 0.4, "2026-11-05T12:00:00.000000Z")]
    assert best_submission(runs, greater_is_better=True) == runs[1]


def test_baselines_are_slotted_by_score_then_name_and_never_take_a_place() -> None:
    ranked = [(1, 0.9, "alice"), (2, 0.7, "bob")]
    baselines = [(0.5, "zero-r", "ZERO"), (0.95, "oracle", "ORACLE"), (0.7, "b-tree", "BTREE"),
                 (0.7, "a-forest", "FOREST"), (float("nan"), "broken", "BROKEN")]  # fmt: skip
    assert place(ranked, baselines, greater_is_better=True) == [
        (None, "ORACLE"), (1, "alice"), (2, "bob"), (None, "FOREST"), (None, "BTREE"), (None, "ZERO"),
    ]  # fmt: skip


@pytest.mark.parametrize(("seconds", "reason"), [(0, "the reveal"), (-1, "the reveal (before the end)")])
def test_the_audit_trail_says_when_a_reveal_came_before_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: int, reason: str
) -> None:
    comp = finals_comp(tmp_path)
    db = tmp_path / "leaderboard.db"
    record_runs(db, comp, [("a1", "alice", 0.9, 0.5)])
    monkeypatch.setenv(KEY_ENV, KEY)
    admin.reveal(comp, db, by=BY, now=comp.end + timedelta(seconds=seconds), early=True)
    with Store(db) as s:
        assert (s.admin_log()[-1].action, s.admin_log()[-1].reason) == ("reveal", reason)


# --- which submission /final means on a pull request with several runs -------------------------


def pr_runs(db: Path, comp: Competition, statuses: list[str], pr: int = 9) -> list[int]:
    ids = []
    with Store(db) as s:
        for minute, status in enumerate(statuses):
            got = s.record(result(f"r{minute}", status=status, score=0.5 + minute / 100), user="alice",
                           competition=comp, now=NOW + timedelta(minutes=minute),
                           notebook_path="submissions/alice/a.ipynb", pr_number=pr, head_sha=SHA)  # fmt: skip
            ids.append(got.submission_id)
    return ids


def test_final_on_a_pull_request_means_its_latest_scored_run(tmp_path: Path) -> None:
    comp = finals_comp(tmp_path)
    db = tmp_path / "leaderboard.db"
    ids = pr_runs(db, comp, ["completed", "completed", "completed", "failed"])
    chosen = finals.choose(comp, db, by="alice", now=NOW + timedelta(hours=1), pr=9)
    assert chosen.selection.submission_id == ids[2]  # not the first, not the failed last one
    with Store(db) as s:
        s.remove_submission(ids[2], kind="removed", reason="copied", by=BY, now=NOW + timedelta(hours=2),
                            competition=comp)  # fmt: skip
    again = finals.choose(comp, db, by="alice", now=NOW + timedelta(hours=3), pr=9)
    assert again.selection.submission_id == ids[1]  # a removed run is not scored any more


def test_final_on_a_pull_request_without_a_scored_run_says_its_latest_status(tmp_path: Path) -> None:
    comp = finals_comp(tmp_path)
    db = tmp_path / "leaderboard.db"
    ids = pr_runs(db, comp, ["failed", "timeout"])
    with pytest.raises(UsageError, match=rf"its latest, #{ids[1]}, is timeout"):
        finals.choose(comp, db, by="alice", now=NOW + timedelta(hours=1), pr=9)
    with pytest.raises(UsageError, match="no recorded submission yet"):
        finals.choose(comp, db, by="alice", now=NOW + timedelta(hours=1), pr=10)


def event(number: object = 1, issue: object = None, comment: object = None) -> dict[str, object]:
    return {
        "action": "created",
        "issue": {"number": number, "pull_request": {}} if issue is None else issue,
        "comment": {"body": "/final", "user": {"login": "alice", "type": "User"}} if comment is None else comment,
    }


def test_a_final_comment_on_pull_request_one_is_read() -> None:
    assert finals.read_comment(event(1)) == finals.Comment(pr=1, commenter="alice", final=True)


@pytest.mark.parametrize("number", [0, -1, True, "1"], ids=["zero", "negative", "bool", "text"])
def test_a_final_comment_event_without_a_usable_number_is_refused(number: object) -> None:
    with pytest.raises(UsageError, match="no usable pull request number"):
        finals.read_comment(event(number))


@pytest.mark.parametrize(
    "shape", [{"issue": "x"}, {"comment": "x"}, {"issue": [], "comment": []}], ids=["issue", "comment", "both"]
)
def test_a_comment_event_of_the_wrong_shape_is_not_for_us(shape: dict[str, object]) -> None:
    assert finals.read_comment(event(**shape)) is None


# --- what uses quota when failed runs count ------------------------------------------------------


@pytest.mark.parametrize("status", ["failed", "timeout", "invalid"])
@pytest.mark.parametrize("count_failed", [True, False])
def test_an_unsuccessful_run_uses_quota_exactly_when_failed_runs_count(
    tmp_path: Path, status: str, count_failed: bool
) -> None:
    comp = competition(tmp_path, per_day=2, count_failed=count_failed)
    with Store(tmp_path / "leaderboard.db") as s:
        first = rec(s, result("bad", status=status), comp)
        assert (first.status, first.remaining_today) == (status, 1 if count_failed else 2)
        assert rec(s, result("ok1"), comp).remaining_today == (0 if count_failed else 1)
        third = rec(s, result("ok2"), comp)
    assert third.status == ("rejected" if count_failed else "completed")


def test_precheck_applies_the_same_quota(tmp_path: Path) -> None:
    comp = competition(tmp_path, per_day=1, count_failed=True)
    with Store(tmp_path / "leaderboard.db") as s:
        assert s.precheck(user="alice", notebook_sha256="x" * 64, competition=comp, now=NOW) is None
        rec(s, result("bad", status="invalid"), comp)
        refusal = s.precheck(user="alice", notebook_sha256="y" * 64, competition=comp, now=NOW)
    assert refusal is not None and "1 submission per day" in refusal


# --- the test file's own ids ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (["10203", "10203"], "repeated ids"),
        (["10203", " 10203"], "repeated ids"),  # the same id once padded: ids are compared stripped
        (["10203", "10203 "], "repeated ids"),
        (["10203", "   "], "rows with an empty `id`"),
    ],
    ids=["repeated", "padded-before", "padded-after", "blank"],
)
def test_the_test_files_ids_are_checked(tmp_path: Path, ids: list[str], message: str) -> None:
    comp = make_competition(tmp_path)
    (tmp_path / "data" / "test.csv").write_text("id,px0\n" + "".join(f"{i},{n}\n" for n, i in enumerate(ids)))
    from grader.predictions import expected_ids

    with pytest.raises(ConfigError, match=message) as err:
        expected_ids(comp)
    assert err.value.key == "data.test"


def test_distinct_ids_that_only_look_alike_are_all_kept(tmp_path: Path) -> None:
    comp = make_competition(tmp_path)
    (tmp_path / "data" / "test.csv").write_text("id,px0\n012,0\n12,1\n 7 ,2\n")
    from grader.predictions import expected_ids

    assert list(expected_ids(comp)) == ["012", "12", "7"]


# --- verify: the evaluated commit and the notebook's name ----------------------------------------


def pull(path: str = "submissions/alice/a.ipynb", **kw: object) -> PullRequest:
    base: dict[str, object] = dict(number=7, author="alice", head_sha=SHA, head_repo="alice/comp", state="open")
    base.update(kw)
    return PullRequest(files=(ChangedFile(path, "added"),), **base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "run_sha",
    ["A" * 40, "a" * 39, "a" * 41, "g" * 40, "", " " + "a" * 39],
    ids=["uppercase", "short", "long", "not-hex", "empty", "padded"],
)
def test_the_evaluated_commit_must_be_a_full_lowercase_sha(run_sha: str) -> None:
    # The pull request says it is at that same text, so only the SHA check itself can refuse it.
    verdict = verify_pull_request(pull(head_sha=run_sha), run_head_sha=run_sha, run_head_repo=None)
    assert not verdict.accepted and not verdict.pull_verified
    assert "is not a full commit SHA" in verdict.reason


def test_a_full_sha_of_the_same_commit_is_accepted() -> None:
    verdict = verify_pull_request(pull(), run_head_sha=SHA, run_head_repo="alice/comp")
    assert verdict.accepted and verdict.pull_verified and verdict.notebook == "submissions/alice/a.ipynb"


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.ipynb",
        "-rf.ipynb",
        "_x.ipynb",
        "a b.ipynb",
        "a.IPYNB",
        "a.ipynb.py",
        "a.py",
        ".ipynb",
        "x" * 101 + ".ipynb",
        "é.ipynb",
        "a\n.ipynb",
    ],
)
def test_notebook_names_that_are_not_plain_are_refused(name: str) -> None:
    verdict = check_files([ChangedFile(f"submissions/alice/{name}", "added")], "alice")
    assert not verdict.accepted and "not a notebook with a plain name" in verdict.reason


@pytest.mark.parametrize("name", ["a.ipynb", "A9.ipynb", "9.ipynb", "a-b_c.d.ipynb", "x" * 100 + ".ipynb"])
def test_plain_notebook_names_are_accepted(name: str) -> None:
    verdict = check_files([ChangedFile(f"submissions/alice/{name}", "added")], "alice")
    assert verdict.accepted and verdict.notebook == f"submissions/alice/{name}"


# --- the sealed private score's integrity --------------------------------------------------------


def test_a_sealed_score_opens_to_the_exact_double() -> None:
    sealer = Sealer(KEY)
    value = 0.1 + 0.2  # 0.30000000000000004: full precision survives
    assert sealer.open(sealer.seal(value)) == value


def test_a_changed_token_is_refused() -> None:
    sealer = Sealer(KEY)
    token = sealer.seal(0.75)
    # Change one character of the ciphertext's middle (a valid base64 letter, so only the HMAC can tell).
    middle = len(token) // 2
    changed = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    with pytest.raises(SealError, match="not the key they were sealed with"):
        sealer.open(changed)


@pytest.mark.parametrize("size", [0, 4, 7, 9, 16])
def test_a_token_that_does_not_hold_one_double_is_refused(size: int) -> None:
    # Sealed with the right key but not by the grader (a database changed by hand).
    token = Fernet(KEY.encode()).encrypt(b"\x01" * size).decode()
    with pytest.raises(SealError, match="wrong length"):
        Sealer(KEY).open(token)


# --- two messages of the predictions' check ------------------------------------------------------


def test_an_empty_header_name_is_named_not_left_blank(tmp_path: Path) -> None:
    comp = make_competition(tmp_path)
    ids = ["10203", "10729", "10730", "10925", "11010", "11020", "11030", "11040", "11050", "11060"]
    text = "id,label,\n" + "".join(f"{i},1,\n" for i in ids)
    [line] = problems_of(comp, text)
    assert "unexpected a column with no name)" in line
    assert "unexpected )" not in line


def test_a_repeated_id_column_is_one_header_problem(tmp_path: Path) -> None:
    comp = make_competition(tmp_path)
    ids = ["10203", "10729", "10730", "10925", "11010", "11020", "11030", "11040", "11050", "11060"]
    text = "id,id,label\n" + "".join(f"{i},{i},1\n" for i in ids)
    assert problems_of(comp, text) == [
        "the header must be exactly `id,label` but it is `id,id,label` (repeated `id`); write only these two columns"
    ]


@pytest.mark.parametrize(("extra", "shown"), [(4, "id,label,a,b,c,d"), (5, "id,label,a,b,c,d,…")])
def test_a_long_header_is_shown_up_to_six_columns(tmp_path: Path, extra: int, shown: str) -> None:
    comp = make_competition(tmp_path)
    ids = ["10203", "10729", "10730", "10925", "11010", "11020", "11030", "11040", "11050", "11060"]
    names = "abcde"[:extra]
    text = f"id,label,{','.join(names)}\n" + "".join(f"{i},1" + ",0" * extra + "\n" for i in ids)
    [line] = problems_of(comp, text)
    assert f"but it is `{shown}` (unexpected a, b, c)" in line


def test_ids_that_lost_their_leading_zeros_get_a_hint(tmp_path: Path) -> None:
    comp = make_competition(tmp_path)
    padded = ["00123", "00124", "0042", "7"]
    (tmp_path / "data" / "test.csv").write_text("id,px0\n" + "".join(f"{i},0\n" for i in padded))
    text = "id,label\n" + "".join(f"{int(i)},1\n" for i in padded)  # what a plain pd.read_csv gives back
    problems = problems_of(comp, text)
    unknown = next(p for p in problems if "not in data/test.csv" in p)
    assert "3 ids are not in data/test.csv, e.g. 123, 124, 42" in unknown
    assert "the ids of data/test.csv start with zeros (00123, not 123)" in unknown
    assert 'pd.read_csv(..., dtype={"id": str})' in unknown


def test_reveal_with_a_wrong_key_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key that did not seal the scores is a usage problem (exit 2), not a crash or a store error.
    comp = finals_comp(tmp_path)
    record_runs(tmp_path / "leaderboard" / "leaderboard.db", comp, [("a1", "alice", 0.9, 0.5)])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(KEY_ENV, new_key())
    code, _, err = cli(capsys, "reveal", "--by", BY, "--early", at="2027-03-02T00:00:00+01:00")
    assert code == 2
    assert err.strip().splitlines() == [
        "error: $GRADER_PRIVATE_KEY cannot open the sealed private scores: it is not the key they were sealed "
        "with. Nothing was changed; set the key that the scoring workflow used."
    ]


def test_a_login_of_39_characters_is_well_formed_and_40_is_not() -> None:
    assert check_files([ChangedFile(f"submissions/{'a' * 39}/a.ipynb", "added")], "a" * 39).accepted
    assert not check_files([ChangedFile(f"submissions/{'a' * 40}/a.ipynb", "added")], "a" * 40).accepted


@pytest.mark.parametrize(
    ("pull_kw", "default_branch"),
    [
        ({"head_sha": "b" * 40}, None),
        ({"head_sha": "0" * 40}, None),  # sorts before the evaluated SHA: only "different" may decide
        ({"head_repo": "zed/comp"}, None),
        ({"head_repo": "aaron/comp"}, None),
        ({"base_ref": "main"}, "zzz"),
        ({"base_ref": "main"}, "aaa"),
    ],
    ids=["later-sha", "earlier-sha", "later-repo", "earlier-repo", "earlier-base", "later-base"],
)
def test_a_pull_request_that_differs_from_the_evaluated_run_is_refused_either_way(
    pull_kw: dict[str, str], default_branch: str | None
) -> None:
    verdict = verify_pull_request(
        pull(**pull_kw), run_head_sha=SHA, run_head_repo="alice/comp", default_branch=default_branch
    )
    assert not verdict.accepted


# --- the submission rules (rules.py): which earlier notebook is a duplicate ----------------------


@pytest.mark.parametrize("earlier", ["0" * 64, "f" * 64], ids=["sorts-before", "sorts-after"])
def test_only_the_same_notebook_is_a_duplicate(earlier: str) -> None:
    # A completed notebook with another hash, whichever way the hashes sort, is no reason to refuse.
    mine = [own(1, at(3, 9), sha=earlier)]
    assert rules.judge(mine, "7" * 64, RULES_COMP, NOON, uses_quota=False) is None
    same = rules.judge(mine, earlier, RULES_COMP, NOON, uses_quota=False)
    assert same is not None and same.kind == "duplicate"


def test_an_entrant_already_over_the_quota_is_refused() -> None:
    # More submissions than today's limit: the limit was lowered during the day (competition.yaml
    # changed), or failed runs started to count. Over the limit is refused like at the limit.
    mine = [own(1, at(5, 9)), own(2, at(5, 10)), own(3, at(5, 11))]
    verdict = rules.judge(mine, "7" * 64, RULES_COMP, NOON, uses_quota=True)
    assert verdict is not None and verdict.kind == "quota" and "you have used 3 today" in verdict.message


def test_the_quota_left_is_never_below_zero() -> None:
    # Over today's limit (it was lowered during the day): none left, not a negative number nor one.
    mine = [own(1, at(5, 9)), own(2, at(5, 10)), own(3, at(5, 11))]
    told = rules.outcome(3, "completed", None, already=False, before=rules.Place(1, 0.5), after=rules.Place(1, 0.5),
                         mine=mine, competition=RULES_COMP, now=NOON)  # fmt: skip
    assert told.remaining_today == 0


@pytest.mark.parametrize(
    ("type_", "cell"),
    [("KernelStartError", None), ("SystemExit", None), ("Incomplete", None), ("NotRun", 3)],
    ids=["kernel-did-not-start", "kernel-exited", "unconfirmed", "a-cell-raised-NotRun"],
)
def test_only_the_workflows_skip_is_a_run_that_was_not_run(type_: str, cell: int | None) -> None:
    # A failed run without a cell (its kernel never started, exited, went quiet) or a cell raising an
    # exception named NotRun is the notebook's failure, recorded as failed: not a skip to push again.
    failed = a_run("failed", error=RunError(type_, "x", cell))
    assert rules.admit(failed, user="alice", mine=[], competition=RULES_COMP, now=NOON) is None


def test_a_refusal_at_one_known_moment_is_sure() -> None:
    duplicate = [own(1, at(2, 9), sha="nb")]
    sure = rules.sure_refusal(duplicate, "nb", RULES_COMP, earliest=NOON, latest=NOON)
    assert sure is not None and sure.kind == "duplicate"


def test_a_refusal_is_worked_out_over_seven_days_and_no_longer() -> None:
    # A duplicate is refused at every moment: only the span's length decides whether it is sure.
    duplicate = [own(1, at(2, 9), sha="nb")]
    week = rules.sure_refusal(duplicate, "nb", RULES_COMP, earliest=at(3, 12), latest=at(10, 12))
    assert week is not None and week.kind == "duplicate"
    longer = at(10, 12) + timedelta(microseconds=1)
    assert rules.sure_refusal(duplicate, "nb", RULES_COMP, earliest=at(3, 12), latest=longer) is None


def test_a_participant_cannot_choose_after_the_end_however_late() -> None:
    good = rules.Candidate(5, "alice", counts=True, why_not="completed")
    later = RULES_COMP.end + timedelta(days=3)
    with pytest.raises(UsageError, match="final choices could be made until then"):
        rules.check_choice(good, by="alice", final=True, organiser=False, chosen=[], revealed_at=None,
                           competition=RULES_COMP, now=later)  # fmt: skip
    assert rules.check_choice(good, by="bob", final=True, organiser=True, chosen=[], revealed_at=None,
                              competition=RULES_COMP, now=later)  # fmt: skip


def test_a_participant_at_a_cap_of_one_is_told_of_one_submission() -> None:
    one = replace(RULES_COMP, ranking=replace(RULES_COMP.ranking, final_submissions=1))
    good = rules.Candidate(5, "alice", counts=True, why_not="completed")
    with pytest.raises(UsageError, match=r"alice has already chosen 1 submission \(#4\) and may choose 1;"):
        rules.check_choice(good, by="alice", final=True, organiser=False, chosen=[4], revealed_at=None,
                           competition=one, now=NOON)  # fmt: skip


def test_a_participant_over_the_cap_cannot_choose_more() -> None:
    # Three chosen while the cap is two: the cap was lowered in competition.yaml after they chose.
    good = rules.Candidate(5, "alice", counts=True, why_not="completed")
    with pytest.raises(UsageError, match=r"alice has already chosen 3 submissions \(#1, #2, #3\) and may choose 2;"):
        rules.check_choice(good, by="alice", final=True, organiser=False, chosen=[1, 2, 3], revealed_at=None,
                           competition=RULES_COMP, now=NOON)  # fmt: skip


def test_a_reason_of_exactly_500_characters_is_kept() -> None:
    assert rules.check_reason("x" * 500) == "x" * 500
    with pytest.raises(UsageError, match="the reason is 501 characters long; keep it under 500"):
        rules.check_reason("x" * 501)


class _NoOffset(tzinfo):
    """A time zone that does not know its offset: Python counts its datetimes as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_a_moment_whose_zone_has_no_offset_is_refused_as_naive() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        rules.timestamp(datetime(2026, 11, 5, 12, tzinfo=_NoOffset()))


def test_a_submission_at_midnight_counts_for_the_day_it_opens() -> None:
    midnight = [own(1, at(5, 0))]
    assert rules.used_today(midnight, RULES_COMP, NOON) == 1
    assert rules.used_today(midnight, RULES_COMP, at(4, 23, 59)) == 0


@pytest.mark.parametrize("version", ["", 3, None])
def test_only_a_nonempty_text_is_stored_as_the_scorer_version(version: object) -> None:
    run = Result(status="completed", run_id="r", notebook="n.ipynb", notebook_sha256="nb", started_at="",
                 runtime_seconds=1.0, public_score=0.5, extra={"scorer_version": version})  # fmt: skip
    assert rules.stored(run, None).scorer_version is None


# --- predictions: the bounds of a 64-bit integer are exact ---------------------------------------

IDS10 = ["10203", "10729", "10730", "10925", "11010", "11020", "11030", "11040", "11050", "11060"]
INT64_MAX, INT64_MIN = "9223372036854775807", "-9223372036854775808"


@pytest.mark.parametrize(
    "values",
    [
        [INT64_MAX, INT64_MIN],
        [INT64_MAX, "-9223372036854775808.0"],  # the smallest int64 is exactly a double too
    ],
    ids=["integers", "integral-float"],
)
def test_the_largest_and_smallest_64_bit_integers_are_accepted(tmp_path: Path, values: list[str]) -> None:
    comp = make_competition(tmp_path)
    text = "id,label\n" + "".join(f"{i},{v}\n" for i, v in zip(IDS10, values + ["1"] * 8, strict=True))
    assert problems_of(comp, text) == []


@pytest.mark.parametrize(
    "value",
    ["9223372036854775808", "-9223372036854775809", "9223372036854775808.0", "-9223372036854777856.0", "1e19"],
    ids=["max+1", "min-1", "float-2**63", "float-below-min", "float-far-above"],
)
def test_one_past_the_64_bit_bounds_is_too_large(tmp_path: Path, value: str) -> None:
    comp = make_competition(tmp_path)
    text = "id,label\n" + "".join(f"{i},{v}\n" for i, v in zip(IDS10, [value] + ["1"] * 9, strict=True))
    [line] = problems_of(comp, text)
    assert line.startswith("1 prediction in `label` is too large for a 64-bit integer")


def test_a_float_competition_takes_a_whole_number_beyond_64_bits(tmp_path: Path) -> None:
    # Only integer predictions have 64-bit bounds; a float prediction may be any finite number.
    comp = make_competition(tmp_path, kind="float", metric="mean_squared_error", greater=False)
    text = "id,label\n" + "".join(f"{i},{v}\n" for i, v in zip(IDS10, ["1" + "0" * 30] + ["1"] * 9, strict=True))
    assert problems_of(comp, text) == []


# --- predictions: the ids of the test file and of the predictions ------------------------------


def test_an_id_the_csv_reader_would_call_missing_is_an_id(tmp_path: Path) -> None:
    # Country codes: Namibia is "NA", which pandas reads as a missing value unless told not to.
    comp = make_competition(tmp_path)
    (tmp_path / "data" / "test.csv").write_text("id,px0\nNA,0\nFR,1\nnan,2\n")
    assert list(expected_ids(comp)) == ["NA", "FR", "nan"]
    assert problems_of(comp, "id,label\nNA,1\nFR,2\nnan,3\n") == []


def test_a_test_file_that_cannot_be_read_is_the_organisers_error_named(tmp_path: Path) -> None:
    comp = make_competition(tmp_path)
    (tmp_path / "data" / "test.csv").unlink()
    (tmp_path / "data" / "test.csv").mkdir()  # neither missing nor a file
    with pytest.raises(ConfigError, match=r"data/test\.csv cannot be read as CSV \(IsADirectoryError\)"):
        expected_ids(comp)


def test_unknown_ids_that_are_not_numbers_are_named_without_a_spelling_hint(tmp_path: Path) -> None:
    comp = make_competition(tmp_path)
    ids = ["abc", "12x", *IDS10[2:]]
    [line] = [p for p in problems_of(comp, csv_text(ids, [1] * 10)) if "not in data/test.csv" in p]
    assert line == "2 ids are not in data/test.csv, e.g. abc, 12x; predict only the ids of data/test.csv"


def test_an_unknown_id_that_is_not_whole_gets_no_spelling_hint(tmp_path: Path) -> None:
    # 10203.5 is not 10203 written as a float: no "write 10203, not 10203.5".
    comp = make_competition(tmp_path)
    [line] = [p for p in problems_of(comp, csv_text(["10203.5", *IDS10[1:]], [1] * 10)) if "not in" in p]
    assert line == "1 id is not in data/test.csv, e.g. 10203.5; predict only the ids of data/test.csv"


# --- verify: names in a refusal are shown whole up to 120 characters -----------------------------


def test_a_refusal_shows_a_short_name_whole_and_clips_a_long_one_at_120_characters() -> None:
    short = check_files([ChangedFile("README.md", "added")], "alice")
    assert "it changes `README.md` outside" in short.reason
    exact, long = "x" * 120, "y" * 121
    shown = check_files([ChangedFile(exact, "added"), ChangedFile(long, "added")], "alice").reason
    assert f"`{exact}`" in shown and f"`{'y' * 119}…`" in shown


@pytest.mark.parametrize(("count", "tail"), [(5, "`f4.py` outside"), (7, "`f4.py` and 2 more outside")])
def test_a_refusal_names_five_files_and_counts_the_rest(count: int, tail: str) -> None:
    files = [ChangedFile(f"f{n}.py", "added") for n in range(count)]
    reason = check_files(files, "alice").reason
    assert f"it changes `f0.py`, `f1.py`, `f2.py`, `f3.py`, {tail}" in reason


def test_a_refusal_speaks_of_one_file_or_several_and_shows_12_characters_of_a_sha() -> None:
    one = check_files([ChangedFile("submissions/alice/a.py", "added")], "alice").reason
    two = check_files([ChangedFile("submissions/alice/a.py", "added"), ChangedFile("submissions/alice/b", "added")],
                      "alice").reason  # fmt: skip
    assert "`submissions/alice/a.py` is not a notebook with" in one
    assert "`submissions/alice/a.py`, `submissions/alice/b` are not notebooks with" in two
    moved = verify_pull_request(pull(head_sha="b" * 40), run_head_sha=SHA, run_head_repo="alice/comp").reason
    assert f"is at commit {'b' * 12}, but the evaluated run was of {'a' * 12}:" in moved


@pytest.mark.parametrize(
    ("path", "hint"),
    [(".github", True), (".github/workflows/score.yml", True), ("-notes.md", False), (".githubx", False)],
)
def test_only_a_change_to_the_workflows_gets_the_workflows_hint(path: str, hint: bool) -> None:
    reason = check_files([ChangedFile(path, "added")], "alice").reason
    assert ("(a submission can never change the workflows)" in reason) is hint


def test_after_the_end_the_reveal_needs_no_early_flag_and_returns_its_own_audit_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    comp = finals_comp(tmp_path)
    db = tmp_path / "leaderboard.db"
    record_runs(db, comp, [("a1", "alice", 0.9, 0.5)])
    monkeypatch.setenv(KEY_ENV, KEY)
    admin.baseline(comp, db, "bot", reason="a reference", by=BY, now=comp.end)  # an earlier entry in the trail
    done = admin.reveal(comp, db, by=BY, now=comp.end + timedelta(days=1))
    assert (done.action.action, done.action.reason) == ("reveal", "the reveal")
    with Store(db) as s:
        assert s.admin_log()[-1] == done.action and len(s.admin_log()) == 2
