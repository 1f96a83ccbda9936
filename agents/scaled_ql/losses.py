"""Loss terms of Scaled Q-Learning: TD backups, discrete CQL, DR3.

TD backups (ScaledQLConfig.value_loss): C51 cross-entropy
(`categorical_td_loss`), HL-Gauss cross-entropy (`hl_gauss_td_loss`), and
Huber or squared TD error of a scalar Q head (`scalar_td_loss`). All of them
bootstrap from the target network's value of the action at s_t that is
greedy under `selector_q_t`: by default the target network's own Q-values,
or the online network's for Double DQN.

Pure functions on batched arrays in the spirit of rlax: no parameters, no
hidden state, shapes checked with chex. Every per-example term returns [B];
`scaled_ql_loss` averages them and combines them with their weights.

Action masks: in a multi-game batch each example's game has its own number of
actions, and the Q-heads are padded to the largest. `valid_actions` [B, A] is
True for the actions that exist in the example's game; padded actions never
win an argmax and never enter a logsumexp.
"""

from typing import Dict, Optional, Tuple

import chex
import jax
import jax.numpy as jnp

from networks.multi_game import expected_values, head_values

SCALAR_TD_LOSSES = ("huber", "mse")


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
    selector_q_t: Optional[chex.Array] = None,
) -> chex.Array:
  """C51 cross-entropy between Z(s_tm1, a_tm1) and the projected target.

  The target is the target network's distribution at s_t for the action that
  is greedy under `selector_q_t` (default: the target network's expected
  Q-values; valid actions only), shifted to `reward + discount * support`
  and projected back onto the support. No gradient flows into the target.

  Args:
    logits_tm1: [B, A, N] online logits at s_tm1.
    action_tm1: int [B] actions taken.
    reward: [B] n-step discounted rewards.
    discount: [B] gamma^k, or 0 at a terminal.
    target_logits_t: [B, A, N] target-network logits at s_t.
    valid_actions: bool [B, A] the example's game's actions.
    support: [N] atom values.
    selector_q_t: [B, A] Q-values at s_t that choose the bootstrap action;
      None for the target network's own.

  Returns:
    [B] cross-entropy per example.
  """
  chex.assert_rank([logits_tm1, action_tm1, reward, discount, target_logits_t],
                   [3, 1, 1, 1, 3])
  chex.assert_equal_shape([logits_tm1, target_logits_t])
  target_logits_t = jax.lax.stop_gradient(target_logits_t.astype(jnp.float32))
  greedy_t = _bootstrap_action(
      expected_values(target_logits_t, support), selector_q_t, valid_actions)
  target_probs = jax.nn.softmax(_select(target_logits_t, greedy_t), axis=-1)
  target_atoms = reward[:, None] + discount[:, None] * support[None, :]
  target = categorical_l2_project(target_atoms, target_probs, support)
  return _cross_entropy(target, logits_tm1, action_tm1)


def _cross_entropy(target_probs: chex.Array, logits: chex.Array,
                   action: chex.Array) -> chex.Array:
  """[B] cross-entropy of fixed targets [B, N] and logits[b, action[b]]."""
  chosen_logits = _select(logits.astype(jnp.float32), action)
  return -jnp.sum(jax.lax.stop_gradient(target_probs) *
                  jax.nn.log_softmax(chosen_logits, axis=-1), axis=-1)


def _bootstrap_action(target_q_t: chex.Array,
                      selector_q_t: Optional[chex.Array],
                      valid_actions: chex.Array) -> chex.Array:
  """Greedy valid action at s_t under selector_q_t (default target_q_t)."""
  selector = target_q_t if selector_q_t is None else selector_q_t
  chex.assert_equal_shape([target_q_t, selector])
  return masked_greedy_action(jax.lax.stop_gradient(selector), valid_actions)


def huber_loss(x: chex.Array, delta: float = 1.0) -> chex.Array:
  """0.5 x^2 where |x| < delta, delta * (|x| - 0.5 delta) elsewhere.

  The quadratic part is 0.5 x^2, as in rlax.huber_loss, torch's
  smooth_l1_loss (beta 1) and d3rlpy's compute_huber_loss.
  """
  abs_x = jnp.abs(x)
  return jnp.where(abs_x < delta, 0.5 * x**2, delta * (abs_x - 0.5 * delta))


