"""The Lambda bundle: built by pip for aarch64/cp313 without Docker, small enough."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest
from infra_synth import Synth

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
def test_bundle_has_the_package_and_is_trimmed(bundle: bundling.BundleReport) -> None:
    handler = bundle.path / "alb502" / "handler.py"
    assert "def lambda_handler" in handler.read_text()
    assert (bundle.path / "alb502" / "fields.py").read_bytes() == (
        bundling.PACKAGE_DIR / "fields.py"
    ).read_bytes()
    assert not (bundle.path / "pyarrow" / "tests").exists()
    assert not (bundle.path / "pyarrow" / "include").exists()
    leftovers = [
        p
        for p in bundle.path.rglob("*")
        if p.name == "__pycache__" or p.suffix in (".pyx", ".pxd", ".pyc")
    ]
    assert leftovers == []


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

    requirements = tmp_path / "runtime.in"
    requirements.write_text(bundling.RUNTIME_REQUIREMENTS.read_text() + "# changed\n")
    deps_before = bundling.dependencies_key()
    monkeypatch.setattr(bundling, "RUNTIME_REQUIREMENTS", requirements)
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
