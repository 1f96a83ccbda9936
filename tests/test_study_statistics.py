"""The study's aggregate statistics against direct computations."""

import numpy as np
import pytest

from benchmarks.study import statistics


def _direct_stratified_bootstrap(scores, aggregate, reps, rng):
  """Percentile bootstrap, runs resampled within each game (column)."""
  runs, games = scores.shape
  values = np.empty(reps)
  for i in range(reps):
    rows = rng.integers(0, runs, size=(runs, games))
    values[i] = aggregate(scores[rows, np.arange(games)])
  return np.percentile(values, [2.5, 97.5])


def _iqm(x):
  flat = np.sort(x.ravel())
  cut = int(np.floor(0.25 * flat.size))
  return flat[cut:flat.size - cut].mean()


def test_point_estimates_are_the_trimmed_mean_and_the_mean_of_game_means():
  # 4 seeds x 2 games = 8 scores; the IQM drops the 2 lowest and 2 highest.
  scores = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 30.0], [3.0, 13.0]])
  estimates = statistics.interval_estimates({'m': scores}, reps=200)['m']
  # Sorted: 0 1 2 3 10 11 13 30 -> middle four 2 3 10 11.
  assert estimates['iqm'].point == pytest.approx(6.5)
  assert estimates['mean'].point == pytest.approx((1.5 + 16.0) / 2)


def test_intervals_match_a_direct_stratified_bootstrap():
  rng = np.random.default_rng(3)
  scores = rng.normal(size=(5, 4)) + np.arange(4)
  ours = statistics.interval_estimates({'m': scores}, reps=20_000)['m']
  for name, aggregate in (('iqm', _iqm), ('mean', lambda x: x.mean())):
    low, high = _direct_stratified_bootstrap(
        scores, aggregate, 20_000, np.random.default_rng(0))
    # Two independent Monte Carlo estimates of the same percentiles.
    assert ours[name].low == pytest.approx(low, abs=0.03)
    assert ours[name].high == pytest.approx(high, abs=0.03)
    assert ours[name].low <= ours[name].point <= ours[name].high


def test_identical_runs_give_a_zero_width_interval():
  scores = np.tile([[0.2, 0.5, 0.9]], (3, 1))
  iqm = statistics.interval_estimates({'m': scores}, reps=500)['m']['iqm']
  assert iqm.low == pytest.approx(iqm.point)
  assert iqm.high == pytest.approx(iqm.point)


def test_the_bootstrap_is_reproducible_for_a_seed():
  scores = np.random.default_rng(1).normal(size=(3, 3))
  first = statistics.interval_estimates({'m': scores}, reps=1000, seed=7)
  second = statistics.interval_estimates({'m': scores}, reps=1000, seed=7)
  assert first == second


@pytest.mark.parametrize('scores, message', [
    (np.zeros((0, 3)), 'non-empty'),
    (np.zeros(3), 'matrix'),
    (np.array([[1.0, np.nan]]), 'non-finite'),
])
def test_bad_score_matrices_are_refused(scores, message):
  with pytest.raises(ValueError, match=message):
    statistics.interval_estimates({'m': scores}, reps=10)


def test_data_normalised_score():
  assert statistics.data_normalised(15.0, 10.0, 20.0) == pytest.approx(0.5)
  assert statistics.data_normalised(5.0, 10.0, 20.0) == pytest.approx(-0.5)
  with pytest.raises(ValueError, match='must exceed the data score'):
    statistics.data_normalised(5.0, 10.0, 10.0)


def test_overlap():
  a = statistics.Estimate(1.0, 0.5, 1.5)
  assert statistics.intervals_overlap(a, statistics.Estimate(2.0, 1.4, 2.5))
  assert not statistics.intervals_overlap(a, statistics.Estimate(2.0, 1.6, 2.5))
