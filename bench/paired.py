"""Paired, interleaved timing: the way every ratio in docs/performance.md is measured.

Each round times side A then side B (the order alternates between rounds, so that neither
always runs warm or cold), and the result is the median of the per-round ratios, not a ratio
of two best cases measured apart.
"""

import statistics
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


def summary(name, a_times, b_times, ratios, *, unit="ms", scale=1000.0):
    med = statistics.median
    return (
        f"{name}: ours {med(a_times) * scale:.2f} {unit}, baseline {med(b_times) * scale:.2f} "
        f"{unit}, median ratio {med(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}, "
        f"{len(ratios)} rounds)"
    )
