"""`grader demo`: grade the example submissions in a scratch copy of the competition.

The scratch copy has its own empty leaderboard, so the repository's `leaderboard/` is never
touched. Submissions are stamped an hour apart, ending now (or at the competition's last
hour if it is over), so the daily quota and the deadline apply as they would for real.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from grader import config, environment, pipeline, render
from grader.config import Competition
from grader.errors import ConfigError
from grader.ranking import Standing
from grader.sandbox import Mode
from grader.store import Store

EXAMPLES = Path("examples") / "submissions"


@dataclass(frozen=True)
class DemoOutcome:
    root: Path
    competition: Competition
    standings: list[Standing]
    graded: list[pipeline.Graded]


def examples(competition: Competition) -> list[tuple[str, Path]]:
    """(login, notebook) for every examples/submissions/<login>/<name>.ipynb, in path order."""
    folder = competition.root / EXAMPLES
    return [(nb.parent.name, nb) for nb in sorted(folder.glob("*/*.ipynb"))]


def scratch_copy(competition: Competition, target: Path) -> Competition:
    """Copy what a competition needs to run (config, environment, public data, demo truth) into ``target``."""
    if competition.truth.path is None or not competition.truth.path.is_file():
        raise ConfigError("the demo needs a local truth file; set truth.path to one.", key="truth.path")
    target.mkdir(parents=True, exist_ok=True)
    declared = (competition.environment.requirements, competition.environment.lock)
    for source in (competition.root / config.CONFIG_NAME, competition.truth.path, *filter(Path.is_file, declared)):
        destination = target / source.relative_to(competition.root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    hub = competition.data.hub
    fetched = {competition.data.directory / name for name in (hub.files if hub else ())}
    shutil.copytree(
        competition.data.directory,
        target / competition.data.directory.relative_to(competition.root),
        dirs_exist_ok=True,
        # data.hub's files are read-only (a second copy over them would fail): the run fetches them from the cache
        ignore=lambda folder, names: [name for name in names if Path(folder) / name in fetched],
    )
    return config.load(target / config.CONFIG_NAME)


def run_demo(
    competition: Competition,
    *,
    keep: Path | None = None,
    run_timeout: float = 10,
    sandbox: Mode | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
    now: datetime,
) -> DemoOutcome:
    """Grade every example (and one resubmission, to show the duplicate rule) into a scratch copy.

    The submissions are stamped an hour apart, the last one at ``now`` (clamped into the competition).
    """
    notebooks = examples(competition)
    if not notebooks:
        raise ConfigError(f"no example notebooks under {competition.root / EXAMPLES}.", key="examples")
    root = keep.resolve() if keep else Path(tempfile.mkdtemp(prefix="grader-demo-"))
    if keep and (root / "leaderboard").exists():
        shutil.rmtree(root / "leaderboard")
    scratch = scratch_copy(competition, root)
    environment.ensure(scratch.environment, progress=progress)  # before the progress bar of the notebooks
    queue = [*notebooks, notebooks[0]]  # the first one again: a duplicate, rejected without running
    stamps = _timestamps(scratch, len(queue), now)
    db = pipeline.default_db(scratch)

    from tqdm import tqdm

    graded: list[pipeline.Graded] = []
    with tqdm(total=len(queue), disable=not progress, unit="notebook", leave=False) as bar:
        for (login, notebook), stamp in zip(queue, stamps, strict=True):
            shown = f"{login}/{notebook.name}"
            bar.set_description(shown)
            outcome = pipeline.grade(
                notebook,
                scratch,
                user=login,
                out_dir=root / "runs" / login / f"{notebook.stem}-{len(graded) + 1}",
                db=db,
                now=stamp,
                notebook_path=f"submissions/{shown}",
                run_timeout=run_timeout,
                sandbox=sandbox,
            )
            graded.append(outcome)
            line = f"{login:>6}  {render.result_line(outcome.result)}"
            if outcome.recorded.status == "rejected" and outcome.result.status != "rejected":
                line += f" — rejected: {outcome.recorded.reason}"
            (bar.write if progress else echo)(line)
            bar.update()
    with Store(db) as store:
        standings = store.leaderboard(scratch)
    if keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return DemoOutcome(root=root, competition=scratch, standings=standings, graded=graded)


def _timestamps(competition: Competition, count: int, now: datetime) -> list[datetime]:
    """``count`` times an hour apart, the last one at ``now`` clamped into the competition."""
    last = min(max(now, competition.start + timedelta(hours=count)), competition.end - timedelta(minutes=1))
    return [last - timedelta(hours=count - 1 - i) for i in range(count)]
