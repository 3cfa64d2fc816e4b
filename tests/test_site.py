"""The public site: generated pages against golden files, and the real MkDocs build (strict).

The fixture competition is a scratch copy of the demo with a hostile title, and a real
SQLite leaderboard recorded through the Store, with hostile notebook paths and error
messages. Golden files live in tests/golden/site/; after a deliberate change, regenerate
them with GRADER_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from grader import config, demo, site
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
    return config.load(path)


def make_db(competition: Competition) -> Path:
    """The fixture leaderboard, recorded through the real Store."""
    db = competition.root / "leaderboard" / "leaderboard.db"
    with Store(db) as store:
        for i, (user, day, hour, status, score, notebook, message) in enumerate(SUBMISSIONS):
            sha = hashlib.sha256(f"{user}/{notebook}".encode()).hexdigest()
            result = Result(
                status=status,  # type: ignore[arg-type]
                run_id=f"run-{i}",
                notebook=Path(notebook).name,
                notebook_sha256=sha,
                started_at="",
                runtime_seconds=10.0,
                error=RunError("RuntimeError", message, 2) if message else None,
                public_score=score,
                private_score=0.123456 if score is not None else None,  # must never appear in the site
                grader_version="0.1.0",
            )
            when = datetime(2026, 11, day, hour, 0, tzinfo=UTC)
            store.record(result, user=user, competition=competition, now=when, notebook_path=notebook)
    return db


@pytest.fixture(scope="module")
def comp(tmp_path_factory: pytest.TempPathFactory) -> Competition:
    competition = make_competition(tmp_path_factory.mktemp("site") / "comp")
    make_db(competition)
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


def grader(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_generated_files_match_the_golden_files(comp: Competition) -> None:
    rendered = site.render(site.load(comp, comp.root / "leaderboard" / "leaderboard.db", now=NOW))
    files = {**rendered.files, **{f"_fragments/{name}.html": html for name, html in rendered.fragments.items()}}
    if os.environ.get("GRADER_UPDATE_GOLDEN"):
        for path, content in files.items():
            (GOLDEN / path).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / path).write_text(content, encoding="utf-8")
    golden = {p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*") if p.is_file()}
    assert set(files) == golden
    for path, content in files.items():
        assert content == (GOLDEN / path).read_text(encoding="utf-8"), f"{path} differs from tests/golden/site/{path}"


def test_generated_pages_rank_escape_and_hide_private_scores(comp: Competition) -> None:
    rendered = site.render(site.load(comp, comp.root / "leaderboard" / "leaderboard.db", now=NOW))
    files = rendered.files
    board = rendered.fill(files["leaderboard.md"])
    order = re.findall(r'<a href="participants.html#([a-z]+)">', board)
    assert order == ["bob", "alice", "carol", "erin"]
    # alice and carol tie at 0.95; alice got there first (ties: earliest)
    assert '<td data-v="2">2</td> <td><a href="participants.html#alice">' in board
    assert "dave" not in board  # no score, no rank
    assert [p for p in files if p.startswith("participants/")] == ["participants/0.json"]  # 5 fit in one file
    histories = json.loads(files["participants/0.json"])
    assert sorted(histories) == ["alice", "bob", "carol", "dave", "erin"]
    bob = histories["bob"]
    assert bob["rank"] == 1 and bob["entries"] == 2
    assert [row[2] for row in bob["submissions"]] == ["submissions/bob/b.ipynb", HOSTILE_NOTEBOOK]
    assert bob["submissions"][1][5] == " ".join(HOSTILE_MESSAGE.split())
    erin = histories["erin"]
    assert [row[3] for row in erin["submissions"]] == ["timeout", "completed", "rejected"]
    assert erin["entries"] == 2  # the rejected duplicate is not an entry
    everything = "".join(files.values()) + "".join(rendered.fragments.values())
    assert "0.123456" not in everything  # private scores never reach the site
    assert "<script" not in everything and "<img" not in everything  # hostile markup is always escaped
    assert TITLE not in files["index.md"]
    assert "# Digits &lt;script&gt;alert\\(&quot;title&quot;\\)&lt;/script&gt; &amp; \\*friends\\*" in files["index.md"]
    unranked = files["participants.md"]
    assert '<a href="participants.html#dave">dave</a>' in unranked


def test_hostile_names_are_text_everywhere(comp: Competition) -> None:
    names = ["<script>alert(1)</script>", "=cmd|' /C calc'!A0", "a]b(c)*d_"]
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
    keys = re.findall(r'href="participants.html#([^"]+)"', board)
    assert keys[0].startswith("u-") and keys[1].startswith("u-") and keys[2].startswith("u-")
    histories = json.loads(files["participants/0.json"])
    assert sorted(histories) == sorted(keys)
    assert histories[keys[0]]["username"] == names[0]
    assert "<" not in files["participants/0.json"]  # \u003c: safe even if a host serves it as HTML
    parsed = list(csv.reader(io.StringIO(files["leaderboard.csv"])))
    assert [row[1] for row in parsed[1:]] == [names[0], "'" + names[1], names[2]]
    chart = files["charts/best-over-time.svg"]
    assert "<script" not in chart and "&lt;script&gt;" in chart


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


def test_the_built_site_has_every_page_and_nothing_from_outside(built: Path) -> None:
    for page in ("index", "submit", "rules", "leaderboard", "participants", "charts"):
        assert (built / f"{page}.html").is_file(), page
    for guide in ("students", "teachers", "competition", "design", "site"):
        assert (built / "guides" / f"{guide}.html").is_file(), guide
    assert (built / "grader" / "competition.schema.json").is_file()  # linked from the competition.yaml guide
    assert sorted(p.name for p in (built / "participants").iterdir()) == ["0.json"]
    board = (built / "leaderboard.html").read_text(encoding="utf-8")
    assert '<a href="participants.html#bob">bob</a>' in board
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
    assert '<a href="participants.html#alice">alice</a>' in (tmp_path / "out" / "leaderboard.html").read_text("utf-8")


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
    from dataclasses import replace
    from zoneinfo import ZoneInfo

    competition = replace(comp, timezone=ZoneInfo(zone))
    for stamp in ("2026-03-29T00:59:00.000000Z", "2026-03-29T01:07:30.000000Z", "2026-11-05T12:45:00.000000Z"):
        expected = datetime.fromisoformat(stamp).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
        assert site._local(stamp, competition) == expected
