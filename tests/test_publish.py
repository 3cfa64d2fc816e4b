"""`grader publish space` against a local fake of the Hugging Face Hub's HTTP API (tests/fake_hub.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_hub import TOKEN, FakeHub, serve

from grader.errors import UsageError
from grader.publish import PublishError, publish_space, space_readme

REPO = "course/leaderboard"


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with serve() as state:
        yield state


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    out = tmp_path / "site"
    (out / "assets").mkdir(parents=True)
    (out / "index.html").write_text("<!doctype html><title>Board</title>", encoding="utf-8")
    (out / "leaderboard.html").write_text("<table></table>", encoding="utf-8")
    (out / "assets" / "grader.js").write_text("// js\n", encoding="utf-8")
    (out / "favicon.png").write_bytes(bytes(range(256)))
    return out


def publish(site_dir: Path, hub: FakeHub, **options: Any) -> Any:
    options = {"title": 'Digits "2026" <b>', "token": TOKEN, "endpoint": hub.url, "wait": 0, **options}
    return publish_space(site_dir, REPO, **options)


def test_first_publish_creates_a_static_space_with_the_site(site_dir: Path, hub: FakeHub) -> None:
    published = publish(site_dir, hub)
    files = hub.repos[REPO]
    assert set(files) == {".gitattributes", "README.md", "index.html", "leaderboard.html", "assets/grader.js",
                          "favicon.png"}  # fmt: skip
    assert files["favicon.png"] == bytes(range(256))
    readme = files["README.md"].decode()
    assert readme.startswith('---\ntitle: "Digits \\"2026\\" <b>"\nemoji: 🏆\n')
    assert "\nsdk: static\napp_file: index.html\n" in readme
    assert published.files == 4 and published.removed == 0 and published.attempts == 1
    assert published.commit == hub.commits[REPO][-1]
    assert published.url == f"{hub.url}/spaces/{REPO}"


def test_republish_removes_old_files_keeps_gitattributes_and_skips_a_no_op(site_dir: Path, hub: FakeHub) -> None:
    publish(site_dir, hub)
    hub.repos[REPO]["participants/gone.json"] = b"{}"
    (site_dir / "leaderboard.html").write_text("<table>new</table>", encoding="utf-8")
    (site_dir / "assets" / "grader.js").unlink()
    published = publish(site_dir, hub)
    assert published.removed == 2
    files = hub.repos[REPO]
    assert set(files) == {".gitattributes", "README.md", "index.html", "leaderboard.html", "favicon.png"}
    assert files["leaderboard.html"] == b"<table>new</table>"
    commits = len(hub.commits[REPO])
    again = publish(site_dir, hub)  # nothing changed: no new commit
    assert len(hub.commits[REPO]) == commits and again.commit == hub.commits[REPO][-1]


def test_a_failed_commit_is_retried_and_reported(site_dir: Path, hub: FakeHub) -> None:
    heard: list[str] = []
    hub.fail_commits = 2
    published = publish(site_dir, hub, retries=3, echo=heard.append)
    assert published.attempts == 3
    assert len(heard) == 2 and all("Upload failed (try" in line and "HTTP 500" in line for line in heard)
    assert hub.repos[REPO]["index.html"].startswith(b"<!doctype html>")


def test_an_upload_that_keeps_failing_loses_nothing(site_dir: Path, hub: FakeHub) -> None:
    publish(site_dir, hub)
    before = dict(hub.repos[REPO])
    (site_dir / "index.html").write_text("changed", encoding="utf-8")
    hub.fail_commits = 10
    with pytest.raises(PublishError) as caught:
        publish(site_dir, hub, retries=2)
    assert "Nothing was changed on the Space" in str(caught.value) and "HTTP 500" in str(caught.value)
    assert hub.repos[REPO] == before  # the Space is as it was
    assert (site_dir / "index.html").read_text(encoding="utf-8") == "changed"  # and the site is still here
    assert sum(r.startswith("POST /api/spaces/course/leaderboard/commit") for r in hub.requests) == 1 + 1 + 2


def test_a_bad_token_is_not_retried(site_dir: Path, hub: FakeHub) -> None:
    with pytest.raises(PublishError, match=r"refused the token.*HF_TOKEN"):
        publish(site_dir, hub, token="hf_wrong", retries=3)
    assert hub.requests.count("POST /api/repos/create") == 1  # one try only
    assert not [r for r in hub.requests if "/commit/" in r]


def test_missing_token_or_site_are_usage_errors(site_dir: Path, hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="HF_TOKEN is not set"):
        publish(site_dir, hub, token=None)
    with pytest.raises(UsageError, match="grader site build"):
        publish(tmp_path / "nothing", hub)
    with pytest.raises(UsageError, match="OWNER/NAME"):
        publish_space(site_dir, "no-owner", title="t", token=TOKEN, endpoint=hub.url)
    assert hub.requests == []


def test_readme_front_matter_escapes_the_title() -> None:
    import yaml

    meta = yaml.safe_load(space_readme('a: "b"\n# c').split("---")[1])
    assert meta == {"title": 'a: "b" # c', "emoji": "🏆", "colorFrom": "indigo", "colorTo": "blue",
                    "sdk": "static", "app_file": "index.html", "pinned": False}  # fmt: skip


def test_the_command_reads_hf_token_and_hf_endpoint(site_dir: Path, hub: FakeHub, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "HF_TOKEN": TOKEN, "HF_ENDPOINT": hub.url}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "grader", "--config", str(root / "competition.yaml"), "publish", "space", *args],
            capture_output=True, text=True, timeout=60, env={**env, **extra}, cwd=tmp_path,
        )  # fmt: skip

    ok = run(REPO, "--site", str(site_dir))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"Published 4 files to {hub.url}/spaces/{REPO} (commit ")
    assert hub.repos[REPO]["README.md"].startswith(b'---\ntitle: "Handwritten digits"')
    (site_dir / "index.html").write_text("changed", encoding="utf-8")
    hub.fail_commits = 5
    failed = run(REPO, "--site", str(site_dir), "--retries", "0")
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert failed.stderr.startswith(f"error: could not publish {site_dir} to the Space {REPO}:")
    no_token = run(REPO, "--site", str(site_dir), HF_TOKEN="")
    assert no_token.returncode == 2 and "HF_TOKEN is not set" in no_token.stderr
