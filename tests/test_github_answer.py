"""The answer on a pull request: golden comments, commit statuses, escaping, nothing private.

Regenerate the golden files after a deliberate change with GRADER_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ROOT

from grader import answer as answers
from grader import config
from grader.answer import Answer
from grader.result import Result, RunError
from grader.store import Recorded

GOLDEN = Path(__file__).parent / "golden" / "answers"
SHA = "c0ffee" + "0" * 34
RUN_URL = "https://github.com/octo-org/grading/actions/runs/4242"
HOSTILE = (
    "Traceback (most recent call last):\n"
    '  File "<cell>", line 3\n'
    "\x1b[31mValueError\x1b[0m: ``` </details><script>alert(1)</script> @octo-org/teachers @alice\n"
    "```\n# injected heading\n[click](javascript:alert(1))"
)


@pytest.fixture(scope="module")
def competition() -> config.Competition:
    return config.load(ROOT / "competition.yaml")


def result(**kw: object) -> Result:
    base = Result(
        status="completed",
        run_id="r",
        notebook="forest.ipynb",
        notebook_sha256="0" * 64,
        started_at="2026-11-02T10:00:00.000000Z",
        runtime_seconds=12.34,
        public_score=0.953333333,
        private_score=0.123456789,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def outcome(**kw: object) -> Recorded:
    base = Recorded(
        submission_id=12,
        status="completed",
        reason=None,
        already_recorded=False,
        rank=2,
        previous_rank=4,
        best_score=0.953333333,
        remaining_today=3,
        quota_resets_at=datetime(2026, 11, 2, 23, 0, tzinfo=UTC),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def cases(competition: config.Competition) -> dict[str, Answer]:
    def made(res: Result, rec: Recorded) -> Answer:
        return answers.recorded(
            res, rec, competition, pr=7, head_sha=SHA, notebook="submissions/alice/forest.ipynb", run_url=RUN_URL
        )

    failed = result(status="failed", public_score=None, private_score=None, error=RunError("ValueError", HOSTILE, 3))
    return {
        "scored-up": made(result(), outcome()),
        "scored-first": made(result(), outcome(previous_rank=None, rank=5)),
        "scored-not-best": made(result(public_score=0.5), outcome(previous_rank=2)),
        "scored-team": answers.recorded(
            result(),
            outcome(),
            replace(competition, teams={"owls": ("bob", "alice")}),
            pr=7,
            head_sha=SHA,
            notebook="submissions/alice/forest.ipynb",
            run_url=RUN_URL,
            user="alice",
        ),
        "failed-hostile": made(
            failed,
            outcome(status="failed", reason=HOSTILE, rank=None, previous_rank=None, best_score=None, remaining_today=5),
        ),
        "timeout": made(
            result(status="timeout", public_score=None, error=RunError("RunTimeout", "ran 180 s", 1)),
            outcome(status="timeout", reason="ran 180 s"),
        ),
        "rejected-quota": made(
            result(), outcome(status="rejected", reason="daily limit reached: 5 per day.", remaining_today=0)
        ),
        "refused": answers.refused(
            ("it changes `.github/workflows/score.yml` outside your folder.",), pr=7, head_sha=SHA, run_url=RUN_URL
        ),
        "error": answers.refused(
            ("the scoring job gave no answer.",), pr=7, head_sha=SHA, run_url=RUN_URL, kind="error"
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "scored-up",
        "scored-first",
        "scored-not-best",
        "scored-team",
        "failed-hostile",
        "timeout",
        "rejected-quota",
        "refused",
        "error",
    ],
)
def test_comment_matches_golden(competition: config.Competition, name: str) -> None:
    found = cases(competition)[name]
    text = answers.comment(found)
    state, description = answers.status(found)
    rendered = f"{text}\n---\nstatus: {state}: {description}\n"
    path = GOLDEN / f"{name}.md"
    if os.environ.get("GRADER_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8")
    assert Answer.from_json(found.to_json()) == found  # survives the trip between jobs


def test_nothing_private_reaches_the_answer(competition: config.Competition) -> None:
    for found in cases(competition).values():
        text = answers.comment(found) + answers.status(found)[1] + found.to_json()
        assert "0.12346" not in text and "0.123456789" not in text and "private_score" not in text


def test_hostile_error_cannot_escape_its_code_block_or_ping(competition: config.Competition) -> None:
    text = answers.comment(cases(competition)["failed-hostile"])
    fences = re.findall(r"^(`{3,})text$", text, flags=re.M)
    assert fences == ["````"]  # longer than the ``` inside the message
    block = text.split("````text\n", 1)[1].split("\n````", 1)[0]
    outside = text.replace(block, "")
    assert "@alice" not in outside and "<script>" not in outside and "\x1b" not in text
    assert "\x1b" not in block


def test_inline_escaping() -> None:
    assert answers.inline("hi @alice <b>&</b>\x1b[1m") == "hi @\u2060alice &lt;b&gt;&amp;&lt;/b&gt;"
    assert answers.fence("a ````` b").startswith("``````text\n")


def test_only_web_links_are_linked() -> None:
    found = answers.refused(("x",), pr=1, head_sha=SHA, run_url="javascript:alert(1)")
    assert "javascript" not in answers.comment(found)
