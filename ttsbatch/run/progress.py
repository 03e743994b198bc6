"""Progress on stderr: a tqdm bar on a terminal (lines, audio seconds, cost so far), and
on anything else (CI logs) a plain line every ``LOG_EVERY_S`` seconds and at the end, so
logs show life without thousands of carriage-return frames."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

LOG_EVERY_S = 10.0


class Progress:
    def __init__(self, total: int, *, stream=None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.done = 0
        self.audio_s = 0.0
        self.cost = 0.0
        self._bar = None
        self._last_log = 0.0

    def __enter__(self) -> Progress:
        if self.stream.isatty():
            self._bar = tqdm(total=self.total, unit="line", file=self.stream, dynamic_ncols=True)
        self._last_log = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.done:
            self._log()

    def _log(self) -> None:
        print(
            f"progress: {self.done}/{self.total} lines · audio {self.audio_s:.0f} s · ${self.cost:.4f}",
            file=self.stream,
        )
        self._last_log = time.monotonic()

    def update(self, item) -> None:
        self.done += 1
        self.audio_s += item.duration_s or 0.0
        self.cost += item.cost_usd
        if self._bar is not None:
            self._bar.set_postfix_str(f"audio {self.audio_s:.0f}s ${self.cost:.4f}", refresh=False)
            self._bar.update(1)
        elif time.monotonic() - self._last_log >= LOG_EVERY_S:
            self._log()
