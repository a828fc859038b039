"""Cold start: ``import alb502.handler`` loads only what a warm invocation needs."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    """Module names loaded by a fresh interpreter after running ``statement``."""
    script = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_handler_import_leaves_out_tooling_and_boto() -> None:
    loaded = _modules_after("import alb502.handler")
    assert "alb502.pipeline" in loaded  # the warm path itself is there
    # The local pipeline, traffic generator and demo are tooling (alb502.dev,
    # not in the bundle); boto3 is only needed when an object is read from
    # S3, which the first invocation does lazily (reader.s3_client).
    # Powertools imports the bare botocore package (its user-agent hook,
    # ~10 ms); botocore's sessions, clients and models are what weigh.
    unwanted = {
        name
        for name in loaded
        if name.split(".")[:2] == ["alb502", "dev"]
        or name.split(".")[0] in {"boto3", "moto", "s3transfer"}
        or name.startswith("botocore.")
    }
    assert unwanted == set()


def test_dev_modules_still_import() -> None:
    loaded = _modules_after(
        "import alb502.dev.athena_regex, alb502.dev.traffic, alb502.dev.local, alb502.dev.demo"
    )
    assert {"alb502.dev.local", "alb502.dev.traffic"} <= loaded


def test_handler_import_defers_what_only_a_call_needs() -> None:
    loaded = _modules_after("import alb502.handler")
    assert "aws_lambda_powertools.logging" in loaded  # its decorator runs at import
    # Powertools' batch processor brings asyncio and every event data class
    # (~65 ms CPU here); an SQS batch loads it on first use, a direct S3 or
    # EventBridge invocation never does. The emitter waits for an object.
    deferred = {
        name
        for name in loaded
        if name.split(".")[0] == "asyncio"
        or name.startswith("aws_lambda_powertools.utilities.batch")
        or name.startswith("aws_lambda_powertools.utilities.data_classes")
        or name == "alb502.metrics"
    }
    assert deferred == set()


def test_the_first_sqs_batch_loads_the_batch_processor() -> None:
    loaded = _modules_after(
        "from alb502 import handler\n"
        "from alb502.dev.local import FakeContext\n"
        "response = handler.lambda_handler({'Records': [{'eventSource': 'aws:sqs',"
        " 'messageId': 'm1', 'body': '{\"Event\": \"s3:TestEvent\"}'}]}, FakeContext())\n"
        "assert response == {'batchItemFailures': []}, response"
    )
    assert {"aws_lambda_powertools.utilities.batch", "asyncio"} <= loaded
