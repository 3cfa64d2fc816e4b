"""Attacks on the sandbox's limits: memory that is not a process's, disk that is not a file, a monitor to kill.

Each notebook is run by the real ``grader run`` command in both ways the sandbox exists:

- ``root``: the grader runs as root (as on this project's machines): bubblewrap without a user
  namespace, the kernel under a uid of its own; the run gets a cgroup when the machine allows
  one and a scratch folder that is a tmpfs of its own;
- ``user``: the grader runs as an unprivileged uid (the user-namespace path GitHub's runners
  take), with no cgroup of its own: the monitor alone counts shared memory and disk. The
  grader is started by ``setpriv`` inside a mount namespace of the test's (made with bwrap as
  root) where /root holds only the Python installation and the notebook environment cache it
  needs; nothing on the host changes.

Limits are small (256 MiB memory, 20 MiB disk) so the attacks are quick. Every test checks the
verdict, that no scratch folder (or tmpfs mount, or cgroup) is left behind, and that nothing
was printed raw.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import conftest
import nbformat
import pytest

from grader import cgroup, environment
from grader.execute import DISK_FULL, INTERNAL, MEMORY_ERROR

ROOT = conftest.ROOT
MODES = ("root", "user")
MEMORY = 256 * 1024**2
DISK = 20 * 1024**2
USER_UID = 1_700_000_000 + os.getpid() % 100_000
INSIDE = Path("/mnt/grader-test")  # where the unprivileged grader sees the test's folder

pytestmark = pytest.mark.slow


@dataclass
class Outcome:
    result: dict[str, Any]
    stderr: str
    tmp: Path  # the grader's TMPDIR, as the test sees it

    @property
    def type(self) -> str | None:
        error = self.result.get("error")
        return error["type"] if error else None

    @property
    def message(self) -> str:
        error = self.result.get("error")
        return error["message"] if error else ""

    @property
    def report(self) -> Any:
        return self.result.get("_report")


def competition(folder: Path) -> Path:
    """The demo competition with small limits, in ``folder``."""
    text = (ROOT / "competition.yaml").read_text(encoding="utf-8")
    for old, new in (("memory: 2 GiB", "memory: 256 MiB"), ("disk: 200 MiB", "disk: 20 MiB"),
                     ("run_timeout: 3m", "run_timeout: 90s"), ("cell_timeout: 60s", "cell_timeout: 80s")):  # fmt: skip
        assert old in text
        text = text.replace(old, new)
    text = text.replace("predictions: predictions.csv", "predictions: report.csv")
    folder.mkdir(parents=True)
    for name in ("data", "environment", "examples"):
        (folder / name).symlink_to(ROOT / name)
    (folder / "competition.yaml").write_text(text, encoding="utf-8")
    return folder / "competition.yaml"


def prepare(tmp_path: Path, mode: str, cells: tuple[str, ...]) -> tuple[Path, Path]:
    """(the test's folder for the grader, what the grader calls it)."""
    base = tmp_path / "g"
    for sub in ("home", "tmp", "out"):
        (base / sub).mkdir(parents=True)
    competition(base / "comp")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells])
    nbformat.write(nb, base / "attack.ipynb")
    if mode == "user":
        for path in [base, *base.rglob("*")]:
            os.chown(path, USER_UID, USER_UID, follow_symlinks=False)
    return base, INSIDE


def command(mode: str, base: Path, *args: str) -> list[str]:
    """``grader ARGS`` as the mode runs it on the test's folder ``base``: as root here, or as an unprivileged uid."""
    seen = INSIDE
    grader = [sys.executable, "-m", "grader", "--config", str(seen / "comp" / "competition.yaml"), *args]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(seen / "home"),
        "TMPDIR": str(seen / "tmp"),
        "GRADER_CACHE_DIR": str(environment.cache_dir()),
        "LANG": "C.UTF-8",
    }
    # A mount namespace of the test's own (bwrap as root, nothing else unshared) shows the test's folder
    # at a short path: the kernel's sockets live in the scratch folder, and a socket's path is short.
    outer = ["bwrap", "--dev-bind", "/", "/", "--die-with-parent"]
    outer += ["--tmpfs", str(INSIDE.parent), "--bind", str(base), str(INSIDE), "--chdir", str(INSIDE)]
    if mode == "root":
        return [*outer, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *grader]
    cache = environment.cache_dir().resolve()
    pythons = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), conftest.notebook_environment().base}
    outer += ["--tmpfs", "/root"]
    for path in sorted({*pythons, cache}):
        if path.is_relative_to("/root"):  # /root is 0700: show only what the grader needs, with open parents
            for parent in reversed(path.parents):
                if parent.is_relative_to("/root") and parent != Path("/root"):
                    outer += ["--perms", "0755", "--dir", str(parent)]
            outer += ["--ro-bind", str(path), str(path)]
    user = ["setpriv", f"--reuid={USER_UID}", f"--regid={USER_UID}", "--clear-groups"]
    return [*outer, "--", *user, "env", "-i", *(f"{k}={v}" for k, v in env.items()), *grader]


