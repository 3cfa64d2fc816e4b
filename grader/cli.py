"""The `grader` command: parse arguments, make one library call, render the outcome.

Errors become exit codes here and only here: 0 success, 1 the submission failed or was
refused, 2 a usage or configuration mistake, 3 the leaderboard store, 70 a bug in grader.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from grader import __version__
from grader.errors import GraderError, InvalidNotebook, UsageError
from grader.text import clip

if TYPE_CHECKING:
    from grader.admin import Done
    from grader.config import Competition
    from grader.github import GitHub
    from grader.gitsync import Git
    from grader.result import Result
    from grader.sandbox import Mode

INTERNAL_ERROR = 70


def _competition(ctx: click.Context) -> Competition:
    from grader import config

    if "competition" not in ctx.obj:
        ctx.obj["competition"] = config.load(ctx.obj["config_path"])
    competition: Competition = ctx.obj["competition"]
    return competition


def _db(ctx: click.Context, db: Path | None) -> Path:
    from grader.pipeline import default_db

    return db or default_db(_competition(ctx))


def _push(ctx: click.Context, push: bool, branch: str, *, attempts: int | None = None) -> Git | None:
    """Where --push commits and pushes: the competition's clone, ``branch``, the token from GITHUB_TOKEN."""
    if not push:
        return None
    from grader.gitsync import DEFAULT_ATTEMPTS, Git

    token = os.environ.get("GITHUB_TOKEN")
    return Git(_competition(ctx).root, branch=branch, token=token, attempts=attempts or DEFAULT_ATTEMPTS)


def _size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    from grader.config import parse_size

    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as ex:
        raise click.BadParameter(str(ex)) from None


