"""What ``ttsbatch script`` asks the model: the speakers, the system prompt and the user message.

The answer must come back as one JSON object in a fixed shape (``SYSTEM_PROMPT``), with the
``--speakers`` names and voices copied exactly, so ``answer`` can check every line against
them. The user message is plain text a person (and the fake model) can read.
"""

from __future__ import annotations

import json

from ttsbatch.errors import UsageError
from ttsbatch.manifest.cast import parse_pairs
from ttsbatch.minimax import catalog

KINDS = ("podcast", "audiobook", "lines")
MAX_SPEAKERS = 4
DEFAULT_SPEAKERS = {
    "podcast": {"Host": "English_Trustworthy_Man", "Guest": "English_Graceful_Lady"},
    "audiobook": {"Narrator": "English_expressive_narrator"},
    "lines": {"Voice": "English_expressive_narrator"},
}
#: what the prompt asks per line (the manifest allows up to catalog.T2A_MAX_CHARS)
PROMPT_LINE_CHARS = 1000
PROMPT_EMOTIONS = ("happy", "sad", "angry", "fearful", "disgusted", "surprised", "calm")

SYSTEM_PROMPT = """\
You write scripts that a text-to-speech engine will read aloud, line by line.
Reply with ONE JSON object and nothing else: no prose, no code fences, no comments.
The object has exactly this shape:
{"title": "a short title",
 "lines": [{"speaker": "Host", "voice": "the speaker's voice", "group": "intro", "text": "What is said."}]}
Rules:
- "speaker" is one of the speaker names given; "voice" is that speaker's voice, copied exactly.
- "text" is exactly what is spoken: plain sentences, no speaker names, no stage directions,
  no Markdown, no emoji, at most %(chars)d characters; split longer speeches into several lines.
- "group" names the part the line belongs to (a segment or a chapter).
- Optional per line: "emotion" (one of %(emotions)s) and "pause_after" (seconds of silence
  after the line, 0 to 5).
%(kind_rules)s"""

KIND_RULES = {
    "podcast": "- A conversation: the first speaker hosts, opens and closes the episode. Use groups "
    'such as "intro", "main" and "outro".\n',
    "audiobook": "- Narration: the first speaker narrates, others voice characters. One group per chapter, "
    'named "Chapter 1", "Chapter 2", ….\n',
    "lines": '- Standalone lines (prompts, announcements, game lines). Give each line an "id" naming its '
    "purpose: letters, digits, '.', '_' or '-' only, unique.\n",
}

REASK = (
    "Your reply could not be used: {reason}. Reply again with only the JSON object described "
    "in the instructions: no prose, no code fences, no comments."
)


def parse_speakers(value: str | None, kind: str) -> dict[str, str]:
    """``Host=VOICE,Guest=VOICE`` → ordered map; 1-4 speakers, unique names, plausible voices.
    Voices are kept as written (an OpenAI name such as ``nova`` is resolved by ``ttsbatch run``)."""
    if not value or not value.strip():
        return dict(DEFAULT_SPEAKERS[kind])
    speakers = parse_pairs(value, "--speakers")
    for name, voice in speakers.items():
        if voice.lower() not in catalog.OPENAI_VOICE_ALIASES and not catalog.VOICE_ID_PATTERN.fullmatch(
            voice
        ):
            raise UsageError(
                f"--speakers: {name}: expected a voice id or an OpenAI voice name, got {voice!r}"
            )
    if not 1 <= len(speakers) <= MAX_SPEAKERS:
        raise UsageError(f"--speakers takes 1 to {MAX_SPEAKERS} speakers, got {len(speakers)}")
    return speakers


def build_prompt(
    kind: str, brief: str, speakers: dict[str, str], *, language: str | None = None, lines: int | None = None
) -> tuple[str, str]:
    """``(system, user)``. The user message is plain text a person (and the fake model) can
    read: ``Kind:``, the speakers as ``- "Name": voice "VOICE"``, then ``Brief:`` and the brief."""
    system = SYSTEM_PROMPT % {
        "chars": PROMPT_LINE_CHARS,
        "emotions": ", ".join(PROMPT_EMOTIONS),
        "kind_rules": KIND_RULES[kind],
    }
    user = [
        f"Write a {kind} script as JSON.",
        "",
        f"Kind: {kind}",
        "Speakers (use these exact names and voices):",
    ]
    user += [
        f"- {json.dumps(n, ensure_ascii=False)}: voice {json.dumps(v, ensure_ascii=False)}"
        for n, v in speakers.items()
    ]
    if lines:
        user.append(f"Length: about {lines} lines")
    if language:
        user.append(f"Language: {language} (write every line in {language})")
    user += ["", "Brief:", brief.strip()]
    return system, "\n".join(user)
