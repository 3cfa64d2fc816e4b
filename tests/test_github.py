"""The GitHub side against a local server speaking GitHub's REST format (tests/fake_github.py).

Covers the API module (pull request facts, one comment edited in place, statuses, retries on
5xx and rate limits) and the scoring workflow's checks of an artifact and its pull request.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import PAYLOADS, ROOT, payload_sources
from fake_github import BOT, FakeGitHub

from grader import artifact, config, workflow
from grader import result as results
from grader.answer import MARKER
from grader.github import GitHub, GitHubError, pull_request_event, read_event, workflow_run
from grader.result import Result

SHA = "c0ffee" + "0" * 34
BOBS_SHA = "b0b" + "1" * 37
REPO = "octo-org/grading"


@pytest.fixture
def fake() -> Any:
    with FakeGitHub(REPO) as server:
        yield server


@pytest.fixture
def api(fake: FakeGitHub) -> GitHub:
    return GitHub(REPO, "t", base_url=fake.url, backoff=0.01, sleep=lambda s: time.sleep(min(s, 0.05)), pace=False)


@pytest.fixture(scope="module")
def competition() -> config.Competition:
    return config.load(ROOT / "competition.yaml")


def run_event(*, head_sha: str = SHA, head_repo: str = "alice/grading", pulls: tuple[int, ...] = ()) -> dict[str, Any]:
    """A workflow_run payload of a fork's pull request (no pull_requests), as score.yml would receive it."""
    event = json.loads((PAYLOADS / "workflow_run.completed.payload.json").read_text(encoding="utf-8"))
    run = event["workflow_run"]
    run.update(
        event="pull_request",
        head_sha=head_sha,
        id=4242,
        run_attempt=1,
        html_url="https://github.com/x/y/actions/runs/4242",
    )
    run["head_repository"]["full_name"] = head_repo
    run["pull_requests"] = [{"number": n, "head": {"sha": head_sha}, "base": {"sha": "f" * 40}} for n in pulls]
    return event


def make_artifact(
    folder: Path, *, number: int = 7, head_sha: str = SHA, notebook: str = "forest.ipynb", **result: Any
) -> Path:
    folder.mkdir(parents=True)
    artifact.write_claim(folder, number, head_sha)
    values: dict[str, Any] = dict(
        status="completed",
        run_id="r1",
        notebook=notebook,
        notebook_sha256="0" * 64,
        started_at="2026-11-02T10:00:00.000000Z",
        runtime_seconds=3.5,
        predictions="predictions.csv",
    )
    values.update(result)
    results.write(Result(**values), folder)
    (folder / "predictions.csv").write_text("id,label\n0,1\n")
    (folder / "executed.ipynb").write_text("{}")
    return folder


# -- the API module ----------------------------------------------------------------------------


def test_pull_request_facts_come_from_the_api(fake: FakeGitHub, api: GitHub) -> None:
    fake.add_pull(7, author="alice", head_sha=SHA, files=[("submissions/alice/forest.ipynb", "added")])
    facts = api.pull_request(7)
    assert (facts.number, facts.author, facts.head_sha, facts.head_repo, facts.state) == (
        7,
        "alice",
        SHA,
        "alice/grading",
        "open",
    )
    assert [(f.path, f.status) for f in facts.files] == [("submissions/alice/forest.ipynb", "added")]


def test_one_comment_per_pull_request_edited_in_place(fake: FakeGitHub, api: GitHub) -> None:
    fake.add_pull(7, author="alice", head_sha=SHA, files=[])
    first = api.upsert_comment(7, "first push")
    second = api.upsert_comment(7, "second push")
    assert first == second
    assert [c["body"] for c in fake.comments[7]] == [f"{MARKER}\nsecond push"]


def test_a_students_copy_of_the_marker_is_not_edited(fake: FakeGitHub, api: GitHub) -> None:
    fake.add_pull(7, author="alice", head_sha=SHA, files=[])
    fake.add_comment(7, f"{MARKER}\nI am the grader now", {"login": "alice", "id": 1, "type": "User"})
    api.upsert_comment(7, "the real answer")
    bodies = [(c["user"]["login"], c["body"]) for c in fake.comments[7]]
    assert bodies == [("alice", f"{MARKER}\nI am the grader now"), (BOT["login"], f"{MARKER}\nthe real answer")]


