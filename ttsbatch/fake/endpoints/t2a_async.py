"""Long-text speech as an async task: create, poll, retrieve the file, download it.

- ``POST /v1/t2a_async_v2``: a t2a_v2-style body with ``text`` up to 50,000 characters and
  ``audio_setting.audio_sample_rate``; answers ``task_id``, ``task_token``, ``file_id`` and
  ``usage_characters`` at once, and renders in a background thread.
- ``GET /v1/query/t2a_async_query_v2?task_id=``: ``Processing`` / ``Success`` / ``Failed`` /
  ``Expired`` (capitalised, as real answers are), at most 10 queries per second per account.
- ``GET /v1/files/retrieve?file_id=``: the file's metadata and a ``download_url`` served by
  the ``FileStore`` (same expiry and download faults as URL-mode audio).
- ``GET /v1/files/retrieve_content?file_id=``: the file's bytes.

The file is a tar holding ``<task_id>.<format>`` (the audio), ``<task_id>.titles`` (sentence
timings, as ``subtitles`` makes them) and ``<task_id>.extra`` (the ``extra_info`` JSON).
Validation, faults and rendering are t2a_v2's own (``t2a_params.parse``, ``app.gate``,
``t2a.render``), so both endpoints fail and sound alike.
"""

from __future__ import annotations

import dataclasses
import io
import secrets
import tarfile
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from ttsbatch.fake.endpoints.native import bearer_error, reply_error
from ttsbatch.fake.endpoints.t2a import admit_speech, render
from ttsbatch.fake.endpoints.t2a_params import ParamError, check_text_content, parse
from ttsbatch.fake.exchange import Exchange, json_bytes
from ttsbatch.minimax import catalog

#: the documented poll limit: at most this many queries per account in any QUERY_WINDOW_S
QUERY_LIMIT = 10
QUERY_WINDOW_S = 1.0
#: Decision (docs silent on timing): a task reports "Processing" until it is rendered, for
#: at least its first query, and for at least this long after creation (config-independent).
MIN_PROCESSING_S = 0.3
#: tasks remembered; the oldest are forgotten first (their queries then answer 2013)
MAX_TASKS = 10_000
FILE_PURPOSE = "t2a_async_output"
ASYNC_FIELDS_DROPPED = ("stream", "output_format", "stream_options", "subtitle_enable")


@dataclass
class Task:
    task_id: int
    file_id: int
    created: float  # time.monotonic()
    billed: int
    status: str = "Processing"
    queries: int = 0
    #: FileStore object name, once rendered
    object_name: str | None = None
    size: int = 0
    created_at: int = 0  # unix seconds, when the file was written


