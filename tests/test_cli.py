"""The CLI: every command documented with an example, instant help, configs validated with clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, run_cli, write_config

from curation.cli import HANDLERS, build_parser, handler
from curation.load import load_pipeline, read_pipeline_config
from curation.schema import ConfigError

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)  # what `curate` accepts


def test_commands_are_found():
    assert {"run", "validate", "inspect", "demo", "status", "plan", "train-quality", "recall-text"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example_and_code(command):
    proc = run_cli(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "example" in proc.stdout and f"curate {command}" in proc.stdout
    assert callable(handler(command)), f"curate {command}: {HANDLERS.get(command)} is not importable"


def test_every_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    subcommands = build_parser()._subparsers._group_actions[0].choices
    for command in subcommands:
        assert f"curate {command}" in readme, f"README does not document `curate {command}`"


def test_help_does_not_import_the_heavy_stack():
    code = ("import sys, curation.cli as c; c.build_parser().format_help(); "
            "print(sorted(m for m in ('datatrove', 'pyarrow', 'transformers', 'duckdb', 'sentencepiece', 'numpy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_shipped_configs_validate():
    files = sorted(str(p) for d in ("pipelines", "filters", "mixtures") for p in (ROOT / d).glob("*.yaml"))
    assert len(files) >= 4
    proc = run_cli("validate", *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("ok ") == len(files)


def test_invalid_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "pipelines" / "broken.yaml"
    bad.parent.mkdir()
    bad.write_text("name: x\ninputs:\n  code: {kind: repos, paths: [a]\n")
    proc = run_cli("validate", str(bad))
    assert proc.returncode == 1
    assert str(bad) in proc.stdout and "invalid YAML (line" in proc.stdout


def test_unknown_key_names_the_key_path(tmp_path):
    cfg = write_config(tmp_path / "p.yaml", {"name": "x", "inputs": {"code": {"kind": "repos", "paths": ["a"]}},
                                             "pack": {"seq_len": 8192, "seqlen": 4}})
    with pytest.raises(ConfigError) as err:
        load_pipeline(cfg)
    assert str(cfg) in str(err.value) and "pack.seqlen: unknown key" in str(err.value)
    proc = run_cli("run", str(cfg), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "pack.seqlen: unknown key" in proc.stderr
    assert not (tmp_path / "out").exists(), "an invalid config must not start a run"


def test_wrong_type_names_key_and_reason(tmp_path):
    cfg = write_config(tmp_path / "p.yaml", {"name": "x", "inputs": {"code": {"kind": "repos", "paths": ["a"]}},
                                             "executor": {"tasks": "many"}})
    with pytest.raises(ConfigError, match=r"executor\.tasks: Input should be a valid integer"):
        load_pipeline(cfg)


def test_set_overrides_any_key(tmp_path):
    cfg = read_pipeline_config(ROOT / "pipelines" / "stage1_8k.yaml",
                               ["inputs.code.paths=[/data/repos, /data/more]", "pack.seq_len=4096", "executor.tasks=16"])
    assert cfg.inputs["code"].paths == ["/data/repos", "/data/more"]
    assert cfg.pack.seq_len == 4096 and cfg.executor.tasks == 16
    with pytest.raises(ConfigError, match=r"pack\.seq_lenn: unknown key"):
        load_pipeline(ROOT / "pipelines" / "stage1_8k.yaml", ["pack.seq_lenn=1"])
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        load_pipeline(ROOT / "pipelines" / "stage1_8k.yaml", ["pack.seq_len"])


def test_missing_input_path_fails_before_any_work(tmp_path):
    cfg = write_config(tmp_path / "p.yaml", {"name": "x", "inputs": {"code": {"kind": "repos",
                                                                              "paths": [str(tmp_path / "nope")]}}})
    proc = run_cli("run", str(cfg), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert f"inputs.code.paths: {tmp_path / 'nope'}: no such file or directory" in proc.stderr


def test_inspect_on_a_missing_folder_is_a_clear_error(tmp_path):
    proc = run_cli("inspect", str(tmp_path / "missing"))
    assert proc.returncode == 1 and "not an output folder" in proc.stderr


def test_inspect_sql_errors_are_one_clear_line(tmp_path):
    (tmp_path / "docs").mkdir()
    proc = run_cli("inspect", str(tmp_path), "--sql", "SELECT nope FROM nowhere")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def _small_config(tmp_path, **changes) -> dict:
    """A real stage-1 config over one real repository (this checkout), before any change."""
    data = {"name": "x", "inputs": {"code": {"kind": "repos", "paths": [str(ROOT / "curation")], "layout": "repo"}},
            "filters": str(ROOT / "filters" / "code.yaml"), "mixture": str(ROOT / "mixtures" / "stage1_8k.yaml"),
            "quality": {"heuristic": True}}
    data.update(changes)
    return data


@pytest.mark.parametrize("change, where, why", [
    ({"mixture": "MIXTURE"}, "groups.code.sources.kode", "no input of this pipeline is named 'kode'"),
    ({"filters": "missing/rules.yaml"}, "filters: missing/rules.yaml", "no such file"),
    ({"quality": {"heuristic": True, "thresholds": {"score_code_heuristc_v1": {"min": 0.2}}}},
     "quality.thresholds: score_code_heuristc_v1", "no step of this pipeline writes such a column"),
    ({"quality": {"heuristic": True, "thresholds": {"score_code_heuristic_v2": {"min": 0.9, "max": 0.1}}}},
     "quality.thresholds.score_code_heuristic_v2", "min 0.9 is above max 0.1"),
])
def test_a_wrong_reference_fails_before_any_stage(tmp_path, change, where, why):
    """A typo in the mixture, a missing rule set or a bad threshold: `curate run` stops at once,
    naming the file, the key and the reason, and writes nothing."""
    if change.get("mixture") == "MIXTURE":
        text = (ROOT / "mixtures" / "stage1_8k.yaml").read_text().replace("      code: {", "      kode: {")
        assert "kode:" in text
        (tmp_path / "mix.yaml").write_text(text)
        change = {"mixture": str(tmp_path / "mix.yaml")}
    cfg = write_config(tmp_path / "p.yaml", _small_config(tmp_path, **change))
    proc = run_cli("run", str(cfg), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert where in proc.stderr and why in proc.stderr and str(tmp_path) in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists(), "nothing may be written before the config holds"


def test_the_small_config_itself_is_valid(tmp_path):
    cfg = write_config(tmp_path / "p.yaml", _small_config(tmp_path))
    pipeline = load_pipeline(cfg)
    assert pipeline.rules is not None and pipeline.mixture is not None
    proc = run_cli("validate", str(cfg))
    assert proc.returncode == 0, proc.stdout
