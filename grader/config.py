"""competition.yaml: parsed once, checked once, frozen.

The JSON Schema shipped beside this module (``competition.schema.json``) is the one
description of the file: editors use it to complete and check, and :func:`load` uses it
to validate. Everything the schema cannot say (time zones, dates in order, units) is
checked here. Every mistake names the file and the key, and says what is allowed.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from grader.environment import Spec
from grader.environment import spec as environment_spec
from grader.errors import ConfigError

SCHEMA_PATH = Path(__file__).with_name("competition.schema.json")
CONFIG_NAME = "competition.yaml"
MAX_CONFIG_BYTES = 1_000_000

_SIZE_UNITS = {
    "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3,
    "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3,
}  # fmt: skip
_TIME_UNITS = {"s": 1, "m": 60, "h": 3600}


ColumnType = Literal["integer", "float", "string", "probability"]


@dataclass(frozen=True)
class Column:
    """A prediction column: its name in predictions.csv and the type of its values."""

    name: str
    type: ColumnType


@dataclass(frozen=True)
class Submission:
    directory: str
    predictions: str
    id_column: str
    prediction_column: str = ""  # one prediction column; "" when prediction_columns lists several
    prediction_type: ColumnType = "float"
    max_notebook_size: int = 1024**2
    max_predictions_size: int = 10 * 1024**2
    prediction_columns: tuple[Column, ...] = ()  # several prediction columns, in the declared order
    distribution: bool = False  # the prediction columns are class probabilities: each row sums to 1
    distribution_tolerance: float = 0.01  # how far from 1 a row's sum may be

    @property
    def columns(self) -> tuple[Column, ...]:
        """Every prediction column, in the declared order (one for the single-column contract)."""
        return self.prediction_columns or (Column(self.prediction_column, self.prediction_type),)

    @property
    def names(self) -> tuple[str, ...]:
        """The names of :attr:`columns`."""
        return tuple(column.name for column in self.columns)


@dataclass(frozen=True)
class Hub:
    """Data files kept in a Hugging Face dataset, pinned to a commit (see :mod:`grader.datasets`)."""

    repo: str  # OWNER/NAME of the dataset
    revision: str  # a commit: 40 hexadecimal characters
    files: dict[str, str]  # path in the dataset (and under data.directory) → sha256


@dataclass(frozen=True)
class Data:
    directory: Path
    test: Path
    hub: Hub | None = None  # files fetched before any run, beside the committed ones


@dataclass(frozen=True)
class Truth:
    """Where the hidden truth comes from (see :mod:`grader.truth`)."""

    split_column: str
    path: Path | None = None  # a local plain CSV: the demo, a teacher's laptop
    sealed: Path | None = None  # the committed, encrypted truth (`grader truth seal`)
    key_env: str = "GRADER_TRUTH_KEY"  # the variable holding the sealed truth's single-line key
    label_column: str | None = None  # with submission.distribution: the truth's one column of class labels


@dataclass(frozen=True)
class Metric:
    name: str
    greater_is_better: bool
    args: dict[str, Any] = field(default_factory=dict)
    secondary: tuple[Metric, ...] = ()  # shown beside the score, never ranked (each without a secondary of its own)


@dataclass(frozen=True)
class Limits:
    cell_timeout: float
    run_timeout: float
    memory: int
    max_output: int = 1024**2
    cpu_time: float = 0.0  # 0: the same as run_timeout
    processes: int = 64
    disk: int = 1024**3
    threads: int = 1


@dataclass(frozen=True)
class Quota:
    per_day: int
    count_failed: bool = False


@dataclass(frozen=True)
class Ranking:
    ties: Literal["earliest", "shared"]
    final_submissions: int = 2  # how many a participant may choose for the private board (0: choosing is off)


@dataclass(frozen=True)
class Competition:
    """The whole competition.yaml. Paths are absolute, resolved from ``root``."""

    root: Path
    title: str
    description: str
    start: datetime
    end: datetime
    timezone: tzinfo
    submission: Submission
    data: Data
    truth: Truth
    metric: Metric
    limits: Limits
    quota: Quota
    ranking: Ranking
    environment: Spec  # the notebooks' packages: requirements file and lock (grader.environment)
    sandbox: Literal["required", "auto", "off"] = "auto"
    late: Literal["refused", "scored"] = "refused"  # submissions after `end`: rejected, or scored apart and unranked
    teams: dict[str, tuple[str, ...]] = field(default_factory=dict)  # team name → member logins

    def entrant(self, login: str) -> str:
        """Who ``login`` competes as: their team's name, or the login itself.

        GitHub logins are case-insensitive, so team membership is too.
        """
        return self._team_of.get(login.casefold(), login)

    def members(self, entrant: str) -> tuple[str, ...]:
        """The logins of a team (as written in competition.yaml); ``(entrant,)`` for a solo participant."""
        return self.teams.get(entrant, (entrant,))

    @property
    def _team_of(self) -> dict[str, str]:
        return {login.casefold(): team for team, logins in self.teams.items() for login in logins}


def find(start: Path | None = None) -> Path:
    """Find competition.yaml in ``start`` or its parents (like git finds .git)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} in {here} or any folder above it. "
        "Run grader from the competition repository, or pass --config PATH.",
        path=CONFIG_NAME,
    )


