"""ttsbatch: manifest in, finished voice audio out, through MiniMax's speech API."""

__version__ = "0.1.0"