def _when(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    from grader import clock

    if value is None:
        return None
    try:
        return clock.parse(value)
    except ValueError as ex:
        raise click.BadParameter(str(ex)) from None


def _now(ctx: click.Context) -> datetime:
    """The moment the rules are judged at: $GRADER_NOW when set, else the real clock (read here, at the edge)."""
    return ctx.obj["clock"]()  # type: ignore[no-any-return]


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
sandbox_opt = click.option(
    "--sandbox",
    type=click.Choice(["required", "auto", "off"]),
    help="Sandbox mode instead of the competition's `sandbox` (in CI it is always required).",
)
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

    \b
    Environment:
      GRADER_NOW=2026-12-01T12:00:00Z  judge every rule (deadline, daily quota, /final, reveal,
                                       the site's "now") at this moment instead of now: to
                                       reproduce a past decision, or in tests.
    """
    from grader import clock

    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["clock"] = clock.from_environ()  # read once, here; the library is given the moment


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
@sandbox_opt
@progress_opt
@click.pass_context
def run(
    ctx: click.Context,
    notebook: Path,
    out_dir: Path,
    timeout: float | None,
    memory: int | None,
    sandbox: Mode | None,
    progress: bool | None,
) -> None:
    """Validate and execute a notebook under the competition's limits.

    Always writes OUT/executed.ipynb and OUT/result.json, and copies the predictions file
    into OUT when the notebook wrote one. Exits 0 only when every cell ran.
    """
    from grader import pipeline, render

    result = pipeline.run(
        notebook, out_dir, _competition(ctx),
        run_timeout=timeout, memory=memory, sandbox=sandbox, progress=_progress(progress),
    )  # fmt: skip
    _warn_unconfined(result)
    _finish(render.result_line(result), ok=result.status == "completed")


@cli.command()
@click.argument("out_dir", metavar="DIR", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--quiet",
    is_flag=True,
    help="Print only grader-made text, never the notebook's name or error (for a job whose log is public and "
    "that holds the truth's key).",
)
@click.pass_context
def score(ctx: click.Context, out_dir: Path, quiet: bool) -> None:
    """Score the predictions of a run (DIR from `grader run`) against the hidden truth.

    Writes the public and private scores into DIR/result.json and prints the public one.
    """
    from grader import pipeline, render, workflow

    result = pipeline.score(out_dir, _competition(ctx))
    line = workflow.scored_line(result) if quiet else render.result_line(result)
    _finish(line, ok=result.status == "completed")


@cli.command()
@click.argument("out_dir", metavar="DIR", type=click.Path(path_type=Path, file_okay=False, exists=True))
@user_opt
@db_opt
@click.option("--notebook-path", help="Path of the notebook in the repository, as recorded [default: its file name].")
@click.option("--submitted-at", callback=_when, help="When it was submitted (ISO 8601 with offset) [default: now].")
@click.option("--run-id", help="Key the record by this id instead of result.json's run_id (the workflows pass theirs).")
@click.option("--pr", "pr_number", type=click.IntRange(min=1), help="The pull request it came from.")
@click.option("--head-sha", help="The commit that was evaluated.")
@click.option("--push", is_flag=True, help="Then commit leaderboard/ and push it, retrying on a push race.")
@click.option("--branch", default="main", show_default=True, help="Branch to push to (with --push).")
@click.pass_context
def record(
    ctx: click.Context,
    out_dir: Path,
    user: str,
    db: Path | None,
    notebook_path: str | None,
    submitted_at: datetime | None,
    run_id: str | None,
    pr_number: int | None,
    head_sha: str | None,
    push: bool,
    branch: str,
) -> None:
    """Record a scored run (DIR) in the leaderboard and regenerate the CSV exports.

    Idempotent: recording the same run twice changes nothing. A submission that breaks a
    rule (deadline, daily limit, duplicate notebook) is recorded as rejected, with the reason.
    With --push the leaderboard is committed and pushed (token from GITHUB_TOKEN, if set).
    """
    from grader import pipeline, render

    args: dict[str, Any] = dict(
        user=user, db=_db(ctx, db), now=submitted_at or _now(ctx), notebook_path=notebook_path,
        run_id=run_id, pr_number=pr_number, head_sha=head_sha,
    )  # fmt: skip
    recorded = pipeline.record(out_dir, _competition(ctx), push=_push(ctx, push, branch), **args)
    _finish(render.recorded_line(recorded), ok=recorded.status == "completed")


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
@click.option("--submitted-at", callback=_when, help="When it was submitted (ISO 8601 with offset) [default: now].")
@timeout_opt
@memory_opt
@sandbox_opt
@progress_opt
@click.pass_context
def grade(
    ctx: click.Context, notebook: Path, user: str, out_dir: Path | None, db: Path | None,
    submitted_at: datetime | None, timeout: float | None, memory: int | None, sandbox: Mode | None,
    progress: bool | None,
) -> None:  # fmt: skip
    """Grade one notebook end to end: validate, run, score, record; print score and rank."""
    from grader import pipeline, render

    competition = _competition(ctx)
    out_dir = out_dir or competition.root / "runs" / user / notebook.stem
    graded = pipeline.grade(
        notebook, competition, user=user, out_dir=out_dir, db=_db(ctx, db), now=submitted_at or _now(ctx),
        run_timeout=timeout, memory=memory, sandbox=sandbox, progress=_progress(progress),
    )  # fmt: skip
    _warn_unconfined(graded.result)
    click.echo(render.result_line(graded.result))
    _finish(render.recorded_line(graded.recorded), ok=graded.recorded.status == "completed")


@cli.command()
@notebook_arg
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the run's files [default: runs/check/NOTEBOOK].",
)
@timeout_opt
@sandbox_opt
@progress_opt
@click.pass_context
def check(
    ctx: click.Context,
    notebook: Path,
    out_dir: Path | None,
    timeout: float | None,
    sandbox: Mode | None,
    progress: bool | None,
) -> None:
    """Before opening a pull request: validate, run, and check the predictions' format.

    Everything the grader does except the score (which needs the hidden truth): the
    notebook must run to the end and write one prediction for every test id.
    """
    from grader import pipeline, render

    competition = _competition(ctx)
    out_dir = out_dir or competition.root / "runs" / "check" / notebook.stem
    result, problems = pipeline.check(
        notebook, out_dir, competition, run_timeout=timeout, sandbox=sandbox, progress=_progress(progress)
    )
    _warn_unconfined(result)
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
@click.option(
    "--at",
    "at",
    metavar="DATE|COMMIT",
    help="The board as it was: at a date (YYYY-MM-DD: the end of that day; or an ISO date and time, in the "
    "competition's time zone without an offset), or as committed in a git commit.",
)
@click.option("--private", is_flag=True, help="The private (final) leaderboard; only after `grader reveal`.")
@click.pass_context
def leaderboard(ctx: click.Context, db: Path | None, fmt: str, at: str | None, private: bool) -> None:
    """Show the ranking: each participant's best public score.

    The table also shows the baselines (`grader admin baseline`), unranked, where their scores sit.
    """
    from grader import render, timetravel

    competition = _competition(ctx)
    shown = timetravel.board(competition, _db(ctx, db), at=at, private=private)
    click.echo(render.leaderboard(fmt, competition, shown.standings, shown.baselines))


@cli.command()
@click.argument("login")
@db_opt
@click.pass_context
def history(ctx: click.Context, login: str, db: Path | None) -> None:
    """Show every submission of one participant, oldest first."""
    from grader import render
    from grader.store import Store

    competition = _competition(ctx)
    entrant = competition.entrant(login.removeprefix("@"))
    with Store(_db(ctx, db)) as store:
        rows = store.history(entrant)
        chosen = set(store.selections().get(entrant, ()))
    if not rows:
        _finish(f"{login} has no submissions yet.", ok=True)
    if entrant != login.removeprefix("@"):
        click.echo(f"Team {entrant}: {', '.join(competition.members(entrant))}")
    extra = [m.name for m in competition.metric.secondary]  # public scores, shown and never ranked
    click.echo(
        render.table(
            ("#", "submitted", "by", "notebook", "status", "score", *extra, "final", "note"),
            [
                (
                    r.id,
                    render.short_time(r.timestamp, competition.timezone),
                    r.login,
                    r.notebook_path,
                    r.status,
                    render.score(r.score),
                    *(render.score(r.secondary_scores.get(name)) if r.secondary else "" for name in extra),
                    "yes" if r.id in chosen else "",
                    clip(r.error_message or "", 60),
                )
                for r in rows
            ],
            align="rlllll" + "l" * len(extra) + "ll",
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
@sandbox_opt
@progress_opt
@click.pass_context
def demo(ctx: click.Context, keep: Path | None, timeout: float, sandbox: Mode | None, progress: bool | None) -> None:
    """Grade the example submissions of examples/ in a scratch copy of the competition.

    Shows each outcome and the final leaderboard. The repository's own leaderboard/ is
    not touched.
    """
    from grader import demo as demos
    from grader import render

    competition = _competition(ctx)
    outcome = demos.run_demo(
        competition,
        keep=keep,
        run_timeout=timeout,
        sandbox=sandbox,
        progress=_progress(progress),
        echo=click.echo,
        now=_now(ctx),
    )
    if outcome.graded:
        _warn_unconfined(outcome.graded[0].result)
    click.echo("")
    click.echo(render.leaderboard_table(outcome.competition, outcome.standings))
    click.echo(f"\nThe demo competition is in {outcome.root}" if keep else "")


# -- the public site -----------------------------------------------------------------------


@cli.group()
def site() -> None:
    """The public site: a Material for MkDocs site generated from the leaderboard."""


@site.command("build")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("site"),
    show_default=True,
    help="Folder for the built site; replaced only when the build succeeds.",
)
@db_opt
@click.option(
    "--mkdocs",
    "mkdocs_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The site's mkdocs.yml [default: beside competition.yaml].",
)
@click.option("--now", callback=_when, help="Build as of this time (ISO 8601 with offset) [default: now].")
@click.pass_context
def site_build(
    ctx: click.Context, out_dir: Path, db: Path | None, mkdocs_file: Path | None, now: datetime | None
) -> None:
    """Generate the leaderboard pages from the database and build the site (MkDocs, strict).

    Pages: home, how to submit, rules, leaderboard, participants' histories, charts, and
    docs/ as guides. Nothing is written into docs/. Deploy OUT to GitHub Pages, or with
    `grader publish space`.
    """
    from grader import site as sites

    if db is not None and not db.is_file():
        raise click.BadParameter(f"{db} does not exist.", param_hint="--db")
    built = sites.build(_competition(ctx), db=_db(ctx, db), out=out_dir, now=now or _now(ctx), config_file=mkdocs_file)
    click.echo(
        f"Built the site in {built.out}: {built.ranked} ranked of {built.participants} participants, "
        f"{built.submissions} submissions; {built.files} files, {built.bytes / 1e6:.1f} MB."
    )


@cli.group()
def publish() -> None:
    """Publish the built site."""


@publish.command("space")
@click.argument("repo_id", metavar="REPO_ID")
@click.option(
    "--site",
    "site_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("site"),
    show_default=True,
    help="The built site (from `grader site build`).",
)
@click.option(
    "--retries", type=click.IntRange(min=0, max=10), default=3, show_default=True, help="Retries of a failed upload."
)
@click.pass_context
def publish_space(ctx: click.Context, repo_id: str, site_dir: Path, retries: int) -> None:
    """Upload the built site to the static Hugging Face Space REPO_ID (e.g. my-org/leaderboard).

    Creates the Space if needed and replaces its files in one commit (files gone from the
    site are removed). The token comes from HF_TOKEN; HF_ENDPOINT points at another Hub.
    """
    from huggingface_hub.utils import logging as hub_logging

    from grader.publish import publish_space as upload

    hub_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # its notes ("no files have been modified") are ours to tell
    published = upload(
        site_dir,
        repo_id,
        title=_competition(ctx).title,
        token=os.environ.get("HF_TOKEN"),
        endpoint=os.environ.get("HF_ENDPOINT"),
        retries=retries,
        echo=lambda line: click.echo(line, err=True),
    )
    click.echo(f"Published {published.files} files to {published.url} (commit {published.commit[:12]}).")


# -- the GitHub side: `grader pr ...`, the steps of the evaluate and score workflows -------------


def _event(path: Path | None) -> dict[str, Any]:
    from grader import github

    return github.read_event(path)


def _api(event: dict[str, Any]) -> GitHub:
    """The repository's API client, from the variables GitHub Actions sets (GITHUB_API_URL for tests)."""
    from grader import github

    repo = os.environ.get("GITHUB_REPOSITORY") or event.get("repository", {}).get("full_name", "")
    return github.GitHub(
        repo, os.environ.get("GITHUB_TOKEN", ""), base_url=os.environ.get("GITHUB_API_URL") or github.DEFAULT_API_URL
    )


event_opt = click.option(
    "--event",
    "event_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The webhook payload [default: $GITHUB_EVENT_PATH].",
)


@cli.group()
def truth() -> None:
    """The hidden truth: seal it for a public repository, and check that it opens.

    A real competition commits its truth sealed (gzip + Fernet encryption) and keeps only the
    one-line key as a GitHub secret (docs/github.md); the plain CSV stays out of git.
    """


@truth.command("seal")
@click.argument("plain", metavar="[TRUTH.csv]", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing sealed file.")
@click.option("--new-key", "rotate", is_flag=True, help="Make a new key even when $GRADER_TRUTH_KEY is set (rotation).")
@click.pass_context
def truth_seal(ctx: click.Context, plain: Path | None, force: bool, rotate: bool) -> None:
    """Check TRUTH.csv as scoring would, then write it sealed to truth.sealed in competition.yaml.

    TRUTH.csv defaults to truth.path. The key is $GRADER_TRUTH_KEY (truth.key_env) when set,
    else a new one, printed once with the command that stores it as the secret.
    """
    from grader import truth as truths
    from grader.predictions import relative

    competition = _competition(ctx)
    done = truths.seal(competition, plain, force=force, rotate=rotate)
    for warning in done.warnings:
        click.echo(f"warning: {warning}", err=True)
    shown = relative(done.path, competition.root)
    click.echo(
        f"Sealed {done.rows} rows ({done.public} public, {done.private} private) into {shown} "
        f"({done.size:,} bytes, key id {truths.key_id(done.key)}). Commit {shown}; never commit the plain file."
    )
    name = competition.truth.key_env
    if done.new_key:
        click.echo(
            f"\nNew key. Store it as the secret {name} of the `scoring` environment (paste it when asked):\n\n"
            f"    gh secret set {name} --env scoring\n\n{done.key}\n\n"
            "Keep a copy in your password manager too; then run `grader truth check` with it set."
        )
    else:
        click.echo(f"Sealed with the key in ${name}: the secret {name} stays as it is.")


@truth.command("check")
@click.pass_context
def truth_check(ctx: click.Context) -> None:
    """Open the truth as the scoring workflow will, and check it against the test ids.

    With truth.sealed set this needs $GRADER_TRUTH_KEY (truth.key_env); it also says whether
    the sealed truth is the same as the local plain file, when there is one.
    """
    from grader import truth as truths
    from grader.predictions import relative

    competition = _competition(ctx)
    found = truths.check(competition)
    key = f" with the key of id {found.key_id}" if found.key_id else ""
    click.echo(
        f"✓ {found.where} opens{key}: {found.rows} rows ({found.public} public, {found.private} private), "
        "exactly the test ids."
    )
    if found.matches_plain is False and competition.truth.path is not None:
        plain = relative(competition.truth.path, competition.root)
        _finish(f"✗ it differs from {plain}: seal again with `grader truth seal --force` and commit it.", ok=False)
    if found.matches_plain:
        click.echo(f"✓ it is the same as {relative(competition.truth.path or Path(), competition.root)}.")


@cli.group()
def pr() -> None:
    """The GitHub workflows' steps: from a pull request's notebook to the answer on it.

    evaluate.yml runs `pr prepare`, `pr precheck` then `run`; score.yml runs `pr verify`, then `pr score`
    and `pr record` (the job holding the truth's key, which prints only grader-made text),
    then `pr answer`. Each reads the event from $GITHUB_EVENT_PATH and writes its step
    outputs to $GITHUB_OUTPUT; the API token comes from GITHUB_TOKEN.
    """


@pr.command("prepare")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="Run folder.")
@event_opt
@click.pass_context
def pr_prepare(ctx: click.Context, out_dir: Path, event_path: Path | None) -> None:
    """Find the one notebook a pull request submits (output `notebook`), or say why it cannot be graded.

    Compares HEAD (the pull request's merge commit) with HEAD^1 and notes the pull request
    and commit in OUT/pull_request.json for the scoring side, which checks them again.
    """
    from grader import workflow

    competition = _competition(ctx)
    verdict = workflow.prepare(out_dir, competition, event=_event(event_path), root=competition.root)
    if not verdict.accepted or verdict.notebook is None:
        _finish("This pull request will not be graded:\n" + "\n".join(f"- {r}" for r in verdict.reasons), ok=False)
        return
    workflow.set_output("notebook", verdict.notebook)
    click.echo(verdict.notebook)


@pr.command("precheck")
@click.argument("notebook", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="Run folder.")
@db_opt
@event_opt
@click.pass_context
def pr_precheck(ctx: click.Context, notebook: Path, out_dir: Path, db: Path | None, event_path: Path | None) -> None:
    """Skip a NOTEBOOK sure to be refused (competition closed, daily limit, same notebook again): output `skip`.

    Reads the public leaderboard of the pull request's base, needs no secret, and exits 0
    either way. When it skips, OUT/result.json says so and the scoring side judges again: its
    verdict is the one recorded. It only saves work; when it cannot check, the notebook runs.
    """
    from grader import workflow

    early = workflow.precheck(
        notebook, out_dir, _competition(ctx), event=_event(event_path), db=_db(ctx, db), now=_now(ctx)
    )  # fmt: skip
    workflow.set_output("skip", "true" if early.reason else "false")
    if early.reason:
        click.echo(f"Not run: {early.reason}")
    elif early.problem:
        click.echo(f"Run it: {early.problem}")
    else:
        click.echo("Run it: no rule refuses it for sure.")


@pr.command("summary")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path, file_okay=False))
@click.pass_context
def pr_summary(ctx: click.Context, run_dir: Path) -> None:
    """Show RUN/executed.ipynb as Markdown in the job summary ($GITHUB_STEP_SUMMARY; else on stdout).

    Every cell with its outputs as text, in fences the notebook cannot close, clipped and capped
    at 200 KB; images and HTML are only named. A missing notebook gets a one-line note. Exits 0.
    """
    from grader import artifact, summary
    from grader import result as results

    try:
        error = results.read(run_dir).error
    except GraderError:  # no result.json, or not grader's: the cells with an error are still marked
        error = None
    found = summary.read(run_dir / results.EXECUTED_NAME, artifact.caps(_competition(ctx))[results.EXECUTED_NAME])
    text = found if isinstance(found, str) else summary.markdown(found, failed_cell=error.cell_index if error else None)
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        click.echo(text)
        return
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(text.rstrip("\n") + "\n")
    click.echo(f"The executed notebook is in the job summary ({len(text.encode())} bytes).")


