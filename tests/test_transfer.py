"""Carrying a pre-trained backbone and heads over to a new game list."""

import dataclasses

import jax
import numpy as np
import pytest

from agents.scaled_ql import transfer
from agents.scaled_ql.networks import make_network
from tests_support import TINY_LEARNER

PRETRAINED_GAMES, PRETRAINED_ACTIONS = ('Pong', 'Breakout'), (6, 4)
# Breakout is known; Boxing (18 actions, wider padding) is unseen.
NEW_GAMES, NEW_ACTIONS = ('Boxing', 'Breakout'), (18, 4)


@pytest.fixture(autouse=True, scope='module')
def float32_matmuls():
  # GPUs run float32 matmuls in TF32 (~1e-3 relative): too coarse to compare.
  with jax.default_matmul_precision('float32'):
    yield


def _networks_and_params(config=TINY_LEARNER, pretrained_config=TINY_LEARNER):
  pretrained_net = make_network(pretrained_config, PRETRAINED_ACTIONS)
  new_net = make_network(config, NEW_ACTIONS)
  return (pretrained_net, pretrained_net.init(jax.random.PRNGKey(0)),
          new_net, new_net.init(jax.random.PRNGKey(1)))


def test_known_games_keep_their_q_values_and_new_games_their_fresh_head():
  pretrained_net, pretrained, new_net, fresh = _networks_and_params()
  params = transfer.transfer_parameters(
      pretrained, PRETRAINED_GAMES, PRETRAINED_ACTIONS, fresh, NEW_GAMES,
      NEW_ACTIONS)

  frames = np.random.default_rng(0).integers(0, 256, (5, 84, 84, 4), np.uint8)
  breakout_before = pretrained_net.apply(pretrained, frames,
                                         np.full(5, 1, np.int32))
  breakout_after = new_net.apply(params, frames, np.full(5, 1, np.int32))
  np.testing.assert_allclose(breakout_after.q_logits[:, :4],
                             breakout_before.q_logits[:, :4], rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(breakout_after.features, breakout_before.features,
                             rtol=1e-5, atol=1e-6)
  # Boxing's head is the fresh one, fed by the pre-trained features.
  np.testing.assert_array_equal(params['heads']['w'][0], fresh['heads']['w'][0])
  np.testing.assert_array_equal(params['heads']['b'][0], fresh['heads']['b'][0])
  for module in ('torso/conv2_d', 'projection'):
    np.testing.assert_array_equal(params[module]['w'], pretrained[module]['w'])


def test_another_feature_width_is_refused():
  config = dataclasses.replace(TINY_LEARNER, feature_dim=16)
  _, pretrained, _, fresh = _networks_and_params(config)
  with pytest.raises(transfer.TransferError, match='feature width'):
    transfer.transfer_parameters(pretrained, PRETRAINED_GAMES,
                                 PRETRAINED_ACTIONS, fresh, NEW_GAMES,
                                 NEW_ACTIONS)


def test_a_changed_action_space_is_refused():
  _, pretrained, _, fresh = _networks_and_params()
  with pytest.raises(transfer.TransferError, match='Breakout had 3 actions'):
    transfer.transfer_parameters(pretrained, PRETRAINED_GAMES,
                                 (6, 3), fresh, NEW_GAMES, NEW_ACTIONS)


def test_scalar_heads_carry_their_q_values_over():
  scalar = dataclasses.replace(TINY_LEARNER, value_loss='mse')
  pretrained_net, pretrained, new_net, fresh = _networks_and_params(
      scalar, scalar)
  params = transfer.transfer_parameters(
      pretrained, PRETRAINED_GAMES, PRETRAINED_ACTIONS, fresh, NEW_GAMES,
      NEW_ACTIONS)
  frames = np.random.default_rng(1).integers(0, 256, (3, 84, 84, 4), np.uint8)
  breakout = np.full(3, 1, np.int32)
  np.testing.assert_allclose(
      new_net.apply(params, frames, breakout).q_values[:, :4],
      pretrained_net.apply(pretrained, frames, breakout).q_values[:, :4],
      rtol=1e-5, atol=1e-5)


def test_another_value_head_is_refused():
  scalar = dataclasses.replace(TINY_LEARNER, value_loss='mse')
  _, pretrained, _, fresh = _networks_and_params(config=scalar)
  with pytest.raises(transfer.TransferError,
                     match=f'{TINY_LEARNER.num_atoms} outputs per action and '
                     "the new network's 1"):
    transfer.transfer_parameters(pretrained, PRETRAINED_GAMES,
                                 PRETRAINED_ACTIONS, fresh, NEW_GAMES,
                                 NEW_ACTIONS)
