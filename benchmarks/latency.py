"""A pull request's latency under act: from the pull_request event to the comment, step by step, cold and warm.

    python benchmarks/latency.py [--keep FOLDER]

act runs the real workflow files on this machine (``-P ubuntu-latest=-self-hosted``), as
tests/test_workflows.py does: evaluate.yml on a pull_request event, then score.yml on the
workflow_run event that follows it (its verify, score and answer jobs: the path to the
comment). The repository's own .github/actions/setup-grader and notebook-env run for real,
installing the grader from the scratch repository. What needs GitHub is replaced by the
stand-ins in tests/act_standins/: checkout, the artifacts, setup-python (the machine's Python
3.11 instead of the runner's tool cache), the cache service (a zstd tar file per key in a folder
per branch scope, as GitHub scopes caches: a pull request reads its own and the default
branch's, the default branch only its own), sudo; GitHub's API is tests/fake_github.py.

cold  every cache empty (the cache service, pip's, uv's): the first pull request after a
      change of pyproject.toml or environment/.
warm  a second pull request, by another student, after ci.yml's `caches` job ran on the
      default branch (as it does on every push to it).

Each act invocation gets an empty HOME, as each GitHub job gets a fresh machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))

from fake_github import FakeGitHub  # noqa: E402

STANDINS = TESTS / "act_standins"
ACT = Path(sys.executable).parent / "act"
PINS = {  # the actions the workflows pin → their stand-ins
    "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683": "checkout",
    "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02": "upload-artifact",
    "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093": "download-artifact",
    "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684": "cache",
    "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065": "setup-python",
}
# act's lines for a step: "[score/Score and record] ⭐ Run Main Set up grader", then, when it ends,
# "[score/Score and record]   ✅  Success - Main Set up grader [1m2.5s]" (a Go duration); a composite
# action's own steps start and end between its two lines.
STARTED = re.compile(r"^\[(?P<job>[^\]]+?)\s*\]\s+⭐ Run Main (?P<step>.+)$")
ENDED = re.compile(
    r"^\[(?P<job>[^\]]+?)\s*\]\s+(?:✅|❌)\s+(?:Success|Failure) - Main (?P<step>.+) \[(?P<took>[\dhmsµ.]+)\]$"
)
CACHES = ("GRADER_CACHE_DIR", "XDG_CACHE_HOME", "UV_CACHE_DIR", "PIP_CACHE_DIR")  # each would point outside HOME
NOTEBOOK = ROOT / "examples" / "submissions" / "alice"


@dataclass
class Invocation:
    """One act run: what it ran, how long it took in all, and each step's time as act reports it."""

    what: str
    seconds: float
    steps: list[tuple[str, int, str, float]] = field(default_factory=list)  # job, depth, step, seconds


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def scratch(tmp: Path) -> tuple[Path, Path, str]:
    """A competition repository as a teacher's is: the grader's source, its workflows, the truth sealed."""
    repo = tmp / "repo"
    repo.mkdir()
    for name in ("competition.yaml", "mkdocs.yml", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, repo)
    for name in ("data", "environment", ".github", "grader"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "leaderboard").mkdir()
    (repo / "leaderboard" / ".keep").write_text("")
    config_file = repo / "competition.yaml"
    text = config_file.read_text().replace("  split_column:", "  sealed: truth/truth.csv.sealed\n  split_column:", 1)
    config_file.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "GRADER_TRUTH_KEY"}
    sealed = subprocess.run([sys.executable, "-m", "grader", "truth", "seal", str(ROOT / "examples" / "truth.csv")],
                            cwd=repo, capture_output=True, text=True, check=True, env=env)  # fmt: skip
    key = next(line for line in sealed.stdout.splitlines() if len(line) == 44 and " " not in line)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "competition")
    bare = tmp / "remote.git"
    git(tmp, "clone", "-q", "--bare", str(repo), str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "fetch", "-q", "origin")
    return repo, bare, key