@pr.command("verify")
@click.argument("artifact_dir", metavar="ARTIFACT", type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="New folder.")
@event_opt
@click.pass_context
def pr_verify(ctx: click.Context, artifact_dir: Path, out_dir: Path, event_path: Path | None) -> None:
    """Check the evaluate run's ARTIFACT and its pull request through the API; unpack it into OUT.

    Exits 0 with a verdict either way: outputs `accepted` (true/false) and, when refused,
    `answer` (the public answer to give); when accepted, `pending` (the "scoring" answer shown
    until the verdict). Only accepted runs go on to `grader score`.
    """
    from grader import workflow

    event = _event(event_path)
    facts, refusal = workflow.verify_run(artifact_dir, out_dir, _competition(ctx), event=event, api=_api(event))
    workflow.set_output("accepted", "true" if facts else "false")
    if refusal is not None:
        workflow.set_output("answer", refusal.to_json())
        click.echo("Refused: " + " ".join(refusal.reasons))
    elif facts is not None:
        workflow.set_output("pending", workflow.pending_answer(facts).to_json())
        click.echo(f"Accepted: {facts.notebook} by {facts.user} from #{facts.pr} at {facts.head_sha[:12]}.")


@pr.command("score")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.pass_context
def pr_score(ctx: click.Context, run_dir: Path) -> None:
    """Score a verified RUN against the hidden truth, printing only grader-made text.

    This step's job holds the truth's key and its log is public, so nothing the student wrote
    (notebook name, error message, output) is printed here: the answer on the pull request,
    written by a job without the key, tells the student what happened. Exits 0 whenever the
    verdict is in RUN/result.json, a failed run included.
    """
    from grader import workflow

    click.echo(workflow.score(run_dir, _competition(ctx)))


