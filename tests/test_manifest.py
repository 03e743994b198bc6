"""The manifest reader: every bad input is one clear ``FILE:LINE: field:`` problem, all at once.

Real files are written to a temp folder and read with ``read_manifest`` by their absolute
path, the way the CLI reads them; messages name the file by its base name (``m.csv:2: ...``),
so every exact-prefix assertion below also checks that. Line dicts from Python
(``check_lines``) go through the same checker; their problems name ``<lines>`` and the row.
"""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttsbatch.manifest.check import KNOWN_FIELDS, LINE_MAX_CHARS
from ttsbatch.manifest.read import check_lines, iter_lines, iter_manifest, read_manifest
from ttsbatch.manifest.types import Line, ManifestError, Problem
from ttsbatch.minimax import catalog

FORMATS = ["csv", "jsonl"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def write(name: str, content: str | bytes | list[dict]) -> str:
    """Write raw text/bytes, or records as JSONL or CSV (header = every key seen, in order).
    Returns the absolute path."""
    if isinstance(content, list):
        if name.endswith((".jsonl", ".ndjson")):
            content = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in content)
        else:
            cols = list(dict.fromkeys(k for r in content for k in r))
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(cols)
            w.writerows(["" if r.get(c) is None else r[c] for c in cols] for r in content)
            content = buf.getvalue()
    with open(name, "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode("utf-8"))
    return os.path.abspath(name)


def problems(name: str, content=None, **kw) -> list[str]:
    """What read_manifest reports, one string per problem ([] when the file is valid)."""
    path = write(name, content) if content is not None else os.path.abspath(name)
    try:
        read_manifest(path, **kw)
    except ManifestError as exc:
        return [str(p) for p in exc.problems]
    return []


def lines(name: str, content=None, **kw) -> list[Line]:
    path = write(name, content) if content is not None else os.path.abspath(name)
    return read_manifest(path, **kw)


def first(fmt: str) -> int:
    """Physical line of the first record: CSV has a header above it."""
    return 2 if fmt == "csv" else 1


def has(found: list[str], prefix: str, *words: str) -> None:
    """Exactly one problem starts with ``prefix``, and it says every one of ``words``."""
    hits = [p for p in found if p.startswith(prefix)]
    assert len(hits) == 1, f"{prefix!r} in {found}"
    for word in words:
        assert word in hits[0], f"{word!r} not in {hits[0]!r}"


OK = {"text": "Hello.", "voice": "alloy"}


# ------------------------------------------------------------ happy paths ----


def test_csv_values_are_parsed_and_unset_cells_are_none():
    text = (
        "id,text,voice,speed,pitch,vol,model,emotion,language_boost,output,group,pause_after,chapter,speaker\n"
        "a,Hi,English_Graceful_Lady,1.25,-3,2,speech-2.8-hd,calm,English,ch1/a.wav,g1,0.5,1,Host\n"
        "b,Bye,alloy,,,,,,,,,,,\n"
    )
    a, b = lines("m.csv", text)
    assert a == Line(
        id="a", line_no=2, text="Hi", voice="English_Graceful_Lady", speed=1.25, pitch=-3, vol=2.0,
        model="speech-2.8-hd", emotion="calm", language_boost="English", output="ch1/a.wav", group="g1",
        pause_after=0.5, chapter="1", speaker="Host", meta={},
    )  # fmt: skip
    assert isinstance(a.pitch, int) and isinstance(a.vol, float)
    assert (b.voice, b.speed, b.pitch, b.vol, b.model, b.emotion, b.output, b.pause_after) == (
        catalog.OPENAI_VOICE_ALIASES["alloy"], None, None, None, None, None, None, None,
    )  # fmt: skip


def test_jsonl_null_is_unset_and_integers_become_labels():
    (line,) = lines(
        "m.jsonl",
        [{"id": 7, "text": "Hi", "voice": "nova", "speed": 1, "pitch": 1.0, "model": None, "chapter": 3}],
    )
    assert (line.id, line.speed, line.pitch, line.model, line.chapter) == ("7", 1.0, 1, None, "3")
    assert isinstance(line.speed, float) and isinstance(line.pitch, int)


def test_tsv_ndjson_and_upper_case_extensions():
    assert lines("m.TSV", "text\tvoice\nHi, there\techo\n")[0].text == "Hi, there"
    assert lines("m.ndjson", [OK])[0].voice == catalog.OPENAI_VOICE_ALIASES["alloy"]


def test_default_ids_are_padded_record_numbers_skipping_blank_lines():
    ids = [ln.id for ln in lines("m.jsonl", "\n" + json.dumps(OK) + "\n\n" + json.dumps(OK) + "\n  \n")]
    assert ids == ["0001", "0002"]
    text = "text,voice\nA,alloy\n\n,\nB,alloy\n"  # a blank line and an all-empty row are skipped
    assert [(ln.id, ln.line_no) for ln in lines("m.csv", text)] == [("0001", 2), ("0002", 5)]


def test_default_id_width_grows_only_past_four_digits():
    body = "".join(json.dumps(OK) + "\n" for _ in range(10_000))
    got = lines("m.jsonl", body)
    assert (got[0].id, got[9_998].id, got[9_999].id) == ("0001", "9999", "10000")


def test_bom_and_cjk_text():
    (line,) = lines("m.csv", "\ufeffid,text,voice\ngreet,你好，世界。,female-shaonv\n")
    assert (line.id, line.text, line.voice) == ("greet", "你好，世界。", "female-shaonv")
    (line,) = lines(
        "m.jsonl", "\ufeff" + json.dumps({"text": "こんにちは", "voice": "nova"}, ensure_ascii=False)
    )
    assert line.text == "こんにちは"


def test_text_is_kept_as_given_with_inner_newlines():
    (line,) = lines("m.csv", 'text,voice\n"  Line one.\r\nLine two.  ",alloy\n')
    assert line.text == "  Line one.\r\nLine two.  "


def test_multiline_cell_line_numbers():
    text = 'id,text,voice,speed\na,"one\ntwo\nthree",alloy,9\nb,four,alloy,9\n'
    found = problems("m.csv", text)
    assert [p.split(": ")[0] for p in found] == ["m.csv:2", "m.csv:5"]


def test_metadata_columns_are_kept_verbatim():
    (line,) = lines("m.csv", "text,voice,scene,notes\nHi,alloy,outro,\n")
    assert line.meta == {"scene": "outro", "notes": ""}
    (line,) = lines("m.jsonl", [{**OK, "scene": {"n": [1, 2]}, "take": 3}])
    assert line.meta == {"scene": {"n": [1, 2]}, "take": 3}


# -------------------------------------------------------- numeric fields ----


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("speed", 0.5, None),
        ("speed", 2, None),
        ("speed", 0.4, "expected a number from 0.5 to 2, got 0.4"),
        ("speed", 3, "expected a number from 0.5 to 2, got 3"),
        ("pitch", -12, None),
        ("pitch", 12, None),
        ("pitch", 13, "expected an integer from -12 to 12, got 13"),
        ("pitch", 1.5, "expected an integer from -12 to 12, got 1.5 (pitch is an integer)"),
        ("vol", 10, None),
        ("vol", 0, "expected a number greater than 0 and at most 10, got 0"),
        ("vol", 10.5, "expected a number greater than 0 and at most 10, got 10.5"),
        ("pause_after", 0, None),
        ("pause_after", 60, None),
        ("pause_after", -1, "expected a number of seconds from 0 to 60, got -1"),
        ("pause_after", 61, "expected a number of seconds from 0 to 60, got 61"),
    ],
)
def test_number_ranges(fmt, name, value, expected):
    found = problems(f"m.{fmt}", [{**OK, name: value}])
    assert found == ([] if expected is None else [f"m.{fmt}:{first(fmt)}: {name}: {expected}"])


