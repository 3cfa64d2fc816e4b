"""The `grader` command: parse arguments, make one library call, render the outcome.

Errors become exit codes here and only here: 0 success, 1 the submission failed or was
refused, 2 a usage or configuration mistake, 3 the leaderboard store, 70 a bug in grader.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from grader import __version__
from grader.errors import GraderError, InvalidNotebook

INTERNAL_ERROR = 70


def _competition(ctx: click.Context) -> Any:
    from grader import config

    if "competition" not in ctx.obj:
        ctx.obj["competition"] = config.load(ctx.obj["config_path"])
    return ctx.obj["competition"]


def _db(ctx: click.Context, db: Path | None) -> Path:
    from grader.pipeline import default_db

    return db or default_db(_competition(ctx))


def _size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    from grader.config import parse_size

    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as ex:
        raise click.BadParameter(str(ex)) from None


def _when(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date and time, e.g. 2026-12-01T14:30:00+01:00") from None
    if parsed.tzinfo is None:
        raise click.BadParameter("add a UTC offset, e.g. 2026-12-01T14:30:00+01:00 or ...Z")
    return parsed


notebook_arg = click.argument("notebook", type=click.Path(path_type=Path, dir_okay=False))
db_opt = click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Leaderboard database [default: leaderboard/leaderboard.db].",
)
user_opt = click.option("--user", required=True, help="The participant's GitHub login.")
timeout_opt = click.option(
    "--timeout", type=click.FloatRange(min=1), help="Whole-run time limit in seconds, instead of limits.run_timeout."
)
memory_opt = click.option("--memory", callback=_size, help="Memory limit such as '4 GiB', instead of limits.memory.")
progress_opt = click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar [default: when stderr is a terminal]."
)


def _progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="grader")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="competition.yaml to use [default: found in the current folder or above].",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Grade Jupyter notebooks for a Kaggle-style competition run from a Git repository.

    A notebook is validated, executed with a forced kernel under time and memory limits,
    its predictions scored against hidden truth, and the result recorded in a versioned
    SQLite + CSV leaderboard. Try it: `grader demo`.
    """
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


@cli.command()
@click.argument("notebooks", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def validate(ctx: click.Context, notebooks: tuple[Path, ...]) -> None:
    """Check that notebooks are acceptable submissions, without running them.

    Prints one line per problem; exits 1 if any notebook is invalid.
    """
    from grader.validate import validate as check

    limit = _competition(ctx).submission.max_notebook_size
    bad = 0
    for notebook in notebooks:
        try:
            valid = check(notebook, max_size=limit)
        except InvalidNotebook as ex:
            bad += 1
            for problem in ex.problems:
                click.echo(f"{notebook}: {problem}", err=True)
            continue
        upgraded = f" (upgraded from nbformat {valid.upgraded_from})" if valid.upgraded_from else ""
        click.echo(f"{notebook}: valid{upgraded}")
    if bad:
        sys.exit(1)


@cli.command()
@notebook_arg
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for executed.ipynb, result.json and the predictions.",
)
@timeout_opt
@memory_opt
@progress_opt
@click.pass_context
def run(
    ctx: click.Context, notebook: Path, out_dir: Path, timeout: float | None, memory: int | None, progress: bool | None
) -> None:
    """Validate and execute a notebook under the competition's limits.

    Always writes OUT/executed.ipynb and OUT/result.json, and copies the predictions file
    into OUT when the notebook wrote one. Exits 0 only when every cell ran.
    """
    from grader import pipeline, render

    result = pipeline.run(
        notebook, out_dir, _competition(ctx), run_timeout=timeout, memory=memory, progress=_progress(progress)
    )
    _finish(render.result_line(result), ok=result.status == "completed")


