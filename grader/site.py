"""The public site: pages generated from leaderboard.db and competition.yaml, built with MkDocs.

Three layers, top to bottom:

- :func:`load` reads the store (public scores; the private board only after the reveal, when
  the store hands it out) into a :class:`SiteData` snapshot;
- :func:`render` turns a snapshot into the generated files (Markdown pages, per-participant
  JSON, SVG charts, a CSV), a pure function checked against golden files;
- :func:`build` runs the real MkDocs build (``mkdocs.yml``, theme Material, strict), whose
  ``grader`` plugin (:mod:`grader.mkdocs_plugin`) adds those files to the site. Nothing is
  written into ``docs/``.

What the organisers decided is shown as they decided it (see docs/organisers.md): a removed
submission stays in its author's history, marked with the reason, and does not count; a
removed or disqualified participant is not ranked and their history says why; after a reset
the board starts again and older submissions are marked as set aside. The private board
exists only after the reveal (``meta.revealed_at``): before it, nothing private is read.

Scale: the navigation has a fixed handful of pages whatever the number of participants.
Histories are JSON files (about 20 participants each, published gzipped: :func:`published`)
that a single page (``participants.html#LOGIN``) fetches on demand, so 5,000 participants add
250 data files but no page; beside each, a plain HTML page of the same histories for a
browser without JavaScript, which says once what every row would repeat.

A team (competition.yaml's ``teams``) is one entry: the boards mark it and list its members,
its history says which member submitted each row. The submissions an entrant chose for the
private board (``/final``) are marked in their history; after the reveal, so is the one that
counted.

Everything that comes from a participant or the config (logins, notebook paths, error
messages, the title) is escaped for where it lands: HTML, Markdown, JSON, SVG, CSV.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import html
import io
import itertools
import json
import logging
import math
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from grader import charts, config, environment
from grader import render as text
from grader.config import CONFIG_NAME, SCHEMA_PATH, Competition, format_duration, format_size
from grader.environment import Lock
from grader.errors import GraderError, UsageError
from grader.ranking import Standing
from grader.rules import MAX_REASON_CHARS, is_late  # an organiser's reason (the store allows no more)
from grader.store.exports import defuse
from grader.text import clip, duration

if TYPE_CHECKING:
    from grader.store import Baseline

ASSETS = Path(__file__).with_name("site_assets")
TOP_IN_CHART = 10  # participants drawn in "best score over time"
MAX_NOTE_CHARS = 300  # error messages in a history are clipped; the full one is in the pull request
OFF_LABELS = {"removed": "Removed", "disqualified": "Disqualified"}  # how the store's kinds read in a sentence
_KEY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_MARKER = re.compile(r"<!-- grader:([a-z0-9-]+) -->")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|])")  # what Python-Markdown unescapes
# Pages the plugin generates; a hand-written page of the same name in docs/ would be hidden by one.
PAGES = ("index.md", "submit.md", "rules.md", "leaderboard.md", "participants.md", "charts.md")


class SiteError(GraderError):
    """The site cannot be generated or built. The message says what to fix."""

    exit_code = 2


class Submission(NamedTuple):
    """One submission as the site shows it (a light tuple: there may be 100,000). No private score."""

    id: int
    timestamp: str  # the store's UTC form
    notebook_path: str
    status: str
    score: float | None  # public
    error_message: str | None
    removed: str | None = None  # "removed" or "disqualified" by an organiser (this submission itself)
    removed_reason: str | None = None
    reset_id: int | None = None  # the reset that set it aside
    author: str | None = None  # the login that submitted it (a team's member); None: the participant
    pr_number: int | None = None  # the pull request it came from
    run_id: str | None = None  # the store's key: "github-RUN-ATTEMPT" for the evaluate run on GitHub Actions
    secondary: str | None = None  # the public secondary scores, JSON name → score (never the private ones)

    @property
    def counts(self) -> bool:
        """Whether it can rank (as the store decides): accepted, not taken off, not set aside by a reset."""
        return self.status != "rejected" and self.removed is None and self.reset_id is None


class Reset(NamedTuple):
    """A reset of the board by an organiser (an audit row): every submission before it was set aside."""

    id: int
    timestamp: str
    reason: str


@dataclass(frozen=True)
class Participant:
    """Everyone who submitted, ranked or not, with their whole history (oldest first)."""

    username: str
    key: str  # safe in a URL fragment and a file name: participants/<key>.json
    rank: int | None
    best_score: float | None
    entries: int  # submissions that count, as the leaderboard counts them (0 for a participant taken off)
    last_submission_at: str | None
    submissions: tuple[Submission, ...]
    removed: str | None = None  # "removed" or "disqualified": the whole participant is off the ranking
    removed_reason: str | None = None
    final_rank: int | None = None  # on the private board; only after the reveal
    private_score: float | None = None  # of the submission that counted (final_submission); after the reveal
    baseline: bool = False  # an organiser's reference account: shown, never ranked
    members: tuple[str, ...] = ()  # a team's logins (competition.yaml); empty for a participant on their own
    finals: tuple[int, ...] = ()  # the submissions they chose for the private leaderboard (/final)
    final_submission: int | None = None  # the submission whose private score counted; only after the reveal
    # the secondary metrics' private scores of final_submission, by name; only after the reveal
    private_secondary: Mapping[str, float | None] | None = None

    @property
    def team(self) -> bool:
        return bool(self.members)


@dataclass(frozen=True)
class Board:
    """One leaderboard table: the public one, and after the reveal the private (final) one.

    On the private board ``best_score`` is the private score of each participant's final
    submission: the best among those they chose, or their best public one when they chose none
    (``best_submission_id`` is the one that counted).
    """

    name: str  # "public" or "private"
    title: str
    score_label: str
    standings: tuple[Standing, ...]


@dataclass(frozen=True)
class SiteData:
    """Everything the pages show, read once from the store."""

    competition: Competition
    now: datetime
    boards: tuple[Board, ...]  # in the order the leaderboard page shows them: the final one first
    participants: tuple[Participant, ...] = field(default=())
    resets: tuple[Reset, ...] = ()
    revealed_at: str | None = None  # when the private scores were revealed (store timestamp)
    baselines: tuple[Baseline, ...] = ()  # best score first, as Store.baselines returns them
    environment: Lock | None = None  # the notebooks' packages; None while the lock is missing or broken
    repository: str | None = None  # the competition's repository on GitHub (https://github.com/OWNER/NAME), if known

    @property
    def public(self) -> Board:
        return next(b for b in self.boards if b.name == "public")

    @property
    def private(self) -> Board | None:
        """The final board, or None before the reveal."""
        return next((b for b in self.boards if b.name == "private"), None)

    @property
    def off(self) -> tuple[Participant, ...]:
        """Participants an organiser removed or disqualified."""
        return tuple(p for p in self.participants if p.removed is not None)

    @property
    def submission_count(self) -> int:
        return sum(len(p.submissions) for p in self.participants)


@dataclass(frozen=True)
class Built:
    """What :func:`build` made."""

    out: Path
    participants: int
    ranked: int
    submissions: int
    files: int
    bytes: int


# -- reading -----------------------------------------------------------------------------


def load(competition: Competition, db: Path, *, now: datetime) -> SiteData:
    """Read the public leaderboard, the organisers' decisions, the final choices, every participant's
    history and, after the reveal only, the private board from ``db``.

    The database is first copied into memory in one read transaction (SQLite's backup), so
    every page agrees with every other even if a submission is recorded meanwhile, and the
    file is never written (an old schema is migrated in the copy only). A missing database is
    a competition nobody has submitted to yet: an empty site, and no file is created.
    """
    from grader.store import Store

    if not db.is_file():
        return snapshot(competition, now=now, standings=[], histories={})
    conn = sqlite3.connect(":memory:")
    try:
        try:
            source = sqlite3.connect(str(db), timeout=60)
            try:
                source.backup(conn)
            finally:
                source.close()
        except sqlite3.Error as ex:
            raise SiteError(f"cannot read {db} ({ex}). Check the path given with --db.") from None
        with Store(conn) as store:
            standings = store.leaderboard(competition)
            off = store.participants()
            baselines = store.baselines(competition)
            resets = [Reset(a.id, a.timestamp, a.reason) for a in store.admin_log() if a.action == "reset"]
            revealed_at = store.revealed_at()
            selections = store.selections()  # which submissions, never their private scores
            # Asked for only after the reveal (the store refuses before it, and nothing private is read).
            private = store.private_leaderboard(competition) if revealed_at is not None else None
            opened = store.private_secondary() if revealed_at is not None and competition.metric.secondary else None
        histories = _histories(conn, db)
    finally:
        conn.close()
    return snapshot(competition, now=now, standings=standings, histories=histories, off=off, resets=resets,
                    revealed_at=revealed_at, private=private, baselines=baselines,
                    selections=selections, private_secondary=opened)  # fmt: skip


def _histories(conn: sqlite3.Connection, db: Path) -> dict[str, list[Submission]]:
    """Every participant's submissions, oldest first, in one query (Store.history costs one per participant).

    Only columns that the store also exports to the public CSV (and the evaluate run's id, which the
    pull request's checks show anyone): never a private score or its seal.
    ``username`` is the entrant (a team's name, or the participant's login), ``author`` who submitted.
    """
    try:
        # "+username": scan the table and sort, rather than walk the (username, timestamp) index
        # and jump to each row, which is 3x slower for the whole table.
        rows = conn.execute(
            """SELECT username, id, timestamp, notebook_path, status, score, error_message,
                      removed, removed_reason, reset_id, author, pr_number, run_id, secondary FROM submissions
               ORDER BY +username, timestamp, id"""
        ).fetchall()
    except sqlite3.Error as ex:
        raise SiteError(f"cannot read the submissions from {db} ({ex}).") from None
    make = Submission._make
    return {username: [make(row[1:]) for row in group] for username, group in itertools.groupby(rows, _first)}


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


def snapshot(
    competition: Competition,
    *,
    now: datetime,
    standings: list[Standing],
    histories: dict[str, list[Submission]],
    off: dict[str, tuple[str, str]] | None = None,
    resets: list[Reset] | tuple[Reset, ...] = (),
    revealed_at: str | None = None,
    private: list[Standing] | None = None,
    baselines: list[Baseline] | tuple[Baseline, ...] = (),
    selections: Mapping[str, Sequence[int]] | None = None,
    private_secondary: Mapping[int, Mapping[str, float | None]] | None = None,
) -> SiteData:
    """A :class:`SiteData` from a ranking and the histories (``load`` without the database).

    ``off``: participants taken off the ranking, login → (``removed`` or ``disqualified``,
    reason). ``private``: the private board, used only with ``revealed_at``. ``baselines``: the
    organisers' reference accounts, shown beside the ranking. ``selections``: each entrant's
    chosen final submissions (ids). A team (``competition.teams``) shows its members.
    ``private_secondary``: submission id → its secondary metrics' private scores, used only with ``revealed_at``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime, such as datetime.now(UTC)")
    try:
        lock = environment.read_lock(competition.environment)
    except environment.EnvironmentProblem:
        lock = None  # `grader doctor`, `env lock` and every run say what is wrong with it
    off = off or {}
    selections = selections or {}
    reference = {b.username: b for b in baselines}
    final = {s.username: s for s in private or ()} if revealed_at is not None else {}
    by_name = {s.username: s for s in standings}
    keys = _keys([*by_name, *histories])
    participants = []
    for name in [s.username for s in standings] + sorted(n for n in histories if n not in by_name):
        rows = tuple(histories.get(name, ()))
        standing = by_name.get(name)
        kind, reason = off.get(name, (None, None))
        best = reference[name].best if name in reference else None
        counted = (
            [r for r in rows if r.counts and not is_late(r.timestamp, competition)]
            if kind is None and standing is None
            else []
        )
        participants.append(
            Participant(
                username=name,
                key=keys[name],
                rank=standing.rank if standing else None,
                best_score=standing.best_score if standing else best.best_score if best else None,
                entries=standing.submission_count if standing else len(counted),
                last_submission_at=standing.last_submission_at
                if standing
                else max((r.timestamp for r in counted), default=None),
                submissions=rows,
                removed=kind,
                removed_reason=reason,
                final_rank=final[name].rank if name in final else None,
                private_score=final[name].best_score if name in final else None,
                baseline=name in reference,
                members=competition.teams.get(name, ()),
                finals=tuple(selections.get(name, ())),
                final_submission=final[name].best_submission_id if name in final else None,
                private_secondary=(private_secondary or {}).get(final[name].best_submission_id or 0, {})
                if name in final and competition.metric.secondary
                else None,
            )
        )
    metric = competition.metric
    direction = "higher" if metric.greater_is_better else "lower"
    boards = [
        Board(
            name="public",
            title="Public leaderboard",
            score_label=f"Best public score ({metric.name}, {direction} is better)",
            standings=tuple(standings),
        )
    ]
    if revealed_at is not None:
        boards.insert(
            0,
            Board(
                name="private",
                title="Final leaderboard (private)",
                score_label=f"Private score ({metric.name}, {direction} is better) of each participant's "
                f"final submission: {_final_rule(competition)}",
                standings=tuple(private or ()),
            ),
        )
    return SiteData(competition=competition, now=now, boards=tuple(boards), participants=tuple(participants),
                    resets=tuple(resets), revealed_at=revealed_at, baselines=tuple(baselines),
                    environment=lock)  # fmt: skip


def _final_rule(c: Competition) -> str:
    """Which submission counts for the private board, in words (after "final submission: ")."""
    if c.ranking.final_submissions == 0:
        return "their best public one"
    return "the best of those they chose, or their best public one when they chose none"


def _keys(names: list[str]) -> dict[str, str]:
    """A URL- and file-safe key per name: the login itself when it is one, else a hash of it."""
    keys: dict[str, str] = {}
    for name in names:
        if _KEY.fullmatch(name):
            keys[name] = name
        else:
            keys[name] = "u-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return keys


# -- rendering (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """The generated sources: files by their path in the site, and HTML fragments by name.

    A page holds ``<!-- grader:NAME -->`` where fragment NAME goes once the page's Markdown is
    rendered, after the search plugin has indexed the page: neither Markdown nor the search
    has to parse a 5,000-row table (that took seconds).
    """

    files: dict[str, str]
    fragments: dict[str, str]

    def fill(self, html_text: str) -> str:
        """``html_text`` with every fragment marker replaced by its fragment."""
        return _MARKER.sub(lambda m: self.fragments.get(m[1], m[0]), html_text)


def marker(name: str) -> str:
    return f"<!-- grader:{name} -->"


def render(data: SiteData) -> Rendered:
    """Every generated file of the site, by its path in the site's sources. Pure and deterministic."""
    fragments = {f"board-{board.name}": _board_table(board, data) for board in data.boards}
    files = {
        "index.md": _home(data),
        "submit.md": _submit(data.competition, data.environment),
        "rules.md": _rules(data.competition),
        "leaderboard.md": _leaderboard(data),
        "participants.md": _participants(data),
        "charts.md": _charts_page(data),
    }
    scores = [
        r.score
        for p in data.participants
        if p.removed is None
        for r in p.submissions
        if r.status == "completed"
        and r.score is not None
        and r.removed is None
        and r.reset_id is None
        and not is_late(r.timestamp, data.competition)
    ]
    for suffix, layout in (("", charts.WIDE), ("-narrow", charts.NARROW)):
        files[f"charts/best-over-time{suffix}.svg"] = _best_chart(data, layout)
        files[f"charts/scores{suffix}.svg"] = charts.histogram(
            scores, score_label=f"public score ({data.competition.metric.name})", layout=layout
        )
    if data.private is not None:
        moves = _moves(data)
        for suffix, layout in (("", charts.SHAKE_WIDE), ("-narrow", charts.SHAKE_NARROW)):
            files[f"charts/shake-up{suffix}.svg"] = charts.shake_up(moves, layout=layout)
    for board in data.boards:
        files[_csv_name(board)] = _board_csv(board, data)
    shards = shard_count(len(data.participants))
    grouped: dict[int, list[Participant]] = {}
    for participant in data.participants:
        grouped.setdefault(shard(participant.key, shards), []).append(participant)
    aliases: dict[int, dict[str, str]] = {}
    taken = {p.key for p in data.participants}
    for participant in data.participants:
        for login in participant.members:
            # Only a login can be typed into the page; a participant's own history wins over a pointer.
            if _KEY.fullmatch(login) and login not in taken:
                aliases.setdefault(shard(login, shards), {})[login] = participant.key
                grouped.setdefault(shard(login, shards), [])
    for number, group in sorted(grouped.items()):
        made = {p.key: _history(p, data.competition) for p in group}
        files[f"participants/{number}.json"] = _histories_json(group, data.competition, aliases.get(number), made)
        files[f"participants/{number}.html"] = _histories_page(group, data, aliases.get(number), shards, made)
    return Rendered(files=files, fragments=fragments)


def published(files: Mapping[str, str]) -> dict[str, str | bytes]:
    """The rendered files as the site serves them: the JSON histories gzipped (``participants/N.json.gz``).

    Only the site's script reads them, and it unpacks them (DecompressionStream), so they can
    be a quarter of their size: 11.6 MB less for 100,000 submissions. The compression is
    deterministic (no time stamp in the header): an unchanged history makes an unchanged file.
    """
    import gzip

    out: dict[str, str | bytes] = {}
    for path, content in files.items():
        if path.startswith("participants/") and path.endswith(".json"):
            out[path + ".gz"] = gzip.compress(content.encode("utf-8"), compresslevel=6, mtime=0)
        else:
            out[path] = content
    return out


def esc(value: object) -> str:
    """Text that shows as itself in Markdown *and* HTML: HTML-escaped, Markdown syntax backslashed."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(" ".join(str(value).split()), quote=True))


def code(value: object) -> str:
    """Inline code that is safe whatever it contains (a backtick would end a Markdown code span)."""
    return f"<code>{html.escape(str(value), quote=True)}</code>"


def _h(value: object) -> str:
    return html.escape(str(value), quote=True)


def _local(iso_or_moment: str | datetime, competition: Competition) -> str:
    """A store timestamp or an aware datetime in the competition's zone: '2026-11-28 11:15 CET'."""
    if isinstance(iso_or_moment, datetime):
        return iso_or_moment.astimezone(competition.timezone).strftime("%Y-%m-%d %H:%M %Z")
    # 100,000 of these in a big competition: convert each UTC hour once, then paste the minutes
    # (exact whenever the zone's offset is whole hours; other zones take the slow way).
    hour = _local_hour(iso_or_moment[:13], competition.timezone)
    if hour is None:
        return datetime.fromisoformat(iso_or_moment).astimezone(competition.timezone).strftime("%Y-%m-%d %H:%M %Z")
    return f"{hour[0]}:{iso_or_moment[14:16]} {hour[1]}"


@functools.lru_cache(maxsize=8192)
def _local_hour(utc_hour: str, tz: Any) -> tuple[str, str] | None:
    """('2026-11-28 11', 'CET') for the UTC hour '2026-11-28T10', or None when the offset is not whole hours."""
    moment = datetime.fromisoformat(utc_hour + ":00:00+00:00").astimezone(tz)
    offset = moment.utcoffset()
    if offset is None or offset.total_seconds() % 3600:
        return None
    return moment.strftime("%Y-%m-%d %H"), moment.strftime("%Z")


def _status(competition: Competition, now: datetime) -> tuple[str, str]:
    """(state, sentence) at ``now``: not open yet, open, or ended."""
    if now < competition.start:
        return (
            "upcoming",
            f"Opens on {_local(competition.start, competition)} — in {_until(competition.start, now)}.",
        )
    if now < competition.end:
        return (
            "open",
            f"Open — closes on {_local(competition.end, competition)}, in {_until(competition.end, now)}.",
        )
    return "ended", f"Ended on {_local(competition.end, competition)}."


def _updated(data: SiteData) -> str:
    return f'<p class="grader-updated">Updated {_h(_local(data.now, data.competition))}.</p>'


def _home(data: SiteData) -> str:
    c = data.competition
    state, sentence = _status(c, data.now)
    ranked = len(data.public.standings)
    teams = sum(p.team for p in data.participants)
    direction = "higher is better" if c.metric.greater_is_better else "lower is better"
    lines = [
        f"# {esc(c.title)}",
        "",
        f'<div class="grader-status grader-{state}" data-start="{_h(c.start.isoformat())}" '
        f'data-end="{_h(c.end.isoformat())}"><p class="grader-countdown">{_h(sentence)}</p></div>',
        "",
        *_final_news(data, ended=state == "ended"),
        _paragraphs(c.description),
        "",
        f"- **Opens:** {esc(_local(c.start, c))}",
        f"- **Closes:** {esc(_local(c.end, c))}"
        + (" — later submissions are still scored, for practice, and never ranked" if c.late == "scored" else ""),
        f"- **Metric:** {code(c.metric.name)}, {direction}",
        f"- **Participants:** {sum(not p.baseline for p in data.participants)} ({ranked} with a score)"
        + (f", including {teams} team{'s' if teams != 1 else ''}" if teams else ""),
        f"- **Submissions:** {data.submission_count}",
        _where(data),
        "",
        "[How to submit](submit.md) · [Rules](rules.md) · [Leaderboard](leaderboard.md) · [Charts](charts.md)",
        "",
        _updated(data),
        "",
    ]
    return "\n".join(lines)


def _where(data: SiteData) -> str:
    """The home page's line on where the competition lives: its repository and its public data."""
    c = data.competition
    folder = c.data.directory.relative_to(c.root).as_posix() if c.data.directory.is_relative_to(c.root) else "data"
    if data.repository is None:
        return f"- **Data:** {code(folder + '/')} in the competition's repository"
    repo = data.repository
    name = "/".join(repo.split("/")[-2:])
    return (
        f'- **Repository:** <a href="{_h(repo)}">{_h(name)}</a> · **Data:** '
        f'<a href="{_h(repo)}/tree/HEAD/{_h(folder)}">{code(folder + "/")}</a>'
    )


def _final_news(data: SiteData, *, ended: bool) -> list[str]:
    """What the home page says about the final ranking: revealed (and who leads it), or still to come."""
    final = data.private
    if final is None:
        if not ended:
            return []
        return ["The final ranking, by private score, is published after the organisers' reveal.", ""]
    first = [s.username for s in final.standings if s.rank == 1]
    lines = [
        ("**The competition has ended and the final ranking is revealed.** " if ended else
         "**The final ranking is revealed.** ")
        + "The private scores decide it: see the [final leaderboard](leaderboard.md)."
    ]  # fmt: skip
    if first:
        lines[0] += f" First place: {', '.join(f'**{esc(name)}**' for name in first)}."
    return [*lines, ""]


def _paragraphs(description: str) -> str:
    """The config's description as HTML paragraphs: text escaped, only `code spans` kept as markup."""
    out = []
    for block in re.split(r"\n\s*\n", description.strip()):
        if not block.strip():
            continue
        pieces = re.split(r"`([^`]+)`", " ".join(block.split()))
        body = "".join(code(piece) if i % 2 else _h(piece) for i, piece in enumerate(pieces))
        out.append(f"<p>{body}</p>")
    return "\n".join(out) if out else ""


def _columns_step(s: config.Submission, predictions: str, test: str, kinds: dict[str, str]) -> str:
    """Step 3 of *How to submit*: the columns of the predictions file and what they hold."""
    if not s.prediction_columns:
        return (
            f"3. It must write {predictions} in its working folder with exactly two columns, "
            f"{code(s.id_column)} and {code(s.prediction_column)}, and one row for every id of {test}: "
            f"no missing, duplicate or extra ids; predictions are {kinds.get(s.prediction_type, s.prediction_type)}."
        )
    columns = ", ".join(f"{code(c.name)} ({kinds.get(c.type, c.type)})" for c in s.prediction_columns)
    distribution = (
        " The prediction columns are the probabilities of the classes: each row must sum to 1 "
        f"(within {s.distribution_tolerance:g}), as {code('predict_proba')} gives."
        if s.distribution
        else ""
    )
    return (
        f"3. It must write {predictions} in its working folder with exactly the columns {code(s.id_column)}, "
        f"{columns}, in any order, and one row for every id of {test}: no missing, duplicate or extra ids."
        + distribution
    )


def _submit(c: Competition, lock: Lock | None) -> str:
    s = c.submission
    data_dir = c.data.directory.relative_to(c.root).as_posix() if c.data.directory.is_relative_to(c.root) else "data"
    test = c.data.test.relative_to(c.root).as_posix() if c.data.test.is_relative_to(c.root) else "data/test.csv"
    kinds = {
        "integer": "whole numbers",
        "float": "numbers",
        "string": "text",
        "probability": "probabilities from 0 to 1",
    }
    quota = f"{c.quota.per_day} submission{'s' if c.quota.per_day != 1 else ''} per day"
    return "\n".join(
        [
            "# How to submit",
            "",
            "1. Fork the competition's repository and add **one notebook** under "
            f"{code(f'{s.directory}/<your-github-login>/')}, e.g. {code(f'{s.directory}/octocat/model.ipynb')}, "
            "in a pull request. Your GitHub login is your name on the leaderboard.",
            "2. The notebook runs in a fresh working folder with the public data, read-only, in "
            f"{code(data_dir + '/')}. "
            f"Read it with relative paths, e.g. {code(f'pd.read_csv({test!r})')}.",
            _columns_step(s, code(s.predictions), code(test), kinds),
            "4. It must run from top to bottom without an error in a Python 3 kernel, within the [limits](rules.md).",
            "",
            "## Check it before you open the pull request",
            "",
            "```bash",
            "./dev grader check submissions/<you>/<notebook>.ipynb",
            "```",
            "",
            "runs it exactly as the grader will and checks the predictions' format; only the score is "
            "missing, since the truth is hidden.",
            "",
            *_packages(lock),
            "## Sizes and limits",
            "",
            "| What | Limit |",
            "|---|---|",
            f"| Notebook size | at most {esc(format_size(s.max_notebook_size))} |",
            f"| {code(s.predictions)} size | at most {esc(format_size(s.max_predictions_size))} |",
            f"| Time per cell | {esc(format_duration(c.limits.cell_timeout))} |",
            f"| Time for the whole notebook | {esc(format_duration(c.limits.run_timeout))} |",
            f"| Memory | {esc(format_size(c.limits.memory))} |",
            f"| Daily limit | {esc(quota)} |",
            "",
            "## What you get back",
            "",
            "The pull request gets a comment with the outcome: `completed` (a public score and a rank), "
            "`failed`, `timeout`, `invalid` (the message says what to fix) or `rejected` (the competition "
            "is closed, your daily limit is used up, or the same notebook was already scored). "
            "[Submitting a notebook](guides/students.md) says more.",
            "",
        ]
    )


def _packages(lock: Lock | None) -> list[str]:
    """The packages section of the submit page: what a notebook can import, from the lock."""
    head = ["## Packages", ""]
    if lock is None:
        return [*head, "The organisers have not locked the notebooks' environment yet.", ""]
    lines = [
        f"Notebooks run with **Python {esc(lock.python)}** and exactly these packages (and the standard "
        "library). Nothing can be installed during the run, and there is no network: `pip install` in a cell "
        "fails. Need another package? Ask the organisers.",
        "",
        "| Package | Version |",
        "|---|---|",
    ]
    lines += [
        f"| {code(name)} | {esc(version)} |" for name, version in sorted(lock.packages, key=lambda p: p[0].lower())
    ]
    return [*head, *lines, ""]


def _rules(c: Competition) -> str:
    m = c.metric
    tz = text.short_time(c.start.isoformat(), c.timezone).split()[-1]
    zone = str(getattr(c.timezone, "key", tz))
    ties = {
        "earliest": "equal scores are ranked by who reached the score first; every rank is distinct.",
        "shared": "equal scores share a rank, and the next rank is skipped (1, 2, 2, 4).",
    }[c.ranking.ties]
    counted = "Every run counts, failed ones too." if c.quota.count_failed else "Runs that fail do not count."
    return "\n".join(
        [
            "# Rules",
            "",
            "## Dates",
            "",
            f"The competition opens on {esc(_local(c.start, c))} and closes on {esc(_local(c.end, c))}. "
            + (
                "Submissions before the start are recorded as rejected. Submissions after the end are still "
                "scored, for practice, as late submissions: shown apart, never ranked and never on the final "
                "leaderboard (the daily limit still applies)."
                if c.late == "scored"
                else "Submissions outside these dates are recorded as rejected."
            ),
            "",
            "## Scoring",
            "",
            f"- **Metric:** {code(m.name)}, **{'higher' if m.greater_is_better else 'lower'} is better**.",
            "- **Split:** the hidden test labels are split in two. The **public** part scores every submission "
            "while the competition runs; the **private** part decides the final ranking and is revealed after "
            "the end. Only public scores are shown until then.",
            "- **Your score:** the best public score among your submissions. Scores are compared at full "
            "precision and shown rounded to 5 decimals.",
            f"- **Ties:** {esc(ties)}",
            "",
            "## Limits",
            "",
            "| What | Limit |",
            "|---|---|",
            f"| Time per cell | {esc(format_duration(c.limits.cell_timeout))} |",
            f"| Time for the whole notebook | {esc(format_duration(c.limits.run_timeout))} |",
            f"| Memory | {esc(format_size(c.limits.memory))} |",
            f"| Output kept | {esc(format_size(c.limits.max_output))} |",
            f"| Notebook size | {esc(format_size(c.submission.max_notebook_size))} |",
            f"| Predictions size | {esc(format_size(c.submission.max_predictions_size))} |",
            "",
            "## Daily limit",
            "",
            f"{c.quota.per_day} submission{'s' if c.quota.per_day != 1 else ''} per day; days run from "
            f"midnight to midnight, {esc(zone)} time. {counted} The same notebook submitted twice is "
            "rejected the second time.",
            "",
        ]
    )


def _leaderboard(data: SiteData) -> str:
    c = data.competition
    several = len(data.boards) > 1
    lines = [f"# {'Leaderboard' if several else esc(data.public.title)}", ""]
    if data.revealed_at is not None:
        lines += [
            f'<p class="grader-final">The private scores were revealed on {_h(_local(data.revealed_at, c))}: '
            "the final leaderboard ranks each participant's final submission "
            f"({_h(_final_rule(c))}) by its private score.</p>",
            "",
        ]
    for reset in data.resets:
        lines += [
            f'<p class="grader-reset">The leaderboard was reset on {_h(_local(reset.timestamp, c))} and started '
            f"again (reason: {_h(clip(reset.reason, MAX_REASON_CHARS))}). Submissions from before the reset do "
            "not count; they stay in each participant's history, marked <em>reset</em>.</p>",
            "",
        ]
    for board in data.boards:
        if several:
            lines += [f"## {esc(board.title)}", ""]
        lines += [
            f"<p>{_h(board.score_label)}. {len(board.standings)} participant"
            f"{'s' if len(board.standings) != 1 else ''} with a score. "
            f'<a href="{_csv_name(board)}" download>Download as CSV</a>.</p>',
            "",
        ]
        if board.name == "private" and board.standings:
            lines += _shake_up_figure(data)
        lines += [
            marker(f"board-{board.name}"),
            "",
        ]
    # For the site search, which indexes the page before the tables are put in.
    members = {p.username: p.members for p in data.participants if p.members}
    names = [n for s in data.public.standings for n in (s.username, *members.get(s.username, ()))]
    lines += [f'<p class="grader-names" hidden>{" ".join(_h(n) for n in names)}</p>', ""]
    if data.baselines:
        lines += ["## Baselines", "", _baseline_list(data), ""]
    late = _late_list(data)
    if late:
        lines += ["## Late submissions", "", late, ""]
    if data.off:
        lines += ["## Not ranked", "", _off_list(data), ""]
    lines += [_updated(data), ""]
    return "\n".join(lines)


def _baseline_list(data: SiteData) -> str:
    """The organisers' reference accounts, marked and unranked, best first (the reason is text: escaped)."""
    keys = {p.username: p.key for p in data.participants}
    shards = shard_count(len(data.participants))
    items = []
    for b in data.baselines:
        score = f"best public score {text.score(b.best.best_score)}" if b.best is not None else "no score yet"
        items.append(
            f"<li>{_link(b.username, keys.get(b.username, b.username), shards)} "
            f'<span class="grader-baseline">baseline</span> — {_h(score)}, not ranked: '
            f"{_h(clip(b.reason, MAX_REASON_CHARS))}</li>"
        )
    return "\n".join(
        [
            "<p>Reference submissions by the organisers, for comparison: they take no rank and push nobody down.</p>",
            '<ul class="grader-baselines">',
            *items,
            "</ul>",
        ]
    )


def _late_list(data: SiteData) -> str:
    """The submissions scored after the end (``late: scored``), apart from every board: each participant's best
    late public score, best first, with no rank. Empty when there are none."""
    c = data.competition
    sign = -1.0 if c.metric.greater_is_better else 1.0
    shards = shard_count(len(data.participants))
    found = []
    for p in data.participants:
        late = [r for r in p.submissions if r.counts and is_late(r.timestamp, c)]
        if not late or p.removed is not None or p.baseline:
            continue
        scores = [
            sign * r.score for r in late if r.status == "completed" and r.score is not None and r.score == r.score
        ]
        best = sign * min(scores) if scores else None
        shown = f"best late public score {text.score(best)}" if best is not None else "no score"
        count = f"{len(late)} late submission{'s' if len(late) != 1 else ''}"
        item = f"<li>{_name(p.username, p.key, p.members, shards)} — {_h(shown)} ({_h(count)})</li>"
        found.append((not scores, min(scores, default=0.0), p.username, item))
    if not found:
        return ""
    return "\n".join(
        [
            f"<p>Submitted after the end ({_h(_local(c.end, c))}), for practice: scored, but never ranked and never "
            "on the final leaderboard. Each participant's history shows them, marked <em>late</em>.</p>",
            '<ul class="grader-late">',
            *[item for *_, item in sorted(found)],
            "</ul>",
        ]
    )


def _off_list(data: SiteData) -> str:
    """Participants taken off the ranking, each with the organisers' reason (escaped: it is text)."""
    shards = shard_count(len(data.participants))
    items = [
        f"<li>{_name(p.username, p.key, p.members, shards)} — "
        f"{_h(OFF_LABELS.get(p.removed or '', p.removed))} by the organisers: "
        f"{_h(clip(p.removed_reason or '', MAX_REASON_CHARS))}</li>"
        for p in data.off
    ]
    return "\n".join(['<ul class="grader-off">', *items, "</ul>"])


def _link(username: str, key: str, shards: int) -> str:
    """A participant's name linked to their history.

    The link leads to the plain page of the history (``participants/N.html#KEY``), which works
    without JavaScript; the site's script points it at the participants page instead.
    """
    return f'<a href="participants/{shard(key, shards)}.html#{_h(key)}" data-who="{_h(key)}">{_h(username)}</a>'


def _name(username: str, key: str, members: tuple[str, ...], shards: int) -> str:
    """A participant's name linked to their history; a team's with a mark and its members (HTML)."""
    link = _link(username, key, shards)
    if not members:
        return link
    names = _h(", ".join(members))
    return f'{link} <span class="grader-team">team</span> <span class="grader-members">{names}</span>'


def _counted_public_scores(board: Board, data: SiteData) -> dict[str, float | None]:
    """The public score of the submission that counted on ``board``, by participant.

    On the private board a chosen submission may not be the best public one, so its own public
    score is shown beside its private one (the best public score when it is not found).
    """
    best: dict[str, float | None] = {s.username: s.best_score for s in data.public.standings}
    by_name = {p.username: p for p in data.participants}
    shown: dict[str, float | None] = {}
    for s in board.standings:
        p = by_name.get(s.username)
        row = next((r for r in p.submissions if r.id == s.best_submission_id), None) if p else None
        shown[s.username] = row.score if row is not None and row.score is not None else best.get(s.username)
    return shown


def _csv_name(board: Board) -> str:
    return "leaderboard.csv" if board.name == "public" else f"leaderboard-{board.name}.csv"


def _board_table(board: Board, data: SiteData) -> str:
    """A leaderboard as one HTML block; the site's script makes it searchable and sortable.

    The public board: rank, participant, best public score, entries, last submission. The
    private board: rank, participant, private score, the public score of the same submission
    beside it, and the shake-up: the move from the public rank to the final one. A team is
    marked, with its members under its name. The table scrolls sideways in its own box on a
    narrow screen; the page never does.
    """
    from grader.store.db import secondary_scores

    if not board.standings:
        return '<p class="grader-empty">No scored submissions yet.</p>'
    c = data.competition
    by_name = {p.username: p for p in data.participants}
    public = _counted_public_scores(board, data) if board.name != "public" else {}
    public_ranks = {s.username: s.rank for s in data.public.standings}
    shards = shard_count(len(data.participants))
    extra = [m.name for m in c.metric.secondary] if board.name == "public" else []
    rows = []
    for s in board.standings:
        p = by_name.get(s.username)
        # Spaces between cells: the site search indexes the page's text, and "1bob0.97" is no word.
        cells = [
            f'<td data-v="{s.rank}">{s.rank}</td>',
            f"<td>{_name(s.username, p.key if p else s.username, p.members if p else (), shards)}</td>",
            f'<td data-v="{s.best_score!r}">{_h(text.score(s.best_score))}</td>',
        ]
        if extra:  # the secondary metrics of the best submission: shown, never ranked
            best = next((r for r in p.submissions if r.id == s.best_submission_id), None) if p else None
            scores = secondary_scores(best.secondary if best else None)
            cells += [f'<td data-v="{scores.get(n)!r}">{_h(text.score(scores.get(n)))}</td>' for n in extra]
        if board.name == "public":
            cells += [
                f'<td data-v="{s.submission_count}">{s.submission_count}</td>',
                f'<td data-v="{_h(s.last_submission_at)}">{_h(_local(s.last_submission_at, c))}</td>',
            ]
        else:
            shown = public.get(s.username)
            cells.append(f'<td data-v="{shown!r}">{_h(text.score(shown)) if shown is not None else "—"}</td>')
            cells.append(_shake_up_cell(public_ranks.get(s.username), s.rank))
        rows.append(f"<tr>{' '.join(cells)}</tr>")
    order = "descending" if c.metric.greater_is_better else "ascending"
    if board.name == "public":
        heads = '<th data-sort="num">Best public score</th>'
        heads += "".join(f'<th data-sort="num" title="shown, not ranked">{_h(name)}</th>' for name in extra)
        heads += '<th data-sort="num">Entries</th>'
        heads += '<th data-sort="text">Last submission</th>'
    else:
        heads = '<th data-sort="num">Private score</th><th data-sort="num">Public score</th>'
        heads += '<th data-sort="num" title="Public rank → final rank">Move</th>'
    return "\n".join(
        [
            f'<div class="grader-board" data-board="{_h(board.name)}">',
            '<input type="search" class="grader-filter md-input" placeholder="Find a participant" '
            'aria-label="Find a participant" autocomplete="off">',
            '<div class="grader-scroll">',
            f'<table data-score-order="{order}">',
            f'<thead><tr><th data-sort="num" aria-sort="ascending">Rank</th><th data-sort="text">Participant</th>'
            f"{heads}</tr></thead>",
            "<tbody>",
            *rows,
            "</tbody>",
            "</table>",
            "</div>",
            '<p class="grader-nomatch" hidden>No participant matches.</p>',
            "</div>",
        ]
    )


def _moves(data: SiteData) -> list[charts.Move]:
    """The shake-up of the top of the final board (:data:`TOP_IN_CHART`): each entrant's public and final rank."""
    final = data.private
    public_ranks = {s.username: s.rank for s in data.public.standings}
    standings = final.standings[:TOP_IN_CHART] if final is not None else ()
    return [charts.Move(s.username, s.rank, public_ranks.get(s.username)) for s in standings]


def _shake_up_figure(data: SiteData) -> list[str]:
    """The shake-up chart above the final board, with its text alternative: every move in words."""
    moves = _moves(data)
    said = []
    for m in moves:
        gained = m.places
        if gained is None:
            said.append(f"{m.name} had no public rank and finished {m.final_rank}")
        elif gained == 0:
            said.append(f"{m.name} stayed at {m.final_rank}")
        else:
            way = "up" if gained > 0 else "down"
            said.append(f"{m.name} went {way} from {m.public_rank} to {m.final_rank}")
    top = f"the top {len(moves)}" if len(moves) > 1 else "the winner"
    alt = f"Shake-up of {top} of the final leaderboard, from the public rank to the final rank: {'; '.join(said)}."
    return [
        f'<figure class="grader-shake-up">{_picture("shake-up", alt)}'
        f"<figcaption>The shake-up of {_h(top)}: places won (right) or lost (left) from the public "
        "leaderboard to the final one. The Move column below has everyone's.</figcaption></figure>",
        "",
    ]


def shake_up(public_rank: int | None, final_rank: int) -> int | None:
    """Places gained from the public board to the final one (negative: lost), as Kaggle's shake-up;
    None for an entrant who had no public rank."""
    return None if public_rank is None else public_rank - final_rank


def _shake_up_cell(public_rank: int | None, final_rank: int) -> str:
    """'3 → 1 ▲2', '1 → 3 ▼2' or '2 → 2 =': the move in words too, for a screen reader."""
    move = shake_up(public_rank, final_rank)
    if move is None:
        return f'<td data-v="0">— → {final_rank}</td>'
    if move > 0:
        mark = f'<span class="grader-up" title="up {move} place{"s" if move != 1 else ""}">▲{move}</span>'
    elif move < 0:
        mark = f'<span class="grader-down" title="down {-move} place{"s" if move != -1 else ""}">▼{-move}</span>'
    else:
        mark = '<span class="grader-same" title="same place">=</span>'
    return f'<td data-v="{move}">{public_rank} → {final_rank} {mark}</td>'


def _participants(data: SiteData) -> str:
    unranked = [p for p in data.participants if p.rank is None and p.removed is None and not p.baseline]
    names = [m.name for m in data.competition.metric.secondary]  # the history's extra columns
    lines = [
        "# Participants",
        "",
        f'<div class="grader-history" data-base="participants/" data-shards="{shard_count(len(data.participants))}"'
        + (f' data-secondary="{_h(json.dumps(names))}"' if names else "")
        + (f' data-repo="{_h(data.repository)}">' if data.repository else ">"),
        '<form class="grader-pick" hidden><label>Show the submissions of '
        '<input type="search" class="md-input" name="who" placeholder="login" autocomplete="off" '
        'aria-label="Participant login"></label> <button class="md-button" type="submit">Show</button></form>',
        '<noscript><p>Choose a participant on the <a href="leaderboard.html">leaderboard</a> or on this page: '
        "each name leads to a plain page of their submissions.</p></noscript>",
        '<p class="grader-message" hidden>Choose a participant on the <a href="leaderboard.html">leaderboard</a>, '
        "or type a login above.</p>",
        '<div class="grader-view" hidden>',
        '<h2 class="grader-who"></h2>',
        '<p class="grader-members" hidden></p>',
        '<p class="grader-summary"></p>',
        '<div class="grader-scroll">'
        '<table><thead><tr><th>#</th><th>Submitted</th><th class="grader-by" hidden>By</th><th>Notebook</th>'
        "<th>Status</th><th>Public score</th>"
        + "".join(f'<th title="shown, not ranked">{_h(n)}</th>' for n in names)
        + "<th>Note</th><th>Links</th></tr></thead><tbody></tbody></table></div>",
        "</div>",
        "</div>",
        "",
        *_finals_legend(data),
    ]
    if data.resets:
        last = data.resets[-1]
        lines += [
            f'<p class="grader-reset">Submissions marked <em>reset</em> were made before the leaderboard was reset '
            f"on {_h(_local(last.timestamp, data.competition))} ({_h(clip(last.reason, MAX_REASON_CHARS))}); "
            "they do not count.</p>",
            "",
        ]
    if unranked:
        shards = shard_count(len(data.participants))
        links = ", ".join(_link(p.username, p.key, shards) for p in unranked)
        lines += ["## Without a score yet", "", f'<p class="grader-unranked">{links}</p>', ""]
    if data.off:
        lines += ["## Disqualified or removed", "", _off_list(data), ""]
    lines += [_updated(data), ""]
    return "\n".join(lines)


def _finals_legend(data: SiteData) -> list[str]:
    """One line on the history's badges: what a *final* submission is and, after the reveal, which one *counted*."""
    c = data.competition
    cap = c.ranking.final_submissions
    parts = []
    if cap:
        who = "participant or team" if c.teams else "participant"
        parts.append(
            'Submissions marked <span class="grader-badge">final</span> are chosen for the private leaderboard '
            f"(up to {cap} per {who}, with <code>/final</code> on the pull request); without a choice the best "
            "public submission counts."
        )
    if data.revealed_at is not None:
        parts.append(
            'The one marked <span class="grader-badge grader-counted">counted</span> is the submission whose '
            "private score decided the final rank."
        )
    return [f'<p class="grader-legend">{" ".join(parts)}</p>', ""] if parts else []


def shard_count(participants: int) -> int:
    """How many files the histories are spread over: about 20 participants a file, at most 256.

    Thousands of tiny files would slow the build and the upload; one big file, the page.
    """
    return max(1, min(256, math.ceil(participants / 20)))


def shard(key: str, shards: int) -> int:
    """The file of a participant's history: FNV-1a of the key, as the site's script computes it."""
    h = 0x811C9DC5
    for byte in key.encode("ascii"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h % shards


def _histories_json(
    group: list[Participant],
    c: Competition,
    aliases: Mapping[str, str] | None = None,
    made: Mapping[str, dict[str, Any]] | None = None,
) -> str:
    """The histories of a group of participants, by key. JSON escapes everything it holds; the page
    inserts it as text, never as HTML.

    ``aliases``: a team member's login → their team's key, ``{"member_of": KEY}`` in the file of
    the login, so that the page finds a team from any of its members.
    """
    payload: dict[str, dict[str, Any]] = {p.key: made[p.key] if made else _history(p, c) for p in group}
    payload.update({login: {"member_of": team} for login, team in (aliases or {}).items()})
    dumped = json.dumps(payload, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    # No <, > or & even inside strings: the file stays inert if a host serves it as HTML.
    return dumped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def _history(p: Participant, c: Competition) -> dict[str, Any]:
    """One participant's history: a row per submission, ``[id, time, notebook, status, public score, note]``.

    A row that does not count gets a seventh item saying why: ``removed`` or ``disqualified``
    (by an organiser; the note starts with the reason), ``reset``, or ``late`` (made after the
    end of a competition that keeps scoring); rows of a participant
    who was taken off say so too. Rows that count have six items, to keep big sites small.

    A team's history adds ``team`` (its members) and an eighth item to every row: the member
    who submitted it (the seventh is then null when the row counts). ``final`` lists the
    submissions chosen for the private leaderboard, when there are any; after the reveal,
    ``counted`` is the one whose private score decided the final rank.

    With secondary metrics (``metric.secondary``) only: ``secondary`` has an item per row, null
    or a completed submission's public values in the order of competition.yaml (null: none),
    and, after the reveal, ``private_secondary`` lists those of ``counted``, as ``private_score``.
    Both are rounded to the 5 decimals shown.
    """

    rows: list[list[Any]] = [
        [r.id, _local(r.timestamp, c), r.notebook_path, r.status, r.score if r.status == "completed" else None,
         clip(r.error_message, MAX_NOTE_CHARS) if r.error_message else ""]
        for r in p.submissions
    ]  # fmt: skip
    for r, row in zip(p.submissions, rows, strict=True):
        off: str | None = None
        if r.removed is not None:
            reason = f"{OFF_LABELS.get(r.removed, r.removed)} by the organisers: " + clip(
                r.removed_reason or "", MAX_REASON_CHARS
            )
            row[5] = f"{reason} — {row[5]}" if row[5] else reason
            off = r.removed
        elif r.status == "rejected":
            pass
        elif p.removed is not None:
            off = p.removed
        elif r.reset_id is not None:
            off = "reset"
        elif is_late(r.timestamp, c):
            off = "late"
        if p.team:
            row += [off, r.author or p.username]
        elif off is not None:
            row.append(off)
    history: dict[str, Any] = {"username": p.username}
    if p.team:
        history["team"] = list(p.members)
    history.update(rank=p.rank, best_score=p.best_score, entries=p.entries)
    if p.removed is not None:
        history["removed"] = p.removed
        history["reason"] = clip(p.removed_reason or "", MAX_REASON_CHARS)
    if p.finals:
        history["final"] = list(p.finals)
    if p.final_rank is not None:
        history["final_rank"] = p.final_rank
        history["private_score"] = p.private_score
        history["counted"] = p.final_submission
    history.update(_secondary_history(p, c))
    history["submissions"] = rows
    links = {str(r.id): [r.pr_number, _run_path(r.run_id)] for r in p.submissions if r.pr_number or _run_path(r.run_id)}
    if links:
        history["links"] = links
    return history


def _secondary_history(p: Participant, c: Competition) -> dict[str, Any]:
    """A history's secondary values (see :func:`_history`); none without secondary metrics: same bytes."""
    from grader.store.db import secondary_scores

    names = [m.name for m in c.metric.secondary]
    found: dict[str, Any] = {}
    if not names:
        return found
    if p.private_secondary is not None:
        found["private_secondary"] = [_rounded(p.private_secondary.get(n)) for n in names]
    # A list beside the rows (whose items keep their places), one item per row: null, or the values.
    shown: list[list[float | None] | None] = []
    for r in p.submissions:
        values = secondary_scores(r.secondary) if r.status == "completed" else {}
        shown.append([_rounded(values.get(n)) for n in names] if values else None)
    if any(shown):
        found["secondary"] = shown
    return found


def _rounded(value: float | None) -> float | None:
    """A secondary value as the pages show it (5 decimals): 100,000 rows of full-precision digits cost megabytes."""
    return None if value is None else round(value, 5)


_GITHUB_RUN = re.compile(r"github-([0-9]{1,20})-([0-9]{1,6})")


def _run_path(run_id: str | None) -> str | None:
    """'RUN/ATTEMPT' of the evaluate run that executed a submission, from the store's key
    (``github-RUN-ATTEMPT``); None for a run made elsewhere (a laptop, a regrade)."""
    m = _GITHUB_RUN.fullmatch(run_id or "")
    return f"{m[1]}/{m[2]}" if m else None


def repository_url(environ: Mapping[str, str]) -> str | None:
    """The repository's address from the variables GitHub Actions sets in every job
    (``GITHUB_SERVER_URL`` and ``GITHUB_REPOSITORY``), or None elsewhere."""
    server, name = environ.get("GITHUB_SERVER_URL", "https://github.com"), environ.get("GITHUB_REPOSITORY", "")
    if not re.fullmatch(r"[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}", name):
        return None
    if not re.fullmatch(r"https://[^\s/\"'<>]+", server):
        return None
    return f"{server}/{name}"


def _pull_requests(p: Participant, repo: str | None) -> str:
    """A line linking a participant's (or each team member's) pull requests on GitHub; empty when
    the repository is not known or the name is not a GitHub login."""
    logins = [login for login in (p.members or (p.username,)) if _KEY.fullmatch(login)]
    if repo is None or not logins:
        return ""
    links = ", ".join(f'<a href="{_h(repo)}/pulls?q=is%3Apr+author%3A{login}">{_h(login)}</a>' for login in logins)
    return f'<p class="prs">Pull requests on GitHub: {links}</p>'


def _summary(p: Participant, c: Competition) -> str:
    """The sentence over a history (as the site's script writes it)."""
    if p.removed is not None:
        what = "Disqualified" if p.removed == "disqualified" else "Removed from the ranking"
        line = f"{what} by the organisers. Reason: {clip(p.removed_reason or '', MAX_REASON_CHARS)}. Not ranked"
    else:
        line = "no score yet" if p.rank is None else f"rank {p.rank}, best public score {text.score(p.best_score)}"
        line += f"; {p.entries} entr{'y' if p.entries == 1 else 'ies'}"
    if p.final_rank is not None:
        counted = f" (submission #{p.final_submission})" if p.final_submission else ""
        extra = ""
        if p.private_secondary is not None and c.metric.secondary:
            values = ", ".join(f"{m.name} {text.score(p.private_secondary.get(m.name))}" for m in c.metric.secondary)
            extra = f"; private {values} (shown, not ranked)"
        line = f"Final rank {p.final_rank}, private score {text.score(p.private_score)}{counted}{extra}; public {line}"
    return line if line.endswith((".", "!", "?")) else line + "."


def _histories_page(
    group: list[Participant],
    data: SiteData,
    aliases: Mapping[str, str] | None,
    shards: int,
    made: Mapping[str, dict[str, Any]],
) -> str:
    """The histories of a group of participants as one plain HTML page: what a visitor without
    JavaScript sees when following a participant's link (``participants/N.html#KEY``).

    ``made``: each one's history as the JSON file has it. Every byte of a row counts 100,000
    times, so the page says once what repeats: cells and rows leave out their end tags (HTML
    allows it; 4 MB less), a notebook in its author's folder is shown without it (2.6 MB), and a
    row shows its pull request's number as text, with one link to the participant's pull
    requests on GitHub for the section, where a row's two links (its pull request and its Actions
    run) cost 25 MB. The participants page, with JavaScript, links each row's."""
    c, repo = data.competition, data.repository
    title = _h(" ".join(c.title.split()))
    body = []
    for p in group:
        history = made[p.key]
        team = bool(p.members)
        names = [m.name for m in c.metric.secondary]  # their public values: shown, not ranked
        heads = ["#", "Submitted", *(["By"] if team else []), "Notebook", "Status", "Public score", *map(_h, names),
                 "Note", "Pull request"]  # fmt: skip
        extra = history.get("secondary") or [None] * len(p.submissions)
        rows = []
        for r, row, values in zip(p.submissions, history["submissions"], extra, strict=True):
            off = row[6] if len(row) > 6 else None
            notebook = row[2].removeprefix(f"{c.submission.directory}/{r.author or p.username}/")
            status = _h(off or row[3])
            if r.id in p.finals:
                status += ' <span class="badge">final</span>'
            if p.final_submission == r.id:
                status += ' <span class="badge counted">counted</span>'
            score = text.score(row[4]) + (" (not counted)" if off and row[4] is not None else "")
            values = values or [None] * len(names)
            cells = [str(r.id), _h(row[1]), *([_h(row[7])] if team else []), _h(notebook), status, score,
                     *map(text.score, values), _h(row[5]), f"#{r.pr_number}" if r.pr_number else ""]  # fmt: skip
            css = " ".join(([f"s-{_h(r.status)}"] if r.status != "completed" else []) + (["off"] if off else []))
            rows.append((f'<tr class="{css}">' if css else "<tr>") + "".join(f"<td>{cell}" for cell in cells))
        members = f"<p>Team: {_h(', '.join(p.members))}</p>" if team else ""
        body += [
            f'<section id="{_h(p.key)}">',
            f"<h2>{_h(p.username)}</h2>{members}<p>{_h(_summary(p, c))}</p>{_pull_requests(p, repo)}",
            '<div class="grader-scroll"><table>',
            "<thead><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr></thead>",
            "<tbody>",
            *rows,
            "</tbody></table></div>",
            "</section>",
        ]
    for login, team_key in sorted((aliases or {}).items()):
        body.append(
            f'<section id="{_h(login)}"><p>{_h(login)} is a member of the team '
            f'<a href="{shard(team_key, shards)}.html#{_h(team_key)}">{_h(team_key)}</a>.</p></section>'
        )
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Submissions — {title}</title>",
            '<link rel="stylesheet" href="../assets/grader-plain.css">',
            "</head><body>",
            f'<nav><a href="../index.html">{title}</a> · <a href="../leaderboard.html">Leaderboard</a> · '
            '<a href="../participants.html">Participants</a></nav>',
            "<main>",
            f'<p class="where">Notebooks are shown without their folder, {_h(c.submission.directory)}/ followed by the '
            "login of who submitted them. The last column is the pull request's number"
            + (
                "; each participant's pull requests on GitHub are linked, and each one's checks lead to the Actions "
                "run that executed it (its artifact holds the executed notebook). With JavaScript, the "
                '<a href="../participants.html">participants page</a> links every submission\'s.</p>'
                if repo
                else ".</p>"
            ),
            *body,
            "</main>",
            _updated(data),
            "</body></html>",
            "",
        ]
    )


def _charts_page(data: SiteData) -> str:
    top = min(TOP_IN_CHART, len(data.public.standings))
    aside = bool(data.resets) or any(
        p.removed is not None or any(r.removed is not None for r in p.submissions) for p in data.participants
    )
    return "\n".join(
        [
            "# Charts",
            "",
            f"## Best public score over time{f' — the top {top}' if top else ''}",
            "",
            _picture("best-over-time", "Best public score over time of the leading participants"),
            "",
            "## Distribution of public scores",
            "",
            "Every completed submission's public score"
            + (", except those that do not count (removed, disqualified or before a reset)." if aside else "."),
            "",
            _picture("scores", "Histogram of the public scores of all completed submissions"),
            "",
            _updated(data),
            "",
        ]
    )


def _picture(name: str, alt: str) -> str:
    """A chart in its two layouts: the narrow one on a phone, the wide one from 45em (720 px) up.

    An SVG image scales its text with it: the wide chart on a phone would print 6-pixel labels.
    """
    return (
        f'<picture><source media="(min-width: 45em)" srcset="charts/{name}.svg">'
        f'<img class="grader-chart" src="charts/{name}-narrow.svg" alt="{_h(alt)}"></picture>'
    )


def _best_chart(data: SiteData, layout: charts.Layout) -> str:
    c = data.competition
    by_name = {p.username: p for p in data.participants}
    greater = c.metric.greater_is_better
    series = []
    for standing in data.public.standings[:TOP_IN_CHART]:
        points: list[tuple[datetime, float]] = []
        for r in by_name[standing.username].submissions if standing.username in by_name else ():
            if r.status != "completed" or r.score is None or r.score != r.score or not r.counts:
                continue
            if is_late(r.timestamp, c):
                continue
            if not points or (r.score > points[-1][1] if greater else r.score < points[-1][1]):
                points.append((datetime.fromisoformat(r.timestamp), r.score))
        series.append(charts.Series(standing.username, points))
    moments = [moment for line in series for moment, _ in line.points]
    if not moments:
        return charts.best_over_time([], start=c.start, end=c.end, tz=c.timezone, score_label="", layout=layout)
    # From the first scored submission to now (or the end), at least an hour wide.
    start = min(moments)
    end = max(max(moments), min(data.now, c.end))
    if end - start < timedelta(hours=1):
        start, end = start - timedelta(minutes=30), end + timedelta(minutes=30)
    label = f"public {c.metric.name}"
    return charts.best_over_time(series, start=start, end=end, tz=c.timezone, score_label=label, layout=layout)


def _board_csv(board: Board, data: SiteData) -> str:
    """A board as CSV; text cells a spreadsheet would run as a formula are prefixed with '.

    The private board has the columns of its table: rank, participant, private score, the
    public score of the same submission, the public rank and the move (places gained).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if board.name == "public":
        writer.writerow(("rank", "participant", "best_public_score", "entries", "last_submission"))
        for s in board.standings:
            writer.writerow(
                (s.rank, _defused(s.username), repr(s.best_score), s.submission_count, _defused(s.last_submission_at))
            )
        return out.getvalue()
    scores = _counted_public_scores(board, data)
    public_ranks = {s.username: s.rank for s in data.public.standings}
    writer.writerow(("rank", "participant", "private_score", "public_score", "public_rank", "move"))
    for s in board.standings:
        shown = scores.get(s.username)
        before = public_ranks.get(s.username)
        move = shake_up(before, s.rank)
        writer.writerow((s.rank, _defused(s.username), repr(s.best_score), "" if shown is None else repr(shown),
                         "" if before is None else before, "" if move is None else move))  # fmt: skip
    return out.getvalue()


def asset(name: str) -> str:
    """One of the site's own scripts or stylesheets, shipped in the package."""
    return (ASSETS / name).read_text(encoding="utf-8")


def schema() -> str:
    """competition.schema.json, published so that the guides can link to it."""
    return SCHEMA_PATH.read_text(encoding="utf-8")


# -- building ----------------------------------------------------------------------------


def prune_theme(site_dir: Path, search_languages: Sequence[str]) -> int:
    """Remove the theme's files that no visitor's browser loads; returns the bytes saved.

    Material for MkDocs ships source maps of its scripts and styles (1.3 MB; a browser fetches
    them only for its developer tools) and the search's word stemmers for 30 languages (0.9 MB;
    the search loads them only for a language other than English). A big site is measured
    against 25 MB, of which these were 2.2 MB.
    """
    import shutil

    assets = site_dir / "assets"
    maps = [p for folder in ("javascripts", "stylesheets") for p in (assets / folder).rglob("*.map")]
    saved = 0
    for path in maps:
        saved += path.stat().st_size
        path.unlink()
    lunr = assets / "javascripts" / "lunr"
    if lunr.is_dir() and all(lang == "en" for lang in search_languages):
        saved += sum(p.stat().st_size for p in lunr.rglob("*") if p.is_file())
        shutil.rmtree(lunr)
    return saved


def build(
    competition: Competition,
    *,
    db: Path,
    out: Path,
    now: datetime,
    config_file: Path | None = None,
) -> Built:
    """Generate the pages from ``db`` and run the MkDocs build (strict) into ``out``.

    ``config_file`` is the site's mkdocs.yml [default: beside competition.yaml]. The build
    goes to a temporary folder that replaces ``out`` only when it succeeded, so a failed
    build leaves the last good site in place.
    """
    import shutil
    import tempfile

    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, ConfigurationError, MkDocsException

    config_file = config_file or competition.root / "mkdocs.yml"
    if not config_file.is_file():
        raise SiteError(
            f"no {config_file}: the site is described by mkdocs.yml beside {CONFIG_NAME}. "
            "Copy it from the grader repository, or pass --mkdocs PATH."
        )
    data = load(competition, db, now=now)
    out = out.resolve()
    if out == competition.root.resolve() or out in competition.root.resolve().parents:
        raise UsageError(f"--out {out} would replace the competition's own folder; choose a new folder such as site/.")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    warnings = _Warnings()
    logger = logging.getLogger("mkdocs")
    logger.addHandler(warnings)
    propagate, logger.propagate = logger.propagate, False
    try:
        cfg = load_config(str(config_file), site_dir=str(staging), strict=True)
        plugin = cfg.plugins.get("grader")
        if plugin is None:
            raise SiteError(f"{config_file} does not use the grader plugin; add `- grader` under `plugins:`.")
        plugin.data = data
        cfg.plugins.on_startup(command="build", dirty=False)
        try:
            mkdocs_build(cfg)
        finally:
            cfg.plugins.on_shutdown()
    except (Abort, ConfigurationError, MkDocsException) as ex:
        shutil.rmtree(staging, ignore_errors=True)
        detail = "; ".join(warnings.messages[:5]) or str(ex)
        raise SiteError(f"the MkDocs build failed: {detail}. Fix it and build again; {out} is unchanged.") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        logger.removeHandler(warnings)
        logger.propagate = propagate
    old = out.with_name(f".{out.name}-old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    files = [p for p in out.rglob("*") if p.is_file()]
    return Built(
        out=out,
        participants=len(data.participants),
        ranked=len(data.public.standings),
        submissions=data.submission_count,
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
    )


class _Warnings(logging.Handler):
    """Keeps MkDocs' warnings, to explain why a strict build failed (instead of printing them)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))


def _defused(value: str) -> str:
    return defuse(value) or ""


def _until(moment: datetime, now: datetime) -> str:
    """How long until ``moment``, as the site's status line says it (whole days beyond 24 hours)."""
    return duration(moment - now, days=True, round_up=False)