@pr.command("record")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path, file_okay=False, exists=True))
@db_opt
@click.option("--push/--no-push", default=True, show_default=True, help="Commit and push the leaderboard.")
@click.option("--branch", help="Branch to push to [default: the repository's default branch, from the event].")
@click.option(
    "--attempts",
    type=click.IntRange(min=1, max=1000),
    help="Push tries at most; the push also stops trying after 15 minutes [default: 100].",
)
@click.option(
    "--answer-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the answer here instead of to the step output `answer` (for the job that holds the truth's key).",
)
@event_opt
@click.pass_context
def pr_record(
    ctx: click.Context, run_dir: Path, db: Path | None, push: bool, branch: str | None, attempts: int | None,
    answer_file: Path | None, event_path: Path | None,
) -> None:  # fmt: skip
    """Record a verified, scored RUN and push the leaderboard, surviving push races; output `answer`.

    Idempotent (keyed by the evaluate run): running it again records nothing new. Exits 0
    whenever the run was recorded, whatever its verdict; the verdict is in the answer. Prints
    only grader-made text (the verdict's kind and the submission's number).
    """
    from grader import workflow

    if branch is None:
        event = _event(event_path) if event_path or os.environ.get("GITHUB_EVENT_PATH") else {}
        branch = event.get("repository", {}).get("default_branch") or "main"
    found = workflow.record(
        run_dir, _competition(ctx), db=_db(ctx, db), push=_push(ctx, push, branch, attempts=attempts)
    )  # fmt: skip
    if answer_file is not None:
        answer_file.parent.mkdir(parents=True, exist_ok=True)
        answer_file.write_text(found.to_json() + "\n", encoding="utf-8")
    else:
        workflow.set_output("answer", found.to_json())
    workflow.set_output("recorded", "true")
    click.echo(
        f"Recorded: {found.kind}" + (f" as submission #{found.submission_id}" if found.submission_id else "") + "."
    )


@pr.command("answer")
@click.option(
    "--answer-env",
    default="GRADER_ANSWER",
    show_default=True,
    help="Environment variable holding the answer (the verify job's `answer` output for a refusal, or its "
    "`pending` output while the run is scored).",
)
@click.option(
    "--answer-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File holding the answer (`pr record --answer-file`); wins over --answer-env when it exists.",
)
@event_opt
def pr_answer(answer_env: str, answer_file: Path | None, event_path: Path | None) -> None:
    """Answer on the pull request: one comment (edited in place), the commit status, the job summary.

    With no answer (the scoring job broke before giving one), sets an error status on the
    evaluated commit so the pull request does not wait forever.
    """
    from grader import workflow
    from grader.answer import Answer

    event = _event(event_path)
    if answer_file is not None and answer_file.is_file():
        text = answer_file.read_text(encoding="utf-8").strip()
    else:
        text = os.environ.get(answer_env, "").strip()
    try:
        found = Answer.from_json(text) if text else workflow.failed_answer(event, "the scoring job gave no answer.")
    except (ValueError, TypeError) as ex:
        raise UsageError(
            f"${answer_env} is not an answer from `grader pr verify` or `grader pr record`: {ex}"
        ) from None
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    site = workflow.site_address(os.environ)
    workflow.answer(found, api=_api(event), summary=Path(summary) if summary else None, site_url=site)
    click.echo(f"Answered: {found.kind}" + (f" on #{found.pr}" if found.pr else " (no verified pull request)"))