def grade(tmp_path: Path, mode: str, *cells: str) -> Outcome:
    base, seen = prepare(tmp_path, mode, cells)
    argv = command(mode, base, "run", str(seen / "attack.ipynb"), "--out", str(seen / "out"), "--sandbox", "required")
    proc = subprocess.run(argv, cwd=base, capture_output=True, text=True, timeout=300)
    result = json.loads((base / "out" / "result.json").read_text(encoding="utf-8"))
    report = base / "out" / "report.csv"
    if report.is_file():
        result["_report"] = json.loads(report.read_text(encoding="utf-8"))
    outcome = Outcome(result, proc.stderr, base / "tmp")
    assert_clean(outcome)
    return outcome


def assert_clean(outcome: Outcome) -> None:
    """No traceback reached the user; no scratch folder, tmpfs mount or cgroup of ours is left."""
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert list(outcome.tmp.iterdir()) == [], list(outcome.tmp.iterdir())
    mounts = Path("/proc/self/mountinfo").read_text(encoding="utf-8")
    assert str(outcome.tmp) not in mounts
    assert leftover_cgroups() == []


def leftover_cgroups() -> list[str]:
    """Our cgroups whose grader is gone (a live one belongs to a run of someone else's test)."""
    found = []
    for controller in ("memory", "pids"):
        own = cgroup._own(controller)
        if own is not None:
            found += [p.name for p in own[1].glob(f"{cgroup.PREFIX}*") if not cgroup.owner_alive(p.name)]
    return found


def limited(outcome: Outcome, *allowed: str) -> None:
    assert outcome.result["status"] == "failed", outcome.result
    assert outcome.type in allowed, outcome.result


WRITE_REPORT = "import json; json.dump(seen, open('report.csv', 'w'))"


# --- 1. memory that is not a process's memory ---------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_memfd_written_past_the_limit(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import os, time
        held = []
        for i in range(40):  # each under the per-file limit (RLIMIT_FSIZE caps a memfd too)
            held.append(os.memfd_create(f"hoard{i}"))
            for _ in range(15):
                os.write(held[-1], b"x" * 2**20)
        time.sleep(60)
        """,
    )
    limited(outcome, MEMORY_ERROR)
    assert "ran out of memory (limit 256 MiB)" in outcome.message


@pytest.mark.parametrize("mode", MODES)
def test_a_memfd_mapped_then_closed(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import mmap, os, time
        areas = []
        for _ in range(30):
            fd = os.memfd_create("mapped")
            os.ftruncate(fd, 15 * 2**20)
            areas.append(mmap.mmap(fd, 15 * 2**20))
            os.close(fd)  # no descriptor left: only the mapping holds it
            for i in range(0, 15 * 2**20, 4096):
                areas[-1][i] = 1
        time.sleep(60)
        """,
    )
    limited(outcome, MEMORY_ERROR)


@pytest.mark.parametrize("mode", MODES)
def test_posix_shared_memory(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import time
        from multiprocessing import shared_memory
        blocks = []
        for _ in range(16):  # 240 MiB: within /dev/shm's size, each block under the per-file limit
            blocks.append(shared_memory.SharedMemory(create=True, size=15 * 2**20))
            blocks[-1].buf[:] = b"x" * (15 * 2**20)
        time.sleep(60)
        """,
    )
    limited(outcome, MEMORY_ERROR)


@pytest.mark.parametrize("mode", MODES)
def test_a_file_in_dev_shm_written_past_the_limit(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import time
        for i in range(40):
            with open(f"/dev/shm/hoard{i}", "wb") as f:
                f.write(b"x" * 15 * 2**20)
        time.sleep(60)
        """,
    )
    # The monitor (memory) or the tmpfs's size (full, seen as a disk limit) stops it: a limit either way.
    limited(outcome, MEMORY_ERROR, DISK_FULL)


