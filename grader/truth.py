"""Where the hidden truth comes from: a sealed file opened with one single-line key, or a local file.

Why sealed: GitHub's runner masks a secret's value *and each of its lines* in the public log,
and drops a job output that contains one. A truth kept as a multi-line secret therefore turns
every piece of student-controlled text a scoring job prints into an oracle: a notebook whose
error message lists guesses (``10203,0,private``, ``10203,1,private``, ...) sees ``***`` where a
guess is right. So the truth is never a secret. The organiser seals it with
``grader truth seal`` — gzip, then Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``, as
:mod:`grader.sealing` does for private scores) — and commits the sealed file; the only secret is
the key, one line of 44 random characters that no student text can guess. Compression also
keeps a large test set's truth small (GitHub secrets stop at 48 KB; a sealed file does not).

The sealed file is two lines of ASCII::

    # grader sealed truth v1; key id 1a2b3c4d
    gAAAAAB...

The key id (the first 8 hex digits of an HMAC of a fixed text with the key) tells a wrong key
from a damaged file without saying anything about the key or the truth.

Sources, in order: the sealed file when its key variable (``truth.key_env``, default
``GRADER_TRUTH_KEY``) is set; else the local plain file ``truth.path`` (the demo, a teacher's
laptop). Every error is one line that says what to fix and never shows any of the truth.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import io
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from grader.config import Competition, format_size
from grader.errors import ConfigError, TruthError, UsageError
from grader.gitsync import Git
from grader.predictions import DTYPES, expected_ids, relative
from grader.predictions import convert as _convert
from grader.predictions import parse_csv as _parse_csv
from grader.predictions import plural as _count

SPLITS = ("public", "private")

if TYPE_CHECKING:
    import pandas as pd
    from cryptography.fernet import Fernet

MAX_TRUTH_BYTES = 1024**3
"""The largest truth CSV (uncompressed) the grader reads."""
HEADER = "# grader sealed truth v1; key id "
_KEY_ID_TEXT = b"grader truth key id"


@dataclass(frozen=True)
class Source:
    """The truth's CSV text and where it came from (for messages: a path, never content)."""

    text: str
    where: str


@dataclass(frozen=True)
class Sealed:
    """What :func:`seal` did."""

    path: Path
    key: str
    new_key: bool
    rows: int
    public: int
    private: int
    size: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Checked:
    """What :func:`check` found."""

    where: str
    rows: int
    public: int
    private: int
    key_id: str | None
    matches_plain: bool | None  # the sealed truth equals the local plain file (None: no plain file to compare)


def key_id(key: str) -> str:
    """8 hex digits naming a key without revealing it."""
    return hmac.new(key.encode("ascii"), _KEY_ID_TEXT, hashlib.sha256).hexdigest()[:8]


def new_key() -> str:
    """A fresh random key (44 characters on one line), to store as the ``GRADER_TRUTH_KEY`` secret."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def _fernet(key: str, name: str) -> Fernet:
    from cryptography.fernet import Fernet

    stripped = key.strip()
    if any(c.isspace() for c in stripped):
        raise TruthError(
            f"${name} must be one line without spaces: the 44-character key `grader truth seal` printed. "
            "Store it again with `gh secret set "
            f"{name} --env scoring` and paste only the key."
        )
    try:
        return Fernet(stripped.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise TruthError(
            f"${name} is not a truth key (44 characters of URL-safe base64, as `grader truth seal` prints). "
            f"Store the key the truth was sealed with as the secret {name}."
        ) from None


def _key(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "")
    return value.strip() or None


# --- opening ---------------------------------------------------------------------------------


def require_source(competition: Competition, environ: Mapping[str, str] = os.environ) -> None:
    """Raise :class:`TruthError` saying how to provide the truth when no source is there.

    Cheap (no decryption, no parsing): lets a caller refuse before running a notebook for nothing.
    """
    truth = competition.truth
    if truth.sealed is not None and _key(environ, truth.key_env) is not None:
        return
    if truth.path is not None and (truth.path.is_file() or truth.path.is_symlink()):
        return
    how = []
    if truth.sealed is not None:
        how.append(
            f"set ${truth.key_env} to the key {relative(truth.sealed, competition.root)} was sealed with "
            "(in a workflow: the secret of that name)"
        )
    if truth.path is not None:
        how.append(f"create {relative(truth.path, competition.root)} (truth.path in competition.yaml)")
    raise TruthError("no ground truth to score against: " + " or ".join(how) + ".")


def read(competition: Competition, environ: Mapping[str, str] = os.environ) -> Source:
    """The truth's CSV text: from the sealed file when its key is set, else from the local plain file."""
    truth = competition.truth
    if truth.sealed is not None:
        key = _key(environ, truth.key_env)
        if key is not None:
            return open_sealed(truth.sealed, key, key_env=truth.key_env, root=competition.root)
    if truth.path is not None and (truth.path.is_file() or truth.path.is_symlink()):
        return read_plain(truth.path, competition.root)
    require_source(competition, environ)
    raise AssertionError("unreachable: require_source raises when there is no source")


