"""The notebook's environment: the packages a competition declares, locked, built once.

A competition names a requirements file (``environment:`` in competition.yaml, by default
``environment/requirements.txt``); beside it, ``requirements.lock`` pins every package with
its hashes for Linux x86-64 and one Python version. :func:`lock` writes the lock with
``uv pip compile``; :func:`ensure` finds the virtual environment built from it in the cache
folder (by the lock's hash) or builds it with ``uv venv`` + ``uv pip sync``. The kernel runs
from that environment, never from the grader's own: a notebook can import exactly the
locked packages (and ``ipykernel``, which the lock always includes), nothing the grader
depends on, and nothing a teacher adds can break the grader.

An environment is built in its final folder under a lock file, and only the last step writes
its marker (``.grader-env.json``): a build that fails or is killed leaves a folder without a
marker, which the next build removes before starting again. A run never uses an environment
without its marker.

Building also prepares what packages would otherwise build on every run, because each run's
HOME starts empty: matplotlib's font cache is made once, in a home folder kept in the
environment (``.grader-home``) that every run starts from.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError

PLATFORM = "x86_64-manylinux_2_28"  # GitHub's ubuntu runners, Debian 12 and newer
KERNEL = "ipykernel"  # always locked: the kernel the grader talks to
BUILDER = "1"  # the way an environment is built: changing it rebuilds every cached one
MARKER = ".grader-env.json"
HOME_SKELETON = ".grader-home"
DEFAULT_REQUIREMENTS = "environment/requirements.txt"
LOCK_SUFFIX = ".lock"
MAX_FILE_BYTES = 1_000_000
UV_TIMEOUT = 900  # seconds for one uv command (a cold build downloads ~100 MB)

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)(\s*;[^\\]*)?\s*(\\)?$")
_HASH = re.compile(r"^\s+--hash=sha256:[0-9a-f]{64}\s*(\\)?$")
_HEADER = re.compile(r"^# (python|platform|requirements-sha256): (\S+)$")

# Run inside a new environment, with HOME set to its home skeleton: builds the caches that a
# run would otherwise build each time (the HOME of a run starts as a copy of the skeleton).
_WARM_UP = """
import importlib.util, sys
import ipykernel
if importlib.util.find_spec("matplotlib"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.font_manager
print(sys.base_prefix)
print(".".join(map(str, sys.version_info[:3])))
"""


class EnvironmentProblem(GraderError):
    """The competition's environment cannot be locked, read or built. The message says what to do."""

    exit_code = 2


@dataclass(frozen=True)
class Spec:
    """Where a competition's environment is declared: its requirements file and the lock beside it."""

    requirements: Path
    shown: str  # the requirements file as competition.yaml writes it

    @property
    def lock(self) -> Path:
        return self.requirements.with_suffix(LOCK_SUFFIX)

    @property
    def lock_shown(self) -> str:
        return str(Path(self.shown).with_suffix(LOCK_SUFFIX))


@dataclass(frozen=True)
class Lock:
    """A lock file, read and checked: the Python version, the platform and the pinned packages."""

    python: str  # major.minor
    platform: str
    requirements_sha256: str
    packages: tuple[tuple[str, str], ...]  # (name, version), in the lock's order
    text: str

    @property
    def key(self) -> str:
        """The environment's identity: what is installed and how. Names its cache folder."""
        digest = hashlib.sha256(f"{BUILDER}\n{self.python}\n{self.platform}\n{self.text}".encode())
        return digest.hexdigest()[:20]


@dataclass(frozen=True)
class Environment:
    """A built environment: the Python that runs the kernel and the folders it needs."""

    root: Path
    base: Path  # the Python installation the environment's interpreter comes from
    version: str  # the full Python version, e.g. 3.11.7
    packages: tuple[tuple[str, str], ...]

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def home(self) -> Path:
        """Copied into each run's HOME: the caches built with the environment."""
        return self.root / HOME_SKELETON

    def runtime_paths(self) -> list[Path]:
        """What the sandbox binds read-only so that the kernel can run: the environment and its Python."""
        paths = [self.root]
        if not self.base.is_relative_to(self.root):
            paths.append(self.base)
        return paths


# --- the declaration -------------------------------------------------------------------------------


def spec(root: Path, requirements: str | None) -> Spec:
    """The environment declared by a competition whose folder is ``root``."""
    shown = requirements or DEFAULT_REQUIREMENTS
    return Spec(requirements=(root / shown).resolve(), shown=shown)


def check_requirements(sp: Spec) -> list[str]:
    """The requirement lines of ``sp``, each checked to name a package from the index."""
    from packaging.requirements import InvalidRequirement, Requirement

    text = _read(sp.requirements, sp.shown, missing=_no_requirements(sp))
    lines: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        where = f"{sp.shown} line {number}"
        if line.startswith("-") or line.endswith("\\"):
            raise EnvironmentProblem(
                f"{where}: {_quoted(line)} is an option, not a package; write one package a line "
                "(e.g. `scikit-learn>=1.5`): options, other files and indexes are not supported."
            )
        try:
            requirement = Requirement(line)
        except InvalidRequirement as ex:
            raise EnvironmentProblem(
                f"{where}: {_quoted(line)} is not a package requirement ({ex}); write e.g. `pandas` or `numpy>=2`."
            ) from None
        if requirement.url:
            raise EnvironmentProblem(
                f"{where}: {_quoted(line)} installs from a URL; only packages from the package index can be "
                "locked with hashes: name the package and its version instead."
            )
        lines.append(line)
    return lines


def read_lock(sp: Spec) -> Lock:
    """The lock of ``sp``, checked against its requirements, its platform and its own format."""
    text = _read(sp.lock, sp.lock_shown, missing=f"{sp.lock_shown} does not exist: run `grader env lock` to write it.")
    requirements = _read(sp.requirements, sp.shown, missing=_no_requirements(sp))
    header: dict[str, str] = {}
    packages: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            if match := _HEADER.match(line):
                header[match.group(1)] = match.group(2)
            continue
        if match := _PIN.match(line):
            packages.append((match.group(1), match.group(2)))
        elif not _HASH.match(line):
            raise EnvironmentProblem(
                f"{sp.lock_shown} line {number}: {_quoted(line)} is not a pinned package or its hash; "
                "the lock is written by `grader env lock` and is not edited by hand: run it again."
            )
    for key in ("python", "platform", "requirements-sha256"):
        if key not in header:
            raise EnvironmentProblem(
                f"{sp.lock_shown} was not written by `grader env lock` (it has no `# {key}:` line): "
                "run `grader env lock` to write it."
            )
    if header["platform"] != PLATFORM:
        raise EnvironmentProblem(
            f"{sp.lock_shown} is locked for {header['platform']}, but notebooks run on {PLATFORM}: "
            "run `grader env lock` to lock it again."
        )
    if header["requirements-sha256"] != _sha256(requirements):
        raise EnvironmentProblem(
            f"{sp.shown} changed since {sp.lock_shown} was written: run `grader env lock` and commit both files."
        )
    if not packages:
        raise EnvironmentProblem(f"{sp.lock_shown} pins no package: run `grader env lock` to write it again.")
    if KERNEL not in {_normal(name) for name, _ in packages}:
        raise EnvironmentProblem(f"{sp.lock_shown} has no {KERNEL}: run `grader env lock` to write it again.")
    return Lock(header["python"], header["platform"], header["requirements-sha256"], tuple(packages), text)


# --- locking ----------------------------------------------------------------------------------------


def lock(sp: Spec, *, python: str | None = None) -> Lock:
    """Resolve ``sp``'s requirements (plus ipykernel) for :data:`PLATFORM` and write the lock beside them."""
    python = python or "{}.{}".format(*sys.version_info[:2])
    if not re.fullmatch(r"3\.\d{1,2}", python):
        raise EnvironmentProblem(f"--python {python!r}: give a Python version as major.minor, e.g. 3.11.")
    check_requirements(sp)
    requirements = _read(sp.requirements, sp.shown, missing=_no_requirements(sp))
    with tempfile.TemporaryDirectory(prefix="grader-lock-") as tmp:
        kernel = Path(tmp) / "kernel.in"
        kernel.write_text(KERNEL + "\n", encoding="utf-8")
        out = Path(tmp) / "out.lock"
        argv = ["pip", "compile", str(sp.requirements), str(kernel), "--generate-hashes", "--no-header"]
        argv += ["--no-annotate", "--python-version", python, "--python-platform", PLATFORM, "-o", str(out)]
        proc = _uv(argv)
        if proc.returncode != 0:
            raise EnvironmentProblem(_resolution_failure(sp, proc.stderr))
        pinned = out.read_text(encoding="utf-8")
    header = (
        f"# The notebook environment of this competition: every package, its version and its hashes.\n"
        f"# Written by `grader env lock` from {Path(sp.shown).name}; do not edit it by hand.\n"
        f"# python: {python}\n# platform: {PLATFORM}\n# requirements-sha256: {_sha256(requirements)}\n"
    )
    _write_atomic(sp.lock, header + pinned)
    return read_lock(sp)


def _resolution_failure(sp: Spec, stderr: str) -> str:
    """uv's explanation, pointed at the requirements line it is about when one is named."""
    text = "\n".join(line for line in stderr.strip().splitlines() if line.strip())
    reason = " ".join(text.replace("×", "").replace("╰─▶", "").split())[:600] or "uv gave no reason"
    lines = _read(sp.requirements, sp.shown, missing="").splitlines()
    for number, line in enumerate(lines, start=1):
        name = re.split(r"[\s<>=!~;\[]", line.strip(), maxsplit=1)[0]
        if name and not name.startswith("#") and re.search(rf"\b{re.escape(name)}\b", stderr, re.I):
            return (
                f"{sp.shown} line {number}: {_quoted(line.strip())} cannot be installed: {reason}. "
                "Fix the name or the version there, then run `grader env lock` again."
            )
    return f"{sp.shown} cannot be resolved: {reason}. Fix it, then run `grader env lock` again."


# The block of a Markdown page (docs/students.md) that `grader env lock` keeps equal to the lock.
LIST_START = "<!-- grader env list: start (written by `grader env lock`) -->"
LIST_END = "<!-- grader env list: end -->"


def refresh_package_list(page: Path, lk: Lock) -> bool:
    """Rewrite the package list between the markers of ``page`` from ``lk``; False when it has none."""
    from grader.render import packages

    try:
        text = page.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    start, end = text.find(LIST_START), text.find(LIST_END)
    if start < 0 or end < start:
        return False
    table = packages(lk.packages, python=lk.python, markdown=True)
    fresh = text[: start + len(LIST_START)] + "\n" + table + text[end:]
    if fresh != text:
        _write_atomic(page, fresh)
    return True


# --- building -----------------------------------------------------------------------------------------


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where built environments live: $GRADER_CACHE_DIR, else $XDG_CACHE_HOME/grader, else ~/.cache/grader."""
    if environ.get("GRADER_CACHE_DIR"):
        return Path(environ["GRADER_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "grader"


def folder(lk: Lock, cache: Path) -> Path:
    return cache / "envs" / lk.key


def find(lk: Lock, cache: Path) -> Environment | None:
    """The environment built from ``lk``, when a complete one is in ``cache``."""
    try:
        marker = json.loads((folder(lk, cache) / MARKER).read_text(encoding="utf-8"))
        if marker["key"] != lk.key:
            return None
        env = Environment(folder(lk, cache), Path(marker["base"]), marker["version"], lk.packages)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not env.python.exists():
        return None
    with contextlib.suppress(OSError):  # the marker's time says when a run last used it (see prune)
        os.utime(folder(lk, cache) / MARKER)
    return env


def ensure(sp: Spec, *, cache: Path | None = None, progress: bool = False) -> Environment:
    """The environment of ``sp``, built first when the lock changed since it was last built."""
    lk = read_lock(sp)
    cache = cache or cache_dir()
    return find(lk, cache) or build(lk, cache, progress=progress)


def check_machine(system: str | None = None, machine: str | None = None) -> None:
    """Raise :class:`EnvironmentProblem` on a machine the lock's wheels (:data:`PLATFORM`) cannot run on.

    Checked before uv is asked, whose answer would be about hashes and wheels, not about the machine.
    """
    import platform

    system = system or platform.system()
    machine = machine or platform.machine()
    if system == "Linux" and machine.lower() in ("x86_64", "amd64"):
        return
    raise EnvironmentProblem(
        f"notebooks run on Linux x86-64 (the grader's runners), and their packages are locked for it; this "
        f"machine is {system} {machine}. Check your notebook on Linux x86-64 (on Windows: WSL 2), or open the "
        "pull request: the evaluate check runs it exactly the same way and its summary shows the executed notebook."
    )


def build(lk: Lock, cache: Path, *, progress: bool = False) -> Environment:
    """Build the environment of ``lk`` in ``cache`` (or return the one another process just built)."""
    check_machine()
    target = folder(lk, cache)
    with _exclusive(target.with_name(target.name + ".building")):
        done = find(lk, cache)
        if done is not None:
            return done
        _remove(target)  # what a failed or killed build left
        try:
            return _build(lk, target, progress)
        except BaseException:
            _remove(target)
            raise


def _build(lk: Lock, target: Path, progress: bool) -> Environment:
    from tqdm import tqdm

    steps = ["creating the environment", f"installing {len(lk.packages)} packages", "preparing caches"]
    with tqdm(total=len(steps), disable=not progress, unit="step", leave=False, file=sys.stderr) as bar:
        bar.set_description(f"Notebook environment: {steps[0]}")
        python = _interpreter(lk.python)
        _uv_or_fail(["venv", "--python", python, "--no-python-downloads", "--no-project", str(target)], "create")
        bar.update()
        bar.set_description(f"Notebook environment: {steps[1]}")
        with tempfile.TemporaryDirectory(prefix="grader-lock-") as tmp:
            pinned = Path(tmp) / "requirements.lock"
            pinned.write_text(lk.text, encoding="utf-8")
            argv = ["pip", "sync", "--python", str(target / "bin" / "python"), "--require-hashes"]
            _uv_or_fail([*argv, "--compile-bytecode", str(pinned)], "install the locked packages into")
        bar.update()
        bar.set_description(f"Notebook environment: {steps[2]}")
        home = target / HOME_SKELETON
        home.mkdir()
        proc = subprocess.run(
            [str(target / "bin" / "python"), "-I", "-c", _WARM_UP],
            env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg"},
            cwd=home,
            capture_output=True,
            text=True,
            timeout=UV_TIMEOUT,
        )
        if proc.returncode != 0:
            raise EnvironmentProblem(
                f"the new environment cannot start a kernel: {_last_line(proc.stderr)}. "
                "Check the lock's packages (run `grader env lock` again) and try again."
            )
        base, version = proc.stdout.split()[-2:]
        if ".".join(version.split(".")[:2]) != lk.python:
            raise EnvironmentProblem(f"the environment got Python {version}, but the lock is for Python {lk.python}.")
        bar.update()
    marker = {"key": lk.key, "base": base, "version": version, "packages": len(lk.packages)}
    _write_atomic(target / MARKER, json.dumps(marker, indent=2) + "\n")
    return Environment(target, Path(base), version, lk.packages)


def _interpreter(version: str) -> str:
    """The grader's own Python when it is the lock's version; else let uv find that version here."""
    if "{}.{}".format(*sys.version_info[:2]) == version:
        return getattr(sys, "_base_executable", sys.executable)
    return version


def _uv_or_fail(argv: list[str], doing: str) -> None:
    proc = _uv(argv)
    if proc.returncode != 0:
        raise EnvironmentProblem(
            f"could not {doing} the notebook environment: {_last_line(proc.stderr)}. "
            "If the lock is for a Python version this machine lacks, install it or run `grader env lock` "
            "with this one; then run `grader env build` again."
        )


def _uv(argv: list[str]) -> subprocess.CompletedProcess[str]:
    from uv import find_uv_bin

    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env["UV_NO_CONFIG"] = "1"  # a user's uv.toml must not change what the competition locks or builds
    try:
        return subprocess.run(
            [find_uv_bin(), *argv],
            capture_output=True,
            text=True,
            timeout=UV_TIMEOUT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"uv did not finish within {UV_TIMEOUT} s: check the network and try again.") from None


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One builder at a time for one environment (other processes wait, then find it built)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove(target: Path) -> None:
    if target.exists() or target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)


# --- pruning -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cached:
    """An environment in the cache folder, complete or left by a build that did not finish."""

    root: Path
    complete: bool  # it has its marker
    last_used: float  # when a run last found it (its marker's time), else when it was made; epoch seconds
    size: int  # bytes of the files this environment alone holds (those hard-linked from uv's cache are not)

    @property
    def key(self) -> str:
        return self.root.name


def cached(cache: Path) -> list[Cached]:
    """The environments in ``cache``, least recently used first."""
    envs = cache / "envs"
    if not envs.is_dir():
        return []
    found = []
    for root in envs.iterdir():
        if not root.is_dir() or root.is_symlink():
            continue
        marker = root / MARKER
        complete = marker.is_file()
        with contextlib.suppress(OSError):
            last_used = (marker if complete else root).stat().st_mtime
            found.append(Cached(root, complete, last_used, _own_bytes(root)))
    return sorted(found, key=lambda env: env.last_used)


def prune(
    envs: list[Cached], *, keep: str | None, unused_for: float, now: float, dry_run: bool = False
) -> list[Cached]:
    """Remove the environments of ``envs`` (see :func:`cached`) that no run used for ``unused_for``
    seconds before ``now``.

    Never the one named ``keep`` (the current competition's lock key), nor one being built. An
    unfinished build is removed like an unused environment. Returns what was (or, with ``dry_run``,
    would be) removed.
    """
    removed = []
    for env in envs:
        if env.key == keep or now - env.last_used < unused_for:
            continue
        if dry_run:
            removed.append(env)
            continue
        with _unless_busy(env.root.with_name(env.key + ".building")) as free:
            if free:
                _remove(env.root)
                removed.append(env)
    return removed


@contextlib.contextmanager
def _unless_busy(path: Path) -> Iterator[bool]:
    """The build lock of an environment when nobody holds it (True), else nothing (False): never waits."""
    try:
        handle = open(path, "a+b")  # noqa: SIM115 - closed below, after the lock is released
    except OSError:
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _own_bytes(root: Path) -> int:
    """The size of the regular files under ``root`` that no other path links to."""
    total = 0
    for folder_path, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                info = os.lstat(os.path.join(folder_path, name))
                if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                    total += info.st_size
    return total


# --- small helpers ----------------------------------------------------------------------------------------


def _read(path: Path, shown: str, *, missing: str) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise EnvironmentProblem(f"{shown} is larger than {MAX_FILE_BYTES} bytes.")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing:
            raise EnvironmentProblem(missing) from None
        return ""
    except UnicodeDecodeError:
        raise EnvironmentProblem(f"{shown} is not UTF-8 text.") from None
    except OSError as ex:
        raise EnvironmentProblem(f"cannot read {shown} ({ex.strerror}).") from None


def _no_requirements(sp: Spec) -> str:
    return (
        f"{sp.shown} does not exist: write the packages notebooks may import there, one a line "
        "(see docs/competition.md, `environment`), then run `grader env lock`."
    )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _quoted(line: str) -> str:
    line = " ".join(line.split())
    return f"`{line[:80]}`" + ("…" if len(line) > 80 else "")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[-3:])[:400] if lines else "no message"
