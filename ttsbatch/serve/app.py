"""The Starlette app: OpenAI's speech routes, the client key, the body cap, headers, the log.

Routes: ``POST /v1/audio/speech`` (audio bytes, or an OpenAI error envelope), ``GET
/v1/models``, and ``GET /health`` (no key, for load balancers). Clients present the server's
own key (``--key``) as ``Authorization: Bearer``; the MiniMax key stays inside the backend and
is never accepted from, nor shown to, a client. Every answer carries ``x-request-id``; audio
answers add what the request cost (``x-ttsbatch-cost-usd``, ``x-ttsbatch-billed-characters``,
``x-ttsbatch-cache``) and MiniMax's trace id (``x-ttsbatch-trace-id``), which support asks for.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ttsbatch.backends.base import SpeechBackend
from ttsbatch.minimax import catalog, errors
from ttsbatch.minimax.config import Secret
from ttsbatch.run import pacing
from ttsbatch.run.account_pool import AccountPool
from ttsbatch.run.accounts import Account
from ttsbatch.run.ledger import Ledger
from ttsbatch.serve import request as speech_request
from ttsbatch.serve.errors import ApiError, from_minimax
from ttsbatch.serve.speech import SpeechService

#: a 9,999-character input of CJK escaped as \\uXXXX is ~60 KB; nothing legitimate is larger
MAX_BODY_BYTES = 256 * 1024

access_log = logging.getLogger("ttsbatch.serve.access")
server_log = logging.getLogger("ttsbatch.serve")

#: what a browser page may read of an answer (CORS hides other headers from scripts)
EXPOSED_HEADERS = [
    "x-ttsbatch-cost-usd",
    "x-ttsbatch-billed-characters",
    "x-ttsbatch-cache",
    "x-ttsbatch-trace-id",
    "x-ttsbatch-duration-s",
    "x-ttsbatch-model",
    "x-request-id",
    "retry-after",
]


@dataclass(frozen=True)
class ServeSettings:
    client_key: Secret
    cache_dir: Path
    #: the account's requests per minute; None: ``--rpm auto`` (found, and remembered for it)
    rpm: float | None = None
    concurrency: int = 8
    #: a Redis URL sharing the account's schedule across machines; None: this machine's file
    #: store, the one a ``ttsbatch run`` of the same account books in (``run.pacing``)
    rate_store: str | None = None
    #: pace in this process only: ``--offline``'s throwaway account shares nothing
    local_rates: bool = False
    model: str = catalog.DEFAULT_SPEECH_MODEL
    #: the MiniMax key, only so that an echo of it can be cut out of a message
    upstream_key: Secret = Secret("")
    max_body_bytes: int = MAX_BODY_BYTES
    #: browser origins allowed to call (CORS); none by default: most clients are not browsers
    cors_origins: tuple[str, ...] = ()


def create_app(settings: ServeSettings, backend: SpeechBackend, account: Account) -> Starlette:
    """The app over ``backend``, which spends ``account`` (both opened and closed with the
    app's lifespan). Requests are paced as a run's are (``run.pacing.account_pool``): on the
    account's schedule in the rate store, which every process spending it shares."""
    state: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        ledger = Ledger(settings.cache_dir)
        try:
            async with (
                backend,
                pacing.account_pool(
                    [account],
                    [backend],
                    rpm=settings.rpm,
                    concurrency=settings.concurrency,
                    rate_store=settings.rate_store,
                    local=settings.local_rates,
                    say=lambda message: server_log.info("ttsbatch serve: %s", message),
                ) as pool,
            ):
                service = state["service"] = SpeechService(backend, pool, ledger)
                state["pool"] = pool
                yield
                await service.drain()
        finally:
            ledger.close()

    async def speech(request: Request) -> Response:
        _authorise(request, settings.client_key)
        body = await _read_json(request, settings.max_body_bytes)
        order = speech_request.parse(body, default_model=settings.model)
        request.state.log = {
            "model": order.request.model,
            "voice": order.request.voice,
            "fmt": order.response_format,
        }
        service: SpeechService = state["service"]
        try:
            spoken = await service.speak(order, request.state.request_id)
        except errors.MiniMaxError as exc:
            pool: AccountPool = state["pool"]
            raise from_minimax(
                exc, default_retry_s=pool.eta(), secret=settings.upstream_key.reveal()
            ) from None
        request.state.log.update(
            cache=spoken.cache, chars=spoken.billed_characters, cost=f"{spoken.cost_usd:.6f}"
        )
        request.state.log["trace"] = spoken.trace_id
        headers = {
            "x-ttsbatch-cost-usd": f"{spoken.cost_usd:.6f}",
            "x-ttsbatch-billed-characters": str(spoken.billed_characters),
            "x-ttsbatch-cache": spoken.cache,
            "x-ttsbatch-duration-s": f"{spoken.duration_s:.3f}",
            "x-ttsbatch-model": order.request.model,
        }
        if spoken.trace_id:
            headers["x-ttsbatch-trace-id"] = spoken.trace_id
        return Response(spoken.data, media_type=spoken.content_type, headers=headers)

    async def models(request: Request) -> Response:
        _authorise(request, settings.client_key)
        names = [*speech_request.OPENAI_MODELS, *catalog.SPEECH_MODELS]
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "minimax"} for name in names]
        return JSONResponse({"object": "list", "data": data})

    async def health(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _crash},
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type"],
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
    return AccessLog(app)


def _authorise(request: Request, key: Secret) -> None:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.reveal().encode()):
        raise ApiError(
            401,
            "missing or wrong API key: send this server's key (ttsbatch serve --key) as Authorization: Bearer",
            code="invalid_api_key",
        )


async def _read_json(request: Request, limit: int) -> object:
    declared = request.headers.get("content-length")
    too_large = ApiError(413, f"request body is larger than {limit} bytes", code="body_too_large")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "request body is not JSON", code="invalid_json") from None


def _error_response(request: Request, error: ApiError) -> Response:
    headers = dict(error.headers)
    if error.trace_id:
        headers["x-ttsbatch-trace-id"] = error.trace_id
    log = getattr(request.state, "log", None)
    if log is not None:
        log["error"] = error.code
    else:
        request.state.log = {"error": error.code}
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "no such route", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
    return _error_response(request, ApiError(exc.status_code, message, code=f"http_{exc.status_code}"))


async def _crash(request: Request, exc: Exception) -> Response:
    server_log.error("internal error: %s", type(exc).__name__)
    return _error_response(
        request, ApiError(500, f"internal error ({type(exc).__name__})", code="internal_error")
    )


class AccessLog:
    """ASGI wrapper: a request id for every request and one log line per answer. The line
    holds what was done, never a header, a key or the text."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.monotonic()
        seen = {"status": 0, "bytes": 0}

        async def send_logged(message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            extra = scope["state"].get("log") or {}
            client = (scope.get("client") or ("-", 0))[0]
            fields = " ".join(f"{k}={v}" for k, v in extra.items() if v is not None)
            access_log.info(
                "%s %s %s %d %dB %.0fms req=%s %s",
                client,
                scope["method"],
                scope["path"],
                seen["status"],
                seen["bytes"],
                (time.monotonic() - started) * 1000,
                request_id,
                fields,
            )