def open_pull_request(repo: Path, login: str) -> tuple[str, str]:
    """A branch adding ``login``'s notebook on top of main; its head commit and the notebook's path."""
    git(repo, "fetch", "-q", "origin")
    git(repo, "checkout", "-q", "-B", f"pr-{login}", "origin/main")
    notebook = next(NOTEBOOK.glob("*.ipynb"))
    folder = repo / "submissions" / login
    folder.mkdir(parents=True)
    shutil.copy(notebook, folder / notebook.name)
    git(repo, "add", "-A")
    git(repo, "-c", f"user.name={login}", "-c", f"user.email={login}@example.org", "commit", "-qm", "my submission")
    return git(repo, "rev-parse", "HEAD").strip(), f"submissions/{login}/{notebook.name}"


def act(repo: Path, tmp: Path, what: str, event_name: str, workflow: str, event: dict[str, Any], *extra: str,
        env: dict[str, str]) -> Invocation:  # fmt: skip
    event_file = tmp / f"{what}.json"
    event_file.write_text(json.dumps(event))
    home = tmp / f"home-{what}"  # a fresh machine: no pip, uv or grader cache
    home.mkdir()
    variables = {
        "ACT_ARTIFACTS": str(tmp / "artifacts"),
        "ACT_SUDO_LOG": str(tmp / "sudo.log"),
        "ACT_SOURCE_REPO": str(repo),
        "ACT_PYTHON_PREFIX": sys.base_prefix,
        **env,
    }
    command = [str(ACT), event_name, "-W", f".github/workflows/{workflow}", "-e", str(event_file),
               "-P", "ubuntu-latest=-self-hosted", "--action-cache-path", str(tmp / "act-cache"),
               *[arg for pin, standin in PINS.items() for arg in ("--local-repository", f"{pin}={STANDINS / standin}")],
               *[arg for key, value in variables.items() for arg in ("--env", f"{key}={value}")], *extra]  # fmt: skip
    path = f"{STANDINS / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    start = time.perf_counter()
    machine = {k: v for k, v in os.environ.items() if k not in CACHES}  # no cache from outside the runner
    proc = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=1800,
                          env={**machine, "PATH": path, "HOME": str(home)})  # fmt: skip
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    (tmp / f"act-{what}.log").write_text(log)
    if proc.returncode != 0:
        raise SystemExit(f"act {what} failed ({proc.returncode}); the log is {tmp / f'act-{what}.log'}:\n{log[-3000:]}")
    found = Invocation(what, seconds)
    open_steps: dict[str, list[str]] = {}
    for line in log.splitlines():
        if m := STARTED.match(line.strip()):
            open_steps.setdefault(m["job"], []).append(m["step"])
        elif m := ENDED.match(line.strip()):
            stack = open_steps.get(m["job"], [])
            if m["step"] in stack:
                del stack[len(stack) - 1 - stack[::-1].index(m["step"]) :]
            found.steps.append((m["job"].split("/", 1)[-1], len(stack), m["step"], _duration(m["took"])))
    return found


def _duration(text: str) -> float:
    """Seconds in a Go duration (``1m2.5s``, ``135.49ms``)."""
    unit = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "µs": 1e-6}
    return sum(float(n) * unit[u] for n, u in re.findall(r"([\d.]+)(h|ms|µs|m|s)", text))


