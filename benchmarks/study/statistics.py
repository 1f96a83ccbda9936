"""Aggregate scores over games x seeds with stratified bootstrap CIs.

The estimates are rliable's (Agarwal et al. 2021, "Deep RL at the Edge of
the Statistical Precipice"): a method's scores form a [runs, games] matrix;
the interquartile mean (IQM) is the 25% trimmed mean of all its entries, the
mean is the mean of the per-game means; 95% confidence intervals come from
the percentile bootstrap that resamples runs with replacement independently
within each game (stratified by game), so every game keeps its weight.

Two normalisations, both per game:
  human-normalised  (score - random) / (human - random), the paper's;
  data-normalised   (score - data) / (best - data), where `data` is the mean
                    score of the behaviour data the method learned from and
                    `best` that of the best behaviour checkpoint: 0 means
                    "as good as its data", 1 "as good as the best
                    behaviour". At CPU scale human-normalised scores sit near
                    0 and hide differences that this scale shows.
"""

from typing import Dict, Mapping, NamedTuple

import numpy as np
from rliable import library as rly
from rliable import metrics

AGGREGATES = {
    'iqm': metrics.aggregate_iqm,
    'mean': metrics.aggregate_mean,
}


class Estimate(NamedTuple):
  """A point estimate and its confidence interval [low, high]."""
  point: float
  low: float
  high: float


def data_normalised(score: float, data_score: float,
                    best_score: float) -> float:
  """(score - data_score) / (best_score - data_score).

  Raises ValueError when the best checkpoint does not score above the data,
  which would make the scale meaningless (or divide by zero).
  """
  if not best_score > data_score:
    raise ValueError(
        f'The best behaviour score ({best_score}) must exceed the data score '
        f'({data_score}) for a data-normalised score.')
  return (score - data_score) / (best_score - data_score)


def interval_estimates(score_matrices: Mapping[str, np.ndarray],
                       reps: int = 20_000, confidence: float = 0.95,
                       seed: int = 0) -> Dict[str, Dict[str, Estimate]]:
  """IQM and mean with stratified bootstrap CIs, per method.

  Args:
    score_matrices: method -> [runs, games] normalised scores (every method
      may have its own number of runs; all share the games' order).
    reps: bootstrap replications.
    confidence: coverage of the intervals.
    seed: seeds the bootstrap, so a report is reproducible.

  Returns:
    method -> {'iqm': Estimate, 'mean': Estimate}.
  """
  matrices = {}
  for method, scores in score_matrices.items():
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or min(scores.shape) < 1:
      raise ValueError(f'Scores of {method!r} must be a non-empty [runs, '
                       f'games] matrix, got shape {scores.shape}.')
    if not np.all(np.isfinite(scores)):
      raise ValueError(f'Scores of {method!r} hold non-finite values.')
    matrices[method] = scores
  result = {method: {} for method in matrices}
  # rliable's StratifiedBootstrap draws its indices from NumPy's global
  # generator (its random_state argument does not reach them), so the global
  # state is seeded here and put back afterwards.
  global_state = np.random.get_state()
  try:
    np.random.seed(seed)
    for name, aggregate in AGGREGATES.items():
      points, intervals = rly.get_interval_estimates(
          matrices, lambda x, f=aggregate: np.array([f(x)]), reps=reps,
          confidence_interval_size=confidence)
      for method in matrices:
        result[method][name] = Estimate(
            float(points[method][0]), float(intervals[method][0, 0]),
            float(intervals[method][1, 0]))
  finally:
    np.random.set_state(global_state)
  return result


def intervals_overlap(a: Estimate, b: Estimate) -> bool:
  return a.low <= b.high and b.low <= a.high
