"""Is this file a notebook we accept? Checked before anything runs it.

The file comes from a student and is hostile until proven otherwise, so the checks go from
cheap to expensive and stop as soon as going on would mean trusting the input:

1. the name ends in ``.ipynb`` (reported, but checking goes on);
2. the path is a regular file, not a symlink, folder, FIFO or device (``lstat``, then
   ``open(O_NOFOLLOW | O_NONBLOCK)`` and ``fstat`` so that a swapped file cannot hang or
   escape us);
3. its size is at most ``max_size``, checked before reading, and at most ``max_size + 1``
   bytes are ever read;
4. UTF-8 (a UTF-8 byte-order mark is ignored), then JSON (``NaN``/``Infinity`` refused;
   nesting deeper than :data:`MAX_DEPTH` refused, so no :class:`RecursionError` later);
5. a JSON object with an integer ``nbformat``: 4 is read as is; 3 is upgraded to 4 with
   ``nbformat.convert`` (``upgraded_from=3``; missing v3 parts such as ``metadata`` or a
   worksheet's ``cells`` are filled in empty first, as old IPython versions left them out);
   1 and 2 (IPython 0.x, 2011-2012) are refused: Jupyter opens and upgrades them, so the
   fix is to open and save the notebook; 5 and above are unknown and refused;
6. the nbformat JSON schema (fastjsonschema for the verdict, then jsonschema for readable
   errors when there are some); each error becomes one line naming the cell. Cell ids
   follow nbformat's own rules: missing ids are added and duplicate ids renumbered
   (Jupyter does the same silently when it opens the file, and ids mean nothing to the
   grader), but a malformed id (characters outside ``A-Za-z0-9-_`` or longer than 64) is a
   schema error and is refused. A missing ``nbformat_minor`` in a v4 notebook (VS Code
   writes such files) is taken as the current minor version;
7. the language: the notebook cannot choose its kernel. When its ``kernelspec`` or
   ``language_info`` names a language other than Python (or its kernelspec names only a
   well-known non-Python kernel such as ``ir``) it is refused; an empty name or
   ``plaintext`` (VS Code's "no kernel selected") counts as no choice. The kernelspec is
   then replaced by ``python3`` *before* the schema check, so an incomplete or broken
   kernelspec is never a reason to refuse: the grader forces the kernel anyway;
8. at least one code cell with some source.

Problems are one line each, prefixed with nothing (the CLI adds the file name), and say
how to fix them. No input makes :func:`validate` raise anything but
:class:`~grader.errors.InvalidNotebook` or hang.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.config import format_size
from grader.errors import InvalidNotebook
from grader.untrusted import Unreadable, read_regular

if TYPE_CHECKING:
    import nbformat

MAX_DEPTH = 100
"""Deepest JSON nesting accepted. Real notebooks stay under 20; deeper would strain recursive code."""

MAX_SCHEMA_PROBLEMS = 10
PYTHON_KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

_NO_LANGUAGE = {"", "plaintext", "text", "none"}
# Kernel names whose language is well known, for notebooks that give a kernel name only.
_KNOWN_KERNELS = {
    "ir": "R", "julia": "Julia", "ijavascript": "JavaScript", "javascript": "JavaScript", "bash": "Bash",
    "xcpp": "C++", "evcxr": "Rust", "rust": "Rust", "gophernotes": "Go", "scala": "Scala", "sas": "SAS",
    "octave": "Octave", "matlab": "MATLAB", "java": "Java", "deno": "TypeScript", "tslab": "TypeScript",
}  # fmt: skip


@dataclass(frozen=True)
class ValidNotebook:
    """A notebook that passed every check, ready to execute."""

    node: nbformat.NotebookNode
    """nbformat v4 (older versions upgraded), with the ``python3`` kernelspec."""
    sha256: str
    """Of the file's bytes, as submitted."""
    size: int
    upgraded_from: int | None
    """The original major nbformat version when the notebook was upgraded, else None."""


