"""The rules a pull request must pass before the scoring side grades it (pure, no I/O)."""

from __future__ import annotations

import pytest

from grader.verify import ChangedFile, PullRequest, check_files, verify_pull_request, well_formed_login

SHA = "a" * 40
OTHER = "b" * 40


def pull(files: list[tuple[str, str]], **kw: object) -> PullRequest:
    base: dict[str, object] = dict(number=7, author="alice", head_sha=SHA, head_repo="alice/comp", state="open")
    base.update(kw)
    return PullRequest(files=tuple(ChangedFile(p, s) for p, s in files), **base)  # type: ignore[arg-type]


def test_one_notebook_in_ones_own_folder_is_accepted() -> None:
    verdict = verify_pull_request(
        pull([("submissions/alice/forest.ipynb", "added")]), run_head_sha=SHA, run_head_repo="alice/comp"
    )
    assert verdict.accepted and verdict.pull_verified
    assert verdict.notebook == "submissions/alice/forest.ipynb" and verdict.author == "alice"


def test_a_modified_notebook_is_accepted() -> None:
    assert check_files([ChangedFile("submissions/alice/v2.ipynb", "modified")], "alice").accepted


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            [("submissions/alice/a.ipynb", "added"), (".github/workflows/score.yml", "modified")],
            "a submission can never change the workflows",
        ),
        ([("submissions/bob/a.ipynb", "added")], "outside your folder `submissions/alice/`"),
        ([("submissions/alice/notes.py", "added")], "`submissions/alice/notes.py` is not a notebook"),
        ([("submissions/alice/a.ipynb", "removed")], "removed `submissions/alice/a.ipynb`"),
        ([("submissions/alice/a.ipynb", "renamed")], "never remove or rename"),
        ([("submissions/alice/a.ipynb", "added"), ("submissions/alice/b.ipynb", "added")], "it changes 2 notebooks"),
        ([("submissions/alice/deep/a.ipynb", "added")], "outside your folder"),
        ([("submissions/alice/../bob/a.ipynb", "added")], "outside your folder"),
        ([("submissions/alice/a b.ipynb", "added")], "is not a notebook with a plain name"),
        ([("grader/score.py", "modified")], "outside your folder"),
        (
            [("submissions/alice/a.ipynb", "added"), ("environment/requirements.lock", "modified")],
            "outside your folder",
        ),
        ([("submissions/alice/a.ipynb", "added"), ("environment/requirements.txt", "modified")], "outside your folder"),
        ([], "changes no file"),
    ],
    ids=[
        "workflow",
        "other-student",
        "not-notebook",
        "removed",
        "renamed",
        "two-notebooks",
        "nested",
        "traversal",
        "space",
        "grader",
        "the-lock",  # the notebooks' environment is the default branch's: a pull request cannot change it
        "the-requirements",
        "empty",
    ],
)
def test_refusals_say_why(files: list[tuple[str, str]], expected: str) -> None:
    verdict = verify_pull_request(pull(files), run_head_sha=SHA, run_head_repo="alice/comp")
    assert not verdict.accepted
    assert verdict.pull_verified  # the pull request is the evaluated one: the refusal may be commented
    assert expected in verdict.reason


def test_names_in_a_refusal_cannot_break_markdown_or_ping() -> None:
    verdict = check_files([ChangedFile("submissions/alice/`@bob <img>`.ipynb", "added")], "alice")
    assert not verdict.accepted
    assert "@" not in verdict.reason and "<" not in verdict.reason
    assert "`submissions/alice/??bob ?img??.ipynb`" in verdict.reason  # each unsafe character became ?


def test_a_forged_pull_request_number_is_caught_by_the_head_commit() -> None:
    """The artifact names bob's pull request #9, but the run evaluated alice's commit."""
    bobs = pull([("submissions/bob/x.ipynb", "added")], number=9, author="bob", head_sha=OTHER, head_repo="bob/comp")
    verdict = verify_pull_request(bobs, run_head_sha=SHA, run_head_repo="alice/comp")
    assert not verdict.accepted and not verdict.pull_verified
    assert "names the wrong pull request" in verdict.reason


def test_the_event_pull_request_list_wins_over_the_artifact() -> None:
    verdict = verify_pull_request(
        pull([("submissions/alice/a.ipynb", "added")]),
        run_head_sha=SHA,
        run_head_repo="alice/comp",
        run_pull_numbers=[3],
    )
    assert not verdict.accepted and not verdict.pull_verified and "forged" in verdict.reason


def test_same_commit_from_another_repository_is_refused() -> None:
    verdict = verify_pull_request(
        pull([("submissions/alice/a.ipynb", "added")]), run_head_sha=SHA, run_head_repo="mallory/comp"
    )
    assert not verdict.accepted and not verdict.pull_verified


def test_a_closed_pull_request_is_not_graded() -> None:
    verdict = verify_pull_request(
        pull([("submissions/alice/a.ipynb", "added")], state="closed"), run_head_sha=SHA, run_head_repo=None
    )
    assert not verdict.accepted and "closed" in verdict.reason


def test_a_short_sha_is_not_a_commit() -> None:
    verdict = verify_pull_request(
        pull([("submissions/alice/a.ipynb", "added")], head_sha="aaaa"), run_head_sha="aaaa", run_head_repo=None
    )
    # The pull request claims the same short text, so only the SHA rule itself can refuse it
    # (with another head the test passed on the head mismatch, whatever the SHA rule said).
    assert not verdict.accepted and not verdict.pull_verified
    assert verdict.reason == "the evaluated commit `aaaa` is not a full commit SHA."


@pytest.mark.parametrize(
    ("login", "ok"),
    [
        ("alice", True),
        ("a-b-c", True),
        ("A1", True),
        ("-a", False),
        ("a-", False),
        ("a--b", False),
        ("a_b", False),
        ("x" * 40, False),
        ("", False),
        ("a/b", False),
    ],
)
def test_login_rule(login: str, ok: bool) -> None:
    assert well_formed_login(login) is ok
    if not ok:
        assert not check_files([ChangedFile(f"submissions/{login}/a.ipynb", "added")], login).accepted
