"""The Contextual Anomaly Detector (CAD OSE): a causal, learning anomaly score for one series.

Our implementation of the *Contextual Anomaly Detector — Open Source Edition* by Mikhail
Smirnov (2016, https://github.com/smirmik/CAD), as shipped in the Numenta Anomaly Benchmark
(numenta/NAB, ``nab/detectors/context_ose/``; NAB's licence at commit ea702d7 is MIT, the
detector files' headers in the versions we read say AGPL-3), where it scores 69.9 / 67.0 /
73.2 (standard / low FP / low FN). Written from the algorithm, in our
style. With NAB's settings it gives NAB's published per-file scores, TP and FP on 40 of the 50
NAB files here in all three profiles (``tests/test_context.py``); on the other 10 a detection
or two near the threshold differ, through ties between equally active contexts that the
published run broke in a way not pinned down (see the test module).

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

Reproduction details that matter (the published run most likely used Python 2: its hash
matches the most files): context ties are broken
by Python 2's 64-bit tuple hash of the fact sets, contexts created at one step are numbered
in Python 2's dict iteration order for small-int keys, and the "no new context" marker is
``False``, which equals context 0 (so context 0 is skipped on such steps). All three are
reproduced here (:func:`py2_tuple_hash`, :class:`_Py2IntOrder`); of the three, only the hash
changed any NAB file's result in our checks.

Two ways to run it:

- :func:`context_scores` — the published detector: the value range is given (NAB passes the
  whole file's min and max, which is not causal) and values are binned in it.
- :func:`causal_context_scores` — opsnb's causal reading: the range comes from the series'
  own history (the first ``warmup`` rows, scored 0 while they are collected); later values
  outside it are clipped, and when the running range has grown by more than ``regrow`` of
  its width the detector is rebuilt with the new range on the last ``memory`` rows, keeping
  the stream's rest period (``carry_rest``, shipped). The score at row t depends on rows up
  to t only.

:func:`context_flags` is what :func:`opsnb.monitoring.anomaly.detect` adds: causal scores ≥
:data:`CONTEXT_THRESHOLD`; :func:`add_context` hands a series over from the engine's alarms
to CAD's (and :func:`new_extremes`, what CAD's clipped range cannot see) alone (:data:`CONTEXT_P_FACTOR`, :data:`CONTEXT_KEEP_SHIFT`) on the rows
:func:`context_rows` picks: once CAD's warm-up is over, on series sampled more often than
daily. Causal: a row's verdict depends on rows up to it only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

import numpy as np

__all__ = [
    "ContextConfig",
    "ContextDetector",
    "context_scores",
    "causal_context_scores",
    "context_flags",
    "context_rows",
    "CONTEXT_MIN_ROWS",
    "CONTEXT_THRESHOLD",
    "CONTEXT_WARMUP",
    "CONTEXT_PAD",
    "CONTEXT_MEMORY",
    "CONTEXT_CARRY_REST",
    "CONTEXT_P_FACTOR",
    "CONTEXT_KEEP_SHIFT",
    "CONTEXT_EXTREME",
    "CONTEXT_POOL_VALUES",
    "combine_context",
    "add_context",
    "new_extremes",
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

    __slots__ = ("table", "used", "_pos")

    def __init__(self):
        self.table = [None] * 8
        self.used = 0
        self._pos: dict[int, int] | None = {}

    def keys(self) -> list[int]:
        """The keys in the dict's iteration order."""
        return [k for k in self.table if k is not None]

    def position(self, key: int) -> int:
        """Rank of ``key`` in the dict's iteration order."""
        if self._pos is None:
            self._pos = {k: i for i, k in enumerate(k for k in self.table if k is not None)}
        return self._pos[key]

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
        self._pos = None


class _Buf:
    """A growable 1-d numpy array (amortised O(1) append)."""

    __slots__ = ("a", "n")

    def __init__(self, dtype=np.int64):
        self.a = np.zeros(16, dtype=dtype)
        self.n = 0

    def append(self, x) -> None:
        if self.n == len(self.a):
            self.a = np.concatenate([self.a, np.zeros_like(self.a)])
        self.a[self.n] = x
        self.n += 1

    @property
    def view(self) -> np.ndarray:
        return self.a[: self.n]


