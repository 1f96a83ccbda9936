"""Representation and policy diagnostics of a multi-game Q-network.

A Q-network can fit its offline data's average action values long before it
tells the states of a game apart. Then its greedy policy is nearly one action
everywhere and its scores are those of a constant-action policy. These
numbers, measured on a batch of dataset states, show which case a checkpoint
is in:

  within_game_cosine   mean cosine similarity of the shared features of two
                       different random states of the same game. Near 1: the
                       torso maps the game's states to nearly one point.
  greedy_action_share  fraction of states whose greedy action is the game's
                       most common greedy action (1.0: a constant policy).
  q_state_std          standard deviation of Q(s, a) over states, averaged
                       over actions: how much the values depend on the state.
  action_gap           mean over states of max_a Q(s, a) - mean_a Q(s, a).
  data_action_advantage  mean over states of Q(s, a_data) - mean_a Q(s, a):
                       how much the network prefers the data's actions (CQL
                       pushes it up).
  greedy_action_data_share  mean over states of the share of the game's data
                       actions (in the batch) that equal the state's greedy
                       action: near 0, the greedy policy picks actions the
                       data rarely took, whose values nothing in the data
                       corrects.

And, on episodes the checkpoint's own policy plays (value_calibration): the
Q-value of each action taken against the discounted return that followed it,
with the rewards clipped as the loader clips them. A Q-learner's values of
its greedy policy should match that policy's returns; predicted far above
realised is over-estimation (Thrun & Schwartz 1993; van Hasselt et al. 2016
measure DQN's the same way).

And, on the same played states, reference_action_agreement: the actions a
reference player (e.g. the noiseless object player behind the data) would
have taken there, how often the policy took them, and how far below the
greedy value the network put them. A reference action that is needed (a
serve in Breakout) but valued a hair below another action is never taken by
a greedy policy, and the episode stalls.

And, on dataset states (data_return_calibration): Q(s, a_data) against the
discounted return that followed in the data, a sample of the behaviour's
value, the one known answer the data hold for every state.

Pure NumPy/JAX: nothing here imports acme, TensorFlow, Reverb or Launchpad.
"""

from typing import Any, Dict, Optional, Sequence

import jax
import numpy as np

from agents.scaled_ql.types import MultiGameTransition
from networks.multi_game import QNetworkOutput
from networks.multi_game import MultiGameQNetwork


def _mean_random_pair_cosine(features: np.ndarray,
                             rng: np.random.Generator) -> float:
  """Mean cosine of each row with another random row (never itself)."""
  count = len(features)
  if count < 2:
    return float('nan')
  # A shift in [1, count) guarantees a different row for every row.
  partner = (np.arange(count) + rng.integers(1, count, size=count)) % count
  unit = features / np.maximum(
      np.linalg.norm(features, axis=-1, keepdims=True), 1e-12)
  return float(np.mean(np.sum(unit * unit[partner], axis=-1)))


def network_output(network: MultiGameQNetwork, params: Any,
                   batch: MultiGameTransition) -> QNetworkOutput:
  """The network's output (Q-values, features) on the s_tm1 states of
  `batch`, on the host: what the diagnostics of one batch read."""
  return jax.device_get(
      jax.jit(network.apply)(params, batch.observation, batch.game_id))


def representation_diagnostics(
    output: QNetworkOutput, num_actions: Sequence[int],
    batch: MultiGameTransition, games: Sequence[str],
    seed: int = 0) -> Dict[str, Dict[str, Any]]:
  """The diagnostics above, per game, on the s_tm1 states of `batch`.

  Args:
    output: network_output(...) on `batch`.
    num_actions: actions of each game, in game_id order (the heads are
      padded to the largest).
    batch: dataset transitions (only action and game_id used).
    games: game names in game_id order.
    seed: seeds the random pairing of states.

  Returns:
    {game: {'num_states', 'within_game_cosine', 'greedy_action_share',
    'greedy_action_histogram', 'data_action_histogram', 'q_state_std',
    'action_gap', 'data_action_advantage', 'greedy_action_data_share'}} for
    every game with states in the batch.
  """
  rng = np.random.default_rng(seed)
  game_ids = np.asarray(batch.game_id)
  actions = np.asarray(batch.action)
  results = {}
  for game_id, game in enumerate(games):
    rows = game_ids == game_id
    if not rows.any():
      continue
    game_actions = num_actions[game_id]
    q_values = np.asarray(output.q_values)[rows][:, :game_actions]
    mean_q = q_values.mean(axis=1)
    greedy = q_values.argmax(axis=1)
    histogram = np.bincount(greedy, minlength=game_actions)
    data_histogram = np.bincount(actions[rows], minlength=game_actions)
    data_q = q_values[np.arange(len(q_values)), actions[rows]]
    results[game] = {
        'num_states': int(rows.sum()),
        'within_game_cosine': _mean_random_pair_cosine(
            np.asarray(output.features)[rows], rng),
        'greedy_action_share': float(histogram.max() / histogram.sum()),
        'greedy_action_histogram': histogram.tolist(),
        'data_action_histogram': data_histogram.tolist(),
        'q_state_std': float(q_values.std(axis=0).mean()),
        'action_gap': float(np.mean(q_values.max(axis=1) - mean_q)),
        'data_action_advantage': float(np.mean(data_q - mean_q)),
        'greedy_action_data_share': float(
            np.mean(data_histogram[greedy]) / data_histogram.sum()),
    }
  return results


