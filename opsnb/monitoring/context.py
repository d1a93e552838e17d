"""The Contextual Anomaly Detector (CAD OSE): a causal, learning anomaly score for one series.

Our implementation of the *Contextual Anomaly Detector — Open Source Edition* by Mikhail
Smirnov (2016, https://github.com/smirmik/CAD), as shipped in the Numenta Anomaly Benchmark
(numenta/NAB, ``nab/detectors/context_ose/``, MIT licence at NAB's current commit), where it
scores 69.9 / 67.0 / 73.2 (standard / low FP / low FN). Written from the algorithm, in our
style; the published NAB numbers are reproduced by ``tests/test_context.py``.

How it works. Each value is quantised into ``2**value_bits`` bins of the value range, and the
bin number's bits become *sensor facts*. A *context* pairs a *left* set of facts (the previous
step's sensor facts plus the "neurons": the contexts that fired then) with a *right* set (the
sensor facts that followed). Contexts are learned online: the observed (previous, current)
pair is stored, and intersections of stored contexts with what was just seen are stored too
(left part at most ``max_left_length`` facts). Each context counts how often its right part
came true when its left part was fully present. The score of a row mixes two surprises: the
share of fully-present contexts whose prediction failed, and the share of new contexts the
row forced to create; it is 0 when the row's facts were all predicted. After a score of at
least ``base_threshold`` the next ``rest_period`` scores are reported as 0 (one alert per
episode).

Reproduction details that matter (the published run used Python 2): context ties are broken
by Python 2's 64-bit tuple hash of the fact sets, contexts created at one step are numbered
in Python 2's dict iteration order for small-int keys, and the "no new context" marker is
``False``, which equals context 0 (so context 0 is skipped on such steps). All three are
reproduced here (:func:`py2_tuple_hash`, :class:`_Py2IntOrder`).

Two ways to run it:

- :func:`context_scores` — the published detector: the value range is given (NAB passes the
  whole file's min and max, which is not causal) and values are binned in it.
- :func:`causal_context_scores` — opsnb's causal reading: the range comes from the series'
  own history (the first ``warmup`` rows, scored 0 while they are collected); later values
  outside it are clipped, and when the running range has grown by more than
  ``regrow`` of its width the detector is rebuilt on the history so far with the new range.
  The score at row t depends on rows up to t only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ContextConfig",
    "ContextDetector",
    "context_scores",
    "causal_context_scores",
    "nab_rest_period",
    "py2_tuple_hash",
]

_SENSOR_BASE = 65536
_NEURON_BASE = 2**31
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class ContextConfig:
    """Settings of the Contextual Anomaly Detector (defaults = CAD OSE as run in NAB).

    ``rest_period``: rows after a score ≥ ``base_threshold`` whose score is reported as 0;
    NAB uses ``probationary rows / 5`` (:func:`nab_rest_period`). ``max_left_length``: longest
    left part of a learned (non zero-level) context. ``max_active_neurons``: contexts that
    feed the next step as facts. ``value_bits``: the value is quantised into ``2**value_bits``
    bins.
    """

    base_threshold: float = 0.75
    rest_period: int = 30
    max_left_length: int = 7
    max_active_neurons: int = 15
    value_bits: int = 3

    def __post_init__(self):
        if self.value_bits < 1:
            raise ValueError(f"value_bits must be >= 1, got {self.value_bits!r}")
        if self.rest_period < 1:
            raise ValueError(f"rest_period must be >= 1, got {self.rest_period!r}")


def nab_rest_period(n_rows: int) -> int:
    """NAB's rest period for a file of ``n_rows`` rows: int(min(floor(0.15 n), 750) / 5)."""
    return int(min(int(np.floor(0.15 * n_rows)), 750) / 5.0)


