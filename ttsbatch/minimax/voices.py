"""The voices an account can use (MiniMax's ``/v1/get_voice``), as rows to list and search."""

from __future__ import annotations

from ttsbatch.minimax import catalog
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.minimax.speech import MiniMaxClient

#: what ``/v1/get_voice`` takes as ``voice_type``
VOICE_TYPES = ("system", "voice_cloning", "voice_generation", "all")


async def list_voices(api: ApiConfig, voice_type: str = "all", search: str | None = None) -> list[dict]:
    """One row per voice: voice_id, name, type, description, and its OpenAI alias if any;
    ``search`` keeps those whose fields contain it (case-insensitive)."""
    async with MiniMaxClient(api, timeout=30) as client:
        listing = await client.get_voices(voice_type)
    return voice_rows(listing, search)


def voice_rows(listing: dict[str, list[dict]], search: str | None = None) -> list[dict]:
    aliases = {v: k for k, v in catalog.OPENAI_VOICE_ALIASES.items()}
    rows = []
    for kind, entries in listing.items():
        for entry in entries:
            row = {
                "voice_id": entry.get("voice_id"),
                "name": entry.get("voice_name") or "",
                "type": kind,
                "description": " ".join(entry.get("description") or []),
                "alias": aliases.get(entry.get("voice_id")),
            }
            haystack = " ".join(str(v) for v in row.values() if v).lower()
            if not search or search.lower() in haystack:
                rows.append(row)
    return rows


def voice_line(row: dict) -> str:
    """A row as ``ttsbatch voices`` prints it."""
    alias = f"  (alias: {row['alias']})" if row["alias"] else ""
    return f"{row['voice_id']:<36} {row['type']:<16} {row['description']}{alias}"
