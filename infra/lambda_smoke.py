"""``make lambda-smoke``: the exact Lambda bundle run on arm64 CPython 3.13.

Lambda runs the function on Graviton (aarch64) with python3.13; the bundle's
pyarrow and isal are aarch64 wheels no unit test ever loads. This runs them:

1. installs, if missing, Debian's ``qemu-user-static`` and ``debootstrap``
   (apt-get, printed before it runs);
2. builds, once, an arm64 Debian 13 (trixie) root under build/ from the
   mirror apt already uses: ``debootstrap --foreign`` fetches python3.13 and
   its dependencies, their packages are unpacked with ``dpkg-deb -x`` (no
   second stage, no binfmt, no Docker);
3. puts boto3 beside the bundle, as Lambda's runtime provides it (the
   versions of requirements/dev.lock; pure Python);
4. starts moto's S3 and SQS on 127.0.0.1 with the deployed wiring (log
   bucket -> queue), uploads a generated log object and takes the queue's
   message as the event source mapping would;
5. runs ``alb502.handler.lambda_handler`` from build/lambda-bundle (``make
   bundle``'s output, as is) under ``qemu-aarch64-static -L ROOT
   ROOT/usr/bin/python3.13`` on that event;
6. checks that no message failed, a Parquet object landed in the lake and
   EMF metrics were printed.

Slow under emulation (minutes); a separate target. ``python -m
infra.lambda_smoke [--lines N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from infra.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLE = REPO_ROOT / "build" / "lambda-bundle"
ROOT = REPO_ROOT / "build" / "arm64-trixie"
RUNTIME_PACKAGES = REPO_ROOT / "build" / "lambda-runtime-boto3"
DEV_LOCK = REPO_ROOT / "requirements" / "dev.lock"
#: What Lambda's python3.13 runtime adds to the bundle: boto3 and its tree
#: (jmespath is in the bundle already).
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "python-dateutil", "six", "urllib3")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
QEMU = "qemu-aarch64-static"

#: Runs inside the emulated python: Lambda's part, reduced to the handler call.
GUEST = """
import json, os, sys, time, uuid
started = time.perf_counter()
from alb502.handler import lambda_handler
imported = time.perf_counter() - started
from alb502.cpu import usable_cores

class Context:
    function_name = "alb502-smoke"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:alb502-smoke"
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    aws_request_id = str(uuid.uuid4())
    log_group_name = "/aws/lambda/alb502-smoke"
    log_stream_name = "smoke"
    _deadline = time.monotonic() + 1800
    def get_remaining_time_in_millis(self):
        return int((self._deadline - time.monotonic()) * 1000)

import platform
event = json.load(open(sys.argv[1]))
started = time.perf_counter()
response = lambda_handler(event, Context())
print("SMOKE " + json.dumps({
    "machine": platform.machine(), "python": platform.python_version(),
    "import_seconds": imported, "invoke_seconds": time.perf_counter() - started,
    "response": response, "cores": usable_cores(),
}))
"""


def say(text: str) -> None:
    print(f"lambda-smoke: {text}", file=sys.stderr, flush=True)


def run(command: list[str], **kwargs: object) -> None:
    say("$ " + " ".join(command))
    subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]


def _as_root(command: list[str]) -> list[str]:
    return command if os.geteuid() == 0 else ["sudo", *command]


def ensure_tools() -> None:
    """qemu-user-static and debootstrap from Debian, installed if missing."""
    missing = [
        package
        for package, tool in (("qemu-user-static", QEMU), ("debootstrap", "debootstrap"))
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists()
    ]
    if not missing:
        return
    say(f"installing {', '.join(missing)} with apt-get")
    install = _as_root(["apt-get", "install", "-y", "--no-install-recommends", *missing])
    try:
        run(install, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except subprocess.CalledProcessError:
        run(_as_root(["apt-get", "update"]))
        run(install, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def apt_mirror() -> str:
    """The Debian mirror apt already uses (deb822 or one-line sources)."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        if not path.is_file() or path.suffix not in (".list", ".sources"):
            continue
        for raw in path.read_text().splitlines():
            words = raw.split("#", 1)[0].split()
            urls = [w for w in words if w.startswith(("http://", "https://"))]
            for url in urls:
                if url.rstrip("/").endswith("/debian"):
                    return url.rstrip("/")
    return DEFAULT_MIRROR


def ensure_root() -> Path:
    """An arm64 trixie root with python3.13, built once under build/."""
    if (ROOT / ".complete").exists():
        return ROOT
    mirror = apt_mirror()
    staging = ROOT.with_name(ROOT.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    say(f"building the arm64 Debian 13 root in {ROOT} (once) from {mirror}")
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    run(
        _as_root(
            [
                debootstrap,
                "--foreign",
                "--arch=arm64",
                "--variant=minbase",
                "--include=python3.13",
                "trixie",
                str(staging),
                mirror,
            ]
        )
    )
    # --foreign unpacks only the essential packages; python3.13 and its
    # libraries are downloaded but left for the second stage: unpack them.
    debs = sorted((staging / "var" / "cache" / "apt" / "archives").glob("*.deb"))
    say(f"unpacking {len(debs)} packages with dpkg-deb -x")
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True)
    if not (staging / "usr" / "bin" / "python3.13").exists():
        raise RuntimeError(f"no usr/bin/python3.13 in {staging}")
    (staging / ".complete").write_text(mirror + "\n")
    shutil.rmtree(ROOT, ignore_errors=True)
    staging.rename(ROOT)
    return ROOT


