"""``--rpm auto``: find an account's rate limit while running, from the service's own signals.

Users rarely know their limit (plans run from 10 to 800 RPM), and a guess costs either
throughput (too low) or rate errors (too high). The service says "too many" (1002, 1039,
2045, 429) once its window is full or a burst is too dense; this controller reads that only.

Why it works the way it does, for a service that counts a sliding 60 s window (the model of
the bundled fake and of the emulator in issue 14; the fake also refuses any 5 s holding more
than twice the average rate):

* **Find**: start safely (20 RPM, the smallest paid plan, or the rate remembered for this
  account) and double the pace every ``DOUBLING_S`` of sending. Fast growth costs little:
  the window fills once, and what the service accepted in the 60 s before its first "too
  many" is its limit when the window was the cause.
* **Confirm**: that signal may instead have been a burst refusal with the window far from
  full, and the two look alike from here. So the limit is raised as the pace was, with the
  pace capped at half the rate accepted in the last ``BURST_S`` before the refusal (TCP's
  rule after a loss: safe under a burst rule of twice the average; the cap itself doubles
  every ``CAP_DOUBLING_S``). A full window refuses the first request over it; a
  burst-limited account climbs on to its window. Two signals at one count (within
  ``CONFIRM_SHARE``), or one met while climbing evenly at the cap, confirm the limit; one
  far below the last count (a smaller plan, a second client) starts confirming again.
  Replies to requests sent before a signal are that same overload and neither confirm nor
  raise anything, and after a signal the next request waits one interval at the new pace
  (sent at once it would meet the same burst).
* **Settle**: pace evenly at ``SETTLE`` of the limit, behind a mirror of the account's window
  (requests in flight plus successes of the last 60 s, timed by their reply, which is never
  earlier than the service counted them, so the mirror errs on the safe side).
  ``window_wait`` says how long until it has room. It matters after the ramp: the window is
  then full of recent requests, an even pace alone would be refused until they age out,
  and the mirror sends exactly as they do.
* **Probe**: a plan can be upgraded, so after ``QUIET_S`` without a signal the limit is raised
  by 1 %, then each window by twice the last step. A probe that meets a signal costs about
  one refused request and doubles the quiet time; no probe starts while signals are above
  ``PROBE_BUDGET`` of requests, which keeps the total under 3 %.

A pure class: every call takes the time (seconds on one monotonic clock), so tests drive it
through minutes of simulated service in milliseconds. Per request the limiter calls
``on_send`` when it starts, then one of ``on_success``, ``on_rate_signal`` or ``on_error``.
"""

from __future__ import annotations

import collections
import math

#: where the service counts: its sliding window (a minute, so a limit in it is an RPM)
WINDOW_S = 60.0
#: the first pace when nothing is remembered: MiniMax's smallest paid plan
START_RPM = 20.0
#: the pace never grows past this (100 requests a second): no plan comes near it
MAX_RPM = 6000.0
#: while finding, the pace doubles every this many seconds of sending
DOUBLING_S = 5.0
#: the span a burst rule looks at (the bundled fake's): after a refusal that may have been a
#: burst, the pace is capped at half the rate accepted in it
BURST_S = 5.0
#: while confirming, the cap on the pace doubles every this many seconds of sending
CAP_DOUBLING_S = 300.0
#: two signals whose counts differ by less than this share are the same limit
CONFIRM_SHARE = 0.03
#: settled pace as a share of the limit: loop jitter must not meet the limit
SETTLE = 0.97
#: quiet time before the first probe, doubled by each probe that meets a signal
QUIET_S = 120.0
MAX_QUIET_S = 3600.0
#: no probe while signals are above this share of requests (the target is 3 %)
PROBE_BUDGET = 0.02


