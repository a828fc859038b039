"""How many cores' worth of CPU this process may use: whether threads pay.

The pipeline parses beside reading and encodes Parquet beside parsing.
That only pays when a second core runs the other thread: on one core the
threads share it, and the switches, cache misses and chunks in flight cost
about 7 % more CPU and 60 MB more memory on a 1M-line object (``make
bench``). Lambda shows two vCPUs at every memory size up to 3,008 MB but
grants CPU in proportion to memory, "the equivalent of one vCPU" at
1,769 MB (AWS Lambda Developer Guide, "Configure Lambda function memory").
"""

from __future__ import annotations

import os

#: Lambda memory (MB) that buys one vCPU-second of CPU per second.
LAMBDA_MB_PER_VCPU = 1769


def usable_cores() -> int:
    """Cores this process may run on, capped by what Lambda's memory setting buys."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    # Set by the Lambda runtime; absent elsewhere.
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit():
        cores = min(cores, max(1, int(memory) // LAMBDA_MB_PER_VCPU))
    return max(1, cores)