class _Side:
    """The semi-contexts of one side (left or right): fact sets indexed by hash and by fact,
    with how many of each set's facts the last crossing found (``matched``) and which
    (``found``: bit j for the crossing's j-th fact, when it crossed at most 63 facts)."""

    __slots__ = ("by_hash", "facts", "size", "matched", "found", "by_fact", "crossed_facts")

    def __init__(self):
        self.by_hash: dict[int, int] = {}
        self.facts: list[tuple[int, ...]] = []
        self.size = _Buf()
        self.matched = _Buf()
        self.found = _Buf()
        self.by_fact: dict[int, _Buf] = {}
        self.crossed_facts: tuple[int, ...] = ()

    def get(self, facts, h) -> tuple[int, bool]:
        sid = self.by_hash.get(h)
        if sid is not None:
            return sid, False
        sid = len(self.facts)
        self.by_hash[h] = sid
        self.facts.append(facts)
        self.size.append(len(facts))
        self.matched.append(0)
        self.found.append(0)
        for f in facts:
            b = self.by_fact.get(f)
            if b is None:
                b = self.by_fact[f] = _Buf()
            b.append(sid)
        return sid, True

    def cross(self, facts) -> None:
        """Count, for every semi-context, how many of ``facts`` it holds, and which."""
        self.crossed_facts = t = tuple(facts)
        n = len(self.facts)
        hold = [(j, b.view) for j, b in enumerate(map(self.by_fact.get, t)) if b is not None]
        if not hold:
            self.matched.view[:] = 0
            self.found.view[:] = 0
            return
        ids = np.concatenate([v for _, v in hold])
        self.matched.view[:] = np.bincount(ids, minlength=n)
        if len(t) <= 52:  # a semi-context holds a fact once: the sum of its bits is exact
            bits = np.repeat([float(1 << j) for j, _ in hold], [len(v) for _, v in hold])
            self.found.view[:] = np.bincount(ids, weights=bits, minlength=n)
        else:
            found = self.found.view
            found[:] = 0
            for j, v in hold:
                if j < 63:
                    found[v] |= 1 << j

    def found_facts(self, found: int) -> tuple[int, ...]:
        """The crossed facts whose bits are set in ``found``, in crossing order."""
        t = self.crossed_facts
        return tuple(t[j] for j in range(len(t)) if found >> j & 1)

    def matched_facts(self, sid: int) -> tuple[int, ...]:
        """The facts of semi-context ``sid`` found by the last crossing, in crossing order."""
        s = set(self.facts[sid])
        return tuple(f for f in self.crossed_facts if f in s)