@pytest.mark.parametrize(
    ("status", "headers", "after"),
    [
        (502, {}, False),
        (502, {}, True),  # the comment was created, then the answer was lost
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "{now}"}, False),
        (429, {"Retry-After": "1"}, False),
    ],
    ids=["502-then-200", "created-then-502", "primary-rate-limit-403", "secondary-rate-limit-429"],
)
def test_retries_end_with_exactly_one_comment(
    fake: FakeGitHub, api: GitHub, status: int, headers: dict[str, str], after: bool
) -> None:
    fake.add_pull(7, author="alice", head_sha=SHA, files=[])
    headers = {k: v.replace("{now}", str(int(time.time()))) for k, v in headers.items()}
    body = {"message": "API rate limit exceeded for installation."} if status == 403 else {"message": "Bad Gateway"}
    fake.fail("POST", r".*/issues/7/comments", status, headers=headers, body=body, after=after)
    api.upsert_comment(7, "scored")
    assert len(fake.comments[7]) == 1
    assert fake.comments[7][0]["body"].endswith("scored")
    # One POST, then one more only when the first never reached GitHub (a comment listed first instead).
    assert [m for m, p in fake.requests if m == "POST"] == (["POST"] if after else ["POST", "POST"])


def test_reads_are_retried_on_server_errors(fake: FakeGitHub, api: GitHub) -> None:
    fake.add_pull(7, author="alice", head_sha=SHA, files=[("submissions/alice/a.ipynb", "added")])
    fake.fail("GET", r".*/pulls/7", 503)
    fake.fail("GET", r".*/pulls/7/files", 502)
    assert api.pull_request(7).author == "alice"
    # read, retried after the 503, then read again after the files to check the head did not move
    assert fake.requests.count(("GET", f"/repos/{REPO}/pulls/7")) == 3


def test_retries_are_bounded_and_the_error_says_what_to_do(fake: FakeGitHub) -> None:
    api = GitHub(REPO, "t", base_url=fake.url, attempts=2, backoff=0.01, sleep=lambda s: None, pace=False)
    fake.add_pull(7, author="alice", head_sha=SHA, files=[])
    for _ in range(3):
        fake.fail("POST", r".*/issues/7/comments", 500)
    with pytest.raises(GitHubError, match=r"HTTP 500 .*re-run the job later"):
        api.upsert_comment(7, "x")
    assert 7 not in fake.comments


def test_missing_permission_is_explained(fake: FakeGitHub, api: GitHub) -> None:
    fake.add_pull(7, author="alice", head_sha=SHA, files=[])
    fake.fail("POST", r".*/statuses/.*", 403, body={"message": "Resource not accessible by integration"})
    with pytest.raises(GitHubError, match="lacks a permission"):
        api.set_status(SHA, "success", "ok")


def test_commit_status(fake: FakeGitHub, api: GitHub) -> None:
    api.set_status(SHA, "failure", "x" * 200, target_url="https://github.com/r/actions/runs/1")
    (status,) = fake.statuses
    assert (status["sha"], status["state"], status["context"]) == (SHA, "failure", "grader")
    assert len(status["description"]) == 140


def test_events_are_read_from_github_event_path(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(run_event()))
    event = read_event(environ={"GITHUB_EVENT_PATH": str(path)})
    run = workflow_run(event)
    assert (run.id, run.head_sha, run.head_repo, run.pull_numbers) == (4242, SHA, "alice/grading", ())


# -- the payloads as GitHub sends them: ours (tests/payloads/), and octokit's examples when the shared corpus is there

