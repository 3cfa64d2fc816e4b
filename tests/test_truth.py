"""The truth sealed at rest (grader.truth): `grader truth seal` / `check`, and scoring from the sealed file.

The truth is never a secret (GitHub masks each line of a secret in the public log, which turns
any student text a scoring job prints into an oracle); it is committed encrypted and the only
secret is a single-line key. These tests run the real CLI in a subprocess on real files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import config, truth
from grader import result as results
from grader.config import Competition
from grader.errors import TruthError
from grader.result import Result
from grader.score import score_run
from grader.truth import load as load_truth

IDS = ["10203", "10729", "10730", "10925", "11010", "11020", "11030", "11040", "11050", "11060"]
LABELS = [1, 2, 5, 6, 1, 0, 3, 3, 9, 2]
SPLITS = ["private", "public", "private", "private", "public", "public", "private", "public", "public", "private"]

YAML = """\
title: Sealed truth
start: 2026-11-01T00:00:00
end: 2027-03-01T00:00:00
timezone: Europe/Paris
submission:
  directory: submissions
  predictions: predictions.csv
  id_column: id
  prediction_column: label
  prediction_type: integer
data:
  directory: data
  test: data/test.csv
truth:
  path: truth/truth.csv
  sealed: truth/truth.csv.sealed
  split_column: split
metric:
  name: accuracy_score
  greater_is_better: true
limits:
  cell_timeout: 60s
  run_timeout: 3m
  memory: 2 GiB
quota:
  per_day: 5
ranking:
  ties: earliest
