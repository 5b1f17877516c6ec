"""The tutorial's ``calc_mean`` helpers, with safe parallel random numbers.

Same signatures as the tutorial's ``calc_mean.py`` so its code runs unchanged
(``dask.delayed(calc_mean)(i, n)``, ``client.map(calc_mean_vargs, inputs)``,
``dask.delayed(calc_mean_vargs2)(param, n)``), and never holding ``n`` values in
memory at once. Which calls are reproducible:

- ``calc_mean(i, n)`` and ``calc_mean_vargs((i, n))`` are: replicate ``i`` always
  draws the stream ``SeedSequence(seed, spawn_key=(i,))`` of ``daskburst.seed``.
- ``calc_mean_vargs2(param, n)`` is not: like the tutorial's ``default_rng()``, every
  call draws fresh entropy from the operating system, so the tutorial's nested sweep,
  which calls it with the same ``(param, n)`` for every replicate, gets independent
  replicates. ``calc_mean_vargs2(param, n, key=(pair, replicate))`` is reproducible.
  With ``client.map`` pass ``pure=False`` (or a ``key=`` per call): it gives calls with
  equal arguments one key, hence one result, whatever the function.

The settings a call depends on (``daskburst.seed``, ``daskburst.stream-chunk``) are
those of the process that builds and submits the graph: each helper is an object
that freezes them into its pickled copy, so worker processes (the ``processes``
scheduler, distributed workers) use the caller's values, not their own config.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from daskburst import config
from daskburst.rng import normal_moments, stream, stream_chunk


@dataclass(frozen=True)
class Settings:
    """The configuration a helper's numbers depend on."""

    seed: int
    chunk: int

    @classmethod
    def current(cls) -> Settings:
        """Return ``daskburst.seed`` and ``daskburst.stream-chunk`` from this process's config."""
        return cls(seed=config.master_seed(), chunk=stream_chunk())


class _Helper:
    """A tutorial helper: a callable whose pickled copies carry the caller's settings."""

    name = ""

    def __init__(self, frozen: Settings | None = None) -> None:
        self._frozen = frozen
        self.__name__ = self.name  # dask names its tasks after this

    def settings(self) -> Settings:
        """The settings of the process that submitted this copy (else this process's)."""
        return self._frozen or Settings.current()

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickling happens where the graph is submitted: freeze that process's settings.
        return (type(self), (self.settings(),))

    def __dask_tokenize__(self) -> Any:
        return (type(self).__name__, self.settings())

    def __repr__(self) -> str:
        return f"<daskburst.calc_mean.{self.name}>"


class _CalcMean(_Helper):
    """Mean and sd of ``n`` standard-normal draws from replicate ``i``'s stream."""

    name = "calc_mean"

    def __call__(
        self, i: int, n: int, *, seed: int | None = None, chunk: int | None = None
    ) -> list[float]:
        """Mean and sd of ``n`` standard-normal draws from replicate ``i``'s stream.

        Args:
            i: Replicate index; selects the stream ``SeedSequence(seed, spawn_key=(i,))``.
            n: Number of draws.
            seed: Master seed; defaults to ``daskburst.seed``.
            chunk: Draws per block; defaults to ``daskburst.stream-chunk``.

        Returns:
            ``[mean, sd]`` (sd with ddof=0, like ``np.std``).
        """
        if seed is None or chunk is None:  # reading the settings costs more than a draw
            s = self.settings()
            seed, chunk = s.seed if seed is None else seed, s.chunk if chunk is None else chunk
        rng = stream(int(seed), (i,))
        mean, sd = normal_moments(rng, int(n), chunk=int(chunk))
        return [mean, sd]


class _CalcMeanVargs(_Helper):
    """``calc_mean`` taking one ``(i, n)`` tuple, for ``client.map``."""

    name = "calc_mean_vargs"

    def __call__(
        self, inputs: Sequence[int], *, seed: int | None = None, chunk: int | None = None
    ) -> list[float]:
        """``calc_mean`` taking one ``(i, n)`` tuple, for ``client.map``.

        Args:
            inputs: ``(i, n)``.
            seed: Master seed; defaults to ``daskburst.seed``.
            chunk: Draws per block; defaults to ``daskburst.stream-chunk``.

        Returns:
            ``[mean, sd]``.
        """
        i, n = inputs
        s = self.settings()
        return calc_mean(
            i, n, seed=s.seed if seed is None else seed, chunk=s.chunk if chunk is None else chunk
        )


class _CalcMeanVargs2(_Helper):
    """Mean and sd of ``nobs`` draws from Normal(mu, sigma)."""

    name = "calc_mean_vargs2"

    def __call__(
        self,
        inputs: Sequence[float],
        nobs: int,
        key: Sequence[int] | None = None,
        *,
        seed: int | None = None,
        chunk: int | None = None,
    ) -> list[float]:
        """Mean and sd of ``nobs`` draws from Normal(mu, sigma).

        Args:
            inputs: ``(mu, sigma)``.
            nobs: Number of draws.
            key: The stream key, e.g. ``(pair, replicate)``: the draws are then those of
                ``SeedSequence(seed, spawn_key=key)``, reproducible. None (the tutorial's
                call) draws fresh entropy from the operating system on every call, like
                ``np.random.default_rng()``: independent, not reproducible.
            seed: Master seed for a ``key``; defaults to ``daskburst.seed``.
            chunk: Draws per block; defaults to ``daskburst.stream-chunk``.

        Returns:
            ``[mean, sd]`` of ``mu + sigma * z``, the same numbers
            ``rng.normal(mu, sigma, nobs)`` gives from the same stream.

        Raises:
            ValueError: For a ``seed`` without a ``key``: every such call would draw the
                same numbers.
        """
        mu, sigma = float(inputs[0]), float(inputs[1])
        if key is None:
            if seed is not None:
                raise ValueError(
                    f"calc_mean_vargs2: seed={seed!r} without key= would give every call the "
                    "same draws; expected key=(pair, replicate) too, or neither for fresh draws"
                )
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence()))
        else:
            rng = stream(self.settings().seed if seed is None else int(seed), key)
        size = self.settings().chunk if chunk is None else int(chunk)
        mean, sd = normal_moments(rng, int(nobs), chunk=size)
        return [mu + sigma * mean, abs(sigma) * sd]

    def __dask_tokenize__(self) -> Any:
        # Without a key every call is a new random draw: dask.delayed(..., pure=True) must
        # not give two calls with the same arguments one key. client.map tokenizes the
        # function once for all its calls, so there equal arguments still share one key
        # (one result): pass pure=False to client.map, or a key= per call.
        return (type(self).__name__, uuid.uuid4().hex)


calc_mean = _CalcMean()
calc_mean_vargs = _CalcMeanVargs()
calc_mean_vargs2 = _CalcMeanVargs2()
