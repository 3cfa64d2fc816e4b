"""Real teaching notebooks nobody here wrote (tests/corpus/teaching/, sources in its README), run as a
student's submission would be: in the sandbox, in the demo competition's environment, under its
limits. Each verdict is pinned: a notebook that needs neither the network nor a file it does not
ship completes; the others are told there is no network, or where the data is."""

from __future__ import annotations

import json
from pathlib import Path

import conftest
import pytest

from grader import config, sandbox
from grader.execute import execute
from grader.validate import validate

CORPUS = Path(__file__).parent / "corpus" / "teaching"
EXPECTED: dict[str, dict[str, object]] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
VERDICTS = {"completed": ("completed", None), "network": ("failed", "NoNetwork"),
            "missing-file": ("failed", "FileNotFoundError")}  # fmt: skip

pytestmark = pytest.mark.slow


def test_the_corpus_is_large_and_mixed() -> None:
    assert len(EXPECTED) >= 30
    assert sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.ipynb")) == sorted(EXPECTED)
    kinds = [entry["verdict"] for entry in EXPECTED.values()]
    assert kinds.count("completed") >= 20 and kinds.count("network") >= 5 and kinds.count("missing-file") >= 3
    sources = {name.split("/")[0] for name in EXPECTED}
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    for source in sources:  # where each came from, at which commit, under which licence
        section = readme.split(f"/{source}\n", 1)[1].split("\n## ", 1)[0]
        assert "- Commit: `" in section and "- License: " in section, source


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_real_teaching_notebook_gets_the_verdict_it_should(tmp_path: Path, name: str) -> None:
    competition = config.load(conftest.ROOT / "competition.yaml")
    valid = validate(CORPUS / name, max_size=competition.submission.max_notebook_size)
    result = execute(
        valid.node,
        tmp_path / "out",
        notebook_name=Path(name).name,
        notebook_sha256=valid.sha256,
        data_dir=competition.data.directory,
        predictions_name=competition.submission.predictions,
        limits=competition.limits,
        max_predictions_size=competition.submission.max_predictions_size,
        environment=conftest.notebook_environment(),
        bwrap=sandbox.choose("required"),
    )
    expected = VERDICTS[str(EXPECTED[name]["verdict"])]
    assert (result.status, result.error.type if result.error else None) == expected, result.error
    if result.error is not None:
        assert result.error.message.startswith(f"cell {result.error.cell_index + 1} ")