@pr.command("final")
@db_opt
@click.option("--push/--no-push", default=True, show_default=True, help="Commit and push the leaderboard.")
@event_opt
@click.pass_context
def pr_final(ctx: click.Context, db: Path | None, push: bool, event_path: Path | None) -> None:
    """Handle a `/final`, `/final #ID` or `/final off` comment on a pull request (final.yml): choose, push, answer.

    Exits 0 once the commenter has an answer on the pull request, a refusal included.
    """
    from grader import finals
    from grader import github as gh

    event = _event(event_path)
    text = finals.from_comment(
        _competition(ctx), _db(ctx, db), event, api=_api(event), now=_now(ctx),
        push=_push(ctx, push, gh.default_branch(event) or "main"),
    )  # fmt: skip
    click.echo("Not a /final comment on a pull request; nothing to do." if text is None else text)


# -- running a competition: `grader admin ...`, `grader reveal`, `grader export ...` ---------------


by_opt = click.option(
    "--by", required=True, envvar="GRADER_ADMIN", help="Your GitHub login, for the audit trail [env: GRADER_ADMIN]."
)
reason_opt = click.option(
    "--reason", required=True, help="Why, in one line: kept in the audit trail and shown publicly."
)
admin_push_opt = click.option(
    "--push", is_flag=True, help="Then commit leaderboard/ and push it (token: GITHUB_TOKEN)."
)
admin_branch_opt = click.option("--branch", default="main", show_default=True, help="Branch to push to (with --push).")


def _done(done: Done) -> None:
    pushed = done.pushed
    tail = ""
    if pushed is not None:
        tail = f" Pushed {pushed.commit[:12]}." if pushed.commit else " Nothing new to push."
    click.echo(f"{done.summary} (audit #{done.action.id}).{tail}")


@cli.group()
def admin() -> None:
    """Organisers' actions on a running competition; each leaves an audit row (who, when, why).

    TARGET is a submission id (12 or #12) or a participant's login (alice, or @12345 for a
    login made of digits). With --push the leaderboard is committed ("admin: ...") and pushed.
    """


def _admin_verb(verb: str, help_text: str) -> None:
    @admin.command(verb, help=help_text)
    @click.argument("target", metavar="TARGET")
    @reason_opt
    @by_opt
    @db_opt
    @admin_push_opt
    @admin_branch_opt
    @click.pass_context
    def command(
        ctx: click.Context, target: str, reason: str, by: str, db: Path | None, push: bool, branch: str
    ) -> None:
        from grader import admin as admins

        done = admins.take_off(
            _competition(ctx), _db(ctx, db), admins.parse_target(target), verb=verb,  # type: ignore[arg-type]
            reason=reason, by=by, now=_now(ctx), push=_push(ctx, push, branch),
        )  # fmt: skip
        _done(done)


_admin_verb("remove", "Take a submission or a participant off the board (withdrawn, a mistake), with a reason.")
_admin_verb("disqualify", "Disqualify a submission or a participant (a broken rule), with a reason.")
_admin_verb("restore", "Put a removed or disqualified submission or participant, or a baseline, back on the board.")


@admin.command("baseline")
@click.argument("login")
@reason_opt
@by_opt
@db_opt
@admin_push_opt
@admin_branch_opt
@click.pass_context
def admin_baseline(ctx: click.Context, login: str, reason: str, by: str, db: Path | None, push: bool,
                   branch: str) -> None:  # fmt: skip
    """Mark LOGIN as a baseline (an organiser's reference account): shown on the board, marked, never ranked.

    Its submissions are graded as anyone's (quota and duplicates too). `grader admin restore LOGIN`
    makes it a participant again.
    """
    from grader import admin as admins

    done = admins.baseline(
        _competition(ctx), _db(ctx, db), login, reason=reason, by=by, now=_now(ctx), push=_push(ctx, push, branch),
    )  # fmt: skip
    _done(done)


@admin.command("reset")
@reason_opt
@by_opt
@db_opt
@admin_push_opt
@admin_branch_opt
@click.pass_context
def admin_reset(ctx: click.Context, reason: str, by: str, db: Path | None, push: bool, branch: str) -> None:
    """Archive the leaderboard as it stands and start afresh (submissions are kept, set aside)."""
    from grader import admin as admins

    done = admins.reset(
        _competition(ctx), _db(ctx, db), reason=reason, by=by, now=_now(ctx), push=_push(ctx, push, branch),
    )  # fmt: skip
    _done(done)


@admin.command("log")
@db_opt
@click.pass_context
def admin_log(ctx: click.Context, db: Path | None) -> None:
    """Show the audit trail: every admin action, oldest first."""
    from grader import render
    from grader.store import Store

    competition = _competition(ctx)
    with Store(_db(ctx, db)) as store:
        actions = store.admin_log()
    if not actions:
        _finish("No admin actions yet.", ok=True)
    rows = [
        (a.id, render.short_time(a.timestamp, competition.timezone), a.actor, a.action, a.target, clip(a.reason, 60))
        for a in actions
    ]
    click.echo(render.table(("#", "when", "by", "action", "target", "reason"), rows, align="r"))


@admin.command("new-key")
def admin_new_key() -> None:
    """Print a fresh private key; store it as the GRADER_PRIVATE_KEY secret of the scoring side."""
    from grader.sealing import new_key

    click.echo(new_key())


@admin.command("seal")
@by_opt
@db_opt
@admin_push_opt
@admin_branch_opt
@click.pass_context
def admin_seal(ctx: click.Context, by: str, db: Path | None, push: bool, branch: str) -> None:
    """Encrypt private scores stored in clear (recorded before GRADER_PRIVATE_KEY was set)."""
    from grader import admin as admins

    count = admins.seal(
        _competition(ctx), _db(ctx, db), by=by, now=_now(ctx), push=_push(ctx, push, branch),
    )  # fmt: skip
    click.echo(f"Sealed {count} private score(s)." if count else "Every private score is already sealed.")


@cli.group("data")
def data_group() -> None:
    """The competition's public data: the files competition.yaml's `data.hub` keeps in a dataset."""


