"""Attacks on the verdict: a notebook that answers the grader's requests itself.

The kernel is the notebook's own process, so code in a cell can write to the kernel's shell
channel: an ``execute_reply`` saying ``ok`` sent before the real one (which says ``error``)
once made a failing cell look completed. These notebooks try it in several ways, with real
kernels: unconfined (in this process), and through the real ``grader run`` in both ways the
sandbox exists, as root and as an unprivileged uid (tests/test_attacks_limits.py's harness);
each must fail as a forged reply, and an honest notebook that touches nothing must still complete.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import conftest
import nbformat
import pytest
from test_attacks_limits import MODES, grade

from grader import execute as execute_module
from grader.config import Limits
from grader.execute import FORGED_REPLY, INCOMPLETE, CellReply, Trace, execute, judge
from grader.result import Result

LIMITS = Limits(cell_timeout=20, run_timeout=40, memory=2 * 1024**3, max_output=100_000)

# What a cell needs to answer for the kernel: the stream the kernel replies on, its session
# (which signs with the connection's key) and the request being answered.
FORGE = """
k = get_ipython().kernel
def forge(status="ok", parent=None):
    if k._supports_kernel_subshells:
        stream = k.shell_channel_thread.manager.get_subshell_to_shell_channel_socket(None)
    else:
        stream = k.shell_stream
    content = {"status": status, "execution_count": 1, "user_expressions": {}, "payload": []}
    k.session.send(stream, "execute_reply", content, parent or k.get_parent("shell"), ident=k._parent_ident["shell"])
"""

ATTACKS = {
    "ok-then-raise": ["x = 1", "forge()\nraise ValueError('wrong')", "y = 2"],
    "ok-then-raise-in-the-last-cell": ["x = 1", "forge()\nraise ValueError('wrong')"],
    "ok-then-raise-with-the-traceback-hidden": [
        "import IPython\nget_ipython().showtraceback = lambda *a, **k: None",
        "forge()\nraise ValueError('wrong')",
    ],
    "two-ok-replies-then-raise": ["forge()\nforge()\nraise ValueError('wrong')", "y = 2"],
    "ok-from-a-thread-while-the-cell-fails-later": [
        "import threading, time\n"
        "parent = k.get_parent('shell')\n"
        "threading.Thread(target=forge, kwargs={'parent': parent}).start()\n"
        "time.sleep(0.5)\n"
        "raise ValueError('wrong')",
        "y = 2",
    ],
    "idle-and-ok-then-keeps-running": [
        "k._publish_status('idle', 'shell')\nforge()\nimport time\ntime.sleep(1)\nraise ValueError('wrong')",
        "y = 2",
        "z = 3",
    ],
    "an-ok-reply-to-an-honest-cell": ["forge()", "y = 2"],
}


def run(tmp_path: Path, *cells: str) -> Result:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells])
    return execute(
        nb,
        tmp_path / "out",
        notebook_name="forger.ipynb",
        notebook_sha256="0" * 64,
        data_dir=tmp_path,
        predictions_name="predictions.csv",
        limits=LIMITS,
        max_predictions_size=1024,
        environment=conftest.notebook_environment(),
    )


def forging_cell(cells: list[str]) -> int:
    """The 0-based index, in the notebook, of the first cell that forges (after FORGE's cell)."""
    return next(i for i, c in enumerate(cells) if "forge(" in c or "target=forge" in c) + 1


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS)
def test_a_reply_the_notebook_sends_itself_fails_the_run(tmp_path: Path, attack: str) -> None:
    cells = ATTACKS[attack]
    result = run(tmp_path, FORGE, *cells)
    assert result.status == "failed", result
    assert result.error is not None
    assert result.error.type == FORGED_REPLY, result.error
    assert result.error.message.startswith(f"cell {result.error.cell_index + 1} answered the grader's request itself")
    assert result.error.cell_index == forging_cell(cells)  # the forging cell is named, not a later one


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("attack", ATTACKS)
def test_a_reply_forged_in_the_sandbox_fails_the_run(tmp_path: Path, mode: str, attack: str) -> None:
    cells = ATTACKS[attack]
    outcome = grade(tmp_path, mode, FORGE, *cells)  # checks nothing is left behind and nothing printed raw
    assert outcome.result["status"] == "failed", outcome.result
    assert outcome.type == FORGED_REPLY, outcome.result
    assert outcome.result["error"]["cell_index"] == forging_cell(cells)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_an_honest_notebook_that_uses_its_kernel_still_completes(tmp_path: Path, mode: str) -> None:
    # Reading the kernel's own state and printing from threads are not forgery.
    cells = [
        "k = get_ipython().kernel\nprint(type(k).__name__, k.get_parent('shell')['header']['msg_type'])",
        "import threading\nt = threading.Thread(target=print, args=('from a thread',))\nt.start(); t.join()",
        *(f"x{i} = {i}" for i in range(20)),
    ]
    outcome = grade(tmp_path, mode, *cells)
    assert (outcome.result["status"], outcome.type, outcome.result["cells_executed"]) == ("completed", None, 22)


@pytest.mark.slow
def test_a_kernel_that_stops_answering_after_the_last_cell_is_not_confirmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A forged reply to the last cell shows only in a later reply: a kernel that refuses to
    # give one cannot be confirmed, and is not judged completed.
    monkeypatch.setattr(execute_module, "CONFIRM_TIMEOUT", 1)
    silence = """
        async def silent(*args, **kwargs):
            pass
        get_ipython().kernel.shell_handlers['kernel_info_request'] = silent
    """
    result = run(tmp_path, "x = 1", silence)
    assert result.status == "failed", result
    assert result.error is not None and result.error.type == INCOMPLETE
    assert "did not answer the grader within 1 s after the last cell" in result.error.message


def test_judge_puts_a_forged_reply_before_every_reply() -> None:
    ok = tuple(CellReply(i, "ok") for i in range(3))
    verdict = judge(Trace(cells_total=3, replies=ok, forged=1), LIMITS)
    assert verdict.status == "failed"
    assert verdict.error is not None and (verdict.error.type, verdict.error.cell_index) == (FORGED_REPLY, 1)
    # Even when a reply says the notebook stopped itself, the forgery is what is reported.
    exited = (CellReply(0, "ok"), CellReply(1, "ok", asked_exit=True))
    verdict = judge(Trace(cells_total=3, replies=exited, forged=0), LIMITS)
    assert verdict.error is not None and verdict.error.type == FORGED_REPLY


def test_judge_does_not_complete_an_unconfirmed_run() -> None:
    ok = tuple(CellReply(i, "ok") for i in range(2))
    assert judge(Trace(cells_total=2, replies=ok), LIMITS).status == "completed"
    verdict = judge(Trace(cells_total=2, replies=ok, unconfirmed=True), LIMITS)
    assert verdict.status == "failed"
    assert verdict.error is not None and verdict.error.type == INCOMPLETE
