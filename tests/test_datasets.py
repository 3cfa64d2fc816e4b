"""`data.hub`: files fetched from a Hugging Face dataset (the fake Hub, tests/fake_hub.py), checked, cached.

The end-to-end test grades the demo's notebook in a competition whose train and test files are
only in a dataset: the notebook can read them only if they were fetched into ./data, and the
second competition (a fresh checkout sharing the cache) makes no request to the Hub at all.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from conftest import ROOT, run_grader
from fake_hub import FakeHub, serve

from grader import config, datasets, demo, pipeline
from grader.config import Data, Hub
from grader.datasets import DataUnavailable
from grader.errors import ConfigError

DATASET = "course/digits-data"
TRAIN = b"id,px0,label\n1,0,3\n2,16,7\n"
IMAGES = bytes(range(256)) * 40


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with serve() as state:
        yield state


@pytest.fixture
def environ(hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "GRADER_DATA_CACHE": str(tmp_path / "cache")}


def two_files(hub: FakeHub, tmp_path: Path, folder: str = "data") -> Data:
    commit = hub.add_dataset(DATASET, {"train.csv": TRAIN, "images/part-0.bin": IMAGES, "README.md": b"# digits"})
    files = {"train.csv": digest(TRAIN), "images/part-0.bin": digest(IMAGES)}
    return Data(directory=tmp_path / folder, test=tmp_path / folder / "test.csv", hub=Hub(DATASET, commit, files))


def cache_contents(tmp_path: Path) -> list[str]:
    """Every file in the cache folder, relative to it."""
    root = tmp_path / "cache"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def test_files_are_fetched_read_only_into_the_data_folder_and_then_come_from_disk(
    hub: FakeHub, environ: dict[str, str], tmp_path: Path
) -> None:
    data = two_files(hub, tmp_path)
    heard: list[str] = []
    first = datasets.ensure(data, environ=environ, echo=heard.append)
    assert (first.downloaded, first.cached, first.ready) == (2, 0, 0)
    assert first.downloaded_bytes == len(TRAIN) + len(IMAGES)
    assert (data.directory / "train.csv").read_bytes() == TRAIN
    assert (data.directory / "images" / "part-0.bin").read_bytes() == IMAGES
    assert not (data.directory / "README.md").exists()  # only the files competition.yaml names
    assert stat.S_IMODE((data.directory / "train.csv").stat().st_mode) == 0o444  # nobody edits it by accident
    assert heard == ["images/part-0.bin: downloaded from the dataset course/digits-data (10240 bytes)",
                     "train.csv: downloaded from the dataset course/digits-data (26 bytes)"]  # fmt: skip
    assert cache_contents(tmp_path) == sorted(f"sha256/{digest(c)}" for c in (TRAIN, IMAGES))
    asked = len(hub.requests)
    assert asked == 4  # a HEAD and a GET for each file

    again = datasets.ensure(data, environ=environ)
    assert (again.ready, again.cached, again.downloaded) == (2, 0, 0)
    checkout = two_files(hub, tmp_path, folder="fresh-checkout")  # another clone of the repository, same machine
    fresh = datasets.ensure(checkout, environ=environ)
    assert (fresh.ready, fresh.cached, fresh.downloaded) == (0, 2, 0)
    assert (checkout.directory / "train.csv").read_bytes() == TRAIN
    assert len(hub.requests) == asked  # neither asked the Hub anything


def test_a_corrupted_cache_is_fetched_again_and_an_edited_data_file_is_restored(
    hub: FakeHub, environ: dict[str, str], tmp_path: Path
) -> None:
    data = two_files(hub, tmp_path)
    datasets.ensure(data, environ=environ)
    train = data.directory / "train.csv"
    train.unlink()
    blob = tmp_path / "cache" / "sha256" / digest(TRAIN)
    blob.chmod(0o644)
    blob.write_bytes(b"id,px0,label\n1,0,9\n")  # a flipped bit on the runner's disk
    asked = len(hub.requests)
    healed = datasets.ensure(data, environ=environ)
    assert (healed.downloaded, healed.ready) == (1, 1)
    assert len(hub.requests) == asked + 2
    assert train.read_bytes() == TRAIN and blob.read_bytes() == TRAIN

    train.unlink()  # someone replaced the fetched file with their own version
    train.write_bytes(b"id,px0,label\n")
    restored = datasets.ensure(data, environ=environ)
    assert (restored.cached, restored.ready, restored.downloaded) == (1, 1, 0)
    assert train.read_bytes() == TRAIN
    assert len(hub.requests) == asked + 2


@pytest.mark.parametrize("progress", [True, False])
def test_a_download_shows_a_progress_bar_only_when_asked(
    progress: bool, hub: FakeHub, environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    datasets.ensure(two_files(hub, tmp_path), environ=environ, progress=progress)
    bars = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if "100%" in line]
    assert bool(bars) is progress
    if progress:
        assert bars[-1].startswith("train.csv: 100%") and "26.0/26.0" in bars[-1]


def test_without_data_hub_nothing_is_fetched(hub: FakeHub, environ: dict[str, str], tmp_path: Path) -> None:
    assert datasets.ensure(Data(tmp_path / "data", tmp_path / "data" / "test.csv"), environ=environ).files == 0
    assert hub.requests == [] and not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong sha256", r"^train\.csv of the dataset course/digits-data at revision \w{12} has sha256 "
                         r"[0-9a-f]{64}, but competition\.yaml \(data\.hub\.files\) says 0{64}\. .*Nothing was run\.$"),
        ("wrong sha256, sorting after", r"^train\.csv of the dataset course/digits-data at revision \w{12} has "
                                        r"sha256 [0-9a-f]{64}, but competition\.yaml \(data\.hub\.files\) says f{64}"),
        ("missing file", r"^test\.csv is not in the dataset course/digits-data at revision \w{12} \(data\.hub\.files\)"
                         r".*listed at http://127\.0\.0\.1:\d+/datasets/course/digits-data/tree/\w{40}\. Nothing"),
        ("unknown revision", r"^the dataset course/digits-data has no revision f{40} \(data\.hub\.revision\): copy the "
                             r"full commit id"),
        ("unknown dataset", r"^the dataset course/elsewhere does not exist or is not public \(data\.hub\.repo\)"),
        ("server down", r"^could not fetch train\.csv from the dataset course/digits-data on http://127\.0\.0\.1:\d+ "
                        r"\(HTTP 503\): the Hub or the network is down\. Run the command again later"),
    ],
)  # fmt: skip
def test_an_unusable_file_is_one_clear_message_and_leaves_nothing_behind(
    case: str, message: str, hub: FakeHub, environ: dict[str, str], tmp_path: Path
) -> None:
    commit = hub.add_dataset(DATASET, {"train.csv": TRAIN})
    repo, revision, files = DATASET, commit, {"train.csv": digest(TRAIN)}
    if case.startswith("wrong sha256"):  # whichever way the wrong one sorts against the real one
        files = {"train.csv": "0" * 64 if case == "wrong sha256" else "f" * 64}
    elif case == "missing file":
        files = {"test.csv": digest(TRAIN)}
    elif case == "unknown revision":
        revision = "f" * 40
    elif case == "unknown dataset":
        repo = "course/elsewhere"
    elif case == "server down":
        hub.down = True
    data = Data(tmp_path / "data", tmp_path / "data" / "test.csv", Hub(repo, revision, files))
    with pytest.raises(DataUnavailable, match=message):
        datasets.ensure(data, environ=environ)
    assert cache_contents(tmp_path) == []  # no blob, no partial download
    assert not (tmp_path / "data").exists() or list((tmp_path / "data").iterdir()) == []


HUB_KEY = """  test: data/test.csv           # every id here needs exactly one prediction
  hub:
    repo: {repo}
    revision: {revision}
    files:
{files}"""


def with_hub(text: str, repo: str, revision: str, files: dict[str, str]) -> str:
    old = HUB_KEY.split("\n")[0]
    assert old in text
    listed = "\n".join(f"      {name}: {sha}" for name, sha in files.items())
    return text.replace(old, HUB_KEY.format(repo=repo, revision=revision, files=listed), 1)


@pytest.mark.parametrize(
    ("change", "key", "says"),
    [
        ({"revision": "main"}, "data.hub.revision", "all 40 hexadecimal characters"),
        ({"files": {"train.csv": "abc"}}, "data.hub.files.train.csv", "64 lowercase hexadecimal"),
        ({"files": {"../secrets.csv": "ab" * 32}}, "data.hub.files", "no part starting with a dot"),
        ({"files": {"a": "ab" * 32, "a/b.csv": "ab" * 32}}, "data.hub.files", "a is both a file and a folder"),
        ({"files": {"train.csv": "1" * 63 + "0"}}, "data.hub.files.train.csv", "reads as a number; put it in quotes"),
        ({"repo": "no-owner"}, "data.hub.repo", "OWNER/NAME"),
        ({"files": {"test.csv": "ab" * 32}}, "data.test", "data/test.csv is also in data.hub.files; keep it in git"),
    ],
)
def test_competition_yaml_refuses_a_hub_it_could_not_pin(change: dict[str, object], key: str, says: str) -> None:
    text = (ROOT / "competition.yaml").read_text(encoding="utf-8")
    hub = {"repo": DATASET, "revision": "a" * 40, "files": {"train.csv": "ab" * 32}, **change}
    with pytest.raises(ConfigError) as caught:
        config.parse(with_hub(text, **hub), root=ROOT)  # type: ignore[arg-type]
    assert f"competition.yaml: {key}: " in str(caught.value) and says in str(caught.value)


def test_competition_yaml_reads_the_hub_key() -> None:
    text = (ROOT / "competition.yaml").read_text(encoding="utf-8")
    quoted = '"0123456789012345678901234567890123456789012345678901234567890123"'  # all digits: quoted
    files = {"images/train.parquet": "ab" * 32, "train.csv": quoted}
    parsed = config.parse(with_hub(text, DATASET, "a" * 40, files), root=ROOT)
    assert parsed.data.hub == Hub(DATASET, "a" * 40, {**files, "train.csv": quoted.strip('"')})
    assert config.parse(text, root=ROOT).data.hub is None


@pytest.fixture
def hosted(hub: FakeHub, tmp_path: Path) -> Iterator[tuple[config.Competition, dict[str, str]]]:
    """The demo competition, its training set moved from data/ into a dataset on the fake Hub (with a 2nd file)."""
    comp = demo.scratch_copy(config.load(ROOT / "competition.yaml"), tmp_path / "first")
    files = {"train.csv": (comp.data.directory / "train.csv").read_bytes(), "extra/notes.txt": b"pixels are 0-16\n"}
    commit = hub.add_dataset(DATASET, files)
    yaml_file = comp.root / config.CONFIG_NAME
    pinned = {name: digest(content) for name, content in files.items()}
    yaml_file.write_text(with_hub(yaml_file.read_text(encoding="utf-8"), DATASET, commit, pinned), encoding="utf-8")
    (comp.data.directory / "train.csv").unlink()  # the test ids stay in git (data/test.csv)
    environ = {"HF_ENDPOINT": hub.url, "GRADER_DATA_CACHE": str(tmp_path / "cache")}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        yield config.load(yaml_file), environ


def test_the_demo_copies_the_committed_data_and_leaves_the_fetched_files_to_the_fetch(
    hosted: tuple[config.Competition, dict[str, str]], tmp_path: Path
) -> None:
    comp, environ = hosted
    datasets.ensure(comp.data, environ=environ)
    scratch = demo.scratch_copy(comp, tmp_path / "kept")
    assert [p.name for p in scratch.data.directory.rglob("*") if p.is_file()] == ["test.csv"]
    assert datasets.ensure(scratch.data, environ=environ).cached == 2
    # `grader demo --keep DIR` again: the copy leaves the read-only fetched files alone (it cannot write them)
    (comp.data.directory / "train.csv").unlink()  # (a new file: the fetched one shares the cache's inode)
    (comp.data.directory / "train.csv").write_bytes(b"changed")  # so that a copy of it would show
    again = demo.scratch_copy(comp, tmp_path / "kept")
    assert (again.data.directory / "train.csv").read_bytes() != b"changed"
    assert datasets.ensure(again.data, environ=environ).ready == 2


@pytest.mark.slow
def test_a_competition_whose_data_is_on_the_hub_grades_twice_the_second_time_from_the_cache(
    hosted: tuple[config.Competition, dict[str, str]], hub: FakeHub, tmp_path: Path
) -> None:
    comp, _ = hosted
    notebook = ROOT / "examples" / "submissions" / "alice" / "knn.ipynb"
    now = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    first = pipeline.grade(
        notebook, comp, user="alice", out_dir=tmp_path / "run1", db=tmp_path / "one.db", now=now, sandbox="required"
    )
    assert first.result.status == "completed", first.result.error
    assert first.result.extra["sandbox"] == "bubblewrap"  # ./data/train.csv was read inside the sandbox
    assert first.recorded.status == "completed" and first.result.public_score is not None
    assert 0.9 < first.result.public_score < 1.0
    assert sum(r.startswith("GET /datasets/") for r in hub.requests) == 2  # train.csv and extra/notes.txt
    asked = list(hub.requests)

    # A fresh checkout of the same competition on the same runner: its data folder is empty.
    second_root = tmp_path / "second"
    shutil.copytree(comp.root, second_root, ignore=shutil.ignore_patterns("train.csv", "extra", "leaderboard"))
    second = config.load(second_root / config.CONFIG_NAME)
    assert sorted(p.name for p in second.data.directory.iterdir()) == ["test.csv"]
    again = pipeline.grade(
        notebook, second, user="alice", out_dir=tmp_path / "run2", db=tmp_path / "two.db", now=now, sandbox="required"
    )
    assert again.result.status == "completed", again.result.error
    assert again.result.public_score == first.result.public_score
    assert again.result.private_score == first.result.private_score
    assert hub.requests == asked  # no request at all: everything came from the cache
    assert (second.data.directory / "train.csv").read_bytes() == (comp.data.directory / "train.csv").read_bytes()


def test_the_commands_fetch_or_refuse_with_one_line_and_run_nothing(
    hosted: tuple[config.Competition, dict[str, str]], hub: FakeHub, tmp_path: Path
) -> None:
    comp, environ = hosted
    yaml_file = comp.root / config.CONFIG_NAME
    good = yaml_file.read_text(encoding="utf-8")
    train = comp.data.hub.files["train.csv"] if comp.data.hub else ""
    yaml_file.write_text(good.replace(train, "ab" * 32), encoding="utf-8")
    notebook = ROOT / "examples" / "submissions" / "alice" / "knn.ipynb"
    refused = run_grader("run", str(notebook), "--out", str(tmp_path / "out"), cwd=comp.root, env=environ)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("error: train.csv of the dataset course/digits-data at revision ")
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "executed.ipynb").exists()  # no run started
    assert not (comp.data.directory / "train.csv").exists()

    yaml_file.write_text(good, encoding="utf-8")
    fetched = run_grader("data", "fetch", "--no-progress", cwd=comp.root, env=environ)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == (
        f"2 files of the dataset course/digits-data are in {comp.data.directory}: 1 already there, "
        f"0 from the cache, 1 downloaded ({(comp.data.directory / 'train.csv').stat().st_size} bytes).\n"
    )  # extra/notes.txt was fetched before the run was refused for train.csv
    assert (comp.data.directory / "train.csv").is_file()


WORKFLOWS = ROOT / ".github" / "workflows"
RUNS_NOTEBOOKS = re.compile(r"\bgrader (run|check|regrade(?! merge))\b")  # regrade merge only scores


def test_every_job_that_runs_notebooks_fetches_the_data_first() -> None:
    """The notebook's ./data must hold the fetched files: a job that runs one fetches them in a step before."""
    jobs = 0
    for workflow in sorted(WORKFLOWS.glob("*.yml")):
        for name, job in yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"].items():
            steps = job.get("steps", [])
            runs = [i for i, step in enumerate(steps) if RUNS_NOTEBOOKS.search(step.get("run", ""))]
            if not runs:
                continue
            jobs += 1
            fetch = [i for i, step in enumerate(steps) if step.get("uses") == "./.github/actions/competition-data"]
            assert fetch and fetch[0] < runs[0], f"{workflow.name}: {name} runs notebooks before fetching the data"
    assert jobs == 4  # evaluate, regrade's shards, admin's run, ci's check of a teacher's competition
    action = yaml.safe_load((ROOT / ".github" / "actions" / "competition-data" / "action.yml").read_text())
    restore, fetch_step, save = action["runs"]["steps"]
    assert restore["uses"].startswith("actions/cache/restore@") and restore["with"]["path"] == "~/.cache/grader/data"
    assert "hashFiles('competition.yaml')" in restore["with"]["key"]
    assert fetch_step["run"] == "grader data fetch --no-progress"
    # Saved right after the fetch, within the action: nothing a notebook does later reaches the cache.
    assert save["uses"].startswith("actions/cache/save@") and save["with"]["path"] == "~/.cache/grader/data"


