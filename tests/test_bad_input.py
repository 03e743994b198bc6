"""Bad input gets a clear error and nothing else: FILE:LINE: field, exit 2, no request
sent, no file written. Driven through the real CLI against a real server that counts."""

from __future__ import annotations

import pytest
from conftest import write_jsonl

GOOD = {"text": "Hello there.", "voice": "Calm_Woman"}

JSONL_CASES = [
    ("wrong type", [GOOD, {**GOOD, "speed": "fast"}], 2, "speed"),
    ("out of range", [{**GOOD, "speed": 3}], 1, "speed"),
    ("pitch not integer", [{**GOOD, "pitch": 1.5}], 1, "pitch"),
    ("vol zero", [{**GOOD, "vol": 0}], 1, "vol"),
    ("missing text", [{"voice": "Calm_Woman"}], 1, "text"),
    ("blank text", [{**GOOD, "text": "   "}], 1, "text"),
    ("pause-only text", [GOOD, {**GOOD, "text": "<#1#> <#2#>"}], 2, "text"),
    ("missing voice", [{"text": "No voice here."}], 1, "voice"),
    ("duplicate id", [{**GOOD, "id": "x"}, {**GOOD, "id": "x"}], 2, "id"),
    ("unknown alias", [{**GOOD, "voice": "@Narrator"}], 1, "voice"),
    ("misspelt field", [{**GOOD, "spead": 1.1}], 1, "spead"),
    ("output escapes", [{**GOOD, "output": "../../etc/x.wav"}], 1, "output"),
    ("absolute output", [{**GOOD, "output": "/tmp/x.wav"}], 1, "output"),
    ("id escapes", [{**GOOD, "id": "../x"}], 1, "id"),
    ("malformed model name", [{**GOOD, "model": "speech 9"}], 1, "model"),
    ("emotion the model rejects", [{**GOOD, "model": "speech-2.8-hd", "emotion": "whisper"}], 1, "emotion"),
]


def assert_rejected(result, server, expected_prefix: str, field: str) -> None:
    assert result.exit_code == 2, result.stderr
    assert f"{expected_prefix}: {field}" in result.stderr, result.stderr
    assert "nothing was sent" in result.stderr
    assert server.log == [], "a request was sent for a bad manifest"
    assert not result.out_dir.exists(), "a file was written for a bad manifest"


@pytest.mark.parametrize(("name", "rows", "line", "field"), JSONL_CASES, ids=[c[0] for c in JSONL_CASES])
def test_bad_jsonl_line(run_cli, server, tmp_path, name, rows, line, field):
    manifest = write_jsonl(tmp_path / "bad.jsonl", rows)
    assert_rejected(run_cli(manifest), server, f"bad.jsonl:{line}", field)


def test_malformed_json(run_cli, server, tmp_path):
    manifest = tmp_path / "broken.jsonl"
    manifest.write_text('{"text": "ok", "voice": "Calm_Woman"}\n{"text": "oops", "voice": \n')
    result = run_cli(manifest)
    assert result.exit_code == 2
    assert "broken.jsonl:2:" in result.stderr
    assert server.log == [] and not result.out_dir.exists()


def test_malformed_csv(run_cli, server, tmp_path):
    manifest = tmp_path / "broken.csv"
    manifest.write_text('text,voice\n"fine",Calm_Woman\n"unclosed,Calm_Woman\n')
    result = run_cli(manifest)
    assert result.exit_code == 2
    assert "broken.csv:3:" in result.stderr
    assert server.log == [] and not result.out_dir.exists()


def test_csv_bad_cells_name_line_and_field(run_cli, server, tmp_path):
    manifest = tmp_path / "cells.csv"
    manifest.write_text(
        "text,voice,speed,pitch\nHello,Calm_Woman,1.0,0\nHi,Calm_Woman,abc,0\nHey,Calm_Woman,1,13\n"
    )
    result = run_cli(manifest)
    assert_rejected(result, server, "cells.csv:3", "speed")
    assert "cells.csv:4: pitch" in result.stderr


def test_every_problem_is_reported(run_cli, server, tmp_path):
    rows = [{**GOOD, "speed": 9}, {**GOOD, "pitch": 40}, {"voice": "Calm_Woman"}]
    manifest = write_jsonl(tmp_path / "many.jsonl", rows)
    result = run_cli(manifest)
    assert result.exit_code == 2
    for prefix in ("many.jsonl:1: speed", "many.jsonl:2: pitch", "many.jsonl:3: text"):
        assert prefix in result.stderr
    assert server.log == []


def test_bad_manifest_leaves_earlier_output_untouched(run_cli, server, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", [GOOD])
    out = tmp_path / "out"
    assert run_cli(good, out=out).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    server.reset_log()
    bad = write_jsonl(tmp_path / "good2.jsonl", [{**GOOD, "speed": 0}])
    result = run_cli(bad, out=out)
    assert result.exit_code == 2 and server.log == []
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_unknown_extension(run_cli, server, tmp_path):
    manifest = tmp_path / "lines.txt"
    manifest.write_text("hello\n")
    result = run_cli(manifest)
    assert result.exit_code == 2 and "lines.txt" in result.stderr and server.log == []


def test_symlink_inside_out_dir_cannot_lead_outside(run_cli, server, tmp_path):
    out = tmp_path / "out"
    outside = tmp_path / "elsewhere"
    out.mkdir()
    outside.mkdir()
    (out / "clips").symlink_to(outside, target_is_directory=True)
    manifest = write_jsonl(tmp_path / "m.jsonl", [{**GOOD, "output": "clips/a.wav"}])
    result = run_cli(manifest, out=out)
    assert result.exit_code == 2
    assert "m.jsonl:1: output" in result.stderr and "symlink" in result.stderr
    assert server.log == [] and list(outside.iterdir()) == []
