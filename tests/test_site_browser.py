"""The built site in a real headless Chromium (Debian's chromium + chromium-driver), served on localhost.

Checks what a visitor sees: the leaderboard sorted right and re-sortable, the participant
filter, a participant's history loaded on demand (hostile text shown as text), the charts
drawn, no request leaving localhost, no console error; and after the reveal, the final
board, what the organisers decided (a removed submission, a disqualified participant), a
team with its members and authors, and the final choices.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import threading
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
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The fixture site, built by the real command and served on 127.0.0.1."""
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
        cwd=comp.root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (out / "participants").iterdir()) == ["0.json", "1.json", "2.json"]
    with serve(out) as url:
        yield url


@pytest.fixture(scope="module")
def served_final(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The competition that ended (test_site.make_final), after the reveal, built and served."""
    comp = test_site.make_final(tmp_path_factory.mktemp("browser-final") / "comp")
    test_site.reveal(comp)
    out = comp.root / "public"
    proc = test_site.grader(
        "site", "build", "--out", str(out), "--mkdocs", str(ROOT / "mkdocs.yml"), "--now", test_site.FINAL_NOW_ARG,
        cwd=comp.root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with serve(out) as url:
        yield url


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """``folder`` served on 127.0.0.1 while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
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
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


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
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


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

    # A participant's history, loaded from participants/bob.json; the hostile note is text.
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
    assert len({u for u in urls if "/participants/" in u and u.endswith(".json")}) >= 2
    # chrome:// is the browser's own new-tab page, data: and blob: are in memory: none is a network request.
    network = [u for u in urls if not u.startswith(("chrome://", "chrome-untrusted://", "data:", "blob:", "about:"))]
    assert len(network) > 10
    outside = [u for u in network if not u.startswith(served + "/")]
    assert outside == [], f"requests left localhost: {outside}"
    assert console_errors(browser) == []


def test_the_final_board_and_the_organisers_decisions(served_final: str, browser: webdriver.Chrome) -> None:
    wait = WebDriverWait(browser, 10)
    browser.get(served_final + "/leaderboard.html")
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, '.grader-board[data-board="private"] th')]
    assert [h.rstrip(" ▲▼") for h in headers] == ["Rank", "Participant", "Private score", "Public score"]
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
    assert heads == ["#", "Submitted", "By", "Notebook", "Status", "Public score", "Note"]
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