class ContextDetector:
    """CAD OSE as a streaming detector: ``score(value)`` per row, in time order.

    Parameters
    ----------
    min_value, max_value : the value range that is cut into ``2**value_bits`` bins (values
        outside are clipped to the first / last bin).
    config : :class:`ContextConfig`.

    The context memory is kept in numpy arrays (one entry per context: its left and right
    semi-context, prediction counts, hashes), so a step costs a few vector operations over
    the contexts instead of a Python loop; the result is the reference algorithm's, step for
    step. A right part only holds sensor facts, so it is also kept as a bit mask (bit
    ``fact - 65536``): what a row matched of it is one ``&``. A context is found by one int,
    the number of its left fact tuple shifted left past the right part's mask.
    """

    def __init__(self, min_value: float, max_value: float, config: ContextConfig | None = None):
        self.config = config or ContextConfig()
        self.min_value = float(min_value)
        self.max_bin = 2**self.config.value_bits - 1
        width = float(max_value) - self.min_value
        self.step = (width if width != 0.0 else float(self.max_bin)) / self.max_bin
        self._left, self._right = _Side(), _Side()
        self._left_ctx: list[dict[int, int]] = []  # per left semi-context: right id -> context
        self._left_order: list[_Py2IntOrder] = []
        self._c_left, self._c_right = _Buf(), _Buf()
        self._c_lsize, self._c_rsize = _Buf(), _Buf()  # facts in each context's left / right
        self._c_rmask = _Buf()  # each context's right part as a mask of sensor facts
        self._c_rank = _Buf()  # rank of the context's right part in its left's dict order
        self._full = np.zeros(0, dtype=np.int64)  # fully-present contexts, at _predict
        self._tried, self._hits, self._active = _Buf(), _Buf(), _Buf()
        self._zero = _Buf(bool)
        self._zero_ids = _Buf()  # the zero-level contexts (the observed pairs)
        self._lh, self._rh = _Buf(), _Buf()
        self._hash: dict[tuple[int, ...], int] = {}
        self._shift = 2 * self.config.value_bits  # bits of a right part's mask
        self._bits = np.array([bin(m).count("1") for m in range(1 << self._shift)])
        self._lid: dict[tuple[int, ...], int] = {}  # left fact tuple -> its number
        self._lfacts: list[tuple[int, ...]] = []  # number -> left fact tuple
        self._pairs: dict[int, int] = {}  # left number << shift | right mask -> context
        self._new_context = 0  # Python 2 reference: False, which equals context 0
        self._left_facts: tuple[int, ...] = ()
        self._left_key = 0  # _left_facts' number << shift
        self._predicted = 0  # mask of the sensor facts predicted for the next row
        self._history = [1.0]

    # -- context memory ------------------------------------------------------------------
    def _h(self, facts) -> int:
        h = self._hash.get(facts)
        if h is None:
            h = self._hash[facts] = py2_tuple_hash(facts)
        return h

    def _left_number(self, facts: tuple[int, ...]) -> int:
        i = self._lid.get(facts)
        if i is None:
            i = self._lid[facts] = len(self._lfacts)
            self._lfacts.append(facts)
        return i

    def _store(self, key: int, zero_level: bool):
        """Find or create the context of ``key`` (left number << shift | right mask);
        returns (context id, created)."""
        cid = self._pairs.get(key)
        if cid is not None:
            return cid, False
        left = self._lfacts[key >> self._shift]
        rmask = key & ((1 << self._shift) - 1)
        right = tuple(_SENSOR_BASE + k for k in range(self._shift) if rmask >> k & 1)
        lh, rh = self._h(left), self._h(right)
        lsid, new_left = self._left.get(left, lh)
        if new_left:
            self._left_ctx.append({})
            self._left_order.append(_Py2IntOrder())
        rsid, _ = self._right.get(right, rh)
        ctx = self._left_ctx[lsid]
        cid = ctx.get(rsid)
        if cid is not None:  # e.g. an equal hash of other facts, as in the reference
            self._pairs[key] = cid
            return cid, False
        cid = self._c_left.n
        self._pairs[key] = cid
        ctx[rsid] = cid
        order = self._left_order[lsid]
        order.add(rsid)
        self._c_left.append(lsid)
        self._c_right.append(rsid)
        self._c_lsize.append(len(left))
        self._c_rsize.append(len(right))
        self._c_rmask.append(rmask)
        self._c_rank.append(0)
        rank = self._c_rank.a
        for r, k in enumerate(order.keys()):
            rank[ctx[k]] = r
        for b in (self._tried, self._hits, self._active):
            b.append(0)
        self._zero.append(zero_level)
        if zero_level:
            self._zero_ids.append(cid)
        self._lh.append(lh)
        self._rh.append(rh)
        return cid, True

    def _learn(self, new_flag: bool, sensor: int):
        """Update the contexts whose left part was present before this row (``sensor``: the
        row's facts as a mask); return the contexts that came true, the number tried and the
        keys of the candidate new contexts, in the reference's order.

        Only two kinds of context take part: the fully-present ones (found by _predict on the
        same crossing) and, for new contexts, the zero-level ones; the rest are untouched."""
        skip = self._new_context  # not crossed (the reference's False is context 0)
        self._new_context = 0
        full = self._full
        if len(full) and full[0] == skip:
            full = full[1:]
        rmask = self._c_rmask.a
        rs = self._c_rsize.a[full]
        nr = self._bits[rmask[full] & sensor]
        tried = len(full)
        self._tried.a[full] += rs
        hit = nr > 0
        self._hits.a[full[hit]] += nr[hit]
        active = full[hit & (nr == rs)]
        self._active.a[active] += 1
        candidates = []
        if new_flag:
            z = self._zero_ids.view
            ls = self._c_left.a[z]
            ln = self._left.matched.a[ls]
            rmatch = rmask[z] & sensor
            nr = self._bits[rmatch]
            act = (ln == self._c_lsize.a[z]) & (nr == self._c_rsize.a[z])
            cand = (ln > 0) & (z != skip) & (nr > 0) & (ln <= self.config.max_left_length) & ~act
            ids = np.flatnonzero(cand)
            if len(ids):
                # the reference's order: by left semi-context, then its dict order of rights
                ids = ids[np.lexsort((self._c_rank.a[z[ids]], ls[ids]))]
                ls, side, num = ls[ids], self._left, self._left_number
                if len(side.crossed_facts) <= 63:  # the left facts they matched, by their bits
                    found, inv = np.unique(side.found.a[ls], return_inverse=True)
                    facts = [side.found_facts(b) for b in found.tolist()]
                else:
                    ls, inv = np.unique(ls, return_inverse=True)
                    facts = [side.matched_facts(s) for s in ls.tolist()]
                lk = np.array([num(t) << self._shift for t in facts])
                candidates = (lk[inv] | rmatch[ids]).tolist()
        return active, tried, candidates

    def _predict(self) -> int:
        """Facts predicted for the next row (as a mask): right parts of the best fully-present
        contexts (kept, in id order, for the next row's _learn)."""
        side = self._left
        whole = side.matched.view == side.size.view  # per left semi-context
        self._full = full = np.flatnonzero(whole[self._c_left.view])
        if not len(full):
            return 0
        tried, hits = self._tried.a[full], self._hits.a[full]
        w = np.where(tried > 0, hits / np.maximum(tried, 1), 0.0)
        winners = self._c_rmask.a[full][w == max(0.0, float(w.max()))]
        return int(np.bitwise_or.reduce(winners))

    def _step(self, sensor: tuple[int, ...], smask: int) -> tuple[float, float]:
        new_flag = False
        if self._left_facts and sensor:
            zero_key = self._left_key | smask
            cid, new_flag = self._store(zero_key, True)
            if new_flag:
                self._new_context = cid
            elif not self._zero.a[cid]:
                self._zero.a[cid] = True
                self._zero_ids.append(cid)
        active, tried, candidates = self._learn(new_flag, smask)
        share_active = len(active) / tried if tried > 0 else 0.0
        if len(active):
            order = np.lexsort((self._rh.a[active], self._lh.a[active], self._active.a[active]))
            top = active[order[-self.config.max_active_neurons :]]
        else:
            top = active
        neurons = {_NEURON_BASE + int(c) for c in top}
        self._left_facts = tuple(sorted(set(sensor) | neurons))
        self._left_key = self._left_number(self._left_facts) << self._shift
        pairs = self._pairs
        added = sum(self._store(k, False)[1] for k in candidates if k not in pairs)
        self._left.cross(self._left_facts)
        self._predicted = self._predict()
        share_new = 0.0
        if new_flag:  # the new zero-level context and the distinct candidates
            share_new = (added + 1) / len(set(candidates) | {zero_key})
        return share_active, share_new

    def sensor_facts(self, value: float) -> tuple[int, ...]:
        """The bits of the value's bin as facts (65536 + 2·bit position + bit)."""
        b = int((float(value) - self.min_value) / self.step)
        b = min(max(b, 0), self.max_bin)
        return tuple(_SENSOR_BASE + 2 * k + ((b >> k) & 1) for k in range(self.config.value_bits))

    def score(self, value: float) -> float:
        """Anomaly score in [0, 1] of the next value (0 inside a rest period)."""
        facts = self.sensor_facts(value)
        smask = 0
        for f in facts:
            smask |= 1 << (f - _SENSOR_BASE)
        surprised = smask & ~self._predicted != 0
        share_active, share_new = self._step(facts, smask)
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
    warmup: int = 500,
    regrow: float = 0.25,
    memory: int | None = 2000,
    pad: float = 0.0,
    carry_rest: bool = False,
    config: ContextConfig | None = None,
) -> np.ndarray:
    """CAD OSE scores whose row t uses rows up to t only (opsnb's causal reading).

    The first ``warmup`` values are collected (score 0); then the detector is built with the
    range of the values so far and fed them, and streams on. A value outside the range is
    clipped to the first or last bin; when the running min/max has moved more than ``regrow``
    × the range's width beyond the range in use, the detector is rebuilt with the running
    range and replays the last ``memory`` values (``None``: all of them) with their scores
    discarded, so a rebuild costs at most ``memory`` steps. ``pad``: the range in use is the
    running range widened by ``pad`` × its width on each side (room for excursions before
    they clip or rebuild). ``carry_rest``: the rebuilt detector keeps the stream's rest
    period (the scores the series actually got) instead of the replay's, so a replayed
    row neither alarms nor silences the row that triggered the rebuild.
    Missing values (NaN) score 0 and are not fed to the detector."""
    if warmup < 1 or (memory is not None and memory < 1):
        raise ValueError(f"warmup and memory must be >= 1, got {warmup!r}, {memory!r}")
    if not regrow > 0:
        raise ValueError(f"regrow must be > 0, got {regrow!r}")
    if not pad >= 0:
        raise ValueError(f"pad must be >= 0, got {pad!r}")
    v = np.asarray(values, dtype=float)
    idx = np.flatnonzero(np.isfinite(v))
    x = v[idx]
    out = np.zeros(len(v))
    if len(x) <= warmup:
        return out
    run_lo = np.minimum.accumulate(x)
    run_hi = np.maximum.accumulate(x)

    def build(t):  # a detector on the range of x[:t+1] that has seen the `memory` rows before t
        margin = pad * (run_hi[t] - run_lo[t])
        lo_t, hi_t = run_lo[t] - margin, run_hi[t] + margin
        d = ContextDetector(lo_t, hi_t, config)
        for y in x[0 if memory is None else max(0, t - memory) : t]:
            d.score(y)
        return d, lo_t, hi_t

    det, lo, hi = build(warmup - 1)
    det.score(x[warmup - 1])
    for t in range(warmup, len(x)):
        width = max(hi - lo, 1e-12)
        if (lo - run_lo[t]) > regrow * width or (run_hi[t] - hi) > regrow * width:
            old = det
            det, lo, hi = build(t)
            if carry_rest:
                det._history = old._history
        out[idx[t]] = det.score(x[t])
    return out


