"""``grader init``: this repository, used as a template, turned into a teacher's own competition.

Three steps, in this order, so that a mistake costs nothing:

1. :func:`plan` checks every answer (dates, time zone, metric, the data files, the truth against the
   test ids — with the same functions the grader uses to score) and the repository (a clean git
   checkout of the template, not initialised already). Nothing is written; a mistake is one line.
2. :func:`apply` writes competition.yaml (loaded back through :func:`grader.config.load`), copies the
   data into ``data/`` and the plain truth into ``truth/`` (ignored by git), seals the truth
   (:func:`grader.truth.seal`) and removes what a competition does not need (:data:`REMOVED`).
3. The caller prints the key once and the settings to create (docs/teachers.md, "Start a competition").

What a competition repository keeps, and why, is :data:`KEPT`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from grader.config import CONFIG_NAME, Competition
from grader.errors import ConfigError, GraderError, UsageError

# The parts of this repository a competition keeps (the rest is the grader's development machinery).
KEPT = {
    ".github": "the workflows that grade every pull request, and CI",
    "grader": "the grader itself: every workflow step is a `grader` command",
    "pyproject.toml": "installs grader (the workflows and `./dev` use it)",
    "dev": "`./dev grader check ...`: how students run their notebook locally",
    "competition.yaml": "the rules of the competition",
    "data": "the public data notebooks read",
    "truth": "the sealed truth (truth.csv.sealed); the plain truth.csv beside it is ignored by git",
    "environment": "the packages notebooks may use, locked",
    "leaderboard": "the committed record, written only by the grader",
    "docs": "the site's guides (students.md, teachers.md, ...)",
    "mkdocs.yml": "the site",
    "README.md": "the competition's front page, rewritten by `grader init`",
}
# The demo's parts: the example submissions and the demo truth, and the grader's own development
# machinery (its test suite needs the demo; its benchmarks and scripts are for developing grader).
REMOVED = ("examples", "tests", "benchmarks", "scripts", ".ci", "CHANGELOG.md")
TRUTH_PLAIN = "truth/truth.csv"
TRUTH_SEALED = "truth/truth.csv.sealed"
DEMO_TRUTH = "examples/truth.csv"  # present only in the template: its absence means "initialised already"
SPLIT_COLUMN = "split"
_GREATER = re.compile(r"(_score|_similarity)$")
_LOWER = re.compile(r"(_error|_loss|_deviance)$")
_OPTIONS = {
    "title": "--title",
    "description": "--description",
    "metric.name": "--metric",
    "submission.id_column": "--id-column",
    "submission.prediction_column": "--prediction-column",
    "quota.per_day": "--per-day",
}
PredictionType = Literal["integer", "float", "string"]


@dataclass(frozen=True)
class Answers:
    """What the teacher said (options or prompts). ``None``: let :func:`plan` infer it."""

    title: str
    metric: str
    start: str
    end: str
    timezone: str
    per_day: int
    train: Path
    test: Path
    truth: Path
    greater_is_better: bool | None = None
    id_column: str = "id"
    prediction_column: str | None = None
    prediction_type: PredictionType | None = None
    description: str | None = None


@dataclass(frozen=True)
class Plan:
    """Everything :func:`apply` will do, decided and checked."""

    root: Path
    config_text: str
    copies: tuple[tuple[Path, Path], ...]  # (source, destination in the repository)
    removals: tuple[Path, ...]
    truth_source: Path
    inferred: tuple[str, ...]  # what was not given and how it was decided, for the summary


@dataclass(frozen=True)
class Done:
    competition: Competition
    key: str
    removed: tuple[str, ...]
    copied: tuple[str, ...]
    inferred: tuple[str, ...]
    warnings: tuple[str, ...]


def missing(values: dict[str, object]) -> list[str]:
    """The options (``--title``, ...) among ``values`` still ``None``: for the non-interactive error."""
    return ["--" + name.replace("_", "-") for name, value in values.items() if value is None]


# --- 1. check everything -----------------------------------------------------------------------


def plan(root: Path, answers: Answers, *, force: bool = False) -> Plan:
    """Check the answers and the repository; raise :class:`GraderError` (one line) before anything is written."""
    root = root.resolve()
    _check_repository(root, force)
    for option, path in (("--train", answers.train), ("--test", answers.test), ("--truth", answers.truth)):
        if not path.is_file():
            raise UsageError(f"{option} {path}: no such file.")
    if answers.train.name == answers.test.name:
        raise UsageError(
            f"--train and --test are both named {answers.test.name}; rename one (they go side by side in data/)."
        )
    if answers.id_column not in _header(answers.test, "--test"):
        raise UsageError(
            f"--test {answers.test} has no `{answers.id_column}` column; name its id column with --id-column."
        )
    if answers.per_day < 1:
        raise UsageError("--per-day must be at least 1 (submissions per participant per day).")
    zone = _zone(answers.timezone)
    start, end = _date(answers.start, "--start", zone), _date(answers.end, "--end", zone)
    if end <= start:
        raise UsageError(f"--end ({answers.end}) must come after --start ({answers.start}).")

    inferred: list[str] = []
    greater = answers.greater_is_better
    if greater is None:
        greater = _direction(answers.metric)
        inferred.append(f"{'greater' if greater else 'lower'} is better (from the metric's name)")
    prediction_column = answers.prediction_column or _prediction_column(answers.truth, answers.id_column)
    if answers.prediction_column is None:
        inferred.append(f"prediction column `{prediction_column}` (the truth's column besides id and split)")
    prediction_type = answers.prediction_type or _prediction_type(answers.truth, prediction_column)
    if answers.prediction_type is None:
        inferred.append(f"prediction type {prediction_type} (from the truth's values)")

    text = render(
        answers, greater_is_better=greater, prediction_column=prediction_column, prediction_type=prediction_type
    )
    _checked(text, root, answers)
    return Plan(
        root=root,
        config_text=text,
        copies=(
            (answers.train.resolve(), root / "data" / answers.train.name),
            (answers.test.resolve(), root / "data" / answers.test.name),
            (answers.truth.resolve(), root / TRUTH_PLAIN),
        ),
        removals=_removals(root, answers),
        truth_source=answers.truth.resolve(),
        inferred=tuple(inferred),
    )


def _check_repository(root: Path, force: bool) -> None:
    if not (root / CONFIG_NAME).is_file() or not (root / "grader").is_dir():
        raise UsageError(
            f"{root} is not a copy of the grader template (no {CONFIG_NAME} and grader/ here). Create your "
            "repository with GitHub's 'Use this template', clone it, and run `grader init` at its top."
        )
    try:
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as ex:
        raise UsageError(f"cannot run git ({ex}); grader init needs git.") from None
    if status.returncode != 0:
        raise UsageError(f"{root} is not a git repository: clone the repository you made from the template.")
    if force:
        return
    if not (root / DEMO_TRUTH).is_file():
        raise UsageError(
            "this competition is initialised already (the demo's examples/ are gone): edit competition.yaml, "
            "or pass --force to run grader init again."
        )
    if status.stdout.strip():
        changed = len(status.stdout.splitlines())
        raise UsageError(
            f"{changed} tracked file{'s' if changed != 1 else ''} changed and not committed (`git status`): "
            "commit or stash them first, or pass --force."
        )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--timezone {name!r} is not a time zone; use an IANA name such as UTC or Europe/Paris."
        ) from None


def _date(value: str, option: str, zone: ZoneInfo) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {value!r} is not a date; write e.g. 2027-01-31 or 2027-01-31T23:59.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _direction(metric: str) -> bool:
    if _GREATER.search(metric):
        return True
    if _LOWER.search(metric):
        return False
    raise UsageError(
        f"cannot tell from the name {metric!r} whether a greater score is better: pass --greater-is-better "
        "or --lower-is-better."
    )


def _header(path: Path, option: str) -> list[str]:
    import csv

    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return [column.strip() for column in next(csv.reader(handle), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        raise UsageError(f"{option} {path}: not a UTF-8 CSV file.") from None


def _prediction_column(truth: Path, id_column: str) -> str:
    others = [c for c in _header(truth, "--truth") if c not in (id_column, SPLIT_COLUMN)]
    if len(others) != 1:
        raise UsageError(
            f"--truth {truth} has the columns {', '.join(others) or 'none'} besides `{id_column}` and "
            f"`{SPLIT_COLUMN}`: pass --prediction-column to say which one holds the label."
        )
    return others[0]


def _prediction_type(truth: Path, column: str) -> PredictionType:
    import pandas as pd

    try:
        values = pd.read_csv(truth, usecols=[column], dtype=str, keep_default_na=False, encoding="utf-8-sig")[column]
    except (ValueError, OSError):
        raise UsageError(f"--truth {truth} has no `{column}` column (--prediction-column).") from None
    if values.str.strip().str.fullmatch(r"[+-]?\d+").all():
        return "integer"
    if pd.to_numeric(values, errors="coerce").notna().all():
        return "float"
    return "string"


def _checked(text: str, root: Path, answers: Answers) -> Competition:
    """The rendered competition.yaml, checked as the grader will read it, with the teacher's files in place."""
    from grader import config, predictions, score
    from grader import truth as truths

    try:
        competition = config.parse(text, root=root)
        score.resolve_metric(competition.metric, root)
    except ConfigError as ex:  # say it with the option the teacher typed, not a key of a file not yet written
        option = _OPTIONS.get(ex.key or "", ex.key or "")
        message = str(ex).removeprefix(f"{ex.path}: ").removeprefix(f"{ex.key}: ")
        raise UsageError(f"{option}: {message}") from None
    here = replace(
        competition,
        data=replace(competition.data, test=answers.test.resolve()),
        truth=replace(competition.truth, path=answers.truth.resolve(), sealed=None),
    )
    try:
        predictions.expected_ids(here)
    except GraderError:
        raise UsageError(
            f"--test {answers.test}: no `{answers.id_column}` column (--id-column), a repeated or empty id, or not "
            "a UTF-8 CSV file."
        ) from None
    truths.load(here, {})  # the truth's own checks: columns, values, splits, exactly the test ids
    return competition


