"""The public site: generated pages against golden files, and the real MkDocs build (strict).

The fixture competition is a scratch copy of the demo with a hostile title, and a real
SQLite leaderboard recorded through the Store, with hostile notebook paths and error
messages. A second one ends: private scores sealed with a key, a reset, a removed
submission, a disqualified participant (hostile reasons, through grader.admin), then the
reveal; it has a team (two members submitting) and final choices (/final). Golden files live in
tests/golden/site/running/ and tests/golden/site/final/; after a deliberate change, regenerate
them with GRADER_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import conftest
import pytest

from grader import admin, charts, config, demo, finals, sealing, site
from grader.config import Competition
from grader.ranking import Entry, Standing
from grader.result import Result, RunError
from grader.store import Store

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "site"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW_ARG = "2026-11-20T12:00:00Z"
TITLE = 'Digits <script>alert("title")</script> & *friends*'
HOSTILE_NOTEBOOK = "submissions/bob/<img src=x onerror=alert(1)>.ipynb"
HOSTILE_MESSAGE = "</script><script>alert('message')</script> | =cmd|' /C calc'!A0"

# (login, day of November 2026, hour UTC, status, public score, notebook, message)
SUBMISSIONS = [
    ("alice", 2, 9, "completed", 0.91, "submissions/alice/a.ipynb", None),
    ("bob", 2, 10, "completed", 0.97, "submissions/bob/b.ipynb", None),
    ("alice", 3, 9, "completed", 0.95, "submissions/alice/b.ipynb", None),
    ("carol", 4, 8, "completed", 0.95, "submissions/carol/c.ipynb", None),
    ("bob", 5, 11, "failed", None, HOSTILE_NOTEBOOK, HOSTILE_MESSAGE),
    ("dave", 6, 7, "failed", None, "submissions/dave/d.ipynb", "=cmd|' /C calc'!A0"),
    ("alice", 7, 9, "completed", 0.93, "submissions/alice/c.ipynb", None),
    ("erin", 8, 9, "timeout", None, "submissions/erin/e.ipynb", "the notebook ran longer than 3 min"),
    ("erin", 9, 9, "completed", 0.42, "submissions/erin/f.ipynb", None),
    ("erin", 9, 10, "completed", 0.42, "submissions/erin/f.ipynb", None),  # same notebook: rejected
]


def make_competition(folder: Path, title: str = TITLE) -> Competition:
    """A scratch copy of the demo competition, with ``title``."""
    demo.scratch_copy(config.load(ROOT / "competition.yaml"), folder)
    path = folder / "competition.yaml"
    text = re.sub(r"(?m)^title: .*$", "title: " + json.dumps(title), path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    # A small fixed environment, so that the golden pages do not move when the demo's lock does.
    requirements = "numpy\n"
    (folder / "environment" / "requirements.txt").write_text(requirements, encoding="utf-8")
    digest = hashlib.sha256(requirements.encode()).hexdigest()
    pins = "".join(f"{name}=={version} \\\n    --hash=sha256:{n * 64}\n" for name, version, n in FIXED_PINS)
    lock = f"# python: 3.11\n# platform: x86_64-manylinux_2_28\n# requirements-sha256: {digest}\n{pins}"
    (folder / "environment" / "requirements.lock").write_text(lock, encoding="utf-8")
    return config.load(path)


FIXED_PINS = [("ipykernel", "7.0.0", "a"), ("numpy", "2.0.0", "b"), ("Scikit_Learn", "1.5.0", "c")]


def make_db(competition: Competition) -> Path:
    """The fixture leaderboard, recorded through the real Store."""
    db = competition.root / "leaderboard" / "leaderboard.db"
    with Store(db) as store:
        for i, (user, day, hour, status, score, notebook, message) in enumerate(SUBMISSIONS):
            when = datetime(2026, 11, day, hour, 0, tzinfo=UTC)
            # 0.123456: must never appear in the site. Run as GitHub Actions' evaluate run 4200+i, from
            # pull request 100+i; the last two ran on a laptop (no pull request, a run id of its own).
            run, pr = (f"github-{4200 + i}-1", 100 + i) if i < 8 else (f"run-{i}", None)
            record(store, competition, run, user, when, status, score, 0.123456, notebook, message, pr=pr)
    return db


def record(
    store: Store,
    competition: Competition,
    run_id: str,
    user: str,
    when: datetime,
    status: str,
    score: float | None,
    private: float | None,
    notebook: str,
    message: str | None = None,
    pr: int | None = None,
) -> int:
    """Record one run through the real Store; returns the submission id."""
    sha = hashlib.sha256(f"{user}/{notebook}".encode()).hexdigest()
    result = Result(
        status=status,  # type: ignore[arg-type]
        run_id=run_id,
        notebook=Path(notebook).name,
        notebook_sha256=sha,
        started_at="",
        runtime_seconds=10.0,
        error=RunError("RuntimeError", message, 2) if message else None,
        public_score=score,
        private_score=private if score is not None else None,
        grader_version="0.1.0",
    )
    return store.record(
        result, user=user, competition=competition, now=when, notebook_path=notebook, pr_number=pr
    ).submission_id


# -- the competition that ended ------------------------------------------------------------

KEY = sealing.new_key()
BY = "teacher"
FINAL_NOW = datetime(2027, 3, 5, 12, 0, tzinfo=UTC)  # after the end (2027-03-01)
FINAL_NOW_ARG = "2027-03-05T12:00:00Z"
REVEALED = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
RESET_REASON = "the test data leaked <b>twice</b>; starting again"
REMOVE_REASON = "=HYPERLINK(\"http://x\") <script>alert('reason')</script> | copied *someone*"
DISQUALIFY_REASON = "shared code with <i>dave</i> & [others](javascript:alert(1)) `rm -rf`"
BASELINE_REASON = "=SUM(1) k-NN <b>k=5</b>, the course's reference"
# (run, login, day of November 2026, status, public score, private score, notebook).
# Private scores have distinctive digits, so that a leak is easy to find.
FINAL = [
    ("f0", "alice", 2, "completed", 0.80, 0.3141701, "a1.ipynb"),
    ("f1", "bob", 3, "completed", 0.85, 0.3252702, "b1.ipynb"),
    # the reset on 10 November
    ("f2", "alice", 11, "completed", 0.90, 0.7364519, "a2.ipynb"),
    ("f3", "bob", 12, "completed", 0.97, 0.9475703, "b2.ipynb"),  # removed
    ("f4", "bob", 13, "completed", 0.88, 0.8264513, "b3.ipynb"),
    ("f5", "carol", 14, "completed", 0.99, 0.9586704, "c1.ipynb"),  # carol is disqualified
    ("f6", "dave", 15, "failed", None, None, "d1.ipynb"),  # removed, then restored
    ("f7", "frank", 16, "completed", 0.90, 0.9164517, "f1.ipynb"),
    ("f8", "teacher-knn", 17, "completed", 0.95, 0.9697805, "k1.ipynb"),  # a baseline: the best score, unranked
    ("f9", "gina", 18, "completed", 0.70, 0.5123406, "g1.ipynb"),  # gina and hank are the team "owls"
    ("f10", "hank", 19, "completed", 0.60, 0.6234507, "h1.ipynb"),  # chosen by gina for the owls: it counts
]
TEAMS = {"owls": ["gina", "hank"]}
CHOSEN = [("bob", "f4"), ("gina", "f10")]  # (who chose, which run): bob's best public one, hank's for the owls
PRIVATE = [row[5] for row in FINAL if row[5] is not None]


def make_final(folder: Path) -> Competition:
    """The competition that ended, before the reveal: every private score sealed with KEY.

    Recorded, reset, removed, disqualified and restored through the real Store and grader.admin;
    teacher-knn is marked a baseline before its first submission; gina and hank submit as the
    team owls, and the final choices of CHOSEN are made through grader.finals.
    """
    competition = make_competition(folder, title="Final")
    with (competition.root / "competition.yaml").open("a", encoding="utf-8") as yaml:
        yaml.write("teams:\n" + "".join(f"  {team}: [{', '.join(logins)}]\n" for team, logins in TEAMS.items()))
    competition = config.load(competition.root / "competition.yaml")
    db = competition.root / "leaderboard" / "leaderboard.db"
    ids = {}
    with Store(db, private_key=KEY) as store:
        for run, user, day, status, score, private, notebook in FINAL:
            if run == "f2":
                admin.reset(competition, db, reason=RESET_REASON, by=BY, now=datetime(2026, 11, 10, 12, tzinfo=UTC))
            if run == "f8":
                admin.baseline(competition, db, user, reason=BASELINE_REASON, by=BY,
                               now=datetime(2026, 11, 16, 12, tzinfo=UTC))  # fmt: skip
            when = datetime(2026, 11, day, 9, 30, tzinfo=UTC)
            notebook = f"submissions/{user}/{notebook}"
            message = "the kernel died" if status == "failed" else None
            ids[run] = record(store, competition, run, user, when, status, score, private, notebook, message)
    later = datetime(2026, 11, 20, 9, tzinfo=UTC)
    admin.take_off(competition, db, admin.parse_target(str(ids["f3"])), verb="remove", reason=REMOVE_REASON, by=BY,
                   now=later)  # fmt: skip
    admin.take_off(competition, db, admin.parse_target("carol"), verb="disqualify", reason=DISQUALIFY_REASON, by=BY,
                   now=later)  # fmt: skip
    admin.take_off(competition, db, admin.parse_target(str(ids["f6"])), verb="remove", reason="by mistake", by=BY,
                   now=later)  # fmt: skip
    admin.take_off(competition, db, admin.parse_target(str(ids["f6"])), verb="restore", reason="sorry", by=BY,
                   now=later)  # fmt: skip
    for who, run in CHOSEN:
        finals.choose(competition, db, by=who, now=later, submission_id=ids[run])
    return competition


def reveal(competition: Competition) -> None:
    """The organisers' reveal, through grader.admin with the key in the environment (as the workflow runs it)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(sealing.KEY_ENV, KEY)
        admin.reveal(competition, competition.root / "leaderboard" / "leaderboard.db", by=BY, now=REVEALED)


