"""Smoothing of the per-step loss curve (numpy only).

Non-finite losses are carried, not dropped: the output has a NaN at each
non-finite input, and the smoother skips those points in its state.
"""

from __future__ import annotations

import numpy as np

from tb_lrfinder.core.validation import fraction


def debiased_ema(values, beta: float = 0.9) -> np.ndarray:
    """The source article's debiased exponential moving average.

        avg_n = beta * avg_{n-1} + (1 - beta) * x_n       (avg_0 = 0)
        smoothed_n = avg_n / (1 - beta**n)                (n counts finite points)

    It lags the raw curve (it only looks back), which is what an online stop
    rule needs. Non-finite x_n give NaN and leave the average unchanged.
    """
    beta = fraction("smoothing", beta)
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x)
    smoothed = np.full(x.shape, np.nan)
    if finite.any():
        # avg_n / (1 - beta**n) = sum_k beta**(n-k) x_k / sum_k beta**(n-k), the weights' sum
        # (1 - beta**n) / (1 - beta); past 54 / -log2(beta) points, beta**n no longer changes it.
        weights = np.full(int(finite.sum()), 1.0 / (1.0 - beta))
        changing = weights[: int(54.0 / -np.log2(beta)) + 1] if beta > 0.0 else weights[:0]
        changing[:] = (1.0 - beta ** np.arange(1, len(changing) + 1)) / (1.0 - beta)
        # Losses beyond 2**500 would overflow the block sums (`_discounted_sums`): they are summed
        # scaled down by a power of two, which is exact, so smaller losses are not affected at all.
        peak = float(np.max(np.abs(x[finite])))
        shift = int(np.frexp(peak)[1]) if peak >= 2.0**500 else 0
        smoothed[finite] = np.ldexp(_discounted_sums(np.ldexp(x[finite], -shift), beta) / weights, shift)
    return smoothed


def _discounted_sums(x: np.ndarray, beta: float) -> np.ndarray:
    """y_n = beta * y_{n-1} + x_n (y_{-1} = 0), vectorized in blocks.

    Within a block, y_i = beta**i * cumsum(x_k / beta**k) plus the carry
    from the blocks before; a block is short enough that 1 / beta**k stays
    below 2**500 (no overflow). The rounding error is of the recurrence's
    order: each partial sum's error is scaled down by the same beta**i.
    """
    n = len(x)
    if n == 0 or beta == 0.0:
        return x.copy()
    length = int(min(n, max(1.0, 500.0 // -np.log2(beta))))
    blocks = -(-n // length)
    padded = np.zeros(blocks * length)
    padded[:n] = x
    powers = beta ** np.arange(length, dtype=np.float64)
    sums = np.cumsum(padded.reshape(blocks, length) / powers, axis=1) * powers
    decay, carry = beta**length, 0.0
    carries = np.empty(blocks)
    for block in range(blocks):  # few: n / length
        carry = sums[block, -1] + decay * carry
        carries[block] = carry
    sums[1:] += np.outer(carries[:-1], powers * beta)
    return sums.reshape(-1)[:n]


def time_constant(beta: float) -> int:
    """Points in the debiased EMA's first time constant, 1 / (1 - beta) (at least 1)."""
    return max(1, round(1.0 / (1.0 - beta)))


def centered_ema(values, beta: float = 0.9) -> np.ndarray:
    """A zero-lag smoother for offline analysis: the mean of a forward and a
    backward debiased EMA, so a feature is not shifted toward later steps.
    """
    x = np.asarray(values, dtype=np.float64)
    forward = debiased_ema(x, beta)
    backward = debiased_ema(x[::-1], beta)[::-1]
    return (forward + backward) / 2.0


def rolling_median(values, window: int, *, at=None) -> np.ndarray:
    """A centered running median over `window` points (odd; shorter at the
    ends). Robust to single spikes and to the explosion at a sweep's end;
    non-finite inputs are ignored in each window (NaN where a window holds
    none), and a window with an even number of finite points gives the mean
    of its two middle values.

    `at`: the positions to compute (default all); the result has one value
    per position. O(m log m) whatever the window, for the m points the
    positions' windows span (`_kth_smallest`).
    """
    x = np.asarray(values, dtype=np.float64)
    half = (max(1, int(window)) | 1) // 2
    positions = np.arange(len(x)) if at is None else np.asarray(at, dtype=np.int64)
    finite = np.isfinite(x)
    finite_before = np.concatenate([[0], np.cumsum(finite)])  # finite points before each position
    starts = finite_before[np.maximum(positions - half, 0)]
    stops = finite_before[np.minimum(positions + half + 1, len(x))]
    counts = stops - starts
    median = np.full(len(positions), np.nan)
    some = np.flatnonzero(counts > 0)
    if len(some):
        starts, stops, counts = starts[some], stops[some], counts[some]
        span = slice(int(starts.min()), int(stops.max()))  # the finite points the windows reach
        starts, stops = starts - span.start, stops - span.start
        even = np.flatnonzero(counts % 2 == 0)
        middles = _kth_smallest(
            x[finite][span],
            np.concatenate([starts, starts[even]]),
            np.concatenate([stops, stops[even]]),
            np.concatenate([counts // 2, counts[even] // 2 - 1]),
        )
        upper, lower = middles[: len(some)], middles[len(some):]
        upper[even] = (upper[even] + lower) / 2.0
        median[some] = upper
    return median


def _kth_smallest(values: np.ndarray, starts: np.ndarray, stops: np.ndarray, k: np.ndarray) -> np.ndarray:
    """For each query j, the k[j]-th smallest (from 0) of values[starts[j]:stops[j]].

    A wavelet matrix over the values' ranks, built and queried together one
    bit at a time, from the top: at each level the rows are split stably by
    the bit (zeros first); a query whose k lies beyond its range's zeros
    takes the ones and sets the bit in its answer, and its range moves to
    where its rows went. log2(n) vectorized passes over rows and queries.
    """
    count = len(values)
    index = np.int32 if count < 2**31 - 1 else np.int64
    order = np.argsort(values)  # ties in any order: the k-th value is the same
    current = np.empty(count, dtype=index)
    current[order] = np.arange(count, dtype=index)  # each row's rank
    starts, stops, k = (np.array(a, dtype=index) for a in (starts, stops, k))
    rank = np.zeros(len(k), dtype=index)
    zeros_before = np.zeros(count + 1, dtype=index)
    rows = np.arange(count, dtype=index)
    for level in reversed(range(max(1, (count - 1).bit_length()))):
        ones = (current >> level) & 1
        np.cumsum(1 - ones, out=zeros_before[1:])
        zeros = zeros_before[-1]
        zeros_to_start, zeros_to_stop = zeros_before[starts], zeros_before[stops]
        in_range = zeros_to_stop - zeros_to_start
        take_ones = k >= in_range
        k -= in_range * take_ones
        starts = np.where(take_ones, starts - zeros_to_start + zeros, zeros_to_start)
        stops = np.where(take_ones, stops - zeros_to_stop + zeros, zeros_to_stop)
        rank |= take_ones.astype(index) << level
        if level:
            moved = np.empty_like(current)
            moved[np.where(ones == 1, rows - zeros_before[:-1] + zeros, zeros_before[:-1])] = current
            current = moved
    return values[order[rank]]