def load(path: Path | str | None = None) -> Competition:
    """Read, validate and freeze a competition.yaml (found from the cwd when ``path`` is None)."""
    path = Path(path) if path is not None else find()
    shown = _shown(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"the file is larger than {MAX_CONFIG_BYTES} bytes.", path=shown)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found.", path=shown) from None
    except UnicodeDecodeError:
        raise ConfigError("the file is not UTF-8 text.", path=shown) from None
    except OSError as ex:
        raise ConfigError(f"cannot read the file ({ex.strerror}).", path=shown) from None
    return parse(text, root=path.resolve().parent, path=shown)


def _shown(path: Path) -> str:
    """The path as the user would write it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def parse(text: str, *, root: Path, path: str = CONFIG_NAME) -> Competition:
    """Validate the YAML ``text`` of a competition.yaml whose folder is ``root``."""
    raw = _load_yaml(text, path)
    _unquoted_digests(raw, path)
    _check_schema(raw, path)
    try:
        tz = ZoneInfo(raw["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {raw['timezone']!r}; use an IANA name such as UTC or Europe/Paris.",
            path=path,
            key="timezone",
        ) from None
    start = _datetime(raw["start"], tz, path, "start")
    end = _datetime(raw["end"], tz, path, "end")
    if end <= start:
        raise ConfigError(f"the end ({raw['end']}) must come after the start ({raw['start']}).", path=path, key="end")

    sub = dict(raw["submission"])
    for key in ("max_notebook_size", "max_predictions_size"):
        if key in sub:
            sub[key] = parse_size(sub[key])
    submission = _submission(sub, path)

    truth_raw = raw["truth"]
    if "env" in truth_raw:
        raise ConfigError(
            "`env` is no longer supported: a truth kept in a multi-line secret can be probed through GitHub's "
            "masking of the public log. Seal it instead: `grader truth seal truth.csv` writes the file named by "
            "`sealed:` (commit it) and prints a one-line key to store as the secret GRADER_TRUTH_KEY; then "
            "replace `env:` with `sealed: truth/truth.csv.sealed` (see docs/github.md).",
            path=path,
            key="truth.env",
        )
    if "path" not in truth_raw and "sealed" not in truth_raw:
        raise ConfigError(
            "give `sealed` (the encrypted truth `grader truth seal` writes), `path` (a local file), or both.",
            path=path,
            key="truth",
        )
    truth = Truth(
        split_column=truth_raw["split_column"],
        path=root / truth_raw["path"] if "path" in truth_raw else None,
        sealed=root / truth_raw["sealed"] if "sealed" in truth_raw else None,
        key_env=truth_raw.get("key_env", Truth.key_env),
        label_column=truth_raw.get("label_column"),
    )
    _check_label_column(submission, truth, path)
    lim = raw["limits"]
    limits = Limits(
        cell_timeout=parse_duration(lim["cell_timeout"]),
        run_timeout=parse_duration(lim["run_timeout"]),
        memory=parse_size(lim["memory"]),
        max_output=parse_size(lim.get("max_output", Limits.max_output)),
        cpu_time=parse_duration(lim.get("cpu_time", lim["run_timeout"])),
        processes=lim.get("processes", Limits.processes),
        disk=parse_size(lim.get("disk", Limits.disk)),
        threads=lim.get("threads", Limits.threads),
    )
    if limits.cell_timeout > limits.run_timeout:
        raise ConfigError("must not be longer than limits.run_timeout.", path=path, key="limits.cell_timeout")
    if limits.memory < 64 * 1024**2:
        raise ConfigError(
            "must be at least 64 MiB; a Python kernel needs that much to start.", path=path, key="limits.memory"
        )
    return Competition(
        root=root,
        title=raw["title"],
        description=raw.get("description", ""),
        start=start,
        end=end,
        timezone=tz,
        submission=submission,
        data=_data(raw["data"], root, path),
        truth=truth,
        metric=_metric(raw["metric"], path),
        limits=limits,
        quota=Quota(**raw["quota"]),
        ranking=Ranking(**raw["ranking"]),
        environment=environment_spec(root, raw.get("environment")),
        sandbox=raw.get("sandbox", "auto"),
        late=raw.get("late", "refused"),
        teams=_teams(raw.get("teams", {}), path),
    )


def _unquoted_digests(raw: dict[str, Any], path: str) -> None:
    """A sha256 made of digits (and one `e`) reads as a number in YAML: say so before the schema says `type`."""
    hub = raw.get("data", {}).get("hub") if isinstance(raw.get("data"), dict) else None
    files = hub.get("files") if isinstance(hub, dict) else None
    for name, value in (files or {}).items() if isinstance(files, dict) else ():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ConfigError(
                f'this sha256 reads as a number; put it in quotes, e.g. {name}: "0123…".',
                path=path,
                key=f"data.hub.files.{name}",
            )


def _data(raw: dict[str, Any], root: Path, path: str) -> Data:
    """The ``data`` mapping. A fetched file is not also another one's folder, and the test ids stay in git."""
    hub = None
    if "hub" in raw:
        files = dict(raw["hub"]["files"])
        folders = {"/".join(name.split("/")[:i]) for name in files for i in range(1, name.count("/") + 1)}
        clash = sorted(folders & set(files))
        if clash:
            raise ConfigError(
                f"{clash[0]} is both a file and a folder of another file.", path=path, key="data.hub.files"
            )
        hub = Hub(repo=raw["hub"]["repo"], revision=raw["hub"]["revision"], files=files)
        test = (root / raw["test"]).resolve()
        if test.is_relative_to((root / raw["directory"]).resolve()):
            inside = test.relative_to((root / raw["directory"]).resolve()).as_posix()
            if inside in files:
                raise ConfigError(
                    f"{raw['test']} is also in data.hub.files; keep it in git: the scoring jobs read its ids "
                    "without fetching anything. Put large test features in a file of their own on the Hub.",
                    path=path,
                    key="data.test",
                )
    return Data(directory=root / raw["directory"], test=root / raw["test"], hub=hub)


