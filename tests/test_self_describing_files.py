"""Files that carry their own proof: each output keeps its cache key inside it, so a folder that
lost its ledger (a CI cache that kept only the audio) is re-adopted with zero requests.

The note lives where decoders do not look (ID3 TXXX, a FLAC Vorbis comment, a WAV chunk), so
the tests decode every file and compare samples. The run tests drive the real CLI against the
fake server and count the requests it logged.
"""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest
import soundfile as sf
from conftest import t2a_requests, write_jsonl

from ttsbatch.audio import encoders, id3
from ttsbatch.audio.assemble import assemble_to_file
from ttsbatch.run import filekeys

FORMATS = ["mp3", "wav", "flac"]


def tone(seconds: float = 1.5, rate: int = 44100) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[:, None]


def lines(n: int = 10, **extra) -> list[dict]:
    return [
        {"id": f"l{i}", "text": f"Line number {i} says hello.", "voice": "Calm_Woman", **extra}
        for i in range(n)
    ]


def ledger_outputs(out) -> int:
    db = sqlite3.connect(out / ".ttsbatch" / "ledger.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]
    finally:
        db.close()


# ------------------------------------------------------------ the note itself --


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_note_is_kept_and_decoding_stays_sample_exact(tmp_path, fmt):
    plain, noted = tmp_path / f"plain.{fmt}", tmp_path / f"noted.{fmt}"
    assemble_to_file(plain, [(tone(), 44100)], rate=44100, channels=1, fmt=fmt)
    note = filekeys.note_for("k" * 32, ["a" * 32, "b" * 32])
    done = assemble_to_file(noted, [(tone(), 44100)], rate=44100, channels=1, fmt=fmt, note=note)
    text = encoders.read_note(noted)
    assert filekeys.parse(text) == {
        "output_key": "k" * 32,
        "sources": ["a" * 32, "b" * 32],
        "frames": done.frames,
    }
    assert encoders.read_note(plain) is None
    a, rate_a = sf.read(str(plain), dtype="float32")
    b, rate_b = sf.read(str(noted), dtype="float32")
    assert rate_a == rate_b and len(a) == len(b) == done.frames and np.array_equal(a, b)
    # written again, the note is replaced, not duplicated, and the samples still match
    encoders.write_note(fmt, noted, "ttsbatch:v=1;output_key=other;sources=;frames=1")
    assert filekeys.parse(encoders.read_note(noted))["output_key"] == "other"
    c, _ = sf.read(str(noted), dtype="float32")
    assert np.array_equal(a, c)


def test_mp3_chapters_and_the_note_live_side_by_side(tmp_path):
    path = tmp_path / "book.mp3"
    tags = {
        "title": "Book",
        "artist": None,
        "album": None,
        "chapters": [("One", 0.0, 0.5), ("Two", 0.5, 1.5)],
    }
    note = filekeys.note_for("c" * 32, [])
    assemble_to_file(path, [(tone(), 44100)], rate=44100, channels=1, fmt="mp3", tags=tags, note=note)
    assert filekeys.parse(encoders.read_note(path))["output_key"] == "c" * 32
    assert id3.read_mp3_tags(path)["chapters"][1][0] == "Two"
    id3.tag_mp3(path, title="Retitled")  # a later re-tag keeps the key
    assert filekeys.parse(encoders.read_note(path))["output_key"] == "c" * 32


def test_a_file_that_lost_its_note_or_holds_garbage_reads_as_none(tmp_path):
    for name, data in (
        ("x.wav", b"RIFF\x04\x00\x00\x00WAVE"),
        ("x.flac", b"fLaC\x80"),
        ("x.mp3", b"ID3\x03"),
    ):
        (tmp_path / name).write_bytes(data)
        assert encoders.read_note(tmp_path / name) is None
    assert filekeys.parse("ttsbatch:v=9;output_key=x;frames=1") is None
    assert filekeys.parse("a comment a user wrote") is None


# ------------------------------------------------------- a ledger lost in CI --


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_folder_without_its_ledger_is_readopted_with_zero_requests(run_cli, server, tmp_path, fmt):
    manifest = write_jsonl(tmp_path / "m.jsonl", lines())
    first = run_cli(manifest, "--format", fmt)
    assert first.exit_code == 0, first.stderr
    assert len(t2a_requests(server)) == 10
    before = {p.name: p.read_bytes() for p in first.out_dir.glob(f"*.{fmt}")}

    shutil.rmtree(first.out_dir / ".ttsbatch")  # a CI cache that kept only the audio files
    estimate = run_cli(manifest, "--format", fmt, "--dry-run")
    assert estimate.exit_code == 0 and "0 requests" in estimate.stderr + estimate.stdout
    again = run_cli(manifest, "--format", fmt)
    assert again.exit_code == 0, again.stderr
    assert len(t2a_requests(server)) == 10, "a file that proves itself was paid for again"
    assert {i["status"] for i in again.report["items"]} == {"cached"}
    assert ledger_outputs(again.out_dir) == 10  # recorded in a fresh ledger
    assert {p.name: p.read_bytes() for p in again.out_dir.glob(f"*.{fmt}")} == before

    edited = lines()
    edited[3]["text"] = "Line three, rewritten."
    write_jsonl(manifest, edited)
    shutil.rmtree(again.out_dir / ".ttsbatch")
    third = run_cli(manifest, "--format", fmt)
    assert third.exit_code == 0, third.stderr
    assert len(t2a_requests(server)) == 11, "exactly the edited line is paid for"
    statuses = {i["id"]: i["status"] for i in third.report["items"]}
    assert statuses.pop("l3") == "ok" and set(statuses.values()) == {"cached"}
    data, rate = sf.read(str(third.out_dir / f"l3.{fmt}"))
    assert len(data) / rate == pytest.approx(
        next(i for i in third.report["items"] if i["id"] == "l3")["duration_s"], abs=0.01
    )


def test_a_truncated_copy_with_the_right_key_is_rendered_again(run_cli, server, tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", lines(3))
    first = run_cli(manifest, "--format", "wav")
    assert first.exit_code == 0, first.stderr
    cut = first.out_dir / "l1.wav"
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # cut short: the header claims more, the note is gone
    short = first.out_dir / "l2.wav"
    note = encoders.read_note(short)
    samples, rate = sf.read(str(short), dtype="int16")
    sf.write(str(short), samples[: len(samples) // 2], rate, subtype="PCM_16")
    encoders.write_note("wav", short, note)  # the right key, but not the frames it names
    shutil.rmtree(first.out_dir / ".ttsbatch")
    again = run_cli(manifest, "--format", "wav")
    assert again.exit_code == 0, again.stderr
    assert len(t2a_requests(server)) == 5
    statuses = {i["id"]: i["status"] for i in again.report["items"]}
    assert statuses == {"l0": "cached", "l1": "ok", "l2": "ok"}


def test_force_ignores_what_the_files_say(run_cli, server, tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", lines(2))
    assert run_cli(manifest).exit_code == 0
    shutil.rmtree(tmp_path / "out" / ".ttsbatch")
    assert run_cli(manifest, "--force").exit_code == 0
    assert len(t2a_requests(server)) == 4


def test_groups_are_readopted_too(run_cli, server, tmp_path):
    rows = [{**row, "group": "chapter-a" if i < 3 else "chapter-b"} for i, row in enumerate(lines(6))]
    manifest = write_jsonl(tmp_path / "m.jsonl", rows)
    first = run_cli(manifest)
    assert first.exit_code == 0, first.stderr
    assert len(t2a_requests(server)) == 6
    assert {g["status"] for g in first.report["groups"]} == {"ok"}

    shutil.rmtree(first.out_dir / ".ttsbatch")
    estimate = run_cli(manifest, "--dry-run")
    assert estimate.exit_code == 0 and "0 requests" in estimate.stderr + estimate.stdout
    again = run_cli(manifest)
    assert again.exit_code == 0, again.stderr
    assert len(t2a_requests(server)) == 6, "a group file that proves itself was paid for again"
    assert {g["group"]: g["status"] for g in again.report["groups"]} == {
        "chapter-a": "cached",
        "chapter-b": "cached",
    }
    assert {i["status"] for i in again.report["items"]} == {"cached"}

    # an edit in chapter-b: its file is made again from its lines (their paid audio went with
    # the ledger, so all three are asked for); chapter-a is untouched
    rows[4]["text"] = "Line four, rewritten."
    write_jsonl(manifest, rows)
    shutil.rmtree(again.out_dir / ".ttsbatch")
    third = run_cli(manifest)
    assert third.exit_code == 0, third.stderr
    assert len(t2a_requests(server)) == 9
    assert {g["group"]: g["status"] for g in third.report["groups"]} == {
        "chapter-a": "cached",
        "chapter-b": "ok",
    }
    assert filekeys.parse(encoders.read_note(third.out_dir / "chapter-b.mp3"))["sources"]