def py2_tuple_hash(items) -> int:
    """Python 2's (64-bit) ``hash()`` of a tuple of non-negative ints below 2**63.

    CAD OSE breaks ties between equally active contexts by these hashes; Python 3's tuple hash
    differs, so the published scores are only reproduced with this one."""
    x = 0x345678
    mult = 1000003
    n = len(items)
    for y in items:
        n -= 1
        x = ((x ^ y) * mult) & _MASK64
        mult = (mult + 82520 + n + n) & _MASK64
    x = (x + 97531) & _MASK64
    if x >= 1 << 63:
        x -= 1 << 64
    return -2 if x == -1 else x


class _Py2IntOrder:
    """Iteration order of a Python 2 dict with small non-negative int keys (insert only).

    Open addressing as in CPython 2.7: slot ``key & mask``, probe ``i = 5i + perturb + 1``,
    ``perturb >>= 5``; the table (8 slots at first) grows to the smallest power of two above
    4·used when 3·fill ≥ 2·size, re-inserting in the old slot order."""

    __slots__ = ("table", "used", "keys")

    def __init__(self):
        self.table = [None] * 8
        self.used = 0
        self.keys = []  # keys in iteration order

    @staticmethod
    def _place(table, key):
        mask = len(table) - 1
        i = key & mask
        perturb = key
        while table[i] is not None:
            i = (5 * i + perturb + 1) & mask
            perturb >>= 5
        table[i] = key

    def add(self, key: int) -> None:
        self._place(self.table, key)
        self.used += 1
        if self.used * 3 >= len(self.table) * 2:
            size = 8
            while size <= 4 * self.used:
                size <<= 1
            new = [None] * size
            for k in self.table:
                if k is not None:
                    self._place(new, k)
            self.table = new
        self.keys = [k for k in self.table if k is not None]


class _Semi:
    """A semi-context: a set of facts, and what the last crossing matched of it."""

    __slots__ = ("size", "matched", "contexts", "order")

    def __init__(self, size: int, left: bool):
        self.size = size
        self.matched: list[int] = []
        self.contexts: dict[int, int] | None = {} if left else None  # right id -> context id
        self.order = _Py2IntOrder() if left else None


class _Context:
    """One learned context: counts of its predictions and its right-hand facts."""

    __slots__ = ("tried", "hits", "active", "right", "zero_level", "left_hash", "right_hash")

    def __init__(self, right, zero_level, left_hash, right_hash):
        self.tried = 0  # right facts that could have come true (left part fully present)
        self.hits = 0  # right facts that came true
        self.active = 0  # times the whole context came true
        self.right = right
        self.zero_level = zero_level
        self.left_hash = left_hash
        self.right_hash = right_hash


class _Side:
    """All semi-contexts of one side (left or right), indexed by fact-set hash and by fact."""

    __slots__ = ("left", "by_hash", "semis", "by_fact", "crossed")

    def __init__(self, left: bool):
        self.left = left
        self.by_hash: dict[int, int] = {}
        self.semis: list[_Semi] = []
        self.by_fact: dict[int, list[int]] = {}
        self.crossed: list[int] = []

    def get(self, facts, h) -> int:
        sid = self.by_hash.get(h)
        if sid is None:
            sid = len(self.semis)
            self.by_hash[h] = sid
            self.semis.append(_Semi(len(facts), self.left))
            for f in facts:
                self.by_fact.setdefault(f, []).append(sid)
        return sid

    def cross(self, facts) -> None:
        """Match every semi-context against ``facts`` (which facts of it are present)."""
        semis = self.semis
        for sid in self.crossed:
            semis[sid].matched = []
        touched = set()
        for f in facts:
            for sid in self.by_fact.get(f, ()):
                semis[sid].matched.append(f)
                touched.add(sid)
        self.crossed = sorted(touched)