def test_the_status_of_each_file_is_told_without_fetching_anything(
    hub: FakeHub, environ: dict[str, str], tmp_path: Path
) -> None:
    data = two_files(hub, tmp_path)
    assert datasets.status(data, environ=environ) == {"images/part-0.bin": "missing", "train.csv": "missing"}
    datasets.ensure(data, environ=environ)
    assert datasets.status(data, environ=environ) == {"images/part-0.bin": "ready", "train.csv": "ready"}
    (data.directory / "train.csv").unlink()
    (data.directory / "images" / "part-0.bin").unlink()
    (data.directory / "images" / "part-0.bin").write_bytes(b"edited by hand")  # though the cache holds it
    asked = len(hub.requests)
    assert datasets.status(data, environ=environ) == {"images/part-0.bin": "changed", "train.csv": "cached"}
    assert datasets.status(data, environ={"GRADER_DATA_CACHE": str(tmp_path / "empty")}) == {
        "images/part-0.bin": "changed",
        "train.csv": "missing",
    }
    assert len(hub.requests) == asked
    assert datasets.status(Data(data.directory, data.test), environ=environ) == {}


def test_doctor_tells_what_the_next_fetch_will_do_and_fetches_nothing(
    hosted: tuple[config.Competition, dict[str, str]], hub: FakeHub
) -> None:
    comp, environ = hosted
    subject = "data.hub → course/digits-data"

    def lines() -> list[str]:
        proc = run_grader("doctor", "--offline", cwd=comp.root, env={**environ, "GRADER_NOW": "2026-12-01T12:00:00Z"})
        assert "Traceback" not in proc.stdout + proc.stderr
        return [line for line in proc.stdout.splitlines() if subject in line]

    assert lines() == [
        f"note    {subject}: extra/notes.txt, train.csv not fetched here yet: `grader data fetch` "
        "(the workflows fetch before every run)"
    ]
    datasets.ensure(comp.data, environ=environ)
    asked = len(hub.requests)
    assert lines() == [f"ok      {subject}: 2 files in place, checked"]
    (comp.data.directory / "train.csv").unlink()
    (comp.data.directory / "train.csv").write_bytes(b"id,px0,label\n")
    assert lines() == [
        f"note    {subject}: train.csv in data/ differs from the sha256 in competition.yaml: `grader data fetch` "
        "replaces it with the dataset's (the workflows do so before every run)"
    ]
    assert len(hub.requests) == asked


