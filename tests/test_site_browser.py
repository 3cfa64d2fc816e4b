"""The built site in a real headless Chromium (Debian's chromium + chromium-driver), served on localhost.

Checks what a visitor sees: the leaderboard sorted right and re-sortable, the participant
filter, a participant's history loaded on demand (hostile text shown as text), the charts
drawn, no request leaving localhost, no console error; and after the reveal, the final
board, what the organisers decided (a removed submission, a disqualified participant), a
team with its members and authors, the final choices and the shake-up (its column and its chart).

On a phone (390×844, emulated by Chromium's device metrics) and a desktop (1280×1000), with and
without JavaScript: nothing is wider than the screen (a wide table scrolls in its own box), the
charts' text is at least 11 px as drawn, their series colours have 3:1 contrast or more against
their background, their axes are ticked at round values; without JavaScript every page still
shows its content and a participant's link leads to a plain page of their submissions.
Screenshots go to pytest's temporary folder, or to the folder $GRADER_TEST_ARTIFACTS names
(`GRADER_TEST_ARTIFACTS=test-artifacts ./dev test tests/test_site_browser.py`: git-ignored).
Chromium's profile, and its HOME, are temporary folders too: a run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import os
import re
import shutil
import threading
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import test_site
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from grader.result import Result
from grader.store import Store

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS: list[Path] = []  # the folder screenshots go to, set once per session (see `screenshots`)
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


# The variables GitHub Actions sets in the job that builds the site: the links point at this repository.
GITHUB = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "example-course/digits"}
REPO = "https://github.com/example-course/digits"
PHONE = (390, 844)
DESKTOP = (1280, 1000)
MIN_TEXT_PX = 11
MIN_CONTRAST = 3.0


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class EncodingHandler(QuietHandler):
    """A host that serves a .gz file as gzip-encoded content (Apache's AddEncoding does): the
    browser unpacks it before the page's script sees it."""

    def end_headers(self) -> None:
        if self.path.split("?")[0].endswith(".json.gz"):
            self.send_header("Content-Encoding", "gzip")
        super().end_headers()


@pytest.fixture(scope="module")
def site_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture site, built by the real command."""
    comp = test_site.make_competition(tmp_path_factory.mktemp("browser") / "comp")
    db = test_site.make_db(comp)
    # 40 more participants, behind the fixture's four: the histories spread over 3 files.
    with Store(db) as store:
        for i in range(40):
            result = Result(status="completed", run_id=f"filler-{i}", notebook="f.ipynb", notebook_sha256=f"{i:064x}",
                            started_at="", runtime_seconds=1.0, public_score=0.3 - i / 1000)  # fmt: skip
            when = datetime(2026, 11, 10, 9, i, tzinfo=UTC)
            store.record(result, user=f"filler-{i:02d}", competition=comp, now=when, notebook_path="f.ipynb")
    out = comp.root / "public"
    proc = test_site.grader(
        "site", "build", "--out", str(out), "--mkdocs", str(ROOT / "mkdocs.yml"), "--now", test_site.NOW_ARG,
        cwd=comp.root, env=GITHUB,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (out / "participants").iterdir())
    assert names == ["0.html", "0.json.gz", "1.html", "1.json.gz", "2.html", "2.json.gz"]
    return out


@pytest.fixture(scope="module")
def served(site_folder: Path) -> Iterator[str]:
    """The fixture site served on 127.0.0.1."""
    with serve(site_folder) as url:
        yield url


@pytest.fixture(scope="module")
def encoded(site_folder: Path) -> Iterator[str]:
    """The same site from a host that sends the histories with ``Content-Encoding: gzip``."""
    with serve(site_folder, EncodingHandler) as url:
        yield url


@pytest.fixture(scope="module")
def served_final(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The competition that ended (test_site.make_final), after the reveal, built and served."""
    comp = test_site.make_final(tmp_path_factory.mktemp("browser-final") / "comp")
    test_site.reveal(comp)
    out = comp.root / "public"
    proc = test_site.grader(
        "site", "build", "--out", str(out), "--mkdocs", str(ROOT / "mkdocs.yml"), "--now", test_site.FINAL_NOW_ARG,
        cwd=comp.root, env={"GITHUB_REPOSITORY": ""},  # built elsewhere than on GitHub Actions: no links
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with serve(out) as url:
        yield url


@contextlib.contextmanager
def serve(folder: Path, handler: type[QuietHandler] = QuietHandler) -> Iterator[str]:
    """``folder`` served on 127.0.0.1 while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session", autouse=True)
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$GRADER_TEST_ARTIFACTS when set (to look at the pages), else a temporary folder."""
    chosen = os.environ.get("GRADER_TEST_ARTIFACTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    SCREENSHOTS[:] = [folder]
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path_factory) as driver:
        yield driver


@pytest.fixture(scope="module")
def no_js(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Chromium with JavaScript turned off."""
    with chromium(tmp_path_factory, "--blink-settings=scriptEnabled=false") as driver:
        yield driver


@contextlib.contextmanager
def chromium(tmp_path_factory: pytest.TempPathFactory, *extra: str) -> Iterator[webdriver.Chrome]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"the browser tests need Debian's chromium and chromium-driver ({', '.join(missing)} missing): "
            "apt-get install chromium chromium-driver (./dev test installs them)."
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}", *extra):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # Chromium writes its crash reports' settings under HOME's .config whatever the profile: a temporary HOME.
    home = tmp_path_factory.mktemp("chromium-home")
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER), env=env))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screen(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    """Show pages at ``size`` CSS pixels: a phone (a mobile viewport, touch, 3x pixels) or a desktop."""
    width, height = size
    phone = width < 600
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 3 if phone else 1, "mobile": phone},
    )


def overflowing(driver: webdriver.Chrome, size: tuple[int, int]) -> list[str]:
    """What sticks out of a screen ``size`` wide: the page itself, or anything in the page's content
    that ends past the screen's edge without a scroll box (itself on the screen) around it.

    The page's own width is not enough: the theme clips what overflows, so the last columns of a
    table would be cut off while the page reports its width as the screen's.
    """
    return driver.execute_script(
        """
        var out = [], width = window.innerWidth;
        if (width !== arguments[0]) out.push("the page is laid out " + width + " px wide, not " + arguments[0]);
        if (document.documentElement.scrollWidth > width)
          out.push("the page is " + document.documentElement.scrollWidth + " px wide");
        var content = document.querySelector("article") || document.body;
        content.querySelectorAll("*").forEach(function (el) {
          var r = el.getBoundingClientRect();
          if (!r.width || r.right <= width + 0.5 || out.length > 5) return;
          for (var a = el.parentElement; a && a !== document.body; a = a.parentElement) {
            var o = getComputedStyle(a).overflowX;
            if (o === "auto" || o === "scroll") {
              if (a.getBoundingClientRect().right <= width + 0.5) return;
              break;
            }
          }
          out.push(el.tagName.toLowerCase() + (el.className ? "." + el.className : "") + " ends at " +
                   Math.round(r.right) + " px");
        });
        return out;
        """,
        size[0],
    )


def luminance(colour: str) -> float:
    """WCAG 2's relative luminance of a #rgb or #rrggbb colour."""
    hex_ = colour.lstrip("#")
    if len(hex_) == 3:
        hex_ = "".join(c * 2 for c in hex_)
    channels = [int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2's contrast ratio of two colours, from 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def chart_checks(driver: webdriver.Chrome, count: int = 2) -> dict[str, Any]:
    """Each chart image on the page (``count`` of them): its file, its smallest text as drawn (px), its
    series colours' contrast against its background, and its tick labels by axis."""
    found: dict[str, Any] = {}
    images = driver.find_elements(By.CSS_SELECTOR, "img.grader-chart")
    assert len(images) == count
    WebDriverWait(driver, 10).until(
        lambda d: all(
            d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i) for i in images
        )
    )
    for image in images:
        url = image.get_attribute("currentSrc")
        with urllib.request.urlopen(url) as response:  # the file the browser chose, from the local server
            svg = ET.fromstring(response.read())
        ns = "{http://www.w3.org/2000/svg}"
        view_width = float(svg.get("viewBox", "").split()[2])
        shown_width = driver.execute_script("return arguments[0].getBoundingClientRect().width", image)
        sizes = [float(t.get("font-size") or svg.get("font-size")) for t in svg.iter(ns + "text")]
        background = next(r.get("fill") for r in svg.iter(ns + "rect") if r.get("x") is None)
        series = [e.get("stroke") or "" for e in svg.iter(ns + "path")]
        series += [e.get("fill") or "" for e in svg.iter(ns + "rect") if e.find(ns + "title") is not None]  # bars
        ticks: dict[str, list[str]] = {}
        for t in svg.iter(ns + "text"):
            if t.get("class"):
                ticks.setdefault(t.get("class") or "", []).append(t.text or "")
        found[url.rsplit("/", 1)[-1]] = {
            "text_px": min(sizes) * shown_width / view_width,
            "contrast": {c: contrast(c, background) for c in series},
            "lines": [(p.get("stroke"), p.get("stroke-dasharray")) for p in svg.iter(ns + "path")],
            "ticks": ticks,
        }
    return found


def round_ticks(labels: list[str]) -> bool:
    """Evenly spaced by 1, 2 or 5 times a power of ten, each a multiple of that step."""
    values = [float(v) for v in labels]
    steps = {round(b - a, 12) for a, b in itertools.pairwise(values)}
    if len(values) < 2 or len(steps) != 1:
        return False
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    return any(math.isclose(mantissa, m) for m in (1, 2, 5)) and all(
        math.isclose(v / step, round(v / step), abs_tol=1e-9) for v in values
    )


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def console_errors(driver: webdriver.Chrome) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def column(driver: webdriver.Chrome, index: int, board: str = "public") -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, f'.grader-board[data-board="{board}"] tbody tr')
    return [r.find_elements(By.TAG_NAME, "td")[index].text for r in rows if r.is_displayed()]


def screenshot(driver: webdriver.Chrome, name: str) -> None:
    driver.save_screenshot(str(SCREENSHOTS[0] / name))


def test_the_site_in_a_real_browser(served: str, browser: webdriver.Chrome) -> None:
    wait = WebDriverWait(browser, 10)
    # The leaderboard: best first, then sortable by any column.
    browser.get(served + "/leaderboard.html")
    assert column(browser, 0) == [str(n) for n in range(1, 45)]
    assert column(browser, 1)[:5] == ["bob", "alice", "carol", "erin", "filler-00"]
    assert column(browser, 2)[:5] == ["0.97000", "0.95000", "0.95000", "0.42000", "0.30000"]
    headers = browser.find_elements(By.CSS_SELECTOR, ".grader-board th")
    headers[2].click()  # best public score, lowest first
    assert column(browser, 1)[-5:] == ["filler-00", "erin", "alice", "carol", "bob"]
    assert column(browser, 1)[0] == "filler-39"
    assert headers[2].get_attribute("aria-sort") == "ascending"
    headers[2].click()
    assert column(browser, 1)[:4] == ["bob", "alice", "carol", "erin"]
    headers[1].click()
    assert column(browser, 1)[:5] == ["alice", "bob", "carol", "erin", "filler-00"]
    # The filter finds a participant.
    box = browser.find_element(By.CSS_SELECTOR, ".grader-filter")
    box.send_keys("CAR")
    assert column(browser, 1) == ["carol"]
    box.clear()
    box.send_keys("nobody")
    assert column(browser, 1) == []
    assert browser.find_element(By.CSS_SELECTOR, ".grader-nomatch").is_displayed()
    box.clear()
    box.send_keys("fill")
    assert len(column(browser, 1)) == 40
    box.clear()
    box.send_keys("b")
    screenshot(browser, "site-leaderboard.png")

    # A participant's history, loaded from its gzipped JSON file; the hostile note is text.
    browser.find_element(By.LINK_TEXT, "bob").click()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".grader-who").text == "bob")
    rows = browser.find_elements(By.CSS_SELECTOR, ".grader-view tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[3].text for r in rows] == ["completed", "failed"]
    assert rows[1].find_elements(By.TAG_NAME, "td")[2].text == test_site.HOSTILE_NOTEBOOK
    assert "<script>alert('message')</script>" in rows[1].find_elements(By.TAG_NAME, "td")[5].text
    assert browser.find_elements(By.CSS_SELECTOR, ".grader-view img, .grader-view script") == []
    assert (
        "rank 1, best public score 0.97000; 2 entries." in browser.find_element(By.CSS_SELECTOR, ".grader-summary").text
    )
    # Each row links its pull request and the evaluate run (whose artifact is the executed notebook).
    links = rows[0].find_elements(By.CSS_SELECTOR, "td:last-child a")
    assert [(a.text, a.get_attribute("href")) for a in links] == [
        ("PR #101", REPO + "/pull/101"), ("Actions run", REPO + "/actions/runs/4201/attempts/1"),
    ]  # fmt: skip
    screenshot(browser, "site-participant.png")
    for filler in ("filler-07", "filler-39"):  # whichever file holds them
        browser.get(served + f"/participants.html#{filler}")
        wait.until(lambda d, who=filler: d.find_element(By.CSS_SELECTOR, ".grader-who").text == who)
    browser.get(served + "/participants.html#nobody")
    wait.until(lambda d: "no participant called" in d.find_element(By.CSS_SELECTOR, ".grader-message").text)

    # The charts are drawn: both SVG images loaded and have a size.
    browser.get(served + "/charts.html")
    images = browser.find_elements(By.CSS_SELECTOR, "img.grader-chart")
    assert len(images) == 2
    wait.until(lambda d: all(d.execute_script("return arguments[0].complete", i) for i in images))
    for image in images:
        assert browser.execute_script("return arguments[0].naturalWidth", image) == 760
    screenshot(browser, "site-charts.png")

    # The home page counts down, and the site search (Material's, offline) finds a participant.
    browser.get(served + "/index.html")
    assert browser.find_element(By.CSS_SELECTOR, ".grader-countdown").text.startswith(("Open", "Ended", "Opens"))
    browser.find_element(By.CSS_SELECTOR, ".md-search__input").click()
    browser.find_element(By.CSS_SELECTOR, ".md-search__input").send_keys("carol")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
    found = browser.find_element(By.CSS_SELECTOR, ".md-search-result").text
    assert "Public leaderboard" in found and "carol" in found

    urls = requested_urls(browser)
    assert len({u for u in urls if "/participants/" in u and u.endswith(".json.gz")}) >= 2
    # chrome:// is the browser's own new-tab page, data: and blob: are in memory: none is a network request.
    network = [u for u in urls if not u.startswith(("chrome://", "chrome-untrusted://", "data:", "blob:", "about:"))]
    assert len(network) > 10
    outside = [u for u in network if not u.startswith(served + "/")]
    assert outside == [], f"requests left localhost: {outside}"
    assert console_errors(browser) == []


def test_histories_load_whether_or_not_the_host_unpacks_them(
    served: str, encoded: str, browser: webdriver.Chrome
) -> None:
    """The histories are gzipped files: unpacked by the page's script, or by the browser when the
    host says they are gzip-encoded (the script then gets the JSON itself)."""
    for url in (served, encoded):
        browser.get(url + "/participants.html#alice")
        WebDriverWait(browser, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, ".grader-who").text == "alice")
        rows = browser.find_elements(By.CSS_SELECTOR, ".grader-view tbody tr")
        assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows] == ["1", "3", "7"], url
    assert console_errors(browser) == []


