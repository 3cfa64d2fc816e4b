"""The papermill engine that runs a notebook's cells for :mod:`grader.execute`.

papermill, nbclient and jupyter_client take about a second to import, so only
:func:`grader.execute._run` imports this module, when a notebook is about to run. Everything
the grader decides (the kernel's command and environment, the limits, the verdict) comes
from the :class:`grader.execute.Run` passed in; this module is the papermill side of it.
Read it top-down:

- :func:`run_cells` runs the notebook and says how it stopped;
- :class:`GraderEngine` builds the client with the grader's settings (never trust tags);
- :class:`GraderClient` runs the cells one by one
  (:meth:`GraderClient.papermill_execute_cells`), reads every message of the shell channel
  (:func:`watch_shell`: a second reply to one request is forged), asks one last
  ``kernel_info`` after the last cell (:meth:`GraderClient.confirm`) and caps the outputs
  while they arrive;
- :class:`GraderKernelManager` starts the forced kernel: confined, in the scratch folder,
  with a scrubbed environment.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.v4 import new_output

if TYPE_CHECKING:
    import nbformat

    from grader.execute import Run, Stop

log = logging.getLogger(__name__)

ENGINE_NAME = "grader"
STARTUP_TIMEOUT = 60  # seconds for the kernel to answer its first kernel_info
IOPUB_GRACE = 10  # seconds to wait for a cell's last outputs after its reply


@contextmanager
def _without_pygithub() -> Iterator[None]:
    """papermill imports PyGithub for its github:// notebook paths, which the grader never
    uses: half a second on every run. Make that optional import fail, for papermill only."""
    hidden = "github" not in sys.modules
    if hidden:
        sys.modules["github"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if hidden:
            del sys.modules["github"]


with _without_pygithub():
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines


def run_cells(executed: nbformat.NotebookNode, run: Run, output_path: Path, progress: bool) -> tuple[Stop, str]:
    """Execute ``executed`` in place; how it stopped, and the exception's text when that was unexpected.

    Returns with the kernel maybe still alive: killing everything is the caller's job.
    """
    register()
    try:
        papermill_engines.execute_notebook_with_engine(
            ENGINE_NAME,
            executed,
            run.kernel_name,
            output_path=str(output_path),  # papermill saves as cells finish: evidence if we die
            progress_bar=progress,
            grader_run=run,
        )
    except CellExecutionError:
        return "error", ""  # the reply was recorded by the hook
    except CellTimeoutError:
        return "cell_timeout", ""
    except DeadKernelError:
        return "dead", ""
    except Exception as ex:
        stop: Stop = "dead" if run.ready and not run.kernel_alive() else "crash" if run.ready else "start_failed"
        if stop == "crash":
            log.exception("grader: unexpected error while executing the notebook")
        return stop, f"{type(ex).__name__}: {ex}" if str(ex) else type(ex).__name__
    return "end", ""


@functools.cache
def register() -> None:
    """Register (once) the engine with papermill."""
    papermill_engines.register(ENGINE_NAME, GraderEngine)


class GraderEngine(NBClientEngine):  # type: ignore[misc]
    """What papermill calls with the notebook: one :class:`GraderClient` per run, set up by the grader."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        run: Run = kwargs["grader_run"]
        limits = run.limits
        client = GraderClient(
            nb_man,
            kernel_name=kernel_name,
            kernel_manager_class=GraderKernelManager,
            timeout=max(1, math.ceil(limits.cell_timeout)),
            startup_timeout=max(1, math.ceil(min(STARTUP_TIMEOUT, limits.run_timeout))),
            interrupt_on_timeout=False,
            # Never trust tags: no cell is skipped (an unguessable tag), every error counts.
            skip_cells_with_tag=f"grader-never-{secrets.token_hex(16)}",
            force_raise_errors=True,
            allow_errors=False,
            allow_error_names=[],
            # A flood can delay a cell's last outputs: missing outputs are no failure.
            iopub_timeout=IOPUB_GRACE,
            raise_on_iopub_timeout=False,
            shutdown_kernel="immediate",
            coalesce_streams=True,
            record_timing=True,
            log=log.getChild("nbclient"),
            on_notebook_start=run.on_notebook_start,
            on_cell_execute=run.on_cell_execute,
            on_cell_executed=run.on_cell_executed,
        )
        client.grader_run = run
        return client.execute()


