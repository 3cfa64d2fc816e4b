"""The executed notebook in the evaluation run's job summary: readable, and hostile text cannot escape it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import conftest
import nbformat
import pytest
import yaml

from grader import config, demo, summary
from grader.summary import CAP

ROOT = Path(__file__).resolve().parent.parent

# The lines grader itself writes outside the fences; anything else outside one came from the notebook.
GRADER_LINES = re.compile(
    r"|## The executed notebook"
    r"|Each cell as it ran; outputs are clipped, images and HTML are only named\."
    r"|### Cell \d+( \[\d+\])? · (code|markdown|raw|cell)( ❌ the notebook failed here)?"
    r"|### Cell \d+|Not a cell grader can show\."
    r"|(stdout|stderr|stream|error|result):"
    r"|an image: in the artifact|HTML output: in the artifact(; as text:)?"
    r"|an output shown only in the notebook: in the artifact"
    r"|\*\*The summary stops here\*\*: it is capped at \d+ KB\. The full notebook is "
    r"`executed\.ipynb` in this run's artifact `run`\."
)


def outside_fences(text: str) -> list[str]:
    """The lines of ``text`` that Markdown renders (outside code fences), by CommonMark's fence rules."""
    outside: list[str] = []
    bar: str | None = None
    for line in text.split("\n"):
        if bar is None:
            opening = re.match(r" {0,3}(`{3,})([^`]*)$", line)
            if opening:
                bar = opening.group(1)
            else:
                outside.append(line)
        elif re.fullmatch(r" {0,3}" + bar + r"`*[ \t]*", line):
            bar = None
    assert bar is None, "a fence is left open at the end"
    return outside


def code(source: str, *outputs: Any, count: int = 1) -> Any:
    return nbformat.v4.new_code_cell(source, execution_count=count, outputs=list(outputs))


def hostile() -> Any:
    breakout = "```\n````\n~~~\n<img src=x onerror=alert(1)>\n@octocat please look\n# Heading\n```````````"
    osc = "\x1b]0;pwned\x07\x1b]52;c;Y2xpcA==\x07\x1b[31mred\x1b[0m\u202eevil\x9b2J"
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(breakout + "\n<script>alert(1)</script>"),
            code(breakout, nbformat.v4.new_output("stream", name="stdout", text=breakout + osc)),
            code("print('\\n' * 10000)", nbformat.v4.new_output("stream", name="stdout", text="line\n" * 10_000)),
            code("x = 1\n" * 100_000 + "`" * 5000),
            code(
                "display(HTML(...))",
                nbformat.v4.new_output("display_data", data={"text/html": "<b>@octocat</b>"}),
                nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"}),
                nbformat.v4.new_output("execute_result", data={"text/plain": breakout}, execution_count=3),
            ),
            code(
                "raise ValueError",
                nbformat.v4.new_output(
                    "error",
                    ename="ValueError",
                    evalue=breakout,
                    traceback=[osc, "\x1b[0;31mValueError\x1b[0m: " + breakout],
                ),
            ),
            *[
                code("y = 2", nbformat.v4.new_output("stream", name="stderr", text=("z" * 3000 + "\n") * 40))
                for _ in range(80)
            ],
        ]
    )


def test_a_hostile_notebook_stays_inside_its_fences_and_under_the_cap() -> None:
    text = summary.markdown(hostile())
    assert len(text.encode()) <= CAP
    assert [line for line in outside_fences(text) if not GRADER_LINES.fullmatch(line)] == []
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", text)  # no terminal control anywhere
    assert "pwned" not in text and "red" in text and "evil" in text
    assert text.count("line\n") < 100 and "lines cut: the artifact has them" in text
    assert "### Cell 4 [1] · code" in text and "x = 1\n" * 80 not in text  # the huge cell is clipped
    assert "HTML output: in the artifact" in text and "an image: in the artifact" in text
    assert "### Cell 6 [1] · code ❌ the notebook failed here" in text
    assert text.count("❌") == 1
    stderr = re.findall(r"stderr:\n\n```text\n(.*?)\n```\n", text, re.S)
    assert stderr and all(len(body) <= summary.OUTPUT_CHARS for body in stderr)  # each output clipped
    assert text.endswith("The full notebook is `executed.ipynb` in this run's artifact `run`.\n")


def test_a_long_notebook_is_cut_with_a_note_saying_where_the_rest_is() -> None:
    cells = [
        code(f"step({i})", nbformat.v4.new_output("stream", name="stdout", text="z" * 299 + "\n")) for i in range(200)
    ]
    text = summary.markdown(nbformat.v4.new_notebook(cells=cells), cap=20_000)
    assert len(text.encode()) <= 20_000
    assert "### Cell 1 [1] · code" in text and "### Cell 200" not in text
    assert text.endswith("The full notebook is `executed.ipynb` in this run's artifact `run`.\n")
    whole = summary.markdown(nbformat.v4.new_notebook(cells=cells[:3]), cap=20_000)
    assert "stops here" not in whole and "### Cell 3 [1] · code" in whole