def leaks(folder: Path, values: list[float]) -> list[str]:
    """Every file under ``folder`` that shows one of ``values`` (in full or rounded as the site rounds)
    or a sealed token."""
    needles = [repr(v) for v in values] + [f"{v:.5f}" for v in values] + ["gAAAAA"]
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        # The histories are gzipped: searched unpacked, or the search would be blind to them.
        content = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8", errors="replace")
        found += [f"{path.relative_to(folder)}: {n}" for n in needles if n in content]
    return found


@pytest.fixture(scope="module")
def comp(tmp_path_factory: pytest.TempPathFactory) -> Competition:
    competition = make_competition(tmp_path_factory.mktemp("site") / "comp")
    make_db(competition)
    return competition


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Competition:
    """The competition that ended, before the reveal (do not change it: copy it)."""
    return make_final(tmp_path_factory.mktemp("sealed") / "comp")


@pytest.fixture(scope="module")
def revealed(sealed: Competition, tmp_path_factory: pytest.TempPathFactory) -> Competition:
    """A copy of ``sealed`` after the reveal."""
    import shutil

    folder = tmp_path_factory.mktemp("revealed") / "comp"
    shutil.copytree(sealed.root, folder)
    competition = config.load(folder / "competition.yaml")
    reveal(competition)
    return competition