def read_plain(path: Path, root: Path) -> Source:
    where = f"the truth file {relative(path, root)}"
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_TRUTH_BYTES + 1)
    except OSError as ex:
        raise TruthError(f"{where} cannot be read ({ex.strerror}).") from None
    if len(data) > MAX_TRUTH_BYTES:
        raise TruthError(f"{where} is larger than {format_size(MAX_TRUTH_BYTES)}.")
    return Source(_decode(data, where), where)


def open_sealed(path: Path, key: str, *, key_env: str, root: Path) -> Source:
    """Open the sealed truth at ``path`` with ``key``; :class:`TruthError` says what to fix."""
    from cryptography.fernet import InvalidToken

    shown = relative(path, root)
    fernet = _fernet(key, key_env)
    reseal = f"seal it again with `grader truth seal` and commit {shown}."
    try:
        with path.open("rb") as handle:
            data = handle.read(2 * MAX_TRUTH_BYTES)
    except FileNotFoundError:
        raise TruthError(
            f"the sealed truth {shown} is missing: run `grader truth seal` and commit it (truth.sealed in "
            "competition.yaml)."
        ) from None
    except OSError as ex:
        raise TruthError(f"the sealed truth {shown} cannot be read ({ex.strerror}).") from None
    lines = data.split(b"\n")
    head = lines[0].decode("ascii", "replace")
    if not head.startswith(HEADER) or len(lines) < 2:
        raise TruthError(f"{shown} is not a sealed truth made by `grader truth seal`; {reseal}")
    sealed_with = head.removeprefix(HEADER).strip()
    mine = key_id(key.strip())
    if sealed_with != mine:
        raise TruthError(
            f"${key_env} is not the key {shown} was sealed with (key id {sealed_with}; this key's id is {mine}). "
            f"Set the secret {key_env} to that key, or {reseal}"
        )
    try:
        packed = fernet.decrypt(lines[1].strip())
    except (InvalidToken, ValueError, TypeError):
        raise TruthError(f"{shown} is damaged (it does not open with its own key); {reseal}") from None
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(packed)) as handle:
            plain = handle.read(MAX_TRUTH_BYTES + 1)
    except (OSError, EOFError):
        raise TruthError(f"{shown} is damaged (its content is not gzip); {reseal}") from None
    where = f"the sealed truth {shown}"
    if len(plain) > MAX_TRUTH_BYTES:
        raise TruthError(f"{where} opens to more than {format_size(MAX_TRUTH_BYTES)}.")
    return Source(_decode(plain, where), where)


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TruthError(f"{where} is not UTF-8 text.") from None


# --- sealing ---------------------------------------------------------------------------------