def _removals(root: Path, answers: Answers) -> tuple[Path, ...]:
    # The teacher's files are kept; a demo file of the same name is replaced by the copy, not removed.
    keep = {answers.train.resolve(), answers.test.resolve(), answers.truth.resolve()}
    replaced = {answers.train.name, answers.test.name}
    demo_data = [
        p
        for p in sorted((root / "data").glob("*"))
        if p.is_file() and p.resolve() not in keep and p.name not in replaced
    ]
    return tuple(p for p in (*(root / name for name in REMOVED), *demo_data) if p.exists())


# --- the competition.yaml ---------------------------------------------------------------------


def _q(value: str) -> str:
    """A YAML scalar for any text: a JSON string is a YAML double-quoted string."""
    return json.dumps(value, ensure_ascii=False)


def render(
    answers: Answers, *, greater_is_better: bool, prediction_column: str, prediction_type: PredictionType
) -> str:
    """The commented competition.yaml for these answers (every key is explained in docs/competition.md)."""
    test = f"data/{answers.test.name}"
    description = answers.description or textwrap.fill(
        f"Learn from `data/{answers.train.name}` and predict `{prediction_column}` for every row of `{test}`. "
        f"Write `predictions.csv` with the columns `{answers.id_column},{prediction_column}`. Scored by "
        f"{answers.metric} on hidden labels: part of the test rows make the public leaderboard, the rest the "
        "private one revealed at the end.",
        width=92,
    )
    block = "".join(f"  {line}\n" if line.strip() else "\n" for line in description.strip("\n").splitlines())
    return f"""\
# yaml-language-server: $schema=grader/competition.schema.json
# The rules of this competition, written by `grader init`. `grader` reads this file for every
# command; see docs/competition.md for every key, then check it with `grader doctor`.
title: {_q(answers.title)}
description: |2
{block}
start: {answers.start.strip()}
end: {answers.end.strip()}
timezone: {answers.timezone}{" " * max(1, 22 - len(answers.timezone))}# days for the quota start at midnight here

submission:
  directory: submissions        # submissions/<github-login>/<name>.ipynb
  predictions: predictions.csv  # written by the notebook in its working directory
  id_column: {_q(answers.id_column)}
  prediction_column: {_q(prediction_column)}
  prediction_type: {prediction_type}
  max_notebook_size: 1 MiB
  max_predictions_size: 10 MiB

data:
  directory: data               # read-only for notebooks, visible as ./data
  test: {_q(test)}{" " * max(1, 24 - len(_q(test)))}# every id here needs exactly one prediction

truth:
  sealed: {TRUTH_SEALED}  # committed, encrypted; its key is the secret GRADER_TRUTH_KEY
  path: {TRUTH_PLAIN}            # the plain truth, on your laptop only (ignored by git)
  split_column: {SPLIT_COLUMN}           # public | private

metric:
  name: {_q(answers.metric)}
  greater_is_better: {"true" if greater_is_better else "false"}

limits:
  cell_timeout: 60s
  run_timeout: 3m
  memory: 2 GiB
  max_output: 1 MiB
  cpu_time: 3m                  # per process
  processes: 64                 # processes and threads at once
  disk: 200 MiB                 # written in the working folder

quota:
  per_day: {answers.per_day}
  count_failed: false           # failed runs do not use up the quota

ranking:
  ties: earliest                # equal scores: who got there first ranks higher

sandbox: auto                   # required | auto | off; always required in CI
"""