@pytest.fixture(scope="module")
def built(comp: Competition) -> Path:
    """The site, built by the real command."""
    out = comp.root / "public"
    proc = grader(
        "site", "build", "--out", str(out), "--mkdocs", str(ROOT / "mkdocs.yml"), "--now", NOW_ARG, cwd=comp.root
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Built the site in {out}: 4 ranked of 5 participants, 10 submissions;")
    return out


@pytest.fixture(scope="module")
def built_final(revealed: Competition) -> Path:
    """The competition that ended, after the reveal, built by the real command."""
    out = revealed.root / "public"
    proc = grader("site", "build", "--out", str(out), "--mkdocs", str(ROOT / "mkdocs.yml"), "--now", FINAL_NOW_ARG,
                  cwd=revealed.root)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


grader = conftest.run_grader


def check_golden(rendered: site.Rendered, folder: Path) -> None:
    files = {**rendered.files, **{f"_fragments/{name}.html": html for name, html in rendered.fragments.items()}}
    if os.environ.get("GRADER_UPDATE_GOLDEN"):
        for path, content in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(content, encoding="utf-8")
    golden = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert set(files) == golden
    for path, content in files.items():
        assert content == (folder / path).read_text(encoding="utf-8"), f"{path} differs from {folder / path}"


REPOSITORY = "https://github.com/example-course/digits"


def test_generated_files_match_the_golden_files(comp: Competition) -> None:
    """With the repository known (the links are in); the final site's golden files show it unknown."""
    data = site.load(comp, comp.root / "leaderboard" / "leaderboard.db", now=NOW)
    check_golden(site.render(replace(data, repository=REPOSITORY)), GOLDEN / "running")


def test_the_final_site_matches_the_golden_files(revealed: Competition) -> None:
    data = site.load(revealed, revealed.root / "leaderboard" / "leaderboard.db", now=FINAL_NOW)
    check_golden(site.render(data), GOLDEN / "final")


def test_generated_pages_rank_escape_and_hide_private_scores(comp: Competition) -> None:
    rendered = site.render(site.load(comp, comp.root / "leaderboard" / "leaderboard.db", now=NOW))
    files = rendered.files
    board = rendered.fill(files["leaderboard.md"])
    order = re.findall(r'<a href="participants/0.html#([a-z]+)" data-who="\1">', board)
    assert order == ["bob", "alice", "carol", "erin"]
    # alice and carol tie at 0.95; alice got there first (ties: earliest)
    assert '<td data-v="2">2</td> <td><a href="participants/0.html#alice" data-who="alice">' in board
    assert "dave" not in board  # no score, no rank
    # 5 fit in one file, with its plain page for a browser without JavaScript
    assert [p for p in files if p.startswith("participants/")] == ["participants/0.json", "participants/0.html"]
    histories = json.loads(files["participants/0.json"])
    assert sorted(histories) == ["alice", "bob", "carol", "dave", "erin"]
    bob = histories["bob"]
    assert bob["rank"] == 1 and bob["entries"] == 2
    assert [row[2] for row in bob["submissions"]] == ["submissions/bob/b.ipynb", HOSTILE_NOTEBOOK]
    assert bob["submissions"][1][5] == " ".join(HOSTILE_MESSAGE.split())
    erin = histories["erin"]
    assert [row[3] for row in erin["submissions"]] == ["timeout", "completed", "rejected"]
    assert erin["entries"] == 2  # the rejected duplicate is not an entry
    # Nobody is in a team and nobody chose: the histories have their plain shape, six items a row.
    for history in histories.values():
        assert list(history) == ["username", "rank", "best_score", "entries", "submissions", "links"]
        assert {len(row) for row in history["submissions"]} == {6}
    everything = "".join(files.values()) + "".join(rendered.fragments.values())
    assert "0.123456" not in everything  # private scores never reach the site
    # hostile markup is always escaped (the site's own images are the charts)
    assert "<script" not in everything and "<img src=x" not in everything
    assert everything.count("<img") == everything.count('<img class="grader-chart" src="charts/') == 2
    assert TITLE not in files["index.md"]
    assert "# Digits &lt;script&gt;alert\\(&quot;title&quot;\\)&lt;/script&gt; &amp; \\*friends\\*" in files["index.md"]
    unranked = files["participants.md"]
    assert '<a href="participants/0.html#dave" data-who="dave">dave</a>' in unranked


def test_the_plain_history_page_says_once_what_every_row_would_repeat(comp: Competition) -> None:
    """Every byte of a row counts 100,000 times in a big competition: the folder of a notebook and the
    links to GitHub are said once per page or per participant, not on every row."""
    data = site.load(comp, comp.root / "leaderboard" / "leaderboard.db", now=NOW)
    page = site.render(replace(data, repository=REPOSITORY)).files["participants/0.html"]
    bob = page[page.index('<section id="bob">') : page.index("</section>", page.index('<section id="bob">'))]
    rows = [row.split("<td>")[1:] for row in re.findall(r"(?m)^<tr.*$", bob)]
    assert [(r[0], r[2], r[-1]) for r in rows] == [
        ("2", "b.ipynb", "#101"), ("5", "&lt;img src=x onerror=alert(1)&gt;.ipynb", "#104"),
    ]  # fmt: skip
    assert re.findall(r'<a href="([^"]*)"', bob) == [REPOSITORY + "/pulls?q=is%3Apr+author%3Abob"]
    assert "Notebooks are shown without their folder, submissions/ followed by the login" in page
    assert page.count("pulls?q=") == 5  # one per participant: bob, alice, carol, dave, erin
    # A notebook elsewhere than its author's folder keeps its whole path.
    moved = replace(data.participants[0], submissions=(data.participants[0].submissions[0]._replace(
        notebook_path="elsewhere/b.ipynb"),))  # fmt: skip
    page = site.render(replace(data, participants=(moved,), repository=REPOSITORY)).files["participants/0.html"]
    assert "<td>elsewhere/b.ipynb<td>" in page
    # Built elsewhere than on GitHub (the repository unknown): the numbers, and no link.
    page = site.render(data).files["participants/0.html"]
    assert "<td>#101" in page and "github.com" not in page and "pulls?q=" not in page


def test_the_theme_files_no_browser_loads_are_left_out(tmp_path: Path) -> None:
    """Material's source maps always; its search stemmers when the search is in English only."""
    import material  # the installed theme's real assets, copied

    theme = Path(material.__file__).parent / "templates" / "assets"
    for languages, lunr_kept in ((["en"], False), (["en", "de"], True)):
        out = tmp_path / "-".join(languages)
        shutil.copytree(theme, out / "assets")
        maps = sum(p.stat().st_size for p in (out / "assets").rglob("*.map"))
        lunr = sum(p.stat().st_size for p in (out / "assets" / "javascripts" / "lunr").rglob("*") if p.is_file())
        assert maps > 500_000 and lunr > 500_000
        saved = site.prune_theme(out, languages)
        assert saved == maps + (0 if lunr_kept else lunr)
        assert not list(out.rglob("*.map"))
        assert (out / "assets" / "javascripts" / "lunr").is_dir() == lunr_kept
        assert list((out / "assets" / "javascripts").glob("bundle.*.min.js"))  # the theme's script stays


def test_hostile_names_are_text_everywhere(comp: Competition) -> None:

    names = ["<script>alert(1)</script>", "=cmd|' /C calc'!A0", "a]b(c)*d_"]
    # competition.yaml allows only logins in teams; the site escapes them all the same.
    comp = replace(comp, teams={names[2]: ("<i>m</i>", "x&y")})
    standings = [
        Standing(
            i + 1, Entry(name, 0.9 - i / 10, i + 1, "2026-11-02T09:00:00.000000Z", "2026-11-02T09:00:00.000000Z", 1)
        )
        for i, name in enumerate(names)
    ]
    rows = {
        name: [site.Submission(i + 1, "2026-11-02T09:00:00.000000Z", "n.ipynb", "completed", 0.9 - i / 10, None)]
        for i, name in enumerate(names)
    }
    rendered = site.render(site.snapshot(comp, now=NOW, standings=standings, histories=rows))
    files = rendered.files
    board = rendered.fill(files["leaderboard.md"])
    assert "<script>alert(1)" not in board and "&lt;script&gt;alert(1)&lt;/script&gt;" in board
    keys = re.findall(r'href="participants/0.html#([^"]+)"', board)
    assert keys[0].startswith("u-") and keys[1].startswith("u-") and keys[2].startswith("u-")
    histories = json.loads(files["participants/0.json"])
    assert sorted(histories) == sorted(keys)
    assert histories[keys[0]]["username"] == names[0]
    assert "<" not in files["participants/0.json"]  # \u003c: safe even if a host serves it as HTML
    assert histories[keys[2]]["team"] == ["<i>m</i>", "x&y"]
    assert '<span class="grader-members">&lt;i&gt;m&lt;/i&gt;, x&amp;y</span>' in board and "<i>m" not in board
    parsed = list(csv.reader(io.StringIO(files["leaderboard.csv"])))
    assert [row[1] for row in parsed[1:]] == [names[0], "'" + names[1], names[2]]
    chart = files["charts/best-over-time.svg"]
    assert "<script" not in chart and "&lt;script&gt;" in chart


def test_removed_disqualified_and_reset_are_shown_with_their_reasons(revealed: Competition) -> None:
    rendered = site.render(site.load(revealed, revealed.root / "leaderboard" / "leaderboard.db", now=FINAL_NOW))
    files = rendered.files
    board = rendered.fill(files["leaderboard.md"])
    public = rendered.fragments["board-public"]
    # bob's 0.97 was removed, so his 0.88 counts; carol (0.99) is disqualified; alice and frank tie
    # at 0.90 and alice got there first. Nothing from before the reset ranks.
    assert re.findall(r'participants/0.html#([a-z]+)"', public) == ["alice", "frank", "bob", "owls"]
    assert '<td data-v="0.88">0.88000</td>' in public
    histories = json.loads(files["participants/0.json"])
    bob = histories["bob"]
    assert [row[6:] for row in bob["submissions"]] == [["reset"], ["removed"], []]
    removed = bob["submissions"][1]
    assert removed[4] == 0.97  # the score is still shown, marked as not counting
    assert removed[5] == "Removed by the organisers: " + REMOVE_REASON
    assert bob["rank"] == 3 and bob["entries"] == 1
    carol = histories["carol"]
    assert carol["removed"] == "disqualified" and carol["reason"] == DISQUALIFY_REASON
    assert carol["rank"] is None and carol["entries"] == 0 and "final_rank" not in carol
    assert [row[6:] for row in carol["submissions"]] == [["disqualified"]]
    assert [row[6:] for row in histories["alice"]["submissions"]] == [["reset"], []]
    assert [len(row) for row in histories["dave"]["submissions"]] == [6]  # restored: counts again
    assert "removed" not in histories["alice"]
    # Reasons are organiser text, but text all the same: escaped in the pages, the JSON and the list.
    assert "reset on 2026-11-10 13:00 CET and started again (reason: the test data leaked &lt;b&gt;twice" in board
    assert "carol</a> — Disqualified by the organisers: shared code with &lt;i&gt;dave&lt;/i&gt; &amp;" in board
    assert "&lt;i&gt;dave&lt;/i&gt;" in files["participants.md"]
    assert "\\u003cscript\\u003ealert('reason')" in files["participants/0.json"]
    # The baseline: its best score (the best of all) is shown, marked, below the ranking; nobody moved down.
    assert "teacher-knn" not in public and "teacher-knn" not in rendered.fragments["board-private"]
    assert (
        '<a href="participants/0.html#teacher-knn" data-who="teacher-knn">teacher-knn</a> '
        '<span class="grader-baseline">baseline</span> — '
        "best public score 0.95000, not ranked: =SUM(1) k-NN &lt;b&gt;k=5&lt;/b&gt;, the course&#x27;s reference"
    ) in board
    assert "teacher-knn" not in files["participants.md"].split("## Without a score yet")[-1]
    knn = histories["teacher-knn"]
    assert knn["rank"] is None and knn["best_score"] == 0.95 and knn["entries"] == 1
    everything = "".join(files.values()) + "".join(rendered.fragments.values())
    for markup in ("<script", "<b>", "<i>", 'href="javascript'):
        assert markup not in everything, markup
    # the charts leave out what does not count: bob's removed 0.97 and carol's 0.99
    assert "0.97" not in files["charts/best-over-time.svg"] and "carol" not in files["charts/best-over-time.svg"]


def test_the_final_board_comes_after_the_reveal_only(sealed: Competition, revealed: Competition) -> None:
    before = site.render(site.load(sealed, sealed.root / "leaderboard" / "leaderboard.db", now=FINAL_NOW))
    assert set(before.fragments) == {"board-public"} and "leaderboard-private.csv" not in before.files
    assert "published after the organisers' reveal" in before.files["index.md"]
    assert "final_rank" not in before.files["participants/0.json"]
    after = site.render(site.load(revealed, revealed.root / "leaderboard" / "leaderboard.db", now=FINAL_NOW))
    final = after.fragments["board-private"]
    # Each participant's final submission, ranked by its private score: the best public one, or the
    # chosen one (the owls chose hank's 0.6, private 0.6234507, over gina's 0.7, private 0.5123406).
    assert re.findall(r'participants/0.html#([a-z]+)"', final) == ["frank", "bob", "alice", "owls"]
    assert '<td data-v="0.9164517">0.91645</td> <td data-v="0.9">0.90000</td>' in final
    assert '<td data-v="0.6234507">0.62345</td> <td data-v="0.6">0.60000</td>' in final  # the same submission's
    page = after.fill(after.files["leaderboard.md"])
    assert page.index('data-board="private"') < page.index('data-board="public"')
    assert "## Final leaderboard \\(private\\)" in page and "## Public leaderboard" in page
    assert list(csv.reader(io.StringIO(after.files["leaderboard-private.csv"]))) == [
        ["rank", "participant", "private_score", "public_score", "public_rank", "move"],
        ["1", "frank", "0.9164517", "0.9", "2", "1"], ["2", "bob", "0.8264513", "0.88", "3", "1"],
        ["3", "alice", "0.7364519", "0.9", "1", "-2"], ["4", "owls", "0.6234507", "0.6", "4", "0"],
    ]  # fmt: skip
    home = after.files["index.md"]
    assert "**The competition has ended and the final ranking is revealed.**" in home
    assert "First place: **frank**." in home
    frank = json.loads(after.files["participants/0.json"])["frank"]
    assert (frank["final_rank"], frank["private_score"], frank["rank"]) == (1, 0.9164517, 2)


def test_the_shake_up_chart_comes_with_the_reveal(sealed: Competition, revealed: Competition) -> None:
    before = site.render(site.load(sealed, sealed.root / "leaderboard" / "leaderboard.db", now=FINAL_NOW))
    assert not [p for p in before.files if "shake-up" in p] and "shake-up" not in before.files["leaderboard.md"]
    after = site.render(site.load(revealed, revealed.root / "leaderboard" / "leaderboard.db", now=FINAL_NOW))
    page = after.files["leaderboard.md"]
    # Above the final board (and its table), in both layouts, with every move in words for a screen reader.
    assert page.index("charts/shake-up-narrow.svg") < page.index("<!-- grader:board-private -->")
    assert '<source media="(min-width: 45em)" srcset="charts/shake-up.svg">' in page
    alt = re.search(r'src="charts/shake-up-narrow.svg" alt="([^"]*)"', page)
    assert alt is not None and alt[1].endswith(
        "frank went up from 2 to 1; bob went up from 3 to 2; alice went down from 1 to 3; owls stayed at 4."
    )
    for name in ("charts/shake-up.svg", "charts/shake-up-narrow.svg"):
        svg = after.files[name]
        moves = re.findall(r'<text class="move"[^>]*>([^<]*)</text>', svg)
        assert moves == ["2 → 1 ▲1", "3 → 2 ▲1", "1 → 3 ▼2", "4 → 4 ="], name  # as the Move column says


def bars(svg: str) -> list[tuple[float, float, str]]:
    """Each bar of a shake-up chart: (left edge, right edge, colour)."""
    found = re.findall(r'<rect x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)" height="16" fill="(#[0-9A-Fa-f]+)">', svg)
    return [(float(x), float(x) + float(w), colour) for x, w, colour in found]


@pytest.mark.parametrize("layout", [charts.SHAKE_WIDE, charts.SHAKE_NARROW], ids=["wide", "narrow"])
def test_the_shake_up_chart_draws_gains_right_and_losses_left(layout: charts.Layout) -> None:
    moves = [charts.Move("up", 1, 6), charts.Move("down", 2, 1), charts.Move("same", 3, 3),
             charts.Move("<b>n</b>", 4, None), charts.Move("far", 5, 2)]  # fmt: skip
    svg = charts.shake_up(moves, layout=layout)
    ticks = [int(t) for t in re.findall(r'<text class="xtick"[^>]*>(-?[0-9]+)</text>', svg)]
    assert ticks == ([-4, -2, 0, 2, 4, 6] if layout is charts.SHAKE_WIDE else [-5, 0, 5])
    zero = float(re.findall(r'<text class="xtick" x="([0-9.]+)"[^>]*>0</text>', svg)[0])
    (up, down, same, far) = bars(svg)
    assert up[0] == zero and up[1] > zero and up[2] == charts.UP  # a gain: from zero to the right
    assert down[1] == zero and down[0] < zero and down[2] == charts.DOWN  # a loss: to the left
    assert far[1] - far[0] == pytest.approx(3 * (down[1] - down[0]), abs=0.2)  # lengths in proportion
    assert same[0] < zero < same[1] and same[2] == charts.SAME  # no move: a mark at zero
    assert "&lt;b&gt;n&lt;/b&gt;" in svg and "<b>" not in svg  # a name is text
    assert re.findall(r'<text class="move"[^>]*>([^<]*)</text>', svg) == ["6 → 1 ▲5", "1 → 2 ▼1", "3 → 3 =", "— → 4",
                                                                        "2 → 5 ▼3"]  # fmt: skip
    assert "far: public rank 2 → final rank 5, down 3 places" in svg  # each bar's words, for a pointer
    height = int(re.search(r'height="([0-9]+)"', svg)[1])  # type: ignore[index]
    assert height == layout.top + 5 * charts.SHAKE_ROW + layout.bottom  # a row per entrant


def test_the_shake_up_chart_makes_room_for_long_moves() -> None:
    """The words of a move in a big competition ("4321 → 10 ▲4311") stay right of the plot."""
    svg = charts.shake_up([charts.Move("a", 10, 4321), charts.Move("b", 11, 12)], layout=charts.SHAKE_NARROW)
    frame = re.search(r'<rect x="([0-9]+)" y="[0-9]+" width="([0-9]+)"[^>]*fill="none"', svg)
    assert frame is not None
    plot_right = int(frame[1]) + int(frame[2])
    room = charts.SHAKE_NARROW.width - 6 - plot_right
    assert room >= 0.6 * charts.SHAKE_NARROW.font * len("4321 → 10 ▲4311")
    # A long name is cut so that "10. " and the name fit in the left margin (about 0.6 em a character).
    for layout in (charts.SHAKE_WIDE, charts.SHAKE_NARROW):
        svg = charts.shake_up([charts.Move("a-very-long-login-of-39-characters-long", 10, 9)], layout=layout)
        name = re.findall(r'<text x="[0-9.]+" y="[0-9.]+" text-anchor="end">([^<]*)</text>', svg)[0]
        assert name.startswith("10. a-very") and name.endswith("…")
        assert 0.6 * layout.font * len(name) <= layout.left - 8, (name, layout.left)
    empty = charts.shake_up([], layout=charts.SHAKE_WIDE)
    assert '<text x="380" y="58" text-anchor="middle">No final ranking yet.</text>' in empty


def test_a_team_and_the_final_choices_are_shown(sealed: Competition, revealed: Competition) -> None:
    """gina and hank submit as the team owls; gina chose hank's submission (#11), bob chose his best (#5)."""
    before = site.render(site.load(sealed, sealed.root / "leaderboard" / "leaderboard.db", now=FINAL_NOW))
    team_cell = (
        '<td><a href="participants/0.html#owls" data-who="owls">owls</a> <span class="grader-team">team</span> '
        '<span class="grader-members">gina, hank</span></td>'
    )
    assert team_cell in before.fragments["board-public"]
    assert (
        '<td><a href="participants/0.html#bob" data-who="bob">bob</a></td>' in before.fragments["board-public"]
    )  # solo: as before
    assert "alice frank bob owls gina hank" in before.files["leaderboard.md"]  # the site search finds the members
    histories = json.loads(before.files["participants/0.json"])
    owls = histories["owls"]
    assert owls["team"] == ["gina", "hank"] and owls["rank"] == 4 and owls["entries"] == 2
    # Each row of a team says who submitted it: [..., note, null (it counts), author].
    assert [(row[0], row[6:]) for row in owls["submissions"]] == [(10, [None, "gina"]), (11, [None, "hank"])]
    assert owls["final"] == [11] and histories["bob"]["final"] == [5]
    assert "counted" not in before.files["participants/0.json"]  # only after the reveal
    # A member's login leads to the team's history.
    assert histories["gina"] == {"member_of": "owls"} and histories["hank"] == {"member_of": "owls"}
    # Solo participants keep their shape: no team, no author, no null; "final" only for bob, who chose.
    for name in ("alice", "bob", "frank", "dave", "carol", "teacher-knn"):
        assert "team" not in histories[name]
        for row in histories[name]["submissions"]:
            assert len(row) == 6 or (len(row) == 7 and row[6] in ("reset", "removed", "disqualified")), (name, row)
    assert [n for n in histories if "final" in histories[n]] == ["bob", "owls"]
    legend = before.files["participants.md"]
    assert (
        'Submissions marked <span class="grader-badge">final</span> are chosen for the private leaderboard '
        "(up to 2 per participant or team, with <code>/final</code> on the pull request); without a choice the "
        "best public submission counts.</p>"
    ) in legend
    assert "- **Participants:** 6 (4 with a score), including 1 team" in before.files["index.md"]

    after = site.render(site.load(revealed, revealed.root / "leaderboard" / "leaderboard.db", now=FINAL_NOW))
    assert team_cell in after.fragments["board-private"]
    histories = json.loads(after.files["participants/0.json"])
    owls = histories["owls"]
    assert (owls["final_rank"], owls["private_score"], owls["counted"], owls["final"]) == (4, 0.6234507, 11, [11])
    assert (histories["bob"]["counted"], histories["alice"]["counted"]) == (5, 3)  # without a choice: the best public
    assert 'The one marked <span class="grader-badge grader-counted">counted</span>' in after.files["participants.md"]


def test_nothing_private_reaches_the_site_before_the_reveal(
    sealed: Competition, built_final: Path, tmp_path: Path
) -> None:
    """Every built file is searched for the private scores, even with the key in the build's environment."""
    out = tmp_path / "public"
    proc = grader("site", "build", "--out", str(out), "--mkdocs", str(ROOT / "mkdocs.yml"), "--now", FINAL_NOW_ARG,
                  cwd=sealed.root, env={sealing.KEY_ENV: KEY})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(list(out.rglob("*.html"))) > 10
    assert leaks(out, PRIVATE) == []
    # The same search finds them once revealed: the private scores of the submissions that counted (in
    # full, and rounded, which is a prefix of it), on the final board, its CSV and the histories; the
    # others nowhere (not gina's, which the owls did not choose).
    selected = [0.7364519, 0.8264513, 0.9164517, 0.6234507]
    files = ("leaderboard.html", "leaderboard-private.csv", "participants/0.json.gz")
    expected = {f"{name}: {shown}" for name in files for v in selected for shown in (repr(v), f"{v:.5f}")}
    expected |= {f"participants/0.html: {v:.5f}" for v in selected}  # the plain history page: rounded only
    assert set(leaks(built_final, PRIVATE)) == expected


def test_the_built_final_site(built_final: Path) -> None:
    board = (built_final / "leaderboard.html").read_text(encoding="utf-8")
    assert board.index('data-board="private"') < board.index('data-board="public"')
    assert "Final leaderboard (private)" in board
    assert '<span class="grader-team">team</span> <span class="grader-members">gina, hank</span>' in board
    index = (built_final / "index.html").read_text(encoding="utf-8")
    assert "The competition has ended and the final ranking is revealed." in index
    for page in built_final.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "<script>alert" not in html and 'href="javascript' not in html and "<i>dave" not in html, page


def test_histories_are_spread_over_a_few_files() -> None:
    assert [site.shard_count(n) for n in (0, 1, 20, 21, 500, 5000, 100_000)] == [1, 1, 1, 2, 25, 250, 256]
    assert site.shard("a", 2**32) == 0xE40C292C  # FNV-1a test vectors
    assert site.shard("foobar", 2**32) == 0xBF9CF968
    spread = [site.shard(f"student-{i:05d}", 250) for i in range(5000)]
    assert max(spread.count(n) for n in range(250)) < 45  # about 20 each


def test_an_empty_competition_builds_a_site_that_says_so(tmp_path: Path) -> None:
    competition = make_competition(tmp_path / "comp", title="Empty")
    data = site.load(competition, competition.root / "leaderboard" / "leaderboard.db", now=NOW)
    assert not (competition.root / "leaderboard").exists()  # reading created nothing
    rendered = site.render(data)
    files = rendered.files
    assert "No scored submissions yet." in rendered.fill(files["leaderboard.md"])
    assert "No scored submissions yet." in files["charts/best-over-time.svg"]
    assert not [p for p in files if p.startswith("participants/")]


def test_the_built_site_has_every_page_and_nothing_from_outside(comp: Competition, built: Path) -> None:
    for page in ("index", "submit", "rules", "leaderboard", "participants", "charts"):
        assert (built / f"{page}.html").is_file(), page
    for guide in ("students", "teachers", "competition", "design", "site"):
        assert (built / "guides" / f"{guide}.html").is_file(), guide
    assert (built / "grader" / "competition.schema.json").is_file()  # linked from the competition.yaml guide
    # The organisers' and developers' guides are built (other guides link to them) but not in the navigation.
    nav = re.search(
        r'<nav class="md-nav md-nav--primary".*?</nav>\s*</div>', (built / "index.html").read_text("utf-8"), re.S
    )
    assert nav is not None and "guides/students.html" in nav[0]
    for internal in ("performance", "reliability", "sandbox"):
        assert (built / "guides" / f"{internal}.html").is_file(), internal
        assert f"guides/{internal}.html" not in nav[0], internal
    assert sorted(p.name for p in (built / "participants").iterdir()) == ["0.html", "0.json.gz"]
    assert not list(built.rglob("*.map")) and not (built / "assets" / "javascripts" / "lunr").exists()
    # The histories the script reads are gzipped JSON; unpacked, they are the rendered file.
    rendered = site.render(site.load(comp, comp.root / "leaderboard" / "leaderboard.db", now=NOW))
    packed = (built / "participants" / "0.json.gz").read_bytes()
    assert gzip.decompress(packed).decode("utf-8") == rendered.files["participants/0.json"]
    board = (built / "leaderboard.html").read_text(encoding="utf-8")
    assert '<a href="participants/0.html#bob" data-who="bob">bob</a>' in board
    for page in built.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        # the title is text in every page's header and <title>
        assert "<script>alert" not in html, page
        # every script, stylesheet, image and font is the site's own
        for url in re.findall(r'<(?:script|link|img|source)\b[^>]*?(?:src|href)="([^"]+)"', html):
            assert not re.match(r"(?i)(https?:)?//", url), f"{page.name} loads {url}"
    index = (built / "index.html").read_text(encoding="utf-8")
    assert "<title>Digits &lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt; &amp; *friends*</title>" in index
    assert "0.123456" not in "".join(p.read_text("utf-8", errors="replace") for p in built.rglob("*") if p.is_file())


def test_building_writes_nothing_into_the_repository(comp: Competition, tmp_path: Path) -> None:
    def status() -> str:
        return subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "--", "docs", "site", "mkdocs.yml"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout

    before = status()
    proc = grader("site", "build", "--out", str(tmp_path / "out"), "--mkdocs", str(ROOT / "mkdocs.yml"), cwd=comp.root)
    assert proc.returncode == 0, proc.stderr
    assert status() == before


def test_plain_mkdocs_build_strict_reads_the_leaderboard_itself(comp: Competition, tmp_path: Path) -> None:
    (comp.root / "mkdocs.yml").write_text((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), encoding="utf-8")
    (comp.root / "docs").symlink_to(ROOT / "docs")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "out")],
            cwd=comp.root,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        (comp.root / "docs").unlink()
        (comp.root / "mkdocs.yml").unlink()
    assert proc.returncode == 0, proc.stderr
    assert '<a href="participants/0.html#alice" data-who="alice">alice</a>' in (
        tmp_path / "out" / "leaderboard.html"
    ).read_text("utf-8")