@data_group.command("fetch")
@progress_opt
@click.pass_context
def data_fetch(ctx: click.Context, progress: bool | None) -> None:
    """Fetch the files of `data.hub` into the data folder, checked by sha256 (from the cache when it has them).

    run, grade, check and demo do this themselves before a notebook runs; the workflows run it
    as a step of its own, and students run it to open the data in their own Jupyter.
    """
    from grader import datasets

    data = _competition(ctx).data
    fetched = datasets.ensure(data, progress=_progress(progress), echo=lambda line: click.echo(line, err=True))
    if data.hub is None:
        click.echo("Nothing to fetch: competition.yaml has no data.hub.")
        return
    click.echo(
        f"{fetched.files} files of the dataset {data.hub.repo} are in {data.directory}: {fetched.ready} already there, "
        f"{fetched.cached} from the cache, {fetched.downloaded} downloaded ({fetched.downloaded_bytes} bytes)."
    )


@cli.group("env")
def env_group() -> None:
    """The notebooks' environment: the packages competition.yaml's `environment` declares.

    `env lock` pins them (exact versions and hashes, Linux x86-64) in the lock beside the
    requirements file; `env build` builds the virtual environment the kernel runs in (once per
    lock, in a cache folder; run, grade, check and demo build it themselves when the lock
    changed); `env list` prints the locked packages, as students see them; `env prune` removes
    the built environments no run used lately.
    """


@env_group.command("lock")
@click.option("--python", "python", metavar="X.Y", help="Python version to lock for [default: this grader's].")
@click.pass_context
def env_lock(ctx: click.Context, python: str | None) -> None:
    """Resolve the requirements file (plus ipykernel) and write its lock.

    Also rewrites the package list in docs/students.md (between its markers), so that what
    students read is what the lock installs.
    """
    from grader import environment

    competition = _competition(ctx)
    spec = competition.environment
    locked = environment.lock(spec, python=python)
    click.echo(f"Locked {len(locked.packages)} packages for Python {locked.python} in {spec.lock_shown}.")
    if environment.refresh_package_list(competition.root / "docs" / "students.md", locked):
        click.echo("Updated the package list in docs/students.md; commit it with the lock.")


@env_group.command("build")
@progress_opt
@click.pass_context
def env_build(ctx: click.Context, progress: bool | None) -> None:
    """Build the environment from the lock, or find the one already built from it."""
    import time

    from grader import environment

    clock = time.monotonic()
    spec = _competition(ctx).environment
    locked = environment.read_lock(spec)
    cache = environment.cache_dir()
    found = environment.find(locked, cache)
    built = found or environment.build(locked, cache, progress=_progress(progress))
    how = "Found" if found else "Built"
    click.echo(
        f"{how} the notebook environment ({len(built.packages)} packages, Python {built.version}) "
        f"in {time.monotonic() - clock:.1f} s: {built.root}"
    )


@env_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True)
@click.pass_context
def env_list(ctx: click.Context, fmt: str) -> None:
    """The locked packages and their versions: what a notebook can import."""
    from grader import environment, render

    locked = environment.read_lock(_competition(ctx).environment)
    click.echo(render.packages(locked.packages, python=locked.python, markdown=fmt == "markdown"), nl=False)


