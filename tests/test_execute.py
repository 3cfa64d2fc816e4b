"""grader.execute: real kernels, small notebooks built here, short limits."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import conftest
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import result as result_io
from grader.config import Limits
from grader.execute import (
    CellReply,
    Trace,
    execute,
    judge,
)
from grader.result import Result
from grader.sandbox import confine

LIMITS = Limits(cell_timeout=3, run_timeout=12, memory=2 * 1024**3, max_output=200_000)

slow = pytest.mark.slow


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "public-data"
    folder.mkdir()
    (folder / "train.csv").write_text("id,x,label\n1,0.5,1\n2,0.1,0\n3,0.9,1\n")
    return folder


def notebook(*sources: str, tags: dict[int, list[str]] | None = None) -> nbformat.NotebookNode:
    cells = [new_code_cell(source) for source in sources]
    for index, cell_tags in (tags or {}).items():
        cells[index].metadata["tags"] = cell_tags
    nb = new_notebook(cells=cells)
    # A kernelspec the grader must ignore.
    nb.metadata["kernelspec"] = {"name": "evil-kernel", "display_name": "Evil", "language": "python"}
    return nb


def run(
    nb: nbformat.NotebookNode,
    tmp_path: Path,
    data_dir: Path | None = None,
    limits: Limits = LIMITS,
    max_predictions_size: int = 1024**2,
    **kwargs: Any,
) -> tuple[Result, Path]:
    """Execute and check what every run must leave behind, whatever happened."""
    out = tmp_path / "out"
    result = execute(
        nb,
        out,
        notebook_name="submission.ipynb",
        notebook_sha256="0" * 64,
        data_dir=data_dir or tmp_path,
        predictions_name="predictions.csv",
        limits=limits,
        max_predictions_size=max_predictions_size,
        **{"environment": conftest.notebook_environment(), **kwargs},
    )
    assert (out / "executed.ipynb").is_file()
    nbformat.read(out / "executed.ipynb", as_version=4)  # valid JSON notebook
    assert (out / "log.txt").is_file()
    assert result_io.read(out) == result
    assert result.cells_total == sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())
    return result, out


def executed_cells(out: Path) -> list[Any]:
    return nbformat.read(out / "executed.ipynb", as_version=4).cells


def stdout_of(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def is_dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # a zombie only waits to be reaped by its new parent


# --- with a kernel ---------------------------------------------------------------------------------


@slow
def test_success_reads_data_and_copies_predictions(tmp_path: Path, data_dir: Path) -> None:
    nb = notebook(
        "import os, pandas as pd\ndf = pd.read_csv('data/train.csv')\nprint(len(df), os.getcwd())",
        "df[['id']].assign(label=1).to_csv('predictions.csv', index=False)",
    )
    nb.cells.insert(1, new_markdown_cell("# a heading"))
    result, out = run(nb, tmp_path, data_dir, run_id="run-1")
    assert result.status == "completed", result.error
    assert result.error is None
    assert (result.run_id, result.notebook, result.cells_total, result.cells_executed) == (
        "run-1",
        "submission.ipynb",
        2,
        2,
    )
    assert result.predictions == "predictions.csv"
    assert (out / "predictions.csv").read_text() == "id,label\n1,1\n2,1\n3,1\n"
    rows, cwd = stdout_of(executed_cells(out)[0]).split()
    assert rows == "3"
    assert not Path(cwd).exists()  # the scratch folder is gone
    executed = nbformat.read(out / "executed.ipynb", as_version=4)
    assert executed.metadata.kernelspec.name == "python3"
    assert "3 " in (out / "log.txt").read_text()


@slow
def test_cell_raises(tmp_path: Path) -> None:
    result, out = run(notebook("x = 1", "raise ValueError('bad')", "print('never')"), tmp_path)
    assert result.status == "failed"
    assert result.error is not None
    assert (result.error.type, result.error.message, result.error.cell_index) == (
        "ValueError",
        "cell 2 raised ValueError: bad",
        1,
    )
    assert result.cells_executed == 2
    assert executed_cells(out)[2].outputs == []


@slow
def test_long_error_message_is_truncated(tmp_path: Path) -> None:
    result, _ = run(notebook("raise RuntimeError('x' * 5000)"), tmp_path)
    assert result.error is not None and result.error.type == "RuntimeError"
    assert len(result.error.message) < 400


@slow
def test_hidden_traceback_still_fails(tmp_path: Path) -> None:
    nb = notebook("get_ipython().showtraceback = lambda *a, **k: None\nraise ValueError('hidden')", "print('after')")
    result, out = run(nb, tmp_path)
    assert result.status == "failed"
    assert result.error is not None
    assert (result.error.type, result.error.message) == ("ValueError", "cell 1 raised ValueError: hidden")
    assert executed_cells(out)[0].outputs == []  # nothing shown, yet judged from the reply


@slow
def test_raises_exception_tag_does_not_excuse_an_error(tmp_path: Path) -> None:
    nb = notebook("raise KeyError('k')", "print('after')", tags={0: ["raises-exception"]})
    result, _ = run(nb, tmp_path)
    assert result.status == "failed"
    assert result.error is not None and result.error.type == "KeyError" and result.error.cell_index == 0


@slow
def test_skip_execution_tag_still_runs(tmp_path: Path) -> None:
    nb = notebook("ran = True", "print(ran)", tags={0: ["skip-execution"]})
    result, out = run(nb, tmp_path)
    assert result.status == "completed", result.error
    assert stdout_of(executed_cells(out)[1]) == "True\n"


@slow
@pytest.mark.parametrize(
    ("source", "how"),
    [
        ("import sys; sys.exit(0)", "SystemExit(0)"),
        ("raise SystemExit", "SystemExit"),
        ("exit()", "exit()"),
        ("quit()", "exit()"),
        ("import os; os._exit(0)", "exited with code 0"),
    ],
)
def test_stopping_itself_fails(tmp_path: Path, source: str, how: str) -> None:
    result, out = run(notebook("x = 1", source, "print('after')"), tmp_path)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.type == "SystemExit"
    assert result.error.cell_index == 1
    assert "stopped itself in cell 2" in result.error.message and how in result.error.message
    assert "run to the end" in result.error.message
    assert executed_cells(out)[2].outputs == []  # exit() keeps the kernel alive: we still stop


@slow
def test_kernel_killing_itself(tmp_path: Path) -> None:
    result, _ = run(notebook("print(1)", "import os\nos.kill(os.getpid(), 9)"), tmp_path)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.type == "DeadKernel"
    assert result.error.message.startswith("the kernel died in cell 2")
    assert result.error.cell_index == 1
    assert result.extra["kernel_exit_code"] == -9


@slow
def test_cell_timeout(tmp_path: Path) -> None:
    limits = Limits(cell_timeout=2, run_timeout=30, memory=LIMITS.memory)
    # No clock here: had the per-cell limit not stopped the cell, the whole-run limit (30 s) would
    # have, with another verdict (RunTimeout).
    result, _ = run(notebook("print(1)", "import time\ntime.sleep(60)"), tmp_path, limits=limits)
    assert result.status == "timeout"
    assert result.error is not None
    assert result.error.type == "CellTimeout"
    assert result.error.message == "cell 2 ran longer than the 2 s limit per cell"
    assert result.error.cell_index == 1


@slow
def test_run_timeout_kills_a_kernel_that_ignores_signals(tmp_path: Path) -> None:
    limits = Limits(cell_timeout=30, run_timeout=4, memory=LIMITS.memory)
    nb = notebook(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)",
        "import subprocess\nprint(subprocess.Popen(['sleep', '300'], start_new_session=True).pid)",
        "while True:\n    pass",
    )
    # The per-cell limit (30 s) would give CellTimeout: RunTimeout proves the whole-run limit ended it.
    result, out = run(nb, tmp_path, limits=limits)
    assert is_dead(int(stdout_of(executed_cells(out)[1])))
    assert result.status == "timeout"
    assert result.error is not None
    assert result.error.type == "RunTimeout"
    assert result.error.message == "the notebook ran longer than the 4 s limit for the whole run (stopped in cell 3)"
    assert result.error.cell_index == 2
    assert result.cells_executed == 2


@slow
@pytest.mark.parametrize(
    "source",
    ["x = bytearray(3 * 2**30)", "import numpy as np\nx = np.ones(3 * 2**30 // 8)"],
    ids=["bytearray", "numpy"],
)
def test_memory_bomb(tmp_path: Path, source: str) -> None:
    result, _ = run(notebook("print(1)", source), tmp_path)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.type == "MemoryError"
    assert result.error.message == "ran out of memory (limit 2 GiB) in cell 2"


@slow
def test_memory_limit_leaves_room_for_normal_work(tmp_path: Path) -> None:
    # RLIMIT_AS at 2 GiB fails here (numpy+sklearn reserve ~1.8 GB of address space).
    nb = notebook(
        "import numpy as np, pandas as pd\nfrom sklearn.linear_model import LogisticRegression",
        "x = np.ones(2**27)\nprint(x.nbytes // 2**20)",  # 1 GiB
    )
    result, out = run(nb, tmp_path, limits=Limits(cell_timeout=30, run_timeout=60, memory=LIMITS.memory))
    assert result.status == "completed", result.error
    assert stdout_of(executed_cells(out)[1]) == "1024\n"


@slow
def test_output_flood_is_capped(tmp_path: Path) -> None:
    limits = Limits(cell_timeout=20, run_timeout=30, memory=LIMITS.memory, max_output=50_000)
    nb = notebook(
        "for i in range(200_000):\n    print(i)", "print('second cell')\nopen('predictions.csv', 'w').write('x')"
    )
    result, out = run(nb, tmp_path, limits=limits)
    assert result.status == "completed", result.error
    assert result.extra["output_truncated"] is True
    assert (out / "executed.ipynb").stat().st_size < 50_000 + 10_000
    assert (out / "log.txt").stat().st_size < 50_000 + 70_000
    first, second = executed_cells(out)
    assert stdout_of(first).startswith("0\n1\n2\n")
    notes = [o for o in first.outputs if o.output_type == "display_data"]
    assert len(notes) == 1 and "Output cut here" in notes[0].data["text/plain"]
    assert second.outputs == []  # dropped: the budget is for the whole notebook
    assert result.predictions == "predictions.csv"  # the notebook itself kept running


@slow
def test_predictions_symlink_is_refused(tmp_path: Path, data_dir: Path) -> None:
    result, out = run(notebook("import os\nos.symlink('data/train.csv', 'predictions.csv')"), tmp_path, data_dir)
    assert result.status == "completed"
    assert result.predictions is None
    assert "symbolic link" in result.extra["predictions_problem"]
    assert not (out / "predictions.csv").exists()


@slow
def test_predictions_too_large_are_not_copied(tmp_path: Path) -> None:
    result, out = run(notebook("open('predictions.csv', 'w').write('x' * 5000)"), tmp_path, max_predictions_size=1000)
    assert result.status == "completed"
    assert result.predictions is None
    assert "larger than" in result.extra["predictions_problem"]
    assert not (out / "predictions.csv").exists()


@slow
def test_environment_is_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("GRADER_TRUTH", "/secret/truth.csv")
    nb = notebook(
        "import os\n"
        "assert not {'GITHUB_TOKEN', 'HF_TOKEN', 'GRADER_TRUTH'} & set(os.environ)\n"
        "assert os.environ['HOME'] != os.path.expanduser('~root')\n"
        "assert 'secret' not in repr(os.environ)\n"
        "print(os.environ['PYTHONHASHSEED'])"
    )
    result, out = run(nb, tmp_path)
    assert result.status == "completed", result.error
    assert stdout_of(executed_cells(out)[0]) == "0\n"


@slow
def test_no_process_of_the_kernel_survives(tmp_path: Path) -> None:
    nb = notebook(
        "import subprocess\n"
        "a = subprocess.Popen(['sleep', '300'])\n"
        "b = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        "print(a.pid, b.pid)"
    )
    result, out = run(nb, tmp_path)
    assert result.status == "completed", result.error
    pids = [int(p) for p in stdout_of(executed_cells(out)[0]).split()]
    assert len(pids) == 2
    assert all(is_dead(pid) for pid in pids)


@slow
def test_unknown_kernel_fails_cleanly(tmp_path: Path) -> None:
    result, _ = run(notebook("print(1)"), tmp_path, kernel_name="no-such-kernel")
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.type == "KernelStartError"
    assert "could not start" in result.error.message and "no-such-kernel" in result.error.message


@slow
def test_kernel_that_cannot_start_in_its_memory(tmp_path: Path) -> None:
    limits = Limits(cell_timeout=3, run_timeout=12, memory=16 * 1024**2)
    result, _ = run(notebook("print(1)"), tmp_path, limits=limits)
    assert result.status == "failed"
    assert result.error is not None and result.error.type == "KernelStartError"


def test_bad_predictions_name_is_a_failed_result_not_a_traceback(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = execute(
        notebook("print(1)"),
        out,
        notebook_name="n.ipynb",
        notebook_sha256="0",
        data_dir=tmp_path,
        predictions_name="../escape.csv",
        limits=LIMITS,
        max_predictions_size=10,
        environment=conftest.notebook_environment(),
    )
    assert result.status == "failed"
    assert result.error is not None and result.error.type == "InternalError"
    assert (out / "executed.ipynb").is_file() and (out / "result.json").is_file()


# --- notebooks that break a kernel in known ways: ours (tests/notebooks/kernels/), and nbclient's own --------

EXPECTED = {
    "stdin": ("failed", "StdinNotImplementedError"),
    "zero_division": ("failed", "ZeroDivisionError"),
    "raises_with_tag": ("failed", "Exception"),
    "skip_execution_tag": ("completed", None),
    "kills_itself": ("failed", "DeadKernel"),
    "sleeps_too_long": ("timeout", "CellTimeout"),
    "clear_output": ("completed", None),
    "update_display": ("completed", None),
    "history": ("completed", None),
    "rich_outputs": ("completed", None),
    "widget_state": ("completed", None),
    "comm": ("completed", None),
}
# nbclient's notebooks in the shared corpus; the others there must only end in a verdict.
CORPUS_EXPECTED = {
    "Autokill": ("failed", "DeadKernel"),
    "Disable_Stdin": ("failed", "StdinNotImplementedError"),
    "Error": ("failed", "ZeroDivisionError"),
    "Interrupt": ("timeout", "CellTimeout"),
    "Skip_Exceptions": ("failed", "Exception"),
    "Skip_Exceptions_with_Cell_Tags": ("failed", "Exception"),
    "Skip_Execution_with_Cell_Tag": ("completed", None),
    "HelloWorld": ("completed", None),
    "Check_History_in_Memory": ("completed", None),
    "Clear_Output": ("completed", None),
    "update-display-id": ("completed", None),
    "Sleep1s": ("completed", None),
    "Empty_Cell": ("completed", None),
    "Factorials": ("completed", None),
    "Inline_Image": ("failed", "FileNotFoundError"),  # reads python.png, which it does not ship
    "JupyterWidgets": ("failed", "ModuleNotFoundError"),  # ipywidgets is not in the demo's environment
    "Other_Comms": ("completed", None),
    "Output": ("failed", "ModuleNotFoundError"),  # ipywidgets again
    "Parallel_Execute_A": ("failed", "KeyError"),  # needs a variable nbclient's own test sets
    "Parallel_Execute_B": ("failed", "KeyError"),
    "SVG": ("completed", None),
    "Unicode": ("completed", None),
    "UnicodePy3": ("completed", None),
}
KERNEL_LIMITS = Limits(cell_timeout=2, run_timeout=10, memory=2 * 1024**3, max_output=100_000)


def corpus_notebooks() -> list[Path]:
    found = []
    for path in conftest.corpus_notebooks("nbclient/*.ipynb"):
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("nbformat") == 4:
                found.append(path)
        except (ValueError, UnicodeDecodeError):
            continue
    return found


def test_our_kernel_notebooks_are_all_expected() -> None:
    assert sorted(p.stem for p in (conftest.NOTEBOOKS / "kernels").glob("*.ipynb")) == sorted(EXPECTED)


@slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_our_kernel_notebook(tmp_path: Path, name: str) -> None:
    path = conftest.NOTEBOOKS / "kernels" / f"{name}.ipynb"
    result, _ = run(nbformat.read(path, as_version=4), tmp_path, limits=KERNEL_LIMITS)
    status, error_type = EXPECTED[name]
    assert (result.status, result.error.type if result.error else None) == (status, error_type), result.error


@slow
@conftest.corpus
@pytest.mark.parametrize("path", corpus_notebooks(), ids=lambda p: p.stem)
def test_corpus_notebook(tmp_path: Path, path: Path) -> None:
    result, _ = run(nbformat.read(path, as_version=4), tmp_path, limits=KERNEL_LIMITS)
    # Every corpus notebook has its pinned verdict: a new one must be added here, not pass unchecked.
    assert path.stem in CORPUS_EXPECTED, f"pin the verdict of {path.name} in CORPUS_EXPECTED"
    status, error_type = CORPUS_EXPECTED[path.stem]
    assert (result.status, result.error.type if result.error else None) == (status, error_type), result.error


# --- without a kernel ---------------------------------------------------------------------------

ok = CellReply(0, "ok")


@pytest.mark.parametrize(
    ("trace", "status", "type_", "message"),
    [
        (Trace(cells_total=1, replies=(ok,)), "completed", None, None),
        (Trace(cells_total=2, replies=(ok,)), "failed", "Incomplete", "only 1 of the 2 code cells ran"),
        (
            Trace(cells_total=2, replies=(ok, CellReply(3, "error", "_ArrayMemoryError", "Unable"))),
            "failed",
            "MemoryError",
            "ran out of memory (limit 2 GiB) in cell 4",
        ),
        (
            Trace(cells_total=2, replies=(ok,), stop="dead", running=4, returncode=-9, kernel_output="MemoryError"),
            "failed",
            "MemoryError",
            "ran out of memory (limit 2 GiB) in cell 5",
        ),
        (
            Trace(cells_total=1, replies=(ok,), alive_at_end=False, returncode=-11),
            "failed",
            "DeadKernel",
            "the kernel died in cell 1 (killed by SIGSEGV)",
        ),
        (
            Trace(cells_total=3, stop="dead", running=2, run_expired=True),
            "timeout",
            "RunTimeout",
            "the notebook ran longer than the 3 min limit for the whole run (stopped in cell 3)",
        ),
        (
            Trace(cells_total=3, stop="start_failed", run_expired=True),
            "timeout",
            "RunTimeout",
            "the notebook ran longer than the 3 min limit for the whole run (stopped before its first cell ran)",
        ),
        (
            Trace(cells_total=3, replies=(ok,), stop="cell_timeout", running=1),
            "timeout",
            "CellTimeout",
            "cell 2 ran longer than the 60 s limit per cell",
        ),
        (
            # An error reply wins over a watchdog that fired while the kernel was being stopped.
            Trace(cells_total=3, replies=(CellReply(0, "error", "ValueError", "v"),), stop="error", run_expired=True),
            "failed",
            "ValueError",
            "cell 1 raised ValueError: v",
        ),
    ],
)
def test_judge(trace: Trace, status: str, type_: str | None, message: str | None) -> None:
    limits = Limits(cell_timeout=60, run_timeout=180, memory=2 * 1024**3)
    verdict = judge(trace, limits)
    assert verdict.status == status
    assert (verdict.error.type if verdict.error else None) == type_
    assert (verdict.error.message if verdict.error else None) == message


NO_NETWORK = "Notebooks run without network: read the competition's files from data/ and download or install nothing "
MISSING = (
    "is not in this competition's environment: the packages notebooks can use are listed on the competition's "
    "site (How to submit) and by `grader env list`; ask the organisers if you need another one."
)


def failed(ename: str, evalue: str, index: int = 2) -> Trace:
    return Trace(cells_total=3, replies=(ok, CellReply(index, "error", ename, evalue)), stop="error")


@pytest.mark.parametrize(
    ("trace", "type_", "message"),
    [
        (
            failed("ModuleNotFoundError", "No module named 'xgboost'"),
            "ModuleNotFoundError",
            f"cell 3 raised ModuleNotFoundError: No module named 'xgboost'. xgboost {MISSING}",
        ),
        (
            failed("ModuleNotFoundError", "No module named 'torch.nn'"),
            "ModuleNotFoundError",
            f"cell 3 raised ModuleNotFoundError: No module named 'torch.nn'. torch {MISSING}",
        ),
        (  # a message that does not name a module the usual way is quoted as it is
            failed("ModuleNotFoundError", "[link](http://x) is missing"),
            "ModuleNotFoundError",
            "cell 3 raised ModuleNotFoundError: [link](http://x) is missing",
        ),
        (
            replace(failed("ModuleNotFoundError", "No module named 'xgboost'"), installs=(0,)),
            "ModuleNotFoundError",
            f"cell 3 raised ModuleNotFoundError: No module named 'xgboost'. xgboost {MISSING} Installing packages "
            "in the notebook (cell 1) cannot work: notebooks run without network.",
        ),
        (  # an install cell after the failing one is not why it failed
            replace(failed("ModuleNotFoundError", "No module named 'xgboost'"), installs=(4,)),
            "ModuleNotFoundError",
            f"cell 3 raised ModuleNotFoundError: No module named 'xgboost'. xgboost {MISSING}",
        ),
        (
            failed("URLError", "<urlopen error [Errno -3] Temporary failure in name resolution>"),
            "NoNetwork",
            "cell 3 tried to reach the network (URLError: <urlopen error [Errno -3] Temporary failure in name "
            f"resolution>). {NO_NETWORK}during the run.",
        ),
        (
            failed("OSError", "[Errno 101] Network is unreachable"),
            "NoNetwork",
            "cell 3 tried to reach the network (OSError: [Errno 101] Network is unreachable). "
            f"{NO_NETWORK}during the run.",
        ),
        (
            failed("ConnectionError", "HTTPSConnectionPool(host='x', port=443): Max retries exceeded"),
            "NoNetwork",
            "cell 3 tried to reach the network (ConnectionError: HTTPSConnectionPool(host='x', port=443): Max retries "
            f"exceeded). {NO_NETWORK}during the run.",
        ),
        (
            failed("FileNotFoundError", "[Errno 2] No such file or directory: '../datasets/penguins.csv'"),
            "FileNotFoundError",
            "cell 3 raised FileNotFoundError: [Errno 2] No such file or directory: '../datasets/penguins.csv'. "
            "The notebook runs in an empty folder that holds only the competition's files, in data/: read your "
            "input from data/ and create any other file in the notebook itself.",
        ),
        (  # other errors are not dressed up
            failed("OSError", "[Errno 13] Permission denied: 'data/x'"),
            "OSError",
            "cell 3 raised OSError: [Errno 13] Permission denied: 'data/x'",
        ),
    ],
)
def test_judge_names_what_a_notebook_written_elsewhere_lacks(trace: Trace, type_: str, message: str) -> None:
    verdict = judge(trace, Limits(cell_timeout=60, run_timeout=180, memory=2 * 1024**3))
    assert verdict.status == "failed" and verdict.error is not None
    assert (verdict.error.type, verdict.error.message, verdict.error.cell_index) == (type_, message, 2)


def test_confine_sets_the_memory_limit() -> None:
    probe = "import resource; print(resource.getrlimit(resource.RLIMIT_DATA))"
    done = subprocess.run(
        confine([sys.executable, "-c", probe], python=sys.executable, memory=512 * 1024**2),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"({512 * 1024**2}, {512 * 1024**2})"


def test_import_is_cheap() -> None:
    heavy = "('papermill', 'nbclient', 'jupyter_client', 'nbformat')"
    code = f"import sys, grader.execute; print(sorted(m for m in {heavy} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