def pull_request_event(number: int, login: str, head_sha: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((TESTS / "payloads" / "pull_request.opened.payload.json").read_text())
    event["pull_request"]["number"] = number
    event["pull_request"]["user"]["login"] = login
    event["pull_request"]["head"]["sha"] = head_sha
    return event


def workflow_run_event(fake: FakeGitHub, run_id: int, head_sha: str, login: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((TESTS / "payloads" / "workflow_run.completed.payload.json").read_text())
    event["workflow_run"].update(
        event="pull_request", head_sha=head_sha, id=run_id, run_attempt=1, conclusion="success",
        created_at="2026-12-01T10:00:00Z", name="evaluate", path=".github/workflows/evaluate.yml",
        html_url=f"https://github.com/{fake.repo}/actions/runs/{run_id}", pull_requests=[],
    )  # fmt: skip
    event["workflow_run"]["head_repository"]["full_name"] = f"{login}/{fake.repo.split('/')[1]}"
    event["repository"].update(full_name=fake.repo, default_branch="main")
    return event


def one_pull_request(repo: Path, tmp: Path, fake: FakeGitHub, key: str, *, label: str, number: int, login: str,
                     caches: Path) -> list[Invocation]:  # fmt: skip
    """evaluate.yml then score.yml up to the comment, for pull request ``number`` by ``login``."""
    head_sha, notebook = open_pull_request(repo, login)
    scope = {"ACT_CACHE_DIR": str(caches / f"pull-{number}"), "ACT_CACHE_READ": str(caches / "main")}
    evaluated = act(repo, tmp, f"{label}-evaluate", "pull_request", "evaluate.yml",
                    pull_request_event(number, login, head_sha), env=scope)  # fmt: skip
    git(repo, "checkout", "-q", "main")  # score.yml runs the default branch's code
    fake.add_pull(number, author=login, head_sha=head_sha, files=[(notebook, "added")])
    env = {"GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": fake.repo, "GRADER_NOW": "2026-12-01T12:00:00Z",
           "ACT_CACHE_DIR": str(caches / "main")}  # fmt: skip
    secrets = ["-s", f"GRADER_TRUTH_KEY={key}", "-s", "GITHUB_TOKEN=test-token", "-j", "answer"]
    scored = act(repo, tmp, f"{label}-score", "workflow_run", "score.yml",
                 workflow_run_event(fake, 900 + number, head_sha, login), *secrets, env=env)  # fmt: skip
    if not fake.comments.get(number):
        raise SystemExit(f"no comment on pull request #{number}: {fake.comments}")
    return [evaluated, scored]


def warm_up(repo: Path, tmp: Path, caches: Path) -> Invocation:
    """ci.yml's `caches` job on a push to main: saves the caches in the default branch's scope."""
    event = {"ref": "refs/heads/main", "repository": {"default_branch": "main", "full_name": "octo-org/grading"}}
    return act(
        repo, tmp, "warm-up", "push", "ci.yml", event, "-j", "caches", env={"ACT_CACHE_DIR": str(caches / "main")}
    )


def report(label: str, invocations: list[Invocation]) -> None:
    total = sum(i.seconds for i in invocations)
    notebook = sum(s for i in invocations for _, _, step, s in i.steps if step == "Run the notebook in the sandbox")
    print(f"\n{label}: {total:.1f} s from the pull_request event to the comment (act's wall time, the workflows "
          f"in turn); the notebook's own run {notebook:.1f} s; all but it {total - notebook:.1f} s")  # fmt: skip
    for invocation in invocations:
        print(f"  {invocation.what}: {invocation.seconds:.1f} s")
        for job, depth, step, seconds in invocation.steps:
            print(f"    {job[:30]:<30} {'  ' * depth + step[:60]:<66} {seconds:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the scratch folder (the act logs) here")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each line as it comes
    tmp = Path(tempfile.mkdtemp(prefix="grader-latency-")) if args.keep is None else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        repo, _, key = scratch(tmp)
        caches = tmp / "caches"
        with FakeGitHub("octo-org/grading") as fake:
            cold = one_pull_request(repo, tmp, fake, key, label="cold", number=2, login="alice", caches=caches)
            report("cold", cold)
            warming = warm_up(repo, tmp, caches)
            print(f"\nci.yml caches job (on the push to main, not on the path): {warming.seconds:.1f} s")
            warm = one_pull_request(repo, tmp, fake, key, label="warm", number=3, login="bob", caches=caches)
            report("warm", warm)
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
