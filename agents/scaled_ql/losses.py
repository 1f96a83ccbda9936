"""Loss terms of Scaled Q-Learning: C51 TD cross-entropy, discrete CQL, DR3.

Pure functions on batched arrays in the spirit of rlax: no parameters, no
hidden state, shapes checked with chex. Every per-example term returns [B];
`scaled_ql_loss` averages them and combines them with their weights.

Action masks: in a multi-game batch each example's game has its own number of
actions, and the Q-heads are padded to the largest. `valid_actions` [B, A] is
True for the actions that exist in the example's game; padded actions never
win an argmax and never enter a logsumexp.
"""

from typing import Dict, Tuple

import chex
import jax
import jax.numpy as jnp

from networks.multi_game import expected_values


def masked_greedy_action(q_values: chex.Array,
                         valid_actions: chex.Array) -> chex.Array:
  """argmax over the valid actions only.

  Args:
    q_values: [B, A].
    valid_actions: bool [B, A]; at least one True per row.

  Returns:
    int32 [B] greedy actions, always valid.
  """
  chex.assert_equal_shape([q_values, valid_actions])
  masked = jnp.where(valid_actions, q_values, -jnp.inf)
  return jnp.argmax(masked, axis=-1).astype(jnp.int32)


def _select(per_action: chex.Array, action: chex.Array) -> chex.Array:
  """[B, A, ...] indexed by int [B] actions -> [B, ...]."""
  index = action.reshape(action.shape + (1,) * (per_action.ndim - 1))
  return jnp.take_along_axis(per_action, index, axis=1)[:, 0]


def categorical_l2_project(atoms: chex.Array, probs: chex.Array,
                           support: chex.Array) -> chex.Array:
  """Projects categorical distributions onto an evenly spaced support.

  Each source atom, clipped to [support[0], support[-1]], gives its mass to
  the two nearest support atoms in proportion to closeness (Bellemare et al.
  2017, Algorithm 1), written as a triangular kernel of width delta z.

  Args:
    atoms: [B, M] locations of the source atoms.
    probs: [B, M] their probabilities.
    support: [N] evenly spaced target support.

  Returns:
    [B, N] probabilities on `support`.
  """
  chex.assert_rank([atoms, probs, support], [2, 2, 1])
  chex.assert_equal_shape([atoms, probs])
  delta = support[1] - support[0]
  clipped = jnp.clip(atoms, support[0], support[-1])
  # weight[b, n, m]: share of source atom m that lands on support atom n.
  weight = jnp.clip(
      1.0 - jnp.abs(clipped[:, None, :] - support[None, :, None]) / delta,
      0.0, 1.0)
  return jnp.einsum("bnm,bm->bn", weight, probs)


def categorical_td_loss(
    logits_tm1: chex.Array,
    action_tm1: chex.Array,
    reward: chex.Array,
    discount: chex.Array,
    target_logits_t: chex.Array,
    valid_actions: chex.Array,
    support: chex.Array,
) -> chex.Array:
  """C51 cross-entropy between Z(s_tm1, a_tm1) and the projected target.

  The target is the target network's distribution at s_t for the action that
  is greedy under the target network's expected Q-values (valid actions
  only), shifted to `reward + discount * support` and projected back onto
  the support. No gradient flows into the target.

  Args:
    logits_tm1: [B, A, N] online logits at s_tm1.
    action_tm1: int [B] actions taken.
    reward: [B] n-step discounted rewards.
    discount: [B] gamma^k, or 0 at a terminal.
    target_logits_t: [B, A, N] target-network logits at s_t.
    valid_actions: bool [B, A] the example's game's actions.
    support: [N] atom values.

  Returns:
    [B] cross-entropy per example.
  """
  chex.assert_rank([logits_tm1, action_tm1, reward, discount, target_logits_t],
                   [3, 1, 1, 1, 3])
  chex.assert_equal_shape([logits_tm1, target_logits_t])
  target_logits_t = jax.lax.stop_gradient(target_logits_t.astype(jnp.float32))
  q_t = expected_values(target_logits_t, support)
  greedy_t = masked_greedy_action(q_t, valid_actions)
  target_probs = jax.nn.softmax(_select(target_logits_t, greedy_t), axis=-1)
  target_atoms = reward[:, None] + discount[:, None] * support[None, :]
  target = jax.lax.stop_gradient(
      categorical_l2_project(target_atoms, target_probs, support))
  chosen_logits = _select(logits_tm1.astype(jnp.float32), action_tm1)
  return -jnp.sum(target * jax.nn.log_softmax(chosen_logits, axis=-1), axis=-1)


