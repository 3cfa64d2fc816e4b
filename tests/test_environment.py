"""The notebooks' environment: the shipped lock, every refusal of a bad requirements file or lock,
a build that fails leaving nothing a run would use, and what a notebook can and cannot import."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import conftest
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader import config, environment, render
from grader.config import Limits
from grader.environment import EnvironmentProblem, Lock
from grader.execute import execute

ROOT = conftest.ROOT
SHIPPED = config.load(ROOT / "competition.yaml").environment
HASH = "--hash=sha256:" + "ab" * 32


def spec_in(tmp_path: Path, requirements: str, lock: str | None = None) -> environment.Spec:
    folder = tmp_path / "environment"
    folder.mkdir(exist_ok=True)
    (folder / "requirements.txt").write_text(requirements, encoding="utf-8")
    if lock is not None:
        (folder / "requirements.lock").write_text(lock, encoding="utf-8")
    return environment.spec(tmp_path, None)


def header(requirements: str, *, python: str = "3.11", platform: str = environment.PLATFORM) -> str:
    digest = environment._sha256(requirements)
    return f"# python: {python}\n# platform: {platform}\n# requirements-sha256: {digest}\n"


# -- the shipped environment ----------------------------------------------------------------------


def test_the_demo_locks_a_real_data_science_environment_for_the_workflows_python() -> None:
    lock = environment.read_lock(SHIPPED)  # also: the lock matches requirements.txt as it is now
    assert lock.python == "3.11"  # the Python of .github/actions/setup-grader and of the README
    assert 'python-version: "3.11"' in (ROOT / ".github" / "actions" / "setup-grader" / "action.yml").read_text()
    assert lock.platform == "x86_64-manylinux_2_28"
    names = {name for name, _ in lock.packages}
    assert {"numpy", "pandas", "scipy", "scikit-learn", "matplotlib", "seaborn", "ipykernel"} <= names
    assert not names & {"pygithub", "mkdocs", "cryptography", "papermill", "grader"}  # the grader's, not students'
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!]*", version) for _, version in lock.packages)


def test_students_read_the_package_list_written_from_the_lock() -> None:
    lock = environment.read_lock(SHIPPED)
    page = (ROOT / "docs" / "students.md").read_text(encoding="utf-8")
    block = page.split(environment.LIST_START)[1].split(environment.LIST_END)[0]
    assert block == "\n" + render.packages(lock.packages, python=lock.python, markdown=True)
    assert "| `scikit-learn` |" in block


def test_lock_refreshes_the_students_page_between_its_markers_only(tmp_path: Path) -> None:
    lock = Lock("3.11", environment.PLATFORM, "x", (("numpy", "2.0.0"), ("ipykernel", "7.0.0")), "")
    page = tmp_path / "students.md"
    page.write_text(f"# Intro\n\n{environment.LIST_START}\nold list\n{environment.LIST_END}\n\n## After\n")
    assert environment.refresh_package_list(page, lock)
    text = page.read_text()
    assert text.startswith("# Intro\n\n") and text.endswith(f"{environment.LIST_END}\n\n## After\n")
    assert "old list" not in text and "| `numpy` | 2.0.0 |" in text and "Python 3.11" in text
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    assert not environment.refresh_package_list(plain, lock) and plain.read_text() == "no markers\n"
    assert not environment.refresh_package_list(tmp_path / "missing.md", lock)


def test_the_site_shows_the_packages_on_the_submit_page(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from grader import site

    competition = config.load(ROOT / "competition.yaml")
    pages = site.render(site.snapshot(competition, now=datetime(2026, 12, 1, tzinfo=UTC), standings=[], histories={}))
    submit = pages.files["submit.md"]
    assert "## Packages" in submit and "**Python 3\\.11**" in submit
    for name, version in environment.read_lock(SHIPPED).packages:
        assert f"| <code>{name}</code> | {site.esc(version)} |" in submit


# -- bad requirements and locks: a clear message naming the line -----------------------------------


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("-e .", "line 2: `-e .` is an option, not a package"),
        ("--index-url https://example.org/simple", "line 2: `--index-url https://example.org/simple` is an option"),
        (
            "mypkg @ https://example.org/mypkg.whl",
            "line 2: `mypkg @ https://example.org/mypkg.whl` installs from a URL",
        ),
        ("numpy>=>2", "line 2: `numpy>=>2` is not a package requirement"),
    ],
)
def test_requirements_that_are_not_plain_packages_are_refused_naming_the_line(
    tmp_path: Path, line: str, says: str
) -> None:
    spec = spec_in(tmp_path, f"# packages\n{line}\npandas\n")
    with pytest.raises(EnvironmentProblem) as caught:
        environment.check_requirements(spec)
    assert str(caught.value).startswith("environment/requirements.txt " + says)


def test_plain_requirements_with_comments_and_markers_are_accepted(tmp_path: Path) -> None:
    spec = spec_in(tmp_path, "# c\nnumpy>=2  # arrays\n\nscikit-learn[alldeps]==1.5.0 ; python_version >= '3.10'\n")
    assert environment.check_requirements(spec) == [
        "numpy>=2",
        "scikit-learn[alldeps]==1.5.0 ; python_version >= '3.10'",
    ]


def test_a_missing_requirements_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match=r"environment/requirements.txt does not exist: write the packages"):
        environment.check_requirements(environment.spec(tmp_path, None))


def test_a_missing_lock_says_to_run_lock(tmp_path: Path) -> None:
    with pytest.raises(
        EnvironmentProblem, match=r"^environment/requirements.lock does not exist: run `grader env lock`"
    ):
        environment.read_lock(spec_in(tmp_path, "numpy\n"))


@pytest.mark.parametrize(
    ("lock", "says"),
    [
        (
            "numpy==2.0.0 \\\n    " + HASH + "\nipykernel==7.0.0\n",
            "was not written by `grader env lock` (it has no `# python:`",
        ),
        (
            header("numpy\n", platform="macosx_14_0_arm64") + "ipykernel==7.0.0\n",
            "is locked for macosx_14_0_arm64, but notebooks run on x86_64-manylinux_2_28",
        ),
        (header("pandas\n") + "ipykernel==7.0.0\n", "environment/requirements.txt changed since"),
        (header("numpy\n") + "--index-url https://evil.example/simple\nipykernel==7.0.0\n", "line 4: `--index-url"),
        (header("numpy\n") + "-e git+https://example.org/x.git#egg=x\n", "line 4: `-e git+https"),
        (header("numpy\n") + "numpy==2.0.0 \\\n    " + HASH + "\n", "has no ipykernel"),
        (header("numpy\n"), "pins no package"),
    ],
)
def test_a_lock_that_does_not_match_is_refused_with_what_to_do(tmp_path: Path, lock: str, says: str) -> None:
    with pytest.raises(EnvironmentProblem) as caught:
        environment.read_lock(spec_in(tmp_path, "numpy\n", lock))
    assert says in str(caught.value)
    assert "grader env lock" in str(caught.value)


def test_a_broken_lock_stops_a_run_before_the_notebook_starts(tmp_path: Path) -> None:
    from grader import demo

    comp = demo.scratch_copy(config.load(ROOT / "competition.yaml"), tmp_path / "comp")
    (comp.root / "environment" / "requirements.txt").write_text("numpy\nxgboost\n", encoding="utf-8")
    proc = conftest.run_grader(
        "run", str(ROOT / "examples" / "submissions" / "alice" / "knn.ipynb"), "--out", str(tmp_path / "out"),
        cwd=comp.root,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: environment/requirements.txt changed since environment/requirements.lock was written: "
        "run `grader env lock` and commit both files.\n"
    )
    assert not (tmp_path / "out").exists()  # nothing ran, nothing half-written


def test_a_package_that_does_not_exist_is_named_at_lock_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    spec = spec_in(tmp_path, "numpy\nsurely-not-a-package-grader-test-4711\n")
    with pytest.raises(EnvironmentProblem) as caught:
        environment.lock(spec)
    message = str(caught.value)
    assert message.startswith(
        "environment/requirements.txt line 2: `surely-not-a-package-grader-test-4711` cannot be installed:"
    )
    assert "run `grader env lock` again" in message
    assert not spec.lock.exists()  # no half-written lock


# -- building: never half-built ---------------------------------------------------------------------


def test_a_failed_build_leaves_nothing_a_run_would_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    cache = tmp_path / "cache"
    text = header("x\n") + "ipykernel==6.29.5 \\\n    " + HASH + "\n"  # a hash no file has
    lock = Lock("3.11", environment.PLATFORM, "x", (("ipykernel", "6.29.5"),), text)
    left = environment.folder(lock, cache)
    left.mkdir(parents=True)
    (left / "bin").mkdir()
    (left / "bin" / "python").write_text("what a killed build left")
    assert environment.find(lock, cache) is None  # no marker: never used
    with pytest.raises(EnvironmentProblem, match=r"^could not install the locked packages into the notebook env"):
        environment.build(lock, cache)
    assert not left.exists()
    assert environment.find(lock, cache) is None


def test_an_environment_is_found_by_its_lock_and_a_changed_lock_is_another_one(tmp_path: Path) -> None:
    lock = environment.read_lock(SHIPPED)
    built = environment.find(lock, environment.cache_dir())
    assert built is not None and built.python.is_file() and built.version.startswith("3.11.")
    assert (built.home / ".cache" / "matplotlib").is_dir()  # the font cache, built once
    other = Lock(lock.python, lock.platform, lock.requirements_sha256, lock.packages, lock.text + "\n")
    assert other.key != lock.key and environment.find(other, environment.cache_dir()) is None


def test_env_build_says_it_found_the_environment_and_lock_is_a_no_op_when_unchanged(tmp_path: Path) -> None:
    built = conftest.run_grader("env", "build", cwd=ROOT)
    assert built.returncode == 0, built.stderr
    assert re.fullmatch(
        r"Found the notebook environment \(\d+ packages, Python 3\.11\.\d+\) in \d+\.\d s: .+\n", built.stdout
    )
    listed = conftest.run_grader("env", "list", cwd=ROOT)
    assert listed.stdout.startswith("Python 3.11, ") and "\nscikit-learn " in listed.stdout


# -- what a notebook sees -----------------------------------------------------------------------------


LIMITS = Limits(cell_timeout=60, run_timeout=120, memory=2 * 1024**3)


def run(tmp_path: Path, *cells: str, sandboxed: bool = True) -> tuple[dict, nbformat.NotebookNode]:
    from grader import sandbox

    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    execute(
        nb, tmp_path / "out", notebook_name="n.ipynb", notebook_sha256="0" * 64, data_dir=ROOT / "data",
        predictions_name="predictions.csv", limits=LIMITS, max_predictions_size=1024**2,
        environment=conftest.notebook_environment(), bwrap=sandbox.choose("required") if sandboxed else None,
    )  # fmt: skip
    return json.loads((tmp_path / "out" / "result.json").read_text()), nbformat.read(
        tmp_path / "out" / "executed.ipynb", as_version=4
    )


@pytest.mark.slow
@pytest.mark.parametrize("module", ["github", "mkdocs", "cryptography", "papermill", "grader", "xgboost"])
def test_a_package_outside_the_lock_gets_the_missing_module_verdict(tmp_path: Path, module: str) -> None:
    result, _ = run(tmp_path, "import sys\nprint(sys.prefix)", f"import {module}")
    assert result["status"] == "failed"
    assert result["error"] == {
        "type": "ModuleNotFoundError",
        "cell_index": 1,
        "message": f"cell 2 raised ModuleNotFoundError: No module named '{module}'. {module} is not in this "
        "competition's environment: the packages notebooks can use are listed on the competition's site "
        "(How to submit) and by `grader env list`; ask the organisers if you need another one.",
    }


@pytest.mark.slow
def test_pip_install_in_a_cell_fails_the_same_clear_way(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "%pip install xgboost", "import xgboost")
    assert result["error"]["message"].endswith(
        "ask the organisers if you need another one. Installing packages in the notebook (cell 1) cannot work: "
        "notebooks run without network."
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "cell",
    [
        "import pandas as pd\npd.read_csv('https://raw.githubusercontent.com/mwaskom/seaborn-data/master/iris.csv')",
        "import seaborn as sns\nsns.load_dataset('tips')",
        "import urllib.request\nurllib.request.urlretrieve('http://example.com/train.csv', 'train.csv')",
        "import socket\nsocket.create_connection(('pypi.org', 443), timeout=5)",
    ],
)
def test_a_notebook_that_reaches_for_the_network_is_told_there_is_none(tmp_path: Path, cell: str) -> None:
    result, _ = run(tmp_path, "x = 1", cell)
    assert result["status"] == "failed"
    assert result["error"]["type"] == "NoNetwork" and result["error"]["cell_index"] == 1
    assert result["error"]["message"].startswith("cell 2 tried to reach the network (")
    assert result["error"]["message"].endswith(
        "Notebooks run without network: read the competition's files from data/ and download or install nothing "
        "during the run."
    )


@pytest.mark.slow
def test_a_notebook_that_reads_a_file_it_does_not_ship_is_told_where_the_data_is(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "import pandas as pd\npd.read_csv('../input/titanic/train.csv')")
    assert result["error"]["type"] == "FileNotFoundError"
    assert result["error"]["message"] == (
        "cell 1 raised FileNotFoundError: [Errno 2] No such file or directory: '../input/titanic/train.csv'. "
        "The notebook runs in an empty folder that holds only the competition's files, in data/: read your input "
        "from data/ and create any other file in the notebook itself."
    )


@pytest.mark.slow
def test_matplotlib_draws_with_no_display_and_the_prebuilt_font_cache(tmp_path: Path) -> None:
    result, nb = run(
        tmp_path,
        "import matplotlib.pyplot as plt, seaborn as sns, pandas as pd, sklearn\n"
        "fig, ax = plt.subplots()\nax.plot([1, 2, 3], [3, 1, 2])\nfig.savefig('figure.png')\nplt.show()",
        "import os\nassert os.path.getsize('figure.png') > 1000\n"
        "print(sorted(os.listdir(os.path.expanduser('~/.cache/matplotlib'))))",
    )
    assert result["status"] == "completed", result
    outputs = [o for cell in nb.cells for o in cell.outputs]
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {}) for o in outputs)
    text = "".join(o.get("text", "") for o in outputs)
    assert "building the font cache" not in text and "fontlist-v" in text


def test_the_environment_is_not_the_graders() -> None:
    env = conftest.notebook_environment()
    names = ("github", "mkdocs", "cryptography", "papermill")
    probe = f"import importlib.util as u; print([m for m in {names!r} if u.find_spec(m)])"
    out = subprocess.run([str(env.python), "-I", "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout == "[]\n", out.stderr


@pytest.mark.slow
def test_a_forged_exception_name_and_message_reach_nobody_as_markup_or_terminal_control(tmp_path: Path) -> None:
    cell = (
        "class E(Exception):\n    pass\n"
        "E.__name__ = E.__qualname__ = '[click](http://evil.example) ![i](http://evil.example/i.png)'\n"
        "raise E('\\x1b]52;c;cHduZWQ=\\x07\\x1b[2K\\r\\x1b[32m✓ completed\\x1b[0m \\u202egnp.exe')"
    )
    nb = new_notebook(cells=[new_code_cell(cell)])
    notebook = tmp_path / "hostile.ipynb"
    nbformat.write(nb, str(notebook))
    proc = conftest.run_grader("run", str(notebook), "--out", str(tmp_path / "out"), cwd=ROOT)
    assert proc.returncode == 1
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["error"]["type"] == "Exception"  # a class name that is not a name is not quoted
    assert result["error"]["message"] == "cell 1 raised Exception: ✓ completed gnp.exe"
    for text in (proc.stdout, proc.stderr, (tmp_path / "out" / "result.json").read_text()):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202e]|\\u001b|\\u202e", text), text


# --- pruning the cache --------------------------------------------------------------------------------

DAY = 86400.0
NOW = 1_800_000_000.0  # a fixed moment: the test sets every time it compares


def fake_env(cache: Path, key: str, *, used_days_ago: float | None, shared: bool = False, now: float = NOW) -> Path:
    """A cache entry shaped like a built environment (marker, bin/python, 8 KiB of its own files)."""
    root = cache / "envs" / key
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").write_text("")
    (root / "lib.so").write_bytes(b"x" * 8192)
    if shared:  # a file hard-linked from uv's cache: removing the environment does not free it
        (cache / "uv").mkdir(exist_ok=True)
        (cache / "uv" / key).write_bytes(b"y" * 8192)
        (root / "numpy.so").hardlink_to(cache / "uv" / key)
    if used_days_ago is not None:
        marker = root / environment.MARKER
        marker.write_text(json.dumps({"key": key, "base": "/usr", "version": "3.11.7", "packages": 1}))
        when = now - used_days_ago * DAY
        os.utime(marker, (when, when))
    else:  # an unfinished build: no marker
        os.utime(root, (now - 40 * DAY, now - 40 * DAY))
    return root


def marker_size(root: Path) -> int:
    return (root / environment.MARKER).stat().st_size


def test_prune_removes_what_no_run_used_lately_and_never_the_current_one(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fake_env(cache, "current0000000000000", used_days_ago=90)
    fake_env(cache, "recent00000000000000", used_days_ago=29)
    old = fake_env(cache, "old00000000000000000", used_days_ago=31, shared=True)
    fake_env(cache, "unfinished0000000000", used_days_ago=None)
    keep = "current0000000000000"
    planned = environment.prune(environment.cached(cache), keep=keep, unused_for=30 * DAY, now=NOW, dry_run=True)
    assert [env.key for env in planned] == ["unfinished0000000000", "old00000000000000000"]  # least recently used first
    assert all(env.root.exists() for env in planned)  # a dry run removes nothing
    # Its own files and, when complete, its marker: the hard-linked file is uv's, not freed.
    assert [env.size for env in planned] == [8192, 8192 + marker_size(old)]

    with environment._exclusive(old.with_name(old.name + ".building")):  # someone is building it right now
        busy = environment.prune(environment.cached(cache), keep=keep, unused_for=30 * DAY, now=NOW)
    assert [env.key for env in busy] == ["unfinished0000000000"] and old.exists()
    gone = environment.prune(environment.cached(cache), keep=keep, unused_for=30 * DAY, now=NOW)
    assert [env.key for env in gone] == ["old00000000000000000"] and not old.exists()
    assert (cache / "uv" / "old00000000000000000").exists()
    assert sorted(env.key for env in environment.cached(cache)) == [keep, "recent00000000000000"]
    everything = environment.prune(environment.cached(cache), keep=keep, unused_for=0, now=NOW)
    assert [env.key for env in everything] == ["recent00000000000000"]


def test_a_run_finding_its_environment_marks_it_used(tmp_path: Path) -> None:
    lk = environment.read_lock(SHIPPED)
    cache = tmp_path / "cache"
    fake_env(cache, lk.key, used_days_ago=0, now=0)  # last used in 1970
    assert environment.find(lk, cache) is not None
    [env] = environment.cached(cache)
    assert abs(env.last_used - time.time()) < 3600  # touched now


def test_env_prune_says_what_it_removed_and_what_it_freed(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    now = time.time()  # the command reads the clock: the ages are from today, whatever day it is
    old = fake_env(cache, "old00000000000000000", used_days_ago=400, now=now)
    fake_env(cache, "recent00000000000000", used_days_ago=0, now=now)
    size = config.format_size(8192 + marker_size(old))
    env = {"GRADER_CACHE_DIR": str(cache)}
    dry = conftest.run_grader("env", "prune", "--dry-run", cwd=tmp_path, env=env)  # no competition here: fine
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1] == f"Would free {size} in 1 environment; 1 left in {cache / 'envs'}."
    done = conftest.run_grader("env", "prune", cwd=tmp_path, env=env)
    lines = done.stdout.splitlines()
    assert re.fullmatch(rf"removed {re.escape(str(old))} \(last used \d{{4}}-\d\d-\d\d, {size}\)", lines[0])
    assert lines[1] == f"Freed {size} in 1 environment; 1 left in {cache / 'envs'}."


@pytest.mark.parametrize(("system", "machine"), [("Darwin", "arm64"), ("Darwin", "x86_64"), ("Linux", "aarch64")])
def test_a_machine_the_lock_cannot_run_on_is_told_so_before_uv_is_asked(
    system: str, machine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment.check_machine("Linux", "x86_64")  # the runners, and this machine
    environment.check_machine("Linux", "AMD64")
    with pytest.raises(EnvironmentProblem) as caught:
        environment.check_machine(system, machine)
    assert str(caught.value) == (
        f"notebooks run on Linux x86-64 (the grader's runners), and their packages are locked for it; this machine "
        f"is {system} {machine}. Check your notebook on Linux x86-64 (on Windows: WSL 2), or open the pull request: "
        "the evaluate check runs it exactly the same way and its summary shows the executed notebook."
    )
    # A build asks first, so a student's laptop gets this instead of uv's words about wheels and hashes.
    import platform

    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    with pytest.raises(EnvironmentProblem, match=f"this machine is {system} {machine}"):
        environment.build(environment.read_lock(SHIPPED), tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
