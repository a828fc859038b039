"""Build the Lambda bundle locally, without Docker.

pip installs the locked runtime dependency tree (``requirements/runtime.lock``)
for the Lambda platform (manylinux aarch64, CPython 3.13) into a cache
directory keyed by the lock file, checks that it installed exactly the
locked packages and versions, the bundle is trimmed of what never runs, and the
``alb502`` package is copied beside them, without its ``dev`` subpackage
(the local pipeline, the traffic generator, the demo: tooling). Everything
is then compiled to bytecode by a CPython 3.13, when one is found (see
``compile_bytecode``). CDK calls ``LocalBundler`` before
it would try Docker; it always succeeds or raises, so Docker is never used.

``python -m infra.bundling [OUT]`` builds the bundle and prints its size.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, BundlingOutput, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO_ROOT / "functions" / "alb502"
#: Every package of the bundle, pinned (runtime.in is the hand-edited list
#: of top-level ones it is generated from).
RUNTIME_LOCK = REPO_ROOT / "requirements" / "runtime.lock"
#: Subpackages of alb502 that are tooling and never run in Lambda.
DEV_PACKAGES = ("dev",)
#: Installed dependency trees, one per lock hash (gitignored).
CACHE_ROOT = REPO_ROOT / "build" / "lambda-deps"

#: Bump when the install or trim steps change, so cached trees are rebuilt.
BUNDLER_VERSION = "3"

#: pyarrow 21+ publishes only manylinux_2_28 aarch64 wheels; without that
#: tag pip silently settles on pyarrow 20. Lambda's python3.13 runtime
#: (Amazon Linux 2023, glibc 2.34) runs both tags.
PIP_TARGET_ARGS: tuple[str, ...] = (
    "--platform",
    "manylinux_2_28_aarch64",
    "--platform",
    "manylinux2014_aarch64",
    "--only-binary=:all:",
    "--python-version",
    "3.13",
    "--implementation",
    "cp",
)

#: Where Lambda unpacks the bundle (``LAMBDA_TASK_ROOT``): the source path
#: the byte code names, so tracebacks show the files as they are deployed.
TASK_ROOT = "/var/task"
#: The interpreter that compiles the byte code: the runtime's minor version.
BYTECODE_PYTHON = (3, 13)
#: Places a CPython 3.13 is looked for when the build interpreter is not one.
BYTECODE_PYTHON_CANDIDATES = (
    "python3.13",
    os.path.join(
        os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv")),
        "versions",
        "3.13*",
        "bin",
        "python3.13",
    ),
)

#: Lambda's own limit is 250 MB unzipped; stay well under it.
MAX_UNZIPPED_BYTES = 200 * 1000 * 1000

# Never imported at run time: test suites, C++ headers and sources, Cython
# sources, console scripts, byte code compiled for the build interpreter.
_TRIM_DIRS = ("pyarrow/tests", "pyarrow/include", "pyarrow/src", "bin")
_TRIM_SUFFIXES = (".pyx", ".pxd", ".pxi", ".h", ".hpp", ".cc", ".cpp")


class BundlingError(Exception):
    """The bundle cannot be built here (one line, shown as is by ``make synth``)."""


@dataclass(frozen=True)
class BundleReport:
    """What one built bundle holds."""

    path: Path
    unzipped_bytes: int
    pyarrow_version: str

    def summary(self) -> str:
        return (
            f"lambda bundle {self.path}: {self.unzipped_bytes / 1e6:.1f} MB unzipped "
            f"(limit 250 MB), pyarrow {self.pyarrow_version}"
        )


def _digest(paths: list[Path], base: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(base).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest


def dependencies_key() -> str:
    """Hash of what decides the installed dependencies."""
    digest = _digest([RUNTIME_LOCK], RUNTIME_LOCK.parent)
    digest.update(BUNDLER_VERSION.encode())
    digest.update(" ".join(PIP_TARGET_ARGS).encode())
    # With or without byte code: different bundles, different hashes.
    digest.update(b"pyc313" if bytecode_python() else b"source-only")
    return digest.hexdigest()[:16]


def _shipped(path: Path) -> bool:
    """Whether a file under PACKAGE_DIR belongs in the bundle."""
    parts = path.relative_to(PACKAGE_DIR).parts
    return (
        path.is_file()
        and parts[0] not in DEV_PACKAGES
        and "__pycache__" not in parts
        and path.suffix != ".pyc"
    )


def _package_files() -> list[Path]:
    """The package's files the bundle ships (tooling left out)."""
    return [p for p in PACKAGE_DIR.rglob("*") if _shipped(p)]