CONTEXT_MIN_ROWS = 2000
"""The former length gate (CAD's alarms on series of at least this many values, the engine's on
shorter ones), kept as :func:`context_flags`' default and as a benchmark variant
(``benchmarks/nab_eval.py``, ``length-gate@2000``) only: it decides on a series' final length,
so appending a value to a series of 1 999 changed every earlier decision (not causal).
:func:`add_context` uses :func:`context_rows` instead. CAD costs 0.1 to 0.5 ms of CPU per value, 2 ms on pure noise
(one NAB file of 4 032 five-minute values: 0.8 to 1.4 s of CPU in detect against 0.1 s
without; ``benchmarks/bench_context.py``)."""
CONTEXT_THRESHOLD = 0.75
"""A row is a contextual alarm when its causal CAD score reaches CAD's own base threshold."""
CONTEXT_WARMUP = 500
"""Rows the engine's causal CAD collects before it fixes its first value range (scored 0)."""
CONTEXT_PAD = 0.0
"""The engine's causal CAD range: the running range widened by this share of its width.
Widening it (0.5, warm-up 500 or 250) removes almost all clipping and most rebuilds but leaves
half of the 8 bins to excursions, so normal values lose resolution: in the nested CV of
``benchmarks/nab_eval.py`` it lost (CAD alone, standard: 55.0 with pad 0.5 and 50.5 with warm-up
250 against 64.3) and no fold picked it, so the range is the running one."""
CONTEXT_MEMORY = 2000
"""Rows the engine's causal CAD replays when it rebuilds on a grown range. All of them (None)
lost in the nested CV of ``benchmarks/nab_eval.py`` (standard, CAD alone 63.7 against 65.4 with
2 000; in the engine 64.9 against 66.3): fewer false positives on most files, but two windows
lost (machine_temperature, Twitter UPS), and one fold of 21 picked it."""
CONTEXT_CARRY_REST = True
"""The engine's rebuilt causal CAD keeps the stream's rest period (``carry_rest`` of
:func:`causal_context_scores`): without it the replay's own scores silenced the row that triggered the rebuild, often the
anomaly itself (ec2_cpu_utilization_ac20cd, machine_temperature). Nested leave-one-category-out
CV of ``benchmarks/nab_eval.py`` (standard / low FP / low FN): 65.7 / 57.7 / 65.0, was 63.6 /
56.3 / 63.9; the default alone 66.3 / 58.6 / 70.8, was 64.2 / 56.5 / 68.6; CAD alone 65.4 /
58.3 / 69.8, was 63.5 / 57.2 / 67.7 (NAB's whole-file range: 71.3 / 66.0 / 74.8)."""
CONTEXT_P_FACTOR = float("inf")
"""On a series that gets contextual alarms, the engine's p-values are multiplied by this (capped
at 1; ``inf``: the engine raises no p-value alarm there) before they are compared with alpha.
``inf`` with :data:`CONTEXT_KEEP_SHIFT` False (CAD's alarms only on long series) won the
nested leave-one-category-out CV of ``benchmarks/nab_eval.py`` on every fold of the standard
and low-FP profiles and 6 of 7 low-FN folds (nested: 64.3 / 57.5 / 64.8, was 55.0 / 45.3 /
62.2 for engine OR CAD) against engine OR CAD and the engine at p × 100 or × 10 000, from 1 000 or 2 000
rows: the engine's own alarms on long series added more false positives than hits."""
CONTEXT_KEEP_SHIFT = False
"""On a series that gets contextual alarms, whether the engine's CUSUM level shifts stay alarms."""