"""


def truth_text(labels: list[int] = LABELS, splits: list[str] = SPLITS, ids: list[str] = IDS) -> str:
    return "id,label,split\n" + "".join(f"{i},{v},{s}\n" for i, v, s in zip(ids, labels, splits, strict=True))


def make(root: Path, *, ids: list[str] = IDS, text: str | None = None) -> Path:
    """A competition folder (a git repository) with a plain truth at truth/truth.csv."""
    (root / "data").mkdir(parents=True)
    (root / "data" / "test.csv").write_text("id,px0\n" + "".join(f"{i},0\n" for i in ids))
    (root / "truth").mkdir()
    (root / "truth" / "truth.csv").write_text(text if text is not None else truth_text())
    (root / "competition.yaml").write_text(YAML)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def grader(*args: str, cwd: Path, key: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real `grader` command; $GRADER_TRUTH_KEY is exactly ``key`` (unset when None)."""
    env = {k: v for k, v in os.environ.items() if k != "GRADER_TRUTH_KEY"}
    if key is not None:
        env["GRADER_TRUTH_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


def printed_key(proc: subprocess.CompletedProcess[str]) -> str:
    keys = [line for line in proc.stdout.splitlines() if len(line) == 44 and " " not in line]
    assert len(keys) == 1, proc.stdout
    return keys[0]


def comp(root: Path) -> Competition:
    return config.load(root / "competition.yaml")


def assert_no_truth(text: str) -> None:
    """No row of the truth, and no id of it, in ``text``."""
    for line in truth_text().splitlines()[1:]:
        assert line not in text
    for i in IDS:
        assert i not in text


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Path, str]:
    """A competition whose truth `grader truth seal` sealed, and the key it printed."""
    root = make(tmp_path / "comp")
    proc = grader("truth", "seal", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root, printed_key(proc)


# --- seal, then load ----------------------------------------------------------------------------


def test_seal_then_load_round_trip(sealed: tuple[Path, str]) -> None:
    root, key = sealed
    body = (root / "truth" / "truth.csv.sealed").read_text()
    header, token, end = body.split("\n")
    assert header == truth.HEADER + truth.key_id(key) and token.startswith("gAAAAA") and end == ""
    assert_no_truth(body)
    (root / "truth" / "truth.csv").unlink()  # CI has only the sealed file and the key
    frame = load_truth(comp(root), {"GRADER_TRUTH_KEY": key})
    assert list(frame.index) == IDS and list(frame["label"]) == LABELS and list(frame["split"]) == SPLITS


def test_seal_prints_the_key_and_how_to_store_it(tmp_path: Path) -> None:
    root = make(tmp_path / "comp")
    proc = grader("truth", "seal", cwd=root)
    assert proc.returncode == 0, proc.stderr
    key = printed_key(proc)
    assert "gh secret set GRADER_TRUTH_KEY --env scoring" in proc.stdout
    assert "Sealed 10 rows (5 public, 5 private) into truth/truth.csv.sealed" in proc.stdout
    assert f"key id {truth.key_id(key)}" in proc.stdout
    assert_no_truth(proc.stdout + proc.stderr)


def test_with_the_key_set_the_sealed_truth_wins_and_without_it_the_plain_file(sealed: tuple[Path, str]) -> None:
    root, key = sealed
    other = [(v + 1) % 10 for v in LABELS]
    (root / "truth" / "truth.csv").write_text(truth_text(other))
    assert list(load_truth(comp(root), {"GRADER_TRUTH_KEY": key})["label"]) == LABELS
    assert list(load_truth(comp(root), {})["label"]) == other
    check = grader("truth", "check", cwd=root, key=key)  # the teacher edited the plain file and forgot to seal
    assert check.returncode == 1
    assert "differs from truth/truth.csv: seal again with `grader truth seal --force`" in check.stderr


def test_score_run_scores_against_the_sealed_truth(sealed: tuple[Path, str], tmp_path: Path) -> None:
    root, key = sealed
    (root / "truth" / "truth.csv").unlink()
    run = tmp_path / "run"
    run.mkdir()
    results.write(
        Result(status="completed", run_id="r1", notebook="a.ipynb", notebook_sha256="0" * 64,
               started_at="2026-11-02T10:00:00+00:00", runtime_seconds=1.0, predictions="predictions.csv"),
        run,
    )  # fmt: skip
    (run / "predictions.csv").write_text("id,label\n" + "".join(f"{i},{v}\n" for i, v in zip(IDS, LABELS, strict=True)))
    scored = score_run(run, comp(root), {"GRADER_TRUTH_KEY": key})
    assert (scored.public_score, scored.private_score) == (1.0, 1.0)


def test_a_large_truth_is_compressed_and_has_no_secret_size_limit(tmp_path: Path) -> None:
    """GitHub secrets stop at 48 KB; a sealed file does not, and gzip keeps it small."""
    ids = [str(100000 + n) for n in range(50000)]
    labels = [n % 10 for n in range(50000)]
    splits = ["public" if n % 2 else "private" for n in range(50000)]
    root = make(tmp_path / "comp", ids=ids, text=truth_text(labels, splits, ids))
    plain = (root / "truth" / "truth.csv").stat().st_size
    proc = grader("truth", "seal", cwd=root)
    assert proc.returncode == 0, proc.stderr
    size = (root / "truth" / "truth.csv.sealed").stat().st_size
    assert plain > 48 * 1024 * 10 and size < plain / 4, (plain, size)
    frame = load_truth(comp(root), {"GRADER_TRUTH_KEY": printed_key(proc)})
    assert list(frame["label"]) == labels


# --- what sealing refuses -------------------------------------------------------------------------


def test_seal_refuses_a_broken_truth_and_writes_nothing(tmp_path: Path) -> None:
    root = make(tmp_path / "comp", text=truth_text(splits=["public"] * len(IDS)))
    proc = grader("truth", "seal", cwd=root)
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: the truth file truth/truth.csv has no private rows; both splits need rows to be scored. "
        "This is the organiser's error: fix the truth, not the submission.\n"
    )
    assert not (root / "truth" / "truth.csv.sealed").exists()
    assert sorted(p.name for p in (root / "truth").iterdir()) == ["truth.csv"]


def test_seal_refuses_a_truth_without_the_test_ids(tmp_path: Path) -> None:
    root = make(tmp_path / "comp", text=truth_text(ids=[*IDS[:-1], "99999"]))
    proc = grader("truth", "seal", cwd=root)
    assert proc.returncode == 2 and "1 test ids have no truth, 1 truth ids are not test ids" in proc.stderr
    assert "99999" not in proc.stderr and not (root / "truth" / "truth.csv.sealed").exists()