class GraderClient(PapermillNotebookClient):  # type: ignore[misc]
    """papermill's client, minus trust in tags and outputs; see the module docstring."""

    grader_run: Run

    def execute(self, **kwargs: Any) -> Any:
        # papermill's execute, minus its final kernel_info round trip (a dead or hostile
        # kernel would make it wait); the language is known: the kernel is forced.
        run = self.grader_run
        self.reset_execution_trackers()
        with self.setup_kernel(**kwargs):
            self.papermill_execute_cells()
            if not run.stopped and not run.limit_hit and not run.expired:
                self.confirm()
            run.alive_at_end = run.kernel_alive()
        if run.native:
            self.nb.metadata["language_info"] = _python_language_info(run.environment.version)
        return self.nb

    def papermill_execute_cells(self) -> None:
        """The cells in order, until one fails or asks to stop (exit() leaves the kernel up)."""
        for index, cell in enumerate(self.nb.cells):
            if self.grader_run.stopped:
                break
            try:
                self.nb_man.cell_start(cell, index)
                self.execute_cell(cell, index)
            except CellExecutionError as ex:
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=ex)
                break
            finally:
                self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)

    async def _async_confirm(self) -> None:
        # One request after the last cell: its reply comes after every real reply before
        # it, so a forged reply to the last cell shows up on the way (Run.on_shell_message).
        run = self.grader_run
        try:
            await self.kc.kernel_info(reply=True, timeout=run.confirm_timeout)
        except (TimeoutError, RuntimeError, OSError):
            run.unconfirmed = run.kernel_alive()  # a dead kernel is judged as dead

    confirm = run_sync(_async_confirm)

    def create_kernel_manager(self) -> Any:
        km = super().create_kernel_manager()
        km.grader_run = self.grader_run
        root = self.grader_run.scratch.root
        # IPC sockets in the scratch folder, not TCP: they keep working once the kernel is
        # in its own network namespace, and nothing else on the machine can connect.
        km.transport = "ipc"
        km.ip = str(root / "kernel")
        km.connection_file = str(root / "kernel.json")
        return km

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()
        watch_shell(kc.shell_channel, self.grader_run)
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    async def _async_cleanup_kernel(self) -> None:
        # Kill the whole tree while the kernel is still alive: once it is dead its children
        # are orphans, and one that called setsid() could no longer be found.
        self.grader_run.kill_while_alive()
        await super()._async_cleanup_kernel()

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    # --- outputs, counted against the run's budget as they arrive ---

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        budget = self.grader_run.budget
        size = _size(msg.get("content"))
        if budget.fits(size):
            budget.spend(size)
            return super().output(outs, msg, display_id, cell_index)
        if budget.cut:
            return None
        content = msg.get("content") or {}
        if msg.get("msg_type") == "stream" and isinstance(content.get("text"), str) and budget.remaining:
            text = content["text"]
            head = _utf8_head(text, budget.remaining * len(text) // max(1, _size(text)))
            budget.spend(_size(head))
            super().output(outs, {**msg, "content": {**content, "text": head}}, display_id, cell_index)
        budget.cut = True
        outs.append(new_output("display_data", data={"text/plain": budget.note()}))  # type: ignore[no-untyped-call]
        return None

    def handle_comm_msg(self, outs: list[Any], msg: dict[str, Any], cell_index: int) -> None:
        # Widget state is stored in the notebook too: same budget, silently dropped.
        size = _size(msg.get("content"))
        if self.grader_run.budget.fits(size):
            self.grader_run.budget.spend(size)
            super().handle_comm_msg(outs, msg, cell_index)

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        size = _size(msg.get("content"))
        if self.grader_run.budget.fits(size):
            self.grader_run.budget.spend(size)
            super()._update_display_id(display_id, msg)


class GraderKernelManager(AsyncKernelManager):
    """Launches the forced kernel through :func:`grader.sandbox.confine`, in the scratch folder, scrubbed."""

    grader_run: Run

    @property
    def kernel_spec(self) -> KernelSpec:
        # The kernel is forced: no kernelspec is looked up on disk (which also costs an
        # IPython import in the grader); format_kernel_cmd builds the command.
        if self.grader_run.native:
            return KernelSpec(argv=[], display_name="Python 3", language="python", metadata={}, env={})
        spec: KernelSpec = self.kernel_spec_manager.get_kernel_spec(self.kernel_name)
        return spec

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        run = self.grader_run
        if run.native:
            argv = run.native_argv(os.path.realpath(self.connection_file)) + list(extra_arguments or [])
        else:
            argv = super().format_kernel_cmd(extra_arguments)
        return run.command(argv)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        run = self.grader_run
        run.own_connection_file(self.connection_file)
        kw.update(
            env=run.kernel_env(),
            cwd=str(run.scratch.work),
            stdout=run.output.write_fd,
            stderr=subprocess.STDOUT,
        )
        await super()._async_launch_kernel(kernel_cmd, **kw)
        run.output.close_writer()
        run.launched(self.provisioner.process)  # type: ignore[union-attr]


def watch_shell(channel: Any, run: Run) -> None:
    """Show ``run`` every message read from the kernel's shell channel, whoever reads it."""
    get_msg = channel.get_msg

    async def watched_get_msg(*args: Any, **kwargs: Any) -> dict[str, Any]:
        msg: dict[str, Any] = await ensure_async(get_msg(*args, **kwargs))
        run.on_shell_message(msg)
        return msg

    channel.get_msg = watched_get_msg


def _python_language_info(version: str) -> dict[str, Any]:
    return {
        "name": "python",
        "version": version,
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "pygments_lexer": "ipython3",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "nbconvert_exporter": "python",
    }


def _size(value: Any) -> int:
    """About the bytes ``value`` takes in the saved notebook (JSON escapes included),
    without serialising a possibly huge message."""
    if isinstance(value, str):
        raw = len(value) if value.isascii() else len(value.encode("utf-8", "replace"))
        escaped = value.count("\n") + value.count('"') + value.count("\\") + 5 * value.count("\x1b")
        return raw + escaped
    if isinstance(value, dict):
        return sum(_size(k) + _size(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return 8


def _utf8_head(text: str, limit: int) -> str:
    return text.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore")
