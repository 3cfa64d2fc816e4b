"""Publish the built site to a static Hugging Face Space.

One commit replaces the Space's files with the site's (plus the README whose front matter makes
it a static Space), and removes the files the site no longer has. A commit is atomic on the
Hub: a failed upload leaves the Space as it was, and the local site is only read, so retrying
(here, with a pause, then by running the command again) loses nothing. Unchanged files are
skipped by huggingface_hub, so a retry after a lost response commits nothing new.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import GraderError, UsageError

KEEP = frozenset({".gitattributes"})  # the Hub's own file in every repository: never removed
README = "README.md"


class PublishError(GraderError):
    """The upload failed. The Space is unchanged and the site is still on disk: run again."""

    exit_code = 1


@dataclass(frozen=True)
class Published:
    url: str
    commit: str
    files: int
    removed: int
    attempts: int


def space_readme(title: str) -> str:
    """The README.md a static Space needs: YAML front matter (sdk: static, the page to serve)."""
    shown = " ".join(title.split())[:60] or "Leaderboard"
    lines = [
        "---",
        f"title: {json.dumps(shown, ensure_ascii=False)}",  # a JSON string is a YAML string: quotes escaped
        "emoji: 🏆",
        "colorFrom: indigo",
        "colorTo: blue",
        "sdk: static",
        "app_file: index.html",
        "pinned: false",
        "---",
        "",
        "The public leaderboard of this competition, built by `grader site build` and published by "
        "`grader publish space`. Every file here is replaced on each publish; do not edit them by hand.",
        "",
    ]
    return "\n".join(lines)


def publish_space(
    site_dir: Path,
    repo_id: str,
    *,
    title: str,
    token: str | None,
    endpoint: str | None = None,
    retries: int = 3,
    wait: float = 2.0,
    echo: Callable[[str], None] = lambda _line: None,
) -> Published:
    """Upload ``site_dir`` to the Space ``repo_id`` (created as a static Space if missing).

    Tries ``1 + retries`` times, waiting ``wait`` seconds, then twice as long, between tries;
    ``echo`` hears about each failed try. Raises :class:`PublishError` when every try failed.
    """
    if not token:
        raise UsageError(
            "HF_TOKEN is not set: create a write token at https://huggingface.co/settings/tokens and "
            "pass it in the HF_TOKEN environment variable (a repository secret in the workflow)."
        )
    if "/" not in repo_id or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise UsageError(f"{repo_id!r} is not a Space id; write OWNER/NAME, e.g. my-course/leaderboard.")
    files = _site_files(site_dir)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    last: Exception | None = None
    for attempt in range(1, retries + 2):
        try:
            return _upload(api, site_dir, files, repo_id, title, attempt)
        except Exception as ex:  # the HTTP library's errors have no common base class but Exception
            last = ex
            if _permanent(ex) or attempt > retries:
                break
            pause = wait * 2 ** (attempt - 1)
            echo(f"Upload failed (try {attempt} of {retries + 1}): {_reason(ex)}; retrying in {pause:g} s.")
            time.sleep(pause)
    assert last is not None
    raise PublishError(
        f"could not publish {site_dir} to the Space {repo_id}: {_reason(last)}. Nothing was changed on the Space "
        f"and the site is still in {site_dir}; check the token and the Space id, then run the command again."
    )


def _site_files(site_dir: Path) -> list[Path]:
    if not (site_dir / "index.html").is_file():
        raise UsageError(f"{site_dir} has no index.html: build the site first (grader site build --out {site_dir}).")
    files = sorted(p for p in site_dir.rglob("*") if p.is_file() and not p.is_symlink())
    if any(p.relative_to(site_dir).as_posix() == README for p in files):
        raise UsageError(f"{site_dir}/{README} would replace the Space's README; remove it from the site.")
    return files


def _upload(api: Any, site_dir: Path, files: list[Path], repo_id: str, title: str, attempt: int) -> Published:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    url = api.create_repo(repo_id, repo_type="space", space_sdk="static", exist_ok=True)
    local = {p.relative_to(site_dir).as_posix(): p for p in files}
    remote = api.list_repo_files(repo_id, repo_type="space")
    removed = sorted(set(remote) - set(local) - KEEP - {README})
    operations: list[Any] = [CommitOperationAdd(README, space_readme(title).encode("utf-8"))]
    operations += [CommitOperationAdd(path, str(file)) for path, file in local.items()]
    operations += [CommitOperationDelete(path) for path in removed]
    info = api.create_commit(
        repo_id,
        operations,
        repo_type="space",
        commit_message="Publish the leaderboard site",
        commit_description=f"{len(local)} files from grader site build; {len(removed)} removed.",
    )
    return Published(url=str(url), commit=str(info.oid), files=len(local), removed=len(removed), attempts=attempt)


def _permanent(ex: Exception) -> bool:
    """Errors that a retry cannot fix: a bad token, no right to the Space, a rejected README."""
    status = getattr(getattr(ex, "response", None), "status_code", None)
    return status in (400, 401, 403, 404, 422)


def _reason(ex: Exception) -> str:
    status = getattr(getattr(ex, "response", None), "status_code", None)
    first = (str(ex).strip().splitlines() or [type(ex).__name__])[0]
    if status == 401:
        return "the Hub refused the token (401); check HF_TOKEN"
    if status == 403:
        return "the token may not write to this Space (403); use a write token of its owner"
    return f"{first} (HTTP {status})" if status else f"{type(ex).__name__}: {first}"