# What each payload's fields say, read by hand from the file; octokit's examples are GitHub's own.
WORKFLOW_RUNS = {
    "ours": {
        "workflow_run.completed.payload.json": (
            13120437781,
            "3f2a9c1d4e5b6a7980f1e2d3c4b5a69788796a5b",
            "alice/grading",
            (),
            "success",
            "pull_request",
            "2025-02-03T10:12:49Z",
            "https://github.com/octo-org/grading/actions/runs/13120437781",
        ),
        "workflow_run.completed.with-pull-requests.payload.json": (
            13120437781,
            "3f2a9c1d4e5b6a7980f1e2d3c4b5a69788796a5b",
            "octo-org/grading",
            (3,),
            "success",
            "pull_request",
            "2025-02-03T10:12:49Z",
            "https://github.com/octo-org/grading/actions/runs/13120437781",
        ),
    },
    "octokit": {
        name: (
            289782451,
            "3484a3fb816e0859fd6e1cea078d76385ff50625",
            "octo-org/octo-repo",
            pulls,
            "success",
            "repository_dispatch",
            "2020-10-05T16:33:24Z",
            "https://github.com/octo-org/octo-repo/actions/runs/289782451",
        )
        for name, pulls in (
            ("workflow_run.completed.payload.json", ()),
            ("workflow_run.completed.with-pull-requests.payload.json", (2,)),
        )
    },
}
PULL_REQUESTS = {
    "ours": (7, "3f2a9c1d4e5b6a7980f1e2d3c4b5a69788796a5b", "alice", "alice/grading", "octo-org/grading", "main"),
    "octokit": (2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "Codertocat", *["Codertocat/Hello-World"] * 2, "master"),
}


def source_of(path: Path) -> str:
    return "ours" if path.parent == PAYLOADS else "octokit"


@pytest.mark.parametrize(
    "path",
    [
        *payload_sources("workflow_run.completed.payload.json"),
        *payload_sources("workflow_run.completed.with-pull-requests.payload.json"),
    ],
)
def test_workflow_run_payloads_are_read(path: Path) -> None:
    run = workflow_run(read_event(path))
    assert (
        run.id,
        run.head_sha,
        run.head_repo,
        run.pull_numbers,
        run.conclusion,
        run.event,
        run.created_at,
        run.html_url,
    ) == WORKFLOW_RUNS[source_of(path)][path.name]


@pytest.mark.parametrize("path", payload_sources("pull_request.opened.payload.json"))
def test_pull_request_payloads_are_read(path: Path, fake: FakeGitHub, api: GitHub) -> None:
    number, head_sha, author, head_repo, repo, branch = PULL_REQUESTS[source_of(path)]
    event = read_event(path)
    assert event["action"] == "opened"
    assert pull_request_event(event) == (number, head_sha, author)
    assert (event["repository"]["full_name"], event["repository"]["default_branch"]) == (repo, branch)
    assert event["pull_request"]["base"]["ref"] == branch
    # The same pull request as the API serves it (PyGithub reads it): only the number, URLs and state are the fake's.
    fake.add_pull(number, author=author, head_sha=head_sha, files=[], head_repo=head_repo, payload=path)
    facts = api.pull_request(number)
    assert (facts.number, facts.author, facts.head_sha, facts.head_repo, facts.state) == (
        number,
        author,
        head_sha,
        head_repo,
        "open",
    )


# -- the scoring side's checks, answered on the pull request ------------------------------------


def verify_and_answer(
    tmp_path: Path,
    fake: FakeGitHub,
    api: GitHub,
    competition: config.Competition,
    event: dict[str, Any],
    art: Path,
) -> tuple[workflow.Verified | None, Any]:
    facts, refusal = workflow.verify_run(art, tmp_path / "run", competition, event=event, api=api)
    if refusal is not None:
        workflow.answer(refusal, api=api, summary=tmp_path / "summary.md")
    return facts, refusal


def test_an_honest_fork_pull_request_is_accepted(
    tmp_path: Path, fake: FakeGitHub, api: GitHub, competition: config.Competition
) -> None:
    fake.add_pull(7, author="alice", head_sha=SHA, files=[("submissions/alice/forest.ipynb", "added")])
    art = make_artifact(tmp_path / "artifact")
    facts, refusal = verify_and_answer(tmp_path, fake, api, competition, run_event(), art)
    assert refusal is None and facts is not None
    assert (facts.pr, facts.user, facts.notebook, facts.run_id) == (
        7,
        "alice",
        "submissions/alice/forest.ipynb",
        "github-4242-1",
    )
    assert workflow.read_verified(tmp_path / "run") == facts
    assert not fake.comments and not fake.statuses