def cql_regulariser(q_values: chex.Array, action: chex.Array,
                    valid_actions: chex.Array) -> chex.Array:
  """Discrete CQL term: logsumexp_a' Q(s, a') - Q(s, a_data), before alpha.

  Args:
    q_values: [B, A] expected Q-values of the online network.
    action: int [B] dataset actions.
    valid_actions: bool [B, A]; only these enter the logsumexp.

  Returns:
    [B] the regulariser per example.
  """
  chex.assert_rank([q_values, action], [2, 1])
  chex.assert_equal_shape([q_values, valid_actions])
  logsumexp = jax.nn.logsumexp(
      jnp.where(valid_actions, q_values, -jnp.inf), axis=-1)
  return logsumexp - _select(q_values, action)


def dr3_regulariser(features_tm1: chex.Array,
                    features_t: chex.Array) -> chex.Array:
  """DR3 (Kumar et al. 2022): dot product of consecutive states' features.

  Both feature sets come from the online network and both receive gradient,
  which is what discourages their co-adaptation.

  Args:
    features_tm1: [B, D] shared features at s_tm1.
    features_t: [B, D] shared features at s_t (the bootstrap state).

  Returns:
    [B] dot products, before the coefficient.
  """
  chex.assert_rank(features_tm1, 2)
  chex.assert_equal_shape([features_tm1, features_t])
  return jnp.sum(
      features_tm1.astype(jnp.float32) * features_t.astype(jnp.float32),
      axis=-1)


def scaled_ql_loss(
    logits_tm1: chex.Array,
    features_tm1: chex.Array,
    features_t: chex.Array,
    target_logits_t: chex.Array,
    action_tm1: chex.Array,
    reward: chex.Array,
    discount: chex.Array,
    valid_actions: chex.Array,
    support: chex.Array,
    cql_alpha: float,
    dr3_coefficient: float,
) -> Tuple[chex.Array, Dict[str, chex.Array]]:
  """Total loss = mean TD + alpha * mean CQL + dr3_coefficient * mean DR3.

  Args:
    logits_tm1: [B, A, N] online logits at s_tm1.
    features_tm1: [B, D] online shared features at s_tm1.
    features_t: [B, D] online shared features at s_t.
    target_logits_t: [B, A, N] target-network logits at s_t.
    action_tm1, reward, discount: [B] the transition.
    valid_actions: bool [B, A].
    support: [N].
    cql_alpha, dr3_coefficient: weights of the regularisers.

  Returns:
    (scalar total loss, metrics) where metrics holds the unweighted batch
    means `td_loss`, `cql_loss`, `dr3_loss`, the `total_loss`, and the mean
    and max expected Q over valid actions (`q_mean`, `q_max`).
  """
  td = categorical_td_loss(logits_tm1, action_tm1, reward, discount,
                           target_logits_t, valid_actions, support)
  q_tm1 = expected_values(logits_tm1, support)
  cql = cql_regulariser(q_tm1, action_tm1, valid_actions)
  dr3 = dr3_regulariser(features_tm1, features_t)
  td_loss, cql_loss, dr3_loss = jnp.mean(td), jnp.mean(cql), jnp.mean(dr3)
  total = td_loss + cql_alpha * cql_loss + dr3_coefficient * dr3_loss
  valid_q = jax.lax.stop_gradient(q_tm1)
  metrics = {
      "total_loss": total,
      "td_loss": td_loss,
      "cql_loss": cql_loss,
      "dr3_loss": dr3_loss,
      "q_mean": jnp.sum(jnp.where(valid_actions, valid_q, 0.0)) /
                jnp.sum(valid_actions),
      "q_max": jnp.max(jnp.where(valid_actions, valid_q, -jnp.inf)),
  }
  return total, metrics