@pytest.mark.parametrize(
    "value, shown",
    [("1.2", "the string '1.2'"), (True, "the boolean true"), ([1], "a list"), (float("nan"), "nan")],
)
def test_json_numbers_must_be_json_numbers(value, shown):
    assert problems("m.jsonl", [{**OK, "speed": value}]) == [
        f"m.jsonl:1: speed: expected a number from 0.5 to 2, got {shown}"
    ]


@pytest.mark.parametrize("cell", ["abc", "1,5", "nan", "inf", "1_0", "0x1", "1.2.3"])
def test_csv_numbers_must_parse(cell):
    found = problems("m.csv", f'text,voice,vol\nHi,alloy,"{cell}"\n')
    assert found == [f"m.csv:2: vol: expected a number greater than 0 and at most 10, got '{cell}'"]


def test_csv_numbers_tolerate_spaces_and_integral_pitch():
    assert problems("m.csv", "text,voice,vol\nHi,alloy,1e999\n") == [
        "m.csv:2: vol: expected a number greater than 0 and at most 10, got 1e999"
    ]
    (line,) = lines("m.csv", "text,voice,speed,pitch\nHi,alloy, 1.5 ,2.0\n")
    assert (line.speed, line.pitch) == (1.5, 2)


# ------------------------------------------------------------ enum fields ----


@pytest.mark.parametrize("fmt", FORMATS)
def test_malformed_model_name_is_rejected_unknown_ones_pass(fmt):
    """Unknown names are sent as given (tests/test_models.py); only a malformed one is refused."""
    found = problems(f"m.{fmt}", [{**OK, "model": "speech 3!"}, {**OK, "model": "speech-3"}])
    has(found, f"m.{fmt}:{first(fmt)}: model: expected a model name", "got 'speech 3!'")
    assert not any(f":{first(fmt) + 1}:" in p for p in found)


@pytest.mark.parametrize("fmt", FORMATS)
def test_emotion_must_suit_the_line_model_or_the_run_model(fmt):
    rows = [
        {**OK, "model": "speech-2.8-hd", "emotion": "whisper"},
        {**OK, "model": "speech-2.6-hd", "emotion": "whisper"},
        {**OK, "emotion": "neutral"},
    ]
    found = problems(f"m.{fmt}", rows, default_model="speech-2.8-turbo")
    n = first(fmt)
    has(found, f"m.{fmt}:{n}: emotion:", "speech-2.8-hd accepts", "fluent", "got 'whisper'")
    has(found, f"m.{fmt}:{n + 2}: emotion:", "speech-2.8-turbo accepts", "got 'neutral'")
    assert len(found) == 2
    assert problems(f"m.{fmt}", rows[1:2]) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_language_boost(fmt):
    assert problems(f"m.{fmt}", [{**OK, "language_boost": "Chinese,Yue"}]) == []
    found = problems(f"m.{fmt}", [{**OK, "language_boost": "english"}])
    has(found, f"m.{fmt}:{first(fmt)}: language_boost: expected one of auto,", "did you mean 'English'?")
    found = problems(f"m.{fmt}", [{**OK, "language_boost": "English(UK)"}])
    has(found, f"m.{fmt}:{first(fmt)}: language_boost:", "got 'English(UK)'")


def test_malformed_run_model_is_a_problem_a_gateway_name_is_not():
    has(
        problems("m.jsonl", [OK], default_model="tts 1"),
        "--model:0: model: expected a model name",
        "got 'tts 1'",
    )
    assert problems("m.jsonl", [OK], default_model="tts-1") == []


