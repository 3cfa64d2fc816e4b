"""The answer on a pull request: golden comments, commit statuses, escaping, nothing private.

Regenerate the golden files after a deliberate change with GRADER_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import conftest
import pytest
from conftest import ROOT
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import answer as answers
from grader import config, workflow
from grader.answer import Answer
from grader.execute import execute
from grader.result import Result, RunError
from grader.store import Recorded

GOLDEN = Path(__file__).parent / "golden" / "answers"
SHA = "c0ffee" + "0" * 34
RUN_URL = "https://github.com/octo-org/grading/actions/runs/4242"
SITE = "https://octo-org.github.io/grading/"
HOSTILE = (
    "Traceback (most recent call last):\n"
    '  File "<cell>", line 3\n'
    "\x1b[31mValueError\x1b[0m: ``` </details><script>alert(1)</script> @octo-org/teachers @alice\n"
    "```\n# injected heading\n[click](javascript:alert(1))"
)


# What IPython writes into a failing cell's error output: coloured, one entry per frame.
def ansi(text: str, code: str = "0;31") -> str:
    return f"\x1b[{code}m{text}\x1b[0m"


LIB = "/usr/lib/python3/site-packages/pandas/core"
EQ, ID, TARGET = ansi("=", "38;5;241"), '"id"', '"target"'
KEY_ERROR = [
    ansi("-" * 75),
    f"{ansi('KeyError')}                                  Traceback (most recent call last)",
    f"File {ansi(LIB + '/indexes/base.py:3805', '0;32')}, in {ansi('Index.get_loc', '0;36')}(self, key)\n"
    f"{ansi('   3804', '1;32')} {ansi('try', '38;5;28;01')}:\n"
    f"{ansi('-> 3805', '0;32')}     {ansi('return', '38;5;28;01')} self._engine.get_loc(casted_key)",
    f"{ansi('KeyError')}: 'target'",
    "\nThe above exception was the direct cause of the following exception:\n",
    f"{ansi('KeyError')}                                  Traceback (most recent call last)",
    f"Cell {ansi('In[3], line 2', '0;32')}\n"
    f"{ansi('      1', '1;32')} X {EQ} train.drop(columns{EQ}[{ansi(ID, '38;5;124')}])\n"
    f"{ansi('----> 2', '0;32')} y {EQ} {ansi('train[', '43')}{ansi(TARGET, '38;5;124;43')}{ansi(']', '43')}",
    f"File {ansi(LIB + '/frame.py:4102', '0;32')}, in {ansi('DataFrame.__getitem__', '0;36')}(self, key)\n"
    f"{ansi('-> 4102', '0;32')} indexer {ansi('=', '38;5;241')} self.columns.get_loc(key)",
    f"File {ansi(LIB + '/indexes/base.py:3812', '0;32')}, in {ansi('Index.get_loc', '0;36')}(self, key)\n"
    f"{ansi('-> 3812', '0;32')}     {ansi('raise', '38;5;28;01')} {ansi('KeyError', '38;5;167;01')}(key) from err",
    f"{ansi('KeyError')}: 'target'",
]
# A traceback a notebook forged to break out of its fence, ping people, inject HTML and flood the comment.
HOSTILE_TRACEBACK = [
    "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J",
    *(f"line {i} ``` ```` ````````` @alice" for i in range(10_000)),
    "````````````````````````````````````````````````````````````````````",
    "@octo-org/teachers <details open><script>alert(1)</script></details> <img src=x onerror=alert(1)>",
    "```\n## injected heading @bob\n\x1b[31mValueError\x1b[0m: ``` and `` and `"
    "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x1b\\\x1b[2J",
]


def notebook(traceback: object, cell: int = 3) -> dict[str, object]:
    """An executed notebook (as parsed JSON) whose cell ``cell`` raised with ``traceback``."""
    error = {"output_type": "error", "ename": "KeyError", "evalue": "'target'", "traceback": traceback}
    cells: list[dict[str, object]] = [{"cell_type": "code", "source": "", "outputs": []} for _ in range(cell)]
    return {"cells": [*cells, {"cell_type": "code", "source": "y = train['target']", "outputs": [error]}]}


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
        previous_best=0.942631579,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def cases(competition: config.Competition) -> dict[str, Answer]:
    def made(res: Result, rec: Recorded, comp: config.Competition = competition) -> Answer:
        return answers.recorded(
            res, rec, comp, pr=7, head_sha=SHA, notebook="submissions/alice/forest.ipynb", run_url=RUN_URL,
            user="alice",
        )  # fmt: skip

    failed = result(status="failed", public_score=None, private_score=None, error=RunError("ValueError", HOSTILE, 3))
    raised = result(
        status="failed",
        public_score=None,
        private_score=None,
        error=RunError("KeyError", "cell 4 raised KeyError: 'target'", 3),
    )
    unranked = outcome(status="failed", rank=None, previous_rank=None, best_score=None, remaining_today=4)
    found = {
        "scored-up": made(result(), outcome()),
        "scored-first": made(result(), outcome(previous_rank=None, rank=5, previous_best=None)),
        "scored-not-best": made(result(public_score=0.5), outcome(previous_rank=2, previous_best=0.953333333)),
        "scored-same": made(result(), outcome(previous_rank=2, previous_best=0.953333333)),
        "scored-lower-better": made(
            result(public_score=0.25),
            outcome(rank=1, previous_rank=1, best_score=0.25),
            replace(
                competition, metric=replace(competition.metric, name="mean_squared_error", greater_is_better=False)
            ),
        ),
        "pending": answers.pending(
            pr=7, head_sha=SHA, notebook="submissions/alice/forest.ipynb", run_url=RUN_URL, user="alice"
        ),
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
        "failed-hostile": answers.recorded(
            failed,
            outcome(status="failed", reason=HOSTILE, rank=None, previous_rank=None, best_score=None, remaining_today=5),
            competition,
            pr=7,
            head_sha=SHA,
            notebook="submissions/alice/forest.ipynb",
            run_url=RUN_URL,
            user="alice",
            traceback=answers.traceback_in(notebook(HOSTILE_TRACEBACK), 3),
        ),
        "failed-traceback": answers.recorded(
            raised,
            unranked,
            competition,
            pr=7,
            head_sha=SHA,
            notebook="submissions/alice/forest.ipynb",
            run_url=RUN_URL,
            user="alice",
            traceback=answers.traceback_in(notebook(KEY_ERROR), 3),
        ),
        "timeout": answers.recorded(
            result(status="timeout", public_score=None, error=RunError("RunTimeout", "ran 180 s", 1)),
            outcome(status="timeout", reason="ran 180 s"),
            competition,
            pr=7,
            head_sha=SHA,
            notebook="submissions/alice/forest.ipynb",
            run_url=RUN_URL,
            user="alice",
            traceback=answers.traceback_in(notebook(KEY_ERROR, 1), 1),  # an interrupted cell's: not the cause
        ),
        "invalid": made(
            result(
                status="invalid",
                public_score=None,
                error=RunError("InvalidPredictions", "predictions.csv has no column 'label'\n3 ids are missing"),
            ),
            outcome(status="invalid", reason="predictions.csv has no column 'label'", previous_rank=2),
        ),
        "late": answers.recorded(
            result(),
            outcome(status="rejected", reason="the competition closed on 2027-03-01 00:00 CET.", previous_rank=2),
            competition,
            pr=7,
            head_sha=SHA,
            notebook="submissions/alice/forest.ipynb",
            run_url=RUN_URL,
            user="alice",
            at=competition.end,
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
    return {name: replace(answer, site_url=SITE) for name, answer in found.items()}  # as `grader pr answer` does


@pytest.mark.parametrize(
    "name",
    [
        "scored-up",
        "scored-first",
        "scored-not-best",
        "scored-same",
        "scored-lower-better",
        "scored-team",
        "failed-hostile",
        "failed-traceback",
        "timeout",
        "invalid",
        "late",
        "rejected-quota",
        "refused",
        "error",
        "pending",
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


def fenced(text: str) -> tuple[list[str], str]:
    """The code blocks of a comment (each opened by N backticks and closed by exactly N), and the text outside them."""
    blocks: list[str] = []
    outside: list[str] = []
    lines = iter(text.split("\n"))
    for line in lines:
        opened = re.fullmatch(r"(`{3,})text", line)
        if not opened:
            outside.append(line)
            continue
        body = []
        for inner in lines:
            # CommonMark: a closing fence is at least as long as the opening one, with nothing but spaces after.
            if re.fullmatch(rf"`{{{len(opened.group(1))},}}\s*", inner):
                break
            body.append(inner)
        else:
            raise AssertionError(f"a {opened.group(1)} fence is never closed")
        blocks.append("\n".join(body))
    return blocks, "\n".join(outside)


def test_hostile_error_cannot_escape_its_code_block_or_ping(competition: config.Competition) -> None:
    found = cases(competition)["failed-hostile"]
    text = answers.comment(found)
    blocks, outside = fenced(text)
    assert len(blocks) == 2  # the message and the traceback, each in its own block
    assert blocks[1].endswith("ValueError: ``` and `` and `")  # the traceback's end, where it failed
    for banned in ("@alice", "@bob", "@octo-org", "<script", "<details", "<img", "injected heading", "pwned"):
        assert banned not in outside
    assert "\x1b" not in text and "\x07" not in text and "ZXZpbA" not in text
    assert len(blocks[1].splitlines()) <= answers.EXCERPT_LINES and len(blocks[1]) <= answers.EXCERPT_CHARS
    assert len(text) < 5000 and len(found.to_json()) < 5000  # 10,000 lines do not reach the comment or the artifact


def test_traceback_shows_where_the_cell_failed_without_colour(competition: config.Competition) -> None:
    found = cases(competition)["failed-traceback"]
    assert found.traceback is not None
    assert found.traceback.startswith("Cell In[3], line 2\n")  # the student's frame, not pandas'
    assert '\n----> 2 y = train["target"]\n' in found.traceback and "frame.py" not in found.traceback
    assert found.traceback.endswith("\nKeyError: 'target'")
    assert "\x1b" not in found.traceback and "[0;31m" not in found.traceback


@pytest.mark.parametrize(
    "shape",
    [
        None,
        [],
        {"cells": "x"},
        {"cells": []},
        {"cells": [None] * 4},
        {"cells": [{"outputs": "x"}] * 4},
        notebook("not a list"),
        notebook([]),
        notebook([""]),
    ],
)
def test_an_odd_notebook_gives_no_traceback(shape: object) -> None:
    assert answers.traceback_in(shape, 3) is None
    assert answers.traceback_in(notebook(KEY_ERROR), None) is None
    assert answers.traceback_in(notebook(KEY_ERROR), 2) is None  # another cell's output is not the failure
    assert answers.traceback_in(notebook(KEY_ERROR), -1) is None  # counted from the start, never from the end


def test_the_words_match_what_happened(competition: config.Competition) -> None:
    found = cases(competition)
    invalid = answers.comment(found["invalid"])
    assert "did not run to the end" not in invalid and "predictions were refused" in invalid
    assert "traceback" not in answers.comment(found["timeout"])  # no cell of its own raised: nothing to show
    assert "left today" not in answers.comment(found["late"])
    assert "left today" in answers.comment(found["rejected-quota"])
    for name in ("refused", "error"):
        assert "artifact" not in answers.comment(found[name])


def test_inline_escaping() -> None:
    assert answers.inline("hi @alice <b>&</b>\x1b[1m") == "hi @\u2060alice &lt;b&gt;&amp;&lt;/b&gt;"
    assert answers.fence("a ````` b").startswith("``````text\n")


def test_only_web_links_are_linked() -> None:
    found = answers.refused(("x",), pr=1, head_sha=SHA, run_url="javascript:alert(1)")
    assert "javascript" not in answers.comment(found)


@pytest.mark.slow
def test_a_real_failing_cell_shows_its_line(tmp_path: Path, competition: config.Competition) -> None:
    """A real kernel's traceback, read back from executed.ipynb the way the scoring side does."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("id,x,label\n1,0.5,1\n2,0.1,0\n")
    cells = [
        new_markdown_cell("# Forest"),  # cells are counted with the markdown ones, as papermill does
        new_code_cell("import pandas as pd\ntrain = pd.read_csv('data/train.csv')"),
        new_code_cell("X = train.drop(columns=['id'])\ny = train['target']"),
    ]
    run_dir = tmp_path / "run"
    ran = execute(
        new_notebook(cells=cells), run_dir, notebook_name="forest.ipynb", notebook_sha256="0" * 64, data_dir=data,
        predictions_name="predictions.csv", limits=config.Limits(cell_timeout=30, run_timeout=60, memory=2 * 1024**3),
        max_predictions_size=1024**2, environment=conftest.notebook_environment(),
    )  # fmt: skip
    assert ran.status == "failed" and ran.error is not None and ran.error.cell_index == 2
    found = answers.recorded(
        ran, outcome(status="failed", rank=None, previous_rank=None, best_score=None), competition,
        pr=7, head_sha=SHA, notebook="submissions/alice/forest.ipynb", run_url=RUN_URL,
        traceback=workflow.failing_traceback(run_dir, competition, ran.error.cell_index),
    )  # fmt: skip
    blocks, _ = fenced(answers.comment(found))
    assert len(blocks) == 2
    assert re.search(r"^-+> 2 y = train\['target'\]$", blocks[1], flags=re.M), blocks[1]
    assert blocks[1].endswith("KeyError: 'target'") and "\x1b" not in blocks[1]
    # The scoring side's own path: record the verified run, and its answer carries the same excerpt.
    db = tmp_path / "leaderboard" / "leaderboard.db"
    for run_id, when in (("github-1-1", "2026-11-02T10:00:00Z"), ("github-2-1", "2027-03-02T10:00:00Z")):
        verified = workflow.Verified(7, "alice", "submissions/alice/forest.ipynb", SHA, run_id, when, RUN_URL)
        (run_dir / workflow.VERIFIED_NAME).write_text(json.dumps(asdict(verified)))
        recorded = workflow.record(run_dir, competition, db=db, push=None)
        if run_id == "github-1-1":
            assert recorded.traceback == found.traceback and recorded.remaining_today is not None
        else:  # submitted after the end: refused by the deadline, and no quota to tell
            assert recorded.kind == "rejected" and recorded.remaining_today is None and recorded.traceback is None
    guide = (ROOT / "docs" / "students.md").read_text(encoding="utf-8")
    assert answers.fence(blocks[1]) in guide  # the students' guide shows this very excerpt, not an invented one
    assert workflow.failing_traceback(run_dir, competition, 1) is None  # a cell that ran fine has none
    (run_dir / "executed.ipynb").write_text("{not json")
    assert workflow.failing_traceback(run_dir, competition, 2) is None  # a damaged notebook: no excerpt, no crash