@pytest.mark.parametrize("mode", MODES)
def test_sysv_shared_memory_kept_attached(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import ctypes, time
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        size = 300 * 2**20
        segment = libc.shmget(0, ctypes.c_size_t(size), 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
        assert segment >= 0, ctypes.get_errno()
        address = libc.shmat(segment, None, 0)
        ctypes.memset(address, 1, size)
        time.sleep(60)
        """,
    )
    limited(outcome, MEMORY_ERROR)


def test_sysv_shared_memory_detached_with_a_cgroup(tmp_path: Path) -> None:
    """Filled, then detached: no process holds it. Only the cgroup sees it (the grader as root, here)."""
    outcome = grade(
        tmp_path,
        "root",
        """
        import ctypes, time
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmat.restype = ctypes.c_void_p
        for _ in range(3):
            size = 200 * 2**20
            segment = libc.shmget(0, ctypes.c_size_t(size), 0o1600)
            address = libc.shmat(segment, None, 0)
            ctypes.memset(address, 1, size)
            libc.shmdt(ctypes.c_void_p(address))
        time.sleep(60)
        """,
    )
    limited(outcome, MEMORY_ERROR)


@pytest.mark.parametrize("mode", MODES)
def test_the_sandbox_root_and_dev_are_read_only_and_tmp_is_small(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import os
        seen = {}
        for path in ("/hoard", "/dev/hoard", "/usr/hoard"):
            try:
                open(path, "wb").write(b"x")
                seen[path] = "written"
            except OSError as ex:
                seen[path] = ex.strerror
        for path in ("/tmp", "/dev/shm"):
            st = os.statvfs(path)
            seen[path] = st.f_blocks * st.f_frsize
        """,
        WRITE_REPORT,
    )
    assert outcome.result["status"] == "completed", outcome.result
    seen = outcome.report
    assert seen["/hoard"] == seen["/dev/hoard"] == "Read-only file system", seen
    assert seen["/usr/hoard"] in ("Read-only file system", "Permission denied"), seen
    assert seen["/tmp"] <= 64 * 1024**2 and seen["/dev/shm"] <= MEMORY, seen


@pytest.mark.parametrize("mode", MODES)
def test_filling_tmp(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import time
        for i in range(40):
            open(f"/tmp/part{i}", "wb").write(b"x" * 10 * 2**20)
        time.sleep(60)
        """,
    )
    limited(outcome, MEMORY_ERROR, DISK_FULL)


# --- 2. disk that is not a file in the scratch folder -------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_deleted_files_still_open(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import os, time
        handles = []
        for i in range(8):  # each under the per-file limit, together far over the total
            f = open(f"ghost{i}", "wb")
            os.unlink(f"ghost{i}")
            f.write(b"x" * 15 * 2**20)
            f.flush()
            handles.append(f)
        time.sleep(60)
        """,
    )
    limited(outcome, DISK_FULL)
    assert outcome.message.startswith("wrote more than the 20 MiB allowed on disk")


@pytest.mark.parametrize("mode", MODES)
def test_fallocate_keep_size(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import ctypes, os, time
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("reserved", os.O_CREAT | os.O_WRONLY)
        FALLOC_FL_KEEP_SIZE = 1
        if libc.fallocate(fd, FALLOC_FL_KEEP_SIZE, ctypes.c_long(0), ctypes.c_long(512 * 2**20)) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        time.sleep(60)
        """,
    )
    limited(outcome, DISK_FULL)


@pytest.mark.parametrize("mode", MODES)
def test_the_fallocate_command_and_posix_fallocate(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import os, subprocess, time
        open("kept", "w").close()  # util-linux's fallocate -n does not create the file
        seen = {"command": subprocess.run(["fallocate", "-n", "-l", "512MiB", "kept"]).returncode}
        try:
            os.posix_fallocate(os.open("grown", os.O_CREAT | os.O_WRONLY), 0, 100 * 2**20)
            seen["posix"] = "allocated"
        except OSError as ex:
            seen["posix"] = ex.strerror
        time.sleep(5)  # time for the monitor to look (it adds up the disk once a second)
        """,
        WRITE_REPORT,
    )
    if mode == "root":  # the scratch tmpfs refuses both at once: nothing to stop
        assert outcome.result["status"] == "completed", outcome.result
        assert outcome.report["command"] != 0 and outcome.report["posix"] == "File too large", outcome.report
    else:  # the blocks fallocate reserved are counted, and the run stopped
        limited(outcome, DISK_FULL)


@pytest.mark.parametrize("mode", MODES)
def test_sparse_files_count_what_they_hold(tmp_path: Path, mode: str) -> None:
    sparse = """
        import os
        with open("sparse", "wb") as f:
            f.truncate(10 * 2**20)  # a hole within the per-file limit: no blocks
            f.write(b"x")
        """
    fine = grade(tmp_path / "fine", mode, sparse)
    assert fine.result["status"] == "completed", fine.result
    full = grade(
        tmp_path / "full",
        mode,
        """
        import time
        for i in range(3):
            with open(f"dense{i}", "wb") as f:
                f.truncate(15 * 2**20)
                f.write(b"x" * 10 * 2**20)  # holes, then 10 MiB of data each: 30 MiB held
        time.sleep(60)
        """,
    )
    limited(full, DISK_FULL)


# --- 3. a monitor that can be killed ------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_deep_folder_tree(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import os, time
        os.mkdir("deep"); os.chdir("deep")
        for _ in range(2000):
            os.mkdir("d" * 200)
            os.chdir("d" * 200)
        os.chdir("/")
        time.sleep(5)  # time for the monitor to look (five times a second)
        """,
    )
    if mode == "root":  # a tmpfs of its own: the file system counts, nothing is walked, nothing to stop
        assert outcome.result["status"] == "completed", outcome.result
    else:
        limited(outcome, INTERNAL)
        assert "nested more than" in outcome.message


@pytest.mark.parametrize("mode", MODES)
def test_a_huge_number_of_files(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import os, time
        os.mkdir("many")
        for i in range(120_000):
            os.close(os.open(f"many/{i}", os.O_CREAT | os.O_WRONLY))
        time.sleep(60)
        """,
    )
    limited(outcome, DISK_FULL)


