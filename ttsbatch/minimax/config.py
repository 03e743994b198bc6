"""Where to send requests and with which key: resolved once, before anything is sent.

Precedence for the host: ``--api-base``, then ``MINIMAX_API_BASE`` (LiteLLM's name), then
``MINIMAX_API_HOST`` (MiniMax-MCP's name), then the ``--region`` host. Only the host is taken
from any of them: the client adds the paths itself, so one variable serves the speech, chat
and Anthropic-style endpoints (LiteLLM's pitfall is a base that already holds ``/v1``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ttsbatch.errors import UsageError
from ttsbatch.minimax import catalog, scrub

KEY_ENV = "MINIMAX_API_KEY"
KEYS_ENV = "MINIMAX_API_KEYS"
BASE_ENVS = ("MINIMAX_API_BASE", "MINIMAX_API_HOST")
#: an OpenAI-compatible gateway (``--backend openai``) has its own key and host: in a
#: LiteLLM setup MINIMAX_API_KEY/MINIMAX_API_BASE are the proxy's upstream, not the proxy
GATEWAY_KEY_ENV = "TTSBATCH_GATEWAY_KEY"
GATEWAY_BASE_ENV = "TTSBATCH_GATEWAY_BASE"
#: ``--backend`` choices: MiniMax's native API, or an OpenAI-compatible gateway in front of it
BACKENDS = ("minimax", "openai")


class Secret:
    """Holds the API key so that printing, logging or repr-ing a config cannot leak it, and
    registers it with ``scrub`` so that no service message can echo it either."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        scrub.register(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class ApiConfig:
    base_url: str
    api_key: Secret = field(repr=False)


def normalise_base(url: str) -> str:
    """Keep scheme and host (and any path prefix a proxy needs), drop a trailing ``/v1``."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"API base must be an http(s) URL like https://api.minimax.io, got {url!r}")
    path = parts.path
    for suffix in ("/v1", "/anthropic/v1", "/anthropic"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return f"{parts.scheme}://{parts.netloc}{path}"


def resolve_base_url(api_base: str | None, region: str | None, env: dict | None = None) -> str:
    env = os.environ if env is None else env
    if api_base:
        return normalise_base(api_base)
    for name in BASE_ENVS:
        if env.get(name):
            return normalise_base(env[name])
    region = region or catalog.DEFAULT_REGION
    if region not in catalog.REGION_HOSTS:
        raise UsageError(f"--region must be one of {', '.join(catalog.REGION_HOSTS)}, got {region!r}")
    return catalog.REGION_HOSTS[region]


def resolve_api_key(env: dict | None = None) -> Secret:
    """``MINIMAX_API_KEY``, else the first of ``MINIMAX_API_KEYS`` (several accounts: the
    run layer spreads the work over all of them)."""
    env = os.environ if env is None else env
    key = (env.get(KEY_ENV) or "").strip()
    if not key:
        key = next((k.strip() for k in (env.get(KEYS_ENV) or "").split(",") if k.strip()), "")
    if not key:
        raise UsageError(
            f"no API key: set {KEY_ENV} to your MiniMax key ({KEYS_ENV}, comma separated, or --keys-file "
            "for several accounts) (or use --offline to run against the bundled fake server)"
        )
    return Secret(key)


def resolve_gateway(api_base: str | None, env: dict | None = None, api_key: str | None = None) -> ApiConfig:
    """``--backend openai``: the gateway's host (``--api-base``, else TTSBATCH_GATEWAY_BASE;
    there is no default) and its key (``api_key``, else TTSBATCH_GATEWAY_KEY). Raises
    UsageError before anything is sent."""
    env = os.environ if env is None else env
    if api_key:
        env = {**env, GATEWAY_KEY_ENV: api_key}
    base = api_base or env.get(GATEWAY_BASE_ENV)
    if not base:
        raise UsageError(
            f"--backend openai needs the gateway's URL: --api-base http://HOST:PORT (or {GATEWAY_BASE_ENV})"
        )
    key = (env.get(GATEWAY_KEY_ENV) or "").strip()
    if not key:
        raise UsageError(f"no gateway key: set {GATEWAY_KEY_ENV} to the key the gateway gave you")
    return ApiConfig(normalise_base(base), Secret(key))