def scalar_td_loss(
    q_tm1: chex.Array,
    action_tm1: chex.Array,
    reward: chex.Array,
    discount: chex.Array,
    target_q_t: chex.Array,
    valid_actions: chex.Array,
    loss: str,
    selector_q_t: Optional[chex.Array] = None,
) -> chex.Array:
  """Huber or squared TD error of a scalar Q head (DQN / Double DQN).

  td = reward + discount * target_q_t[a*] - q_tm1[action_tm1], with a* the
  greedy valid action under `selector_q_t` (default target_q_t). No gradient
  flows into the target. With loss='huber' and the online network's Q-values
  as selector this is d3rlpy 2.8.1's DoubleDQN TD loss per example.

  Args:
    q_tm1: [B, A] online Q-values at s_tm1.
    action_tm1: int [B] actions taken.
    reward: [B] n-step discounted rewards.
    discount: [B] gamma^k, or 0 at a terminal.
    target_q_t: [B, A] target-network Q-values at s_t.
    valid_actions: bool [B, A].
    loss: 'huber' (huber_loss, delta 1) or 'mse' (0.5 td^2).
    selector_q_t: [B, A] Q-values at s_t that choose a*; None for target_q_t.

  Returns:
    [B] loss per example.
  """
  if loss not in SCALAR_TD_LOSSES:
    raise ValueError(f"loss={loss!r}; valid: {SCALAR_TD_LOSSES}")
  chex.assert_rank([q_tm1, action_tm1, reward, discount, target_q_t],
                   [2, 1, 1, 1, 2])
  chex.assert_equal_shape([q_tm1, target_q_t, valid_actions])
  target_q_t = jax.lax.stop_gradient(target_q_t.astype(jnp.float32))
  greedy_t = _bootstrap_action(target_q_t, selector_q_t, valid_actions)
  target = jax.lax.stop_gradient(reward + discount * _select(target_q_t,
                                                             greedy_t))
  td = target - _select(q_tm1.astype(jnp.float32), action_tm1)
  return huber_loss(td) if loss == "huber" else 0.5 * td**2


def hl_gauss_histogram(target: chex.Array, bin_edges: chex.Array,
                       sigma: float) -> chex.Array:
  """HL-Gauss target histogram (Imani & White 2018; Farebrother et al. 2024).

  The mass of N(target, sigma^2) in each bin, Phi((e_{i+1} - t) / sigma) -
  Phi((e_i - t) / sigma), renormalised by the mass inside [e_0, e_N] so the
  histogram sums to 1.

  Args:
    target: [B] scalar targets (normally already inside [e_0, e_N]).
    bin_edges: [N + 1] increasing bin edges.
    sigma: the Gaussian's standard deviation.

  Returns:
    [B, N] probabilities.
  """
  chex.assert_rank([target, bin_edges], [1, 1])
  cdf = 0.5 * (1.0 + jax.scipy.special.erf(
      (bin_edges[None, :] - target[:, None]) / (jnp.sqrt(2.0) * sigma)))
  return (cdf[:, 1:] - cdf[:, :-1]) / (cdf[:, -1:] - cdf[:, :1])


def hl_gauss_td_loss(
    logits_tm1: chex.Array,
    action_tm1: chex.Array,
    reward: chex.Array,
    discount: chex.Array,
    target_logits_t: chex.Array,
    valid_actions: chex.Array,
    support: chex.Array,
    sigma_ratio: float,
    selector_q_t: Optional[chex.Array] = None,
) -> chex.Array:
  """HL-Gauss cross-entropy (Farebrother et al. 2024, "Stop Regressing").

  The head is a histogram over N equal bins; `support` holds their centres,
  so the edges are the centres -/+ half a bin width and the bins partition
  [support[0] - w/2, support[-1] + w/2] = [v_min, v_max]. The scalar target
  reward + discount * E[Z_target(s_t, a*)] (a* greedy under `selector_q_t`,
  default the target network's expected values), clipped to [v_min, v_max],
  becomes hl_gauss_histogram(target, edges, sigma_ratio * w); the loss is
  its cross-entropy with the online histogram of (s_tm1, a_tm1). No
  gradient flows into the target.

  Args:
    logits_tm1: [B, A, N] online logits at s_tm1.
    action_tm1: int [B] actions taken.
    reward: [B] n-step discounted rewards.
    discount: [B] gamma^k, or 0 at a terminal.
    target_logits_t: [B, A, N] target-network logits at s_t.
    valid_actions: bool [B, A].
    support: [N] evenly spaced bin centres.
    sigma_ratio: sigma / bin width.
    selector_q_t: [B, A] Q-values at s_t that choose a*; None for the target
      network's own expected values.

  Returns:
    [B] cross-entropy per example.
  """
  chex.assert_rank([logits_tm1, action_tm1, reward, discount, target_logits_t,
                    support], [3, 1, 1, 1, 3, 1])
  chex.assert_equal_shape([logits_tm1, target_logits_t])
  width = support[1] - support[0]
  edges = jnp.concatenate([support[:1] - width / 2, support + width / 2])
  target_logits_t = jax.lax.stop_gradient(target_logits_t.astype(jnp.float32))
  target_q_t = expected_values(target_logits_t, support)
  greedy_t = _bootstrap_action(target_q_t, selector_q_t, valid_actions)
  target = jnp.clip(reward + discount * _select(target_q_t, greedy_t),
                    edges[0], edges[-1])
  return _cross_entropy(hl_gauss_histogram(target, edges, sigma_ratio * width),
                        logits_tm1, action_tm1)


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
  """DR3 (Kumar et al. 2022): |dot product| of consecutive states' features.

  The magnitude, as the authors' own implementation minimises it (Dopamine
  labs/offline_rl, compute_dr3_loss: mean |phi(s) . phi(s')|), so the term
  pushes consecutive features toward orthogonal. The signed dot product
  would reward turning them opposite: on the unit-norm features this
  network feeds its heads it is minimised at cosine -1, features of
  neighbouring states anti-aligned (on the known-answer chains the signed
  term took the cosine from 0.76 through 0 to -0.05 in 2,250 updates, with
  nothing to stop it at orthogonality: docs/KNOWN_ANSWER.md). Both feature sets come from the online network
  and both receive gradient, which is what discourages their co-adaptation.

  Args:
    features_tm1: [B, D] shared features at s_tm1.
    features_t: [B, D] shared features at s_t (the bootstrap state).

  Returns:
    [B] absolute dot products, before the coefficient.
  """
  chex.assert_rank(features_tm1, 2)
  chex.assert_equal_shape([features_tm1, features_t])
  return jnp.abs(jnp.sum(
      features_tm1.astype(jnp.float32) * features_t.astype(jnp.float32),
      axis=-1))


