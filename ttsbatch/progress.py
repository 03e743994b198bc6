"""Progress on stderr: a tqdm bar on a terminal (lines, audio seconds, cost so far)."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.audio_s = 0.0
        self.cost = 0.0
        self._bar = None

    def __enter__(self) -> Progress:
        # disable=None: tqdm turns itself off when stderr is not a terminal (CI logs)
        self._bar = tqdm(total=self.total, unit="line", file=sys.stderr, disable=None, dynamic_ncols=True)
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()

    def update(self, item) -> None:
        self.audio_s += item.duration_s or 0.0
        self.cost += item.cost_usd
        self._bar.set_postfix_str(f"audio {self.audio_s:.0f}s ${self.cost:.4f}", refresh=False)
        self._bar.update(1)