def _submission(sub: dict[str, Any], path: str) -> Submission:
    """The ``submission`` mapping: one prediction column, or several (``prediction_columns``), checked."""
    single = [key for key in ("prediction_column", "prediction_type") if key in sub]
    if "prediction_columns" in sub:
        if single:
            raise ConfigError(
                f"give either prediction_columns (several columns) or prediction_column and prediction_type "
                f"(one column), not both; remove {' and '.join(single)}.",
                path=path,
                key="submission",
            )
        sub["prediction_columns"] = tuple(Column(c["name"], c["type"]) for c in sub["prediction_columns"])
    else:
        missing = [key for key in ("prediction_column", "prediction_type") if key not in sub]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required here "
                "(or list several columns in prediction_columns).",
                path=path,
                key="submission",
            )
        for key in ("distribution", "distribution_tolerance"):
            if key in sub:
                raise ConfigError(
                    "applies only to prediction_columns (several probability columns).",
                    path=path,
                    key=f"submission.{key}",
                )
    submission = Submission(**sub)
    if submission.id_column == submission.prediction_column:
        raise ConfigError("must differ from submission.id_column.", path=path, key="submission.prediction_column")
    names = [column.name for column in submission.prediction_columns]
    for i, name in enumerate(names):
        if name == submission.id_column:
            raise ConfigError(
                f"the column {name!r} is also submission.id_column; name it differently.",
                path=path,
                key=f"submission.prediction_columns.{i}.name",
            )
        if name in names[:i]:
            raise ConfigError(
                f"the column {name!r} is listed twice; list each column once.",
                path=path,
                key=f"submission.prediction_columns.{i}.name",
            )
    if submission.distribution:
        odd = [c.name for c in submission.prediction_columns if c.type != "probability"]
        if odd or len(names) < 2:
            raise ConfigError(
                "a distribution needs two or more columns, all of type probability (one per class)"
                + (f"; {', '.join(map(repr, odd))} {'is' if len(odd) == 1 else 'are'} not" if odd else "")
                + ".",
                path=path,
                key="submission.distribution",
            )
    return submission


