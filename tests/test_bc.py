"""Behaviour cloning with Acme's BC learner on the multi-game network."""

from builders import acme_compat  # noqa: F401  (before acme)

import itertools

import jax
import numpy as np
import pytest
import scipy.special

from agents.scaled_ql import config as learner_config
from agents.scaled_ql import types as agent_types
from builders import bc as bc_lib
from builders import config as builder_config
from networks import multi_game


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