# ------------------------------------------------------------------ text ----


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_required_and_non_blank(fmt):
    found = problems(
        f"m.{fmt}", [{"id": "a", "text": "", "voice": "alloy"}, {"text": "   ", "voice": "alloy"}]
    )
    n = first(fmt)
    assert found == [
        f"m.{fmt}:{n}: text: expected non-blank text, got nothing",
        f"m.{fmt}:{n + 1}: text: expected non-blank text, got only whitespace",
    ]
    has(problems("m.jsonl", [{"voice": "alloy"}]), "m.jsonl:1: text: expected non-blank text, got nothing")
    has(problems("m.jsonl", [{"text": 5, "voice": "alloy"}]), "m.jsonl:1: text: expected a string, got 5")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("text", ["<#2#>", "<#1#> <#2#>", "  <#0.5#>\n\t<#1.5#>  "])
def test_pause_only_text_is_a_problem(fmt, text):
    # the service refuses a pause that does not stand between speakable text: catch it unpaid
    has(
        problems(f"m.{fmt}", [{**OK, "id": "p", "text": text}]),
        f"m.{fmt}:{first(fmt)}: text: expected speakable text, got only pause markers",
        text.strip()[:5],
    )
    assert problems(f"m.{fmt}", [{**OK, "text": "Wait <#2#> here."}]) == []
    assert problems(f"m.{fmt}", [{**OK, "text": "<#2#> Then."}]) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_length_limit(fmt):
    # longer than one request is fine (the planner splits it); only runaway lines are refused
    limit = LINE_MAX_CHARS
    assert problems(f"m.{fmt}", [{**OK, "text": "a " * (catalog.T2A_MAX_CHARS)}]) == []
    found = problems(f"m.{fmt}", [{**OK, "text": "a" * (limit + 1)}])
    has(found, f"m.{fmt}:{first(fmt)}: text: expected at most {limit} characters", f"got {limit + 1}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_invisible_characters(fmt):
    assert problems(f"m.{fmt}", [{**OK, "text": "a\tb\nc" + "x" * 20}]) == []
    found = problems(f"m.{fmt}", [{**OK, "text": "\x01\x02\x03hello"}])
    has(found, f"m.{fmt}:{first(fmt)}: text: expected at most 10% invisible", "got 38%", "1042")


# ----------------------------------------------------------------- voice ----


@pytest.mark.parametrize("fmt", FORMATS)
def test_voice_required_unless_default(fmt):
    rows = [{"text": "Hi", "voice": ""}]
    has(problems(f"m.{fmt}", rows), f"m.{fmt}:{first(fmt)}: voice: expected a voice", "--voice")
    assert lines(f"m.{fmt}", rows, default_voice="Wise_Woman")[0].voice == "Wise_Woman"
    assert (
        lines(f"m.{fmt}", rows, default_voice="Shimmer")[0].voice == catalog.OPENAI_VOICE_ALIASES["shimmer"]
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_voice_syntax(fmt):
    cast = {"Host": "English_Trustworthy_Man", "Guest": "nova"}
    rows = [
        {"text": "a", "voice": "@Host"},
        {"text": "b", "voice": "ALLOY"},
        {"text": "c", "voice": "my-cloned voice (v2)"},
        {"text": "d", "voice": "@Guest"},
        {"text": "e", "speaker": "Host"},
    ]
    got = [ln.voice for ln in lines(f"m.{fmt}", rows, cast=cast)]
    aliases = catalog.OPENAI_VOICE_ALIASES
    assert got == [
        "English_Trustworthy_Man",
        aliases["alloy"],
        "my-cloned voice (v2)",
        aliases["nova"],
        got[0],
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_voices(fmt):
    rows = [{"text": "a", "voice": "@X"}, {"text": "b", "voice": "Bob's voice"}, {"text": "c", "voice": "_x"}]
    n = first(fmt)
    found = problems(f"m.{fmt}", rows, cast={"Host": "alloy", "Guest": "echo"})
    has(found, f"m.{fmt}:{n}: voice:", "--cast", "@Guest, @Host", "got '@X'")
    has(found, f"m.{fmt}:{n + 1}: voice: expected a voice id", 'got "Bob\'s voice"')
    has(found, f"m.{fmt}:{n + 2}: voice: expected a voice id", "got '_x'")
    has(problems(f"m.{fmt}", rows[:1]), f"m.{fmt}:{n}: voice:", "no --cast was given")


def test_bad_voice_and_cast_options():
    found = problems("m.jsonl", [{"text": "Hi"}], default_voice="not a voice!")
    assert found == [found[0]]  # the line without a voice adds nothing: --voice is the problem
    has(found, "--voice:0: voice: expected a voice id", "got 'not a voice!'")
    has(problems("m.jsonl", [OK], default_voice="@Nope"), "--voice:0: voice:", "no --cast was given")
    found = problems("m.jsonl", [{"text": "Hi", "voice": "@Host"}], cast={"@Host": "???"})
    assert found == [found[0]]
    has(found, "--cast:0: Host: expected a voice id", "got '???'")


def test_json_voice_must_be_a_string():
    has(
        problems("m.jsonl", [{"text": "a", "voice": 3}]),
        "m.jsonl:1: voice: expected a voice id string, got 3",
    )


# -------------------------------------------------------------------- id ----


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "bad, words",
    [
        ("a b", ["letters, digits"]),
        ("ü", ["letters, digits"]),
        ("a/b", ["letters, digits"]),
        (".hidden", ["starting with '.'"]),
        ("x" * 129, ["at most 128 characters, got 129"]),
        ("CON", ["reserved"]),
        ("con.wav", ["reserved"]),
        ("Lpt9", ["reserved"]),
    ],
)
def test_bad_ids(fmt, bad, words):
    has(problems(f"m.{fmt}", [{**OK, "id": bad}]), f"m.{fmt}:{first(fmt)}: id: expected", *words)


@pytest.mark.parametrize("fmt", FORMATS)
def test_good_ids(fmt):
    ids = ["intro", "ch-1.part_2", "x" * 128, "CONSOLE", "com0", "-5"]
    assert [ln.id for ln in lines(f"m.{fmt}", [{**OK, "id": i} for i in ids])] == ids


@pytest.mark.parametrize("fmt", FORMATS)
def test_duplicate_ids_name_the_first_line(fmt):
    rows = [{**OK, "id": "intro"}, {**OK, "id": "Intro"}, {**OK, "id": "intro"}]
    n = first(fmt)
    found = problems(f"m.{fmt}", rows)
    assert found == [
        f"m.{fmt}:{n + 1}: id: expected a unique id, got 'Intro', already used by line {n} as 'intro'",
        f"m.{fmt}:{n + 2}: id: expected a unique id, got 'intro', already used by line {n}",
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_default_ids_must_not_clash_with_explicit_ones(fmt):
    n = first(fmt)
    found = problems(f"m.{fmt}", [{**OK, "id": ""}, {**OK, "id": "0001"}])  # default first
    has(
        found,
        f"m.{fmt}:{n + 1}: id: expected a unique id, got '0001', already used by line {n}",
        "default id",
    )
    found = problems(f"m.{fmt}", [{**OK, "id": "0002"}, {**OK, "id": ""}])  # explicit first
    has(found, f"m.{fmt}:{n + 1}: id: expected an id: the default '0002' is already used by line {n}")


def test_json_id_of_wrong_type():
    has(problems("m.jsonl", [{**OK, "id": 1.5}]), "m.jsonl:1: id: expected a string or an integer, got 1.5")


# ---------------------------------------------------------------- output ----


@pytest.mark.parametrize(
    "path, words",
    [
        ("/abs.wav", ["relative", "absolute"]),
        ("../x.wav", ["inside the output folder", "'..'"]),
        ("a/../../b.wav", ["inside the output folder"]),
        ("./a.wav", ["inside the output folder"]),
        ("a\\b.wav", ["backslash"]),
        ("C:x.wav", ["drive letter"]),
        ("c:/x.wav", ["drive letter"]),
        ("a//b.wav", ["empty folder names"]),
        ("a/", ["empty folder names"]),
        ("a/.git/x.wav", ["starting with '.'", "'.git'"]),
        (".x.wav", ["starting with '.'"]),
        ("nul.wav", ["reserved", "'nul.wav'"]),
        ("a/COM1/b.wav", ["reserved", "'COM1'"]),
        ("x\x00.wav", ["control characters"]),
        ("x\n.wav", ["control characters"]),
        ("ab:c.wav", ['< > : " | ? *']),
        ("what?.wav", ['< > : " | ? *']),
        ("dir./a.wav", ["ending in '.'"]),
        ("x.ogg", [".wav, .flac, .mp3", "got '.ogg'"]),
        ("x.wav.txt", ["got '.txt'"]),
        ("a" * 256 + ".wav", ["255 bytes"]),
    ],
)
def test_unsafe_outputs(path, words):
    has(problems("m.jsonl", [{**OK, "output": path}]), "m.jsonl:1: output: expected", *words)


def test_unsafe_output_in_csv_names_the_line():
    has(problems("m.csv", [OK, {**OK, "output": "../../etc/x.wav"}]), "m.csv:3: output: expected a path")


@pytest.mark.parametrize("path", ["ch1/intro.wav", "ch1/intro", "X.MP3", "章节/一.flac", "a b/c-d_e.v2.wav"])
def test_safe_outputs(path):
    assert lines("m.jsonl", [{**OK, "output": path}])[0].output == path


@pytest.mark.parametrize("fmt", FORMATS)
def test_duplicate_outputs_case_insensitive(fmt):
    found = problems(f"m.{fmt}", [{**OK, "output": "ivr/Hello.wav"}, {**OK, "output": "IVR/hello.WAV"}])
    n = first(fmt)
    assert found == [
        f"m.{fmt}:{n + 1}: output: expected a unique output path, got 'IVR/hello.WAV', "
        f"already used by line {n} as 'ivr/Hello.wav'"
    ]


# --------------------------------------------------------- string fields ----


def test_string_fields_reject_other_json_types():
    found = problems("m.jsonl", [{**OK, "group": [1], "speaker": True, "chapter": 1.5}])
    has(found, "m.jsonl:1: group: expected a string, got a list")
    has(found, "m.jsonl:1: speaker: expected a string, got the boolean true")
    has(found, "m.jsonl:1: chapter: expected a string, got 1.5")


# --------------------------------------------------------- unknown fields ----


def test_csv_typos_are_reported_once_at_the_header():
    text = "text,voice,spead,Pause-After,volume,scene\nA,alloy,1,2,3,x\nB,alloy,1,2,3,y\n"
    found = problems("m.csv", text)
    assert found == [
        "m.csv:1: spead: unknown field 'spead': did you mean 'speed'?",
        "m.csv:1: Pause-After: unknown field 'Pause-After': did you mean 'pause_after'?",
        "m.csv:1: volume: unknown field 'volume': did you mean 'vol'?",
    ]


def test_jsonl_typos_are_reported_once_where_first_seen():
    rows = [OK, {**OK, "emotoin": "sad"}, {**OK, "emotoin": "sad", "Text": "x"}, {**OK, "emotoin": "sad"}]
    assert problems("m.jsonl", rows) == [
        "m.jsonl:2: emotoin: unknown field 'emotoin': did you mean 'emotion'?",
        "m.jsonl:3: Text: unknown field 'Text': did you mean 'text'?",
    ]


def test_known_fields_are_the_documented_ones():
    assert set(KNOWN_FIELDS) == set(Line.__dataclass_fields__) - {"line_no", "meta"}


# -------------------------------------------------------------- structure ----


def test_csv_row_field_counts():
    found = problems("m.csv", "text,voice\nA,alloy,extra\nB\nC,alloy\n")
    assert found == [
        "m.csv:2: csv: expected 2 fields (as in the header), got 3",
        "m.csv:3: csv: expected 2 fields (as in the header), got 1",
    ]


def test_csv_unclosed_quote_points_at_its_record():
    found = problems("m.csv", 'text,voice\nA,alloy\n"B,alloy\nC,alloy\n')
    assert found == [
        "m.csv:3: csv: expected a closing quote, got the end of the file "
        "(a quoted cell starting here is never closed)"
    ]


def test_csv_stray_quote_and_checking_goes_on():
    found = problems("m.csv", 'text,voice,speed\n"A" and more,alloy,1\nB,alloy,5\n')
    has(found, "m.csv:2: csv: expected well-formed CSV", "expected after")
    has(found, "m.csv:3: speed: expected a number from 0.5 to 2, got 5")


def test_csv_header_problems():
    found = problems("m.csv", "text,voice,text\nA,alloy,B\n")
    assert found == ["m.csv:1: header: expected each column name once, got 'text' in columns 1 and 3"]
    found = problems("m.csv", "Hello there,alloy\nA,alloy\n", default_voice="alloy")
    has(found, "m.csv:1: header: expected a header row with a 'text' column", "'Hello there'")
    assert len(found) == 1  # not one "text required" per row


def test_csv_unnamed_columns_must_stay_empty():
    assert lines("m.csv", "text,voice,,\nA,alloy,,\n")[0].meta == {}
    assert problems("m.csv", "text,voice,\nA,alloy,oops\n") == [
        "m.csv:2: column 3: expected an empty cell (this column has no name in the header), got 'oops'"
    ]


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("m.csv", "", "m.csv:0: file: expected a header row and lines, got no lines"),
        ("m.csv", "\n\n", "m.csv:0: file: expected a header row and lines, got no lines"),
        ("m.csv", "\ntext,voice\n\n", "m.csv:2: file: expected lines after the header, got no lines"),
        ("m.jsonl", "", "m.jsonl:0: file: expected at least one JSON object, got no lines"),
        ("m.jsonl", "\n \n", "m.jsonl:0: file: expected at least one JSON object, got no lines"),
    ],
)
def test_empty_manifests(name, content, expected):
    assert problems(name, content) == [expected]


def test_jsonl_structure_problems():
    text = '{"text": "a", "voice": "alloy"}\n{"text": "b",\n[1, 2]\n"just text"\n\n{"text": "c", "text": "d", "voice": "echo"}\n'
    found = problems("m.jsonl", text)
    assert found == [
        "m.jsonl:2: json: expected a JSON object, got invalid JSON: Expecting property name enclosed in double quotes (column 14)",
        'm.jsonl:3: json: expected a JSON object like {"text": ...}, got a list',
        "m.jsonl:4: json: expected a JSON object like {\"text\": ...}, got the string 'just text'",
        "m.jsonl:6: text: expected the key once per object, got it more than once",
    ]


def test_jsonl_lone_surrogate():
    found = problems("m.jsonl", '{"text": "a\\ud800b", "voice": "alloy"}\n')
    assert found == ["m.jsonl:1: json: expected valid Unicode, got a lone surrogate \\u escape"]
    assert lines("m.jsonl", '{"text": "\\ud83d\\ude00", "voice": "alloy"}\n')[0].text == "😀"


@pytest.mark.parametrize("name", ["m.csv", "m.jsonl"])
def test_invalid_utf8_names_the_line_and_reading_goes_on(name):
    head = b"text,voice\n" if name.endswith("csv") else b""
    rows = [b"Caf\xe9,alloy\n", b"Fine,alloy\n", b"Bad,\xff\n"] if head else [
        b'{"text": "Caf\xe9", "voice": "alloy"}\n', json.dumps(OK).encode() + b"\n", b'{"speed": \xff}\n',
    ]  # fmt: skip
    found = problems(name, head + b"".join(rows))
    n = 2 if head else 1
    assert [p.split(": ")[:2] for p in found] == [
        [f"{name}:{n}", "encoding"],
        [f"{name}:{n + 2}", "encoding"],
    ]
    has(found, f"{name}:{n}: encoding: expected UTF-8 text, got the invalid byte 0xE9")


def test_utf16_file_is_one_clear_problem():
    assert problems("m.csv", "text,voice\nA,alloy\n".encode("utf-16")) == [
        "m.csv:1: encoding: expected UTF-8 text, got UTF-16 (save the file as UTF-8)"
    ]


def test_unsupported_extension_and_missing_file():
    assert problems("m.txt", "text\nA\n") == [
        "m.txt:0: file: expected a .csv, .tsv, .jsonl or .ndjson file, got '.txt'"
    ]
    has(problems("missing.csv"), "missing.csv:0: file: expected a readable file")
    has(problems("m", "x"), "m:0: file:", "got no extension")


# ------------------------------------------------------ reporting at once ----


def test_every_problem_in_a_file_is_reported():
    text = (
        "id,text,voice,speed,pitch,emotion,output\n"
        "a,Hi,alloy,3,,,\n"
        "a,,nobody!,,1.5,,\n"
        "c,Ok,alloy,,,whisper,../x.wav\n"
    )
    found = problems("demo.csv", text, default_model="speech-2.8-hd")
    assert found == [
        "demo.csv:2: speed: expected a number from 0.5 to 2, got 3",
        "demo.csv:3: id: expected a unique id, got 'a', already used by line 2",
        "demo.csv:3: text: expected non-blank text, got nothing",
        found[3],
        "demo.csv:3: pitch: expected an integer from -12 to 12, got 1.5 (pitch is an integer)",
        found[5],
        found[6],
    ]
    assert found[3].startswith("demo.csv:3: voice: expected a voice id")
    assert found[5].startswith("demo.csv:4: emotion: expected one of")
    assert found[6].startswith("demo.csv:4: output: expected a path that stays inside the output folder")


def test_error_message_is_capped():
    path = write("m.jsonl", [{**OK, "speed": 9}] * 60)
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    shown = str(info.value).splitlines()
    assert len(info.value.problems) == 60
    assert len(shown) == 51 and shown[-1] == "... and 10 more"
    assert shown[0] == str(Problem("m.jsonl", 1, "speed", "expected a number from 0.5 to 2, got 9"))


def test_iter_manifest_streams_lines_and_problems_in_order():
    path = write("m.jsonl", [OK, {**OK, "speed": 9}, OK])
    kinds = [type(item).__name__ for item in iter_manifest(path)]
    assert kinds == ["Line", "Problem", "Line"]


# --------------------------------------------- the CLI tests' contract ----

GOOD = {"text": "Hello there.", "voice": "Calm_Woman"}

#: the cases of test_bad_input.py (which needs the fake server): same rows, same prefix
BAD_JSONL = [
    ([GOOD, {**GOOD, "speed": "fast"}], 2, "speed"),
    ([{**GOOD, "speed": 3}], 1, "speed"),
    ([{**GOOD, "pitch": 1.5}], 1, "pitch"),
    ([{**GOOD, "vol": 0}], 1, "vol"),
    ([{"voice": "Calm_Woman"}], 1, "text"),
    ([{**GOOD, "text": "   "}], 1, "text"),
    ([{"text": "No voice here."}], 1, "voice"),
    ([{**GOOD, "id": "x"}, {**GOOD, "id": "x"}], 2, "id"),
    ([{**GOOD, "voice": "@Narrator"}], 1, "voice"),
    ([{**GOOD, "spead": 1.1}], 1, "spead"),
    ([{**GOOD, "output": "../../etc/x.wav"}], 1, "output"),
    ([{**GOOD, "output": "/tmp/x.wav"}], 1, "output"),
    ([{**GOOD, "id": "../x"}], 1, "id"),
    ([{**GOOD, "model": "speech 9"}], 1, "model"),
    ([{**GOOD, "model": "speech-2.8-hd", "emotion": "whisper"}], 1, "emotion"),
]


@pytest.mark.parametrize(("rows", "line", "field"), BAD_JSONL)
def test_bad_input_cases_give_one_problem_with_the_cli_prefix(tmp_path, rows, line, field):
    path = tmp_path / "deep" / "folder" / "bad.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        read_manifest(path)  # a Path in another folder: the message names only the file
    assert [str(p).split(": ", 2)[:2] for p in info.value.problems] == [[f"bad.jsonl:{line}", field]]
    said = "unknown field" if field == "spead" else "expected "
    assert str(info.value).startswith(f"bad.jsonl:{line}: {field}: {said}")


def test_bad_input_csv_and_malformed_cases():
    found = problems("broken.jsonl", '{"text": "ok", "voice": "Calm_Woman"}\n{"text": "oops", "voice": \n')
    has(found, "broken.jsonl:2: json: expected a JSON object, got invalid JSON")
    found = problems("broken.csv", 'text,voice\n"fine",Calm_Woman\n"unclosed,Calm_Woman\n')
    assert found == [
        "broken.csv:3: csv: expected a closing quote, got the end of the file "
        "(a quoted cell starting here is never closed)"
    ]
    text = "text,voice,speed,pitch\nHello,Calm_Woman,1.0,0\nHi,Calm_Woman,abc,0\nHey,Calm_Woman,1,13\n"
    assert problems("cells.csv", text) == [
        "cells.csv:3: speed: expected a number from 0.5 to 2, got 'abc'",
        "cells.csv:4: pitch: expected an integer from -12 to 12, got 13",
    ]
    rows = [{**GOOD, "speed": 9}, {**GOOD, "pitch": 40}, {"voice": "Calm_Woman"}]
    assert [p.split(": ")[0:2] for p in problems("many.jsonl", rows)] == [
        ["many.jsonl:1", "speed"],
        ["many.jsonl:2", "pitch"],
        ["many.jsonl:3", "text"],
    ]
    has(problems("lines.txt", "hello\n"), "lines.txt:0: file: expected a .csv, .tsv, .jsonl or .ndjson file")


def test_file_is_named_by_its_base_name(tmp_path):
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "ep1.csv").write_text("text,voice\nHi,alloy,x\n", encoding="utf-8")
    for path in (folder / "ep1.csv", str(folder / "ep1.csv"), os.path.join("scripts", "ep1.csv")):
        with pytest.raises(ManifestError) as info:
            read_manifest(path)  # the last one is relative to tmp_path, the working directory
        assert str(info.value) == "ep1.csv:2: csv: expected 2 fields (as in the header), got 3"
    has(problems("m.jsonl", [OK], default_voice="!"), "--voice:0: voice:", "got '!'")


