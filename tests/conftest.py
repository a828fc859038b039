"""Shared fixtures: the team's spec folder beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: ../shared beside the repository: the spec, AWS's examples, the peer corpus.
SHARED = ROOT.parent / "shared"


@pytest.fixture
def shared() -> Path:
    """The shared spec folder; tests that need it skip where it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the repository")
    return SHARED