def test_seal_does_not_overwrite_silently_and_keeps_the_key_when_it_is_set(sealed: tuple[Path, str]) -> None:
    root, key = sealed
    path = root / "truth" / "truth.csv.sealed"
    before = path.read_bytes()
    again = grader("truth", "seal", cwd=root, key=key)
    assert again.returncode == 2 and "truth/truth.csv.sealed exists; pass --force" in again.stderr
    assert path.read_bytes() == before
    forced = grader("truth", "seal", "--force", cwd=root, key=key)
    assert forced.returncode == 0, forced.stderr
    assert "the secret GRADER_TRUTH_KEY stays as it is" in forced.stdout and key not in forced.stdout
    assert path.read_bytes() != before  # a new token (Fernet is randomised) under the same key
    assert list(load_truth(comp(root), {"GRADER_TRUTH_KEY": key})["label"]) == LABELS


def test_rotation_makes_a_new_key_and_the_old_one_stops_opening(sealed: tuple[Path, str]) -> None:
    root, old = sealed
    rotated = grader("truth", "seal", "--force", "--new-key", cwd=root, key=old)
    assert rotated.returncode == 0, rotated.stderr
    new = printed_key(rotated)
    assert new != old
    assert grader("truth", "check", cwd=root, key=new).returncode == 0
    stale = grader("truth", "check", cwd=root, key=old)
    assert stale.returncode == 2
    assert f"(key id {truth.key_id(new)}; this key's id is {truth.key_id(old)})" in stale.stderr


def test_seal_warns_when_git_would_commit_the_plain_truth(tmp_path: Path) -> None:
    root = make(tmp_path / "comp")
    proc = grader("truth", "seal", cwd=root)
    assert "warning: truth/truth.csv is not ignored by git: add it to .gitignore" in proc.stderr
    (root / "truth" / "truth.csv.sealed").unlink()
    (root / ".gitignore").write_text("/truth/*.csv\n")
    ignored = grader("truth", "seal", cwd=root)
    assert ignored.returncode == 0 and "warning" not in ignored.stderr


def test_seal_needs_a_sealed_path_in_the_config(tmp_path: Path) -> None:
    root = make(tmp_path / "comp")
    (root / "competition.yaml").write_text(YAML.replace("  sealed: truth/truth.csv.sealed\n", ""))
    proc = grader("truth", "seal", cwd=root)
    assert proc.returncode == 2 and "truth: has no `sealed:` path; add e.g. `sealed:" in proc.stderr


# --- what opening refuses: one line that says what to fix, never the truth ----------------------


def opening_error(root: Path, key: str | None) -> str:
    (root / "truth" / "truth.csv").unlink(missing_ok=True)  # as in CI: no plain file to fall back on
    with pytest.raises(TruthError) as caught:
        load_truth(comp(root), {} if key is None else {"GRADER_TRUTH_KEY": key})
    proc = grader("truth", "check", cwd=root, key=key)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1  # one line
    assert_no_truth(str(caught.value) + proc.stderr)
    return str(caught.value)


def test_wrong_key(sealed: tuple[Path, str]) -> None:
    root, key = sealed
    other = truth.new_key()
    assert opening_error(root, other) == (
        f"$GRADER_TRUTH_KEY is not the key truth/truth.csv.sealed was sealed with (key id {truth.key_id(key)}; "
        f"this key's id is {truth.key_id(other)}). Set the secret GRADER_TRUTH_KEY to that key, or seal it again "
        "with `grader truth seal` and commit truth/truth.csv.sealed."
    )


def test_missing_key(sealed: tuple[Path, str]) -> None:
    root, _ = sealed
    assert opening_error(root, None) == (
        "no ground truth to score against: set $GRADER_TRUTH_KEY to the key truth/truth.csv.sealed was sealed "
        "with (in a workflow: the secret of that name) or create truth/truth.csv (truth.path in competition.yaml)."
    )