@env_group.command("prune")
@click.option(
    "--unused-days", type=click.IntRange(min=0), default=30, show_default=True,
    help="Remove the environments no run used for this many days (0: every one but the current).",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.pass_context
def env_prune(ctx: click.Context, unused_days: int, dry_run: bool) -> None:
    """Remove built environments no run used lately, to free disk space.

    Each lock gets its own environment, and an environment is only ever added: after a few
    changes of the lock, or a few courses, the cache holds several. This competition's
    current one is always kept, and so is one being built; a removed one is built again
    when a run needs it.
    """
    import time

    from grader import environment
    from grader.config import format_size

    try:
        keep: str | None = environment.read_lock(_competition(ctx).environment).key
    except GraderError:  # no competition here, or its lock is stale: nothing to keep by name
        keep = None
    cache = environment.cache_dir()
    envs = environment.cached(cache)
    gone = environment.prune(envs, keep=keep, unused_for=unused_days * 86400, now=time.time(), dry_run=dry_run)
    for env in gone:
        used = datetime.fromtimestamp(env.last_used, UTC).strftime("%Y-%m-%d")
        state = f"last used {used}" if env.complete else f"an unfinished build from {used}"
        click.echo(f"{'would remove' if dry_run else 'removed'} {env.root} ({state}, {format_size(env.size)})")
    freed = format_size(sum(env.size for env in gone))
    click.echo(
        f"{'Would free' if dry_run else 'Freed'} {freed} in {len(gone)} environment{'s' if len(gone) != 1 else ''}; "
        f"{len(envs) - len(gone)} left in {cache / 'envs'}."
    )


@cli.command("select")
@click.argument("submission", metavar="ID")
@click.option("--off", is_flag=True, help="Take the choice back.")
@click.option("--by", required=True, envvar="GRADER_ADMIN", help="Who chooses (a GitHub login) [env: GRADER_ADMIN].")
@click.option("--organiser", is_flag=True, help="Choose for the participant (allowed after the end, until the reveal).")
@click.option("--reason", help="Why, in one line (for the audit trail).")
@db_opt
@admin_push_opt
@admin_branch_opt
@click.pass_context
def select_cmd(
    ctx: click.Context, submission: str, off: bool, by: str, organiser: bool, reason: str | None, db: Path | None,
    push: bool, branch: str,
) -> None:  # fmt: skip
    """Choose submission ID for the private leaderboard (participants comment /final on their pull request).

    Up to ranking.final_submissions choices per participant or team; their best private
    score among them counts. Without a choice, the best public submission counts.
    """
    from grader import finals

    number = submission.strip().removeprefix("#")
    if not number.isdigit():
        raise UsageError(f"{submission!r} is not a submission id; `grader history LOGIN` lists them.")
    chosen = finals.choose(
        _competition(ctx), _db(ctx, db), by=by, now=_now(ctx), submission_id=int(number), final=not off,
        organiser=organiser, reason=reason, push=_push(ctx, push, branch),
    )  # fmt: skip
    tail = ""
    if chosen.pushed is not None:
        tail = f" Pushed {chosen.pushed.commit[:12]}." if chosen.pushed.commit else " Nothing new to push."
    click.echo(chosen.summary + tail)


@cli.command()
@by_opt
@click.option("--early", is_flag=True, help="Reveal before the competition's end.")
@db_opt
@admin_push_opt
@admin_branch_opt
@click.pass_context
def reveal(ctx: click.Context, by: str, early: bool, db: Path | None, push: bool, branch: str) -> None:
    """Decrypt the private scores (key: GRADER_PRIVATE_KEY) and publish the private leaderboard.

    Writes leaderboard/private_leaderboard.csv; `grader leaderboard --private` shows it.
    """
    from grader import admin as admins

    done = admins.reveal(
        _competition(ctx), _db(ctx, db), by=by, now=_now(ctx), early=early, push=_push(ctx, push, branch),
    )  # fmt: skip
    _done(done)


@cli.group("export")
def export_group() -> None:
    """Export the results for other systems."""


@export_group.command("grades")
@click.option(
    "--roster",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="CSV with the columns login and id (keep it out of the repository).",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("grades.csv"),
    show_default=True,
    help="The grade file to write (outside the repository, or ignored by git).",
)
@click.option("--login-column", default="login", show_default=True, help="The roster's column of GitHub logins.")
@click.option("--id-column", default="id", show_default=True, help="The roster's column of student ids.")
@db_opt
@click.pass_context
def export_grades(
    ctx: click.Context, roster: Path, out_file: Path, login_column: str, id_column: str, db: Path | None
) -> None:
    """One row per roster student: login, roster id, best public and private score, ranks, submissions."""
    from grader.export import grades

    done = grades(_competition(ctx), _db(ctx, db), roster, out_file, login_column=login_column, id_column=id_column)
    private = "" if done.revealed else " (private scores come after the reveal)"
    click.echo(f"Wrote {done.students} students to {done.out}, {done.with_score} with a score{private}.")
    if done.not_on_roster:
        click.echo(f"Not on the roster: {len(done.not_on_roster)} participant(s) with submissions.", err=True)


# -- rescoring and regrading: `grader rescore`, `grader regrade` -----------------------------------


@cli.command()
@reason_opt
@by_opt
@db_opt
@admin_push_opt
@admin_branch_opt
@click.pass_context
def rescore(ctx: click.Context, reason: str, by: str, db: Path | None, push: bool, branch: str) -> None:
    """Score every recorded submission again from its stored predictions, after the metric or the truth changed.

    Needs the truth (and GRADER_PRIVATE_KEY when the scores are sealed). One transaction:
    from then on only submissions scored by the new scorer version rank; those that cannot
    be rescored are listed and no longer rank.
    """
    from grader import rescore as rescoring

    done = rescoring.rescore(
        _competition(ctx), _db(ctx, db), by=by, reason=reason, now=_now(ctx), push=_push(ctx, push, branch),
    )  # fmt: skip
    was = f" (was {done.previous})" if done.previous and done.previous != done.version else ""
    click.echo(
        f"Rescored {done.rescored} submission(s) with scorer {done.version}{was}; "
        f"{done.changed} public score(s) changed (audit #{done.action.id})."
    )
    for sid, why in done.not_rescored:
        click.echo(f"  #{sid} not rescored, no longer ranked: {why}", err=True)
    if done.pushed is not None:
        click.echo(f"Pushed {done.pushed.commit[:12]}." if done.pushed.commit else "Nothing new to push.")


@cli.group(invoke_without_command=True)
@click.option("--jobs", "-j", type=click.IntRange(min=1, max=256), default=1, show_default=True,
              help="Notebooks run at once (one core each is a good start).")  # fmt: skip
@click.option("--shard", metavar="I/N", default="1/1", show_default=True,
              help="Run only the I-th of N shares (a CI matrix); `grader regrade merge` joins them.")  # fmt: skip
@click.option("--only", multiple=True, metavar="LOGIN|ID", help="Only these participants or submission ids (repeat).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the runs (OUT/<id>/) and the shard's manifest.")  # fmt: skip
@db_opt
@timeout_opt
@sandbox_opt
@progress_opt
@click.pass_context
def regrade(
    ctx: click.Context, jobs: int, shard: str, only: tuple[str, ...], out_dir: Path | None, db: Path | None,
    timeout: float | None, sandbox: Mode | None, progress: bool | None,
) -> None:  # fmt: skip
    """Run recorded submissions again from the commit they were submitted at (scores are not changed).

    One status line per notebook and a summary at the end; a notebook that fails or hangs
    costs only its own time limit. `grader regrade merge OUT...` scores and compares the runs.
    """
    if ctx.invoked_subcommand is not None:
        return
    from grader import regrade as regrading
    from grader import render

    if out_dir is None:
        raise click.UsageError("pass --out DIR for the runs.")
    batch = regrading.regrade(
        _competition(ctx), _db(ctx, db), out_dir, jobs=jobs, shard=regrading.parse_shard(shard), only=only,
        run_timeout=timeout, sandbox=sandbox, progress=_progress(progress), echo=click.echo,
    )  # fmt: skip
    facts = regrading.describe(batch.outcomes, batch.seconds)
    click.echo("")
    click.echo(render.table(("status", "notebooks"), regrading.summary(batch.outcomes), align="lr"))
    click.echo(
        f"\nRegraded {facts['notebooks']} notebook(s) of shard {batch.shard[0]}/{batch.shard[1]} in "
        f"{batch.seconds:.1f} s with {jobs} job(s); manifest: {batch.manifest}."
    )
    if facts["working_tree"] or facts["missing"]:
        click.echo(
            f"{facts['working_tree']} ran from the working tree (no usable commit), {facts['missing']} could not be "
            "found; see their lines above.",
            err=True,
        )


@regrade.command("merge")
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path, file_okay=False, exists=True))
@by_opt
@click.option("--reason", default="regrade report", show_default=True, help="For the audit trail.")
@db_opt
@admin_push_opt
@admin_branch_opt
@click.pass_context
def regrade_merge(
    ctx: click.Context, folders: tuple[Path, ...], by: str, reason: str, db: Path | None, push: bool, branch: str
) -> None:
    """Score the regraded runs of every shard (FOLDERS) and compare them with the recorded results.

    Writes leaderboard/regrade.csv (public scores only) and an audit row; changes no score.
    """
    from grader import regrade as regrading
    from grader import render

    merged = regrading.merge(
        _competition(ctx), _db(ctx, db), list(folders), by=by, reason=reason, now=_now(ctx),
        push=_push(ctx, push, branch),
    )  # fmt: skip
    rows = [(r.submission_id, r.username, r.recorded_status, r.regraded_status, render.score(r.recorded_score),
             render.score(r.regraded_score), r.verdict) for r in merged.rows]  # fmt: skip
    click.echo(render.table(("#", "participant", "recorded", "regraded", "score", "now", "verdict"), rows, align="r"))
    differ = sum(1 for r in merged.rows if r.verdict != "same")
    click.echo(f"\n{len(merged.rows)} regraded from {merged.shards} shard(s), {differ} differ; see {merged.report}.")


