"""grader.validate: every input gives a ValidNotebook or one-line problems; never a traceback or a hang."""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import conftest
import nbformat
import pytest

from grader.errors import InvalidNotebook
from grader.validate import MAX_DEPTH, ValidNotebook, validate

NOTEBOOKS = conftest.NOTEBOOKS  # written here: tests/notebooks/
OUR_FILES = sorted(NOTEBOOKS.rglob("*.ipynb"))
CORPUS = conftest.CORPUS / "notebooks"  # nbformat's and nbclient's own test notebooks, when the corpus is there
CORPUS_FILES = conftest.corpus_notebooks("*/*.ipynb")
MiB = 1024**2

# The verdicts chosen for our notebooks; see grader/validate.py's docstring for the rules.
INVALID = {
    "v4_unknown_cell_type.ipynb": "'heading' is not a cell type of nbformat 4",
    "v4_5_malformed_id.ipynb": "cell id 'not valid!' is malformed",
    "v2.ipynb": "uses nbformat 2 (IPython 0.x, 2011-2012), which the grader does not read",
    "v4_5_authors_not_a_list.ipynb": "`authors` should be a list",
    # v3 notebooks without cells: upgraded fine, then refused for having no code.
    "v3_no_minor_no_cells.ipynb": "no code cell with code in it (after upgrading it from nbformat 3)",
    "v3_no_worksheets.ipynb": "no code cell with code in it (after upgrading it from nbformat 3)",
    "v3_empty_worksheet.ipynb": "no code cell with code in it (after upgrading it from nbformat 3)",
}
UPGRADED = {"v3.ipynb", "v3_no_metadata.ipynb"}

# The same rules on the shared corpus.
CORPUS_INVALID = {
    "invalid.ipynb": "is not a cell type of nbformat 4",
    "invalid_cell_id.ipynb": "cell id '$illegal_chars' is malformed",
    "test2.ipynb": "uses nbformat 2 (IPython 0.x, 2011-2012), which the grader does not read",
    "v4_5_invalid_metadata.ipynb": "`authors` should be a list",
    "test3_no_min_version.ipynb": "no code cell with code in it (after upgrading it from nbformat 3)",
    "test3_no_worksheets.ipynb": "no code cell with code in it (after upgrading it from nbformat 3)",
    "test3_worksheet_with_no_cells.ipynb": "no code cell with code in it (after upgrading it from nbformat 3)",
}
CORPUS_UPGRADED = {"test3.ipynb", "test3_no_metadata.ipynb"}


def sources(ours: str, theirs: str) -> list[Any]:
    """Our notebook ``ours`` (under tests/notebooks/), and the corpus's ``theirs`` when the corpus is there."""
    found = [pytest.param(NOTEBOOKS / ours, id=ours)]
    if conftest.HAS_CORPUS:
        found.append(pytest.param(CORPUS / theirs, id=theirs, marks=conftest.corpus))
    return found


def outcome(path: Path, max_size: int = MiB) -> ValidNotebook | InvalidNotebook:
    try:
        return validate(path, max_size=max_size)
    except InvalidNotebook as ex:
        return ex


def problems(path: Path, max_size: int = MiB) -> list[str]:
    result = outcome(path, max_size)
    assert isinstance(result, InvalidNotebook), f"{path.name} was accepted"
    assert result.problems, "an InvalidNotebook without problems"
    for line in result.problems:
        assert line.strip() and "\n" not in line and "\r" not in line and "Traceback" not in line
    return result.problems


def notebook(cells: list[Any] | None = None, **metadata: Any) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata=metadata)
    nb.cells = cells if cells is not None else [nbformat.v4.new_code_cell("print('hello')")]
    return nb


def write(tmp_path: Path, content: str | bytes | nbformat.NotebookNode | Any, name: str = "nb.ipynb") -> Path:
    path = tmp_path / name
    if isinstance(content, nbformat.NotebookNode):
        content = nbformat.writes(content)
    elif not isinstance(content, (str, bytes)):
        content = json.dumps(content)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