def test_cells_of_any_shape_are_shown_or_named_never_a_crash() -> None:
    odd = {"cells": [3, {"cell_type": "<b>", "source": 5, "outputs": "x", "execution_count": True}, {"outputs": [7]}]}
    text = summary.markdown(odd)
    assert "### Cell 1\n\nNot a cell grader can show." in text
    assert "### Cell 2 · cell\n" in text and "<b>" not in text
    assert summary.markdown({"cells": 3}).endswith(
        "has no cells grader can show; see `executed.ipynb` in this run's artifact `run`.\n"
    )


def test_the_failing_cell_from_the_result_is_marked_even_without_an_error_output() -> None:
    notebook = nbformat.v4.new_notebook(cells=[code("x = 1"), code("sleep(10**6)", count=2)])
    text = summary.markdown(notebook, failed_cell=1)
    assert "### Cell 1 [1] · code\n" in text
    assert "### Cell 2 [2] · code ❌ the notebook failed here" in text


@pytest.mark.parametrize(
    ("content", "note"),
    [
        (None, "There is no executed notebook: the notebook did not run."),
        (b"{not json", "The executed notebook is not one nbformat can read; see `executed.ipynb`"),
        (b"[" * 100_000, "The executed notebook is not one nbformat can read"),
        (b'{"cells": 3, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "not one nbformat can read"),
    ],
)
def test_a_missing_or_odd_notebook_gets_a_one_line_note(tmp_path: Path, content: bytes | None, note: str) -> None:
    path = tmp_path / "executed.ipynb"
    if content is not None:
        path.write_bytes(content)
    found = summary.read(path, 1 << 20)
    text = found if isinstance(found, str) else summary.markdown(found)
    assert note in text
    assert len(text.strip().splitlines()) <= 4


@pytest.fixture
def comp(tmp_path: Path) -> Path:
    demo.scratch_copy(config.load(ROOT / "competition.yaml"), tmp_path / "comp")
    return tmp_path / "comp"


def test_the_step_with_no_notebook_writes_a_note_and_succeeds(comp: Path, tmp_path: Path) -> None:
    page = tmp_path / "summary.md"
    page.write_text("before\n", encoding="utf-8")
    proc = conftest.run_grader("pr", "summary", str(tmp_path / "run"), cwd=comp, env={"GITHUB_STEP_SUMMARY": str(page)})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert page.read_text(encoding="utf-8") == "before\nThere is no executed notebook: the notebook did not run.\n"


@pytest.mark.slow
def test_a_real_failed_run_reads_cell_by_cell_with_the_failing_cell_marked(comp: Path, tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# My model\nIt **will** work."),
            nbformat.v4.new_code_cell("print('loading the data')\n1 + 1"),
            nbformat.v4.new_code_cell("from IPython.display import HTML\nHTML('<b>bold</b>')"),
            nbformat.v4.new_code_cell("raise ValueError('no model yet')"),
            nbformat.v4.new_code_cell("print('never')"),
        ]
    )
    nbformat.write(notebook, str(comp / "mine.ipynb"))
    run = conftest.run_grader("run", "mine.ipynb", "--out", str(tmp_path / "run"), "--no-progress", cwd=comp)
    assert run.returncode == 1, run.stderr
    page = tmp_path / "summary.md"
    proc = conftest.run_grader("pr", "summary", str(tmp_path / "run"), cwd=comp, env={"GITHUB_STEP_SUMMARY": str(page)})
    assert proc.returncode == 0, proc.stderr
    text = page.read_text(encoding="utf-8")
    assert [line for line in outside_fences(text) if not GRADER_LINES.fullmatch(line)] == []
    cells = text.split("\n### ")[1:]
    assert [cell.splitlines()[0] for cell in cells] == [
        "Cell 1 · markdown",
        "Cell 2 [1] · code",
        "Cell 3 [2] · code",
        "Cell 4 [3] · code ❌ the notebook failed here",
        "Cell 5 · code",
    ]
    assert "```text\n# My model\nIt **will** work.\n```" in cells[0]
    assert "stdout:\n\n```text\nloading the data\n```" in cells[1] and "result:\n\n```text\n2\n```" in cells[1]
    assert "HTML output: in the artifact; as text:" in cells[2] and cells[2].count("<b>") == 1  # in the source only
    assert "error:\n\n```text\n" in cells[3] and "ValueError: no model yet" in cells[3]
    assert "\x1b" not in text and "----> 1" in cells[3]


def test_the_workflow_shows_the_notebook_after_running_it_unless_it_was_skipped() -> None:
    steps = yaml.safe_load((ROOT / ".github" / "workflows" / "evaluate.yml").read_text())["jobs"]["evaluate"]["steps"]
    names = [step["name"] for step in steps]
    shown = names.index("Show the executed notebook in the job summary")
    assert names.index("Run the notebook in the sandbox") + 1 == shown
    assert shown < names.index("Upload the run for scoring")
    step = steps[shown]
    assert step["if"] == "${{ !cancelled() && steps.precheck.outputs.skip != 'true' }}"
    assert step["run"] == 'grader pr summary "$RUNNER_TEMP/run"'
    assert step.get("continue-on-error") is True