def locked(names: tuple[str, ...]) -> list[str]:
    pins = {}
    for line in DEV_LOCK.read_text().splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            pins[name.lower()] = f"{name}=={version}"
    return [pins[name] for name in names]


def ensure_runtime_packages() -> Path:
    """boto3 and its dependencies as Lambda's runtime has them (pure Python)."""
    wanted = locked(RUNTIME_DISTRIBUTIONS)
    stamp = RUNTIME_PACKAGES / ".complete"
    if stamp.exists() and stamp.read_text().split() == wanted:
        return RUNTIME_PACKAGES
    shutil.rmtree(RUNTIME_PACKAGES, ignore_errors=True)
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            "--disable-pip-version-check",
            "--target",
            str(RUNTIME_PACKAGES),
            *wanted,
        ]
    )
    stamp.write_text("\n".join(wanted) + "\n")
    return RUNTIME_PACKAGES


def smoke(lines: int, work: Path) -> dict[str, object]:
    """Upload one object to moto, invoke the bundled handler under qemu, check."""
    from alb502.dev.local import create_pipeline, local_aws, sqs_event
    from alb502.dev.traffic import generate_lines, object_key, object_suffix, write_object

    if not (BUNDLE / "alb502" / "handler.py").is_file():
        raise RuntimeError(f"no bundle in {BUNDLE}: run `make bundle` first")
    root = ensure_root()
    runtime = ensure_runtime_packages()
    start = datetime(2026, 11, 20, 12, tzinfo=UTC)
    log = work / "object.log.gz"
    write_object(log, generate_lines(start=start, lines=lines, seed=502))
    with local_aws() as aws:
        pipeline = create_pipeline(aws)
        key = object_key(
            "123456789012",
            "us-east-1",
            "app/smoke/50dc6c495c0c9188",
            start.replace(minute=5),
            "10.0.1.17",
            object_suffix(1),
        )
        aws.client("s3").upload_file(str(log), pipeline.log_bucket, key)
        sqs = aws.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=pipeline.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=5,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            raise RuntimeError("the upload sent no message to the queue")
        event = work / "event.json"
        event.write_text(json.dumps(sqs_event(messages, pipeline.queue_arn)))
        guest = work / "invoke.py"
        guest.write_text(GUEST)
        env = {
            name: value
            for name, value in os.environ.items()
            if name.startswith("AWS_") or name in ("PATH", "LANG", "TZ")
        }
        env.update(
            PYTHONPATH=f"{BUNDLE}:{runtime}",
            # /var/task is read-only on Lambda: nothing is compiled into the bundle.
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONNOUSERSITE="1",
            ALB502_LAKE=pipeline.lake,
            AWS_LAMBDA_FUNCTION_NAME="alb502-smoke",
            # As Lambda sets it: the pipeline sizes its threads by it (alb502.cpu).
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(Settings().function_memory_mb),
            POWERTOOLS_SERVICE_NAME="alb502",
        )
        python = root / "usr" / "bin" / "python3.13"
        command = [QEMU, "-L", str(root), str(python), str(guest), str(event)]
        say(f"invoking the bundled handler on {lines:,} lines under {QEMU} (minutes)")
        say("$ " + " ".join(command))
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            raise RuntimeError(f"the handler exited with {done.returncode} under qemu")
        smoke_lines = [line for line in done.stdout.splitlines() if line.startswith("SMOKE ")]
        if not smoke_lines:
            raise RuntimeError("the handler printed no result")
        result: dict[str, object] = json.loads(smoke_lines[-1].removeprefix("SMOKE "))
        emf = [line for line in done.stdout.splitlines() if '"CloudWatchMetrics"' in line]
        listed = aws.client("s3").list_objects_v2(Bucket=pipeline.lake_bucket)
        lake = [o["Key"] for o in listed.get("Contents", [])]
    response = result["response"]
    failures = response.get("batchItemFailures") if isinstance(response, dict) else None
    checks = {
        "arm64 python 3.13": result["machine"] == "aarch64"
        and str(result["python"]).startswith("3.13."),
        "no failed message": failures == [],
        "an alb_logs Parquet object in the lake": any(
            k.startswith("alb_logs/") and k.endswith(".parquet") for k in lake
        ),
        "EMF metrics printed": bool(emf),
    }
    result.update(seconds=seconds, lake=lake, emf_lines=len(emf), checks=checks)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.lambda_smoke", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--lines", type=int, default=20_000, help="lines of the log object")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        ensure_tools()
        with tempfile.TemporaryDirectory(prefix="alb502-smoke-") as work:
            result = smoke(args.lines, Path(work))
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        print(f"lambda-smoke: FAIL: {error}", file=sys.stderr)
        return 1
    checks = result["checks"]
    assert isinstance(checks, dict)
    for text, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    print(
        f"{result['machine']} python {result['python']}: import {result['import_seconds']:.1f} s, "
        f"invoke {result['invoke_seconds']:.1f} s under emulation "
        f"(threads {'on' if result['cores'] != 1 else 'off'}: {result['cores']} core's worth); "
        f"{len(result['lake'])} lake objects, {result['emf_lines']} EMF lines; "  # type: ignore[arg-type]
        f"whole smoke {time.perf_counter() - started:.0f} s"
    )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
