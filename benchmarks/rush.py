"""The deadline rush: N score jobs record and push to one leaderboard within a minute of each other.

    nice python benchmarks/rush.py [--n 200] [--spread 60] [--latency 0] [--seed 1]

Each of the N processes is the score job's record step, `grader pr record RUN --answer-file ...`
(the command score.yml runs, with GRADER_PRIVATE_KEY set), in a clone of its own, pushing to
one bare repository in a temporary folder with the push retry of grader/gitsync.py. They start
at moments drawn uniformly over ``--spread`` seconds. ``--latency`` adds that many seconds to
every fetch and every push (the remote's upload-pack and receive-pack start late), as GitHub's
round trips would.

Some participants submit more than the day's quota allows (seven runs against five), so the
race must keep the quota exact as well as record every run. Afterwards, from a fresh clone of
the remote: every run recorded exactly once, none lost, five of each heavy participant's seven
accepted and two refused by the quota, one commit per run, a linear history, the database's
integrity ``ok``. Printed: how long each process took from its start to its exit (what the
last one waits), and how many tries its push took.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import config, demo, pipeline  # noqa: E402
from grader import result as results  # noqa: E402
from grader.result import Result  # noqa: E402
from grader.sealing import KEY_ENV, new_key  # noqa: E402
from grader.workflow import VERIFIED_NAME, Verified  # noqa: E402

GRADER = Path(sys.executable).parent / "grader"
HEAVY_RUNS = 7  # a heavy participant's runs on the rush day, against a quota of five
DAY = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the competition is open then (competition.yaml)
BOT = ["-c", "user.name=t", "-c", "user.email=t@t"]


@dataclass(frozen=True)
class Submission:
    user: str
    run_id: str
    submitted_at: datetime


@dataclass(frozen=True)
class Rush:
    """A prepared rush: the bare remote, and per submission its clone and its verified, scored run."""

    remote: Path
    quota: int
    submissions: list[Submission]
    clones: list[Path]
    runs: list[Path]
    key: str


@dataclass(frozen=True)
class Outcome:
    submission: Submission
    returncode: int
    seconds: float  # from the process's start to its exit
    attempts: int | None  # the push's tries, from its log (None if it did not push)
    pushing: float | None  # seconds from the push's first try to its success, from its log
    output: str


def plan(n: int) -> list[Submission]:
    """N submissions on one day: a tenth of the participants submit seven runs each, the others one."""
    if n < HEAVY_RUNS + 1:
        raise SystemExit(f"--n must be at least {HEAVY_RUNS + 1}")
    heavy = max(1, n // 10)
    users = [f"heavy{h}" for h in range(heavy) for _ in range(HEAVY_RUNS)]
    users += [f"student{s}" for s in range(n - len(users))]
    # GitHub's run ids; created within the last hour before the rush, one per run.
    return [
        Submission(user, f"github-{13_000_000_000 + 11 * i}-1", DAY + timedelta(seconds=17 * i))
        for i, user in enumerate(users)
    ]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def prepare(folder: Path, n: int, *, latency: float = 0.0) -> Rush:
    """A competition repository with an empty leaderboard, its bare remote, and N clones with a run each."""
    seed = folder / "seed"
    comp = demo.scratch_copy(config.load(ROOT / "competition.yaml"), seed)
    (seed / "leaderboard").mkdir()
    (seed / "leaderboard" / ".keep").write_text("")
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, *BOT, "commit", "-qm", "competition")
    remote = folder / "remote.git"
    git(folder, "clone", "-q", "--bare", str(seed), str(remote))
    scored = _scored_run(folder / "scored", comp)
    submissions = plan(n)
    clones, runs = [], []
    for i, sub in enumerate(submissions):
        clone = folder / "clones" / str(i)
        git(folder, "clone", "-q", str(remote), str(clone))
        if latency:
            for pack in ("upload", "receive"):
                git(clone, "config", f"remote.origin.{pack}pack", f"sleep {latency}; git-{pack}-pack")
        run = folder / "runs" / str(i)
        shutil.copytree(scored, run)
        result = replace(results.read(run), run_id=sub.run_id, notebook_sha256=f"{i:064x}")
        results.write(result, run)
        facts = Verified(
            pr=100 + i,
            user=sub.user,
            notebook=f"submissions/{sub.user}/model-{i}.ipynb",
            head_sha=f"{i:040x}",
            run_id=sub.run_id,
            submitted_at=sub.submitted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            run_url=f"https://github.com/octo-org/grading/actions/runs/{sub.run_id.split('-')[1]}",
        )
        (run / VERIFIED_NAME).write_text(json.dumps(asdict(facts)), encoding="utf-8")
        clones.append(clone)
        runs.append(run)
    return Rush(remote, comp.quota.per_day, submissions, clones, runs, new_key())


def _scored_run(out: Path, comp: config.Competition) -> Path:
    """One run scored for real (`grader score`): predictions of the truth's ids, a few of them wrong."""
    assert comp.truth.path is not None
    rng = random.Random(3)
    rows = [line.split(",")[:2] for line in comp.truth.path.read_text(encoding="utf-8").splitlines()[1:]]
    out.mkdir(parents=True)
    lines = [f"{ident},{rng.randrange(10) if rng.random() < 0.1 else label}" for ident, label in rows]
    (out / "predictions.csv").write_text("\n".join(["id,label", *lines]) + "\n", encoding="utf-8")
    results.write(
        Result(status="completed", run_id="scored", notebook="model.ipynb", notebook_sha256="0" * 64,
               started_at="2026-12-01T08:00:00Z", runtime_seconds=12.5, predictions="predictions.csv"),
        out,
    )  # fmt: skip
    pipeline.score(out, comp, environ={})
    return out