def bundle_key() -> str:
    """Hash of the whole bundle: dependencies plus the shipped package sources.

    Used as the CDK asset hash, so the function is updated exactly when
    either changes.
    """
    digest = _digest(_package_files(), PACKAGE_DIR)
    digest.update(dependencies_key().encode())
    return digest.hexdigest()


def _trim(root: Path) -> None:
    for rel in _TRIM_DIRS:
        shutil.rmtree(root / rel, ignore_errors=True)
    for path in list(root.rglob("*")):
        if path.is_dir() and path.name == "__pycache__":
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in _TRIM_SUFFIXES:
            path.unlink()


def _is_bytecode_python(path: str) -> bool:
    # A pyenv shim or an alias may answer to the name and run another version.
    probe = "import sys; print(sys.implementation.name, *sys.version_info[:2])"
    try:
        done = subprocess.run([path, "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.split() == ["cpython", *map(str, BYTECODE_PYTHON)]


@functools.cache
def bytecode_python() -> str | None:
    """A CPython 3.13 to compile the bundle with, or None if there is none here."""
    if sys.implementation.name == "cpython" and sys.version_info[:2] == BYTECODE_PYTHON:
        return sys.executable
    for candidate in BYTECODE_PYTHON_CANDIDATES:
        found = [shutil.which(candidate), *sorted(glob.glob(candidate), reverse=True)]
        for path in found:
            if path and _is_bytecode_python(path):
                return path
    return None


def compile_bytecode(root: Path, python: str, subdir: str = "") -> None:
    """Compile every ``.py`` under ``root / subdir`` to ``__pycache__/*.cpython-313.pyc``.

    /var/task is read-only, so without these every cold start compiles
    every module it imports, every time. Unchecked-hash pyc hold no mtime
    (the bytes depend only on the source and the interpreter, so two builds
    give the same files) and are loaded without looking at the source: the
    bundle never changes after it is built. Source paths read ``/var/task/...``.
    """
    command = [
        python,
        "-m",
        "compileall",
        "-q",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(root),
        "-p",
        TASK_ROOT,
        str(root / subdir),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        raise BundlingError(f"cannot compile the bundle with {python}: {(lines or ['?'])[-1]}")


def ensure_dependencies() -> Path:
    """The installed, trimmed dependency tree for the current requirements.

    Built once per requirements hash; later calls return the cached tree.
    """
    target = CACHE_ROOT / dependencies_key()
    if (target / ".complete").exists():
        return target
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=CACHE_ROOT))
    try:
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--disable-pip-version-check",
            "--target",
            str(staging),
            *PIP_TARGET_ARGS,
            "-r",
            str(RUNTIME_LOCK),
        ]
        print("bundling: " + " ".join(command[1:]), file=sys.stderr)
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("ERROR")] or lines or ["?"]
            raise BundlingError(
                "cannot install the Lambda bundle's manylinux aarch64 / CPython 3.13 wheels "
                f"({errors[-1]}); synth needs PyPI (or the pip index pip is configured "
                f"with) once per requirements/runtime.lock, then uses {CACHE_ROOT}"
            )
        check_locked(staging)
        _trim(staging)
        python = bytecode_python()
        if python:
            compile_bytecode(staging, python)
        (staging / ".complete").write_text(pyarrow_version(staging) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def canonical_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path | None = None) -> dict[str, str]:
    """``{canonical name: version}`` of every ``name==version`` line of a lock file."""
    pins: dict[str, str] = {}
    for raw in (lock or RUNTIME_LOCK).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version.strip() or any(c in name for c in "<>=!~;[ "):
            raise ValueError(f"{lock or RUNTIME_LOCK}: not an exact pin: {raw!r}")
        pins[canonical_name(name)] = version.strip()
    return pins