@cli.command()
@click.argument("out_dir", metavar="DIR", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.pass_context
def score(ctx: click.Context, out_dir: Path) -> None:
    """Score the predictions of a run (DIR from `grader run`) against the hidden truth.

    Writes the public and private scores into DIR/result.json and prints the public one.
    """
    from grader import pipeline, render

    result = pipeline.score(out_dir, _competition(ctx))
    _finish(render.result_line(result), ok=result.status == "completed")


@cli.command()
@click.argument("out_dir", metavar="DIR", type=click.Path(path_type=Path, file_okay=False, exists=True))
@user_opt
@db_opt
@click.option("--notebook-path", help="Path of the notebook in the repository, as recorded [default: its file name].")
@click.option("--submitted-at", callback=_when, help="When it was submitted (ISO 8601 with offset) [default: now].")
@click.pass_context
def record(
    ctx: click.Context,
    out_dir: Path,
    user: str,
    db: Path | None,
    notebook_path: str | None,
    submitted_at: datetime | None,
) -> None:
    """Record a scored run (DIR) in the leaderboard and regenerate the CSV exports.

    Idempotent: recording the same run twice changes nothing. A submission that breaks a
    rule (deadline, daily limit, duplicate notebook) is recorded as rejected, with the reason.
    """
    from grader import pipeline

    recorded = pipeline.record(
        out_dir,
        _competition(ctx),
        user=user,
        db=_db(ctx, db),
        now=submitted_at or datetime.now(UTC),
        notebook_path=notebook_path,
    )
    _finish(_recorded_line(recorded), ok=recorded.status == "completed")


@cli.command()
@notebook_arg
@user_opt
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the run's files [default: runs/LOGIN/NOTEBOOK].",
)
@db_opt
@timeout_opt
@memory_opt
@progress_opt
@click.pass_context
def grade(
    ctx: click.Context, notebook: Path, user: str, out_dir: Path | None, db: Path | None,
    timeout: float | None, memory: int | None, progress: bool | None,
) -> None:  # fmt: skip
    """Grade one notebook end to end: validate, run, score, record; print score and rank."""
    from grader import pipeline, render

    competition = _competition(ctx)
    out_dir = out_dir or competition.root / "runs" / user / notebook.stem
    graded = pipeline.grade(
        notebook, competition, user=user, out_dir=out_dir, db=_db(ctx, db),
        run_timeout=timeout, memory=memory, progress=_progress(progress),
    )  # fmt: skip
    click.echo(render.result_line(graded.result))
    _finish(_recorded_line(graded.recorded), ok=graded.recorded.status == "completed")


@cli.command()
@notebook_arg
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the run's files [default: runs/check/NOTEBOOK].",
)
@timeout_opt
@progress_opt
@click.pass_context
def check(
    ctx: click.Context, notebook: Path, out_dir: Path | None, timeout: float | None, progress: bool | None
) -> None:
    """Before opening a pull request: validate, run, and check the predictions' format.

    Everything the grader does except the score (which needs the hidden truth): the
    notebook must run to the end and write one prediction for every test id.
    """
    from grader import pipeline, render

    competition = _competition(ctx)
    out_dir = out_dir or competition.root / "runs" / "check" / notebook.stem
    result, problems = pipeline.check(notebook, out_dir, competition, progress=_progress(progress))
    if result.status != "completed":
        _finish(render.result_line(result) + f"\nSee {out_dir / 'executed.ipynb'}", ok=False)
    for problem in problems:
        click.echo(f"{competition.submission.predictions}: {problem}", err=True)
    if problems:
        sys.exit(1)
    wrote = competition.submission.predictions
    click.echo(f"✓ {notebook}: ready to submit — it ran in {result.runtime_seconds:.1f} s and wrote a valid {wrote}.")


@cli.command()
@db_opt
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_context
def leaderboard(ctx: click.Context, db: Path | None, fmt: str) -> None:
    """Show the ranking: each participant's best public score."""
    from grader.store import Store

    competition = _competition(ctx)
    with Store(_db(ctx, db)) as store:
        standings = store.leaderboard(competition)
    rows = [(s.rank, s.username, s.best_score, s.submission_count, s.last_submission_at) for s in standings]
    if fmt == "json":
        import json

        keys = ("rank", "username", "best_score", "submission_count", "last_submission_at")
        click.echo(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=2))
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("rank", "username", "best_score", "submission_count", "last_submission_at"))
        writer.writerows(rows)
    else:
        click.echo(_leaderboard_table(competition, standings))


