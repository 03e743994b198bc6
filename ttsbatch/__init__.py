"""ttsbatch: manifest in, finished voice audio out, through MiniMax's speech API."""

from ttsbatch.version import __version__

__all__ = ["__version__"]