class AsyncTasks:
    """The account's tasks and its query window (the fake serves one account)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tasks: OrderedDict[int, Task] = OrderedDict()
        self.by_file: dict[int, int] = {}
        self._queries: deque[float] = deque()

    def new_ids(self) -> tuple[int, int]:
        """Two distinct 14-digit ids. Decision: the page's example shows file_id == task_id,
        but they are different things; distinct values catch a client that mixes them up."""
        with self.lock:
            while True:
                task_id = 10**13 + secrets.randbelow(9 * 10**13)
                file_id = 10**13 + secrets.randbelow(9 * 10**13)
                if task_id != file_id and task_id not in self.tasks and file_id not in self.by_file:
                    return task_id, file_id

    def add(self, task: Task) -> None:
        with self.lock:
            self.tasks[task.task_id] = task
            self.by_file[task.file_id] = task.task_id
            while len(self.tasks) > MAX_TASKS:
                _, old = self.tasks.popitem(last=False)
                self.by_file.pop(old.file_id, None)

    def query_allowed(self, now: float | None = None) -> bool:
        """Sliding 1 s window. Decision: rejected (1002) queries do not count, like the
        t2a limiter; answered ones do, whether or not the task exists."""
        now = time.monotonic() if now is None else now
        with self.lock:
            while self._queries and self._queries[0] <= now - QUERY_WINDOW_S:
                self._queries.popleft()
            if len(self._queries) >= QUERY_LIMIT:
                return False
            self._queries.append(now)
            return True


def _tasks(app) -> AsyncTasks:
    return app.t2a_async


def _tar(task_id: int, fmt: str, audio: bytes, titles: list, extra: dict) -> bytes:
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (
            (f"{task_id}.{fmt}", audio),
            (f"{task_id}.titles", json_bytes(titles)),
            (f"{task_id}.extra", json_bytes(extra)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = now
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _check_text(body: dict) -> str:
    text = body.get("text")
    if body.get("text_file_id") is not None and text is None:
        # Decision: uploads are not modelled; say so instead of pretending.
        raise ParamError(2013, "invalid params, text_file_id is not supported by this server; send text")
    if not isinstance(text, str) or not text.strip():
        raise ParamError(2013, "invalid params, text is required and must not be blank")
    if len(text) > catalog.T2A_ASYNC_MAX_CHARS:
        raise ParamError(
            2013,
            f"invalid params, text must be at most {catalog.T2A_ASYNC_MAX_CHARS} characters, got {len(text)}",
        )
    return text


def parse_async(body: object, config):
    """Validate an async body with t2a_v2's own parser. ``parse`` caps text at t2a's 9,999
    characters, so it sees a one-character stand-in (and no sensitive words) and the real text
    gets the same text checks here. Decision: text shape errors are reported before the other
    params, the content checks (pauses, 1042, 1026) after them, as ``parse`` orders them."""
    if not isinstance(body, dict):
        raise ParamError(2013, "invalid params, request body must be a JSON object")
    text = _check_text(body)
    # Decision: stream, output_format, stream_options and subtitle_enable have no meaning for a
    # task (the tar always has titles); they are ignored, not rejected.
    mapped = {k: v for k, v in body.items() if k not in ASYNC_FIELDS_DROPPED and k != "text_file_id"}
    mapped["text"] = "x"
    renamed = False
    aus = body.get("audio_setting")
    if isinstance(aus, dict) and "audio_sample_rate" in aus:
        # Decision: the documented audio_sample_rate wins over sample_rate when both are sent.
        aus = {k: v for k, v in aus.items() if k != "sample_rate"}
        aus["sample_rate"] = aus.pop("audio_sample_rate")
        mapped["audio_setting"] = aus
        renamed = True
    try:
        req = parse(mapped, dataclasses.replace(config, sensitive_words=()))
    except ParamError as err:
        if renamed:
            err.msg = err.msg.replace("audio_setting.sample_rate", "audio_setting.audio_sample_rate")
        raise
    check_text_content(text, config)
    return dataclasses.replace(req, text=text, subtitle=True, stream=False, output_format="hex")


def _render_task(app, task: Task, req, truncate: float | None, adm=None) -> None:
    try:
        rendered = render(app, req, adm)
        data = _tar(task.task_id, req.fmt, rendered.data, rendered.subtitles or [], rendered.extra_info)
        if truncate is not None:
            # Decision: the "truncated_hex" fault truncates the stored tar (as in URL mode).
            data = data[: max(1, int(len(data) * truncate))]
        name = app.files.put(data, "tar")
    except Exception:
        with _tasks(app).lock:
            task.status = "Failed"
        return
    with _tasks(app).lock:
        task.object_name, task.size, task.created_at = name, len(data), int(time.time())
        task.status = "Rendered"


def handle_create(ex: Exchange) -> None:
    admitted = admit_speech(ex, parse_async)
    if admitted is None:
        return
    adm, req = admitted
    app = ex.app
    if adm.fault == "drop":
        # Decision: the connection is cut before the task exists: nothing created, nothing billed.
        ex.note(status_code=0)
        ex.hang_up()
        return

    billed = catalog.billed_characters(req.text, req.model)  # what render's extra_info says
    store = _tasks(app)
    task_id, file_id = store.new_ids()
    task = Task(task_id, file_id, time.monotonic(), billed)
    store.add(task)
    truncate = adm.rng.uniform(0.3, 0.9) if adm.fault == "truncated_hex" else None
    threading.Thread(
        target=_render_task, args=(app, task, req, truncate, adm), name="ttsbatch-fake-async", daemon=True
    ).start()
    ex.note(status_code=0, billed=billed)
    app.gate.record_success()
    ex.reply_json(
        {
            "task_id": task_id,
            "task_token": secrets.token_hex(16),
            "file_id": file_id,
            "usage_characters": billed,
            "trace_id": ex.trace_id,
            "base_resp": {"status_code": 0, "status_msg": "success"},
        }
    )


def _int_param(ex: Exchange, name: str) -> int | None:
    raw = (ex.query.get(name) or [""])[0].strip()
    return int(raw) if raw.isdigit() else None


def _status(app, task: Task) -> str:
    """The status a query sees now (and counts the query)."""
    with _tasks(app).lock:
        task.queries += 1
        first = task.queries == 1
        status = task.status
    if status == "Failed":
        return "Failed"
    young = time.monotonic() - task.created < MIN_PROCESSING_S
    if status != "Rendered" or first or young:
        return "Processing"
    stored = app.files.get(task.object_name) if task.object_name else None
    # Decision: once the file has expired or been evicted (or the store was reset) the task is Expired.
    if stored is None or time.monotonic() >= stored.expires_at:
        return "Expired"
    return "Success"


def _auth_ok(ex: Exchange) -> bool:
    auth = bearer_error(ex)
    if auth is not None:
        reply_error(ex, *auth)
        return False
    # Decision: queries and file calls take the configured latency, but neither the t2a RPM
    # limiter nor its injected faults (they have their own limit, or none documented).
    if ex.app.sleep(ex.app.config.latency_ms / 1000):
        ex.hang_up()
        return False
    return True


def handle_query(ex: Exchange) -> None:
    if not _auth_ok(ex):
        return
    store = _tasks(ex.app)
    if not store.query_allowed():
        reply_error(ex, 1002, "rate limit exceeded(RPM)")
        return
    task_id = _int_param(ex, "task_id")
    with store.lock:
        task = store.tasks.get(task_id) if task_id is not None else None
    if task is None:
        reply_error(ex, 2013, "invalid params, task_id is missing or unknown")
        return
    ex.reply_json(
        {
            "task_id": task.task_id,
            "status": _status(ex.app, task),
            "file_id": task.file_id,
            "trace_id": ex.trace_id,
            "base_resp": {"status_code": 0, "status_msg": "success"},
        }
    )


def _file_for(ex: Exchange):
    """After the key check: the task behind ``?file_id=`` and its stored bytes, or None once
    the error reply is sent (the key's, or 2013)."""
    if not _auth_ok(ex):
        return None
    store = _tasks(ex.app)
    file_id = _int_param(ex, "file_id")
    with store.lock:
        task = store.tasks.get(store.by_file.get(file_id, -1)) if file_id is not None else None
        name = task.object_name if task else None
    stored = ex.app.files.get(name) if name else None
    if task is None or stored is None:
        # Decision: unknown, unfinished and evicted files all answer 2013 (docs silent).
        reply_error(ex, 2013, "invalid params, file_id is missing, unknown or not ready")
        return None
    return task, name, stored


def handle_retrieve(ex: Exchange) -> None:
    found = _file_for(ex)
    if found is None:
        return
    task, name, _ = found
    ex.reply_json(
        {
            "file": {
                "file_id": task.file_id,
                "bytes": task.size,
                "created_at": task.created_at,
                "filename": f"{task.task_id}.tar",
                "purpose": FILE_PURPOSE,
                "download_url": ex.app.files.url(ex.base_url, name),
            },
            "trace_id": ex.trace_id,
            "base_resp": {"status_code": 0, "status_msg": "success"},
        }
    )


def handle_retrieve_content(ex: Exchange) -> None:
    found = _file_for(ex)
    if found is None:
        return
    _, _, stored = found
    if time.monotonic() >= stored.expires_at:
        # Decision: the API path shares the object's lifetime; once expired it is gone.
        reply_error(ex, 2013, "invalid params, the file has expired")
        return
    ex.note(status_code=0)
    ex.reply(stored.data, content_type="application/x-tar")


def register(app) -> None:
    # Decision: the task table lives on the app (one account per fake); ``app.reset()`` clears
    # the files, after which earlier tasks report Expired.
    app.t2a_async = AsyncTasks()
    app.router.add("POST", catalog.T2A_ASYNC_PATH, handle_create)
    app.router.add("GET", catalog.T2A_ASYNC_QUERY_PATH, handle_query)
    app.router.add("GET", catalog.FILES_RETRIEVE_PATH, handle_retrieve)
    app.router.add("GET", catalog.FILES_CONTENT_PATH, handle_retrieve_content)