def discounted_returns(rewards: np.ndarray, discount: float) -> np.ndarray:
  """G_t = sum_{i >= t} discount^(i - t) rewards[i] for one episode.

  The sum stops at the episode's last reward: for an episode cut by a frame
  cap, the last steps' returns miss what would have followed.
  """
  returns = np.zeros(len(rewards), np.float64)
  following = 0.0
  for t in range(len(rewards) - 1, -1, -1):
    following = rewards[t] + discount * following
    returns[t] = following
  return returns


def reference_action_agreement(q_values: np.ndarray, taken: np.ndarray,
                               reference: np.ndarray) -> Dict[str, Any]:
  """A policy's actions and values against a reference player's actions on
  the states the policy visited.

  Args:
    q_values: [T, A] the network's Q-values at the visited states.
    taken: [T] the actions the policy took there.
    reference: [T] the actions the reference player would have taken there.

  Returns:
    {'agreement': share of states where taken == reference,
     'reference_q_gap': mean over states of Q(s, a_ref) - max_b Q(s, b),
     'reference_above_share': mean over states of the share of the other
       actions valued below the reference action (ties count half): 1 when
       it is always greedy, about 0.5 when the values do not rank it,
     'by_reference_action': {str(a): {'states': number of states whose
       reference action is a, 'agreement': share of them where a was taken,
       'reference_q_gap': mean of Q(s, a) - max_b Q(s, b) over them (0 when
       a is greedy, below 0 by how much it lost), 'taken_histogram': [A]
       counts of the actions taken there}} for every a that occurs}.
  """
  q_values = np.asarray(q_values, np.float64)
  taken = np.asarray(taken)
  reference = np.asarray(reference)
  steps = len(q_values)
  if q_values.ndim != 2 or taken.shape != (steps,) or reference.shape != (
      steps,) or steps == 0:
    raise ValueError(
        'reference_action_agreement needs Q-values [T, A] with T >= 1 and T '
        f'taken and reference actions; got shapes {q_values.shape}, '
        f'{taken.shape} and {reference.shape}.')
  num_actions = q_values.shape[1]
  for name, actions in (('taken', taken), ('reference', reference)):
    if actions.min() < 0 or actions.max() >= num_actions:
      raise ValueError(f'{name} actions must lie in [0, {num_actions}), got '
                       f'{actions.min()}..{actions.max()}.')
  reference_q = q_values[np.arange(steps), reference]
  gap = reference_q - q_values.max(axis=1)
  # Comparisons of the reference action with itself (a tie) are taken out.
  above = ((reference_q[:, None] > q_values).sum(axis=1) + 0.5 * (
      (reference_q[:, None] == q_values).sum(axis=1) - 1)) / max(
          num_actions - 1, 1)
  by_action = {}
  for action in np.unique(reference):
    where = reference == action
    by_action[str(int(action))] = {
        'states': int(where.sum()),
        'agreement': float(np.mean(taken[where] == action)),
        'reference_q_gap': float(gap[where].mean()),
        'taken_histogram': np.bincount(taken[where],
                                       minlength=num_actions).tolist(),
    }
  return {'agreement': float(np.mean(taken == reference)),
          'reference_q_gap': float(gap.mean()),
          'reference_above_share': float(above.mean()),
          'by_reference_action': by_action}