def test_the_answer_compares_with_the_best_before_this_submission(tmp_path: Path) -> None:
    """Real SQLite: the store tells the entrant's best before each submission, and the comment its change."""
    from test_store import NOW, yaml_text
    from test_store import result as stored_result

    from grader.store import Store

    (tmp_path / "competition.yaml").write_text(yaml_text())
    comp = config.load(tmp_path / "competition.yaml")
    progress = []
    with Store(tmp_path / "leaderboard.db") as s:
        for minutes, (run, score) in enumerate((("a", 0.9), ("b", 0.95), ("c", 0.5), ("f", None))):
            res = stored_result(run, score=score) if score is not None else stored_result(run, status="failed")
            rec = s.record(res, user="alice", competition=comp, now=NOW + timedelta(minutes=minutes),
                           notebook_path="submissions/alice/a.ipynb")  # fmt: skip
            found = answers.recorded(res, rec, comp, pr=7, head_sha=SHA, notebook="n.ipynb", run_url=None)
            row = dict(_table(answers.comment(found)))
            progress.append((rec.previous_best, rec.best_score, row.get("Progress")))
    assert progress == [
        (None, 0.9, "Your first public score"),
        (0.9, 0.95, "**+0.05000** on your previous best (0.90000): a new best"),
        (0.95, 0.95, "-0.45000 against your best (0.95000), which still counts"),
        (0.95, 0.95, None),  # a failed run has no score to compare
    ]