def validate(path: Path, *, max_size: int) -> ValidNotebook:
    """Check the notebook at ``path``; raise :class:`InvalidNotebook` listing every problem found.

    See the module docstring for the checks and the rules chosen.
    """
    problems: list[str] = []
    path = Path(path)
    if not path.name.endswith(".ipynb"):
        problems.append(
            f"the file name must end in .ipynb (this one is {_show(path.name)}); "
            "submit the notebook as Jupyter saves it"
        )
    data = _read_bounded(path, max_size, problems)
    if data is None:
        raise InvalidNotebook(problems)
    raw = _parse_json(data, problems)
    if raw is None:
        raise InvalidNotebook(problems)
    node, upgraded_from = _to_v4(raw, problems)
    if node is None:
        raise InvalidNotebook(problems)
    after = f" (after upgrading it from nbformat {upgraded_from})" if upgraded_from else ""
    if not any(cell.get("cell_type") == "code" and _source(cell).strip() for cell in node.cells):
        problems.append(
            f"the notebook has no code cell with code in it{after}; "
            "add the code that writes your predictions and save the notebook"
        )
    if problems:
        raise InvalidNotebook(problems)
    language_info = node.metadata.get("language_info")
    if not isinstance(language_info, dict) or not _is_python(language_info.get("name")):
        node.metadata["language_info"] = {"name": "python"}
    return ValidNotebook(
        node=node,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        upgraded_from=upgraded_from,
    )


def _read_bounded(path: Path, max_size: int, problems: list[str]) -> bytes | None:
    """The file's bytes, or None (with a problem) when it is not a small regular file."""
    try:
        return read_regular(path, max_size)
    except Unreadable as ex:
        if ex.reason == "unreadable" and "\0" in str(path):
            problems.append("the file name is not valid; rename the notebook with letters, digits, - and _")
        else:
            problems.append(_UNREADABLE[ex.reason].format(limit=format_size(max_size), detail=ex.detail))
        return None


_UNREADABLE = {
    "missing": "there is no file at this path; check the name and the folder",
    "symlink": "the file is a symbolic link; submit the notebook file itself, not a link to it",
    "directory": "this is a folder, not a notebook file; submit the .ipynb file itself",
    "special": "this is not a regular file (it is a pipe, socket or device); submit the .ipynb file Jupyter saved",
    "too_large": "the notebook is larger than the limit of {limit}; clear the outputs (Edit → Clear Outputs of "
    "All Cells), remove large embedded images and save it again",
    "unreadable": "the file cannot be read ({detail}); submit a plain notebook file",
}


def _parse_json(data: bytes, problems: list[str]) -> dict[str, Any] | None:
    """The top-level JSON object, or None (with a problem)."""
    if not data.strip():
        problems.append("the file is empty; save your notebook in Jupyter (File → Save) and submit that file")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as ex:
        line = data.count(b"\n", 0, ex.start) + 1
        column = ex.start - (data.rfind(b"\n", 0, ex.start) + 1) + 1
        problems.append(
            f"the file is not UTF-8 text (byte 0x{data[ex.start]:02x} at line {line}, column {column}); "
            "a notebook is UTF-8 JSON: save it from Jupyter rather than converting it with another tool"
        )
        return None
    text = text.removeprefix("\ufeff")

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON value")

    try:
        raw = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as ex:
        problems.append(
            f"the file is not valid JSON (line {ex.lineno}, column {ex.colno}: {ex.msg}); "
            "it may be cut short or edited by hand: submit the file as Jupyter saved it"
        )
        return None
    except RecursionError:
        problems.append(_too_deep())
        return None
    except ValueError as ex:  # NaN/Infinity, or an integer with too many digits
        problems.append(
            f"the file is not valid JSON ({_show(str(ex), 80, quote=False)}); submit the file as Jupyter saved it"
        )
        return None
    if not isinstance(raw, dict):
        problems.append(
            f"the file is JSON but not a notebook: it holds {_json_kind(raw)}, "
            "not an object with cells and metadata; submit a notebook saved by Jupyter"
        )
        return None
    if _depth_exceeds(raw, MAX_DEPTH):
        problems.append(_too_deep())
        return None
    return raw