def installed_versions(root: Path) -> dict[str, str]:
    """``{canonical name: version}`` of the distributions installed under ``root``."""
    found: dict[str, str] = {}
    for info in root.glob("*.dist-info"):
        fields: dict[str, str] = {}
        for line in (info / "METADATA").read_text().splitlines():
            if not line:
                break  # end of the headers; the description follows
            key, _, value = line.partition(": ")
            fields.setdefault(key, value)
        found[canonical_name(fields["Name"])] = fields["Version"]
    return found


def check_locked(root: Path) -> None:
    """Refuse a tree that is not exactly the lock: pip resolves unpinned
    transitive dependencies on its own, which would make the bundle drift."""
    installed = installed_versions(root)
    locked = locked_versions()
    if installed != locked:
        extra = sorted(f"{n}=={v}" for n, v in installed.items() if locked.get(n) != v)
        missing = sorted(f"{n}=={v}" for n, v in locked.items() if installed.get(n) != v)
        raise RuntimeError(
            f"pip installed {extra} not in {RUNTIME_LOCK.name}, and not {missing}: "
            f"regenerate {RUNTIME_LOCK.name} from runtime.in (see its header)"
        )


def pyarrow_version(root: Path) -> str:
    """pyarrow's version in an installed tree, from its dist-info."""
    version = installed_versions(root).get("pyarrow")
    if version is None:
        raise RuntimeError(f"no pyarrow in {root}")
    return version


def _link_or_copy(src: str, dst: str) -> object:
    # Hard links make a repeated synth cost nothing; across file systems
    # (or where links are refused) fall back to a copy.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def directory_size(root: Path) -> int:
    """Bytes of all regular files under ``root``: Lambda's unzipped size."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def build_bundle(out_dir: Path) -> BundleReport:
    """Fill ``out_dir`` (empty or absent) with the complete Lambda bundle."""
    deps = ensure_dependencies()
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        deps,
        out_dir,
        dirs_exist_ok=True,
        copy_function=_link_or_copy,
        ignore=shutil.ignore_patterns(".complete"),
    )
    for source in _package_files():
        target = out_dir / PACKAGE_DIR.name / source.relative_to(PACKAGE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    python = bytecode_python()
    if python:
        compile_bytecode(out_dir, python, PACKAGE_DIR.name)
    else:
        print(
            "bundling: no CPython 3.13 found (python3.13 on PATH or under pyenv): the "
            "bundle ships no byte code, so every cold start compiles what it imports",
            file=sys.stderr,
        )
    report = BundleReport(out_dir, directory_size(out_dir), pyarrow_version(out_dir))
    if report.unzipped_bytes > MAX_UNZIPPED_BYTES:
        raise RuntimeError(report.summary() + f": over {MAX_UNZIPPED_BYTES / 1e6:.0f} MB")
    print(report.summary(), file=sys.stderr)
    return report


@jsii.implements(ILocalBundling)
class LocalBundler:
    """CDK's local bundling hook: builds the bundle, never defers to Docker."""

    # jsii hands the BundlingOptions struct over as one positional argument.
    def try_bundle(self, output_dir: str, _options: Any = None, **_kwargs: Any) -> bool:
        build_bundle(Path(output_dir))
        return True


def lambda_code() -> lambda_.Code:
    """The function's code asset, bundled locally and hashed by its inputs."""
    return lambda_.Code.from_asset(
        str(PACKAGE_DIR),
        asset_hash=bundle_key(),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(
            # Required by the API, never pulled: LocalBundler always succeeds.
            image=DockerImage.from_registry("unused"),
            local=LocalBundler(),
            output_type=BundlingOutput.NOT_ARCHIVED,
        ),
    )


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else REPO_ROOT / "build" / "lambda-bundle"
    shutil.rmtree(out, ignore_errors=True)
    try:
        build_bundle(out)  # prints its summary
    except BundlingError as error:
        print(f"bundling: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
