"""Behaviour policies that play real Atari games for the recorder.

The recorder asks a `PolicyFactory` for one policy per checkpoint, so data come
in checkpoints of rising quality like `rlu_atari_checkpoints_ordered`: each
checkpoint plays epsilon-greedy over a player, epsilon falling from the first
checkpoint to the last (`EpsilonSchedule`). Two players need no trained
agent: a lookahead planner that tries every action on a snapshot of the
emulator (ALE cloneState/restoreState) and plays the one whose short rollout
scores best, and object players that act on the paddle, ball or boxers the
screen shows (atari_data.object_players). The project's own agent
checkpoints plug in as another `PolicyFactory`.
"""

import dataclasses
import math
from typing import Callable, Protocol

import dm_env
import numpy as np

from atari_data import object_players
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


def epsilon_greedy_entropy(epsilon: float, num_actions: int) -> float:
  """Entropy (nats) of epsilon-greedy play over a deterministic player: it
  puts 1 - epsilon + epsilon / A on the player's action and epsilon / A on
  each other, so no policy has a lower cross-entropy on its actions."""
  chosen = 1.0 - epsilon + epsilon / num_actions
  other = epsilon / num_actions
  entropy = -chosen * math.log(chosen)
  if other > 0:
    entropy -= (num_actions - 1) * other * math.log(other)
  return entropy


@dataclasses.dataclass(frozen=True)
class EpsilonSchedule:
  """A PolicyFactory: epsilon-greedy over a player, epsilon falling linearly
  from `epsilon_first` at checkpoint 0 to `epsilon_last` at the last, as DQN
  Replay's checkpoints improve along a run. Subclasses say which player.

  Attributes:
    epsilon_first: epsilon at checkpoint 0 (1.0: uniform random play).
    epsilon_last: epsilon at the last checkpoint.
  """
  epsilon_first: float = 1.0
  epsilon_last: float = 0.0

  def epsilon(self, checkpoint: int, num_checkpoints: int) -> float:
    fraction = checkpoint / max(num_checkpoints - 1, 1)
    return self.epsilon_first + fraction * (self.epsilon_last -
                                            self.epsilon_first)

  def player(self, game: str, num_actions: int,
             seed: int) -> BehaviourPolicy:
    """The policy that epsilon-greedy play follows when not random."""
    raise NotImplementedError

  def __call__(self, game: str, checkpoint: int, num_checkpoints: int,
               environment: atari.AtariEnvironment,
               seed: int) -> BehaviourPolicy:
    num_actions = environment.num_actions
    epsilon = self.epsilon(checkpoint, num_checkpoints)
    if epsilon >= 1.0:  # Skip the player's cost when it is never consulted.
      return UniformRandomPolicy(num_actions, seed)
    return EpsilonGreedy(self.player(game, num_actions, seed), epsilon,
                         num_actions, seed + 1)


@dataclasses.dataclass(frozen=True)
class LookaheadSchedule(EpsilonSchedule):
  """Epsilon-greedy lookahead planning.

  Defaults: horizon 16 with plans kept for 4 steps beat horizon 4 replanned
  every step at about the same cost (600 steps, seed 0, clipped return:
  Pong -4 vs -9, Breakout 9 vs 0, MsPacman 107 vs 68; random play: about -9,
  1 and 30).

  Attributes:
    horizon: rollout length of the planner, in agent steps.
    life_loss_penalty: planner's penalty for losing a life, in clipped reward.
    commit_steps: decisions each plan is kept for.
  """
  horizon: int = 16
  life_loss_penalty: float = 5.0
  commit_steps: int = 4

  def player(self, game, num_actions, seed) -> BehaviourPolicy:
    del game
    return LookaheadPlanner(num_actions, seed, self.horizon,
                            self.life_loss_penalty, self.commit_steps)


@dataclasses.dataclass(frozen=True)
class ObjectPlayerSchedule(EpsilonSchedule):
  """Epsilon-greedy play of the game's object player
  (atari_data.object_players: it acts on the objects the screen shows)."""

  def player(self, game, num_actions, seed) -> BehaviourPolicy:
    del num_actions, seed  # The players are deterministic.
    return object_players.ObjectPlayer(game)


def uniform_random_factory(game, checkpoint, num_checkpoints, environment,
                           seed) -> BehaviourPolicy:
  """A PolicyFactory of uniform random play at every checkpoint."""
  del game, checkpoint, num_checkpoints
  return UniformRandomPolicy(environment.num_actions, seed)


# The epsilon schedules by name (benchmarks.study's datasets name theirs).
SCHEDULES = {'lookahead': LookaheadSchedule,
             'object_player': ObjectPlayerSchedule}

BEHAVIOURS = {
    'lookahead': LookaheadSchedule(),
    'object_player': ObjectPlayerSchedule(),
    'random': uniform_random_factory,
    # Each known-answer problem's own behaviour (environments.known_answer).
    'known_answer': known_answer.behaviour_factory,
}