def launch(
    rush: Rush,
    *,
    spread: float,
    seed: int = 1,
    extra: tuple[str, ...] = (),
    fork: bool = False,
    only: list[int] | None = None,
) -> list[Outcome]:
    """Start each record step at a moment drawn over ``spread`` seconds; wait for all of them.

    Each is a process of its own running `grader pr record`: a new one (``fork=False``, what a
    score job runs), or (``fork=True``) a fork of this one, which has imported the grader and
    pandas once, calling the same command's entry point: on a shared machine 200 cold Python
    starts would measure the CPU, not the race (on GitHub each job has a machine of its own).
    """
    rng = random.Random(seed)
    order = list(range(len(rush.submissions))) if only is None else only
    offsets = sorted(rng.uniform(0, spread) for _ in order)
    rng.shuffle(order)  # who finishes scoring first is not who submitted first
    env = {"PATH": f"{GRADER.parent}:/usr/bin:/bin", "HOME": str(rush.remote.parent), "GRADER_DEBUG": "1",
           KEY_ENV: rush.key}  # fmt: skip
    logs = rush.remote.parent / "logs"
    logs.mkdir(exist_ok=True)
    running: dict[int, tuple[float, subprocess.Popen[str] | _Forked]] = {}
    if fork:
        import pandas  # noqa: F401

        from grader import cli, predictions  # noqa: F401 - imported once, before the forks
    ended: dict[int, tuple[float, int]] = {}

    def reap() -> None:
        for i, (start, proc) in list(running.items()):
            if (code := proc.poll()) is not None:
                ended[i] = (time.monotonic() - start, code)
                del running[i]

    t0 = time.monotonic()
    for offset, i in zip(offsets, order, strict=True):
        while time.monotonic() < t0 + offset:
            reap()
            time.sleep(min(0.05, max(0.0, t0 + offset - time.monotonic())))
        answer = logs / f"{i}.answer.json"
        args = ["pr", "record", str(rush.runs[i]), "--answer-file", str(answer), "--branch", "main", *extra]
        if fork:
            running[i] = (time.monotonic(), _Forked(_fork(args, rush.clones[i], env, logs / f"{i}.log")))
            continue
        with (logs / f"{i}.log").open("a") as log:
            proc = subprocess.Popen([str(GRADER), *args], cwd=rush.clones[i], env=env, text=True,
                                    stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        running[i] = (time.monotonic(), proc)
    while running:
        reap()
        time.sleep(0.05)
    outcomes = []
    for i, (seconds, returncode) in sorted(ended.items()):
        output = (logs / f"{i}.log").read_text()
        outcomes.append(
            Outcome(rush.submissions[i], returncode, seconds, _attempts(output), _pushed_after(output), output)
        )
    return outcomes


class _Forked:
    """A forked child, polled like a Popen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _fork(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        random.seed()  # a fork inherits its parent's random state: without this every jitter would be the same
        from grader import cli

        cli.main(args)
        code = 0
    except SystemExit as ex:
        code = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _attempts(stderr: str) -> int | None:
    for line in stderr.splitlines():
        if "pushed on attempt " in line:
            return int(line.split("pushed on attempt ")[1].split()[0])
    return None


def _pushed_after(stderr: str) -> float | None:
    """Seconds from the push's first try to its success, from the push's own log line."""
    for line in stderr.splitlines():
        if "pushed on attempt " in line:
            return float(line.split(" after ")[1].split()[0])
    return None


def check(rush: Rush, where: Path) -> list[str]:
    """What went wrong on the remote: runs lost or doubled, a quota not exact, a merge; empty when all is right."""
    clone = where / "check"
    shutil.rmtree(clone, ignore_errors=True)
    git(where, "clone", "-q", str(rush.remote), str(clone))
    with sqlite3.connect(clone / "leaderboard" / "leaderboard.db") as conn:
        rows = conn.execute("SELECT run_id, username, status, error_type FROM submissions").fetchall()
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    problems = []
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    recorded = Counter(run_id for run_id, *_ in rows)
    planned = {sub.run_id for sub in rush.submissions}
    if lost := planned - set(recorded):
        problems.append(f"{len(lost)} runs lost: {sorted(lost)[:5]}")
    if doubled := [run for run, count in recorded.items() if count > 1]:
        problems.append(f"{len(doubled)} runs recorded more than once: {doubled[:5]}")
    if stray := set(recorded) - planned:
        problems.append(f"{len(stray)} runs nobody submitted: {sorted(stray)[:5]}")
    by_user: dict[str, Counter[str]] = {}
    for _, user, status, error_type in rows:
        by_user.setdefault(user, Counter())[error_type if status == "rejected" else status] += 1
    for sub in rush.submissions:
        runs = sum(1 for other in rush.submissions if other.user == sub.user)
        expected = Counter({"completed": min(runs, rush.quota)}) + Counter({"quota": max(0, runs - rush.quota)})
        if by_user.get(sub.user) != expected:
            problems.append(f"{sub.user}: {dict(by_user.get(sub.user, {}))}, expected {dict(expected)}")
            break
    commits = git(clone, "rev-list", "--count", "main").strip()
    if int(commits) != len(rush.submissions) + 1:
        problems.append(f"{commits} commits on main, expected one per run and the first")
    if merges := git(clone, "rev-list", "--merges", "main").split():
        problems.append(f"{len(merges)} merge commits on main")
    board = (clone / "leaderboard" / "leaderboard.csv").read_text(encoding="utf-8").splitlines()
    if len(board) - 1 != len({sub.user for sub in rush.submissions}):
        problems.append(f"leaderboard.csv has {len(board) - 1} rows for {len(by_user)} participants")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="score jobs (submissions)")
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which they start")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every fetch and push")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--spawn", action="store_true", help="a new Python per record step (default: forks)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each line as it comes, into a file too
    with tempfile.TemporaryDirectory(prefix="grader-rush-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        rush = prepare(folder, args.n, latency=args.latency)
        print(f"prepared {args.n} clones and runs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        start = time.perf_counter()
        outcomes = launch(rush, spread=args.spread, seed=args.seed, fork=not args.spawn)
        wall = time.perf_counter() - start
        report(args, outcomes, wall, check(rush, folder))
        failed = [i for i, o in enumerate(outcomes) if o.returncode != 0]
        problems = []
        if failed:  # what a re-run of the failed jobs does once the rush is over: one at a time
            again = [launch(rush, spread=0, fork=not args.spawn, only=[i])[0] for i in failed]
            problems = check(rush, folder)
            still = sum(1 for o in again if o.returncode != 0)
            print(f"re-running the {len(failed)} failed record steps one after another: {still} failed again")
            print("  remote: " + ("every run recorded exactly once, quota exact, linear history" if not problems
                                  else "; ".join(problems)))  # fmt: skip
            failed = [i for i, o in zip(failed, again, strict=True) if o.returncode != 0]
    sys.exit(1 if problems or failed else 0)


def _spread(values: list[float]) -> str:
    values = sorted(values)
    p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
    return f"median {statistics.median(values):.1f}, p90 {p90:.1f}, max {values[-1]:.1f}"


def report(args: argparse.Namespace, outcomes: list[Outcome], wall: float, problems: list[str]) -> None:
    failed = [o for o in outcomes if o.returncode != 0]
    users = len({o.submission.user for o in outcomes})
    print(f"rush: {args.n} record steps by {users} participants, started over {args.spread:.0f} s, "
          f"+{args.latency:.2f} s per fetch and push; last done {wall:.0f} s after the first start")  # fmt: skip
    print(f"  exit 0: {len(outcomes) - len(failed)}, failed: {len(failed)}")
    for o in failed[:3]:
        print(f"  failed ({o.returncode}): {o.output.strip().splitlines()[-1:]}")
    done = [o for o in outcomes if o.returncode == 0]
    if done:
        print(f"  record step, start to exit (s): {_spread([o.seconds for o in done])}")
    pushes = [o for o in done if o.pushing is not None and o.attempts is not None]
    if pushes:
        print(f"  push, first try to success (s): {_spread([o.pushing or 0.0 for o in pushes])}")
        tries = [float(o.attempts or 0) for o in pushes]
        print(f"  tries per push: {_spread(tries)}, total {sum(tries):.0f}")
    print(
        "  remote: "
        + ("every run recorded exactly once, quota exact, linear history" if not problems else "; ".join(problems))
    )


if __name__ == "__main__":
    main()
