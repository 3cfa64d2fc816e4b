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


# -- text from a run: no terminal control, no markup in a class name ---------------------------------

HOSTILE_TEXT = [
    ("\x1b]52;c;Y2xpcGJvYXJk\x07copied", "copied"),  # OSC 52: write the organiser's clipboard
    ("\x1b]0;fake title\x1b\\x", "x"),  # OSC 0 ended by ST: the window title
    ("\x1b[2K\r\x1b[32m✓ completed\x1b[0m", "✓ completed"),  # erase the line, print a fake green verdict
    ("\x9b31mred", "red"),  # an 8-bit CSI
    ("a\u202eevil\u202cb", "aevilb"),  # bidirectional override
    ("bell\x07 null\x00 del\x7f", "bell null del"),
    ("line one\nline\ttwo", "line one\nline\ttwo"),  # layout stays
]


@pytest.mark.parametrize(("text", "clean"), HOSTILE_TEXT)
def test_printable_removes_terminal_control(text: str, clean: str) -> None:
    from grader.untrusted import printable

    assert printable(text) == clean


def test_a_result_json_from_an_artifact_is_cleaned_when_read() -> None:
    from grader.result import from_dict

    raw = {
        "status": "failed", "run_id": "r", "notebook": "n.ipynb", "notebook_sha256": "0" * 64,
        "started_at": "2026-11-02T10:00:00Z", "runtime_seconds": 1.0,
        "error": {"type": "X\x1b]0;t\x07Error", "message": "cell 1 raised \x1b[32m✓ completed\x1b[0m", "cell_index": 0},
    }  # fmt: skip
    error = from_dict(raw).error
    assert error is not None and (error.type, error.message) == ("XError", "cell 1 raised ✓ completed")
