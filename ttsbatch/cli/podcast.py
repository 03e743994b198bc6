"""``ttsbatch podcast``: ``script`` then ``run`` in one go, into one episode folder."""

from __future__ import annotations

from pathlib import Path

import click

from ttsbatch.audio.subtitles import FORMATS as SUBTITLE_FORMATS
from ttsbatch.cli.options import api_options
from ttsbatch.cli.run import render
from ttsbatch.cli.script import script_command
from ttsbatch.minimax.chat.client import APIS
from ttsbatch.run import settings

#: the presets made for a spoken episode
EPISODE_PRESETS = ("podcast", "podcast-mono", "spotify")


@click.command(name="podcast")
@click.option("--prompt", required=True, help="What the episode is about.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Episode folder.",
)
@click.option("--speakers", help="Speaker=VOICE pairs, 1 to 4 [default: Host and Guest].")
@click.option("--lines", "line_count", type=click.IntRange(1, 500), help="About how many lines to write.")
@click.option("--api", "api_name", default="chat", show_default=True, type=click.Choice(list(APIS)))
@click.option("--master", default="podcast", show_default=True, type=click.Choice(EPISODE_PRESETS))
@click.option("--rpm", default=settings.DEFAULTS["rpm"], show_default=True, help="A number, or auto (see run).")
@click.option(
    "--subtitles",
    type=click.Choice(SUBTITLE_FORMATS),
    help="Also write episode.srt or episode.vtt (see run).",
)
@api_options(timeout_s=300.0)
@click.pass_context
def podcast_command(
    ctx: click.Context,
    prompt,
    out_dir: Path,
    speakers,
    line_count,
    api_name,
    master,
    rpm,
    subtitles,
    max_retries,
    timeout,
    api_base,
    region,
    offline,
):
    """Script, render and join an episode in one go: DIR/episode.jsonl (kept for editing),
    DIR/episode.mp3 at podcast loudness, a chapter mark per segment. Run it again after editing the manifest: only
    changed lines are rendered, and the LLM is not asked again."""
    manifest = out_dir / "episode.jsonl"
    if manifest.exists():
        click.echo(
            f"{manifest} exists: rendering it as it is (no LLM call); delete it to write a new script",
            err=True,
        )
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            ctx.invoke(
                script_command, prompt=prompt, kind="podcast", speakers=speakers, out=manifest, api=api_name,
                line_count=line_count, max_retries=max_retries, timeout=timeout, api_base=api_base,
                region=region, offline=offline,
            )  # fmt: skip
        except SystemExit as exc:
            if exc.code:
                raise
    options = {"join": "episode", "master": master, "rpm": rpm, "subtitles": subtitles}
    options.update(max_retries=max_retries, timeout=timeout)
    render(manifest, out_dir, options, {"api_base": api_base, "region": region, "offline": offline})
