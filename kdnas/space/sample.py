"""Random students of a space, outside any study: the panels benchmarks measure."""

from __future__ import annotations

import optuna

from kdnas.space.protocol import Space


def sample_random(space: Space, n: int, seed: int = 0) -> list[str]:
    """`n` architectures (canonical text) drawn by Optuna's RandomSampler with `seed` through the
    space's own `suggest`, so they are what a random search of the space would try first."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(str(space.suggest(trial)))
        study.tell(trial, 0.0)
    return out