class AutoRate:
    """The pace and window mirror for one account (see the module docstring for the why).

    ``known_rpm`` is a limit an earlier run found (``remember.load_found``): start settled at
    it, so the next run is at full speed from its first request.
    """

    def __init__(self, *, start_rpm: float = START_RPM, known_rpm: float | None = None) -> None:
        if start_rpm <= 0 or (known_rpm is not None and known_rpm <= 0):
            raise ValueError("rates must be positive")
        #: requests the service accepts in its window (its RPM); None while finding
        self.limit: float | None = None
        #: True once two signals agreed (or the limit was remembered)
        self.confirmed = False
        self.sent = 0
        self.signals = 0
        self._pace = start_rpm
        self._pace_cap = MAX_RPM  # while confirming: a pace no burst rule refuses (growing)
        self._signal_count: float | None = None  # what the window held at the latest signal
        self._stale = 0  # requests still in flight from before the latest signal
        self._in_flight = 0
        self._replies: collections.deque[float] = collections.deque()  # success times, oldest first
        self._quiet_s = QUIET_S
        self._quiet_since = 0.0  # last signal or probe step
        self._last_signal = -math.inf
        self._probe_step = 0.0
        self._found: float | None = None
        if known_rpm is not None:
            self.limit = self._signal_count = self._found = known_rpm
            self.confirmed = True
            self._set_pace()

    # -- what the limiter asks -------------------------------------------------------------
    def rate(self) -> float:
        """The pace to send at, in requests per minute."""
        return self._pace

    @property
    def found_rpm(self) -> float | None:
        """The rate to report and remember: the confirmed limit, or the most the window has
        held since (a probe that found more); never a probe step not yet borne out. None
        until a limit is confirmed, so a short run that never met it remembers nothing."""
        return self._found if self.confirmed else None

    def window_wait(self, now: float) -> float:
        """Seconds until the mirrored window has room for one more request (0: send now)."""
        if self.limit is None:
            return 0.0
        # after a refusal, one interval at the new pace first: a request sent at once would
        # meet the same burst, and its refusal would be read as a full window
        hold = self._last_signal + 60.0 / self._pace - now
        if hold > 0:
            return hold
        self._expire(now)
        excess = self._in_flight + len(self._replies) + 1 - math.floor(self.limit)
        if excess <= 0:
            return 0.0
        if excess > len(self._replies):  # the room is taken by requests still in flight
            return 60.0 / self._pace
        return max(0.0, self._replies[excess - 1] + WINDOW_S - now)

    # -- what the limiter reports ----------------------------------------------------------
    def on_send(self, now: float) -> None:
        """A request starts (after the pacer's slot and ``window_wait``)."""
        self.sent += 1
        self._in_flight += 1

    def on_success(self, now: float) -> None:
        """The service accepted a request (any reply that is not a rate signal or an error)."""
        if self._reply(now):  # accepted although sent before the signal: the window held it too
            if self.limit is not None:
                self.limit = max(self.limit, len(self._replies) + (0.0 if self.confirmed else 1.0))
            return
        if self.limit is None:  # finding: doubling per DOUBLING_S of sending, none while idle
            self._pace = min(MAX_RPM, self._pace * 2 ** (60.0 / self._pace / DOUBLING_S))
        elif not self.confirmed:  # confirming: the limit grows as the pace did while finding,
            # the cap slowly (a burst rule stricter than twice the average must not pin it)
            self.limit = min(MAX_RPM, self.limit * 2 ** (60.0 / self._pace / DOUBLING_S))
            self._pace_cap = min(MAX_RPM, self._pace_cap * 2 ** (60.0 / self._pace / CAP_DOUBLING_S))
            self._set_pace()
        else:
            self._found = max(self._found or 0.0, float(len(self._replies)))
            if self._probe_due(now) and self.signals + 1 <= PROBE_BUDGET * self.sent:
                self._probe_step = 2 * self._probe_step or max(1.0, 0.01 * self.limit)
                self.limit = min(MAX_RPM, self.limit + self._probe_step)
                self._quiet_since = now
                self._set_pace()

    def on_error(self, now: float) -> None:
        """A reply that says nothing about the rate (5xx, timeout): the service may have
        counted the request, so the mirror keeps it for a window."""
        self._reply(now)

    def on_rate_signal(self, now: float) -> None:
        """The service said "too many" (1002, 1039, 2045, 429) to a request sent with ``on_send``."""
        self._in_flight = max(0, self._in_flight - 1)
        self.signals += 1
        self._expire(now)
        if self._stale:  # sent before the last signal: the same overload, nothing new
            self._stale -= 1
            return
        count = max(1.0, float(len(self._replies)))  # what the window held when it refused
        last = self._signal_count
        same = last is not None and last * (1 - CONFIRM_SHARE) - 1 <= count <= last * (1 + CONFIRM_SHARE) + 1
        # climbing evenly at the cap, which a burst rule of twice the average never refuses
        full_at_cap = (
            not self.confirmed and last is not None and count > last and self._pace >= self._pace_cap
        )
        if same or full_at_cap:
            if self.confirmed:  # a probe went too far: probe less often
                self._quiet_s = min(MAX_QUIET_S, self._quiet_s * 2)
            self.confirmed = True
            self._found = count
        elif not self.confirmed or (last is not None and count < last):
            # the first signal, a climb still going, or a count far below the last (a burst
            # refusal, a smaller plan, a second client): find out which, at a burst-safe pace
            recent = sum(1 for t in self._replies if t > now - BURST_S)
            self.confirmed = False
            self._pace_cap = max(SETTLE * count, recent * 60.0 / BURST_S / 2)
        self._signal_count = count
        self._last_signal = now
        self._stale = self._in_flight
        # unconfirmed, leave room for one more: its verdict tells a full window from a burst
        self.limit = count if self.confirmed else count + 1
        self._quiet_since = now
        self._probe_step = 0.0
        self._set_pace()

    # -- inside ------------------------------------------------------------------------------
    def _probe_due(self, now: float) -> bool:
        """A quiet period after a signal; one window after a probe step that met none (the
        window has filled at the new pace by then)."""
        quiet = WINDOW_S if self._probe_step else self._quiet_s
        return now - self._quiet_since >= quiet

    def _set_pace(self) -> None:
        assert self.limit is not None
        pace = SETTLE * self.limit
        self._pace = pace if self.confirmed else min(pace, self._pace_cap)

    def _reply(self, now: float) -> bool:
        """Count a reply in the mirror; True when it answers a request sent before the last
        signal (it can neither confirm nor raise the limit)."""
        self._in_flight = max(0, self._in_flight - 1)
        self._replies.append(now)
        self._expire(now)
        if self._stale:
            self._stale -= 1
            return True
        return False

    def _expire(self, now: float) -> None:
        while self._replies and self._replies[0] <= now - WINDOW_S:
            self._replies.popleft()
