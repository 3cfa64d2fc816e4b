"""Reading what a stranger controls: files (notebooks, predictions, artifacts) and text.

One way to do it, used everywhere: ``lstat`` first (no symlink, a regular file, not over
the limit), then ``open`` with ``O_NOFOLLOW | O_NONBLOCK`` (a symlink or FIFO swapped in
since cannot be followed or hang us), ``fstat`` again, and read at most ``limit + 1`` bytes
(a file that grows meanwhile is still caught). Callers turn :class:`Unreadable` into the
message their user needs.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Literal

# Terminal control a notebook could smuggle into a message: OSC (window title, clipboard), CSI
# (colours, cursor, clearing), other escapes, C0/C1 controls and bidirectional overrides.
_ESCAPES = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` without terminal control sequences or invisible controls (newlines and tabs stay)."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


Reason = Literal["missing", "symlink", "directory", "special", "too_large", "unreadable"]
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 20


class Unreadable(Exception):
    """Why a path could not be read as a small regular file; ``detail`` is the system's word."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: Reason = reason
        self.detail = detail


def kind(mode: int) -> Reason | None:
    """None for a regular file, else what it is."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    return "special"


def read_regular(path: Path | str, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them; else :class:`Unreadable`."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise Unreadable("missing") from None
    except (OSError, ValueError) as ex:  # ValueError: a NUL byte in the path
        raise Unreadable("unreadable", getattr(ex, "strerror", None) or str(ex)) from None
    what = kind(info.st_mode)
    if what is not None:
        raise Unreadable(what)
    if info.st_size > limit:
        raise Unreadable("too_large", str(info.st_size))
    try:
        fd = os.open(path, _FLAGS)
    except OSError as ex:  # ELOOP: a symlink swapped in since the lstat
        raise Unreadable("unreadable", ex.strerror or str(ex)) from None
    try:
        what = kind(os.fstat(fd).st_mode)
        if what is not None:
            raise Unreadable(what)
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as ex:
        raise Unreadable("unreadable", ex.strerror or str(ex)) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise Unreadable("too_large", f"more than {limit}")
    return data
