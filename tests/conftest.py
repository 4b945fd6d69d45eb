"""Shared fixtures: the real TeleChat3 tokenizer and the registry corpus, both from ../shared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def telechat3() -> Path:
    path = SHARED / "tokenizers" / "telechat3"
    if not (path / "tokenizer.model").exists():
        pytest.skip(f"the TeleChat3 tokenizer is not at {path} (../shared/tokenizers/telechat3)")
    return path


@pytest.fixture(scope="session")
def registry_corpus() -> Path:
    """~145 MB of real code in 12+ languages, built once from the package registries and cached."""
    script = SHARED / "scripts" / "build_corpus.sh"
    if not script.exists():
        pytest.skip(f"{script} is absent: cannot build the registry corpus")
    target = Path(os.environ.get("CURATION_TEST_CORPUS", ROOT / ".cache" / "corpus"))
    done = target / ".complete"
    if not done.exists():
        pip = str(Path(sys.executable).with_name("pip"))
        proc = subprocess.run(["bash", str(script), str(target)], env={**os.environ, "PIP": pip},
                              capture_output=True, text=True, timeout=900)
        src = target / "src"
        size = sum(f.stat().st_size for f in src.rglob("*") if f.is_file()) if src.exists() else 0
        if size < 100 * 2**20:
            pytest.skip(f"could not build the registry corpus ({size / 2**20:.0f} MB): {proc.stdout[-500:]}"
                        f"{proc.stderr[-500:]}")
        done.touch()
    return target / "src"


def load_benchmark(name: str):
    """A module of benchmarks/ (its per-language helpers are what some tests check)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`curate ...` as a user runs it, in a subprocess."""
    exe = Path(sys.executable).with_name("curate")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=1800, cwd=ROOT)


@pytest.fixture(scope="session")
def demo_run(telechat3, tmp_path_factory) -> Path:
    """`curate demo` as README command 1 runs it (offline, embedded inputs), with the real tokenizer
    and 2 tasks: one run shared by the tests that read the demo's output."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    proc = run_cli("demo", "--out", str(out), "--tokenizer", str(telechat3), "--tasks", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out
