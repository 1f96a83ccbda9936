"""Behaviour cloning with Acme's BC learner on the multi-game network."""

from builders import acme_compat  # noqa: F401  (before acme)

import itertools
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
import scipy.special

from agents.scaled_ql import checkpointing
from agents.scaled_ql import config as learner_config
from agents.scaled_ql import types as agent_types
from builders import bc as bc_lib
from builders import config as builder_config
from launchers.programs import checkpoint_loading
from tests_support import checkpoint_steps
from tests_support import csv_rows
from tests_support import tiny_experiment

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _builder(num_actions=(3, 5)):
  return bc_lib.MultiGameBCBuilder(builder_config.ScaledQLBuilderConfig(
      learner=learner_config.ScaledQLConfig(
          network_size='nature_dqn', feature_dim=32, batch_size=8,
          learning_rate=1e-3),
      games=('Pong', 'Breakout'), num_actions=num_actions))


def _batch(rng, batch_size=8):
  return agent_types.MultiGameTransition(
      observation=rng.integers(0, 256, (batch_size, 84, 84, 4), np.uint8),
      action=np.array([0, 1, 2, 4, 3, 0, 1, 2], np.int32)[:batch_size],
      reward=np.zeros(batch_size, np.float32),
      discount=np.ones(batch_size, np.float32),
      next_observation=rng.integers(0, 256, (batch_size, 84, 84, 4), np.uint8),
      game_id=np.array([0, 0, 0, 1, 1, 1, 1, 0], np.int32)[:batch_size])


def test_log_probability_matches_scipy():
  logits = np.array([[1.0, 2.0, -1.0], [0.5, 0.5, 3.0]], np.float32)
  action = np.array([1, 2])
  expected = scipy.special.log_softmax(logits, axis=-1)[[0, 1], action]
  np.testing.assert_allclose(bc_lib.log_probability(logits, action), expected,
                             rtol=1e-6)


def test_padded_actions_get_no_probability():
  builder = _builder()
  network = builder.make_networks()
  policy = bc_lib.make_policy_network(network)
  params = policy.init(jax.random.PRNGKey(0))
  batch = _batch(np.random.default_rng(0))
  logits = policy.apply(params, (batch.observation, batch.game_id))
  probs = np.asarray(jax.nn.softmax(logits, axis=-1))
  pong = batch.game_id == 0  # 3 of the 5 head outputs exist for Pong
  assert probs.shape == (8, 5)
  np.testing.assert_array_equal(probs[pong][:, 3:], 0.0)
  np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-6)


def test_acme_bc_learner_fits_the_data_actions():
  builder = _builder()
  batch = _batch(np.random.default_rng(1))
  learner = builder.make_learner(
      random_key=jax.random.PRNGKey(0), networks=builder.make_networks(),
      dataset=itertools.repeat(batch))
  network = bc_lib.make_policy_network(builder.make_networks())

  def nll(params):
    logits = network.apply(params, (batch.observation, batch.game_id))
    return -float(np.mean(bc_lib.log_probability(logits, batch.action)))

  before = nll(learner.get_variables(['policy'])[0])
  for _ in range(60):
    learner.step()
  after = nll(learner.get_variables(['policy'])[0])
  assert after < 0.2 * before, (before, after)
  # The learned greedy policy reproduces the data's actions, each on its
  # own game's head.
  logits = network.apply(learner.get_variables(['policy'])[0],
                         (batch.observation, batch.game_id))
  np.testing.assert_array_equal(np.argmax(logits, axis=-1), batch.action)
  assert int(learner.save().steps) == 60


def test_bc_is_offline_only():
  builder = _builder()
  with pytest.raises(ValueError, match='offline only'):
    builder.make_learner(jax.random.PRNGKey(0), builder.make_networks(),
                         dataset=iter(()), replay_client=object())


def test_bc_pretrains_through_the_launchpad_program_and_is_evaluated(
    tiny_atari_dataset, tmp_path):
  # Acme's BC learner as the learner node of the project's offline program
  # (local_mt), checkpointed, then loaded back as a BC agent and evaluated
  # (in this process: how many rounds the program's own evaluator finishes
  # in 40 learner steps depends on the machine's load).
  process = subprocess.run(
      [sys.executable, '-m', 'launchers.pretrain', '--agent=bc',
       '--games=Pong,Breakout', f'--dataset={tiny_atari_dataset}',
       '--checkpoints=all', '--network_size=nature_dqn', '--feature_dim=32',
       '--batch_size=8', '--num_steps=40', '--checkpoint_every_steps=20',
       '--eval_every_steps=20', '--eval_max_episode_frames=400',
       '--lp_launch_type=local_mt', f'--workdir={tmp_path}'],
      capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
  output = process.stdout + process.stderr
  assert process.returncode == 0, output[-5000:]
  assert 'Killing entire runtime' not in output
  assert checkpoint_steps(str(tmp_path)) == [20, 40]
  rows = csv_rows(str(tmp_path), 'learner')
  assert rows and float(rows[-1]['loss']) > 0

  path = checkpoint_loading.checkpoint_path(str(tmp_path), None)
  loaded = checkpoint_loading.load_checkpoint(path)
  assert isinstance(loaded.builder, bc_lib.MultiGameBCBuilder)
  assert loaded.step == 40
  evaluation = checkpoint_loading.make_evaluator(
      loaded, episodes_per_game=1, max_episode_frames=200, seed=0).evaluate()
  assert set(evaluation) == {'Pong', 'Breakout'}
  # A BC checkpoint neither resumes nor seeds a Scaled QL run.
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match="agent: checkpoint has 'bc', this run has "
                     "'scaled_ql'"):
    tiny_experiment(tiny_atari_dataset, tmp_path,
                    learner=loaded.builder.config.learner).validate()
  with pytest.raises(checkpointing.CheckpointMismatchError, match='agent'):
    tiny_experiment(tiny_atari_dataset, tmp_path / 'other',
                    learner=loaded.builder.config.learner,
                    init_checkpoint=path).validate()


def test_an_unknown_agent_is_refused_with_the_valid_ones(tiny_atari_dataset,
                                                        tmp_path):
  with pytest.raises(ValueError, match="agent='dqn'; valid: scaled_ql, bc"):
    tiny_experiment(tiny_atari_dataset, tmp_path, agent='dqn')
