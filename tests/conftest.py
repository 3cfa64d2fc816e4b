"""Shared test settings: where the repository and the shared corpus of real inputs are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The corpus of real notebooks and GitHub payloads sits beside the repository (../shared/corpus).
CORPUS = ROOT.parent / "shared" / "corpus"

if not (CORPUS / "notebooks").is_dir():
    raise RuntimeError(f"the shared corpus is missing: expected it at {CORPUS}")