def _metric(raw: dict[str, Any], path: str) -> Metric:
    """The ``metric`` mapping, with its secondary metrics (each name once: it labels their column)."""
    secondary: list[Metric] = []
    for i, extra in enumerate(raw.get("secondary", [])):
        name = extra["name"].strip()
        if name in (m.name for m in secondary):
            raise ConfigError(
                f"{name} is listed twice; list each secondary metric once.", path=path, key=f"metric.secondary.{i}.name"
            )
        secondary.append(
            Metric(name=name, greater_is_better=extra["greater_is_better"], args=dict(extra.get("args", {})))
        )
    return Metric(
        name=raw["name"], greater_is_better=raw["greater_is_better"], args=dict(raw.get("args", {})),
        secondary=tuple(secondary),
    )  # fmt: skip


def _check_label_column(submission: Submission, truth: Truth, path: str) -> None:
    """``truth.label_column`` is given exactly when the predictions are a distribution, and is its own column."""
    if submission.distribution and truth.label_column is None:
        raise ConfigError(
            "is required when submission.distribution is true: name the truth's column of class labels "
            "(each label the name of a prediction column).",
            path=path,
            key="truth.label_column",
        )
    if not submission.distribution and truth.label_column is not None:
        raise ConfigError(
            "applies only when submission.distribution is true (probabilities scored against one label "
            "column); otherwise the truth has the prediction columns themselves. Remove it.",
            path=path,
            key="truth.label_column",
        )
    if truth.label_column in (submission.id_column, truth.split_column):
        raise ConfigError(
            "must differ from submission.id_column and truth.split_column.", path=path, key="truth.label_column"
        )


def _teams(raw: dict[str, list[str]], path: str) -> dict[str, tuple[str, ...]]:
    """The ``teams`` mapping, checked: a login in one team at most, no team named like a member."""
    seen: dict[str, str] = {}
    for team, logins in raw.items():
        for login in logins:
            other = seen.setdefault(login.casefold(), team)
            if other != team:
                raise ConfigError(
                    f"{login} is in both {other} and {team}; a login belongs to one team at most.",
                    path=path,
                    key=f"teams.{team}",
                )
    for team in raw:
        if team.casefold() in seen:
            raise ConfigError(
                f"the team name {team} is also the login of a member of {seen[team.casefold()]}; "
                "rename the team so that its entry cannot be confused with a participant.",
                path=path,
                key=f"teams.{team}",
            )
    return {team: tuple(logins) for team, logins in raw.items()}


