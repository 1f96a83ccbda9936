"""The agent's network, built from its config and game list."""

from typing import Sequence

import jax.numpy as jnp

from agents.scaled_ql.config import ScaledQLConfig
from networks.multi_game import MultiGameQNetwork, make_multi_game_q_network

# By name rather than through np.dtype(name): once TensorFlow is imported
# (a learner node, the tests), np.dtype('bfloat16') is TensorFlow's bfloat16,
# a type JAX refuses.
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def make_network(config: ScaledQLConfig,
                 num_actions: Sequence[int]) -> MultiGameQNetwork:
  """The multi-game Q-network for games with `num_actions` actions each."""
  return make_multi_game_q_network(
      num_actions=num_actions,
      torso_name=config.network_size,
      num_atoms=config.num_atoms,
      v_min=config.v_min,
      v_max=config.v_max,
      feature_dim=config.feature_dim,
      compute_dtype=COMPUTE_DTYPES[config.compute_dtype],
      value_head=config.value_head)