def scaled_ql_loss(
    logits_tm1: chex.Array,
    features_tm1: chex.Array,
    features_t: chex.Array,
    target_logits_t: chex.Array,
    action_tm1: chex.Array,
    reward: chex.Array,
    discount: chex.Array,
    valid_actions: chex.Array,
    support: Optional[chex.Array],
    cql_alpha: float,
    dr3_coefficient: float,
    value_loss: str = "categorical",
    hl_gauss_sigma_ratio: float = 0.75,
    selector_q_t: Optional[chex.Array] = None,
) -> Tuple[chex.Array, Dict[str, chex.Array]]:
  """Total loss = mean TD + alpha * mean CQL + dr3_coefficient * mean DR3.

  Args:
    logits_tm1: [B, A, N] online head outputs at s_tm1 (N = 1 for the
      scalar losses).
    features_tm1: [B, D] online shared features at s_tm1.
    features_t: [B, D] online shared features at s_t; may be None when
      dr3_coefficient is 0 (DR3 is then neither computed nor reported).
    target_logits_t: [B, A, N] target-network head outputs at s_t.
    action_tm1, reward, discount: [B] the transition.
    valid_actions: bool [B, A].
    support: [N] atoms ('categorical') or bin centres ('hl_gauss'); None for
      'huber' and 'mse'.
    cql_alpha, dr3_coefficient: weights of the regularisers.
    value_loss: 'categorical' (categorical_td_loss), 'hl_gauss'
      (hl_gauss_td_loss), 'huber' or 'mse' (scalar_td_loss).
    hl_gauss_sigma_ratio: sigma / bin width for 'hl_gauss'.
    selector_q_t: [B, A] Q-values at s_t choosing the bootstrap action (the
      online network's for Double DQN); None for the target network's.

  Returns:
    (scalar total loss, metrics) where metrics holds the unweighted batch
    means `td_loss`, `cql_loss`, `dr3_loss` (when computed), the
    `total_loss`, and the mean and max Q over valid actions (`q_mean`,
    `q_max`).
  """
  if value_loss == "categorical":
    td = categorical_td_loss(logits_tm1, action_tm1, reward, discount,
                             target_logits_t, valid_actions, support,
                             selector_q_t)
  elif value_loss == "hl_gauss":
    td = hl_gauss_td_loss(logits_tm1, action_tm1, reward, discount,
                          target_logits_t, valid_actions, support,
                          hl_gauss_sigma_ratio, selector_q_t)
  elif value_loss in SCALAR_TD_LOSSES:
    td = scalar_td_loss(head_values(logits_tm1, None), action_tm1, reward,
                        discount, head_values(target_logits_t, None),
                        valid_actions, value_loss, selector_q_t)
  else:
    raise ValueError(f"value_loss={value_loss!r}; valid: categorical, "
                     f"hl_gauss, {', '.join(SCALAR_TD_LOSSES)}")
  q_tm1 = head_values(logits_tm1, support)
  cql = cql_regulariser(q_tm1, action_tm1, valid_actions)
  td_loss, cql_loss = jnp.mean(td), jnp.mean(cql)
  total = td_loss + cql_alpha * cql_loss
  metrics = {"td_loss": td_loss, "cql_loss": cql_loss}
  if features_t is not None:
    dr3_loss = jnp.mean(dr3_regulariser(features_tm1, features_t))
    total = total + dr3_coefficient * dr3_loss
    metrics["dr3_loss"] = dr3_loss
  elif dr3_coefficient != 0:
    raise ValueError(f"dr3_coefficient={dr3_coefficient} needs features_t")
  valid_q = jax.lax.stop_gradient(q_tm1)
  metrics.update({
      "total_loss": total,
      "q_mean": jnp.sum(jnp.where(valid_actions, valid_q, 0.0)) /
                jnp.sum(valid_actions),
      "q_max": jnp.max(jnp.where(valid_actions, valid_q, -jnp.inf)),
  })
  return total, metrics
