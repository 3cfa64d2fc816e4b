"""competition.yaml: the shipped one loads; every mistake names the key and what is allowed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from grader import config
from grader.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "competition.yaml").read_text(encoding="utf-8")


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def error(text: str, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        config.parse(text, root=tmp_path)
    return str(caught.value)


def test_shipped_competition_loads_with_units_and_timezone() -> None:
    c = config.load(ROOT / "competition.yaml")
    assert c.title == "Handwritten digits"
    assert c.limits.cell_timeout == 60 and c.limits.run_timeout == 180
    assert c.limits.memory == 2 * 1024**3
    assert c.submission.max_notebook_size == 1024**2
    assert str(c.timezone) == "Europe/Paris"
    assert c.start.utcoffset().total_seconds() == 3600  # naive dates are read in the competition's zone
    assert c.truth.path == ROOT / "examples" / "truth.csv" and c.truth.sealed is None
    assert c.truth.key_env == "GRADER_TRUTH_KEY"
    assert c.metric.name == "accuracy_score" and c.metric.greater_is_better is True


def test_shipped_competition_matches_the_json_schema() -> None:
    schema = json.loads(config.SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    raw = yaml.safe_load(SHIPPED)
    raw["start"], raw["end"] = (str(raw[k]).replace(" ", "T") for k in ("start", "end"))  # YAML makes them dates
    jsonschema.validate(raw, schema)


def test_found_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "competition.yaml").write_text(SHIPPED, encoding="utf-8")
    (tmp_path / "submissions" / "alice").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "submissions" / "alice")
    assert config.load().root == tmp_path


def test_missing_file_says_where_it_looked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not from tmp_path: a competition.yaml in any folder above it (a checkout holding the temporary
    # folder) would be found. Nothing can be written in /proc, and / holds no competition.
    monkeypatch.chdir("/proc")
    with pytest.raises(ConfigError, match=r"no competition\.yaml in .* or any folder above it"):
        config.load()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  per_day: 5", "  per_dya: 5", "quota: unknown key 'per_dya' (did you mean 'per_day'?)"),
        ("ranking:", "rankng:", "unknown key 'rankng' (did you mean 'ranking'?)"),
        ("ties: earliest", "ties: first", "ranking.ties: 'first' is not allowed; use one of: earliest, shared."),
        ("memory: 2 GiB", "memory: 2 gigs", "limits.memory: '2 gigs' is not valid. A size:"),
        ("cell_timeout: 60s", "cell_timeout: soon", "limits.cell_timeout: 'soon' is not valid. A duration:"),
        ("cell_timeout: 60s", "cell_timeout: 10m", "limits.cell_timeout: must not be longer than limits.run_timeout."),
        ("timezone: Europe/Paris", "timezone: Mars/Olympus", "timezone: unknown time zone 'Mars/Olympus'"),
        ("end: 2027-03-01T00:00:00", "end: 2026-10-01T00:00:00", "end: the end (2026-10-01T00:00:00) must come after"),
        ("end: 2027-03-01T00:00:00", "end: next spring", "end: 'next spring' is not valid."),
        (
            "  greater_is_better: true",
            "  greater_is_better: yes please",
            "metric.greater_is_better: 'yes please' should be of type boolean.",
        ),
        (
            "prediction_type: integer",
            "prediction_type: int",
            "submission.prediction_type: 'int' is not allowed; use one of: integer, float, string, probability.",
        ),
        ("  per_day: 5", "  per_day: 0", "quota.per_day: 0 is less than the minimum of 1."),
        ("memory: 2 GiB", "memory: 10 MiB", "limits.memory: must be at least 64 MiB"),
        ("  name: accuracy_score", "  name: os.system('x')", "metric.name: \"os.system('x')\" is not valid."),
        (
            "  id_column: id",
            "  id_column: label",
            "submission.prediction_column: must differ from submission.id_column.",
        ),
        (
            "  path: examples/truth.csv",
            "  path: /etc/passwd",
            "truth.path: '/etc/passwd' is not valid. A path relative",
        ),
    ],
)
def test_a_mistake_names_the_key_and_what_is_allowed(tmp_path: Path, old: str, new: str, expected: str) -> None:
    message = error(edit(SHIPPED, old, new), tmp_path)
    assert message.startswith("competition.yaml: ")
    assert expected in message


def test_missing_required_section(tmp_path: Path) -> None:
    text = SHIPPED.split("ranking:")[0]
    assert "'ranking' is required here." in error(text, tmp_path)


def test_truth_needs_a_source(tmp_path: Path) -> None:
    text = re.sub(r"(?m)^  path: examples/truth.csv.*$", "", SHIPPED)
    assert "truth: give `sealed`" in error(text, tmp_path)


def test_truth_sealed_and_its_key_variable(tmp_path: Path) -> None:
    text = SHIPPED.replace(
        "  split_column: split", "  sealed: truth/t.sealed\n  key_env: MY_KEY\n  split_column: split"
    )
    (tmp_path / "competition.yaml").write_text(text)
    truth = config.load(tmp_path / "competition.yaml").truth
    assert (truth.sealed, truth.key_env) == (tmp_path / "truth" / "t.sealed", "MY_KEY")


def test_the_old_truth_env_is_refused_with_how_to_move(tmp_path: Path) -> None:
    """A multi-line truth secret can be probed through GitHub's log masking: `env` is gone, with a way out."""
    text = SHIPPED.replace("  split_column: split", "  env: GRADER_TRUTH\n  split_column: split")
    message = error(text, tmp_path)
    assert "truth.env" in message and "`env` is no longer supported" in message
    assert "grader truth seal" in message and "GRADER_TRUTH_KEY" in message and "sealed:" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "must be a mapping of keys"),
        ("- a\n- b\n", "must be a mapping of keys"),
        ("title: [unclosed\n", "not valid YAML at line"),
        ("title: a\ntitle: b\n", "the key 'title' appears twice (line 2)"),
        ("!!python/object/apply:os.system ['echo pwned']\n", "not valid YAML"),
    ],
)
def test_hostile_or_broken_yaml(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error(text, tmp_path)


ALIAS_BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else '0'] * 9)}]\n" for i in range(9))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 9**9 items once expanded: a message that quoted it would never end.
        (ALIAS_BOMB + "title: *l8\n", "competition.yaml: line 2: aliases (*l0) are not supported; write the value out"),
        (edit(SHIPPED, "title: Handwritten digits", "title: &t Digits\ndescription: *t"), "line 5: aliases (*t)"),
        ("title: " + "[" * 100_000 + "]" * 100_000 + "\n", "competition.yaml: the file is nested too deeply"),
        (edit(SHIPPED, "title: Handwritten digits", "title: " + json.dumps(["x" * 5000] * 3)), "title: ['xxxxx"),
    ],
)
def test_yaml_that_explodes_is_refused_fast_with_one_line(tmp_path: Path, text: str, expected: str) -> None:
    message = error(text, tmp_path)
    assert expected in message
    assert "\n" not in message and len(message) < 400


def test_sandbox_off_as_documented_is_the_word_off_not_false(tmp_path: Path) -> None:
    (tmp_path / "competition.yaml").write_text(edit(SHIPPED, "sandbox: auto", "sandbox: off"), encoding="utf-8")
    assert config.load(tmp_path / "competition.yaml").sandbox == "off"


def test_not_utf8_and_too_large(tmp_path: Path) -> None:
    bad = tmp_path / "competition.yaml"
    bad.write_bytes(b"title: caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load(bad)
    bad.write_bytes(b"#" * (config.MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError, match="larger than"):
        config.load(bad)


@pytest.mark.parametrize(
    ("text", "size"), [("2 GiB", 2 * 1024**3), ("500 MB", 500_000_000), ("1.5KiB", 1536), (42, 42)]
)
def test_sizes(text: str | int, size: int) -> None:
    assert config.parse_size(text) == size


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1.5h", 5400), (7, 7.0)])
def test_durations(text: str | int, seconds: float) -> None:
    assert config.parse_duration(text) == seconds
