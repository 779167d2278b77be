"""The domains targets live in: one table for every place that needs one.

A loss names its domain (``Loss.targets``); the loss-domain check evaluates the loss at the
domain's ``probes``; the accuracy search compares forms at its ``points``; a generated module
checks T against its ``bounds`` and ``values`` (``TARGET_DOMAIN``); the CLI's random batches and
the tests draw targets with ``sample``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TargetDomain:
    """Where the targets of a loss lie."""

    name: str
    #: what the values must be, for error messages: "values in [0, 1]"
    description: str
    #: the closed interval the values lie in (None: unbounded on that side)
    low: float | None = None
    high: float | None = None
    #: the only values allowed, when there are few (sign: −1 and 1)
    values: tuple[float, ...] = ()
    #: exact targets the loss-domain check evaluates a loss at (decimal strings)
    probes: tuple[str, ...] = ("0.3",)
    #: targets the accuracy search compares forms at (exact in float32 too)
    points: tuple[float, ...] = (0.0, 1.0)

    def contains(self, T: np.ndarray) -> bool:
        """Whether every value of ``T`` lies in the domain."""
        T = np.asarray(T)
        if self.values and not np.all(np.isin(T, self.values)):
            return False
        below = self.low is not None and np.any(T < self.low)
        above = self.high is not None and np.any(T > self.high)
        return not (below or above)

    def sample(
        self, rng: np.random.Generator, samples: int, outputs: int
    ) -> np.ndarray:
        """Random targets in the domain: ``samples`` rows of ``outputs`` values, or one integer
        label per sample for labels."""
        shape = (samples, outputs)
        if self.name == "labels":
            return rng.integers(0, outputs, size=samples)
        if self.values:
            return rng.choice(np.asarray(self.values, dtype=float), size=shape)
        if self.high is not None:  # [0, 1]: the corners, as labels are
            return rng.integers(0, 2, size=shape).astype(float)
        if self.low is not None:  # counts
            return rng.poisson(2.0, size=shape).astype(float)
        return rng.normal(size=shape)

    def constants(self) -> dict[str, object]:
        """What a generated module checks T with (its ``TARGET_DOMAIN``): plain values."""
        return {
            "description": self.description,
            "low": self.low,
            "high": self.high,
            "values": self.values,
        }


DOMAINS = {
    domain.name: domain
    for domain in (
        TargetDomain("real", "any real values", points=(-1.5, 0.375, 2.0)),
        TargetDomain(
            "probability", "values in [0, 1]", 0.0, 1.0, points=(0.0, 1.0, 0.375)
        ),
        TargetDomain(
            "nonnegative", "values ≥ 0", 0.0, probes=("1.5",), points=(0.0, 1.0, 3.5)
        ),
        TargetDomain(
            "sign",
            "values -1 or 1",
            values=(-1.0, 1.0),
            probes=("-1", "1"),
            points=(-1.0, 1.0),
        ),
        TargetDomain("labels", "integer class labels 0 … K-1 (one per sample)"),
    )
}

__all__ = ["DOMAINS", "TargetDomain"]