@pytest.mark.parametrize(
    ("files", "why"),
    [
        (
            [("submissions/alice/forest.ipynb", "added"), (".github/workflows/score.yml", "modified")],
            "a submission can never change the workflows",
        ),
        ([("submissions/bob/forest.ipynb", "added")], "outside your folder `submissions/alice/`"),
        (
            [("submissions/alice/forest.ipynb", "added"), ("submissions/alice/data.csv", "added")],
            "`submissions/alice/data.csv` is not a notebook",
        ),
    ],
    ids=["touches-github", "other-students-folder", "non-notebook"],
)
def test_a_pull_request_breaking_the_rules_is_refused_with_a_comment_saying_why(
    tmp_path: Path,
    fake: FakeGitHub,
    api: GitHub,
    competition: config.Competition,
    files: list[tuple[str, str]],
    why: str,
) -> None:
    fake.add_pull(7, author="alice", head_sha=SHA, files=files)
    facts, refusal = verify_and_answer(tmp_path, fake, api, competition, run_event(), make_artifact(tmp_path / "a"))
    assert facts is None and refusal is not None
    (comment,) = fake.comments[7]
    assert "not graded" in comment["body"] and why in comment["body"]
    assert [(s["sha"], s["state"]) for s in fake.statuses] == [(SHA, "failure")]
    assert why in (tmp_path / "summary.md").read_text()
    assert not (tmp_path / "run" / workflow.VERIFIED_NAME).exists()


def test_a_pull_request_into_another_branch_is_refused_with_a_comment_saying_which(
    tmp_path: Path, fake: FakeGitHub, api: GitHub, competition: config.Competition
) -> None:
    fake.add_pull(7, author="alice", head_sha=SHA, files=[("submissions/alice/forest.ipynb", "added")])
    fake.pulls[7]["base"]["ref"] = "autumn-2025"  # an old branch, with its own workflow, grader and rules
    facts, refusal = verify_and_answer(tmp_path, fake, api, competition, run_event(), make_artifact(tmp_path / "a"))
    assert facts is None and refusal is not None
    (comment,) = fake.comments[7]
    assert "only pull requests into `main` are graded, and this one goes into `autumn-2025`" in comment["body"]
    assert [(s["sha"], s["state"]) for s in fake.statuses] == [(SHA, "failure")]


def test_evaluate_refuses_a_pull_request_into_another_branch_before_running_it(
    tmp_path: Path, competition: config.Competition
) -> None:
    event = json.loads((PAYLOADS / "pull_request.opened.payload.json").read_text(encoding="utf-8"))
    event["pull_request"]["base"]["ref"] = "autumn-2025"
    verdict = workflow.prepare(tmp_path / "run", competition, event=event, root=tmp_path / "not-a-repository")
    assert not verdict.accepted and verdict.notebook is None
    assert verdict.reasons == (
        "only pull requests into `main` are graded, and this one goes into `autumn-2025`: change its base branch "
        "to `main` (Edit, next to its title).",
    )


def test_the_files_read_are_those_of_the_head_read(fake: FakeGitHub, api: GitHub) -> None:
    """A push between reading the head and listing the files must not pair one commit's files with another's head."""
    newer = "c" * 40
    fake.add_pull(7, author="alice", head_sha=SHA, files=[("submissions/alice/forest.ipynb", "added")])
    fake.pushes[7] = [newer]  # lands right after the first listing
    facts = api.pull_request(7)
    assert facts.head_sha == newer  # read again: the head and the files agree (and verify refuses the old run)
    assert sum(1 for _, path in fake.requests if path.endswith("/pulls/7/files")) == 2
    fake.pushes[7] = ["d" * 40, "e" * 40, "f" * 40]  # a pull request that never stops moving
    with pytest.raises(GitHubError, match=r"pull request #7 kept changing while it was read \(3 times\)"):
        api.pull_request(7)


