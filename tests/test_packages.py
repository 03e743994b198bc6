"""Store packages (``--package acx|google|audiobookshelf``), read back independently: file
names and order, the retail sample's length and fades decoded and measured, the W3C
manifest inside the .lpf and Audiobookshelf's metadata.json against the decoded files; for
MP3 books and for books in AAC (m4b, m4a), which PyAV decodes here, not ttsbatch."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import write_jsonl

pytestmark = pytest.mark.slow

#: the tone voice reads 15 characters a second: ~36 s per chapter, ~110 s of chapters
WORDS = "The quick brown fox jumps over the lazy dog and keeps on running far away. "
CHAPTER_TEXT = WORDS * 7


def book(tmp_path: Path, chapter_text: str = CHAPTER_TEXT, opening: bool = True) -> Path:
    rows = []
    if opening:
        rows.append(
            {"id": "open", "text": "This is Audible. Test Book, by Ann Author.", "group": "opening",
             "role": "opening_credits"}
        )  # fmt: skip
    for n, name in enumerate(("One", "Two", "Three"), 1):
        half = len(chapter_text) // 2
        for part, text in enumerate((chapter_text[:half], chapter_text[half:]), 1):
            rows.append({"id": f"c{n}-{part}", "text": text, "group": f"ch{n}", "chapter": f"Chapter {name}"})
    return write_jsonl(tmp_path / "book.jsonl", rows)


def decoded(path: Path) -> tuple[np.ndarray, int]:
    """The first channel as FFmpeg (PyAV) decodes it: MP3 without the encoder delay and padding
    its LAME tag names, MP4 ending where its edit list does (the stream's duration)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [f.to_ndarray()[0] for f in container.decode(stream)]  # mono: planar or packed
        samples, rate = np.concatenate(chunks).astype(np.float32), stream.codec_context.sample_rate
        if container.format.name != "mp3" and stream.duration:
            samples = samples[: round(stream.duration * stream.time_base * rate)]
    return samples, rate


def rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(max(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))), 1e-10))


BOOK_ARGS = ("--voice", "English_expressive_narrator", "--artist", "Ann Author", "--album", "Test Book")


def test_acx_package_has_numbered_chapters_credits_and_a_faded_sample(tmp_path, run_cli):
    res = run_cli(book(tmp_path), *BOOK_ARGS, "--package", "acx", "--credits-close", "The end. Test Book.")
    assert res.exit_code == 0, res.stderr
    folder = res.out_dir / "packages" / "acx"
    names = sorted(p.name for p in folder.iterdir())
    chapters = ["01 Opening Credits.mp3", "02 Chapter One.mp3", "03 Chapter Two.mp3", "04 Chapter Three.mp3"]
    assert names == [*chapters, "05 Closing Credits.mp3", "Retail Sample.mp3"]
    # each chapter file is the rendered group file, byte for byte
    order = [g["file"] for g in res.report["groups"]]
    assert order == ["opening.mp3", "ch1.mp3", "ch2.mp3", "ch3.mp3", "closing-credits.mp3"]
    for name, rendered in zip(sorted(names)[:5], order, strict=True):
        assert (folder / name).read_bytes() == (res.out_dir / rendered).read_bytes()

    # the sample: 30 s into the chapters, 1-5 minutes, faded, at the mastered level
    entry = res.report["package"]
    assert entry["status"] == "ok" and entry["warnings"] == []
    assert entry["sample"]["start_s"] == 30
    assert_sample(folder / "Retail Sample.mp3", [res.out_dir / f for f in order[1:4]], entry["sample"])


def expected_sample_s(total_s: float) -> tuple[float, float]:
    """ACX's rule as README states it: 3 minutes from 30 s in; earlier to keep 1 minute; all
    of the chapters when they are shorter."""
    start = min(30.0, max(0.0, total_s - 60.0))
    return start, min(180.0, total_s - start)


