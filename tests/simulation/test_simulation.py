"""The write protocol under many schedules (sim.py): every invariant after every step, and each
mutant of the protocol caught. No root, no server: the model stands in for it."""

from __future__ import annotations

import os

import pytest

from .explore import explain, explore
from .mutants import MUTANTS, applied
from .sim import run_schedule, shrink

# `make test-fast` runs a few thousand schedules, `make test` the goal size as well;
# SIMULATION_SCHEDULES=N for a quicker (or a longer) look at the goal-size test.
FAST_SCHEDULES = 2000
SCHEDULES = int(os.environ.get("SIMULATION_SCHEDULES", "100000"))
MUTANT_BUDGET = 10_000  # each mutant must be caught within this many schedules


def every_invariant_holds(schedules: int) -> None:
    report = explore(schedules)
    print(
        f"{report.schedules} schedules in {report.seconds:.1f} s "
        f"({report.schedules / report.seconds:.0f}/s, {report.steps} steps)"
    )
    assert report.found is None, explain(report.found)
    assert report.schedules == schedules


def test_every_invariant_holds_on_a_few_thousand_schedules() -> None:
    every_invariant_holds(FAST_SCHEDULES)


@pytest.mark.slow
def test_every_invariant_holds_on_every_schedule() -> None:
    every_invariant_holds(SCHEDULES)


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_each_mutant_of_the_protocol_is_caught(mutant: str) -> None:
    report = explore(MUTANT_BUDGET, mutant=mutant, processes=1)
    assert report.found is not None, f"{mutant}: survived {MUTANT_BUDGET} schedules"
    print(f"{mutant}: caught at schedule {report.schedules}: {report.found.violation}")


@pytest.mark.slow  # the shrinking: ~5 s
def test_a_failing_seed_reproduces_and_shrinks() -> None:
    mutant = "own names recognised by name alone"
    report = explore(MUTANT_BUDGET, mutant=mutant, processes=1)
    assert report.found is not None
    with applied(mutant) as writer_class:
        first, sim1 = run_schedule(report.found.seed, writer_class=writer_class, record=True)
        again, sim2 = run_schedule(report.found.seed, writer_class=writer_class, record=True)
        assert first is not None and again is not None
        assert (str(first), sim1.choose.made) == (str(again), sim2.choose.made)
        choices, short, violation = shrink(report.found.seed, writer_class, budget=500)
    assert violation.kind == first.kind
    assert len(choices) <= len(sim1.choose.made)
    assert short.log, "the shortest schedule is printed step by step"
    text = explain(report.found, mutant)
    assert f"seed {report.found.seed}" in text and "replay" in text
