"""Git, and nothing else: the one wrapper the grader runs git through.

Committing the leaderboard and pushing it, surviving a race with another recorder
(:func:`push_with_retry`; :mod:`grader.changes` decides what to commit), the files a pull
request changes, a file as committed, whether a path is tracked or ignored.

``leaderboard/leaderboard.db`` is a binary SQLite file: two recorders that both changed it
cannot be merged. So a rejected push is never merged or rebased: :func:`push_with_retry`
fetches, resets the work tree to the remote branch, applies the change again (recording is
idempotent by run id, so a run the other recorder already pushed is not recorded twice),
commits and pushes, a bounded number of times with a growing, jittered pause.

Credentials: with ``actions/checkout``'s ``persist-credentials: false`` the clone holds no
token. When ``token`` is given it is handed to git for each fetch and push only, as an HTTP
header in ``GIT_CONFIG_*`` variables of that one process: never in ``.git/config``, never on
a command line.
"""

from __future__ import annotations

import base64
import logging
import os
import random
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from grader.errors import GraderError
from grader.verify import ChangedFile

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
DEFAULT_ATTEMPTS = 5

log = logging.getLogger(__name__)
T = TypeVar("T")


class SyncError(GraderError):
    """The leaderboard could not be pushed. The message says what git answered."""

    exit_code = 3


@dataclass(frozen=True)
class Pushed:
    """What :func:`push_with_retry` did: the commit pushed (None if nothing changed) and how many tries it took."""

    commit: str | None
    attempts: int


@dataclass(frozen=True)
class Git:
    """A clone to commit in, the remote and branch to push to, how to authenticate, and how many tries a push gets."""

    root: Path
    remote: str = "origin"
    branch: str = "main"
    token: str | None = None
    attempts: int = DEFAULT_ATTEMPTS

    def read(self, *args: str) -> bytes | None:
        """The raw output of a git command that reads (``show``, ``cat-file``), or None when git fails."""
        try:
            proc = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True, timeout=120,
                                  check=False, env=self._env(auth=False))  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout if proc.returncode == 0 else None

    def succeeds(self, *args: str) -> bool:
        """Whether a git command that answers by its exit code (``check-ignore``, say) says yes."""
        try:
            return self.run(*args, check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def run(self, *args: str, check: bool = True, auth: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True, text=True,
                              env=self._env(auth=auth), timeout=300, check=False)  # fmt: skip
        if check and proc.returncode != 0:
            raise SyncError(f"git {args[0]} failed in {self.root}: {_last(proc.stderr or proc.stdout)}")
        return proc

    def _env(self, *, auth: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_CONFIG_")}
        env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C")
        if auth and self.token:
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraheader",
                GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}",
            )
        return env


def push_with_retry(
    git: Git,
    change: Callable[[], T],
    *,
    paths: Sequence[str],
    message: str,
    attempts: int | None = None,
    pause: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, Pushed]:
    """Apply ``change`` on top of the remote branch, commit ``paths`` and push; on a race, start over.

    ``change`` must be idempotent (it runs once per attempt, each time on a fresh copy of
    the remote branch). ``attempts``: how many tries (``git.attempts`` when not given). Returns
    what the last ``change`` returned and what was pushed.
    """
    attempts = git.attempts if attempts is None else attempts
    for attempt in range(1, attempts + 1):
        git.run("fetch", "--quiet", git.remote, f"+refs/heads/{git.branch}:refs/remotes/{git.remote}/{git.branch}",
                auth=True)  # fmt: skip
        git.run("checkout", "--quiet", "-B", git.branch, f"{git.remote}/{git.branch}")
        git.run("reset", "--quiet", "--hard", f"{git.remote}/{git.branch}")
        outcome = change()
        git.run("add", "--all", "--", *paths)
        if git.run("diff", "--cached", "--quiet", check=False).returncode == 0:
            return outcome, Pushed(None, attempt)  # nothing new: the change is already on the remote
        git.run("-c", f"user.name={BOT_NAME}", "-c", f"user.email={BOT_EMAIL}", "commit", "--quiet", "-m", message)
        pushed = git.run("push", "--porcelain", git.remote, f"HEAD:refs/heads/{git.branch}", check=False, auth=True)
        if pushed.returncode == 0:
            return outcome, Pushed(git.run("rev-parse", "HEAD").stdout.strip(), attempt)
        if not _is_race(pushed.stdout + pushed.stderr):
            raise SyncError(f"git push to {git.remote} {git.branch} failed: {_last(pushed.stderr or pushed.stdout)}")
        if attempt < attempts:
            wait = pause * 2 ** (attempt - 1) * (1 + random.random())  # noqa: S311 - jitter, not crypto
            log.info("push lost a race (attempt %d of %d); retrying in %.1f s", attempt, attempts, wait)
            sleep(wait)
    raise SyncError(
        f"the push to {git.remote} {git.branch} lost the race {attempts} times; nothing is lost (recording is "
        "idempotent): re-run the job."
    )


def _is_race(output: str) -> bool:
    text = output.lower()
    return any(
        sign in text
        for sign in (
            "[rejected]",
            "non-fast-forward",
            "fetch first",
            "stale info",
            "cannot lock ref",
            "failed to update",
        )
    )


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def changed_files(root: Path, base: str = "HEAD^1", head: str = "HEAD") -> list[ChangedFile]:
    """The files ``head`` changes against ``base``, named like GitHub's ``pulls/N/files`` does.

    In the evaluate workflow ``HEAD`` is the pull request's merge commit, so ``HEAD^1`` is
    the base branch it merges into.
    """
    proc = Git(root).run("diff", "--name-status", "-z", "--no-renames", base, head)
    fields = proc.stdout.split("\0")
    files: list[ChangedFile] = []
    for code, path in zip(fields[0::2], fields[1::2], strict=False):
        if code:
            files.append(ChangedFile(path, _STATUS.get(code[0], "changed")))
    return files


_STATUS = {"A": "added", "M": "modified", "D": "removed", "T": "changed", "R": "renamed", "C": "copied"}