CONTEXT_EXTREME = 0.02
"""On the rows handed over to CAD, a value beyond the range the series has shown so far by more
than this share of the range's width is an alarm too (:func:`new_extremes`). CAD reads values
in bins of the running range and clips what lies beyond it into the edge bin until the range has
grown by a quarter, so a new maximum or minimum short of that is invisible to it (the
temperature failures of NAB's realKnownCause, grok_asg_anomaly). Chosen on all 50 NAB files from
0.01 / 0.02 / 0.03 / 0.05 (``benchmarks/nab_eval.py --cv``; each alone, alpha and onset window
cross-validated, standard / low FP / low FN: 73.3 / 62.2 / 78.1, **73.5 / 62.6 / 78.2**, 73.4 /
63.7 / 78.2, 71.7 / 62.3 / 76.2; without the rule 69.6 / 62.3 / 74.1; at 0 every slightly new
value alarms and it gains almost nothing). The nested leave-one-category-out CV, which also
chooses the margin (or none) per fold, went from 66.1 / 58.6 / 65.6 to 71.3 / 61.5 / 76.0; in
the standard profile six of seven folds pick 0.02, the realKnownCause fold (trained without it)
0.05. The rows handed over are sub-daily only, so daily series never get this alarm (a record
day is not an anomaly)."""