def seal(
    competition: Competition,
    plain: Path | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    force: bool = False,
    rotate: bool = False,
) -> Sealed:
    """Check the plain truth as scoring would, then write it gzip-compressed and encrypted to ``truth.sealed``.

    The key is ``$truth.key_env`` when set (so sealing an edited truth keeps the secret as it is),
    else a new one; ``rotate`` always makes a new one. An existing sealed file is replaced only
    with ``force``. Nothing is written when the truth is refused.
    """
    truth = competition.truth
    if truth.sealed is None:
        raise ConfigError(
            "has no `sealed:` path; add e.g. `sealed: truth/truth.csv.sealed` under truth, then seal again.",
            key="truth",
        )
    plain = plain if plain is not None else truth.path
    if plain is None:
        raise UsageError("name the plain truth CSV to seal (or set truth.path in competition.yaml).")
    if not plain.is_file():
        raise UsageError(f"{plain}: no such file; name the plain truth CSV to seal.")
    shown = relative(truth.sealed, competition.root)
    if truth.sealed.exists() and not force:
        raise UsageError(
            f"{shown} exists; pass --force to replace it (with ${truth.key_env} set, the key stays the same)."
        )
    frame = _validated(competition, plain)
    existing = None if rotate else _key(environ, truth.key_env)
    key = existing or new_key()
    fernet = _fernet(key, truth.key_env)
    data = read_plain(plain, competition.root)
    token = fernet.encrypt(gzip.compress(data.text.encode("utf-8"), compresslevel=9, mtime=0))
    body = f"{HEADER}{key_id(key.strip())}\n".encode("ascii") + token + b"\n"
    truth.sealed.parent.mkdir(parents=True, exist_ok=True)
    temporary = truth.sealed.with_name(truth.sealed.name + ".tmp")
    temporary.write_bytes(body)
    os.replace(temporary, truth.sealed)
    splits = frame[truth.split_column].value_counts()
    return Sealed(
        path=truth.sealed,
        key=key.strip(),
        new_key=existing is None,
        rows=len(frame),
        public=int(splits.get("public", 0)),
        private=int(splits.get("private", 0)),
        size=len(body),
        warnings=tracked_warning(plain, competition.root),
    )


def _validated(competition: Competition, plain: Path) -> pd.DataFrame:
    """The truth in ``plain`` checked exactly as scoring checks it (a broken truth is refused now)."""

    local = replace(competition, truth=replace(competition.truth, path=plain, sealed=None))
    return load(local, {})


def tracked_warning(plain: Path, root: Path) -> tuple[str, ...]:
    """A warning when the plain truth sits in the repository and git would commit it."""
    try:
        plain.resolve().relative_to(root.resolve())
    except ValueError:
        return ()
    if not (root / ".git").exists():
        return ()
    shown = relative(plain.resolve(), root.resolve())
    if Git(root).succeeds("check-ignore", "-q", "--no-index", shown):
        return ()
    return (f"{shown} is not ignored by git: add it to .gitignore so the plain truth is never committed.",)


# --- checking --------------------------------------------------------------------------------


def check(competition: Competition, environ: Mapping[str, str] = os.environ) -> Checked:
    """Open the truth as scoring will (the sealed file when configured) and check it against the test ids."""

    truth = competition.truth
    if truth.sealed is not None and _key(environ, truth.key_env) is None:
        raise TruthError(
            f"set ${truth.key_env} to the key {relative(truth.sealed, competition.root)} was sealed with, "
            "to check that they open together."
        )
    source = read(competition, environ)
    frame = load(competition, environ)
    splits = frame[truth.split_column].value_counts()
    matches = None
    key = _key(environ, truth.key_env) if truth.sealed is not None else None
    if key is not None and truth.path is not None and truth.path.is_file():
        matches = read_plain(truth.path, competition.root).text == source.text
    return Checked(
        where=source.where,
        rows=len(frame),
        public=int(splits.get("public", 0)),
        private=int(splits.get("private", 0)),
        key_id=key_id(key) if key is not None else None,
        matches_plain=matches,
    )


# --- the truth table, checked (what scoring uses) -------------------------------------------