def _too_deep() -> str:
    return (
        f"the JSON in the file is nested more than {MAX_DEPTH} levels deep, which no real notebook is; "
        "submit the file as Jupyter saved it"
    )


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists/objects deeper than ``limit``, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, (dict, list)))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False


def _json_kind(value: Any) -> str:
    kinds = {list: "a list", str: "a string", bool: "true or false", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), "a single value")


def _to_v4(raw: dict[str, Any], problems: list[str]) -> tuple[nbformat.NotebookNode | None, int | None]:
    """The notebook as a v4 node and the version it was upgraded from, or (None, None) with problems."""
    version = raw.get("nbformat")
    if "nbformat" not in raw:
        problems.append(
            "the file has no `nbformat` field, so it is not a Jupyter notebook; "
            "save your work as a notebook in Jupyter (File → Save) and submit the .ipynb file"
        )
        return None, None
    if not isinstance(version, int) or isinstance(version, bool):
        problems.append(
            f"the `nbformat` field must be a whole number such as 4, not {_show(version)}; "
            "submit the file as Jupyter saved it"
        )
        return None, None
    if version in (1, 2):
        problems.append(
            f"this notebook uses nbformat {version} (IPython 0.x, 2011-2012), which the grader does not read; "
            "open it in Jupyter and save it (File → Save) to upgrade it to nbformat 4, then submit that file"
        )
        return None, None
    if version not in (3, 4):
        problems.append(
            f"nbformat {_show(version)} is not a notebook format the grader knows (it reads 3 and 4); "
            "save the notebook with a current Jupyter and submit that file"
        )
        return None, None
    try:
        if version == 3:
            return _upgrade_v3(raw, problems), 3
        return _read_v4(raw, problems), None
    except RecursionError:
        problems.append(_too_deep())
    except Exception as ex:  # nbformat on hostile input: report, never a traceback
        problems.append(
            f"the notebook cannot be read as nbformat {version} ({type(ex).__name__}); "
            "open it in Jupyter, save it, and submit the saved file"
        )
    return None, None


def _read_v4(raw: dict[str, Any], problems: list[str]) -> nbformat.NotebookNode | None:
    import nbformat

    current_minor: int = nbformat.v4.nbformat_minor
    if "nbformat_minor" not in raw:
        raw["nbformat_minor"] = current_minor
    metadata = raw.get("metadata")
    if isinstance(metadata, dict):
        # The kernel is not the notebook's to choose: refuse another language, else replace
        # the kernelspec before the schema check so a broken one cannot matter.
        _check_language(metadata, problems)
        metadata["kernelspec"] = dict(PYTHON_KERNELSPEC)
    minor = raw["nbformat_minor"]
    if not isinstance(minor, int) or isinstance(minor, bool) or minor < 0:
        problems.append(
            f"the `nbformat_minor` field must be a whole number such as 5, not {_show(minor)}; "
            "submit the file as Jupyter saved it"
        )
        return None
    if minor >= 5:
        _repair_cell_ids(raw)
    lines = _schema_problems(raw, 4, minor)
    if lines or problems:
        problems.extend(lines)
        return None
    node: nbformat.NotebookNode = nbformat.versions[4].to_notebook_json(raw, minor=minor)
    return node


