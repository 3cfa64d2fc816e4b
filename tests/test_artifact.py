"""The evaluate run's artifact is hostile data: JSON built to crash the reader is refused in one line."""

from __future__ import annotations

from pathlib import Path

import conftest
import pytest

from grader import artifact, config, result

SHA = "a" * 40
DEEP = "[" * 20_000 + "]" * 20_000  # within every size cap, far past the parser's recursion limit


def unpack_with(tmp_path: Path, name: str, text: str) -> artifact.Unpacked:
    folder = tmp_path / "artifact"
    folder.mkdir()
    artifact.write_claim(folder, 7, SHA)
    result.write(
        result.Result(status="completed", run_id="r", notebook="n.ipynb", notebook_sha256="0" * 64,
                      started_at="2026-11-02T10:00:00Z", runtime_seconds=1.0),
        folder,
    )  # fmt: skip
    (folder / name).write_text(text, encoding="utf-8")
    return artifact.unpack(folder, tmp_path / "run", config.load(conftest.ROOT / "competition.yaml"))


def test_a_deeply_nested_result_is_a_refusal_not_a_crash(tmp_path: Path) -> None:
    unpacked = unpack_with(tmp_path, result.RESULT_NAME, '{"status": ' + DEEP + "}")
    assert unpacked.result is None
    assert unpacked.problem is not None and unpacked.problem.endswith(
        "result.json: nested too deeply; this is not a result.json written by grader."
    )


@pytest.mark.parametrize("text", [DEEP, '{"number": ' + DEEP + "}"])
def test_a_deeply_nested_claim_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(artifact.ArtifactRefused, match=r"^the artifact's pull_request.json is not valid JSON\.$"):
        unpack_with(tmp_path, artifact.PULL_REQUEST_NAME, text)
