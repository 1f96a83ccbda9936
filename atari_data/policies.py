"""Behaviour policies that play real Atari games for the recorder.

The recorder asks a `PolicyFactory` for one policy per checkpoint, so data come
in checkpoints of rising quality like `rlu_atari_checkpoints_ordered`. Without
a trained agent, quality comes from a lookahead planner: it tries every action
on a snapshot of the emulator (ALE cloneState/restoreState) and plays the one
whose short rollout scores best, mixed epsilon-greedy with uniform random
play; epsilon falls from 1 (pure random) at checkpoint 0 towards a low value at
the last checkpoint. The project's own agent checkpoints plug in as another
`PolicyFactory`.
"""

import dataclasses
from typing import Callable, Protocol

import dm_env
import numpy as np

from environments import atari
from environments import known_answer


class BehaviourPolicy(Protocol):
  """Chooses an action index in the game's action set."""

  def select_action(self, timestep: dm_env.TimeStep,
                    environment: atari.AtariEnvironment) -> int:
    """`timestep.observation` is the stacked frame; `environment` allows
    lookahead through clone_state/restore_state (a policy must leave it in
    the state it found it)."""


# (game, checkpoint index, number of checkpoints, environment, seed) -> policy.
PolicyFactory = Callable[[str, int, int, atari.AtariEnvironment, int],
                         BehaviourPolicy]


class UniformRandomPolicy:
  """Uniformly random actions: the quality floor of every game."""

  def __init__(self, num_actions: int, seed: int):
    self._num_actions = num_actions
    self._rng = np.random.default_rng(seed)
    self.description = 'uniform random'

  def select_action(self, timestep, environment) -> int:
    del timestep, environment
    return int(self._rng.integers(self._num_actions))


class LookaheadPlanner:
  """Greedy one-action lookahead with a repeated-action rollout.

  For each action a, from a snapshot of the current state: play a for
  `horizon` agent steps and score the sum of clipped rewards, minus
  `life_loss_penalty` if a life (or the game) is lost. Repeating the action
  is a cheap macro-action rollout that needs no model of the game and makes
  the planner collect nearby rewards and dodge nearby deaths in most games.
  Ties (e.g. no reward in sight) are broken uniformly at random. Planning
  costs num_actions x horizon emulated steps, so the chosen action is kept
  for the next `commit_steps` decisions: a long horizon (which Pong and
  Breakout need to see a ball coming) at the price of a short one.
  """

  def __init__(self, num_actions: int, seed: int, horizon: int = 16,
               life_loss_penalty: float = 5.0, commit_steps: int = 4):
    self._num_actions = num_actions
    self._rng = np.random.default_rng(seed)
    self._horizon = horizon
    self._life_loss_penalty = life_loss_penalty
    self._commit_steps = commit_steps
    self._committed_action = 0
    self._committed_for = 0
    self.description = (f'lookahead(horizon={horizon}, '
                        f'life_loss_penalty={life_loss_penalty}, '
                        f'commit_steps={commit_steps})')

  def select_action(self, timestep, environment) -> int:
    if timestep.first():
      self._committed_for = 0
    if self._committed_for > 0:
      self._committed_for -= 1
      return self._committed_action
    self._committed_action = self._plan(environment)
    self._committed_for = self._commit_steps - 1
    return self._committed_action

  def _plan(self, environment) -> int:
    snapshot = environment.clone_state()
    lives = environment.lives()
    scores = np.zeros(self._num_actions)
    for action in range(self._num_actions):
      environment.restore_state(snapshot)
      for _ in range(self._horizon):
        reward, game_over = environment.simulate_step(action)
        scores[action] += atari.clip_reward(reward)
        if game_over or environment.lives() < lives:
          scores[action] -= self._life_loss_penalty
          break
    environment.restore_state(snapshot)
    best = np.flatnonzero(scores == scores.max())
    return int(self._rng.choice(best))


class EpsilonGreedy:
  """Plays uniformly at random with probability epsilon, else `policy`."""

  def __init__(self, policy: BehaviourPolicy, epsilon: float,
               num_actions: int, seed: int):
    self._policy = policy
    self._epsilon = epsilon
    self._num_actions = num_actions
    self._rng = np.random.default_rng(seed)
    self.description = (f'epsilon-greedy(epsilon={epsilon:.3f}) over '
                        f'{getattr(policy, "description", type(policy).__name__)}')

  def select_action(self, timestep, environment) -> int:
    if self._rng.random() < self._epsilon:
      return int(self._rng.integers(self._num_actions))
    return self._policy.select_action(timestep, environment)


@dataclasses.dataclass(frozen=True)
class LookaheadSchedule:
  """A PolicyFactory: epsilon-greedy lookahead, epsilon falling linearly.

  Defaults: horizon 16 with plans kept for 4 steps beat horizon 4 replanned
  every step at about the same cost (600 steps, seed 0, clipped return:
  Pong -4 vs -9, Breakout 9 vs 0, MsPacman 107 vs 68; random play: about -9,
  1 and 30).

  Attributes:
    epsilon_first: epsilon at checkpoint 0 (1.0: uniform random play).
    epsilon_last: epsilon at the last checkpoint.
    horizon: rollout length of the planner, in agent steps.
    life_loss_penalty: planner's penalty for losing a life, in clipped reward.
    commit_steps: decisions each plan is kept for.
  """
  epsilon_first: float = 1.0
  epsilon_last: float = 0.0
  horizon: int = 16
  life_loss_penalty: float = 5.0
  commit_steps: int = 4

  def epsilon(self, checkpoint: int, num_checkpoints: int) -> float:
    fraction = checkpoint / max(num_checkpoints - 1, 1)
    return self.epsilon_first + fraction * (self.epsilon_last -
                                            self.epsilon_first)

  def __call__(self, game: str, checkpoint: int, num_checkpoints: int,
               environment: atari.AtariEnvironment,
               seed: int) -> BehaviourPolicy:
    del game
    num_actions = environment.num_actions
    epsilon = self.epsilon(checkpoint, num_checkpoints)
    if epsilon >= 1.0:  # Skip the planner's cost when it is never consulted.
      return UniformRandomPolicy(num_actions, seed)
    planner = LookaheadPlanner(num_actions, seed, self.horizon,
                               self.life_loss_penalty, self.commit_steps)
    return EpsilonGreedy(planner, epsilon, num_actions, seed + 1)


def uniform_random_factory(game, checkpoint, num_checkpoints, environment,
                           seed) -> BehaviourPolicy:
  """A PolicyFactory of uniform random play at every checkpoint."""
  del game, checkpoint, num_checkpoints
  return UniformRandomPolicy(environment.num_actions, seed)


BEHAVIOURS = {
    'lookahead': LookaheadSchedule(),
    'random': uniform_random_factory,
    # Each known-answer problem's own behaviour (environments.known_answer).
    'known_answer': known_answer.behaviour_factory,
}
