"""Long text through MiniMax's async task: create, poll, retrieve, download, unpack.

``synthesize_long`` takes a t2a_v2 body and returns the same ``SpeechResult``
``MiniMaxClient.t2a`` does, so the speech backend treats both alike. It is built on the
client's public native surface (``post_json``, ``get_json``, ``fetch``, ``download``). The task is
paid when it is created: every failure after that carries ``billed_characters``.

The file MiniMax hands back is a tar (audio, ``.titles`` sentence timings, ``.extra`` JSON).
It is read in memory, never extracted to disk, and still checked as if it were hostile:
regular members only, no absolute or ``..`` names, size caps on each member and the whole.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import tarfile
import time
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath

from ttsbatch.minimax import catalog, errors, untrusted
from ttsbatch.minimax.retry import RetryPolicy, retrying
from ttsbatch.minimax.speech import MAX_DOWNLOAD_BYTES, MiniMaxClient, SpeechResult, parse_native
from ttsbatch.minimax.transport import bad_reply

#: the documented poll limit is 10 per second; a little under it absorbs scheduling jitter
QUERY_MIN_INTERVAL_S = 0.12
#: Decision (docs silent): after a 1002 on a query, wait at least this long (the window is 1 s)
QUERY_RATE_BACKOFF_S = 1.0
#: transient query failures (timeouts, 5xx, internal codes) tolerated in a row before giving up
QUERY_TRANSIENT_LIMIT = 5
QUERY_TRANSIENT_BACKOFF_S = 1.0
#: tar limits: members, each JSON member, the whole unpacked content
TAR_MAX_MEMBERS = 64
TAR_MAX_JSON_BYTES = 32 * 1024 * 1024
TAR_MAX_TOTAL_BYTES = MAX_DOWNLOAD_BYTES
AUDIO_SUFFIXES = (".mp3", ".flac", ".wav", ".pcm", ".opus", ".ogg", ".m4a", ".aac")
#: pseudo-code for a task that ended Failed/Expired or never finished (errors.py stops at -6)
ASYNC_TASK_FAILED = -7

_DRIVE = re.compile(r"^[A-Za-z]:")

Sleep = Callable[[float], Awaitable[object]]


class AsyncTaskError(errors.RetryableError):
    """The task was paid for but produced nothing usable (Failed, Expired, never finished).
    Retryable: a new task may well succeed."""

    def __init__(self, message: str, *, task_id: object = None, status: str | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.task_id = task_id
        self.status = status


def async_body(body: dict) -> dict:
    """A planned t2a_v2 body as the async endpoint wants it: ``audio_sample_rate`` instead of
    ``sample_rate``; ``stream``, ``stream_options``, ``output_format`` and ``subtitle_enable``
    dropped (a task has neither; its tar always holds the sentence timings). Everything else
    is sent as planned (only what the line sets)."""
    dropped = ("stream", "stream_options", "output_format", "subtitle_enable")
    out = {k: v for k, v in body.items() if k not in dropped}
    aus = body.get("audio_setting")
    if isinstance(aus, dict):
        aus = dict(aus)
        if "sample_rate" in aus:
            rate = aus.pop("sample_rate")
            aus.setdefault("audio_sample_rate", rate)
        out["audio_setting"] = aus
    return out


async def _get_content(client: MiniMaxClient, file_id: object) -> bytes:
    """``retrieve_content``: the bytes, unless the answer is a ``base_resp`` error body."""
    content, response = await client.fetch(
        "GET", catalog.FILES_CONTENT_PATH, params={"file_id": file_id}, limit=MAX_DOWNLOAD_BYTES
    )
    ctype = response.headers.get("content-type", "")
    if "json" in ctype or content[:1] == b"{":
        # Decision: a JSON object here is an error answer (a tar never starts with "{").
        parse_native(content, response)
        raise bad_reply("retrieve_content answered JSON, not the file")
    return content


def _safe_name(name: str) -> bool:
    """Relative, inside the archive: no ``/x``, ``..``, ``C:`` or backslash tricks."""
    p = PurePosixPath(name.replace("\\", "/"))
    return bool(p.parts) and not p.is_absolute() and ".." not in p.parts and not _DRIVE.match(name)


def unpack_task_tar(data: bytes, trace_id: str | None = None) -> tuple[bytes, dict, list | None]:
    """(audio, extra_info, titles) from a task's tar, read in memory. Raises ``BadAudioError``
    for anything unreadable or suspicious: a member escaping its folder (``../x``, ``/x``),
    too many or too large members, no audio. Non-regular members (links, devices, folders)
    are never read. Decision: ``.extra``/``.titles`` that do not parse are an error too (the
    file is garbled); a tar without them gives ``{}`` / ``None``."""

    def bad(message: str) -> errors.BadAudioError:
        return errors.BadAudioError(message, code=errors.BAD_AUDIO, trace_id=trace_id)

    audio: list[tuple[str, bytes]] = []
    extra: dict = {}
    titles: list | None = None
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for count, member in enumerate(tar, start=1):
                if count > TAR_MAX_MEMBERS:
                    raise bad(f"task file has more than {TAR_MAX_MEMBERS} members")
                if not _safe_name(member.name):
                    raise bad(f"task file member {member.name!r} points outside the archive")
                if not member.isreg():
                    if member.issym() or member.islnk() or member.isdev():
                        raise bad(f"task file member {member.name!r} is a link or device")
                    continue  # folders
                total += member.size
                if member.size > TAR_MAX_TOTAL_BYTES or total > TAR_MAX_TOTAL_BYTES:
                    raise bad(f"task file holds more than {TAR_MAX_TOTAL_BYTES} bytes")
                name = PurePosixPath(member.name).name.lower()
                is_json = name.endswith((".titles", ".extra"))
                if is_json and member.size > TAR_MAX_JSON_BYTES:
                    raise bad(f"task file member {member.name!r} is too large")
                handle = tar.extractfile(member)
                content = handle.read() if handle else b""
                if len(content) != member.size:
                    raise bad(f"task file member {member.name!r} is cut short")
                if is_json and untrusted.json_depth_exceeds(content):
                    raise bad(f"task file member {member.name!r} nests too deep")
                if name.endswith(".extra"):
                    extra = json.loads(content)
                    if not isinstance(extra, dict):
                        raise bad("task file .extra is not a JSON object")
                elif name.endswith(".titles"):
                    titles = json.loads(content)
                else:
                    audio.append((name, content))
    except (tarfile.TarError, EOFError, OSError, ValueError, RecursionError) as exc:
        raise bad(f"task file is not a readable tar: {type(exc).__name__}: {exc}") from None
    if not audio:
        raise bad("task file holds no audio")
    # Decision: the audio is the member with an audio suffix (the format asked for); failing
    # that, the largest other member.
    fmt = str(extra.get("audio_format") or "").lower()
    ranked = sorted(
        audio,
        key=lambda a: (a[0].endswith(f".{fmt}") if fmt else False, a[0].endswith(AUDIO_SUFFIXES), len(a[1])),
    )
    return ranked[-1][1], extra, titles


async def _create(client: MiniMaxClient, body: dict) -> tuple[dict, str | None, int]:
    parsed, trace = await client.post_json(catalog.T2A_ASYNC_PATH, async_body(body))
    billed = untrusted.count(parsed, "usage_characters", trace) or 0
    if not parsed.get("task_id"):
        exc = bad_reply("async reply has no task_id", trace)
        exc.billed_characters = billed
        raise exc
    return parsed, trace, billed


def query_policy(interval_s: float) -> RetryPolicy:
    """How one status query is retried: a rate signal (the account's query budget is spent,
    perhaps by someone else) only means "ask slower" and is waited out; other transient
    failures back off 1, 2, 4, 8 s and the fifth in a row gives up. Never faster than the
    poll interval."""
    return RetryPolicy(
        max_retries=QUERY_TRANSIENT_LIMIT - 1,
        base_s=QUERY_TRANSIENT_BACKOFF_S,
        jitter=False,
        min_s=interval_s,
        rate_limit_pause_s=QUERY_RATE_BACKOFF_S,
    )


async def _wait_for_file(
    client: MiniMaxClient,
    task_id: object,
    *,
    interval_s: float,
    deadline: float,
    sleep: Sleep,
    trace: str | None,
) -> tuple[object, dict]:
    """Poll until Success; return (file_id or None, the last query answer). Every wait,
    between polls or before a retried query, first checks the deadline."""

    async def wait(seconds: float) -> None:
        if time.monotonic() + seconds > deadline:
            raise AsyncTaskError(
                f"async task {task_id} did not finish in time",
                code=ASYNC_TASK_FAILED,
                trace_id=trace,
                task_id=task_id,
                status="timeout",
            )
        await sleep(seconds)

    async def query() -> dict:
        answer, _ = await client.get_json(catalog.T2A_ASYNC_QUERY_PATH, {"task_id": task_id})
        return answer

    policy = query_policy(interval_s)
    while True:
        await wait(interval_s)  # Decision: the first query waits one interval (no task is done at once)
        answer = await retrying(query, policy, sleep=wait)
        status = str(answer.get("status") or "").strip().lower()
        if status == "success":
            return answer.get("file_id"), answer
        if status in ("failed", "expired"):
            raise AsyncTaskError(
                f"async task {task_id} ended {answer.get('status')}",
                code=ASYNC_TASK_FAILED,
                trace_id=trace,
                task_id=task_id,
                status=status,
            )
        # Decision: "processing" and any status not documented (queueing, ...) mean "not yet".


async def _fetch_file(
    client: MiniMaxClient, file_id: object, trace: str | None
) -> tuple[bytes, dict, list | None]:
    """retrieve → download_url (no key sent, size cap, retried) → unpack; when the URL or its
    bytes fail, ``retrieve_content`` once more through the API."""
    first: errors.MiniMaxError | None = None
    try:
        info, _ = await client.get_json(catalog.FILES_RETRIEVE_PATH, {"file_id": file_id})
        meta = info.get("file") if isinstance(info.get("file"), dict) else {}
        url = meta.get("download_url")
        if not url:
            raise errors.BadAudioError("retrieve answered no download_url", code=errors.DOWNLOAD_FAILED)
        size = meta.get("bytes")
        data = await client.download(
            str(url), expected_size=size if isinstance(size, int) else None, trace_id=trace
        )
        return unpack_task_tar(data, trace)
    except (errors.RetryableError, errors.LineError) as exc:
        # Decision: RunError (auth, balance) is not worth a second path; anything else is.
        first = exc
    try:
        return unpack_task_tar(await _get_content(client, file_id), trace)
    except errors.MiniMaxError:
        raise first from None


async def synthesize_long(
    client: MiniMaxClient,
    body: dict,
    *,
    poll_interval_s: float = 1.0,
    timeout_s: float = 1800.0,
    sleep=asyncio.sleep,
) -> SpeechResult:
    """Render one long text (up to 50,000 characters) as an async task; see the module doc.

    Errors: creation fails like ``t2a`` (``post_json``'s classes). After creation every error
    carries ``billed_characters`` (the task was paid): ``AsyncTaskError`` for a task that
    ended Failed/Expired or did not finish within ``timeout_s``, the usual classes otherwise.
    ``sleep`` is the seam for tests; queries are never sent more than 10 per second.
    """
    deadline = time.monotonic() + timeout_s
    created, trace, billed = await _create(client, body)
    task_id = created["task_id"]
    try:
        file_id, _ = await _wait_for_file(
            client,
            task_id,
            interval_s=max(poll_interval_s, QUERY_MIN_INTERVAL_S),
            deadline=deadline,
            sleep=sleep,
            trace=trace,
        )
        # Decision: the query's file_id (the finished file) wins; the create answer's is the fallback.
        file_id = file_id or created.get("file_id")
        if not file_id:
            raise bad_reply("async task has no file_id", trace)
        audio, extra, titles = await _fetch_file(client, file_id, trace)
    except errors.MiniMaxError as exc:
        exc.billed_characters = billed
        exc.trace_id = exc.trace_id or trace
        raise
    try:
        length = untrusted.number(extra, "audio_length", trace)
        # Decision: the create answer's usage_characters is the bill (the .extra repeats it)
        billed = billed or untrusted.count(extra, "usage_characters", trace) or 0
    except errors.MiniMaxError as exc:
        exc.billed_characters = billed or len(str(body.get("text") or ""))
        raise
    return SpeechResult(
        audio=audio,
        trace_id=trace,
        billed_characters=billed,
        audio_length_ms=length or None,
        subtitles=titles if isinstance(titles, list) else None,
    )
