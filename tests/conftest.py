"""Shared fixtures: a small real RLDS recording of two Atari games, and a
tiny run pre-trained on one of them.

The recorder and the programs (TensorFlow, Acme, Reverb) are imported by the
fixtures that use them, not here, so that the pure core's tests also run on a
machine without them (e.g. a GPU box with JAX, Haiku, Optax and chex only).
"""

import pytest

from agents.scaled_ql import checkpointing

TINY_GAMES = ('Pong', 'Breakout')


@pytest.fixture(scope='session')
def tiny_atari_dataset(tmp_path_factory) -> str:
  """Pong and Breakout, 2 checkpoints x 200 steps of real play (~5 s)."""
  from atari_data import recorder
  output_dir = str(tmp_path_factory.mktemp('tiny_rlds'))
  recorder.record(recorder.RecorderConfig(
      output_dir=output_dir, games=TINY_GAMES, num_checkpoints=2,
      steps_per_checkpoint=200, seed=0))
  return output_dir


@pytest.fixture(scope='session')
def pong_checkpoint(tiny_atari_dataset, tmp_path_factory) -> str:
  """The final checkpoint of a tiny run pre-trained on Pong only (Breakout
  stays unseen), for fine-tuning tests."""
  from launchers.programs import offline_program
  from tests_support import tiny_experiment
  workdir = tmp_path_factory.mktemp('pong_only')
  offline_program.run_single_process(tiny_experiment(
      tiny_atari_dataset, workdir, games=('Pong',), num_steps=3,
      eval_every_steps=100))
  return checkpointing.latest_checkpoint(str(workdir / 'checkpoints'))[1]