def _warn_unconfined(result: Result) -> None:
    """One loud line when a notebook ran without the sandbox."""
    if result.extra.get("sandbox") == "none":
        from grader.sandbox import availability

        reason = availability()[1] or "the sandbox is off"
        warning = f"WARNING: the notebook ran WITHOUT a sandbox ({reason}): it could read and change your files."
        click.echo(warning, err=True)


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


# -- grader doctor ---------------------------------------------------------------------------


@cli.command()
@click.option("--repo", help="OWNER/NAME on GitHub [default: $GITHUB_REPOSITORY, else the `origin` remote].")
@click.option("--offline", is_flag=True, help="Check the local files only, not the repository's settings.")
@click.pass_context
def doctor(ctx: click.Context, repo: str | None, offline: bool) -> None:
    """Check everything a competition needs, locally and on GitHub, one line per finding.

    Locally: competition.yaml, its metric, its dates, the notebooks' environment, that the
    truth is not committed. On GitHub (token from GITHUB_TOKEN or GH_TOKEN, e.g.
    `GH_TOKEN=$(gh auth token) grader doctor`; a repository admin's token reads everything):
    the environments, their branch rules and the secrets the workflows use (names only), Pages,
    the Actions settings, the protection of the default branch. Exits 1 when a problem is found.
    """
    from grader import config
    from grader import doctor as doctor_module

    path = ctx.obj["config_path"] or config.find()
    root = path.resolve().parent
    findings = doctor_module.check_local(root, path, _now(ctx))
    repo = repo or os.environ.get("GITHUB_REPOSITORY") or doctor_module.origin_repo(root)
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN") or ""
    if offline:
        pass
    elif not repo or not token:
        missing = "a repository (--repo OWNER/NAME)" if not repo else "a token (GH_TOKEN=$(gh auth token))"
        findings.append(doctor_module.Finding("note", "GitHub", f"settings not checked: give {missing}"))
    else:
        from grader import github

        api = github.GitHub(repo, token, base_url=os.environ.get("GITHUB_API_URL") or github.DEFAULT_API_URL)
        needs = doctor_module.workflow_needs(doctor_module.read_workflows(root / ".github" / "workflows"))
        findings += doctor_module.check_github(api.settings(), needs, repo)
    for finding in findings:
        click.echo(finding.line())
    problems = sum(1 for f in findings if f.level == "problem")
    click.echo(f"{problems} problem{'s' if problems != 1 else ''} found." if problems else "Ready.")
    if problems:
        sys.exit(1)


# -- grader init -----------------------------------------------------------------------------


_file = click.Path(path_type=Path, dir_okay=False)


@cli.command("init")
@click.option("--title", help="The competition's name.")
@click.option(
    "--metric", help="A function of sklearn.metrics (accuracy_score, mean_squared_error, ...) or module:function."
)
@click.option("--greater-is-better/--lower-is-better", default=None, help="[default: from the metric's name]")
@click.option("--start", help="When submissions open: 2027-01-10 or 2027-01-10T08:00 (in --timezone).")
@click.option("--end", help="The deadline, same form.")
@click.option("--timezone", help="IANA time zone for the dates and the daily quota, e.g. Europe/Paris.")
@click.option("--per-day", type=int, help="Scored submissions per participant per day.")
@click.option("--train", type=_file, help="The labelled training CSV (copied into data/).")
@click.option("--test", type=_file, help="The test CSV: the id column and the features (copied into data/).")
@click.option("--truth", type=_file, help="The hidden labels: id, label and split (public|private) columns.")
@click.option("--id-column", default="id", show_default=True)
@click.option("--prediction-column", help="[default: the truth's column besides the id and split]")
@click.option("--prediction-type", type=click.Choice(["integer", "float", "string"]), help="[default: from the truth]")
@click.option("--description", help="What participants have to do (Markdown) [default: written from the answers].")
@click.option("--force", is_flag=True, help="Run on a changed checkout, or again on an initialised one.")
def init_command(force: bool, **options: Any) -> None:
    """Turn this template into your competition: competition.yaml, data/, the sealed truth.

    Every answer is checked (dates, time zone, metric, the truth against the test ids) before
    anything is written. Missing answers are asked for on a terminal. Then it writes
    competition.yaml, copies the data into data/, seals the truth (printing its key once),
    removes the demo and the grader's development files, and prints the settings to create.
    """
    from grader import scaffold

    asked = ("title", "metric", "start", "end", "timezone", "per_day", "train", "test", "truth")
    absent = scaffold.missing({name: options[name] for name in asked})
    if absent and not sys.stdin.isatty():
        raise UsageError(f"missing {', '.join(absent)} (or run grader init in a terminal to be asked).")
    for name in asked:
        if options[name] is None:
            kind: Any = {"per_day": int, "train": _file, "test": _file, "truth": _file}.get(name, str)
            options[name] = click.prompt(name.replace("_", " ").capitalize(), type=kind)
    answers = scaffold.Answers(**options)
    done = scaffold.apply(scaffold.plan(Path.cwd(), answers, force=force))
    for warning in done.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"Wrote competition.yaml for '{done.competition.title}'; copied {', '.join(done.copied)}.")
    for line in done.inferred:
        click.echo(f"  decided: {line}")
    click.echo(f"Removed the demo and the grader's development files: {', '.join(done.removed) or 'nothing left'}.")
    click.echo(
        f"Sealed the truth into {scaffold.TRUTH_SEALED}. Its key, shown once — store it now:\n\n"
        f"    gh secret set GRADER_TRUTH_KEY --env scoring\n\n{done.key}\n\n"
        "Next (docs/teachers.md, Start a competition):\n"
        "  1. git add -A && git commit -m 'Our competition' && git push\n"
        "  2. gh secret set GRADER_TRUTH_KEY --env scoring        (the key above)\n"
        "  3. grader admin new-key, then gh secret set GRADER_PRIVATE_KEY --env scoring\n"
        "  4. Settings: environments scoring and github-pages (default branch only), Pages from GitHub Actions,\n"
        "     Actions approval for all external contributors, a ruleset with GitHub Actions allowed to bypass\n"
        "  5. GH_TOKEN=$(gh auth token) grader doctor             (until it says Ready.)"
    )


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