def _upgrade_v3(raw: dict[str, Any], problems: list[str]) -> nbformat.NotebookNode | None:
    import nbformat

    # Old IPython versions omitted empty parts; fill them in so the upgrade can run.
    # Minor versions of nbformat 3 changed nothing the upgrade needs: check against 3.0.
    raw["nbformat_minor"] = 0
    if not isinstance(raw.get("metadata"), dict):
        raw["metadata"] = {}
    worksheets = raw.setdefault("worksheets", [])
    if isinstance(worksheets, list):
        if not all(isinstance(sheet, dict) for sheet in worksheets):
            problems.append(
                "a worksheet of this nbformat 3 notebook is not an object; "
                "open the notebook in Jupyter, save it, and submit the saved file"
            )
            return None
        for sheet in worksheets:
            sheet.setdefault("cells", [])
            sheet.setdefault("metadata", {})
    lines = _schema_problems(raw, 3, 0)
    if lines:
        problems.extend(line + " (nbformat 3)" for line in lines)
        return None
    node = nbformat.versions[3].to_notebook_json(raw, minor=raw["nbformat_minor"])
    upgraded: nbformat.NotebookNode = nbformat.convert(node, 4)  # type: ignore[no-untyped-call]
    _check_language(upgraded.metadata, problems)
    if problems:
        return None
    upgraded.metadata["kernelspec"] = dict(PYTHON_KERNELSPEC)
    lines = _schema_problems(upgraded, 4, upgraded.nbformat_minor)
    if lines:
        problems.extend(line + " (after upgrading from nbformat 3)" for line in lines)
        return None
    return upgraded


def _repair_cell_ids(raw: dict[str, Any]) -> None:
    """Add missing ids and renumber duplicates in place, as nbformat does; malformed ids stay for the schema."""
    cells = raw.get("cells")
    if not isinstance(cells, list):
        return
    seen: set[str] = set()
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        cell_id = cell.get("id")
        if "id" not in cell or (isinstance(cell_id, str) and cell_id in seen):
            cell_id = uuid.uuid4().hex[:8]
            while cell_id in seen:
                cell_id = uuid.uuid4().hex[:8]
            cell["id"] = cell_id
        if isinstance(cell_id, str):
            seen.add(cell_id)


def _schema_problems(raw: Any, version: int, minor: int) -> list[str]:
    """One readable line per error against the schema of nbformat ``version.minor`` (at most ten and a summary)."""
    from nbformat.validator import better_validation_error, get_validator

    # fastjsonschema (compiled) answers valid/invalid quickly; only an invalid notebook pays for
    # jsonschema, whose errors are the readable ones. Both directly: nbformat's iter_validate
    # post-processes errors with code that crashes on some malformed cells.
    fast = get_validator(version, minor)  # type: ignore[no-untyped-call]
    if fast is not None and next(iter(fast.iter_errors(raw)), None) is None:
        return []
    validator = get_validator(version, minor, name="jsonschema")  # type: ignore[no-untyped-call]
    if validator is None:
        return [f"nbformat {version}.{minor} has no schema the grader knows; save the notebook with a current Jupyter"]
    lines: list[str] = []
    for error in validator.iter_errors(raw):
        with contextlib.suppress(Exception):  # a more precise error for a cell or output, if nbformat finds one
            error = better_validation_error(error, version, minor)  # type: ignore[no-untyped-call]
        line = _explain(error, raw)
        if line in lines:
            continue
        if len(lines) == MAX_SCHEMA_PROBLEMS:
            lines.append("... and more problems of the same kind")
            break
        lines.append(line)
    return lines


def _explain(error: Any, raw: Any) -> str:
    """``cell 3 (code): `execution_count` should be an integer or null, not a string; ...``"""
    path = list(getattr(error, "relative_path", None) or getattr(error, "path", None) or [])
    where = _where(path, raw)
    validator = getattr(error, "validator", None)
    instance = getattr(error, "instance", None)
    field = f"`{_show(path[-1], 40, quote=False)}`" if path and isinstance(path[-1], str) else "this"
    value = getattr(error, "validator_value", None)
    if validator == "required":
        missing = re.match(r"'(.*)' is a required property", str(getattr(error, "message", "")))
        name = missing[1] if missing else "a field"
        what = f"the required field `{_show(name, 40, quote=False)}` is missing"
    elif validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set(getattr(error, "schema", {}).get("properties", {}))
        unknown = [key for key in instance if key not in allowed]
        what = "unexpected field(s) " + ", ".join(f"`{_show(key, 40, quote=False)}`" for key in unknown[:5])
    elif validator == "type":
        expected = [value] if isinstance(value, str) else list(value or [])
        what = f"{field} should be {' or '.join(_article(str(v)) for v in expected)}, not {_json_kind(instance)}"
    elif validator == "pattern" and path and path[-1] == "id":
        what = (
            f"the cell id {_show(instance)} is malformed (ids use only letters, digits, - and _, at most 64); "
            "delete the `id` line of that cell in a text editor or copy the cells into a new notebook"
        )
        return f"{where}: {what}"
    elif validator == "enum":
        what = f"{field} is {_show(instance)}; allowed: " + ", ".join(_show(v) for v in (value or []))
    elif validator in ("oneOf", "anyOf") and isinstance(instance, dict) and "output_type" in instance:
        what = f"{_show(instance['output_type'])} is not an output type of nbformat 4"
    elif validator in ("oneOf", "anyOf") and isinstance(instance, dict) and "cell_type" in instance:
        what = f"{_show(instance['cell_type'])} is not a cell type of nbformat 4 (use code, markdown or raw)"
    else:
        what = _show(str(getattr(error, "message", error)), 120, quote=False)
    if "outputs" in path:
        return f"{where}: {what}; clear the outputs (Edit → Clear Outputs of All Cells) and save the notebook again"
    return f"{where}: {what}; fix it in a text editor or copy your cells into a new notebook"


