"""Runs many schedules (in parallel processes), and reports the first broken invariant with the
shortest schedule found that still breaks it: ``make simulate SCHEDULES=N SEED=S``."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from typing import NamedTuple

from .mutants import MUTANTS, applied
from .sim import run_schedule, shrink


class Found(NamedTuple):
    seed: int
    violation: str
    kind: str


class Report(NamedTuple):
    schedules: int  # run until the first violation (or all)
    seconds: float
    steps: int
    found: Found | None


def _chunk(args: tuple[int, int, str | None]) -> tuple[int, int, Found | None]:
    """Schedules start..stop-1 -> (run, steps, first violation)."""
    start, stop, mutant = args
    steps = 0
    with applied(mutant) as writer_class:
        for seed in range(start, stop):
            violation, sim = run_schedule(seed, writer_class=writer_class)
            steps += sim.steps
            if violation is not None:
                return seed - start + 1, steps, Found(seed, str(violation), violation.kind)
    return stop - start, steps, None


def _chunks(first: int, count: int, mutant: str | None, size: int) -> Iterator[tuple]:
    for start in range(first, first + count, size):
        yield (start, min(start + size, first + count), mutant)


def explore(
    count: int, first_seed: int = 0, mutant: str | None = None, processes: int | None = None
) -> Report:
    """Runs ``count`` schedules from ``first_seed``; stops at the first broken invariant."""
    processes = processes or min(2, os.cpu_count() or 1)
    started = time.monotonic()
    run = steps = 0
    found: Found | None = None
    size = 50 if mutant else 500
    if processes == 1:
        results: Iterator = map(_chunk, _chunks(first_seed, count, mutant, size))
        pool = None
    else:
        pool = multiprocessing.get_context("fork").Pool(processes)
        results = pool.imap(_chunk, _chunks(first_seed, count, mutant, size))
    try:
        for done, spent, violation in results:
            run += done
            steps += spent
            if violation is not None:
                found = violation
                break
    finally:
        if pool is not None:
            pool.terminate()
    return Report(run, time.monotonic() - started, steps, found)


def explain(found: Found, mutant: str | None = None) -> str:
    """The failing seed, and the shortest schedule found that breaks the same invariant."""
    with applied(mutant) as writer_class:
        choices, sim, violation = shrink(found.seed, writer_class)
        again, _ = run_schedule(found.seed, choices, writer_class)
    assert again is not None and again.kind == violation.kind, "a failing seed must reproduce"
    return "\n".join(
        [
            f"seed {found.seed}: {found.violation}",
            f"shortest schedule found ({len(choices)} choices, {sim.steps} steps): {violation}",
            f"  replay: run_schedule({found.seed}, replay={choices!r})",
            *sim.log,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0, help="the first schedule's seed")
    parser.add_argument("--mutant", choices=sorted(MUTANTS), help="run a mutant of the protocol")
    parser.add_argument("--processes", type=int, default=None)
    args = parser.parse_args(argv)
    report = explore(args.schedules, args.seed, args.mutant, args.processes)
    rate = report.schedules / report.seconds if report.seconds else 0.0
    print(
        f"{report.schedules} schedules from seed {args.seed} in {report.seconds:.1f} s "
        f"({rate:.0f}/s, {report.steps / max(report.schedules, 1):.0f} steps each)"
        + (f", mutant: {args.mutant}" if args.mutant else "")
    )
    if report.found is None:
        print("every invariant held after every step")
        return 0
    print(explain(report.found, args.mutant))
    return 1


if __name__ == "__main__":
    sys.exit(main())