def load(competition: Competition, environ: Mapping[str, str] = os.environ) -> pd.DataFrame:
    """The hidden truth, indexed by id in the order of the test file: the prediction columns (or, for class
    probabilities, the label column) and the split column.

    Its CSV text comes from :func:`grader.truth.read` (the sealed file, or the local plain file).
    Raises :class:`TruthError` (never showing any of the truth's content).
    """
    import pandas as pd

    truth = competition.truth
    sub = competition.submission
    source = read(competition, environ)
    text, where = source.text, source.where

    try:
        header, rows, lines = _parse_csv(text)
    except csv.Error:
        raise TruthError(f"{where} is not valid CSV.") from None
    header = [column.strip() for column in header]
    scored = (truth.label_column,) if truth.label_column else sub.names
    needed = (sub.id_column, *scored, truth.split_column)
    missing = [c for c in needed if header.count(c) != 1]
    if missing:
        raise TruthError(
            f"{where} needs exactly one of each of the columns "
            + ", ".join(f"`{c}`" for c in needed)
            + "; missing or repeated: "
            + ", ".join(f"`{c}`" for c in missing)
            + "."
        )
    ragged = [line for line, row in zip(lines, rows, strict=True) if len(row) != len(header)]
    if ragged:
        verb = "does" if len(ragged) == 1 else "do"
        raise TruthError(f"{where}: {_count(len(ragged), 'line')} {verb} not have as many values as the header.")
    position = {c: header.index(c) for c in needed}
    ids = [row[position[sub.id_column]].strip() for row in rows]
    splits = [row[position[truth.split_column]].strip() for row in rows]

    test_ids = expected_ids(competition)
    source = test_ids.attrs.get("source", "the test data")
    organiser = "This is the organiser's error: fix the truth, not the submission."
    columns: dict[str, pd.Series] = {}
    if truth.label_column:  # probabilities scored against one label per id: each label names a prediction column
        labels = [row[position[truth.label_column]].strip() for row in rows]
        odd = sum(1 for label in labels if label not in sub.names)
        if odd:
            raise TruthError(
                f"{where}: {_count(odd, 'label')} of `{truth.label_column}` {'is' if odd == 1 else 'are'} not the "
                f"name of a prediction column ({', '.join(f'`{n}`' for n in sub.names)}). {organiser}"
            )
        columns[truth.label_column] = pd.Series(labels, dtype=object)
    for column in () if truth.label_column else sub.columns:
        values, bad = _convert([row[position[column.name]].strip() for row in rows], column.type)
        if bad:
            count = sum(len(rows) for rows in bad.values())
            raise TruthError(
                f"{where}: {_count(count, 'value')} of `{column.name}` "
                f"{'is' if count == 1 else 'are'} not valid {column.type} values. {organiser}"
            )
        columns[column.name] = pd.Series(values, dtype=DTYPES.get(column.type, "object"))
    odd_splits = sum(1 for s in splits if s not in SPLITS)
    if odd_splits:
        raise TruthError(
            f"{where}: {_count(odd_splits, 'row')} {'has' if odd_splits == 1 else 'have'} a "
            f"`{truth.split_column}` other than public or private. {organiser}"
        )
    for split in SPLITS:
        if split not in splits:
            raise TruthError(f"{where} has no {split} rows; both splits need rows to be scored. {organiser}")
    counts = Counter(ids)
    repeated = sum(1 for n in counts.values() if n > 1)
    expected = set(test_ids)
    unknown = sum(1 for i in counts if i not in expected)
    absent = sum(1 for i in expected if i not in counts)
    if repeated or unknown or absent:
        raise TruthError(
            f"{where} does not have the ids of {source}: {absent} test ids have no truth, {unknown} truth ids "
            f"are not test ids, {repeated} ids are repeated. {organiser}"
        )
    frame = pd.DataFrame({**columns, truth.split_column: pd.Series(splits, dtype=object)})
    frame.index = pd.Index(ids, name=sub.id_column)
    return frame.loc[list(test_ids)]
