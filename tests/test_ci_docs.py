"""The CI example users copy must at least be a well-formed workflow that uses options
ttsbatch really has (actionlint is not installable here without a binary download)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from click.testing import CliRunner

from ttsbatch.cli.main import main

WORKFLOW = Path(__file__).parent.parent / "docs" / "github-actions-voice-assets.yml"


def test_workflow_is_valid_yaml_with_the_expected_shape():
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert doc["name"] == "voice-assets"
    on = doc[True] if True in doc else doc["on"]  # YAML 1.1 reads a bare `on` as true
    assert set(on) == {"pull_request", "push"}
    steps = doc["jobs"]["render"]["steps"]
    for step in steps:
        assert ("uses" in step) != ("run" in step), step
    real = next(s for s in steps if "MINIMAX_API_KEY" in s.get("env", {}))
    assert real["env"]["MINIMAX_API_KEY"] == "${{ secrets.MINIMAX_API_KEY }}"
    assert real["if"] == "github.event_name == 'push'"
    offline = next(s for s in steps if "--offline" in s.get("run", ""))
    assert "env" not in offline and offline["if"] == "github.event_name == 'pull_request'"


def test_every_ttsbatch_option_in_the_docs_exists():
    run_help = CliRunner().invoke(main, ["run", "--help"], terminal_width=200).output
    texts = WORKFLOW.read_text() + (WORKFLOW.parent / "ci.md").read_text()
    used = set()
    for command in re.findall(r"ttsbatch run [^\n]*(?:\n\s+--[^\n]*)*", texts):
        for word in shlex.split(command.replace("${{", "X").replace("}}", "X")):
            if word.startswith("--"):
                used.add(word.split("=")[0])
    assert used, "no options found: the pattern is wrong"
    missing = sorted(o for o in used if o not in run_help)
    assert missing == []


def test_the_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Use from Python", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", section, re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "2 requests" in printed and "welcome ok welcome.wav" in printed
    assert (tmp_path / "out" / "py" / "report.json").exists()


def test_the_workflow_queues_its_runs_so_one_account_is_never_paced_twice():
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert doc["concurrency"]["group"] and doc["concurrency"]["cancel-in-progress"] is False
    guide = (WORKFLOW.parent / "ci.md").read_text()
    # every documented matrix either splits the rate (--shard) or shares it (--rate-store)
    for block in re.findall(r"```yaml\n(.*?)```", guide, re.S):
        if "matrix" in block:
            assert "--shard" in block or "--rate-store" in block, block