# --- odd and invalid notebooks: ours, and the shared corpus's -------------------------------


def check_verdict(path: Path, invalid: dict[str, str], upgraded: set[str]) -> None:
    result = outcome(path)
    if path.name in invalid:
        lines = problems(path)
        assert any(invalid[path.name] in line for line in lines), lines
        return
    assert isinstance(result, ValidNotebook), f"{path.name}: {getattr(result, 'problems', '')}"
    data = path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    assert result.upgraded_from == (3 if path.name in upgraded else None)
    node = result.node
    assert node.nbformat == 4
    assert node.metadata.kernelspec == {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    assert node.metadata.language_info["name"] == "python"
    assert any(c.cell_type == "code" and c.source.strip() for c in node.cells)
    nbformat.validate(node)  # ready to execute: valid for nbformat itself
    if node.nbformat_minor >= 5:
        ids = [cell.id for cell in node.cells]
        assert len(ids) == len(set(ids))


def test_our_notebooks_are_there() -> None:
    assert len(OUR_FILES) >= 25
    assert {p.name for p in OUR_FILES} >= set(INVALID) | UPGRADED
    assert len({p.name for p in OUR_FILES}) == len(OUR_FILES)  # verdicts go by name


@pytest.mark.parametrize("path", OUR_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_our_notebook(path: Path) -> None:
    check_verdict(path, INVALID, UPGRADED)


@conftest.corpus
def test_corpus_is_there() -> None:
    assert len(CORPUS_FILES) >= 40
    assert {p.name for p in CORPUS_FILES} >= set(CORPUS_INVALID) | CORPUS_UPGRADED


@conftest.corpus
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_notebook(path: Path) -> None:
    check_verdict(path, CORPUS_INVALID, CORPUS_UPGRADED)


@pytest.mark.parametrize("path", sources("formats/v4_5_duplicate_ids.ipynb", "nbformat/invalid_unique_cell_id.ipynb"))
def test_duplicate_cell_ids_are_renumbered(path: Path) -> None:
    first = json.loads(path.read_text(encoding="utf-8"))["cells"][0]["id"]
    result = validate(path, max_size=MiB)
    assert result.node.cells[0].id == first
    assert result.node.cells[1].id != first


@pytest.mark.parametrize("path", sources("formats/v4_5_no_ids.ipynb", "nbformat/v4_5_no_cell_id.ipynb"))
def test_missing_cell_ids_are_added(path: Path) -> None:
    assert not any("id" in cell for cell in json.loads(path.read_text(encoding="utf-8"))["cells"])
    result = validate(path, max_size=MiB)
    assert all(cell.id for cell in result.node.cells)


@pytest.mark.parametrize("path", sources("formats/v4_5_ids.ipynb", "nbformat/test4.5.ipynb"))
def test_every_truncation_of_a_notebook_gives_problems_not_tracebacks(tmp_path: Path, path: Path) -> None:
    data = path.read_bytes()
    for cut in range(0, len(data), max(1, len(data) // 60)):
        path = write(tmp_path, data[:cut])
        problems(path)


# --- the file itself -----------------------------------------------------------------------


def test_valid_notebook(tmp_path: Path) -> None:
    path = write(tmp_path, notebook())
    result = validate(path, max_size=MiB)
    assert result.upgraded_from is None
    assert result.size == path.stat().st_size
    assert result.node.cells[0].source == "print('hello')"


def test_missing_file(tmp_path: Path) -> None:
    assert "no file at this path" in problems(tmp_path / "nope.ipynb")[0]


def test_symlink_is_refused(tmp_path: Path) -> None:
    target = write(tmp_path, notebook(), "real.ipynb")
    link = tmp_path / "link.ipynb"
    link.symlink_to(target)
    assert problems(link) == ["the file is a symbolic link; submit the notebook file itself, not a link to it"]


def test_symlink_to_a_secret_is_refused_without_reading(tmp_path: Path) -> None:
    link = tmp_path / "nb.ipynb"
    link.symlink_to("/etc/passwd")
    assert "symbolic link" in problems(link)[0]


def test_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "nb.ipynb"
    folder.mkdir()
    assert "folder" in problems(folder)[0]


def test_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "nb.ipynb"
    os.mkfifo(fifo)
    found: list[Any] = []
    worker = threading.Thread(target=lambda: found.append(outcome(fifo)), daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "validate() hung on a FIFO"
    assert isinstance(found[0], InvalidNotebook)
    assert "not a regular file" in found[0].problems[0]


def test_device_is_refused() -> None:
    assert "not a regular file" in problems(Path("/dev/zero"))[-1]


def test_too_large_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, b"[" * (5 * MiB))
    start = time.perf_counter()
    lines = problems(path, max_size=MiB)
    assert time.perf_counter() - start < 0.5
    assert lines == [
        "the notebook is larger than the limit of 1 MiB; clear the outputs (Edit → Clear Outputs of All Cells), "
        "remove large embedded images and save it again"
    ]


def test_size_limit_is_inclusive(tmp_path: Path) -> None:
    path = write(tmp_path, notebook())
    size = path.stat().st_size
    assert isinstance(outcome(path, max_size=size), ValidNotebook)
    assert "larger than the limit" in problems(path, max_size=size - 1)[0]


def test_extension_must_be_ipynb(tmp_path: Path) -> None:
    path = write(tmp_path, notebook(), "solution.py")
    assert problems(path) == [
        "the file name must end in .ipynb (this one is 'solution.py'); submit the notebook as Jupyter saves it"
    ]


def test_empty_file(tmp_path: Path) -> None:
    assert "the file is empty" in problems(write(tmp_path, b""))[0]


# --- the content ---------------------------------------------------------------------------


def test_not_utf8_says_where(tmp_path: Path) -> None:
    text = nbformat.writes(notebook()).encode()
    path = write(tmp_path, text.replace(b"hello", b"h\xe9llo"))
    (line,) = problems(path)
    assert line.startswith("the file is not UTF-8 text (byte 0xe9 at line ")
    assert ", column " in line


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + nbformat.writes(notebook()).encode())
    assert isinstance(outcome(path), ValidNotebook)


def test_not_json_says_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "cells": [,]\n}')
    (line,) = problems(path)
    assert line.startswith("the file is not valid JSON (line 2, column 13: Expecting value)")


def test_python_script_is_not_a_notebook(tmp_path: Path) -> None:
    lines = problems(write(tmp_path, "import pandas as pd\nprint(1)\n", "solution.py"))
    assert len(lines) == 2
    assert "must end in .ipynb" in lines[0]
    assert "not valid JSON" in lines[1]


def test_nan_is_not_json(tmp_path: Path) -> None:
    text = nbformat.writes(notebook()).replace('"execution_count": null', '"execution_count": NaN')
    assert "NaN is not a JSON value" in problems(write(tmp_path, text))[0]


def test_huge_integer_is_not_a_crash(tmp_path: Path) -> None:
    text = nbformat.writes(notebook()).replace('"execution_count": null', '"execution_count": ' + "9" * 5000)
    assert "not valid JSON" in problems(write(tmp_path, text))[0]


def test_deeply_nested_json(tmp_path: Path) -> None:
    (line,) = problems(write(tmp_path, "[" * 100_000))
    assert f"nested more than {MAX_DEPTH} levels" in line


def test_deeply_nested_but_complete_json(tmp_path: Path) -> None:
    nb = json.loads(nbformat.writes(notebook()))
    nb["metadata"]["deep"] = json.loads("[" * 500 + "]" * 500)
    (line,) = problems(write(tmp_path, nb))
    assert "nested more than" in line


def nested(levels: int) -> Any:
    """``levels`` of lists and objects in turn, one inside the other: [{"x": [{"x": ...}]}]."""
    value: Any = []
    for level in range(levels - 1):
        value = {"x": value} if level % 2 == 0 else [value]
    return value


@pytest.mark.parametrize(("levels", "accepted"), [(MAX_DEPTH - 2, True), (MAX_DEPTH - 1, False)])
def test_the_depth_limit_counts_objects_and_lists_alike_from_the_top(
    tmp_path: Path, levels: int, accepted: bool
) -> None:
    # The notebook is level 1 and its metadata level 2: MAX_DEPTH - 2 levels in it reach the limit exactly.
    nb = json.loads(nbformat.writes(notebook()))
    nb["metadata"]["deep"] = nested(levels)
    result = outcome(write(tmp_path, nb))
    if accepted:
        assert isinstance(result, ValidNotebook), result
    else:
        assert isinstance(result, InvalidNotebook)
        assert result.problems == [
            f"the JSON in the file is nested more than {MAX_DEPTH} levels deep, which no real notebook is; "
            "submit the file as Jupyter saved it"
        ]


def test_a_byte_that_is_not_utf8_is_placed_by_line_and_column(tmp_path: Path) -> None:
    (line,) = problems(write(tmp_path, b'{\n  "cells": [],\n  "x\xffy": 1\n}\n'))
    assert line.startswith("the file is not UTF-8 text (byte 0xff at line 3, column 5); ")


def test_a_json_value_error_is_quoted_as_it_is(tmp_path: Path) -> None:
    text = nbformat.writes(notebook()).replace('"execution_count": null', '"execution_count": -Infinity')
    assert problems(write(tmp_path, text)) == [
        "the file is not valid JSON (-Infinity is not a JSON value); submit the file as Jupyter saved it"
    ]


@pytest.mark.parametrize(("minor", "shown"), [(-1, "-1"), ("5", "'5'"), (True, "True"), (4.5, "4.5")])
def test_a_minor_version_that_is_not_a_whole_number_from_0_is_refused(tmp_path: Path, minor: Any, shown: str) -> None:
    nb = json.loads(nbformat.writes(notebook()))
    nb["nbformat_minor"] = minor
    (line,) = problems(write(tmp_path, nb))
    assert line.startswith(f"the `nbformat_minor` field must be a whole number such as 5, not {shown}"), line


def test_an_nbformat_4_0_notebook_is_read(tmp_path: Path) -> None:
    nb = json.loads(nbformat.writes(notebook()))
    nb["nbformat_minor"] = 0
    for cell in nb["cells"]:
        del cell["id"]  # ids came with 4.5
    assert isinstance(outcome(write(tmp_path, nb)), ValidNotebook)


def test_a_path_that_cannot_be_opened_says_why(tmp_path: Path) -> None:
    # Not a NUL byte: a name longer than the file system allows.
    assert problems(tmp_path / ("a" * 300 + ".ipynb")) == [
        "the file cannot be read (File name too long); submit a plain notebook file"
    ]


def test_nesting_just_under_the_limit_is_fine(tmp_path: Path) -> None:
    nb = json.loads(nbformat.writes(notebook()))
    nb["metadata"]["deep"] = json.loads("[" * (MAX_DEPTH - 3) + "]" * (MAX_DEPTH - 3))
    assert isinstance(outcome(write(tmp_path, nb)), ValidNotebook)


@pytest.mark.parametrize(
    ("content", "kind"), [("[1, 2]", "a list"), ('"notebook"', "a string"), ("42", "a number"), ("null", "null")]
)
def test_json_that_is_not_an_object(tmp_path: Path, content: str, kind: str) -> None:
    (line,) = problems(write(tmp_path, content))
    assert line.startswith(f"the file is JSON but not a notebook: it holds {kind}, not an object")


def test_binary_garbage(tmp_path: Path) -> None:
    garbage = random.Random(20261128).randbytes(64 * 1024)
    (line,) = problems(write(tmp_path, garbage))
    assert "not UTF-8" in line


def test_missing_nbformat_key(tmp_path: Path) -> None:
    nb = json.loads(nbformat.writes(notebook()))
    del nb["nbformat"]
    (line,) = problems(write(tmp_path, nb))
    assert line.startswith("the file has no `nbformat` field, so it is not a Jupyter notebook")


@pytest.mark.parametrize(("version", "expected"), [("4", "must be a whole number"), (5, "nbformat 5 is not"),
                                                   (0, "nbformat 0 is not"), (1, "nbformat 1 (IPython")])  # fmt: skip
def test_unknown_nbformat_versions(tmp_path: Path, version: Any, expected: str) -> None:
    nb = json.loads(nbformat.writes(notebook()))
    nb["nbformat"] = version
    assert expected in problems(write(tmp_path, nb))[0]


def test_missing_minor_version_is_taken_as_current(tmp_path: Path) -> None:
    nb = json.loads(nbformat.writes(notebook()))
    del nb["nbformat_minor"]
    for cell in nb["cells"]:
        del cell["id"]
    assert isinstance(outcome(write(tmp_path, nb)), ValidNotebook)


def test_schema_problems_name_the_cell(tmp_path: Path) -> None:
    nb = json.loads(nbformat.writes(notebook([nbformat.v4.new_markdown_cell("# hi"), nbformat.v4.new_code_cell("1")])))
    nb["cells"][1]["execution_count"] = "one"
    nb["cells"][0]["cell_type"] = "comment"
    lines = problems(write(tmp_path, nb))
    assert lines[0].startswith(
        "cell 1 (comment): 'comment' is not a cell type of nbformat 4 (use code, markdown or raw)"
    )
    assert lines[1].startswith("cell 2 (code): `execution_count` should be")


def test_bad_output_says_to_clear_outputs(tmp_path: Path) -> None:
    nb = json.loads(nbformat.writes(notebook()))
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout"}]
    (line,) = problems(write(tmp_path, nb))
    assert line.startswith("cell 1 (code), output 1: ")
    assert line.endswith("clear the outputs (Edit → Clear Outputs of All Cells) and save the notebook again")


def test_many_schema_problems_are_capped(tmp_path: Path) -> None:
    nb = json.loads(nbformat.writes(notebook([nbformat.v4.new_code_cell(str(i)) for i in range(30)])))
    for cell in nb["cells"]:
        cell["execution_count"] = "x"
    lines = problems(write(tmp_path, nb))
    assert len(lines) == 11
    assert lines[-1] == "... and more problems of the same kind"


def test_hostile_strings_stay_on_one_line(tmp_path: Path) -> None:
    nb = json.loads(nbformat.writes(notebook()))
    nb["cells"][0]["cell_type"] = "x\r\nFake error:\n" + "y" * 500
    nb["metadata"]["kernelspec"] = {"name": "evil\nkernel", "language": "brain\nfuck", "display_name": "x"}
    lines = problems(write(tmp_path, nb, "a\nb.ipynb"))
    assert all(len(line) < 400 for line in lines)


def test_no_code_cells(tmp_path: Path) -> None:
    nb = notebook([nbformat.v4.new_markdown_cell("# My solution")])
    assert problems(write(tmp_path, nb)) == [
        "the notebook has no code cell with code in it; add the code that writes your predictions and save the notebook"
    ]


def test_only_empty_code_cells(tmp_path: Path) -> None:
    nb = notebook([nbformat.v4.new_code_cell(""), nbformat.v4.new_code_cell("  \n\t\n")])
    assert "no code cell with code in it" in problems(write(tmp_path, nb))[0]


# --- the kernel ----------------------------------------------------------------------------


def test_r_kernel_is_refused(tmp_path: Path) -> None:
    nb = notebook(kernelspec={"name": "ir", "display_name": "R", "language": "R"}, language_info={"name": "R"})
    assert problems(write(tmp_path, nb)) == [
        "this competition runs Python 3 notebooks; this one asks for the 'ir' kernel (R). "
        "Write your solution in Python and choose the Python 3 kernel (Kernel → Change Kernel)"
    ]


def test_known_kernel_name_without_language_is_refused(tmp_path: Path) -> None:
    nb = notebook(kernelspec={"name": "julia-1.10", "display_name": "Julia 1.10"})
    assert "the 'julia-1.10' kernel (Julia)" in problems(write(tmp_path, nb))[0]


def test_language_info_alone_is_enough_to_refuse(tmp_path: Path) -> None:
    nb = notebook(language_info={"name": "scala"})
    assert "asks for the scala language" in problems(write(tmp_path, nb))[0]


@pytest.mark.parametrize(
    "metadata",
    [
        {"kernelspec": {"name": "python2", "display_name": "Python 2", "language": "python"}},
        {"kernelspec": {"name": "conda-env-ml-py", "display_name": "ml", "language": "python"}},
        {"kernelspec": {"name": "my-venv", "display_name": "mine"}},
        {"kernelspec": {"language": "python"}},  # incomplete: replaced anyway
        {"kernelspec": "python3"},  # broken: replaced anyway
        {"language_info": {"name": "plaintext"}},  # VS Code without a kernel
        {},
    ],
)
def test_python_or_unspecified_kernels_are_replaced_by_python3(tmp_path: Path, metadata: dict[str, Any]) -> None:
    nb = json.loads(nbformat.writes(notebook()))
    nb["metadata"] = metadata
    result = validate(write(tmp_path, nb), max_size=MiB)
    assert result.node.metadata.kernelspec.name == "python3"
    assert result.node.metadata.language_info.name == "python"
    nbformat.validate(result.node)


def test_the_file_is_not_modified(tmp_path: Path) -> None:
    nb = notebook(kernelspec={"name": "python2", "display_name": "Python 2", "language": "python"})
    path = write(tmp_path, nb)
    before = path.read_bytes()
    validate(path, max_size=MiB)
    assert path.read_bytes() == before


def test_nul_in_the_path(tmp_path: Path) -> None:
    assert "file name is not valid" in problems(tmp_path / "a\0b.ipynb")[0]


def mutations(base: Any, rng: random.Random) -> Any:
    """``base`` with one to three values replaced by values of other types, or deleted."""
    values = [None, 1, -1, 2**70, 1.5, "", "x\ny", "ir", [], {}, [1], {"a": 1}, True, "code", "stream", 3, 4, 5]
    paths: list[tuple[Any, ...]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(base, ())]
    while stack:
        node, path = stack.pop()
        paths.append(path)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        stack.extend((child, (*path, key)) for key, child in children)
    nb = json.loads(json.dumps(base))
    for path in rng.sample(paths[1:], k=min(len(paths) - 1, rng.randint(1, 3))):
        parent = nb
        try:
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict) and rng.random() < 0.2:
                del parent[path[-1]]
            else:
                parent[path[-1]] = json.loads(json.dumps(rng.choice(values)))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed this path
    return nb


@pytest.mark.parametrize(
    "path",
    [
        *sources("formats/v4_5_ids.ipynb", "nbformat/test4.5.ipynb"),
        *sources("formats/v3.ipynb", "nbformat/test3.ipynb"),
        *sources("formats/v4_outputs.ipynb", "nbclient/Output.ipynb"),
    ],
)
def test_mutated_notebooks_give_problems_not_tracebacks(tmp_path: Path, path: Path) -> None:
    base = json.loads(path.read_text(encoding="utf-8"))
    rng = random.Random(f"{path.parent.name}/{path.name}")
    for _ in range(150):
        result = outcome(write(tmp_path, mutations(base, rng)))
        if isinstance(result, InvalidNotebook):
            assert result.problems and all("\n" not in line for line in result.problems)
            assert not any("cannot be read as nbformat" in line for line in result.problems), result.problems