@pytest.mark.parametrize("mode", MODES)
def test_names_symlink_loops_and_a_folder_nobody_may_read(tmp_path: Path, mode: str) -> None:
    outcome = grade(
        tmp_path,
        mode,
        """
        import os, time
        os.mkdir(b"odd\\xff\\n" + b"n" * 200)
        os.symlink("loop_a", "loop_b"); os.symlink("loop_b", "loop_a"); os.symlink("/", "root"); os.symlink("..", "up")
        os.mkdir("closed")
        for i in range(2):
            open(f"closed/part{i}", "wb").write(b"x" * 15 * 2**20)
        os.chmod("closed", 0)
        time.sleep(60)
        """,
    )
    # As root the file system counts the 30 MiB; unprivileged, the monitor cannot read the folder and stops the run.
    if mode == "root":
        limited(outcome, DISK_FULL)
    else:
        limited(outcome, INTERNAL)
        assert "cannot look into the notebook's folder 'closed' (Permission denied)" in outcome.message


@pytest.mark.parametrize("mode", MODES)
def test_a_grader_killed_mid_run_leaves_nothing_after_the_next_run(tmp_path: Path, mode: str) -> None:
    base, seen = prepare(
        tmp_path, mode, ("import subprocess; subprocess.run(['python', '-c', 'import time; time.sleep(120)'])",)
    )
    argv = command(mode, base, "run", str(seen / "attack.ipynb"), "--out", str(seen / "out"), "--sandbox", "required")
    proc = subprocess.Popen(argv, cwd=base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not any(b"sleep(120)" in _cmdline(p) for p in _descendants(proc.pid)):  # the cell runs
            assert time.monotonic() < deadline and proc.poll() is None, "the notebook never started"
            time.sleep(0.2)
        grader = next(p for p in _descendants(proc.pid) if _is_grader(p))
        os.kill(grader, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = list((base / "tmp").iterdir())
    assert left, "a grader killed mid-run leaves its scratch folder (this test's premise)"
    if mode == "root":
        assert cgroup._own("memory") is None or leftover_cgroups(), "and its cgroup"
    shutil.rmtree(base / "out")
    (base / "out").mkdir()
    if mode == "user":
        os.chown(base / "out", USER_UID, USER_UID)
    proc2 = subprocess.run(
        command(mode, base, "run", str(seen / "attack.ipynb"), "--out", str(seen / "out"), "--sandbox", "required",
                "--timeout", "5"),
        cwd=base, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert_clean(Outcome({}, proc2.stderr, base / "tmp"))


def _descendants(pid: int) -> list[int]:
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                raw = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            parents[int(name)] = int(raw[raw.rfind(b")") + 2 :].split()[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        todo += children
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _is_grader(pid: int) -> bool:
    cmdline = _cmdline(pid).split(b"\0")
    return b"-m" in cmdline and b"grader" in cmdline and not cmdline[0].endswith((b"bwrap", b"setpriv", b"env"))
