"""Paired, interleaved timing: the way every ratio in docs/performance.md is measured.

Each round times side A then side B (the order alternates between rounds, so that neither
always runs warm or cold), and the result is the median of the per-round ratios, not a ratio
of two best cases measured apart.
"""

import time


def time_calls(call, count):
    """Return seconds per call of `call()` over `count` calls."""
    started = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - started) / count


def paired(a, b, *, rounds, count=1, before_round=None):
    """Time `a` and `b` in interleaved rounds; return (a times, b times, ratios a/b)."""
    a_times, b_times = [], []
    for n in range(rounds):
        if before_round:
            before_round(n)
        if n % 2:
            b_times.append(time_calls(b, count))
            a_times.append(time_calls(a, count))
        else:
            a_times.append(time_calls(a, count))
            b_times.append(time_calls(b, count))
    ratios = [x / y for x, y in zip(a_times, b_times, strict=True)]
    return a_times, b_times, ratios