def parse_size(value: int | str) -> int:
    """``2 GiB`` → 2147483648. Integers are bytes."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG]i?B|B)\s*", value, re.IGNORECASE)
    if not match:
        raise ValueError(f"{value!r} is not a size; write bytes or e.g. '2 GiB', '500 MB'")
    return int(float(match[1]) * _SIZE_UNITS[match[2].upper()])


def parse_duration(value: float | int | str) -> float:
    """``10m`` → 600.0. Numbers are seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smh])\s*", value)
    if not match:
        raise ValueError(f"{value!r} is not a duration; write seconds or e.g. '90s', '10m', '1h'")
    return float(match[1]) * _TIME_UNITS[match[2]]


def format_duration(seconds: float) -> str:
    """60 → '60 s', 180 → '3 min', 7200 → '2 h': how limits read in competition.yaml."""
    if seconds >= 7200 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def format_size(n: int) -> str:
    """2147483648 → '2 GiB' (the shortest exact-enough binary unit)."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{n} B"


def _load_yaml(text: str, path: str) -> dict[str, Any]:
    import yaml

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        """SafeLoader that keeps dates as strings (the schema checks them), reads `on`/`off`/`yes`/`no` as
        words (YAML 1.2: only true/false are booleans, so `sandbox: off` means off), and refuses duplicate
        keys and aliases (an alias bomb would expand to gigabytes in the first message that quotes it)."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise ConfigError(
                    f"line {event.start_mark.line + 1}: aliases (*{str(event.anchor)[:40]}) are not supported; "
                    "write the value out where it is used.",
                    path=path,
                )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise ConfigError(
                        f"the key {key!r} appears twice (line {key_node.start_mark.line + 1}).", path=path
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    Loader.yaml_implicit_resolvers = {
        first: [
            (tag, regexp)
            for tag, regexp in resolvers
            if tag != "tag:yaml.org,2002:timestamp" and not (tag == "tag:yaml.org,2002:bool" and first in "yYnNoO")
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    try:
        raw = yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise ConfigError("the file is nested too deeply to be a competition.yaml.", path=path) from None
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(ex, "problem", None) or str(ex).splitlines()[0]
        raise ConfigError(f"not valid YAML{where}: {problem}.", path=path) from None
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping of keys (title:, start:, ...), not a single value or a list.", path=path)
    return raw


def _check_schema(raw: dict[str, Any], path: str) -> None:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ConfigError(
            _explain(errors[0], schema), path=path, key=".".join(map(str, errors[0].absolute_path)) or None
        )


def _explain(error: Any, schema: dict[str, Any]) -> str:
    """One sentence a teacher can act on, from a jsonschema error (a quoted value is cut short)."""
    import reprlib

    cut = reprlib.Repr()
    cut.maxstring, cut.maxother, cut.maxlist, cut.maxdict, cut.maxlevel = 80, 80, 4, 4, 2
    short = cut.repr
    sub = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        allowed = sorted(sub.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return "; ".join(hints) + f". Allowed keys: {', '.join(allowed)}."
    if error.validator == "required":
        return f"{error.message.split(' is a required')[0]} is required here."
    if error.validator == "enum":
        return f"{short(error.instance)} is not allowed; use one of: {', '.join(map(str, error.validator_value))}."
    if error.validator in ("oneOf", "pattern", "anyOf"):
        description = sub.get("description") or _resolve_description(sub, schema)
        return f"{short(error.instance)} is not valid. {description}".strip()
    if error.validator == "type":
        return f"{short(error.instance)} should be of type {error.validator_value}."
    return str(error.message) + "."


def _resolve_description(sub: dict[str, Any], schema: dict[str, Any]) -> str:
    ref = sub.get("$ref", "")
    if ref.startswith("#/$defs/"):
        return str(schema["$defs"][ref.rsplit("/", 1)[1]].get("description", ""))
    return ""


def _datetime(value: str, tz: tzinfo, path: str, key: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{value!r} is not a date; write e.g. 2027-01-31T23:59:59+01:00.", path=path, key=key
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