def new_extremes(values: np.ndarray, margin: float = CONTEXT_EXTREME) -> np.ndarray:
    """(series × time) bool: the value lies above the series' largest earlier value or below its
    smallest by more than ``margin`` × (largest − smallest) of the earlier values; False on the
    first value and on missing ones. Causal (earlier values only) and vectorised.

    Examples
    --------
    >>> new_extremes(np.array([[1.0, 3.0, 2.0, 3.01, 3.2, 0.5]]), 0.05).astype(int).tolist()
    [[0, 1, 0, 0, 1, 1]]
    """
    m = np.atleast_2d(np.asarray(values, dtype=float))
    ok = np.isfinite(m)
    hi = np.fmax.accumulate(np.where(ok, m, -np.inf), axis=1)
    lo = np.fmin.accumulate(np.where(ok, m, np.inf), axis=1)
    hi_p = np.concatenate([np.full((m.shape[0], 1), -np.inf), hi[:, :-1]], axis=1)
    lo_p = np.concatenate([np.full((m.shape[0], 1), np.inf), lo[:, :-1]], axis=1)
    seen = np.isfinite(hi_p)
    with np.errstate(invalid="ignore"):
        width = np.where(seen, hi_p - lo_p, 0.0)
        out = ok & seen & ((m > hi_p + margin * width) | (m < lo_p - margin * width))
    return out


