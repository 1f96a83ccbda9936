"""Action selection from the multi-game Q-network, for actors and evaluators."""

from typing import Callable

import jax
import jax.numpy as jnp

from networks.multi_game import MultiGameQNetwork


def epsilon_greedy(key: jax.Array, q_values: jax.Array,
                   num_valid_actions: jax.Array,
                   epsilon: float) -> jax.Array:
  """With probability epsilon a uniform valid action, otherwise greedy.

  Args:
    key: PRNG key.
    q_values: [B, A_max] with padded actions already very negative
      (QNetworkOutput.q_values), so the argmax is always a valid action.
    num_valid_actions: int [B] actions of each example's game; random actions
      are drawn from [0, num_valid_actions).
    epsilon: exploration probability (0 for greedy evaluation).

  Returns:
    int32 [B] actions.
  """
  explore_key, action_key = jax.random.split(key)
  batch_size = q_values.shape[0]
  greedy = jnp.argmax(q_values, axis=-1).astype(jnp.int32)
  uniform = jax.random.uniform(action_key, (batch_size,))
  random_action = jnp.floor(uniform * num_valid_actions).astype(jnp.int32)
  explore = jax.random.uniform(explore_key, (batch_size,)) < epsilon
  return jnp.where(explore, random_action, greedy)


def make_epsilon_greedy_policy(
    network: MultiGameQNetwork) -> Callable[..., jax.Array]:
  """(params, key, observation [B,84,84,4], game_id [B], epsilon) -> [B]."""
  num_actions = jnp.asarray(network.num_actions, jnp.int32)

  def policy(params, key, observation, game_id, epsilon):
    q_values = network.apply(params, observation, game_id).q_values
    return epsilon_greedy(key, q_values, num_actions[game_id], epsilon)

  return policy
