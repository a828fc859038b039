"""usable_cores: the cores' worth of CPU the pipeline's threads may count on."""

from __future__ import annotations

import pytest

from alb502 import cpu


@pytest.fixture(autouse=True)
def four_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)


def test_outside_lambda_the_cores_the_process_may_run_on() -> None:
    assert cpu.usable_cores() == 4


@pytest.mark.parametrize(
    ("memory_mb", "cores"),
    [("128", 1), ("1769", 1), ("2048", 1), ("3008", 1), ("3538", 2), ("10240", 4)],
)
def test_on_lambda_the_cpu_that_memory_buys(
    monkeypatch: pytest.MonkeyPatch, memory_mb: str, cores: int
) -> None:
    """Lambda shows 2 vCPUs up to 3,008 MB, but grants one vCPU's worth per 1,769 MB."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb)
    assert cpu.usable_cores() == cores


def test_a_memory_size_that_is_no_number_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots")
    assert cpu.usable_cores() == 4