@cli.command()
@click.argument("login")
@db_opt
@click.pass_context
def history(ctx: click.Context, login: str, db: Path | None) -> None:
    """Show every submission of one participant, oldest first."""
    from grader import render
    from grader.store import Store

    competition = _competition(ctx)
    with Store(_db(ctx, db)) as store:
        rows = store.history(login)
    if not rows:
        _finish(f"{login} has no submissions yet.", ok=True)
    click.echo(
        render.table(
            ("#", "submitted", "notebook", "status", "score", "note"),
            [
                (
                    r.id,
                    render.short_time(r.timestamp, competition.timezone),
                    r.notebook_path,
                    r.status,
                    render.score(r.score),
                    _clip(r.error_message or "", 70),
                )
                for r in rows
            ],
            align="rllllr",
        )
    )


@cli.command()
@click.option(
    "--keep",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the demo competition in this folder to look around.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=10,
    show_default=True,
    help="Whole-run limit in seconds for each example.",
)
@progress_opt
@click.pass_context
def demo(ctx: click.Context, keep: Path | None, timeout: float, progress: bool | None) -> None:
    """Grade the example submissions of examples/ in a scratch copy of the competition.

    Shows each outcome and the final leaderboard. The repository's own leaderboard/ is
    not touched.
    """
    from grader import demo as demos

    competition = _competition(ctx)
    outcome = demos.run_demo(competition, keep=keep, run_timeout=timeout, progress=_progress(progress), echo=click.echo)
    click.echo("")
    click.echo(_leaderboard_table(outcome.competition, outcome.standings))
    click.echo(f"\nThe demo competition is in {outcome.root}" if keep else "")


def _leaderboard_table(competition: Any, standings: list[Any]) -> str:
    from grader import render

    if not standings:
        return "No completed submissions yet."
    direction = "higher is better" if competition.metric.greater_is_better else "lower is better"
    title = f"{competition.title} — {competition.metric.name} ({direction})"
    body = render.table(
        ("rank", "participant", "best score", "entries", "last submission"),
        [
            (
                s.rank,
                s.username,
                render.score(s.best_score),
                s.submission_count,
                render.short_time(s.last_submission_at, competition.timezone),
            )
            for s in standings
        ],
        align="rlrrl",
    )
    return f"{title}\n\n{body}"


def _recorded_line(recorded: Any) -> str:
    from grader import render

    if recorded.already_recorded:
        prefix = f"Already recorded as submission #{recorded.submission_id}; nothing changed."
    else:
        prefix = f"Recorded as submission #{recorded.submission_id}"
    if recorded.status == "rejected":
        return f"{prefix} — rejected: {recorded.reason}"
    parts = [prefix if recorded.already_recorded else prefix + f" ({recorded.status})."]
    if recorded.rank is not None:
        moved = ""
        if recorded.previous_rank is not None and recorded.previous_rank != recorded.rank:
            moved = f", was {recorded.previous_rank}"
        parts.append(f"Rank {recorded.rank}{moved}; best score {render.score(recorded.best_score)}.")
    parts.append(
        f"{recorded.remaining_today} submission(s) left today (resets {recorded.quota_resets_at:%Y-%m-%d %H:%M %Z})."
    )
    return " ".join(parts)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _finish(message: str, *, ok: bool) -> None:
    click.echo(message, err=not ok)
    sys.exit(0 if ok else 1)


def _logging() -> None:
    """Libraries log what they see (a dead kernel, a retry); people read the verdict instead.

    GRADER_DEBUG=1 shows the logs, and tracebacks of internal errors.
    """
    import logging

    if os.environ.get("GRADER_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    else:
        logging.basicConfig(handlers=[logging.NullHandler()])


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every error into a message and an exit code."""
    _logging()
    try:
        cli.main(args=argv, prog_name="grader", standalone_mode=False)
    except click.exceptions.Exit as ex:
        sys.exit(ex.exit_code)
    except click.ClickException as ex:
        ex.show()
        sys.exit(ex.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except GraderError as ex:
        for line in str(ex).splitlines() or [type(ex).__name__]:
            click.echo(f"error: {line}", err=True)
        sys.exit(ex.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as ex:  # a bug in grader, not the user's fault: say so without a traceback
        if os.environ.get("GRADER_DEBUG"):
            raise
        click.echo(
            f"internal error: {type(ex).__name__}: {ex}. Run again with GRADER_DEBUG=1 for details, and report it.",
            err=True,
        )
        sys.exit(INTERNAL_ERROR)
    sys.exit(0)
