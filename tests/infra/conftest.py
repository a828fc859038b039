"""Synthesized CDK apps, shared by the infrastructure tests.

Each configuration is synthesized once per session (cdk-nag runs as part of
every synthesis); tests read the template, the validation report and the
staged Lambda bundle from its output directory.
"""

from __future__ import annotations

import pytest
from infra_synth import (
    EVENT_BRIDGE,
    EXISTING_BUCKET,
    NO_BUNDLING,
    Synth,
    synthesize,
    synthesize_regions,
)


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """cdk.json as committed: a new log bucket, no load balancers listed."""
    return synthesize(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def existing_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """An existing log bucket and every option set."""
    return synthesize(tmp_path_factory.mktemp("cdk-existing"), {**EXISTING_BUCKET, **NO_BUNDLING})


@pytest.fixture(scope="session")
def eventbridge_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """An organization's bucket through EventBridge, an existing pager topic, lake retention."""
    return synthesize(tmp_path_factory.mktemp("cdk-eventbridge"), {**EVENT_BRIDGE, **NO_BUNDLING})


@pytest.fixture(scope="session")
def regions_synth(tmp_path_factory: pytest.TempPathFactory) -> list[Synth]:
    """The default stack in two regions of one account."""
    return synthesize_regions(tmp_path_factory.mktemp("cdk-regions"))