LFS = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"ab" * 32 + b"\nsize 1832514\n"


def test_git_lfs_pointers_in_the_data_folder_are_found(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "train.csv").write_bytes(LFS)
    (tmp_path / "images" / "part-0.bin").write_bytes(LFS)
    (tmp_path / "test.csv").write_bytes(b"id,px0\n1,0\n")
    (tmp_path / "zones.csv").write_bytes(b"zone,label\n1,2\n")  # small, and sorts after the pointer's first line
    (tmp_path / "notes.md").write_bytes(LFS + b"x" * 1024)  # a file about LFS, too long to be a pointer
    (tmp_path / "link.csv").symlink_to(tmp_path / "train.csv")  # a link is the sandbox's business, not a pointer
    assert datasets.lfs_pointers(tmp_path) == ["images/part-0.bin", "train.csv"]


def test_a_named_pipe_in_the_data_folder_is_passed_over_not_waited_on(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_bytes(LFS)
    os.mkfifo(tmp_path / "pipe")  # opening it to read would wait for a writer forever
    found: list[list[str]] = []
    looking = threading.Thread(target=lambda: found.append(datasets.lfs_pointers(tmp_path)), daemon=True)
    looking.start()
    looking.join(timeout=20)
    if looking.is_alive():  # free the reader stuck on the pipe, so that the suite goes on
        with open(tmp_path / "pipe", "wb"):
            pass
        pytest.fail("lfs_pointers waited on a named pipe")
    assert found == [["train.csv"]]


def test_a_run_with_an_lfs_pointer_for_data_is_refused_before_it_starts(tmp_path: Path) -> None:
    comp = demo.scratch_copy(config.load(ROOT / "competition.yaml"), tmp_path / "comp")
    (comp.data.directory / "train.csv").write_bytes(LFS)  # a checkout without `git lfs`
    notebook = ROOT / "examples" / "submissions" / "alice" / "knn.ipynb"
    refused = run_grader("run", str(notebook), "--out", str(tmp_path / "out"), cwd=comp.root)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr == (
        "error: train.csv in data/ is a Git LFS pointer, not the data: this checkout did not fetch the Git LFS files. "
        "Run `git lfs pull` (in the workflows, `lfs: true` on the checkout step: docs/competition.md, Git LFS). "
        "Nothing was run.\n"
    )
    assert not (tmp_path / "out" / "executed.ipynb").exists()
    doctor = run_grader("doctor", "--offline", cwd=comp.root, env={"GRADER_NOW": "2026-12-01T12:00:00Z"})
    assert doctor.returncode == 1
    assert "PROBLEM data → data/: train.csv in data/ is a Git LFS pointer, not the data" in doctor.stdout


def test_a_data_folder_on_another_disk_than_the_cache_gets_a_read_only_copy(
    hub: FakeHub, environ: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A runner whose cache is on another file system: a hard link fails (EXDEV), so the file is copied.
    # (Two file systems cannot be made inside a test's temporary folder: os.link says what it would.)
    def other_disk(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(datasets.os, "link", other_disk)
    data = two_files(hub, tmp_path)
    datasets.ensure(data, environ=environ)
    placed = data.directory / "train.csv"
    assert placed.read_bytes() == TRAIN
    assert placed.stat().st_ino != (tmp_path / "cache" / "sha256" / digest(TRAIN)).stat().st_ino  # a copy
    assert stat.S_IMODE(placed.stat().st_mode) == 0o444  # read-only like a linked one
    assert datasets.status(data, environ=environ) == {"images/part-0.bin": "ready", "train.csv": "ready"}


def test_many_lfs_pointers_are_named_three_and_counted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("a.csv", "b.csv", "c.csv", "d.csv", "e.csv"):
        (data / name).write_bytes(LFS)
    with pytest.raises(DataUnavailable, match=r"^a\.csv, b\.csv, c\.csv and 2 more in data/ are Git LFS pointers, "):
        datasets.check_checked_out(Data(data, data / "test.csv"))
    (data / "e.csv").unlink()
    with pytest.raises(DataUnavailable, match=r"^a\.csv, b\.csv, c\.csv and 1 more in data/ are Git LFS pointers, "):
        datasets.check_checked_out(Data(data, data / "test.csv"))
    (data / "d.csv").unlink()
    with pytest.raises(DataUnavailable, match=r"^a\.csv, b\.csv, c\.csv in data/ are Git LFS pointers, "):
        datasets.check_checked_out(Data(data, data / "test.csv"))
