"""Client-side request pacing shared by every request thread: learn an API's rate limit
from its first refusal, then stay just under it.

Written by hand because neither requests nor dlt paces requests: dlt's retry honours
`Retry-After` for the one request that got the 429, while the other threads keep
hammering. Here all threads share one pacer, so a run against a limited API converges
to the limit instead of bouncing off it.

The model is the gateway's: at most N requests in any one-second window (a sliding
window per key, what real gateways do; a token bucket of N per second is close to it).
- `--rate-limit N` (a known limit): never more than N requests leave in any window
  (a request leaves only when the oldest of the last N left more than WINDOW + GUARD ago,
  GUARD covering network jitter: 30 ms, or less when the round trips vary less
  (_measure_guard), doubled after each episode of refusals that jitter explains),
  evenly spaced (WINDOW + GUARD) / N apart: the window's share, spread so that every
  gap has its margin (a gateway without bursts refuses two closer than 1/N).
- An unknown limit: the pace starts where a refusal would cost at most START_IN_FLIGHT
  requests (START_IN_FLIGHT / round-trip time: unpaced on a fast network, 40/s at 50 ms)
  and grows by GROWTH per second, smoothly, so that the window's count follows the pace.
  The first refusal (429, or any answer that says the rate was exceeded) tells the limit:
  the requests that left in the second before the refused one, all accepted. From then on
  the run paces as for a known limit. A refused request does not count in the window
  (the gateway did not count it either). A refusal with fewer than MIN_EVIDENCE of ours
  in the window tells nothing (another client may have spent it, or the gateway allows no
  burst): every request waits for its Retry-After (or a window), and the pace ramps up
  again from half the pace that was refused, doubling each second (RESTART_GROWTH). Why:
  a gateway without bursts (one request per 1/N s) refuses any pace above N with one or
  two of ours in the second; ramping back from the start, fourfold, met that refusal
  again and again (benchmarks/README.md, run K). Ramping up from below it, the run's next
  refusal comes with enough of ours in the window to tell a limit. Unless the limit is
  below MIN_EVIDENCE (1-3 requests/s, as the platform's plans may be): then a refusal
  after a whole window of the ramp, with 1-3 of ours in it, tells the limit (our pace,
  not a ramp just begun, kept the window that empty). Before, such a limit was never
  learnt: about every other request was refused, and a sync took 1.8-2.1x its ideal.
- Whatever the counts said, a limit under which more than REFUSED_SHARE of the last
  REFUSED_SPAN's answers were refusals is too high: the rate that got through is the
  limit (a counter per clock second at 2-3/s lets the first refusal count 4).
- Requests in flight when the refusal is answered are part of the same episode: their
  refusals confirm the limit, they do not cut it again.
- A refusal while our own count of the window is at the limit (within JITTER_SHARE) is
  jitter: requests left apart and arrived bunched up (a busy CPU delays some by tens of
  ms, on either side of the wire). The guard widens, the limit stays, and refusals of
  requests that leave within a window of the widening are the same jitter (the
  gateway's window is still the bunched-up one).
- A refusal under a limit with fewer of ours in the window than jitter explains is in
  doubt: a lower limit (the window is full) or a gateway without bursts (two of ours
  arrived bunched). One probe, two gaps after the last request that left, tells: refused
  too, the limit is the count; passed, it was jitter. The others wait for its answer.
  When the window is too full of ours for a probe to tell, a told limit stays (jitter) if a
  window of the last two held more of ours, all accepted (a sliding window cannot be this
  count), or if a probe passed before (the gateway allows no burst: a refusal's count means
  nothing there) and the guard may still grow; else the count is the limit.
  Why: read as a lower limit, such a gateway's refusals cut a told 20/s to 1-3/s for the
  rest of the run (benchmarks/README.md, run E: 6.8x the ideal); taking the count when no
  probe could tell still lowered it in 52 of 160 simulated runs (to 12-16/s).
- Against a gateway without bursts (a probe passed), the margin that matters is each gap's:
  every refusal of a request that left after the last widening widens the guard again, by
  half, up to a whole window (a sliding window, by contrast, still holds the bunched-up
  arrivals for a window after a widening).
- A widened guard eases back one step after EASE_AFTER seconds without a refusal, and
  waits twice as long for the next step when a request that left after a step is refused:
  a burst of jitter costs its own seconds, not the rest of an hours-long run. Likewise a
  limit cut by more than JITTER_SHARE within the run (another client with the same key) is
  raised back a step after EASE_LIMIT_AFTER without a refusal, and a step that holds
  LIMIT_STEP_TRIAL is followed by one twice as big; refused, the step is undone and the next
  first step waits twice as long (a limit told too high costs a refusal or two each time,
  ever more rarely; the first limit learnt, with none known before, never rises).
- A limit an earlier run learnt (pmcrm.remembered_limit) is handed over before the first
  request (`remember`) and paced from it, as a limit learnt in this run.
- `Retry-After`: a whole number of seconds ("1") is often far longer than the wait the
  window needs; the window decides when requests resume. Should a request that left
  after such a resumption be refused again within the Retry-After, the API means it: from
  then on every refusal pauses all requests for its full Retry-After.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 1.0  # seconds: the gateway's window
GUARD = 0.03  # seconds added to a window: request arrival jitter must not put N+1 in one
MIN_GUARD = 0.01  # ...down to this once the round trips measured vary less (_measure_guard)
RTT_SAMPLES = 100  # the round trips that size the guard: the latest ones
MEASURED_AFTER = 20  # answers not measured (new connections, cold caches), then as many measured
SPREAD_MARGIN = 1.5  # the guard: this times the spread of the round trips (slowest - fastest)
JITTER_GROWTH = 2.0  # the guard doubles after each jitter episode (below)...
MAX_GUARD = 0.25  # ...up to this
# Against a gateway without bursts the margin that counts is each gap's, guard / N: the guard
# grows by half (doubled, it overshot to half the pace in the simulation) up to a whole window.
NO_BURST_GROWTH = 1.5
NO_BURST_MAX_GUARD = 1.0
# A widened guard eases back one step (the widening undone) after this long without a
# refusal, and waits twice as long before the next step if that one was refused (up to
# MAX_EASE_AFTER). Why: a burst of jitter (another program's CPU spike) widened it for the
# rest of the run, up to half the pace against a gateway without bursts, for hours.
EASE_AFTER = 10.0
MAX_EASE_AFTER = 160.0
# A limit cut by more than JITTER_SHARE within the run (another client came, with the same
# key) is raised back a tenth of what it was (at least 1) after this long without a refusal;
# refused, the step is undone and the next waits twice as long. Why: the other client may
# leave, and the cut held for the rest of the run (hours, for a large account).
EASE_LIMIT_AFTER = 10.0
MAX_EASE_LIMIT_AFTER = 480.0
# A step up that held this long without a refusal is followed by one twice as big (a limit
# too low is refused within a window or two at the new pace): 10 -> 12 -> 16 -> 20 in 10 s.
LIMIT_STEP_TRIAL = 5.0
START_IN_FLIGHT = 3.0  # requests a first refusal may cost while the limit is unknown
GROWTH = 4.0  # the unknown-limit pace is multiplied by this per second, smoothly
RESTART_GROWTH = 2.0  # ...and by this after a refusal that told no limit (module docstring)
FIRST_RTT_GUESS = 0.05  # seconds, until the first response measures it
JITTER_SHARE = 0.1  # a refusal with fewer than 90% of the limit counted tells a lower limit
LATE = 0.005  # seconds: a thread that wakes later than this leaves at its own time (_left_late)
MIN_EVIDENCE = 4  # accepted requests in the window before a refusal: fewer tell no limit
# A limit under which this share of the answers of the last REFUSED_SPAN seconds (at least
# REFUSED_AT_LEAST of them) were refusals is too high, whatever each refusal's count said:
# the rate that got through is the limit (_refused_too_often).
REFUSED_SPAN = 5.0
REFUSED_SHARE = 0.1
REFUSED_AT_LEAST = 4


class RateLimiter:
    """`acquire()` blocks until a request may leave and returns when it leaves;
    `on_success(left)` / `on_throttled(retry_after, left)` report how it went, `left`
    being what `acquire` returned. `limit` is the learned or configured requests per
    window (None: not known yet)."""

    def __init__(self, rate: float | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None):
        self.ceiling = rate
        self.limit: float | None = rate
        self._limit_since = clock()  # when the limit kept now was told or learnt
        self.throttled = 0
        self.accepted = 0  # answers that were not refusals (the transport's sign of progress)
        self.clock = clock
        self._changed = threading.Condition()
        # Waiting is on the condition, so that news (the first answer, a refusal) wakes the
        # waiting requests to plan again; tests pass a `sleep` that moves a fake clock.
        self._wait = sleep if sleep is not None else (lambda seconds: self._changed.wait(seconds))
        self._sent: deque[float] = deque()  # departures not refused, oldest first
        self._last_departure = float("-inf")
        self._paused_until = float("-inf")
        self._episode_from = float("-inf")  # refusals of requests that left before this: same episode
        self._episode_retry_after: float | None = None
        self._strict_retry_after = False
        self._guard = GUARD
        self._measured = GUARD  # the guard the round trips call for (_measure_guard)
        self._widened = False  # by refusals that jitter explained: the round trips size it no more
        self._last_refusal = float("-inf")
        self._guard_easing = _Backoff(EASE_AFTER, MAX_EASE_AFTER)  # a widened guard's steps back (_ease)
        self._easing_on_trial = False  # no refusal yet of a request that left after the guard's last step
        self._cut_from: float | None = None  # the limit before refusals cut it within the run
        self._limit_easing = _Backoff(EASE_LIMIT_AFTER, MAX_EASE_LIMIT_AFTER)  # a cut limit's steps up
        self._limit_before_step: float | None = None  # a step up on trial: the limit it raised
        self._limit_step = 1.0  # the size of the limit's next step up
        self._lowest: float | None = None  # the lowest limit learnt in the run
        self._rtts: deque[float] = deque(maxlen=RTT_SAMPLES)
        self._answers = 0  # round trips seen (the first MEASURED_AFTER size nothing)
        self._outcomes: deque[tuple[float, bool]] = deque()  # (departure, accepted) under the current limit
        self._fewest_refused_at: int | None = None  # fewest of ours accepted in a refusal's window (at least 1)
        self._jitter_until = float("-inf")  # refusals of requests that left before this: jitter
        self._no_burst = False  # a probe passed: the gateway refuses requests too close, whatever the count
        self._epoch = 0  # bumped by news: planned departures are planned again
        self._rtt: float | None = None  # the shortest round trip seen (None: no answer yet)
        self._ramp_from: float | None = None  # when the unknown-limit pace started
        self._restart_pace: float | None = None  # where it starts again after a refusal that told no limit
        self._doubt: _Doubt | None = None  # a refusal that may tell a lower limit, until a probe answers
        self.on_limit: Callable[[float], None] | None = None  # told each limit learnt (the live display)
        self.remembered_on: str | None = None  # the day an earlier run learnt the limit handed over (remember)

    @property
    def rate(self) -> float | None:
        """The pace now, in requests per second."""
        with self._changed:
            return self._pace(self.clock())

    @property
    def suggested_rate(self) -> int | None:
        """The `--rate-limit` the refusals point at: the limit learnt, else the fewest of ours
        accepted in the second before a refusal (a run too short to learn a limit: a sliding
        window or a counter per clock second refuses only once it holds the limit). None
        before any refusal, or when every refusal came with none of ours in its second."""
        with self._changed:
            if not self.throttled:
                return None
            if self.limit is not None:
                return max(int(self.limit), 1)
            return self._fewest_refused_at

    def remember(self, limit: float, learnt_on: str) -> bool:
        """Pace from the first request at `limit`, learnt by an earlier run on `learnt_on`
        (pmcrm.remembered_limit), as if learnt in this one: refusals still lower it. Not once
        a limit is told or known, or a request has left; True if taken."""
        with self._changed:
            if self.limit is not None or self._sent or self.throttled:
                return False
            self.limit, self.remembered_on = float(limit), learnt_on
            self._limit_changed(self.clock())
        if self.on_limit is not None:
            self.on_limit(self.limit)
        return True

    @property
    def learnt(self) -> float | None:
        """The limit a next run may start from: the one learnt (or handed over by
        `remember`) and confirmed by the end of this run; None when told or unknown."""
        with self._changed:
            if self.ceiling is not None or self.limit is None:
                return None
            return self._limit_before_step if self._limit_before_step is not None else self.limit

    def finding(self) -> str | None:
        """What the run learnt about the API's rate limit, in words for the summary (None
        when no request was refused and no remembered limit paced the run). Why: the
        retries alone ("http 429: 4") leave the user to guess the limit; here it is, with
        the setting that avoids the refusals."""
        with self._changed:
            if not self.throttled:
                return self._remembered_finding()
            refused = f"{self.throttled} request{'s' if self.throttled != 1 else ''} refused and retried"
            if self.limit is None:
                fewest = self._fewest_refused_at  # suggested_rate, the limit being unknown
                hint = (f"; refused with as few as {fewest} of its requests accepted in the second before: if that "
                        f"is your plan's limit, --rate-limit {fewest} paces at it from the first request") if fewest else ""
                return (f"the API refused requests before this run had sent enough to tell its rate limit "
                        f"({refused}): another client may be using the same key, or the API allows no burst "
                        f"(requests must come evenly spaced){hint}")
            confirmed = self._limit_before_step if self._limit_before_step is not None else self.limit
            limit = f"{confirmed:g}"
            if self._lowest is not None and self._lowest < confirmed:
                return (f"the API accepted only {self._lowest:g} requests per second for a while (another client "
                        f"using the same key?), then {limit} again ({refused})")
            if self.ceiling is None:
                return (f"the API accepts at most {limit} requests per second, learnt from its refusals "
                        f"({refused}); --rate-limit {limit} paces at that from the first request")
            if confirmed < self.ceiling:
                return (f"the API accepts at most {limit} requests per second, fewer than --rate-limit "
                        f"{self.ceiling:g} ({refused}); use --rate-limit {limit}")
            return (f"{refused} at --rate-limit {self.ceiling:g}: requests reached the API closer together "
                    "than they left (network or CPU delays), or the API allows no burst; the pacer widened "
                    "its margin")

    def _remembered_finding(self) -> str | None:
        if self.remembered_on is None:
            return None
        return (f"paced at {self.limit:g} requests per second from the first request, the limit learnt from the "
                f"API's refusals on {self.remembered_on} and remembered since; none refused (--rate-limit N sets a "
                "limit yourself)")

    # ------------------------------------------------------------------ leaving
    def acquire(self) -> float:
        with self._changed:
            epoch, departure = self._epoch, self._reserve(self.clock())
            while True:
                now = self.clock()
                if departure <= now:
                    return self._left_late(departure, now) if now - departure > LATE else departure
                self._wait(departure - now)
                if self._epoch != epoch:  # news while it waited: plan again
                    self._forget(departure)
                    epoch, departure = self._epoch, self._reserve(self.clock())

    def _reserve(self, now: float) -> float:
        self._drop_old(now)
        departure = max(now, self._paused_until)
        if self._rtt is None and len(self._sent) >= START_IN_FLIGHT and self.limit is None:
            departure = max(departure, now + FIRST_RTT_GUESS)  # planned again at the first answer
        departure = max(departure, self._last_departure + self._gap(departure))
        if self._doubt is not None:
            departure = self._doubt.hold(departure)
        cap = self.limit
        if cap is not None:
            span = WINDOW + self._guard
            window = [sent for sent in self._sent if sent + span > departure]
            while len(window) >= cap:
                departure = max(departure, window[-int(cap)] + span)
                window = [sent for sent in window if sent + span > departure]
        if self._ramp_from is None and self.limit is None and self._rtt is not None:
            self._ramp_from = departure
        self._sent.append(departure)
        self._last_departure = max(self._last_departure, departure)
        return departure

    def _left_late(self, planned: float, now: float) -> float:
        """A request whose thread woke well after its planned departure leaves now: it is
        counted when it leaves. Why: a busy CPU (a thread holding the GIL for 100 ms) wakes
        several waiting requests late and together; counted at their planned times, the
        window looked emptier than the gateway's, and the requests planned after them
        were refused (seen at 50 requests/s: wakes 50-100 ms late, then 6 refusals)."""
        self._forget(planned)
        bisect.insort(self._sent, now)
        self._last_departure = max(self._last_departure, now)
        return now

    def _gap(self, at: float) -> float:
        """Seconds between two departures. Under a limit, its window's share: N requests
        per WINDOW + guard, as the window allows, spread evenly. Why: a gateway without
        bursts (nginx's limit_req) refuses two requests that arrive closer than 1/N; spaced
        1/N exactly, the network's jitter bunches half the pairs. Spread evenly, the guard
        is a margin on every gap, at no cost against a sliding window (whose N per
        WINDOW + guard allows no more anyway)."""
        if self.limit is not None:
            return (WINDOW + self._guard) / self.limit
        return 1.0 / self._pace(at)

    def _pace(self, at: float) -> float:
        """Requests per second at time `at`: the limit's, or the ramp's."""
        if self.limit is not None:
            return self.limit
        start, growth = START_IN_FLIGHT / max(self._rtt or FIRST_RTT_GUESS, 1e-6), GROWTH
        if self._restart_pace is not None:
            start, growth = min(start, self._restart_pace), RESTART_GROWTH
        if self._ramp_from is None:
            return start
        return start * growth ** max(0.0, at - self._ramp_from)

    def _jitter_floor(self) -> float:
        """Fewest of ours counted in the window of a refusal that jitter still explains:
        delays of tens of ms shift a few requests across the window's edge, more at a
        higher limit."""
        return min(self.limit - 1, self.limit * (1 - JITTER_SHARE))

    def _drop_old(self, now: float) -> None:
        """Departures older than two windows count for nothing any more."""
        while self._sent and self._sent[0] + 2 * (WINDOW + max(self._guard, MAX_GUARD)) <= now:
            self._sent.popleft()

    def _forget(self, departure: float) -> None:
        try:
            self._sent.remove(departure)
        except ValueError:
            return
        if departure >= self._last_departure:
            self._last_departure = max(self._sent, default=float("-inf"))

    def _news(self) -> None:
        """Every departure planned for later is dropped; the waiting requests wake and plan
        again, under what is known now."""
        now = self.clock()
        self._sent = deque(sent for sent in self._sent if sent <= now)
        self._last_departure = self._sent[-1] if self._sent else float("-inf")
        self._epoch += 1
        self._changed.notify_all()

    # ---------------------------------------------------------------- answers
    def on_success(self, left: float | None = None) -> None:
        with self._changed:
            self.accepted += 1
            if left is None:
                return
            now = self.clock()
            self._record(left, True, now)
            if self._ease(now) | self._ease_limit(now):
                self._news()  # the requests planned at the old pace plan again
            if self._doubt is not None and left >= self._doubt.probe_from:
                # Passed right after the refusal in doubt: the gateway's window was not full.
                # Jitter (or a gateway without bursts), not a lower limit.
                self._doubt = None
                self._no_burst = True
                self._jitter(now)
            elapsed = now - left
            self._measure_guard(elapsed)
            if elapsed > 0 and (self._rtt is None or elapsed < self._rtt):
                first = self._rtt is None
                # The shortest: what the network takes, without the waits of a busy moment.
                self._rtt = elapsed
                if first and self.limit is None:
                    self._news()  # the requests waiting for it may leave at the real pace

    def _measure_guard(self, rtt: float) -> None:
        """Size the guard from the round trips: two requests' trips to the gateway differ by
        less than their round trips do (server time and the way back are in those too), so
        SPREAD_MARGIN times the spread of the latest RTT_SAMPLES covers the arrival jitter
        the guard is for. Why: GUARD's 30 ms is 3% of every window; where the network is
        steady (the sandbox: 52-58 ms at 50 ms of latency) 10 ms is enough, and a told
        limit's run is 2% shorter. Never above GUARD (a jumpy network keeps it), and not
        after refusals widened it (they are better evidence than round trips). The first
        MEASURED_AFTER answers are not measured: they open connections (a 117 ms round trip
        among 52-58 ms ones in the sandbox), which later requests do not."""
        self._answers += 1
        if self._answers > MEASURED_AFTER:
            self._rtts.append(rtt)
        if len(self._rtts) < MEASURED_AFTER or self._rtt is None:
            return
        spread = max(self._rtts) - min(self._rtt, rtt)
        self._measured = min(GUARD, max(MIN_GUARD, SPREAD_MARGIN * spread))
        if not self._widened:
            self._guard = self._measured

    def _ease(self, now: float) -> bool:
        """A guard widened by refusals eases back one step once EASE_AFTER passed without a
        refusal (see EASE_AFTER); at the measured guard it is no longer widened."""
        if not self._widened or self._guard_easing.quiet(now, self._last_refusal) < self._guard_easing.wait:
            return False
        growth, _ = self._guard_growth()
        self._guard = max(self._measured, self._guard / growth)
        self._widened = self._guard > self._measured
        self._guard_easing.stepped_at, self._easing_on_trial = now, True
        return True

    def _ease_limit(self, now: float) -> bool:
        """A limit cut within the run is raised a step after a quiet while (EASE_LIMIT_AFTER);
        a step that held for LIMIT_STEP_TRIAL is followed by one twice as big."""
        if self.limit is None:
            return False
        quiet = self._limit_easing.quiet(now, self._last_refusal)
        if self._limit_before_step is not None:  # a step on trial
            if quiet < LIMIT_STEP_TRIAL:
                return False
            self._limit_before_step, self._limit_step = None, 2 * self._limit_step  # it held
            if self._cut_from is None:
                return False  # and it was the last
        elif self._cut_from is None or quiet < self._limit_easing.wait:
            return False
        else:
            self._limit_step = max(1.0, round(0.1 * self._cut_from))
        self._limit_before_step = self.limit
        self.limit = min(self._cut_from, self.limit + self._limit_step)
        self._limit_changed(now)
        self._limit_easing.stepped_at = now
        if self.limit >= self._cut_from:
            self._cut_from = None  # back where it was before the cut: the live display says so
            if self.on_limit is not None:
                self.on_limit(self.limit)
        return True

    def on_throttled(self, retry_after: float | None = None, left: float | None = None) -> None:
        """A refusal for a request that left at `left` (see the module docstring)."""
        with self._changed:
            self.throttled += 1
            now = self.clock()
            left = now if left is None else left
            self._last_refusal = now
            if self._easing_on_trial and left >= self._guard_easing.stepped_at:
                self._guard_easing.refused()  # the guard's step back was too far
                self._easing_on_trial = False
            self._forget(left)  # the gateway did not count it
            if self._limit_before_step is not None and left >= self._limit_easing.stepped_at:
                # The limit's step up was refused: the other client is still there. Undone
                # (the step stays the aim), and the next step waits twice as long.
                self._cut_from = max(self._cut_from or 0.0, self.limit)
                self.limit, self._limit_before_step = self._limit_before_step, None
                self._limit_changed(now)
                self._limit_easing.refused()
                self._episode_from, self._episode_retry_after = now, retry_after
                self._news()
                return
            if self._doubt is not None:
                if left < self._doubt.probe_from:
                    return  # in flight with the refusal in doubt: the probe decides
                # Refused right after it too: the window is full, the limit is lower.
                accepted, self._doubt = self._doubt.accepted, None
                self._learn(accepted, retry_after, now)
                return
            self._record(left, False, now)
            if left < self._episode_from:
                # In flight with the refusal that began the episode: it confirms what that one
                # told. (Not even one less: arrivals reorder, a refusal of a request that left
                # first does not mean one fewer was accepted.)
                return
            through = self._refused_too_often(now)
            if through is not None:
                self._learn(through, retry_after, now)
                return
            window = [sent for sent in self._sent if left - WINDOW < sent < left]  # the refused one's
            accepted = len(window)
            if accepted:
                self._fewest_refused_at = min(self._fewest_refused_at or accepted, accepted)
            if self._too_few_to_tell(accepted):
                if self.limit is None and accepted and self._ramped_a_window_by(left):
                    # Our own pace kept the window this empty for a whole window, and the
                    # gateway still refused: the limit is this low (1-3 requests/s).
                    self._learn(accepted, retry_after, now)
                    return
                # Too few of ours in the window to tell a limit (someone else may have spent
                # it: another run with the same key; or a gateway without bursts): wait as
                # told, then ramp up again from half the pace that was refused.
                self._restart_pace = max(1.0, self._pace(left) / 2)
                self._paused_until = max(self._paused_until, now + (retry_after or WINDOW))
                self._ramp_from = self._paused_until
                self._episode_from, self._episode_retry_after = now, retry_after
                self._news()
                return
            if self.limit is not None and (accepted >= self._jitter_floor() or left < self._jitter_until):
                # Refused while at the limit it keeps: the gateway saw our requests closer
                # together than they left (network or scheduling jitter), not a lower limit.
                # Requests that leave within a window of such a refusal meet the same
                # bunched-up window at the gateway: they widen the guard once, not again,
                # and lower nothing (our own count of that window is the one that is off).
                self._jitter(now, widen=left >= self._jitter_until)
                return
            if self.limit is not None:
                # Fewer of ours in the window than the limit: a lower limit, or a gateway
                # without bursts that saw two of ours bunched up. A probe tells which (_Doubt),
                # if it can leave while a full window would still be full.
                gap = self._gap(now)
                last_left = max((sent for sent in self._sent if sent <= now), default=left)
                probe_from = max(now, last_left + 2 * gap)
                if probe_from + gap < min(window, default=left) + WINDOW:
                    self._doubt = _Doubt(accepted, probe_from, until=now + WINDOW + self._guard)
                    self._news()
                    return
                if self.limit == self.ceiling and (self._most_in_a_window(left) > accepted
                                                   or (self._no_burst and self._guard < NO_BURST_MAX_GUARD)):
                    # Too late for a probe, but a window of the last two held more of ours
                    # than this one, all accepted: a sliding window cannot be this count (unless
                    # another client came: its refusals tell it within two windows). Or a probe
                    # passed before: the gateway allows no burst, its refusals count nothing, and
                    # the margin can still grow. Not for a learnt limit: one learnt across the
                    # edge of a counter per clock second can be too high, and its count corrects it.
                    self._jitter(now, widen=left >= self._jitter_until)
                    return
            self._learn(accepted, retry_after, now)

    def _record(self, left: float, accepted: bool, now: float) -> None:
        """One answer, for `_refused_too_often`: only the last REFUSED_SPAN are kept."""
        self._outcomes.append((left, accepted))
        while self._outcomes and self._outcomes[0][0] <= now - REFUSED_SPAN:
            self._outcomes.popleft()

    def _limit_changed(self, now: float) -> None:
        """The answers under the previous limit judge the new one no more."""
        self._limit_since = now
        self._outcomes.clear()

    def _refused_too_often(self, now: float) -> int | None:
        """The requests per second that got through in the last REFUSED_SPAN, when the
        limit kept all that time was refused too often (REFUSED_SHARE); else None. Why: a
        counter per clock second lets up to twice its limit through across a second's edge,
        so at 2-3 requests/s the first refusal's count can be 4; refused then one request in
        two to four, each count looked like jitter and the limit stayed (hundreds of
        refusals, 1.1-1.6x the ideal, in the simulation)."""
        outcomes = self._outcomes
        if self.limit is None or now - self._limit_since < REFUSED_SPAN:
            return None
        refused = sum(1 for _, accepted in outcomes if not accepted)
        if refused < max(REFUSED_AT_LEAST, REFUSED_SHARE * len(outcomes)):
            return None
        through = max(1, min(int(self.limit) - 1, int((len(outcomes) - refused) / REFUSED_SPAN)))
        return through if through < self.limit else None

    def _too_few_to_tell(self, accepted: int) -> bool:
        """Fewer than MIN_EVIDENCE of ours in a refusal's window, not told a limit. A known
        limit of MIN_EVIDENCE or less never fills a window with more: its refusals are
        judged against that limit instead (jitter, a probe)."""
        return accepted < MIN_EVIDENCE and self.ceiling is None and (self.limit is None or self.limit > MIN_EVIDENCE)

    def _ramped_a_window_by(self, left: float) -> bool:
        """The unknown-limit pace ran, unpaused, for a whole window before `left`: the
        window's count of ours is then what our pace sent, not a ramp just begun."""
        return self._ramp_from is not None and left - self._ramp_from >= WINDOW

    def _most_in_a_window(self, now: float) -> int:
        """The most of ours accepted within one WINDOW, among those that left by `now`."""
        left = [sent for sent in self._sent if sent <= now]
        most, start = 0, 0
        for end, moment in enumerate(left):
            while moment - left[start] >= WINDOW:
                start += 1
            most = max(most, end - start + 1)
        return most

    def _guard_growth(self) -> tuple[float, float]:
        """How much a widening multiplies the guard, and up to what (an easing step divides
        by the same): by half up to a window against a gateway without bursts, else doubled."""
        return (NO_BURST_GROWTH, NO_BURST_MAX_GUARD) if self._no_burst else (JITTER_GROWTH, MAX_GUARD)

    def _jitter(self, now: float, widen: bool = True) -> None:
        """Jitter, not a lower limit: windows (and gaps) get a wider margin, once per window."""
        if widen:
            growth, most = self._guard_growth()
            self._guard, self._widened = min(self._guard * growth, most), True
            # A sliding window still holds the bunched-up arrivals for a window; a gateway
            # without bursts forgets them at once: a later refusal is news.
            self._jitter_until = now if self._no_burst else now + WINDOW + self._guard
            self._news()
        # No Retry-After to believe: jitter, not the API.
        self._episode_from, self._episode_retry_after = now, None

    def _learn(self, accepted: int, retry_after: float | None, now: float) -> None:
        """The limit is the `accepted` requests of ours in the refused one's window."""
        learned = max(1.0, float(accepted))
        if self.ceiling is not None:
            learned = min(learned, self.ceiling)
        if self.limit is not None and learned < self.limit * (1 - JITTER_SHARE):
            self._cut_from = max(self._cut_from or 0.0, self.limit)
        self._limit_before_step = None
        self._lowest = min(self._lowest or learned, learned)
        if retry_after and now < self._episode_from + (self._episode_retry_after or 0.0):
            self._strict_retry_after = True  # refused again within its Retry-After: it means it
        if self._strict_retry_after and retry_after:
            self._paused_until = max(self._paused_until, now + retry_after)
        self.limit = learned
        self._limit_changed(now)
        self._episode_from, self._episode_retry_after = now, retry_after
        self._news()
        if self.on_limit is not None:
            self.on_limit(learned)


class _Backoff:
    """When an easing step is due: `wait` seconds without a refusal since the last refusal or
    the last step (`quiet`); a step that was refused doubles the wait, up to `most`."""

    def __init__(self, wait: float, most: float):
        self.wait, self.most, self.stepped_at = wait, most, float("-inf")

    def quiet(self, now: float, last_refusal: float) -> float:
        return now - max(last_refusal, self.stepped_at)

    def refused(self) -> None:
        self.wait = min(2 * self.wait, self.most)


class _Doubt:
    """A refusal with fewer of ours in its window than the limit kept: either the limit is
    lower (a sliding window is full, and refuses the next request too) or the gateway
    allows no burst and saw two of ours bunched up (a request two gaps later passes). One
    probe tells, leaving two gaps after the last departure (`probe_from`), at the cost of
    one more refusal when the limit is lower; answers of requests that left before it
    decide nothing. The others wait for the probe's answer, at most until `until` (a probe
    lost to a network error decides nothing: requests leave again, the next answer decides)."""

    def __init__(self, accepted: int, probe_from: float, until: float):
        self.accepted, self.probe_from, self.until = accepted, probe_from, until
        self._probe_planned = False

    def hold(self, departure: float) -> float:
        """When a request may leave: the first one planned as the probe, the others after."""
        if not self._probe_planned:
            self._probe_planned = True
            return max(departure, self.probe_from)
        return max(departure, self.until)
