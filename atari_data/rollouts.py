"""One-step action values of a game state, measured by emulator rollouts.

From a state of the emulator, each action is taken once and a continuation
policy plays on for a fixed horizon; the discounted sum of clipped rewards
that follows is one sample of Q^continuation(s, a) (truncated at the
horizon). This is the known answer a value learner's greedy ranking is
judged against on the data's own states: which action is best there, and by
how much, at the discount the learner uses.

The rollouts run in an environment of their own, into which the measured
state is restored: restoring an emulator state does not restore the action
ALE's sticky actions repeat (the last one applied), so a replay whose
emulator ran rollouts would leave the recording. Before each rollout that
memory is set to the action applied before the measured state, by playing
it once from the state (its four frames leave it in place unless all four
stick, a chance of 0.25^4 = 0.4%) and restoring the state again.

Each rollout draws its sticky actions afresh (the emulator's RNG is left
running between rollouts), and within one rollout every action sees the
same draws and the same continuation seed: common random numbers, so that
the differences between actions, which are what a ranking needs, carry
less noise than the values themselves.
"""

from typing import Callable

import numpy as np

from atari_data import policies
from environments import atari

# A continuation policy for rollout k (seeded by k, so that every action of
# one rollout meets the same lapses).
ContinuationFactory = Callable[[int], policies.BehaviourPolicy]


def discounted_rollout_return(environment, first_action: int,
                              continuation: policies.BehaviourPolicy,
                              horizon: int, discount: float) -> float:
  """Plays `first_action`, then `continuation` for horizon - 1 more steps
  (or until the game is over) and returns sum_t discount^t clip(r_t).

  The continuation acts on the emulator's RAM or its own state only: the
  environment's fast `simulate_step` leaves the frame stack stale, so it
  gets no timestep (None).
  """
  total, weight, action = 0.0, 1.0, first_action
  for _ in range(horizon):
    reward, game_over = environment.simulate_step(action)
    total += weight * atari.clip_reward(reward)
    if game_over:
      break
    weight *= discount
    action = continuation.select_action(None, environment)
  return total


def action_values(environment, state, previous_action: int,
                  continuation: ContinuationFactory, num_rollouts: int,
                  horizon: int, discount: float) -> np.ndarray:
  """[actions, num_rollouts] discounted returns after each action at `state`.

  Args:
    environment: an environments.atari environment of the game and settings
      `state` was cloned in (another instance: its state is overwritten).
    state: the measured state, clone_state() of the environment it was
      reached in (RNG included).
    previous_action: the action applied at the step before `state` (NOOP,
      0, at an episode's first state).
    continuation: the policy after the first action, built per rollout.
    num_rollouts: samples per action.
    horizon: agent steps per rollout, the first action's included.
    discount: per agent step.
  """
  if num_rollouts < 1 or horizon < 1:
    raise ValueError(f'action_values needs num_rollouts and horizon >= 1; got '
                     f'{num_rollouts} and {horizon}.')
  if not 0.0 <= discount <= 1.0:
    raise ValueError(f'discount={discount}; it must be in [0, 1].')
  environment.restore_state(state)
  without_rng = environment.clone_state(include_rng=False)
  values = np.empty((environment.num_actions, num_rollouts))
  common = state
  for k in range(num_rollouts):
    if k:
      # The RNG as the previous rollouts left it: fresh sticky draws for
      # this rollout, the same ones for each of its actions.
      environment.restore_state(without_rng)
      common = environment.clone_state()
    for action in range(environment.num_actions):
      environment.restore_state(without_rng)
      environment.simulate_step(previous_action)
      environment.restore_state(common)
      values[action, k] = discounted_rollout_return(
          environment, action, continuation(k), horizon, discount)
  return values