def assert_sample(path: Path, chapters: list[Path], reported: dict, level_db: float = 0.5) -> None:
    """The sample decodes to the length the chapters (decoded) call for, fades in and out where
    the source is audible, and keeps the source's level in its middle."""
    sample, rate = decoded(path)
    stream = np.concatenate([decoded(c)[0] for c in chapters])
    start_s, length_s = expected_sample_s(len(stream) / rate)
    assert abs(len(sample) / rate - length_s) < 0.05 and abs(reported["duration_s"] - length_s) < 0.05
    assert abs(reported["start_s"] - start_s) < 0.05
    if length_s >= 60:
        assert 60 <= len(sample) / rate <= 300
    start = round(start_s * rate)
    tenth = rate // 10
    head, tail = sample[:tenth], sample[-tenth:]
    source_head, source_tail = (
        stream[start : start + tenth],
        stream[start + len(sample) - tenth : start + len(sample)],
    )
    assert rms_db(source_head) > -40 and rms_db(source_tail) > -40, (
        "the source is audible where the sample cuts"
    )
    assert rms_db(head) < rms_db(source_head) - 20, "fade in"
    assert rms_db(tail) < rms_db(source_tail) - 20, "fade out"
    whole = rms_db(sample)
    assert rms_db(head) < whole - 20 and rms_db(tail) < whole - 20, "the ends are quieter than the rest"
    middle = slice(round(length_s / 3 * rate), round(length_s * 2 / 3 * rate))
    source_middle = stream[start + middle.start : start + middle.stop]
    assert abs(rms_db(sample[middle]) - rms_db(source_middle)) < level_db, "the mastered level is kept"


def test_an_m4b_book_makes_an_acx_package_with_an_mp3_sample(tmp_path, run_cli):
    res = run_cli(book(tmp_path), *BOOK_ARGS, "--format", "m4b", "--package", "acx")
    assert res.exit_code == 0, res.stderr
    folder = res.out_dir / "packages" / "acx"
    chapters = ["01 Opening Credits.m4b", "02 Chapter One.m4b", "03 Chapter Two.m4b", "04 Chapter Three.m4b"]
    assert sorted(p.name for p in folder.iterdir()) == [*chapters, "Retail Sample.mp3"]
    order = [g["file"] for g in res.report["groups"]]
    for name, rendered in zip(chapters, order, strict=True):
        assert (folder / name).read_bytes() == (res.out_dir / rendered).read_bytes()
    entry = res.report["package"]
    assert entry["status"] == "ok" and entry["sample"]["file"] == "Retail Sample.mp3"
    assert any("ACX takes MP3 files" in w and "these chapters are m4b" in w for w in entry["warnings"])
    with av.open(str(folder / "Retail Sample.mp3")) as container:
        codec = container.streams.audio[0].codec_context
        assert container.format.name == "mp3" and codec.name.startswith("mp3")
        assert codec.bit_rate == 192_000  # ACX's bitrate, not AAC's 64k
    # the AAC chapters decoded and encoded again as MP3: the level stays within 1 dB
    assert_sample(folder / "Retail Sample.mp3", [res.out_dir / f for f in order[1:]], entry["sample"], 1.0)


@pytest.mark.parametrize("fmt", ["mp3", "m4a"])
def test_a_book_under_a_minute_gets_a_shorter_sample_and_a_warning(tmp_path, run_cli, fmt):
    res = run_cli(book(tmp_path, WORDS, opening=False), *BOOK_ARGS, "--format", fmt, "--package", "acx")
    assert res.exit_code == 0, res.stderr
    entry = res.report["package"]
    total = sum(g["duration_s"] for g in res.report["groups"])
    assert total < 60
    assert entry["sample"]["file"] == "Retail Sample.mp3"  # an m4a book's too: ACX takes MP3
    chapters = [res.out_dir / g["file"] for g in res.report["groups"]]
    assert [c.suffix for c in chapters] == [f".{fmt}"] * 3
    assert_sample(res.out_dir / "packages" / "acx" / "Retail Sample.mp3", chapters, entry["sample"], 1.0)
    assert any("shorter than ACX's 60 s minimum" in w for w in entry["warnings"])
    assert any("opening credits" in w for w in entry["warnings"])  # and none were marked
    assert "shorter than ACX's 60 s minimum" in res.stderr


