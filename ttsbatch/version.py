"""The release, in a leaf module: every layer may stamp it without importing the public API."""

__version__ = "0.1.0"