# --- 2. write ----------------------------------------------------------------------------------


def apply(planned: Plan) -> Done:
    """Do what :func:`plan` decided: write, copy, seal, remove. Returns the new competition and the key."""
    from grader import config
    from grader import truth as truths

    root = planned.root
    for path in planned.removals:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    copied = []
    for source, destination in planned.copies:
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source != destination.resolve():
            shutil.copyfile(source, destination)
        copied.append(destination.relative_to(root).as_posix())
    config_path = root / CONFIG_NAME
    temporary = config_path.with_name(CONFIG_NAME + ".tmp")
    temporary.write_text(planned.config_text, encoding="utf-8")
    os.replace(temporary, config_path)
    competition = config.load(config_path)  # what every later command reads: it must load
    sealed = truths.seal(competition, root / TRUTH_PLAIN, environ={}, force=True)
    (root / "README.md").write_text(readme(competition), encoding="utf-8")
    leaderboard = root / "leaderboard"
    leaderboard.mkdir(exist_ok=True)
    return Done(
        competition=competition,
        key=sealed.key,
        removed=tuple(p.relative_to(root).as_posix() for p in planned.removals),
        copied=tuple(copied),
        inferred=planned.inferred,
        warnings=(*sealed.warnings, *truths.tracked_warning(planned.truth_source, root)),
    )


def readme(competition: Competition) -> str:
    """The competition's front page (the template's README is about developing grader)."""
    sub = competition.submission
    return f"""\
# {competition.title}

{competition.description.strip()}

- **Opens** {competition.start.isoformat()} and **closes** {competition.end.isoformat()}.
- **Submit:** fork this repository, add one notebook as `{sub.directory}/<your-github-login>/<name>.ipynb`
  that writes `{sub.predictions}` (columns `{sub.id_column},{sub.prediction_column}`), and open a pull
  request. The answer, with your score and rank, comes as a comment on it. Up to
  {competition.quota.per_day} scored submissions a day. Read [docs/students.md](docs/students.md) first.
- **Try your notebook first:** `./dev grader check {sub.directory}/<you>/<name>.ipynb` runs it exactly as the
  grader will.
- **Leaderboard:** `leaderboard/` (written by the grader) and the competition's site.

Run with [grader](docs/teachers.md): a Git-driven, Kaggle-style grading system for Jupyter notebooks.
"""