def value_calibration(chosen_q: Sequence[np.ndarray],
                      rewards: Sequence[np.ndarray], discount: float,
                      reward_clip: float = 1.0) -> Dict[str, float]:
  """The values a policy's network gave its own actions against the
  returns that followed, over the steps of several episodes.

  Args:
    chosen_q: per episode, Q(s_t, a_t) of the action taken at each step.
    rewards: per episode, the reward after each step (raw game points).
    discount: gamma of the learner.
    reward_clip: rewards are clipped to [-reward_clip, reward_clip] first,
      as the loader clips them for learning.

  Returns:
    {'steps', 'mean_predicted', 'mean_realised', 'overestimation' (mean of
    predicted - realised), 'first_step_predicted', 'first_step_realised'
    (the same at each episode's first step, averaged over episodes)}.
  """
  if len(chosen_q) != len(rewards) or not chosen_q:
    raise ValueError(f'value_calibration needs one Q and one reward array per '
                     f'episode, got {len(chosen_q)} and {len(rewards)}.')
  predicted, realised = [], []
  for q, episode_rewards in zip(chosen_q, rewards):
    if len(q) != len(episode_rewards):
      raise ValueError(f'An episode has {len(q)} Q-values but '
                       f'{len(episode_rewards)} rewards.')
    predicted.append(np.asarray(q, np.float64))
    realised.append(discounted_returns(
        np.clip(np.asarray(episode_rewards, np.float64), -reward_clip,
                reward_clip), discount))
  all_predicted = np.concatenate(predicted)
  return {
      'steps': int(len(all_predicted)),
      **return_calibration(all_predicted, np.concatenate(realised)),
      'first_step_predicted': float(np.mean([p[0] for p in predicted])),
      'first_step_realised': float(np.mean([r[0] for r in realised])),
  }


def return_calibration(predicted: np.ndarray,
                       realised: np.ndarray) -> Dict[str, Optional[float]]:
  """Q-values against the discounted returns they predict, over states.

  Returns {'mean_predicted', 'mean_realised', 'overestimation' (mean of
  predicted - realised), 'correlation' (Pearson, over states: whether the
  values rank states as their returns do; None where either is constant)}.
  """
  predicted = np.asarray(predicted, np.float64)
  realised = np.asarray(realised, np.float64)
  if predicted.shape != realised.shape or predicted.ndim != 1 or not len(
      predicted):
    raise ValueError(f'return_calibration needs two equal, non-empty 1-D '
                     f'arrays, got shapes {predicted.shape} and '
                     f'{realised.shape}.')
  correlation = None
  if predicted.std() > 0 and realised.std() > 0:
    correlation = float(np.corrcoef(predicted, realised)[0, 1])
  return {
      'mean_predicted': float(predicted.mean()),
      'mean_realised': float(realised.mean()),
      'overestimation': float(np.mean(predicted - realised)),
      'correlation': correlation,
  }


def data_return_calibration(
    q_values: np.ndarray, batch: MultiGameTransition,
    games: Sequence[str]) -> Dict[str, Dict[str, Any]]:
  """Q(s, a_data) against the data's own discounted return, per game.

  `batch` must be loaded with an n-step horizon over which gamma^n is
  negligible (e.g. 1,000 steps at 0.99: 4e-5): its reward is then the
  clipped, discounted return that followed (s, a_data) in the data, a sample
  of the behaviour's Q^beta(s, a_data). A Q-learner's values of the data's
  actions lie at or above Q^beta where it has learned to improve on the
  behaviour; a correlation near 0 says the values do not yet tell the
  states' returns apart. Episodes cut by a frame cap miss what would have
  followed their last steps.

  Args:
    q_values: [B, A] the network's Q-values at the batch's s_tm1 states
      (network_output(...).q_values).
    batch: the transitions (action, game_id and the return as reward).
    games: game names in game_id order.

  Returns {game: {'states', **return_calibration(...)}} for every game with
  states in the batch.
  """
  q_values = np.asarray(q_values)
  game_ids = np.asarray(batch.game_id)
  actions = np.asarray(batch.action)
  rewards = np.asarray(batch.reward)
  results = {}
  for game_id, game in enumerate(games):
    rows = np.flatnonzero(game_ids == game_id)
    if not len(rows):
      continue
    results[game] = {'states': int(len(rows)), **return_calibration(
        q_values[rows, actions[rows]], rewards[rows])}
  return results
