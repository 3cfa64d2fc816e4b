"""Data kept outside git: files of a Hugging Face dataset, fetched before any run.

``data.hub`` in competition.yaml names a public dataset, one of its commits and, for each file,
its sha256. :func:`ensure` makes every one of them a regular file at the same path under
``data.directory`` — so a notebook finds ``./data/train.csv`` read-only in the sandbox exactly as
it finds a committed file, and a student's Jupyter finds it there too — or raises
:class:`DataUnavailable` before anything runs.

Where a file comes from, cheapest first: the data folder itself when the file there has the
right sha256; the cache (``$GRADER_DATA_CACHE``, else ``data/`` in the grader's cache folder),
which keeps each file under its sha256 and is checked again on every read — a corrupted copy
is deleted and fetched anew, never used; the Hub (``huggingface_hub``, ``HF_ENDPOINT`` for
another server), without a token, since the workflow that runs notebooks has none. A download
goes to a temporary folder inside the cache and is renamed into place only once its sha256
matches, so an interrupted or wrong download leaves nothing a later run could read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.config import Data, Hub
from grader.environment import cache_dir as grader_cache
from grader.errors import GraderError

DEFAULT_ENDPOINT = "https://huggingface.co"


class DataUnavailable(GraderError):
    """A file of ``data.hub`` cannot be had as competition.yaml describes it: an organiser's problem."""

    exit_code = 2


@dataclass(frozen=True)
class Fetched:
    """What :func:`ensure` did: how many files were already in place, copied from the cache, downloaded."""

    ready: int = 0
    cached: int = 0
    downloaded: int = 0
    downloaded_bytes: int = 0

    @property
    def files(self) -> int:
        return self.ready + self.cached + self.downloaded


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where fetched files are kept: $GRADER_DATA_CACHE, else ``data`` in the grader's cache folder."""
    if environ.get("GRADER_DATA_CACHE"):
        return Path(environ["GRADER_DATA_CACHE"])
    return grader_cache(environ) / "data"


def sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def ensure(
    data: Data,
    *,
    environ: Mapping[str, str] = os.environ,
    progress: bool = False,
    echo: Callable[[str], None] = lambda _line: None,
) -> Fetched:
    """Make every file of ``data.hub`` present and checked under ``data.directory``; nothing to do without it.

    ``environ`` gives the cache folder and ``HF_ENDPOINT``; ``progress`` shows a bar while a file
    downloads; ``echo`` hears one line per file that had to be copied or downloaded.
    """
    if data.hub is None:
        return Fetched()
    hub = data.hub
    cache = cache_dir(environ)
    endpoint = (environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    ready = cached = downloaded = downloaded_bytes = 0
    for name, expected in sorted(hub.files.items()):
        target = data.directory / name
        if _holds(target, expected):
            ready += 1
            continue
        blob = cache / "sha256" / expected
        if _holds(blob, expected):
            cached += 1
            echo(f"{name}: from the cache")
        else:
            blob.unlink(missing_ok=True)  # a corrupted copy is never used: fetch it again
            size = _download(hub, name, expected, blob, endpoint=endpoint, progress=progress)
            downloaded += 1
            downloaded_bytes += size
            echo(f"{name}: downloaded from the dataset {hub.repo} ({size} bytes)")
        _place(blob, target)
    return Fetched(ready=ready, cached=cached, downloaded=downloaded, downloaded_bytes=downloaded_bytes)


def status(data: Data, *, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Where each file of ``data.hub`` stands now, without fetching anything: name → state.

    ``ready``: in the data folder with its sha256; ``cached``: in the cache, to be placed;
    ``changed``: something else is at its path in the data folder (a fetch replaces it);
    ``missing``: neither, so the next fetch downloads it.
    """
    if data.hub is None:
        return {}
    cache = cache_dir(environ)
    states = {}
    for name, expected in sorted(data.hub.files.items()):
        target = data.directory / name
        if _holds(target, expected):
            states[name] = "ready"
        elif target.exists() or target.is_symlink():
            states[name] = "changed"
        elif _holds(cache / "sha256" / expected, expected):
            states[name] = "cached"
        else:
            states[name] = "missing"
    return states


LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\n"
LFS_POINTER_MAX = 1024  # bytes: a pointer file is about 130


def lfs_pointers(directory: Path) -> list[str]:
    """The files under ``directory`` that are Git LFS pointers instead of their content (relative paths).

    A checkout without Git LFS leaves such a pointer where the file should be; a notebook
    reading it fails in a way that says nothing about why.
    """
    found = []
    for folder, _dirs, files in os.walk(directory):
        for name in files:
            path = Path(folder, name)
            try:
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode) or info.st_size > LFS_POINTER_MAX:
                    continue  # links, pipes (opening one would wait forever), sockets, devices; data
                with path.open("rb") as file:
                    head = file.read(len(LFS_POINTER))
            except OSError:
                continue
            if head == LFS_POINTER:
                found.append(path.relative_to(directory).as_posix())
    return sorted(found)


def pointer_problem(data: Data) -> str | None:
    """What is wrong when files of the data folder are Git LFS pointers, not their content; None when none is."""
    pointers = lfs_pointers(data.directory)
    if not pointers:
        return None
    shown = ", ".join(pointers[:3]) + (f" and {len(pointers) - 3} more" if len(pointers) > 3 else "")
    what = "is a Git LFS pointer" if len(pointers) == 1 else "are Git LFS pointers"
    return (
        f"{shown} in {data.directory.name}/ {what}, not the data: this checkout did not fetch the Git LFS "
        "files. Run `git lfs pull` (in the workflows, `lfs: true` on the checkout step: docs/competition.md, "
        "Git LFS)."
    )


def check_checked_out(data: Data) -> None:
    """Raise :class:`DataUnavailable` when a file of the data folder is a Git LFS pointer: no run on those."""
    problem = pointer_problem(data)
    if problem is not None:
        raise DataUnavailable(f"{problem} Nothing was run.")


def _holds(path: Path, expected: str) -> bool:
    """``path`` is a regular file (not a link to one) whose sha256 is ``expected``."""
    try:
        return path.is_file() and not path.is_symlink() and sha256(path) == expected
    except OSError:
        return False


def _place(blob: Path, target: Path) -> None:
    """Put the checked ``blob`` at ``target`` under a temporary name, then rename: never a half-written file."""
    if target.is_dir() and not target.is_symlink():
        raise DataUnavailable(
            f"{target} is a folder, but data.hub.files names a file there: rename one of them in competition.yaml."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        try:
            os.link(blob, partial)  # same file system: no copy, and the cache's read-only mode comes along
        except OSError:
            shutil.copyfile(blob, partial)
            partial.chmod(0o444)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _download(hub: Hub, name: str, expected: str, blob: Path, *, endpoint: str, progress: bool) -> int:
    """Download ``name`` into the cache as ``blob`` once its sha256 is ``expected``; its size in bytes."""
    from huggingface_hub import hf_hub_download

    blob.parent.mkdir(parents=True, exist_ok=True)
    with _partial_folder(blob.parent.parent) as folder, _hub_quiet():
        try:
            fetched = Path(
                hf_hub_download(
                    hub.repo,
                    name,
                    repo_type="dataset",
                    revision=hub.revision,
                    local_dir=folder,
                    endpoint=endpoint,
                    token=False,  # the workflow that runs notebooks has no secret: the dataset must be public
                    tqdm_class=_bar(name, shown=progress),
                )
            )
        except Exception as ex:  # huggingface_hub and its HTTP library share no base class but Exception
            raise DataUnavailable(_explain(ex, hub, name, endpoint)) from None
        got = sha256(fetched)
        if got != expected:
            raise DataUnavailable(
                f"{name} of the dataset {hub.repo} at revision {hub.revision[:12]} has sha256 {got}, but "
                f"competition.yaml (data.hub.files) says {expected}. Either the revision is not the one the "
                "competition was set up with, or the sha256 is wrong: check both (`sha256sum FILE` on the file "
                "you uploaded). Nothing was run."
            )
        fetched.chmod(0o444)  # the placed file shares this one's inode: nobody edits the cache through data/
        os.replace(fetched, blob)
        return blob.stat().st_size


@contextlib.contextmanager
def _partial_folder(cache: Path) -> Iterator[Path]:
    """A fresh folder in the cache for one download, removed whatever happens (only a checked file leaves it)."""
    (cache / "partial").mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=cache / "partial"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _hub_quiet() -> Iterator[None]:
    """huggingface_hub logs each retry as a warning; the one message that matters is ours."""
    from huggingface_hub.utils import logging as hub_logging

    before = hub_logging.get_verbosity()
    hub_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hub_logging.set_verbosity(before)


def _bar(name: str, *, shown: bool) -> Any:
    """A progress bar class that obeys ``--progress/--no-progress`` (huggingface_hub's own asks the terminal)."""
    from tqdm.auto import tqdm

    class Bar(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "desc": name, "disable": not shown})

    return Bar


def _explain(ex: BaseException, hub: Hub, name: str, endpoint: str) -> str:
    """One sentence an organiser can act on, from whatever huggingface_hub raised (it wraps the cause)."""
    from huggingface_hub.errors import (
        HfHubHTTPError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    chain: list[BaseException] = []
    seen: BaseException | None = ex
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    dataset = f"{endpoint}/datasets/{hub.repo}"
    for error in chain:
        if isinstance(error, RevisionNotFoundError):
            return (
                f"the dataset {hub.repo} has no revision {hub.revision} (data.hub.revision): copy the full commit id "
                f"from the dataset's history ({dataset}/commits/main). Nothing was run."
            )
        if isinstance(error, RemoteEntryNotFoundError):
            return (
                f"{name} is not in the dataset {hub.repo} at revision {hub.revision[:12]} (data.hub.files): names are "
                f"case-sensitive and include their folders; the files are listed at {dataset}/tree/{hub.revision}. "
                "Nothing was run."
            )
        if isinstance(error, RepositoryNotFoundError):
            return (
                f"the dataset {hub.repo} does not exist or is not public (data.hub.repo): the workflows fetch without "
                f"a token, so make it public at {dataset}/settings. Nothing was run."
            )
    for error in chain:
        if isinstance(error, HfHubHTTPError) and error.response is not None:
            reason = f"HTTP {error.response.status_code}"
            break
    else:
        reason = type(chain[-1]).__name__
    return (
        f"could not fetch {name} from the dataset {hub.repo} on {endpoint} ({reason}): the Hub or the network is "
        "down. Run the command again later (HF_ENDPOINT names another server, if you use one). Nothing was run."
    )