def _table(comment: str) -> list[tuple[str, str]]:
    return [
        (cells[1].strip(), cells[2].strip())
        for line in comment.splitlines()
        if line.startswith("| ") and len(cells := line.split("|")) == 4
    ]


def test_the_pull_request_says_scoring_then_the_verdict(competition: config.Competition) -> None:
    """Between the end of the evaluation and the verdict: a pending status and a "scoring" comment, both replaced."""
    from fake_github import FakeGitHub

    from grader.github import GitHub

    facts = workflow.Verified(pr=7, user="alice", notebook="submissions/alice/forest.ipynb", head_sha=SHA,
                              run_id="github-1-1", submitted_at="2026-11-02T10:00:00Z", run_url=RUN_URL)  # fmt: skip
    with FakeGitHub("octo-org/grading") as fake:
        fake.add_pull(7, author="alice", head_sha=SHA, files=[])
        api = GitHub("octo-org/grading", "t", base_url=fake.url, backoff=0.01, sleep=lambda s: None, pace=False)
        workflow.answer(workflow.pending_answer(facts), api=api, summary=None, site_url=SITE)
        pending = fake.comments[7][0]["body"]
        workflow.answer(cases(competition)["scored-up"], api=api, summary=None)
        assert [(s["sha"], s["state"], s["context"]) for s in fake.statuses] == [
            (SHA, "pending", "grader"), (SHA, "success", "grader"),
        ]  # fmt: skip
        assert [c["body"].splitlines()[1] for c in fake.comments[7]] == ["### ✅ Scored: 0.95333"]  # edited in place
    assert "### ⏳ Scoring your notebook" in pending and "participants.html#alice" in pending
    assert fake.statuses[0]["description"] == "Scoring: the verdict follows in a few minutes"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"GITHUB_REPOSITORY": "Octo-Org/grading"}, "https://octo-org.github.io/grading/"),
        ({"GITHUB_REPOSITORY": "octo-org/Octo-Org.github.io"}, "https://octo-org.github.io/"),
        (
            {"GITHUB_REPOSITORY": "octo-org/grading", "GRADER_SITE_URL": "https://ml.example.edu"},
            "https://ml.example.edu/",
        ),
        ({"GITHUB_REPOSITORY": "octo-org/grading", "GITHUB_SERVER_URL": "https://git.example.edu"}, None),
        ({"GITHUB_REPOSITORY": "not a repository"}, None),
        ({}, None),
    ],
)
def test_the_site_address_for_the_links(environ: dict[str, str], expected: str | None) -> None:
    assert workflow.site_address(environ) == expected


def test_links_are_only_web_links_to_the_submitter_s_own_history(competition: config.Competition) -> None:
    scored = cases(competition)["scored-up"]
    hostile = answers.comment(replace(scored, site_url="javascript:alert(1)//"))
    assert "javascript" not in hostile and "[Leaderboard]" not in hostile  # no site link rather than a bad one
    odd = answers.comment(replace(scored, user="a/../b"))
    assert "participants.html" not in odd and "leaderboard.html" in odd
    assert "leaderboard.html" not in answers.comment(cases(competition)["refused"])