# ------------------------------------------------------------ more CSV ----


def test_tsv_problems_name_line_and_field():
    found = problems("m.tsv", "id\ttext\tvoice\tspeed\na\tHi, you\talloy\t1\nb\tYo\talloy\t2.5\n")
    assert found == ["m.tsv:3: speed: expected a number from 0.5 to 2, got 2.5"]


def test_csv_lone_cr_line_endings():
    got = lines("m.csv", b'id,text,voice\ra,Hi,alloy\rb,"Two\rlines",alloy\rc,Bye,echo\r')
    assert [(ln.id, ln.line_no, ln.text) for ln in got] == [
        ("a", 2, "Hi"),
        ("b", 3, "Two\rlines"),  # a CR inside quotes is text, and the record starts on line 3
        ("c", 5, "Bye"),
    ]
    found = problems("m.csv", b"text,voice,speed\r\nA,alloy,1\r\nB\rC,alloy,9\r\n")
    assert found == [
        "m.csv:3: csv: expected 3 fields (as in the header), got 1",
        "m.csv:4: speed: expected a number from 0.5 to 2, got 9",
    ]


def test_broken_header_row_is_the_only_problem():
    assert problems("m.csv", '"te"xt,voice\nA,alloy\nB,alloy\n') == [
        "m.csv:1: csv: expected well-formed CSV, got: ',' expected after '\"' "
        '(a quoted cell must end at its closing quote; write a quote inside one as "")'
    ]


