"""Adversarial notebooks against the sandbox: each guarantee of docs/sandbox.md, attacked.

Every notebook writes what it could see or do into ``report.json`` (copied out like a
predictions file), and the test checks the sandbox held. They run with real kernels in
real bubblewrap; a machine where bubblewrap cannot run fails these tests, it does not skip them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import conftest
import nbformat
import pytest

from grader import sandbox
from grader.config import Limits
from grader.execute import execute
from grader.result import Result

ROOT = conftest.ROOT
LIMITS = Limits(
    cell_timeout=30,
    run_timeout=40,
    memory=1024**3,
    max_output=256 * 1024,
    cpu_time=40,
    processes=64,
    disk=100 * 1024**2,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bwrap() -> str:
    path, reason = sandbox.availability()
    assert path is not None, f"the sandbox cannot run on this machine: {reason}. {sandbox.HOW_TO_INSTALL}"
    return path


def run(tmp_path: Path, bwrap: str, *cells: str, limits: Limits = LIMITS, report: str = "report.json") -> Result:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells])
    return execute(
        nb,
        tmp_path / "out",
        notebook_name="attack.ipynb",
        notebook_sha256="0" * 64,
        data_dir=ROOT / "data",
        predictions_name=report,
        limits=limits,
        max_predictions_size=10 * 1024**2,
        bwrap=bwrap,
        environment=conftest.notebook_environment(),
    )


def report(tmp_path: Path) -> Any:
    return json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))


WRITE_REPORT = """
import json
json.dump(seen, open("report.json", "w"))
"""


def test_a_normal_notebook_runs_reads_data_and_writes_predictions(tmp_path: Path, bwrap: str) -> None:
    result = run(
        tmp_path,
        bwrap,
        """
        import os, pandas as pd
        from sklearn.neighbors import KNeighborsClassifier
        train = pd.read_csv("data/train.csv")
        model = KNeighborsClassifier().fit(train.drop(columns=["id", "label"]), train["label"])
        seen = {"uid": os.getuid(), "cwd": os.getcwd(), "hostname": os.uname().nodename, "rows": len(train),
                "threads": os.environ["OMP_NUM_THREADS"]}
        """,
        WRITE_REPORT,
    )
    assert result.status == "completed", result.error
    assert result.extra["sandbox"] == "bubblewrap"
    seen = report(tmp_path)
    assert seen["rows"] == 1200 and seen["hostname"] == "sandbox"
    assert seen["uid"] != 0  # never root inside
    assert seen["threads"] == "1"  # limits.threads: the same on every machine


def test_no_network_not_even_the_hosts_loopback(tmp_path: Path, bwrap: str) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[object] = []
    server.settimeout(15)

    def accept() -> None:
        with contextlib.suppress(OSError):  # timed out or closed: nobody got through
            accepted.append(server.accept())

    listener = threading.Thread(target=accept, daemon=True)
    listener.start()
    result = run(
        tmp_path,
        bwrap,
        f"""
        import socket
        seen = {{}}
        for name, address in [("host_loopback", ("127.0.0.1", {port})), ("internet", ("1.1.1.1", 53)),
                              ("dns", ("pypi.org", 443))]:
            try:
                socket.create_connection(address, timeout=3).close()
                seen[name] = "connected"
            except OSError as ex:
                seen[name] = type(ex).__name__
        """,
        WRITE_REPORT,
    )
    server.close()
    assert result.status == "completed", result.error
    seen = report(tmp_path)
    assert "connected" not in seen.values(), seen
    assert not accepted


def test_the_truth_and_the_repository_are_invisible(tmp_path: Path, bwrap: str) -> None:
    # The home folder is looked at, never written to: inside, it may hold only what is bound on purpose.
    home = Path.home().resolve()
    # A file in the host's /tmp: the sandbox's /tmp is its own, so it must not be there.
    host_tmp = Path("/tmp") / f"grader-sandbox-test-{os.getpid()}"
    host_tmp.write_text("host tmp", encoding="utf-8")
    hidden = [
        ROOT / "examples" / "truth.csv",
        ROOT / "competition.yaml",
        ROOT / "grader" / "cli.py",
        ROOT / "README.md",
        host_tmp,
        Path("/etc/shadow"),
    ]
    # What the sandbox binds on purpose (the launcher, the notebook's Python): under /tmp when the
    # checkout or the cache lives there, so these paths and their parents may show in its /tmp.
    bound = [str(p.resolve()) for p in (sandbox.LAUNCHER, *conftest.notebook_environment().runtime_paths())]
    try:
        result = run(
            tmp_path,
            bwrap,
            f"""
            import os, sys
            python = {{os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}}
            seen = {{"found": [], "readable": [], "tmp": [], "home": []}}
            for folder, dirs, files in os.walk("/"):
                dirs[:] = [d for d in dirs if os.path.join(folder, d) not in ("/proc", "/sys", "/dev", "/usr", *python)]
                for name in files + dirs:
                    if any(word in name.lower() for word in ("truth", "leaderboard", "competition", "grader-sandbox")):
                        seen["found"].append(os.path.join(folder, name))
            for path in {[str(p) for p in hidden]!r}:
                try:
                    open(path).read()
                    seen["readable"].append(path)
                except OSError:
                    pass
            bound = {bound!r}
            for folder, dirs, files in os.walk({str(home)!r}):
                seen["home"] += [os.path.join(folder, name) for name in files + dirs]
                dirs[:] = [d for d in dirs if os.path.join(folder, d) not in bound]
            for folder, dirs, files in os.walk("/tmp"):
                for name in files + dirs:
                    seen["tmp"].append(os.path.join(folder, name))
                # Not into the run's own scratch folder, nor into what is bound on purpose.
                dirs[:] = [
                    d for d in dirs
                    if not (folder == "/tmp" and d.startswith("grader-run-")) and os.path.join(folder, d) not in bound
                ]
            """,
            WRITE_REPORT,
        )
    finally:
        host_tmp.unlink()
    assert result.status == "completed", result.error
    seen = report(tmp_path)
    assert seen["found"] == [] and seen["readable"] == [], seen
    # Nothing of the host's /tmp: only the run's scratch folder, and what is bound with the parents made for it.
    scratch = [p for p in seen["tmp"] if Path(p).parent == Path("/tmp") and Path(p).name.startswith("grader-run-")]
    assert len(scratch) <= 1, seen["tmp"]  # none when TMPDIR puts the scratch folder elsewhere
    allowed = {Path(b) for b in bound} | {parent for b in bound for parent in Path(b).parents}
    others = [p for p in seen["tmp"] if Path(p) not in allowed and not any(Path(p).is_relative_to(s) for s in scratch)]
    assert others == [], others
    assert [p for p in seen["home"] if Path(p) not in allowed] == [], seen["home"]


def test_environment_is_scrubbed(tmp_path: Path, bwrap: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "HF_TOKEN", "GRADER_TRUTH", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "s3cr3t-value")
    result = run(
        tmp_path,
        bwrap,
        """
        import os
        seen = {"env": dict(os.environ), "proc": open("/proc/self/environ", "rb").read().decode(errors="replace")}
        """,
        WRITE_REPORT,
    )
    assert result.status == "completed", result.error
    seen = report(tmp_path)
    assert "s3cr3t-value" not in json.dumps(seen)
    assert not {"GITHUB_TOKEN", "HF_TOKEN", "GRADER_TRUTH"} & set(seen["env"])


def test_no_view_of_other_processes(tmp_path: Path, bwrap: str) -> None:
    result = run(
        tmp_path,
        bwrap,
        """
        import os
        seen = [open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")
                for p in os.listdir("/proc") if p.isdigit()]
        """,
        WRITE_REPORT,
    )
    assert result.status == "completed", result.error
    commands = report(tmp_path)
    assert len(commands) < 10, commands
    assert not any("pytest" in c for c in commands)


def test_writes_outside_the_working_folder_fail(tmp_path: Path, bwrap: str) -> None:
    # New files only: if the sandbox failed, nothing of value would be overwritten.
    targets = {
        "data": "data/pwned.txt",
        "repository": str(ROOT / "pwned.txt"),
        "leaderboard": str(ROOT / "leaderboard" / "pwned.txt"),
        "venv": str(Path(sys.prefix) / "pwned.txt"),
        "usr": "/usr/pwned.txt",
        "etc": "/etc/pwned.txt",
        "root": "/pwned.txt",
    }
    result = run(
        tmp_path,
        bwrap,
        f"""
        import os
        seen = {{}}
        for name, path in {targets!r}.items():
            try:
                with open(path, "x") as handle:
                    handle.write("pwned")
                seen[name] = "written"
            except OSError as ex:
                seen[name] = type(ex).__name__
        open("scratch.txt", "w").write("fine")
        seen["own folder"] = open("scratch.txt").read()
        """,
        WRITE_REPORT,
    )
    assert result.status == "completed", result.error
    seen = report(tmp_path)
    assert seen.pop("own folder") == "fine"
    assert "written" not in seen.values(), seen
    host = [ROOT / "data" / "pwned.txt", *(Path(p) for name, p in targets.items() if name != "data")]
    assert [p for p in host if p.exists()] == []


def test_memory_bomb_in_one_process(tmp_path: Path, bwrap: str) -> None:
    limits = Limits(**{**LIMITS.__dict__, "memory": 512 * 1024**2})
    result = run(tmp_path, bwrap, "x = bytearray(3 * 2**30)", limits=limits)
    assert result.status == "failed"
    assert result.error is not None and result.error.message == "ran out of memory (limit 512 MiB) in cell 1"


def test_memory_bomb_spread_over_processes_is_stopped_by_the_total(tmp_path: Path, bwrap: str) -> None:
    # Each child stays under the per-process limit; together they pass it.
    limits = Limits(**{**LIMITS.__dict__, "memory": 768 * 1024**2})
    result = run(
        tmp_path,
        bwrap,
        """
        import os, time
        for _ in range(6):
            if os.fork() == 0:
                block = bytearray(300 * 2**20)  # touched: really used
                time.sleep(60)
                os._exit(0)
        time.sleep(60)
        """,
        limits=limits,
    )
    assert result.status == "failed", result
    assert result.error is not None and result.error.message == "ran out of memory (limit 768 MiB) in cell 1"


def test_fork_bomb_is_contained(tmp_path: Path, bwrap: str) -> None:
    # Every process of the bomb carries this name, so survivors can be found; it holds this test's
    # process id, so a bomb of another run of the suite on the same machine is never counted.
    name = f"bomb{os.getpid()}"[:15]
    result = run(
        tmp_path,
        bwrap,
        f"""
        import ctypes, os
        ctypes.CDLL(None).prctl(15, b"{name}")  # PR_SET_NAME, inherited by every fork
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """,
    )
    assert result.status in ("failed", "timeout")  # the message says why; when it ends depends on the load
    assert result.error is not None and "too many processes or threads (limit 64)" in result.error.message
    survivors = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
    assert survivors == []


def test_cpu_time_limit(tmp_path: Path, bwrap: str) -> None:
    limits = Limits(**{**LIMITS.__dict__, "cpu_time": 3.0})
    result = run(tmp_path, bwrap, "while True: pass", limits=limits)
    assert result.status == "timeout"
    assert result.error is not None and result.error.message == "used more than 3 s of CPU time in cell 1"


def test_a_loop_ignoring_every_signal_ends_at_the_whole_run_limit(tmp_path: Path, bwrap: str) -> None:
    limits = Limits(**{**LIMITS.__dict__, "run_timeout": 6.0, "cell_timeout": 120.0})
    result = run(
        tmp_path,
        bwrap,
        """
        import signal
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGXCPU, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        while True:
            pass
        """,
        limits=limits,
    )
    # No clock: only the whole-run limit can give this verdict (the per-cell one is 120 s).
    assert result.status == "timeout"
    assert result.error is not None and result.error.type == "RunTimeout", result.error


def test_output_flood_is_capped(tmp_path: Path, bwrap: str) -> None:
    result = run(tmp_path, bwrap, "for i in range(300_000): print('flood', i)")
    assert result.status == "completed", result.error
    assert result.extra["output_truncated"] is True
    assert (tmp_path / "out" / "executed.ipynb").stat().st_size < 2 * LIMITS.max_output


def test_disk_limits_per_file_and_in_total(tmp_path: Path, bwrap: str) -> None:
    big = run(tmp_path / "big", bwrap, "open('big.bin', 'wb').write(b'x' * 200 * 2**20)")
    assert big.error is not None and big.error.message == "wrote more than the 100 MiB allowed on disk in cell 1"
    many = run(
        tmp_path / "many",
        bwrap,
        """
        import time
        for i in range(40):
            open(f"part{i}.bin", "wb").write(b"x" * 5 * 2**20)
        time.sleep(30)
        """,
    )
    assert many.error is not None and many.error.message == "wrote more than the 100 MiB allowed on disk in cell 1"


def test_detached_processes_do_not_survive(tmp_path: Path, bwrap: str) -> None:
    marker = f"31337.{os.getpid()}"  # unique to this run of the suite: another run's processes never match
    result = run(
        tmp_path,
        bwrap,
        f"""
        import os, subprocess
        subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
        if os.fork() == 0:  # double fork + setsid: a daemon
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "{marker}"])
            os._exit(0)
        """,
    )
    assert result.status == "completed", result.error
    time.sleep(0.3)
    survivors = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True).stdout.split()
    assert survivors == []


def test_a_kernel_that_kills_itself(tmp_path: Path, bwrap: str) -> None:
    result = run(tmp_path, bwrap, "x = 1", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert result.status == "failed"
    assert result.error is not None and result.error.message == "the kernel died in cell 2 (killed by SIGKILL)"


def test_predictions_that_are_a_symlink_are_not_followed(tmp_path: Path, bwrap: str) -> None:
    result = run(tmp_path, bwrap, "import os; os.symlink('/etc/passwd', 'report.json')")
    assert result.predictions is None
    assert "symbolic link" in result.extra["predictions_problem"]
    assert not (tmp_path / "out" / "report.json").exists()


def grader(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


def test_a_notebook_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "link.ipynb"
    link.symlink_to(ROOT / "examples" / "submissions" / "alice" / "knn.ipynb")
    proc = grader("run", str(link), "--out", str(tmp_path / "out"), env=dict(os.environ))
    assert proc.returncode == 1
    assert "symbolic link" in proc.stderr


def test_required_sandbox_refuses_to_run_unconfined_and_auto_says_so_loudly(tmp_path: Path) -> None:
    notebook = ROOT / "examples" / "submissions" / "alice" / "knn.ipynb"
    no_bwrap = {  # bwrap is not on this PATH
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "GRADER_CACHE_DIR": os.environ["GRADER_CACHE_DIR"],
    }
    refused = grader("run", str(notebook), "--out", str(tmp_path / "a"), "--sandbox", "required", env=no_bwrap)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: this competition requires a sandbox, but bubblewrap (bwrap) is not")
    assert not (tmp_path / "a").exists()  # nothing ran

    in_ci = grader(
        "run", str(notebook), "--out", str(tmp_path / "b"), "--sandbox", "off", env={**no_bwrap, "CI": "true"}
    )
    assert in_ci.returncode == 2  # CI always requires it, whatever the command line says

    unconfined = grader("run", str(notebook), "--out", str(tmp_path / "c"), "--sandbox", "auto", env=no_bwrap)
    assert unconfined.returncode == 0, unconfined.stderr
    assert unconfined.stderr.startswith("WARNING: the notebook ran WITHOUT a sandbox (bubblewrap (bwrap) is not")
    assert json.loads((tmp_path / "c" / "result.json").read_text(encoding="utf-8"))["extra"]["sandbox"] == "none"
