"""Offline fine-tuning: a pre-trained run seeds a run on a game it never saw."""

import dataclasses

import numpy as np
import pytest

from agents.scaled_ql import checkpointing
from launchers.programs import checkpoint_loading
from tests_support import TINY_LEARNER, tiny_experiment


def test_unseen_game_gets_the_pretrained_torso_and_a_fresh_head(
    tiny_atari_dataset, pong_checkpoint, tmp_path):
  pretrained = checkpoint_loading.load_checkpoint(pong_checkpoint).params
  experiment = tiny_experiment(tiny_atari_dataset, tmp_path,
                               games=('Breakout', 'Pong'), num_steps=4,
                               init_checkpoint=pong_checkpoint)
  experiment.validate()
  runner = experiment.make_learner_runner()
  params = runner.get_variables(['policy'])[0]
  for module in pretrained:
    if module != 'heads':
      for name in pretrained[module]:
        np.testing.assert_array_equal(params[module][name],
                                      pretrained[module][name])
  # Pong keeps its trained head (head 1 now, head 0 then; Pong has the most
  # actions in both networks, so the padding is the same).
  np.testing.assert_array_equal(params['heads']['w'][1],
                                pretrained['heads']['w'][0])
  np.testing.assert_array_equal(params['heads']['b'][1],
                                pretrained['heads']['b'][0])
  # Breakout's head is a fresh initialisation, not Pong's.
  assert not np.allclose(params['heads']['w'][0][:, :4 * 11],
                         pretrained['heads']['w'][0][:, :4 * 11])
  # It trains on from there.
  runner.train(should_stop=lambda: False, max_steps=4)
  assert runner.completed_steps() == 4


def test_a_checkpoint_of_another_network_cannot_seed_the_run(
    tiny_atari_dataset, pong_checkpoint, tmp_path):
  experiment = tiny_experiment(
      tiny_atari_dataset, tmp_path, games=('Breakout',),
      learner=dataclasses.replace(TINY_LEARNER, feature_dim=16),
      init_checkpoint=pong_checkpoint)
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match='feature_dim: checkpoint has 32, this run has 16'):
    experiment.validate()


def test_a_missing_init_checkpoint_is_reported(tiny_atari_dataset, tmp_path):
  experiment = tiny_experiment(tiny_atari_dataset, tmp_path,
                               init_checkpoint=str(tmp_path / 'nope.npz'))
  with pytest.raises(FileNotFoundError, match='nope.npz does not exist'):
    experiment.validate()