def test_the_final_board_and_the_organisers_decisions(served_final: str, browser: webdriver.Chrome) -> None:
    wait = WebDriverWait(browser, 10)
    browser.get(served_final + "/leaderboard.html")
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, '.grader-board[data-board="private"] th')]
    assert [h.rstrip(" ▲▼") for h in headers] == ["Rank", "Participant", "Private score", "Public score", "Move"]
    # The shake-up: from the public rank to the final one.
    assert column(browser, 4, "private") == ["2 → 1 ▲1", "3 → 2 ▲1", "1 → 3 ▼2", "4 → 4 ="]
    team = "owls team\ngina, hank"  # the mark beside the name, the members under it
    assert column(browser, 1, "private") == ["frank", "bob", "alice", team]
    assert column(browser, 2, "private") == ["0.91645", "0.82645", "0.73645", "0.62345"]
    assert column(browser, 1) == ["alice", "frank", "bob", team]  # the public board, below it; carol is not ranked
    off = browser.find_element(By.CSS_SELECTOR, ".grader-off").text
    assert off == "carol — Disqualified by the organisers: " + test_site.DISQUALIFY_REASON
    screenshot(browser, "site-final-leaderboard.png")

    browser.get(served_final + "/participants.html#bob")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".grader-who").text == "bob")
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, ".grader-view tbody tr")]  # fmt: skip
    assert [(r[3], r[4]) for r in rows] == [("reset", "0.85000 (not counted)"), ("removed", "0.97000 (not counted)"),
                                            ("completed final counted", "0.88000")]  # fmt: skip
    assert rows[1][5] == "Removed by the organisers: " + test_site.REMOVE_REASON
    summary = browser.find_element(By.CSS_SELECTOR, ".grader-summary").text
    assert summary == (
        "Final rank 2, private score 0.82645 (submission #5); public rank 3, best public score 0.88000; 1 entry."
    )
    assert not browser.find_element(By.CSS_SELECTOR, ".grader-members").is_displayed()  # bob is on his own

    # A member's login leads to the team: its members, who submitted each row, the chosen one.
    browser.get(served_final + "/participants.html#gina")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".grader-who").text == "owls")
    assert browser.find_element(By.CSS_SELECTOR, ".grader-members").text == "Team: gina, hank"
    heads = [th.text for th in browser.find_elements(By.CSS_SELECTOR, ".grader-view th")]
    assert heads == ["#", "Submitted", "By", "Notebook", "Status", "Public score", "Note", "Links"]
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, ".grader-view tbody tr")]  # fmt: skip
    assert [(r[0], r[2], r[4], r[5]) for r in rows] == [
        ("10", "gina", "completed", "0.70000"), ("11", "hank", "completed final counted", "0.60000"),
    ]  # fmt: skip
    legend = browser.find_element(By.CSS_SELECTOR, ".grader-legend").text
    assert "without a choice the best public submission counts" in legend
    screenshot(browser, "site-final-team.png")
    browser.get(served_final + "/participants.html#carol")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".grader-who").text == "carol")
    summary = browser.find_element(By.CSS_SELECTOR, ".grader-summary").text
    assert summary == f"Disqualified by the organisers. Reason: {test_site.DISQUALIFY_REASON}. Not ranked."
    assert not browser.find_element(By.CSS_SELECTOR, ".grader-by").is_displayed()  # carol is on her own
    assert browser.find_elements(By.CSS_SELECTOR, ".grader-view i, .grader-view script") == []
    screenshot(browser, "site-final-participant.png")
    assert console_errors(browser) == []


