"""The Lambda bundle: built by pip for aarch64/cp313 without Docker, small enough."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import sys
from pathlib import Path

import pytest
from infra_synth import Synth
from packaging.markers import default_environment
from packaging.requirements import Requirement

from infra import bundling
from infra.bundling import MAX_UNZIPPED_BYTES, build_bundle, directory_size, pyarrow_version


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> bundling.BundleReport:
    return build_bundle(tmp_path_factory.mktemp("bundle") / "out")


@pytest.mark.slow
def test_bundle_size_and_pyarrow_version(bundle: bundling.BundleReport) -> None:
    assert bundle.unzipped_bytes == directory_size(bundle.path)
    # Lambda allows 250 MB unzipped; keep a margin for growth.
    assert bundle.unzipped_bytes < 200 * 1000 * 1000 == MAX_UNZIPPED_BYTES
    major = int(pyarrow_version(bundle.path).split(".")[0])
    # pyarrow 21+ only ships manylinux_2_28 aarch64 wheels: a 20 means pip
    # lost the platform tag and silently fell back.
    assert major >= 21


@pytest.mark.slow
def test_bundle_holds_aarch64_cp313_binaries(bundle: bundling.BundleReport) -> None:
    extensions = list((bundle.path / "pyarrow").glob("*.cpython-*.so"))
    assert extensions
    assert all(so.name.endswith(".cpython-313-aarch64-linux-gnu.so") for so in extensions)
    assert (bundle.path / "isal").is_dir()
    assert (bundle.path / "aws_lambda_powertools").is_dir()
    # boto3 comes from the Lambda runtime.
    assert not (bundle.path / "boto3").exists()


@pytest.mark.slow
def test_bundle_holds_exactly_the_lock(bundle: bundling.BundleReport) -> None:
    assert bundling.installed_versions(bundle.path) == bundling.locked_versions()


@pytest.mark.slow
def test_bundle_has_the_package_and_is_trimmed(bundle: bundling.BundleReport) -> None:
    handler = bundle.path / "alb502" / "handler.py"
    assert "def lambda_handler" in handler.read_text()
    assert (bundle.path / "alb502" / "fields.py").read_bytes() == (
        bundling.PACKAGE_DIR / "fields.py"
    ).read_bytes()
    assert not (bundle.path / "pyarrow" / "tests").exists()
    assert not (bundle.path / "pyarrow" / "include").exists()
    leftovers = [p for p in bundle.path.rglob("*") if p.suffix in (".pyx", ".pxd")]
    assert leftovers == []
    # Byte code only as bundling compiled it: for the runtime's 3.13, beside
    # a source (nothing compiled for the build interpreter is left over).
    stray = [
        p
        for p in bundle.path.rglob("*.pyc")
        if p.parent.name != "__pycache__"
        or not p.name.endswith(".cpython-313.pyc")
        or not (p.parent.parent / (p.name.split(".")[0] + ".py")).is_file()
    ]
    assert stray == []


def _pyc_flags(pyc: Path) -> int:
    """The flags word of a pyc header (PEP 552): 1 = hash-based, unchecked."""
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


@pytest.mark.slow
def test_bundle_ships_byte_code_for_every_module(bundle: bundling.BundleReport) -> None:
    if bundling.bytecode_python() is None:
        pytest.skip("no CPython 3.13 here: the bundle is built without byte code")
    sources = list(bundle.path.rglob("*.py"))
    assert len(sources) > 300
    missing = [
        s for s in sources if not (s.parent / "__pycache__" / f"{s.stem}.cpython-313.pyc").is_file()
    ]
    assert missing == []
    handler_pyc = bundle.path / "alb502" / "__pycache__" / "handler.cpython-313.pyc"
    assert _pyc_flags(handler_pyc) == 1
    assert b"/var/task/alb502/handler.py" in handler_pyc.read_bytes()


def test_byte_code_is_the_same_wherever_it_is_built(tmp_path: Path) -> None:
    python = bundling.bytecode_python()
    if python is None:
        pytest.skip("no CPython 3.13 here")
    built = []
    for where in ("one", "two/deeper"):
        root = tmp_path / where
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "mod.py").write_text("def f(x):\n    return {'a': x, 'b': (1, 2.5)}\n")
        bundling.compile_bytecode(root, python, "pkg")
        built.append((root / "pkg" / "__pycache__" / "mod.cpython-313.pyc").read_bytes())
    assert built[0] == built[1]
    assert _pyc_flags(tmp_path / "one" / "pkg" / "__pycache__" / "mod.cpython-313.pyc") == 1
    assert b"/var/task/pkg/mod.py" in built[0]


def test_bytecode_python_is_a_cpython_3_13(monkeypatch: pytest.MonkeyPatch) -> None:
    bundling.bytecode_python.cache_clear()
    monkeypatch.setattr(bundling, "BYTECODE_PYTHON_CANDIDATES", (sys.executable,))
    try:
        found = bundling.bytecode_python()
    finally:
        bundling.bytecode_python.cache_clear()
    # The test interpreter is 3.11 or 3.13: it is taken only when it is 3.13.
    assert (found == sys.executable) == (sys.version_info[:2] == (3, 13))


@pytest.mark.slow
def test_synth_stages_the_bundle_as_the_function_code(default_synth: Synth) -> None:
    (code,) = [
        r["Properties"]["Code"]
        for r in default_synth.raw["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Handler") == "alb502.handler.lambda_handler"
    ]
    asset_hash = code["S3Key"].removesuffix(".zip")
    assets = json.loads((default_synth.outdir / "Alb502.assets.json").read_text())
    staged = default_synth.outdir / assets["files"][asset_hash]["source"]["path"]
    assert (staged / "alb502" / "handler.py").is_file()
    assert (staged / "pyarrow").is_dir()
    assert directory_size(staged) < MAX_UNZIPPED_BYTES


def test_bundle_key_follows_requirements_and_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = bundling.bundle_key()
    assert bundling.bundle_key() == before

    lock = tmp_path / "runtime.lock"
    lock.write_text(bundling.RUNTIME_LOCK.read_text() + "# changed\n")
    deps_before = bundling.dependencies_key()
    monkeypatch.setattr(bundling, "RUNTIME_LOCK", lock)
    assert bundling.dependencies_key() != deps_before
    monkeypatch.undo()

    package = tmp_path / "alb502"
    package.mkdir()
    for source in bundling.PACKAGE_DIR.glob("*.py"):
        (package / source.name).write_bytes(source.read_bytes())
    monkeypatch.setattr(bundling, "PACKAGE_DIR", package)
    copied = bundling.bundle_key()
    (package / "fields.py").write_text((package / "fields.py").read_text() + "\n# edit\n")
    assert bundling.bundle_key() != copied


def _imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in a source file (lazy ones too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_handler_needs_only_what_the_bundle_and_runtime_hold() -> None:
    """Everything alb502.handler reaches imports only bundled or runtime packages."""
    bundled = {"pyarrow", "isal", "aws_lambda_powertools", "jmespath", "typing_extensions"}
    lambda_runtime = {"boto3", "botocore"}
    seen: set[str] = set()
    todo = ["alb502.handler"]
    third_party: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        source = bundling.PACKAGE_DIR / (module.removeprefix("alb502.").replace(".", "/") + ".py")
        for name in _imports(source):
            top = name.split(".")[0]
            if top == "alb502":
                if name != "alb502":
                    todo.append(name)
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    assert "alb502.pipeline" in seen
    assert third_party <= bundled | lambda_runtime, third_party - bundled - lambda_runtime


# -- requirements/runtime.lock ----------------------------------------------

RUNTIME_IN = bundling.REPO_ROOT / "requirements" / "runtime.in"
#: What Lambda's python3.13 arm64 runtime provides besides the bundle.
LAMBDA_PROVIDED = {"boto3", "botocore"}


def test_bundler_installs_from_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert bundling.RUNTIME_LOCK == bundling.REPO_ROOT / "requirements" / "runtime.lock"
    commands: list[list[str]] = []

    def fake_run(command: list[str], **_: object) -> None:
        commands.append(command)
        raise RuntimeError("stop before pip")

    monkeypatch.setattr(bundling, "CACHE_ROOT", tmp_path)
    monkeypatch.setattr(bundling.subprocess, "run", fake_run)
    with pytest.raises(RuntimeError, match="stop before pip"):
        bundling.ensure_dependencies()
    (command,) = commands
    assert command[command.index("-r") + 1] == str(bundling.RUNTIME_LOCK)
    assert "runtime.in" not in " ".join(command)


def test_lock_pins_runtime_in_at_the_same_versions() -> None:
    top_level = bundling.locked_versions(RUNTIME_IN)
    locked = bundling.locked_versions()
    assert top_level and {n: locked.get(n) for n in top_level} == top_level


def test_lock_is_what_the_dev_venv_runs() -> None:
    # The tests exercise the versions that ship.
    installed = {name: importlib.metadata.version(name) for name in bundling.locked_versions()}
    assert installed == bundling.locked_versions()


def test_lock_is_closed_under_dependencies() -> None:
    """Every dependency of a locked package (on Lambda's platform) is locked too."""
    environment = {
        **default_environment(),
        "python_version": "3.13",
        "python_full_version": "3.13.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "aarch64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    locked = bundling.locked_versions()
    for name in locked:
        for spec in importlib.metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            dependency = bundling.canonical_name(requirement.name)
            if dependency in LAMBDA_PROVIDED:
                continue
            assert dependency in locked, (name, spec)
            assert requirement.specifier.contains(locked[dependency]), (name, spec)


def _fake_dist(root: Path, name: str, version: str) -> None:
    info = root / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    info.joinpath("METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nName: not-a-header\n"
    )


def test_a_tree_that_is_not_the_lock_fails_the_build(tmp_path: Path) -> None:
    for line in bundling.RUNTIME_LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            _fake_dist(tmp_path, name, version)
    bundling.check_locked(tmp_path)  # exactly the lock: fine
    _fake_dist(tmp_path, "unpinned_extra", "1.0")
    with pytest.raises(RuntimeError, match=r"unpinned-extra==1\.0"):
        bundling.check_locked(tmp_path)


def test_lock_lines_must_be_exact_pins(tmp_path: Path) -> None:
    lock = tmp_path / "runtime.lock"
    lock.write_text("pyarrow>=21\n")
    with pytest.raises(ValueError, match="exact pin"):
        bundling.locked_versions(lock)


@pytest.mark.slow
def test_bundle_leaves_out_the_dev_tooling(bundle: bundling.BundleReport) -> None:
    assert (bundling.PACKAGE_DIR / "dev" / "local.py").is_file()
    assert not (bundle.path / "alb502" / "dev").exists()
    shipped = {p.relative_to(bundle.path / "alb502") for p in (bundle.path / "alb502").rglob("*")}
    assert all(p.parts[0] != "dev" for p in shipped)
    assert {"handler.py", "pipeline.py", "py.typed"} <= {p.name for p in shipped}


def test_bundle_key_ignores_dev_tooling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "alb502"
    (package / "dev").mkdir(parents=True)
    (package / "handler.py").write_text("# handler\n")
    (package / "dev" / "local.py").write_text("# tooling\n")
    monkeypatch.setattr(bundling, "PACKAGE_DIR", package)
    before = bundling.bundle_key()
    (package / "dev" / "local.py").write_text("# tooling, edited\n")
    assert bundling.bundle_key() == before
    (package / "handler.py").write_text("# handler, edited\n")
    assert bundling.bundle_key() != before