@pytest.mark.parametrize("broken", ["truncated", "flipped", "header", "empty", "missing"])
def test_damaged_sealed_file(sealed: tuple[Path, str], broken: str) -> None:
    root, key = sealed
    path = root / "truth" / "truth.csv.sealed"
    header, token = path.read_text().splitlines()
    if broken == "truncated":
        path.write_text(header + "\n" + token[: len(token) // 2])
    elif broken == "flipped":
        middle = len(token) // 2
        path.write_text(header + "\n" + token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :])
    elif broken == "header":
        path.write_text(token + "\n")
    elif broken == "empty":
        path.write_text("")
    else:
        path.unlink()
    message = opening_error(root, key)
    reseal = "seal it again with `grader truth seal` and commit truth/truth.csv.sealed."
    assert (
        message
        == {
            "truncated": f"truth/truth.csv.sealed is damaged (it does not open with its own key); {reseal}",
            "flipped": f"truth/truth.csv.sealed is damaged (it does not open with its own key); {reseal}",
            "header": f"truth/truth.csv.sealed is not a sealed truth made by `grader truth seal`; {reseal}",
            "empty": f"truth/truth.csv.sealed is not a sealed truth made by `grader truth seal`; {reseal}",
            "missing": "the sealed truth truth/truth.csv.sealed is missing: run `grader truth seal` and commit it "
            "(truth.sealed in competition.yaml).",
        }[broken]
    )


@pytest.mark.parametrize("where", ["inside", "space"])
def test_a_key_is_one_line_without_spaces(sealed: tuple[Path, str], where: str) -> None:
    """The key is the only secret, and it is one line: a key split over lines is refused, not half-used."""
    root, key = sealed
    broken = key[:20] + ("\n" if where == "inside" else " ") + key[20:]
    assert opening_error(root, broken) == (
        "$GRADER_TRUTH_KEY must be one line without spaces: the 44-character key `grader truth seal` printed. "
        "Store it again with `gh secret set GRADER_TRUTH_KEY --env scoring` and paste only the key."
    )


def test_a_key_with_a_trailing_newline_is_fine(sealed: tuple[Path, str]) -> None:
    """`gh secret set < key.txt` and copy-paste add a newline around the key; it is not part of it."""
    root, key = sealed
    (root / "truth" / "truth.csv").unlink()
    assert list(load_truth(comp(root), {"GRADER_TRUTH_KEY": f"  {key}\n"})["label"]) == LABELS
    assert grader("truth", "check", cwd=root, key=key + "\n").returncode == 0


def test_not_a_key(sealed: tuple[Path, str]) -> None:
    root, _ = sealed
    assert opening_error(root, "10203,1,private") == (
        "$GRADER_TRUTH_KEY is not a truth key (44 characters of URL-safe base64, as `grader truth seal` prints). "
        "Store the key the truth was sealed with as the secret GRADER_TRUTH_KEY."
    )


def test_check_says_what_opens_and_that_it_matches(sealed: tuple[Path, str]) -> None:
    root, key = sealed
    proc = grader("truth", "check", cwd=root, key=key)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        f"✓ the sealed truth truth/truth.csv.sealed opens with the key of id {truth.key_id(key)}: 10 rows "
        "(5 public, 5 private), exactly the test ids.\n✓ it is the same as truth/truth.csv.\n"
    )


def test_the_key_decides_which_truth_is_read_and_each_is_checked(tmp_path: Path) -> None:
    """A key given to `seal` through the environment is used as is; the plain file is checked on its own."""
    root = make(tmp_path / "comp")
    key = truth.new_key()
    proc = grader("truth", "seal", cwd=root, key=key)
    assert proc.returncode == 0
    (root / "truth" / "truth.csv").write_text(truth_text(splits=["x"] * len(IDS)))
    local = comp(root)
    with pytest.raises(TruthError, match="10 rows have a `split` other than public or private"):
        load_truth(local, {})
    frame = load_truth(local, {"GRADER_TRUTH_KEY": key})
    assert list(frame["split"]) == SPLITS and "Sealed with the key in $GRADER_TRUTH_KEY" in proc.stdout