def test_artifacts_folder_is_ignored_by_git() -> None:
    import subprocess

    assert shutil.which("git")
    proc = subprocess.run(["git", "check-ignore", "-q", "test-artifacts/x.png"], cwd=ROOT)
    assert proc.returncode == 0, "add test-artifacts/ to .gitignore"


PAGES = ("index.html", "leaderboard.html", "participants.html#bob", "charts.html", "submit.html", "rules.html")


def check_charts(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    charts = chart_checks(driver)
    for name, chart in charts.items():
        assert chart["text_px"] >= MIN_TEXT_PX, f"{name} at {size}: text {chart['text_px']:.1f} px"
    layout = "-narrow" if size == PHONE else ""
    assert sorted(charts) == [f"best-over-time{layout}.svg", f"scores{layout}.svg"]
    for name, chart in charts.items():
        low = {c: round(r, 2) for c, r in chart["contrast"].items() if r < MIN_CONTRAST}
        assert low == {}, f"{name}: series colours under {MIN_CONTRAST}:1 against the background"
        assert chart["ticks"]["ytick"] and round_ticks(chart["ticks"]["ytick"]), (name, chart["ticks"]["ytick"])
    over_time = charts[f"best-over-time{layout}.svg"]
    assert len(over_time["lines"]) == 10 and len(set(over_time["lines"])) == 10  # no two lines alike
    assert all(re.fullmatch(r"\d\d [A-Z][a-z]{2}", t) for t in over_time["ticks"]["time"]), over_time["ticks"]
    scores = charts[f"scores{layout}.svg"]["ticks"]["xtick"]
    assert round_ticks(scores), scores


def check_shake_up(driver: webdriver.Chrome, size: tuple[int, int]) -> None:
    """The shake-up chart over the final board: readable at ``size``, contrasted, round ticks, said in words."""
    chart = chart_checks(driver, count=1)
    name = "shake-up-narrow.svg" if size == PHONE else "shake-up.svg"
    assert sorted(chart) == [name]
    drawn = chart[name]
    assert drawn["text_px"] >= MIN_TEXT_PX, f"{name} at {size}: text {drawn['text_px']:.1f} px"
    low = {c: round(r, 2) for c, r in drawn["contrast"].items() if r < MIN_CONTRAST}
    assert low == {} and len(drawn["contrast"]) == 3, f"{name}: bar colours {drawn['contrast']}"  # up, down, same
    assert drawn["ticks"]["xtick"] == ["-2", "-1", "0", "1"] and round_ticks(drawn["ticks"]["xtick"])
    assert drawn["ticks"]["move"] == ["2 → 1 ▲1", "3 → 2 ▲1", "1 → 3 ▼2", "4 → 4 ="]
    alt = driver.find_element(By.CSS_SELECTOR, ".grader-shake-up img").get_attribute("alt") or ""
    assert "frank went up from 2 to 1" in alt and "alice went down from 1 to 3" in alt
    caption = driver.find_element(By.CSS_SELECTOR, ".grader-shake-up figcaption")
    assert caption.is_displayed() and "places won (right) or lost (left)" in caption.text


def test_phone_and_desktop(served: str, served_final: str, browser: webdriver.Chrome) -> None:
    """Every page at a phone's size and a desktop's: nothing wider than the screen, readable charts."""
    try:
        for size, device in ((PHONE, "phone"), (DESKTOP, "desktop")):
            screen(browser, size)
            for page in PAGES:
                browser.get(f"{served}/{page}")
                if page.startswith("participants"):
                    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, ".grader-who").text)
                assert overflowing(browser, size) == [], (page, size)
                if page == "charts.html":
                    check_charts(browser, size)
                screenshot(browser, f"site-{device}-{page.split('.')[0]}.png")
            browser.get(served_final + "/leaderboard.html")
            assert overflowing(browser, size) == [], ("final leaderboard", size)
            check_shake_up(browser, size)
            screenshot(browser, f"site-{device}-final-leaderboard.png")
            shake_up = browser.find_element(By.CSS_SELECTOR, ".grader-shake-up")
            browser.execute_script('arguments[0].scrollIntoView({block: "center"})', shake_up)
            shake_up.screenshot(str(SCREENSHOTS[0] / f"site-{device}-shake-up.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert console_errors(browser) == []


def test_every_page_works_without_javascript(served: str, served_final: str, no_js: webdriver.Chrome) -> None:
    """JavaScript off: the boards, the charts, and each participant's history on a plain page."""
    for size, device in ((PHONE, "phone"), (DESKTOP, "desktop")):
        screen(no_js, size)
        no_js.get(served + "/leaderboard.html")
        assert (
            no_js.find_element(By.TAG_NAME, "html").get_attribute("class") == "no-js"
        )  # the page's scripts did not run
        assert column(no_js, 1)[:4] == ["bob", "alice", "carol", "erin"]
        assert overflowing(no_js, size) == [], size
        screenshot(no_js, f"site-nojs-{device}-leaderboard.png")
        href = no_js.find_element(By.LINK_TEXT, "bob").get_attribute("href")
        assert re.fullmatch(re.escape(served) + r"/participants/[0-2]\.html#bob", href or ""), href
        no_js.find_element(By.LINK_TEXT, "bob").click()
        section = no_js.find_element(By.ID, "bob")
        assert section.find_element(By.TAG_NAME, "p").text == "rank 1, best public score 0.97000; 2 entries."
        rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                for tr in section.find_elements(By.CSS_SELECTOR, "tbody tr")]  # fmt: skip
        assert [(r[0], r[3], r[4]) for r in rows] == [("2", "completed", "0.97000"), ("5", "failed", "—")]
        # Text, as everywhere; without bob's folder, which the page says once.
        assert rows[1][2] == test_site.HOSTILE_NOTEBOOK.removeprefix("submissions/bob/")
        assert "shown without their folder, submissions/" in no_js.find_element(By.CSS_SELECTOR, "p.where").text
        # Each row's pull request by number; bob's pull requests on GitHub, linked once.
        assert [r[-1] for r in rows] == ["#101", "#104"]
        links = section.find_elements(By.TAG_NAME, "a")
        assert [a.get_attribute("href") for a in links] == [REPO + "/pulls?q=is%3Apr+author%3Abob"]
        assert overflowing(no_js, size) == [], ("history", size)
        screenshot(no_js, f"site-nojs-{device}-history.png")
        # The participants page says what to do instead of waiting for a script.
        no_js.get(served + "/participants.html#bob")
        assert not no_js.find_element(By.CSS_SELECTOR, ".grader-pick").is_displayed()
        text = no_js.find_element(By.CSS_SELECTOR, "article").text
        assert "each name leads to a plain page of their submissions" in text and ".json" not in text
        no_js.get(served + "/index.html")
        assert no_js.find_element(By.LINK_TEXT, "example-course/digits").get_attribute("href") == REPO
        assert no_js.find_element(By.LINK_TEXT, "data/").get_attribute("href") == REPO + "/tree/HEAD/data"
        no_js.get(served + "/charts.html")
        check_charts(no_js, size)
        assert overflowing(no_js, size) == [], ("charts", size)
        no_js.get(served_final + "/leaderboard.html")
        assert column(no_js, 4, "private") == ["2 → 1 ▲1", "3 → 2 ▲1", "1 → 3 ▼2", "4 → 4 ="]
        check_shake_up(no_js, size)
        assert overflowing(no_js, size) == [], ("final leaderboard", size)
        screenshot(no_js, f"site-nojs-{device}-final-leaderboard.png")
    no_js.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture(scope="module")
def served_secondary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A competition showing two secondary metrics, after the reveal, built and served."""
    from grader import config

    comp = test_site.make_competition(tmp_path_factory.mktemp("browser-secondary") / "comp", title="Secondary")
    path = comp.root / "competition.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "  greater_is_better: true\n",
        "  greater_is_better: true\n  secondary:\n"
        "    - {name: f1_score, greater_is_better: true, args: {average: macro}}\n"
        "    - {name: log_loss, greater_is_better: false}\n",
        1,
    )
    path.write_text(text, encoding="utf-8")
    comp = config.load(path)
    with Store(comp.root / "leaderboard" / "leaderboard.db", private_key=test_site.KEY) as store:
        for i, (f1, loss) in enumerate([(0.612341, 0.4), (0.712341, None)]):  # None: the metric gave no value
            result = Result(status="completed", run_id=f"s{i}", notebook="a.ipynb", notebook_sha256=f"{i:064x}",
                            started_at="", runtime_seconds=1.0, public_score=0.8 + i / 10, private_score=0.5,
                            extra={"secondary": {"f1_score": {"public": f1, "private": 0.3141592},
                                                 "log_loss": {"public": loss, "private": 0.2718281}}})  # fmt: skip
            store.record(result, user="alice", competition=comp, now=datetime(2026, 11, 10, 9, i, tzinfo=UTC),
                         notebook_path="submissions/alice/a.ipynb")  # fmt: skip
    test_site.reveal(comp)
    out = comp.root / "public"
    proc = test_site.grader(
        "site", "build", "--out", str(out), "--mkdocs", str(ROOT / "mkdocs.yml"), "--now", test_site.FINAL_NOW_ARG,
        cwd=comp.root, env={"GITHUB_REPOSITORY": ""},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with serve(out) as url:
        yield url


def test_a_history_shows_the_secondary_metrics_with_and_without_javascript(
    served_secondary: str, browser: webdriver.Chrome, no_js: webdriver.Chrome
) -> None:
    summary = "Final rank 1, private score 0.50000 (submission #2); private f1_score 0.31416, log_loss 0.27183 (shown, "
    summary += "not ranked); public rank 1, best public score 0.90000; 2 entries."
    screen(browser, DESKTOP)
    browser.get(served_secondary + "/participants.html#alice")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, ".grader-who").text == "alice")
    heads = [th.text for th in browser.find_elements(By.CSS_SELECTOR, ".grader-view th") if th.is_displayed()]
    assert heads == ["#", "Submitted", "Notebook", "Status", "Public score", "f1_score", "log_loss", "Note", "Links"]
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, ".grader-view tbody tr")]  # fmt: skip
    assert [r[3:8] for r in rows] == [["completed", "0.80000", "0.61234", "0.40000", ""],
                                      ["completed counted", "0.90000", "0.71234", "—", ""]]  # fmt: skip
    assert browser.find_element(By.CSS_SELECTOR, ".grader-summary").text == summary
    assert console_errors(browser) == []

    no_js.get(served_secondary + "/participants/0.html#alice")
    section = no_js.find_element(By.ID, "alice")
    heads = [th.text for th in section.find_elements(By.TAG_NAME, "th")]
    assert heads == ["#", "Submitted", "Notebook", "Status", "Public score", "f1_score", "log_loss", "Note",
                     "Pull request"]  # fmt: skip
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in section.find_elements(By.CSS_SELECTOR, "tbody tr")]  # fmt: skip
    assert [r[3:7] for r in rows] == [["completed", "0.80000", "0.61234", "0.40000"],
                                      ["completed counted", "0.90000", "0.71234", "—"]]  # fmt: skip
    assert section.find_element(By.TAG_NAME, "p").text == summary
