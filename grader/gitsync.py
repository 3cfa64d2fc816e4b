"""Git, and nothing else: the one wrapper the grader runs git through.

Committing the leaderboard and pushing it, surviving a race with another recorder
(:func:`push_with_retry`; :mod:`grader.changes` decides what to commit), the files a pull
request changes, a file as committed, whether a path is tracked or ignored.

``leaderboard/leaderboard.db`` is a binary SQLite file: two recorders that both changed it
cannot be merged. So a rejected push is never merged or rebased: :func:`push_with_retry`
fetches, resets the work tree to the remote branch, applies the change again (recording is
idempotent by run id, so a run the other recorder already pushed is not recorded twice),
commits and pushes, with a growing, jittered pause between tries, for at most
:data:`DEFAULT_BUDGET` seconds (and :data:`DEFAULT_ATTEMPTS` tries).

The bound is sized for a deadline rush (docs/reliability.md): two hundred score jobs that
finish within a minute of each other all push to the one branch. The remote takes one push
per fetch-record-push cycle, so the last of them waits about as long as all the others' cycles
together; the pauses are capped so that a recorder keeps trying while the queue drains, and
fully jittered so that the losers of one round do not all come back together. When the bound
is reached the push fails loudly (:class:`SyncError`, exit code 3) and nothing is half-written:
the run is simply not recorded yet, and re-running the job records it once.

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
DEFAULT_ATTEMPTS = 100  # tries; with the default pauses the time budget ends first
DEFAULT_BUDGET = 900.0  # seconds of trying in all: the score job's 25 minutes hold it with room to spare
FIRST_PAUSE = 0.5  # seconds before the second try, doubling each time ...
MAX_PAUSE = 15.0  # ... up to this; each pause is drawn uniformly below its ceiling (full jitter)

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
    """A clone to commit in, the remote and branch to push to, how to authenticate, and how long a push keeps trying.

    ``attempts``: at most this many tries; ``budget``: seconds after the first try past which
    no new try starts.
    """

    root: Path
    remote: str = "origin"
    branch: str = "main"
    token: str | None = None
    attempts: int = DEFAULT_ATTEMPTS
    budget: float = DEFAULT_BUDGET

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
    budget: float | None = None,
    pause: float = FIRST_PAUSE,
    max_pause: float = MAX_PAUSE,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    jitter: Callable[[], float] = random.random,
) -> tuple[T, Pushed]:
    """Apply ``change`` on top of the remote branch, commit ``paths`` and push; on a race, start over.

    ``change`` must be idempotent (it runs once per attempt, each time on a fresh copy of
    the remote branch). Bounded by ``attempts`` tries and ``budget`` seconds (``git``'s when not
    given): after a lost race the pause is drawn from ``[0, min(max_pause, pause * 2**k))``
    and no try starts once the budget would be spent. Returns what the last ``change``
    returned and what was pushed; :class:`SyncError` when the bound is reached.
    """
    attempts = max(1, git.attempts if attempts is None else attempts)
    budget = git.budget if budget is None else budget
    started = clock()
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
            log.info("pushed on attempt %d after %.1f s", attempt, clock() - started)
            return outcome, Pushed(git.run("rev-parse", "HEAD").stdout.strip(), attempt)
        if not _is_race(pushed.stdout + pushed.stderr):
            raise SyncError(f"git push to {git.remote} {git.branch} failed: {_last(pushed.stderr or pushed.stdout)}")
        wait = min(max_pause, pause * 2 ** (attempt - 1)) * jitter()
        if attempt == attempts or clock() - started + wait > budget:
            break
        log.info("push lost a race (attempt %d of %d); retrying in %.1f s", attempt, attempts, wait)
        sleep(wait)
    raise SyncError(
        f"the leaderboard could not be pushed to {git.remote} {git.branch}: other recorders won the race "
        f"{attempt} times in {clock() - started:.0f} s (the bound is {attempts} tries or {budget:.0f} s). "
        "This run is not recorded yet and nothing was half-written: re-run this job (on GitHub: Re-run failed "
        "jobs) and it is recorded once."
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