class ContextDetector:
    """CAD OSE as a streaming detector: ``score(value)`` per row, in time order.

    Parameters
    ----------
    min_value, max_value : the value range that is cut into ``2**value_bits`` bins (values
        outside are clipped to the first / last bin).
    config : :class:`ContextConfig`.
    """

    def __init__(self, min_value: float, max_value: float, config: ContextConfig | None = None):
        self.config = config or ContextConfig()
        self.min_value = float(min_value)
        self.max_bin = 2**self.config.value_bits - 1
        width = float(max_value) - self.min_value
        self.step = (width if width != 0.0 else float(self.max_bin)) / self.max_bin
        self._left = _Side(True)
        self._right = _Side(False)
        self._contexts: list[_Context] = []
        self._new_context = 0  # Python 2 reference: False, which equals context 0
        self._left_facts: tuple[int, ...] = ()
        self._predicted: set[int] = set()
        self._history = [1.0]

    # -- context memory ------------------------------------------------------------------
    def _store(self, left, right, zero_level: bool):
        """Find or create the context (left, right); returns (context id, created)."""
        lh, rh = py2_tuple_hash(left), py2_tuple_hash(right)
        lsid = self._left.get(left, lh)
        rsid = self._right.get(right, rh)
        semi = self._left.semis[lsid]
        cid = semi.contexts.get(rsid)
        if cid is not None:
            return cid, False
        cid = len(self._contexts)
        semi.contexts[rsid] = cid
        semi.order.add(rsid)
        self._contexts.append(_Context(right, zero_level, lh, rh))
        return cid, True

    def _learn(self, new_flag: bool):
        """Update the contexts whose left part was present before this row; return the
        contexts that came true, the number tried and the candidate new contexts."""
        active, tried, candidates = [], 0, []
        left_semis, right_semis, ctxs = self._left.semis, self._right.semis, self._contexts
        max_len = self.config.max_left_length
        skip = self._new_context
        for lsid in self._left.crossed:
            ls = left_semis[lsid]
            n_left = len(ls.matched)
            full_left = n_left == ls.size
            for rsid in ls.order.keys:
                cid = ls.contexts[rsid]
                if cid == skip:
                    continue
                c = ctxs[cid]
                rs = right_semis[rsid]
                n_right = len(rs.matched)
                if full_left:
                    tried += 1
                    c.tried += rs.size
                    if n_right > 0:
                        c.hits += n_right
                        if n_right == rs.size:
                            c.active += 1
                            active.append((c.active, c.left_hash, c.right_hash, cid))
                        elif c.zero_level and new_flag and n_left <= max_len:
                            candidates.append((tuple(ls.matched), tuple(rs.matched)))
                elif c.zero_level and new_flag and n_right > 0 and n_left <= max_len:
                    candidates.append((tuple(ls.matched), tuple(rs.matched)))
        self._new_context = 0
        return active, tried, candidates

    def _predict(self) -> set[int]:
        """Facts predicted for the next row: right parts of the best fully-present contexts."""
        best, winners = 0.0, []
        semis, ctxs = self._left.semis, self._contexts
        for lsid in self._left.crossed:
            ls = semis[lsid]
            if len(ls.matched) != ls.size:
                continue
            for rsid in ls.order.keys:
                c = ctxs[ls.contexts[rsid]]
                w = c.hits / c.tried if c.tried > 0 else 0.0
                if w > best:
                    best, winners = w, [c]
                elif w == best:
                    winners.append(c)
        out: set[int] = set()
        for c in winners:
            out.update(c.right)
        return out

    def _step(self, sensor: tuple[int, ...]) -> tuple[float, float]:
        unique = set()
        new_flag = False
        if self._left_facts and sensor:
            pair = (self._left_facts, sensor)
            unique.add(pair)
            cid, new_flag = self._store(self._left_facts, sensor, True)
            if new_flag:
                self._new_context = cid
            else:
                self._contexts[cid].zero_level = True
        self._right.cross(sensor)
        active, tried, candidates = self._learn(new_flag)
        unique.update(candidates)
        share_active = len(active) / tried if tried > 0 else 0.0
        active.sort()
        neurons = {_NEURON_BASE + a[3] for a in active[-self.config.max_active_neurons :]}
        self._left_facts = tuple(sorted(set(sensor) | neurons))
        added = sum(self._store(left, right, False)[1] for left, right in candidates)
        self._left.cross(self._left_facts)
        self._predicted = self._predict()
        added += 1 if new_flag else 0
        share_new = added / len(unique) if new_flag and unique else 0.0
        return share_active, share_new

    def sensor_facts(self, value: float) -> tuple[int, ...]:
        """The bits of the value's bin as facts (65536 + 2·bit position + bit)."""
        b = int((float(value) - self.min_value) / self.step)
        b = min(max(b, 0), self.max_bin)
        return tuple(_SENSOR_BASE + 2 * k + ((b >> k) & 1) for k in range(self.config.value_bits))

    def score(self, value: float) -> float:
        """Anomaly score in [0, 1] of the next value (0 inside a rest period)."""
        facts = self.sensor_facts(value)
        surprised = any(f not in self._predicted for f in facts)
        share_active, share_new = self._step(facts)
        s = (1.0 - share_active + share_new) / 2.0 if surprised else 0.0
        cfg = self.config
        rested = max(self._history[-cfg.rest_period :]) < cfg.base_threshold
        self._history.append(s)
        return s if rested else 0.0


