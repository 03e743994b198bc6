"""Cache keys survive the speech-backend seam byte for byte.

Before the seam the planner wrote MiniMax's t2a_v2 body itself and hashed it; now it builds
a backend-neutral ``SpeechRequest`` and hashes the backend's ``source_identity``. A key that
changed would make every kept source look new (and be paid for again), so the formula as it
was is written out here and compared with the planned keys for lines that differ in
everything a key covers, or must not cover."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ttsbatch.backends.minimax_native import t2a_body
from ttsbatch.manifest.pronunciations import load as load_pronunciations
from ttsbatch.manifest.read import Line
from ttsbatch.manifest.textsplit import edge_pauses, split_text
from ttsbatch.minimax import catalog
from ttsbatch.run.plan import ApiAudio, OutputSpec, normalise_text, plan_jobs, plan_parts

# ------------------------------------------------- the formula before the seam --


def old_t2a_body(line, text, model, api, sample_rate, channels, pronunciations=None, subtitles=False):
    voice = {"voice_id": line.voice}
    for name in ("speed", "vol", "pitch", "emotion"):
        value = getattr(line, name)
        if value is not None:
            voice[name] = value
    audio = {"sample_rate": sample_rate, "format": api.format, "channel": channels}
    if api.format == "mp3":
        audio["bitrate"] = api.bitrate
    body = {
        "model": model,
        "text": text,
        "stream": False,
        "output_format": api.transport,
        "voice_setting": voice,
        "audio_setting": audio,
    }
    if line.language_boost:
        body["language_boost"] = line.language_boost
    if pronunciations:
        body["pronunciation_dict"] = {"tone": pronunciations}
    if subtitles:
        body["subtitle_enable"] = True
    return body


def old_source_key(body: dict) -> str:
    voice = {
        "speed": catalog.SPEED_DEFAULT,
        "vol": catalog.VOL_DEFAULT,
        "pitch": catalog.PITCH_DEFAULT,
        **body["voice_setting"],
    }
    payload = {k: v for k, v in body.items() if k not in ("stream", "output_format", "subtitle_enable")}
    payload["voice_setting"] = voice
    blob = json.dumps({"v": 1, "request": payload}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def old_key(line, model, api, rate, dictionary, subtitles, long_text_task) -> str:
    """One part's key as plan_parts computed it (a line short enough to be one part)."""
    text = normalise_text(line.text)
    tones = [e.tone for e in dictionary if e.pattern.search(text)] if dictionary else None
    body = old_t2a_body(line, text, model, api, rate, 1, tones, subtitles)
    return old_source_key({**body, "long_text_task": True} if long_text_task else body)


# ------------------------------------------------------------------ the lines --


def line(text="Hello there, Nguyen.", **kw) -> Line:
    fields = dict(
        id="a",
        line_no=2,
        text=text,
        voice="Calm_Woman",
        speed=None,
        pitch=None,
        vol=None,
        model=None,
        emotion=None,
        language_boost=None,
        output=None,
        group=None,
        pause_after=None,
        chapter=None,
        speaker=None,
    )
    return Line(**{**fields, **kw})


@pytest.fixture
def dictionary(tmp_path: Path):
    path = tmp_path / "say.csv"
    path.write_text("word,replacement\nNguyen,(ŋwiən)\nYork,(jɔːk)\n", encoding="utf-8")
    return load_pronunciations(path)


CASES = {
    "plain": (line(), {}),
    "speed unset": (line(speed=None), {}),
    "speed 1": (line(speed=1.0), {}),
    "voice settings": (line(speed=1.2, pitch=-3, vol=2.0, emotion="happy", language_boost="English"), {}),
    "pronunciations": (line(), {"dictionary": True}),
    "pronunciations unused": (line("No special words."), {"dictionary": True}),
    "subtitles": (line(), {"subtitles": True}),
    "url": (line(), {"api": ApiAudio("flac", None, "url")}),
    "mp3 at a bitrate": (line(), {"api": ApiAudio("mp3", 32000, "hex", 256000)}),
    "wav at 24 kHz": (line(), {"api": ApiAudio("wav", 24000)}),
    "cjk": (line("你好, world"), {"model": "speech-02-turbo"}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_part_key_is_the_key_it_was(name, dictionary):
    li, opts = CASES[name]
    api = opts.get("api", ApiAudio())
    model = opts.get("model", "speech-2.6-hd")
    used = dictionary if opts.get("dictionary") else None
    rate = api.rate_for(OutputSpec())
    (part,) = plan_parts(li, model, api, rate, used, 3000, subtitles=opts.get("subtitles", False))
    assert part.source_key == old_key(li, model, api, rate, used, opts.get("subtitles", False), False)
    # and the body sent is the body that was sent
    text = normalise_text(li.text)
    tones = [e.tone for e in used if e.pattern.search(text)] if used else None
    assert t2a_body(part.request) == old_t2a_body(li, text, model, api, rate, 1, tones, opts.get("subtitles"))


def test_what_must_not_change_the_key_still_does_not(dictionary):
    api, rate = ApiAudio(), 44100

    def key(li, **kw):
        return plan_parts(li, "speech-2.6-hd", kw.pop("api", api), rate, None, 3000, **kw)[0].source_key

    assert key(line(speed=None)) == key(line(speed=1.0))
    assert key(line()) == key(line(), subtitles=True) == key(line(), api=ApiAudio(transport="url"))
    assert key(line()) != key(line(speed=1.1))


@pytest.mark.parametrize("subtitles", [False, True])
def test_a_long_text_task_key_is_the_key_it_was(subtitles, dictionary):
    text = "Nguyen said a sentence that goes on for a while, and then some more. " * 60
    li, api, rate = line(text), ApiAudio(), 44100
    (part,) = plan_parts(li, "speech-2.6-hd", api, rate, dictionary, 1000, "async", subtitles)
    assert part.request.long_text_task
    assert part.source_key == old_key(li, "speech-2.6-hd", api, rate, dictionary, subtitles, True)
    # split into requests instead: each part keyed as it was, none like the task
    split = plan_parts(li, "speech-2.6-hd", api, rate, dictionary, 1000, "split", subtitles)
    chunks = [edge_pauses(c)[1].strip() for c in split_text(normalise_text(text), 1000)]
    assert len(split) == len(chunks) > 1
    for got, chunk in zip(split, chunks, strict=True):
        assert got.source_key == old_key(
            line(chunk), "speech-2.6-hd", api, rate, dictionary, subtitles, False
        )
    assert part.source_key not in {p.source_key for p in split}


def test_jobs_read_the_request(tmp_path):
    jobs, _ = plan_jobs(
        [line(speed=1.25), line("Second.", id="b", line_no=3)],
        out_dir=tmp_path,
        model="speech-2.6-hd",
        out=OutputSpec(),
        api=ApiAudio("wav"),
        subtitles="srt",
    )
    assert [j.speed for j in jobs] == [1.25, catalog.SPEED_DEFAULT]
    assert [j.api_format for j in jobs] == ["wav", "wav"]
    assert all(p.wants_subtitles for j in jobs for p in j.parts)