def combine_context(
    p_value: np.ndarray,
    level_shift: np.ndarray,
    flags: np.ndarray,
    *,
    p_factor: float = CONTEXT_P_FACTOR,
    keep_shift: bool = CONTEXT_KEEP_SHIFT,
) -> tuple[np.ndarray, np.ndarray]:
    """The engine's (p-values, level shifts) of series that get contextual alarms ``flags``
    (same shape), joined with them: p-values × ``p_factor`` (capped at 1, NaN kept), level
    shifts kept when ``keep_shift``, OR the contextual alarms."""
    p = np.asarray(p_value, dtype=float)
    if np.isinf(p_factor):
        p = np.where(np.isnan(p), p, 1.0)
    elif p_factor != 1.0:
        p = np.minimum(1.0, p * p_factor)
    shift = np.asarray(level_shift, dtype=bool)
    return p, (shift if keep_shift else np.zeros_like(shift)) | np.asarray(flags, dtype=bool)


def context_rows(values: np.ndarray, step) -> np.ndarray:
    """Where :func:`add_context` uses CAD's alarms instead of the engine's: a (series × time)
    bool matrix, True on the rows after a series' first :data:`CONTEXT_WARMUP` finite values
    (CAD collects its value range during those and scores 0) when the series is sampled more
    often than daily, False elsewhere.

    ``step``: the grid step (a ``pd.Timedelta``) of ``values``. A series is sub-daily when the
    median gap between its finite values among the first ``CONTEXT_WARMUP + 1`` is under a day:
    decided from its own timestamps at the hand-over, so later rows never change it (causal).
    Daily (and slower) series keep the engine's alarms: CAD learns contexts of consecutive
    values, and a day's value follows the previous day's, not the previous hour's, which it was
    never tested on (the daily shops' benchmarks, ``benchmarks/daily_events.py``, run without
    it); and at about a millisecond per value CAD would cost 10 000 daily series × 365 values
    about an hour, against seconds for the engine.

    On NAB (every file sub-daily) this hand-over scores 67.6 / 60.3 / 72.0 (standard / low FP
    / low FN, ``benchmarks/nab_eval.py --cv``, default CV) against 64.2 / 56.5 / 68.6 for the
    former non-causal length gate (:data:`CONTEXT_MIN_ROWS`).

    Examples
    --------
    >>> rows = context_rows(np.arange(600.0)[None, :], pd.Timedelta(hours=1))  # doctest: +SKIP
    >>> int(rows.sum())  # the last 100 hours  # doctest: +SKIP
    100
    """
    m = np.atleast_2d(np.asarray(values, dtype=float))
    out = np.zeros(m.shape, dtype=bool)
    day = np.timedelta64(1, "D")
    if m.shape[1] <= CONTEXT_WARMUP or not step < day:  # daily grid: no series is sub-daily
        return out
    seen = np.cumsum(np.isfinite(m), axis=1)
    for r in np.flatnonzero(seen[:, -1] > CONTEXT_WARMUP):
        first = np.flatnonzero(np.isfinite(m[r]))[: CONTEXT_WARMUP + 1]
        if float(np.median(np.diff(first))) * step < day:
            out[r] = seen[r] > CONTEXT_WARMUP
    return out