#: an MP3 book of ~110 s of chapters; AAC books kept short (each chapter ~10 s), as the
#: durations, not the length, are what is checked
FORMATS = [("mp3", CHAPTER_TEXT), ("m4b", WORDS * 2), ("m4a", WORDS * 2)]


@pytest.mark.parametrize("fmt, text", FORMATS)
def test_google_lpf_holds_a_w3c_audiobook_manifest_matching_the_files(tmp_path, run_cli, fmt, text):
    args = ("--format", fmt, "--package", "google", "--credits-close", "The end.")
    res = run_cli(book(tmp_path, text), *BOOK_ARGS, *args)
    assert res.exit_code == 0, res.stderr
    # AAC's default 64 kb/s mono is under Google's 128: said, not refused
    low = [w for w in res.report["package"]["warnings"] if "Google Play takes 128 kb/s or more" in w]
    assert len(low) == (fmt != "mp3")
    lpf = res.out_dir / "packages" / "google" / "Test Book.lpf"
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(lpf) as z:
        z.extractall(unpacked)
    pub = json.loads((unpacked / "publication.json").read_text())
    assert pub["conformsTo"] == "https://www.w3.org/TR/audiobooks/"
    assert pub["type"] == "Audiobook" and "https://www.w3.org/ns/pub-context" in pub["@context"]
    assert pub["name"] == "Test Book" and pub["author"] == ["Ann Author"]
    titles = [r["name"] for r in pub["readingOrder"]]
    assert titles == ["Opening Credits", "Chapter One", "Chapter Two", "Chapter Three", "Closing Credits"]
    measured = []
    for resource in pub["readingOrder"]:
        assert resource["url"].endswith(f".{fmt}")
        assert resource["encodingFormat"] == ("audio/mpeg" if fmt == "mp3" else "audio/mp4")
        samples, rate = decoded(unpacked / resource["url"])
        measured.append(len(samples) / rate)
        assert abs(seconds(resource["duration"]) - measured[-1]) < 0.05, resource["url"]
    assert abs(seconds(pub["duration"]) - sum(measured)) < 0.05
    assert abs(sum(seconds(r["duration"]) for r in pub["readingOrder"]) - seconds(pub["duration"])) < 0.05
    toc = next(r for r in pub["resources"] if r["rel"] == "contents")
    html = (unpacked / toc["url"]).read_text()
    assert 'role="doc-toc"' in html and all(t in html for t in titles)


def seconds(iso: str) -> float:
    """ISO 8601 PT#H#M#S back to seconds (independently of the writer's code)."""
    import re

    h, m, s = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", iso).groups()
    return int(h or 0) * 3600 + int(m or 0) * 60 + float(s or 0)


@pytest.mark.parametrize("fmt, text", FORMATS)
def test_audiobookshelf_folder_and_metadata_match_the_decoded_files(tmp_path, run_cli, fmt, text):
    res = run_cli(book(tmp_path, text), *BOOK_ARGS, "--format", fmt, "--package", "audiobookshelf")
    assert res.exit_code == 0, res.stderr
    where = res.out_dir / "packages" / "audiobookshelf" / "Ann Author" / "Test Book"
    meta = json.loads((where / "metadata.json").read_text())
    assert meta["title"] == "Test Book" and meta["authors"] == ["Ann Author"]
    assert sorted(p.name for p in where.iterdir()) == [
        f"{n}.{fmt}" for n in ("01 Opening Credits", "02 Chapter One", "03 Chapter Two", "04 Chapter Three")
    ] + ["metadata.json"]
    files = sorted(p for p in where.iterdir() if p.suffix == f".{fmt}")
    start = 0.0
    for chapter, path in zip(meta["chapters"], files, strict=True):
        samples, rate = decoded(path)
        end = start + len(samples) / rate
        assert abs(chapter["start"] - start) < 0.05 and abs(chapter["end"] - end) < 0.05, chapter
        start = end
    assert [c["title"] for c in meta["chapters"]] == ["Opening Credits", "Chapter One", "Chapter Two",
                                                      "Chapter Three"]  # fmt: skip


