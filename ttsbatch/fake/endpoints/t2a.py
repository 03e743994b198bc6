"""``POST /v1/t2a_v2``: synchronous speech, as one JSON reply or as server-sent events.

The order of checks mirrors the service: key, then the account's limits and the injected
fault of the day, then parameters, then synthesis. Replies are real audio bytes in the
asked format, rate and channels, with ``extra_info`` describing those exact bytes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ttsbatch.audio.codecs import Audio, convert, encode, encode_pcm
from ttsbatch.fake.endpoints.native import bearer_error, bearer_key, reply_error
from ttsbatch.fake.endpoints.t2a_params import ParamError, T2ARequest, parse
from ttsbatch.fake.exchange import Exchange, json_bytes
from ttsbatch.fake.faults import Admission
from ttsbatch.fake.voice import subtitles
from ttsbatch.fake.voice.defects import apply_defect
from ttsbatch.fake.voice.effects import apply_voice_modify, apply_volume
from ttsbatch.minimax import catalog

#: semitones of synthesis pitch per unit of ``voice_modify.pitch`` (+/-100 -> +/-4 semitones)
VOICE_MODIFY_SEMITONES = 1 / 25
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)

GATEWAY_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
GATEWAY_500 = (
    b"<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n"
    b"<center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Rendered:
    data: bytes
    extra_info: dict
    subtitles: list[dict] | None
    duration_s: float


def reply_admitted_fault(ex: Exchange, adm: Admission) -> bool:
    """Answer the account's limits and injected error faults the way the service does; True
    when a reply was sent. Shared by every speech endpoint (sync and async)."""
    if adm.code is not None:
        reply_error(ex, adm.code, "rate limit exceeded(RPM)" if adm.code == 1002 else None)
        return True
    if adm.fault == "http429":
        body = {"error": {"code": 429, "message": "Too Many Requests"}, "trace_id": ex.trace_id}
        ex.reply_json(body, status=429, headers={"Retry-After": "1"})
        return True
    if adm.fault in ("http500", "http502"):
        status, page = (500, GATEWAY_500) if adm.fault == "http500" else (502, GATEWAY_502)
        ex.reply(page, status=status, content_type="text/html")
        return True
    return False


def word_count(text: str) -> int:
    """Decision (the page only shows a number): each CJK ideograph is a word, and so is
    each run of other letters or digits."""
    total = 0
    for m in _WORDS.finditer(text):
        run = m.group()
        cjk = sum(1 for ch in run if catalog.is_cjk_ideograph(ch))
        total += cjk + (1 if cjk < len(run) else 0)
    return total


def render(app, req: T2ARequest, adm: Admission | None = None) -> Rendered:
    """Synthesise (cached), apply vol/voice_modify and the admission's audio defect, convert,
    encode: the reply's audio (``audio_length`` is what was sent, defect included)."""
    modify = req.voice_modify or {}
    speech = app.synth.speak(
        req.text,
        voice_id=req.voice_id,
        language=app.config.voice_language(req.voice_id),
        speed=req.speed,
        pitch=req.pitch + (modify.get("pitch") or 0) * VOICE_MODIFY_SEMITONES,
        boost=req.language_boost,
        replacements=req.replacements,
    )
    samples = speech.samples.astype(np.float32)
    if samples.size == 0:
        # Decision: text with nothing to say aloud (only tags or symbols) still gets a moment
        # of silence, never an empty file: the service bills the request and returns audio.
        samples = np.zeros(int(0.2 * speech.rate), dtype=np.float32)
    samples = apply_voice_modify(samples, speech.rate, modify)
    samples = apply_volume(samples, req.vol)
    if adm is not None:
        samples = apply_defect(samples, speech.rate, adm.fault, adm.rng)
    audio = convert(Audio(samples[:, None], speech.rate), sample_rate=req.sample_rate, channels=req.channel)
    data = encode_pcm(audio) if req.fmt == "pcm" else encode(audio, req.fmt, bitrate_kbps=req.bitrate // 1000)
    ratio = catalog.invisible_character_ratio(req.text)
    extra = {
        "audio_length": round(audio.frames * 1000 / audio.sample_rate),
        "audio_sample_rate": req.sample_rate,
        "audio_size": len(data),
        # Decision: the requested (or default) bitrate is echoed for every format, as settings are.
        "bitrate": req.bitrate,
        "word_count": word_count(req.text),
        "invisible_character_ratio": ratio if ratio else 0,
        "usage_characters": catalog.billed_characters(req.text, req.model),
        "audio_format": req.fmt,
        "audio_channel": req.channel,
    }
    subs = subtitles.build(req.text, speech.spans) if req.subtitle else None
    return Rendered(data, extra, subs, audio.duration_s)


def _truncate_hex(hex_audio: str, adm: Admission) -> str:
    """Cut 10-70 % off; about half the time the result has an odd length (not even whole bytes)."""
    cut = max(1, int(len(hex_audio) * adm.rng.uniform(0.3, 0.9)))
    want_odd = adm.rng.random() < 0.5
    if (cut % 2 == 1) != want_odd:
        cut = cut - 1 if cut > 1 else cut + 1
    return hex_audio[:cut]


def _success_body(ex: Exchange, audio_field: str, extra: dict, subtitle_url: str | None) -> dict:
    data = {"audio": audio_field, "status": 2}
    if subtitle_url is not None:
        data["subtitle_file"] = subtitle_url
    return {
        "data": data,
        "extra_info": extra,
        "trace_id": ex.trace_id,
        "base_resp": {"status_code": 0, "status_msg": "success"},
    }


def admit_speech(
    ex: Exchange, parse_body: Callable[[object, object], T2ARequest]
) -> tuple[Admission, T2ARequest] | None:
    """What every speech endpoint does before its own work: check the key, take a slot at
    the gate (latency, stall, injected fault), parse the body. Returns (admission, request),
    or None when the reply is already sent or the connection cut."""
    app = ex.app
    cfg = app.config
    auth = bearer_error(ex)
    if auth is not None:
        app.sleep(cfg.latency_ms / 1000)
        reply_error(ex, *auth)
        return None
    adm = app.gate.admit("t2a", bearer_key(ex))
    ex.note(fault=adm.fault)
    if app.sleep(adm.delay_s):
        ex.hang_up()
        return None
    if adm.fault == "stall" and app.sleep(cfg.stall_s):
        ex.hang_up()  # the server is stopping
        return None

    # Errors (limits, injected codes) are plain JSON even for stream requests, as under rate limiting.
    if reply_admitted_fault(ex, adm):
        return None

    try:
        if ex.json_error:
            raise ParamError(2013, "invalid params, request body is not valid JSON")
        return adm, parse_body(ex.json, cfg)
    except ParamError as err:
        reply_error(ex, err.code, err.msg)
        return None


def handle(ex: Exchange) -> None:
    admitted = admit_speech(ex, parse)
    if admitted is None:
        return
    adm, req = admitted
    app = ex.app

    rendered = render(app, req, adm)
    billed = rendered.extra_info["usage_characters"]
    subtitle_url = None
    if rendered.subtitles is not None and adm.fault != "no_subtitles":
        name = app.files.put(json_bytes(rendered.subtitles), "json")
        subtitle_url = app.files.url(ex.base_url, name)

    if adm.fault == "drop":
        # Decision: a reply cut off mid-body is not billed and does not count toward fail_after.
        ex.note(status_code=0)
    else:
        ex.note(status_code=0, billed=billed)
        app.gate.record_success()

    if req.stream:
        _stream(ex, req, rendered, adm, subtitle_url)
        return

    hex_audio = rendered.data.hex()
    if req.output_format == "url":
        stored = rendered.data
        if adm.fault == "truncated_hex":
            # Decision: in URL mode the "truncated" fault truncates the stored file instead.
            stored = stored[: max(1, int(len(stored) * adm.rng.uniform(0.3, 0.9)))]
        name = app.files.put(stored, req.fmt)
        audio_field = app.files.url(ex.base_url, name)
    elif adm.fault == "truncated_hex":
        audio_field = _truncate_hex(hex_audio, adm)
    else:
        audio_field = hex_audio
    body = json_bytes(_success_body(ex, audio_field, rendered.extra_info, subtitle_url))
    if adm.fault == "drop":
        ex.reply(body, content_type="application/json; charset=utf-8", send_bytes=len(body) // 2)
        return
    ex.reply(body, content_type="application/json; charset=utf-8")


def _piece_bounds(req: T2ARequest, rendered: Rendered, chunk_s: float) -> list[int]:
    """Byte offsets that split the audio into several pieces (whole frames for pcm)."""
    size = len(rendered.data)
    n = max(2, min(64, math.ceil(rendered.duration_s / max(chunk_s, 1e-3))))
    align = 2 * req.channel if req.fmt == "pcm" else 1
    step = max(align, (size // n) // align * align)
    bounds = list(range(0, size, step))[1:]
    return [0, *bounds, size]


def _event(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def _stream(
    ex: Exchange, req: T2ARequest, rendered: Rendered, adm: Admission, subtitle_url: str | None
) -> None:
    """SSE: ``status: 1`` events with consecutive hex pieces, then a ``status: 2`` event with
    ``extra_info`` and (unless excluded) the whole audio again."""
    cfg = ex.app.config
    hex_audio = rendered.data.hex()
    if adm.fault == "truncated_hex":
        hex_audio = _truncate_hex(hex_audio, adm)
    bounds = [2 * b for b in _piece_bounds(req, rendered, cfg.stream_chunk_s)]
    pieces = [hex_audio[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if hex_audio[a:b]]
    ok = {"status_code": 0, "status_msg": "success"}
    ex.begin_stream()
    for i, piece in enumerate(pieces):
        if adm.fault == "drop" and i >= max(1, len(pieces) // 2):
            ex.hang_up()
            return
        ex.stream_write(
            _event({"data": {"audio": piece, "status": 1}, "trace_id": ex.trace_id, "base_resp": ok})
        )
        if cfg.stream_chunk_delay_ms and ex.app.sleep(cfg.stream_chunk_delay_ms / 1000):
            ex.hang_up()
            return
    final = _success_body(ex, hex_audio, rendered.extra_info, subtitle_url)
    if req.exclude_aggregated_audio:
        # Decision: the aggregated audio key is left out entirely (clients should treat
        # a missing and an empty final ``audio`` the same).
        del final["data"]["audio"]
    ex.stream_write(_event(final))
    ex.end_stream()


def register(app) -> None:
    app.router.add("POST", catalog.T2A_PATH, handle)