def test_oversized_csv_cell_names_the_text_limit():
    size = csv.field_size_limit() + 10
    found = problems("m.csv", "text,voice\n" + "x" * size + ",alloy\nFine,alloy\nBad,alloy,1\n")
    assert found == [
        f"m.csv:2: csv: expected cells of at most {csv.field_size_limit()} characters, got a longer one "
        f"(text may have at most {LINE_MAX_CHARS})",
        "m.csv:4: csv: expected 2 fields (as in the header), got 3",
    ]


@pytest.mark.parametrize(
    "name, header, hint",
    [
        ("m.csv", "text;voice;speed", "semicolon-separated: save it comma-separated as .csv"),
        ("m.csv", "text\tvoice", "tab-separated: name it .tsv"),
        ("m.tsv", "text,voice", "comma-separated: name it .csv"),
    ],
)
def test_wrong_separator_is_one_problem_with_a_hint(name, header, hint):
    sep = ";" if ";" in header else ("\t" if "\t" in header else ",")
    body = "".join(sep.join(["Hi", "alloy", "1"][: header.count(sep) + 1]) + "\n" for _ in range(5))
    found = problems(name, header + "\n" + body)
    assert len(found) == 1  # not one "voice missing" per row
    has(found, f"{name}:1: header: expected a header row with a 'text' column", hint)


