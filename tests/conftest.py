"""Shared fixtures: a small real RLDS recording of two Atari games."""

import pytest

from atari_data import recorder

TINY_GAMES = ('Pong', 'Breakout')


@pytest.fixture(scope='session')
def tiny_atari_dataset(tmp_path_factory) -> str:
  """Pong and Breakout, 2 checkpoints x 200 steps of real play (~5 s)."""
  output_dir = str(tmp_path_factory.mktemp('tiny_rlds'))
  recorder.record(recorder.RecorderConfig(
      output_dir=output_dir, games=TINY_GAMES, num_checkpoints=2,
      steps_per_checkpoint=200, seed=0))
  return output_dir
