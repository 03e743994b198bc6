"""A MiniMax-compatible fake server, shipped as a product: CI, demos, tests and benchmarks.

``with FakeServer(FakeConfig(seed=1, faults={"1002": 0.1})) as server: server.base_url``
serves MiniMax's speech (``/v1/t2a_v2`` and the async task), voice list, files and chat
endpoints over real loopback HTTP with real audio (espeak-ng when the
``espeakng-loader`` wheel is installed, else a speech-like tone voice), the service's
validation and error codes, rate limits, and reproducible fault injection.
"""

from ttsbatch.fake.config import FakeConfig
from ttsbatch.fake.server import FakeServer

__all__ = ["FakeConfig", "FakeServer"]