@pytest.mark.parametrize(
    "extra, said",
    [
        (("--join", "book"), "--package needs one file per chapter"),
        (("--credits-open", "Hello."), "book.jsonl:1: role: opening_credits are marked here and given by"),
        (("--only", "c1-*"), "--package is made from the whole book: drop --only"),
    ],
)
def test_package_input_mistakes_are_one_line_errors_before_sending(tmp_path, run_cli, server, extra, said):
    res = run_cli(book(tmp_path), *BOOK_ARGS, "--package", "acx", *extra)
    assert res.exit_code == 2
    assert said in res.stderr and "Traceback" not in res.stderr
    assert not [e for e in server.log if e["path"] == "/v1/t2a_v2"]


def test_package_without_groups_and_a_wrong_role_are_refused(tmp_path, run_cli):
    flat = write_jsonl(tmp_path / "flat.jsonl", [{"id": "a", "text": "Hello there.", "voice": "Calm_Woman"}])
    res = run_cli(flat, "--package", "google")
    assert res.exit_code == 2 and "needs chapters: give the manifest's lines a group field" in res.stderr
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [{"id": "a", "text": "Hi.", "voice": "Calm_Woman", "group": "g", "role": "opening_credit"}],
    )
    res = run_cli(bad)
    assert res.exit_code == 2 and "bad.jsonl:1: role: expected one of opening_credits" in res.stderr


def test_a_chapter_that_failed_leaves_no_package_and_says_why(tmp_path, run_cli):
    rows = [
        {"id": "a", "text": "Chapter one.", "voice": "Calm_Woman", "group": "ch1"},
        {"id": "b", "text": "Chapter two.", "voice": "No_Such_Voice_Anywhere", "group": "ch2"},
    ]
    res = run_cli(write_jsonl(tmp_path / "two.jsonl", rows), "--package", "audiobookshelf")
    assert res.exit_code == 1
    entry = res.report["package"]
    assert entry["status"] == "failed" and "group(s) ch2 have no file" in entry["error"]
    assert "error: package audiobookshelf: not written: group(s) ch2" in res.stderr
    assert not (res.out_dir / "packages").exists()


def test_credits_out_of_place_are_refused_before_anything_is_paid(tmp_path, run_cli, server):
    rows = [
        {"id": "a", "text": "Chapter one.", "voice": "Calm_Woman", "group": "ch1"},
        {"id": "end", "text": "The end.", "voice": "Calm_Woman", "group": "end", "role": "closing_credits"},
        {"id": "b", "text": "Chapter two.", "voice": "Calm_Woman", "group": "ch2"},
    ]
    res = run_cli(write_jsonl(tmp_path / "mixed.jsonl", rows), "--package", "acx")
    assert res.exit_code == 2 and "the closing credits must be the last group of the manifest" in res.stderr
    assert not [e for e in server.log if e["path"] == "/v1/t2a_v2"]


def test_a_new_package_replaces_the_last_one_whole(tmp_path, run_cli, server):
    manifest = book(tmp_path, WORDS)
    first = run_cli(manifest, *BOOK_ARGS, "--package", "audiobookshelf")
    assert first.exit_code == 0, first.stderr
    paid = len([e for e in server.log if e["path"] == "/v1/t2a_v2"])
    again = run_cli(manifest, "--voice", "English_expressive_narrator", "--artist", "Ann Author",
                    "--album", "Second Title", "--package", "audiobookshelf")  # fmt: skip
    assert again.exit_code == 0, again.stderr
    assert len([e for e in server.log if e["path"] == "/v1/t2a_v2"]) == paid  # nothing paid twice
    author = again.out_dir / "packages" / "audiobookshelf" / "Ann Author"
    assert [p.name for p in author.iterdir()] == ["Second Title"]
    assert not [p for p in (again.out_dir / "packages").iterdir() if p.name.startswith(".")]
