"""The executed notebook as Markdown for the evaluation run's page (its job summary), read as hostile.

Students read notebooks, not logs: :func:`markdown` shows each cell in order with its execution
count, and its outputs as text, so the run can be read without downloading the artifact. Everything
in it is the student's: sources (markdown cells too, never rendered), stream text, results and
tracebacks all sit in code fences they cannot close (:func:`grader.answer.fence`), cleaned of
terminal control (:func:`grader.untrusted.printable`) and clipped; images, HTML and other rich
outputs are only named. The whole stays under :data:`CAP` bytes, far below GitHub's 1 MiB
step-summary limit, with a note saying where the rest is. :func:`markdown` is pure;
:func:`read` is the edge that reads the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.answer import fence, traceback_in
from grader.untrusted import Unreadable, printable, read_regular

CAP = 200_000  # bytes of the whole summary
SOURCE_LINES, SOURCE_CHARS = 150, 12_000
OUTPUT_LINES, OUTPUT_CHARS = 40, 4_000
LINE_CHARS = 300
WHERE = "`executed.ipynb` in this run's artifact `run`"

_RICH = "an image: in the artifact"
_HTML = "HTML output: in the artifact"
_OTHER = "an output shown only in the notebook: in the artifact"


def read(path: Path, limit: int) -> Any:
    """The notebook at ``path`` read with nbformat, or a one-line reason (a str) why there is none."""
    import nbformat

    try:
        raw = read_regular(path, limit)
    except Unreadable as ex:
        if ex.reason == "missing":
            return "There is no executed notebook: the notebook did not run."
        return f"The executed notebook could not be read here ({ex.reason}); see {WHERE}."
    try:
        return nbformat.reads(raw.decode("utf-8", "replace"), as_version=4, capture_validation_error={})  # type: ignore[no-untyped-call]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):  # not a notebook nbformat knows
        return f"The executed notebook is not one nbformat can read; see {WHERE}."


def markdown(notebook: Any, *, failed_cell: int | None = None, cap: int = CAP) -> str:
    """The Markdown of an executed notebook (parsed), at most ``cap`` bytes; ``failed_cell`` is marked."""
    head = "## The executed notebook\n\nEach cell as it ran; outputs are clipped, images and HTML are only named.\n"
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return head + f"\nThe executed notebook has no cells grader can show; see {WHERE}.\n"
    cut = f"\n**The summary stops here**: it is capped at {cap // 1000} KB. The full notebook is {WHERE}.\n"
    parts, size = [head], len(head.encode())
    for index, cell in enumerate(cells):
        block = _cell(notebook, index, cell, failed=index == failed_cell or _has_error(cell))
        length = len(block.encode())
        if size + length + len(cut.encode()) > cap:
            parts.append(cut)
            break
        parts.append(block)
        size += length
    return "".join(parts)


def _cell(notebook: Any, index: int, cell: Any, *, failed: bool) -> str:
    if not isinstance(cell, dict):
        return f"\n### Cell {index + 1}\n\nNot a cell grader can show.\n"
    kind = cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown", "raw") else "cell"
    count = cell.get("execution_count")
    ran = f" [{count}]" if isinstance(count, int) and not isinstance(count, bool) else ""
    mark = " ❌ the notebook failed here" if failed else ""
    lines = [
        f"\n### Cell {index + 1}{ran} · {kind}{mark}\n",
        fence(_clip(_text(cell.get("source")), SOURCE_LINES, SOURCE_CHARS)),
    ]
    outputs = cell.get("outputs") if kind == "code" else None
    shown_error = False
    for output in outputs if isinstance(outputs, list) else []:
        if not isinstance(output, dict):
            continue
        what = output.get("output_type")
        if what == "stream":
            name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stream"
            lines += [f"\n{name}:\n", _out(_text(output.get("text")))]
        elif what in ("execute_result", "display_data"):
            lines += ["\n" + _rich(output.get("data"))]
        elif what == "error" and not shown_error:
            shown_error = True
            error = traceback_in(notebook, index) or f"{_text(output.get('ename'))}: {_text(output.get('evalue'))}"
            lines += ["\nerror:\n", _out(error)]
    return "\n".join(lines) + "\n"


def _rich(data: Any) -> str:
    if not isinstance(data, dict):
        return _OTHER
    if any(isinstance(mime, str) and mime.startswith("image/") for mime in data):
        return _RICH
    plain = "text/plain" in data
    if "text/html" in data:  # a table from pandas also has its plain text, which is worth reading
        return _HTML + ("; as text:\n\n" + _out(_text(data["text/plain"])) if plain else "")
    return "result:\n\n" + _out(_text(data["text/plain"])) if plain else _OTHER


def _has_error(cell: Any) -> bool:
    outputs = cell.get("outputs") if isinstance(cell, dict) else None
    return isinstance(outputs, list) and any(isinstance(o, dict) and o.get("output_type") == "error" for o in outputs)


def _text(value: Any) -> str:
    """A notebook's multiline string (a str or a list of them); anything else is shown as nothing."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return ""


def _out(text: str) -> str:
    return fence(_clip(text, OUTPUT_LINES, OUTPUT_CHARS))


def _clip(text: str, max_lines: int, max_chars: int) -> str:
    """``text`` cleaned of terminal control and cut to its first and last lines, each line and the whole capped."""
    lines = printable(text.replace("\r\n", "\n")).strip("\n").splitlines()
    lines = [line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…" for line in lines]
    if len(lines) > max_lines:
        keep = max_lines // 2
        lines = [*lines[:keep], f"… {len(lines) - 2 * keep} lines cut: the artifact has them …", *lines[-keep:]]
    clipped = "\n".join(lines)
    return clipped if len(clipped) <= max_chars else clipped[: max_chars - 1] + "…"