def add_context(
    p_value: np.ndarray,
    level_shift: np.ndarray,
    values: np.ndarray,
    *,
    step,
    threshold: float = CONTEXT_THRESHOLD,
    config: ContextConfig | None = None,
    mapper=None,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """What :func:`opsnb.monitoring.anomaly.detect` does with the contextual score: the
    engine's ``p_value`` / ``level_shift`` (same shape as the series × time ``values`` on a
    grid of ``step``) where :func:`context_rows` is False, and there where it is True (the
    hand-over: once CAD's warm-up is over, on sub-daily series) joined with
    :func:`context_flags` or :func:`new_extremes` (what CAD's clipped range cannot see) by
    :func:`combine_context` (shipped settings). None when no row is
    handed over (nothing computed, e.g. daily series). ``mapper``: where the series are
    scored, as in :func:`context_flags`; ``rows``: :func:`context_rows` of ``values`` when the
    caller has it already."""
    rows = context_rows(values, step) if rows is None else rows
    cad = np.flatnonzero(rows.any(axis=1))
    if not len(cad):
        return None
    m = np.atleast_2d(np.asarray(values, dtype=float))
    flags = context_flags(
        m[cad], min_rows=CONTEXT_WARMUP + 1, threshold=threshold, config=config, mapper=mapper
    )
    if flags is None:
        flags = np.zeros((len(cad), m.shape[1]), dtype=bool)
    flags = flags | new_extremes(m[cad], CONTEXT_EXTREME)
    p = np.array(p_value, dtype=float)
    shift = np.array(level_shift, dtype=bool)
    jp, js = combine_context(p[cad], shift[cad], flags)
    p[cad] = np.where(rows[cad], jp, p[cad])
    shift[cad] = np.where(rows[cad], js, shift[cad])
    return p, shift


CONTEXT_POOL_VALUES = 20_000
""":func:`context_flags` scores the long series in a process pool (one process per core) when
there are several and at least this many values among them (a few seconds of CAD, against a
fraction of a second to start the processes); fewer run in the calling process."""


def context_flags(
    values: np.ndarray,
    *,
    min_rows: int = CONTEXT_MIN_ROWS,
    threshold: float = CONTEXT_THRESHOLD,
    config: ContextConfig | None = None,
    mapper=None,
    workers: int | None = None,
) -> np.ndarray | None:
    """Contextual alarms on a (series × time) matrix: ``causal_context_scores ≥ threshold``
    for the series with at least ``min_rows`` finite values, False elsewhere; None when no
    series is that long (nothing to add, nothing computed). Causal like the scores.

    Each long series is scored on its own, so they can run anywhere: ``mapper(func, rows) ->
    results`` in order (e.g. a Dask client's map and gather, as ``opsnb detect --scheduler``
    passes); without one, in a process pool of ``workers`` processes (default: one per core
    when there are several long series and at least :data:`CONTEXT_POOL_VALUES` values
    among them, else here; 1: here). The result is the same however they run."""
    m = np.atleast_2d(np.asarray(values, dtype=float))
    if m.shape[1] < min_rows:  # e.g. a year of daily data: nothing to compute
        return None
    counts = np.isfinite(m).sum(axis=1)
    long = np.flatnonzero(counts >= min_rows)
    if not len(long):
        return None
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1 or None, got {workers!r}")
    func = partial(_series_alarms, threshold=threshold, config=config)
    rows = [m[r] for r in long]
    if mapper is not None:
        done = list(mapper(func, rows))
    else:
        if workers is None:
            enough = len(long) > 1 and counts[long].sum() >= CONTEXT_POOL_VALUES
            workers = min(os.cpu_count() or 1, len(long)) if enough else 1
        done = _pool_map(func, rows, workers)
    out = np.zeros(m.shape, dtype=bool)
    out[long] = done
    return out


def _series_alarms(row: np.ndarray, *, threshold: float, config: ContextConfig | None):
    """The contextual alarms of one long series (what :func:`context_flags` maps)."""
    s = causal_context_scores(
        row,
        warmup=CONTEXT_WARMUP,
        pad=CONTEXT_PAD,
        memory=CONTEXT_MEMORY,
        carry_rest=CONTEXT_CARRY_REST,
        config=config,
    )
    return s >= threshold


def _pool_map(func, rows: list, workers: int) -> list:
    """``[func(r) for r in rows]``, in a pool of ``workers`` processes when ``workers`` > 1
    (in order; here when processes cannot be started, e.g. inside a daemon process). The
    processes are forked, or started by a fork server when this process runs other threads
    (a thread pool, a notebook kernel): forking those can deadlock (Python 3.12 warns)."""
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    workers = min(workers, len(rows))
    if workers > 1 and not multiprocessing.current_process().daemon:
        chunk = max(1, len(rows) // (8 * workers))  # 8 chunks a process: balanced, few trips
        ctx = multiprocessing.get_context()
        if ctx.get_start_method() == "fork" and threading.active_count() > 1:
            ctx = multiprocessing.get_context("forkserver")
        try:
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                return list(pool.map(func, rows, chunksize=chunk))
        except (OSError, NotImplementedError, BrokenProcessPool):
            pass  # no processes here (a sandbox, a frozen app): the same work in this one
    return [func(r) for r in rows]