def context_scores(
    values,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    config: ContextConfig | None = None,
) -> np.ndarray:
    """CAD OSE scores of a series in time order (one float in [0, 1] per value).

    ``min_value`` / ``max_value`` default to the series' own min and max, as NAB runs it: the
    published detector, not causal (the range uses the whole series). Missing values
    (NaN) score 0 and are not fed to the detector."""
    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    out = np.zeros(len(v))
    if not len(finite):
        return out
    lo = float(finite.min()) if min_value is None else float(min_value)
    hi = float(finite.max()) if max_value is None else float(max_value)
    det = ContextDetector(lo, hi, config)
    for i, x in enumerate(v):
        if np.isfinite(x):
            out[i] = det.score(x)
    return out


def causal_context_scores(
    values,
    *,
    warmup: int = 150,
    regrow: float = 0.25,
    config: ContextConfig | None = None,
) -> np.ndarray:
    """CAD OSE scores whose row t uses rows up to t only (opsnb's causal reading).

    The first ``warmup`` values are collected (score 0); then the detector is built with the
    range of the values so far and fed them, and streams on. A value outside the range is
    clipped to the first or last bin; when the running min/max has moved more than ``regrow``
    × the range's width beyond the range in use, the detector is rebuilt with the running
    range and replays the history (its scores for the replayed rows are discarded).
    Missing values (NaN) score 0 and are not fed to the detector."""
    if warmup < 1:
        raise ValueError(f"warmup must be >= 1, got {warmup!r}")
    if regrow <= 0:
        raise ValueError(f"regrow must be > 0, got {regrow!r}")
    v = np.asarray(values, dtype=float)
    idx = np.flatnonzero(np.isfinite(v))
    x = v[idx]
    out = np.zeros(len(v))
    if len(x) <= warmup:
        return out
    run_lo = np.minimum.accumulate(x)
    run_hi = np.maximum.accumulate(x)

    def build(t):  # detector on the range of x[:t+1], fed x[:t] (scores discarded)
        d = ContextDetector(run_lo[t], run_hi[t], config)
        for y in x[:t]:
            d.score(y)
        return d, run_lo[t], run_hi[t]

    det, lo, hi = build(warmup - 1)
    det.score(x[warmup - 1])
    for t in range(warmup, len(x)):
        width = max(hi - lo, 1e-12)
        if (lo - run_lo[t]) > regrow * width or (run_hi[t] - hi) > regrow * width:
            det, lo, hi = build(t)
        out[idx[t]] = det.score(x[t])
    return out
