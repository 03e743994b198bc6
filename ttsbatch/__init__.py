"""ttsbatch: manifest in, finished voice audio out, through MiniMax's speech API.

From Python: ``ttsbatch.render("lines.jsonl", out_dir="out", voice="Calm_Woman")`` renders a
manifest (or ``lines=[{...}, ...]``) and returns its report; ``ttsbatch.estimate(...)`` says
what that would send and cost without sending anything (see ``ttsbatch.api``).
"""

from ttsbatch.api import RenderResult, estimate, render
from ttsbatch.errors import ExitCode, UsageError
from ttsbatch.manifest.types import ManifestError
from ttsbatch.version import __version__

__all__ = ["ExitCode", "ManifestError", "RenderResult", "UsageError", "__version__", "estimate", "render"]
