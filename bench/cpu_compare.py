#!/usr/bin/env python3
"""Compares two profiles of bench/cpu.sh (their `perf script` text, kept as bench/.work/cpu/perf.txt) per unit of the same work.

Shares alone cannot say how much more CPU a request costs in B than in A, and on a shared machine the samples per request
are noise. This takes as the yardstick what both gateways do alike for each request (Kestrel, routing, pipelines, the
direct upstream path: code that the compared settings do not change) and prints every component and kind of system call
in units of A's total per that much work: the ratio of the totals is B's CPU per request against A's, and the rows say
where the difference is, kernel work included.

    bench/cpu_compare.py bare.perf.txt observed.perf.txt
"""
import collections
import re
import sys

from cpu_components import owner_of, samples

REFERENCE = ("Kestrel (HTTP/1.1 parsing, connections)", "Meshgate's direct HTTP/1.1 upstream path", "pipelines", "ASP.NET Core routing")
SYSCALL = re.compile(r"\b__x64_sys_(\w+)")


def read(path):
    by_component, by_kind = collections.Counter(), collections.Counter()
    with open(path, errors="replace") as lines:
        for thread, frames in samples(lines):
            by_component[owner_of(frames)] += 1
            call = next((m.group(1) for m in map(SYSCALL.search, frames) if m), None)
            kind = f"system call {call}" if call else ("kernel, no system call" if "kernel.kallsyms" in frames[0] else "user space")
            by_kind[f"{thread}: {kind}"] += 1
    reference = sum(by_component[r] for r in REFERENCE)
    if reference == 0:
        sys.exit(f"{path}: no samples of the reference components")
    return sum(by_component.values()) / reference, {k: v / reference for k, v in by_component.items()}, {k: v / reference for k, v in by_kind.items()}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    total_a, components_a, kinds_a = read(sys.argv[1])
    total_b, components_b, kinds_b = read(sys.argv[2])
    print(f"CPU per unit of the same work: B/A = {total_b / total_a:.3f}")
    for title, a, b in (("component", components_a, components_b), ("thread: kind", kinds_a, kinds_b)):
        print(f"\n| {title} | A | B | B − A, share of A's total |\n|---|---:|---:|---:|")
        rows = sorted(set(a) | set(b), key=lambda k: -abs(b.get(k, 0) - a.get(k, 0)))
        for key in rows[:20]:
            print(f"| {key} | {100 * a.get(key, 0) / total_a:.1f}% | {100 * b.get(key, 0) / total_a:.1f}% | {100 * (b.get(key, 0) - a.get(key, 0)) / total_a:+.1f}% |")


if __name__ == "__main__":
    main()