def _where(path: list[Any], raw: Any) -> str:
    if len(path) >= 2 and path[0] == "cells" and isinstance(path[1], int):
        cells = raw.get("cells") if isinstance(raw, dict) else None
        cell = cells[path[1]] if isinstance(cells, list) and path[1] < len(cells) else None
        kind = cell.get("cell_type") if isinstance(cell, dict) else None
        rest = path[2:]
        label = f"cell {path[1] + 1}" + (f" ({_show(kind, 20, quote=False)})" if isinstance(kind, str) else "")
        if len(rest) >= 2 and rest[0] == "outputs" and isinstance(rest[1], int):
            label += f", output {rest[1] + 1}"
        return label
    if len(path) > 1 and path[0] == "worksheets":
        return "a worksheet"
    if path and path[0] == "metadata":
        return "the notebook metadata" + (f" `{_show(path[1], 40, quote=False)}`" if len(path) > 2 else "")
    return "the notebook"


def _article(word: str) -> str:
    names = {"object": "an object", "array": "a list", "string": "a string", "integer": "an integer",
             "boolean": "true or false", "null": "null", "number": "a number"}  # fmt: skip
    return names.get(word, word)


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _is_python(language: Any) -> bool:
    return isinstance(language, str) and language.strip().lower().startswith(("python", "ipython"))


def _check_language(metadata: Any, problems: list[str]) -> None:
    """Refuse a notebook whose ``metadata`` asks for a language other than Python."""
    spec = metadata.get("kernelspec") if isinstance(metadata.get("kernelspec"), dict) else {}
    info = metadata.get("language_info") if isinstance(metadata.get("language_info"), dict) else {}
    name = spec.get("name")
    spec_language = spec.get("language")
    candidates = [spec_language, info.get("name")]
    if isinstance(name, str) and not (isinstance(spec_language, str) and spec_language.strip()):
        # Only a kernel name: recognise the well-known non-Python ones (julia-1.10, xcpp17, ir).
        candidates.append(_KNOWN_KERNELS.get(re.split(r"[-_ .0-9]", name.strip().lower())[0]))
    for language in candidates:
        if not isinstance(language, str) or language.strip().lower() in _NO_LANGUAGE or _is_python(language):
            continue
        kernel = (
            f"the {_show(name)} kernel ({_show(language, 30, quote=False)})"
            if isinstance(name, str)
            else (f"the {_show(language, 30, quote=False)} language")
        )
        problems.append(
            f"this competition runs Python 3 notebooks; this one asks for {kernel}. "
            "Write your solution in Python and choose the Python 3 kernel (Kernel → Change Kernel)"
        )
        return


def _show(value: Any, limit: int = 60, *, quote: bool = True) -> str:
    """A short, single-line, printable rendering of untrusted ``value``."""
    text = repr(value) if quote else repr(str(value))[1:-1]
    return text if len(text) <= limit else text[: limit - 1] + "…"