def test_a_forged_pull_request_number_is_caught_and_the_victim_is_left_alone(
    tmp_path: Path, fake: FakeGitHub, api: GitHub, competition: config.Competition
) -> None:
    """alice's evaluate run claims to be bob's pull request #9."""
    fake.add_pull(7, author="alice", head_sha=SHA, files=[("submissions/alice/forest.ipynb", "added")])
    fake.add_pull(9, author="bob", head_sha=BOBS_SHA, files=[("submissions/bob/forest.ipynb", "added")])
    art = make_artifact(tmp_path / "artifact", number=9)
    facts, refusal = verify_and_answer(tmp_path, fake, api, competition, run_event(), art)
    assert facts is None and refusal is not None and refusal.pr is None
    assert "wrong pull request" in refusal.reasons[0]
    assert not fake.comments  # nothing written on bob's pull request
    assert [(s["sha"], s["state"]) for s in fake.statuses] == [(SHA, "failure")]  # alice's commit says why


def test_a_claim_of_another_commit_is_forged(
    tmp_path: Path, fake: FakeGitHub, api: GitHub, competition: config.Competition
) -> None:
    fake.add_pull(9, author="bob", head_sha=BOBS_SHA, files=[("submissions/bob/forest.ipynb", "added")])
    art = make_artifact(tmp_path / "artifact", number=9, head_sha=BOBS_SHA)
    facts, refusal = verify_and_answer(tmp_path, fake, api, competition, run_event(), art)
    assert facts is None and refusal is not None and "forged" in refusal.reasons[0]
    assert not fake.comments


def test_same_repository_pull_request_list_overrules_the_artifact(
    tmp_path: Path, fake: FakeGitHub, api: GitHub, competition: config.Competition
) -> None:
    fake.add_pull(
        9, author="bob", head_sha=SHA, files=[("submissions/bob/forest.ipynb", "added")], head_repo="alice/grading"
    )
    art = make_artifact(tmp_path / "artifact", number=9)
    facts, refusal = verify_and_answer(tmp_path, fake, api, competition, run_event(pulls=(7,)), art)
    assert facts is None and refusal is not None and "forged" in refusal.reasons[0]
    assert not fake.comments


@pytest.mark.parametrize("kind", ["symlink", "huge", "scored", "fifo", "traversal-name"])
def test_a_hostile_artifact_is_refused_or_ignored(
    tmp_path: Path, fake: FakeGitHub, api: GitHub, competition: config.Competition, kind: str
) -> None:
    fake.add_pull(7, author="alice", head_sha=SHA, files=[("submissions/alice/forest.ipynb", "added")])
    secret = tmp_path / "secret.txt"
    secret.write_text("the truth")
    if kind == "scored":
        art = make_artifact(tmp_path / "artifact", public_score=1.0, private_score=1.0)
    else:
        art = make_artifact(tmp_path / "artifact")
    if kind == "symlink":
        (art / "log.txt").symlink_to(secret)
    elif kind == "huge":
        with (art / "predictions.csv").open("wb") as handle:
            handle.truncate(competition.submission.max_predictions_size + 1)
    elif kind == "fifo":
        (art / "log.txt").unlink(missing_ok=True)
        os.mkfifo(art / "log.txt")
    elif kind == "traversal-name":
        (art / "..result.json").write_text("{}")
        (art / "nested").mkdir()
        (art / "nested" / "result.json").write_text("{}")
    facts, refusal = verify_and_answer(tmp_path, fake, api, competition, run_event(), art)
    if kind == "traversal-name":  # unknown names are ignored, never followed
        assert facts is not None
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
            "executed.ipynb",
            "predictions.csv",
            "pull_request.json",
            "result.json",
            "verified.json",
        ]
        return
    assert facts is None and refusal is not None
    assert "the truth" not in json.dumps([c["body"] for c in fake.comments.get(7, [])])
    expected = {"symlink": "symbolic links", "huge": "more than", "scored": "carries scores", "fifo": "not a regular"}
    assert expected[kind] in refusal.reasons[0]


def test_the_answer_job_reports_a_broken_scoring_job(tmp_path: Path, fake: FakeGitHub, api: GitHub) -> None:
    same_repo = run_event(pulls=(7,))
    fake.add_pull(7, author="alice", head_sha=SHA, files=[])
    answer = workflow.failed_answer(same_repo, "the scoring job gave no answer.")
    workflow.answer(answer, api=api, summary=None)
    assert [(s["sha"], s["state"]) for s in fake.statuses] == [(SHA, "error")]
    assert "not your notebook's fault" in fake.comments[7][0]["body"]


def test_event_copies_are_not_shared() -> None:
    assert run_event() == copy.deepcopy(run_event())
