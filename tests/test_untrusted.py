"""The one reader of hostile files: every reason it refuses, and no hang on a FIFO."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.untrusted import Unreadable, read_regular


def reason(path: Path | str, limit: int = 100) -> str:
    with pytest.raises(Unreadable) as caught:
        read_regular(path, limit)
    return caught.value.reason


def test_reads_a_small_regular_file(tmp_path: Path) -> None:
    (tmp_path / "ok.csv").write_bytes(b"id,label\n1,2\n")
    assert read_regular(tmp_path / "ok.csv", 100) == b"id,label\n1,2\n"
    assert read_regular(tmp_path / "ok.csv", 13) == b"id,label\n1,2\n"  # exactly at the limit


def test_refusals(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 101)
    (tmp_path / "target").write_text("secret", encoding="utf-8")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")  # opening it for reading would block: it must not be opened
    assert reason(tmp_path / "missing") == "missing"
    assert reason(tmp_path / "big") == "too_large"
    assert reason(tmp_path / "link") == "symlink"
    assert reason(tmp_path / "folder") == "directory"
    assert reason(tmp_path / "fifo") == "special"
    assert reason("bad\0name") == "unreadable"