def test_misspelt_text_and_voice_columns_are_not_also_missing():
    text = "Text,Voice,spead\nA,alloy,1\nB,alloy,1\n"
    assert problems("m.csv", text) == [
        "m.csv:1: Text: unknown field 'Text': did you mean 'text'?",
        "m.csv:1: Voice: unknown field 'Voice': did you mean 'voice'?",
        "m.csv:1: spead: unknown field 'spead': did you mean 'speed'?",
    ]
    # an empty cell under the misspelt name: the field is missing as well
    assert problems("m.jsonl", [{"txt": "a", "voice": "alloy"}, {"txt": "", "voice": "alloy"}]) == [
        "m.jsonl:1: txt: unknown field 'txt': did you mean 'text'?",
        "m.jsonl:2: text: expected non-blank text, got nothing",
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_typo_threshold(fmt):
    rows = [{**OK, "texy": "a", "spd": "1", "grp": "g", "scene": "s", "takes": "2"}]
    found = problems(f"m.{fmt}", rows)
    n = 1 if fmt == "csv" else first(fmt)  # CSV: at the header
    assert found == [
        f"m.{fmt}:{n}: texy: unknown field 'texy': did you mean 'text'?",  # ratio exactly 0.75
        f"m.{fmt}:{n}: spd: unknown field 'spd': did you mean 'speed'?",
        f"m.{fmt}:{n}: grp: unknown field 'grp': did you mean 'group'?",
    ]
    (line,) = lines(f"m.{fmt}", [{**OK, "scene": "s", "takes": "2"}])  # ratio 0.6 and 0.5: metadata
    assert line.meta == {"scene": "s", "takes": "2"}


# ------------------------------------------------------ more value rules ----


@pytest.mark.parametrize("fmt", FORMATS)
def test_emotion_is_checked_even_when_the_model_is_unknown(fmt):
    found = problems(
        f"m.{fmt}", [{**OK, "model": "x", "emotion": "joy"}, {**OK, "model": "x", "emotion": "sad"}]
    )
    n = first(fmt)
    has(found, f"m.{fmt}:{n}: emotion: expected one of", "whisper", "any model accepts", "got 'joy'")
    assert [p.split(": ")[:2] for p in found] == [[f"m.{fmt}:{n}", "emotion"]]


def test_bad_default_model_still_checks_emotions():
    found = problems("m.jsonl", [{**OK, "emotion": "joy"}], default_model="tts 1")
    assert [p.split(": ")[:2] for p in found] == [["--model:0", "model"], ["m.jsonl:1", "emotion"]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_id_and_an_extensionless_output_must_not_write_one_file(fmt):
    rows = [
        {**OK, "id": "intro"},
        {**OK, "output": "Intro"},  # would write Intro.<format> over intro.<format>
        {**OK, "output": "0004"},
        {**OK},  # default id 0004, no output
        {**OK, "output": "intro.wav"},  # only a WAV run would clash: left to the planner
        {**OK, "id": "ch1", "output": "ch1/ch1"},
    ]
    found = problems(f"m.{fmt}", rows)
    n = first(fmt)
    assert found == [
        f"m.{fmt}:{n + 1}: output: expected a file of its own, got output 'Intro', "
        f"which writes the same file as line {n}'s id 'intro' (it has no output)",
        f"m.{fmt}:{n + 3}: id: expected a file of its own, got id '0004' (it has no output), "
        f"which writes the same file as line {n + 2}'s output '0004'",
    ]


@pytest.mark.parametrize("path", ["nul .wav", "CONIN$.wav", "a/conout$", "aux.tar.gz.wav"])
def test_more_reserved_output_names(path):
    has(problems("m.jsonl", [{**OK, "output": path}]), "m.jsonl:1: output: expected no reserved Windows")


@pytest.mark.parametrize("fmt", FORMATS)
def test_csv_and_jsonl_twins_give_the_same_lines(fmt):
    rows = [
        {"id": "a", "text": "你好，世界。", "voice": "@Host", "speed": 1.5, "pitch": -2, "vol": 0.5,
         "emotion": "whisper", "language_boost": "Chinese", "output": "zh/a.flac", "group": "g",
         "pause_after": 1.25, "chapter": "1", "speaker": "Host", "notes": "re-take"},
        {"text": "Plain.", "voice": "Onyx"},
    ]  # fmt: skip
    got = lines(f"m.{fmt}", rows, cast={"Host": "female-shaonv"})
    assert got[0] == Line(
        id="a", line_no=first(fmt), text="你好，世界。", voice="female-shaonv", speed=1.5, pitch=-2, vol=0.5,
        model=None, emotion="whisper", language_boost="Chinese", output="zh/a.flac", group="g",
        pause_after=1.25, chapter="1", speaker="Host", meta={"notes": "re-take"},
    )  # fmt: skip
    assert (got[1].id, got[1].voice, got[1].meta) == (
        "0002",
        catalog.OPENAI_VOICE_ALIASES["onyx"],
        {"notes": ""} if fmt == "csv" else {},
    )


def test_problem_and_error_strings():
    p = Problem("a.csv", 3, "speed", "expected x, got y")
    assert str(p) == "a.csv:3: speed: expected x, got y"
    err = ManifestError([p, Problem("--voice", 0, "voice", "bad")])
    assert str(err) == "a.csv:3: speed: expected x, got y\n--voice:0: voice: bad"
    assert err.problems[1].line == 0


# -------------------------------------------------------------- property ----

_SPICY = st.text(alphabet=st.sampled_from(list("ab1.,;\"'\n\r\t {}[]:@\\/-_\x00\x01\ufeff中é")), max_size=200)
_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
)
_PREFIXES = st.sampled_from(
    ["", "id,text,voice,speed,pitch,output,emotion,model,x\n", '{"text": "a", "voice": "alloy", "id": ']
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ext=st.sampled_from([".csv", ".tsv", ".jsonl"]),
    data=st.one_of(
        st.binary(max_size=200),
        st.builds(lambda p, s: (p + s).encode("utf-8", "surrogatepass"), _PREFIXES, _SPICY),
        st.lists(
            st.dictionaries(st.sampled_from([*KNOWN_FIELDS, "spead", "x"]), _JSON_VALUES, max_size=6),
            max_size=4,
        ).map(lambda rows: "".join(json.dumps(r, default=str) + "\n" for r in rows).encode()),
    ),
)
@pytest.mark.slow
def test_any_input_gives_lines_or_manifest_error(ext, data):
    path = write("fuzz" + ext, data)
    try:
        read_manifest(path, cast={"Host": "alloy"})
    except ManifestError as exc:
        assert exc.problems and str(exc)
        assert all(p.line >= 0 and p.field for p in exc.problems)


# ------------------------------------------------------- lines from Python ----


def test_line_dicts_give_the_same_lines_as_the_jsonl_file_that_holds_them():
    rows = [
        {"id": "intro", "text": "Hello.", "voice": "alloy", "speed": 1.25, "group": 3, "mood": "warm"},
        {"text": "Goodbye.", "speaker": "Host", "pause_after": 0.5, "output": "end/bye"},
        {"text": "  Spaced  ", "voice": "@Host", "emotion": "happy", "pitch": -2},
    ]
    kw = {"cast": {"Host": "Wise_Woman"}, "default_voice": "nova"}
    assert check_lines(rows, **kw) == lines("same.jsonl", rows, **kw)


def test_line_dicts_report_every_problem_by_row_with_the_checks_of_a_file():
    rows = [
        {"text": "Fine.", "voice": "alloy"},
        {"text": "Too fast.", "voice": "alloy", "speed": "1.5", "spead": 2},
        "not a dict",
        {"id": "0001", "text": "", "voice": "Bad Voice!"},
        {"text": "Numbered keys.", "voice": "alloy", 7: "x"},
    ]
    with pytest.raises(ManifestError) as info:
        check_lines(rows)
    found = [str(p) for p in info.value.problems]
    has(found, "<lines>:2: speed: ", "expected a number from 0.5 to 2", "the string '1.5'")
    has(found, "<lines>:2: spead: ", "did you mean 'speed'?")
    has(found, "<lines>:3: line: ", "expected a dict", "got a str")
    has(found, "<lines>:4: id: ", "already used by line 1")
    has(found, "<lines>:4: text: ", "expected non-blank text")
    has(found, "<lines>:4: voice: ")
    has(found, "<lines>:5: 7: ", "expected a field name (a string), got an int")
    assert len(found) == 7
    # the lines of a file report the same problems under the file's name
    assert [p for p in found if p.startswith("<lines>:2")] == [
        p.replace("m.jsonl", "<lines>") for p in problems("m.jsonl", rows[:2]) if p.startswith("m.jsonl:2")
    ]


def test_line_dicts_name_their_source_and_stream_lines_and_problems_in_order():
    items = list(iter_lines(iter([OK, {"text": "x"}]), source="build.py"))
    assert isinstance(items[0], Line) and items[0].id == "0001" and items[0].line_no == 1
    assert [str(p) for p in items[1:]] == [
        "build.py:2: voice: expected a voice (a voice id, an OpenAI voice name or @Name from --cast), "
        "got nothing; set it or pass --voice"
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "<lines>:0: lines: expected at least one line, got none"),
        (OK, "<lines>:0: lines: expected an iterable of line dicts (a list of dicts), got a dict"),
        ("text", "<lines>:0: lines: expected an iterable of line dicts (a list of dicts), got a str"),
        (None, "<lines>:0: lines: expected an iterable of line dicts (a list of dicts), got None"),
    ],
)
def test_line_dicts_that_are_not_a_list_of_lines_are_one_problem(rows, message):
    with pytest.raises(ManifestError) as info:
        check_lines(rows)
    assert [str(p) for p in info.value.problems] == [message]


def test_line_dicts_check_the_run_settings_too():
    with pytest.raises(ManifestError) as info:
        check_lines([OK], default_voice="Bad Voice!", default_model="speech 9", cast={"Host": "?"})
    assert sorted(p.file for p in info.value.problems) == ["--cast", "--model", "--voice"]