def test_a_failed_build_keeps_the_last_site_and_says_why(comp: Competition, built: Path, tmp_path: Path) -> None:
    broken = tmp_path / "mkdocs.yml"
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").replace("docs_dir: docs", f"docs_dir: {ROOT / 'docs'}")
    broken.write_text(text.replace("      - The site: guides/site.md\n", "      - Gone: guides/missing.md\n"), "utf-8")
    before = sorted(p.relative_to(built) for p in built.rglob("*"))
    proc = grader("site", "build", "--out", str(built), "--mkdocs", str(broken), "--now", NOW_ARG, cwd=comp.root)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: the MkDocs build failed:")
    assert "missing.md" in proc.stderr and f"{built} is unchanged" in proc.stderr
    assert sorted(p.relative_to(built) for p in built.rglob("*")) == before


def test_use_directory_urls_is_refused_with_a_fix(comp: Competition, tmp_path: Path) -> None:
    config_file = tmp_path / "mkdocs.yml"
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").replace("docs_dir: docs", f"docs_dir: {ROOT / 'docs'}")
    config_file.write_text(text.replace("use_directory_urls: false", "use_directory_urls: true"), "utf-8")
    proc = grader("site", "build", "--out", str(tmp_path / "out"), "--mkdocs", str(config_file), cwd=comp.root)
    assert proc.returncode == 2, proc.stderr
    assert "use_directory_urls: false" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("zone", ["Europe/Paris", "Asia/Kolkata", "America/St_Johns", "UTC"])
def test_local_times_are_exact_in_every_zone(comp: Competition, zone: str) -> None:
    from zoneinfo import ZoneInfo

    competition = replace(comp, timezone=ZoneInfo(zone))
    for stamp in ("2026-03-29T00:59:00.000000Z", "2026-03-29T01:07:30.000000Z", "2026-11-05T12:45:00.000000Z"):
        expected = datetime.fromisoformat(stamp).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
        assert site._local(stamp, competition) == expected


def test_the_repository_comes_from_github_actions_variables_when_they_make_sense() -> None:
    github = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "example-course/digits"}
    assert site.repository_url(github) == "https://github.com/example-course/digits"
    assert (
        site.repository_url({"GITHUB_REPOSITORY": "example-course/digits"})
        == "https://github.com/example-course/digits"
    )
    assert site.repository_url({}) is None  # not on GitHub Actions: no links, the numbers as text
    for bad in ({"GITHUB_REPOSITORY": 'x/y"><script>'}, {**github, "GITHUB_SERVER_URL": "javascript:alert(1)//"},
                {**github, "GITHUB_SERVER_URL": 'https://h"><b>'}, {"GITHUB_REPOSITORY": ""}):  # fmt: skip
        assert site.repository_url(bad) is None, bad
