"""The Lambda path costs no more than the command line: handler vs ``alb502 process``.

One generated object (1M lines by default, stamped an hour ago so its
metrics are inside CloudWatch's EMF window) is uploaded to moto's server
(S3 + SQS on 127.0.0.1, as in the end-to-end tests). Then, in alternating
rounds so that machine load affects all alike:

- ``alb502 process --out s3://... s3://...`` in a fresh process;
- the same command through ``alb502.cli.main`` in this process;
- ``lambda_handler`` on an SQS batch naming the object (runner as in
  ``alb502.dev.local``: the same message shape the event source mapping sends).

All three read the object from, and write the lake to, moto's S3. Prints
the medians and the ratio; the issue's target is handler <= 1.2x the
command line. Exit 1 if it is missed. Run it on a quiet machine.

    .venv/bin/python benchmarks/bench_handler.py [--lines N] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alb502 import cli
from alb502.dev.local import ACCOUNT, REGION, QueueRunner, create_pipeline, local_aws
from alb502.dev.traffic import generate_lines, object_key, write_object

LB = "app/shop-prod/50dc6c495c0c9188"
TARGET_RATIO = 1.2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    key = object_key(ACCOUNT, REGION, LB, start + timedelta(minutes=5), "10.0.0.9", "bench")
    timings: dict[str, list[float]] = {"cli, own process": [], "cli, in process": [], "handler": []}

    with tempfile.TemporaryDirectory() as tmp, local_aws() as aws:
        path = Path(tmp) / "object.log.gz"
        print(f"generating {args.lines:,} lines", file=sys.stderr)
        write_object(path, generate_lines(load_balancer=LB, start=start, lines=args.lines, seed=7))
        pipeline = create_pipeline(aws)
        s3, sqs = aws.client("s3"), aws.client("sqs")
        s3.create_bucket(Bucket="cli-lake")
        s3.upload_file(str(path), pipeline.log_bucket, key)
        time.sleep(1)
        # The upload's own notifications would re-run the object: start clean.
        sqs.purge_queue(QueueUrl=pipeline.queue_url)
        source = f"s3://{pipeline.log_bucket}/{key}"
        command = ["process", "--quiet", "--out", "s3://cli-lake/", source]
        body = json.dumps(
            {
                "Records": [
                    {
                        "eventSource": "aws:s3",
                        "eventName": "ObjectCreated:Put",
                        "s3": {"bucket": {"name": pipeline.log_bucket}, "object": {"key": key}},
                    }
                ]
            }
        )
        os.environ["ALB502_LAKE"] = pipeline.lake
        runner = QueueRunner(aws, pipeline)
        for n in range(args.rounds):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "alb502.cli", *command], check=True)
            timings["cli, own process"].append(time.perf_counter() - began)

            began = time.perf_counter()
            if cli.main(command) != 0:
                raise SystemExit("alb502 process failed")
            timings["cli, in process"].append(time.perf_counter() - began)

            sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=body)
            messages = runner.receive(wait_seconds=1)
            emf = io.StringIO()
            began = time.perf_counter()
            with contextlib.redirect_stdout(emf):  # EMF lines, as Lambda would ship them
                outcome = runner.invoke(messages)
            timings["handler"].append(time.perf_counter() - began)
            if outcome.failed or f'"LinesParsed":[{args.lines}.0]' not in emf.getvalue():
                raise SystemExit("the handler did not process the object")
            print(
                f"round {n + 1}: "
                + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in timings.items()),
                file=sys.stderr,
            )

    print(f"{args.lines:,} lines, {args.rounds} rounds (load average {os.getloadavg()[0]:.1f})")
    medians = {name: statistics.median(values) for name, values in timings.items()}
    for name, seconds in medians.items():
        print(f"  {name:<17} median {seconds:6.2f} s  {args.lines / seconds:>10,.0f} lines/s")
    ratio = medians["handler"] / min(medians["cli, own process"], medians["cli, in process"])
    verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
    print(f"  handler / fastest cli: {ratio:.2f} (target <= {TARGET_RATIO}) {verdict}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
