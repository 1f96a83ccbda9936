"""Behaviour policies that play real Atari games for the recorder.

The recorder asks a `PolicyFactory` for one policy per checkpoint, so data come
in checkpoints of rising quality like `rlu_atari_checkpoints_ordered`: each
checkpoint plays epsilon-greedy over a player, epsilon falling from the first
checkpoint to the last (`EpsilonSchedule`), or, for object players, with
lapses of attention whose share of the steps falls the same way. Two players
need no trained agent: a lookahead planner that tries every action on a
snapshot of the emulator (ALE cloneState/restoreState) and plays the one
whose short rollout scores best, and object players that act on the paddle,
ball or boxers the screen shows (atari_data.object_players). The project's
own agent checkpoints plug in as another `PolicyFactory`.
"""

import dataclasses
import math
from typing import Callable, Optional, Protocol

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


# What a noisy behaviour did at its last step (its `last_choice`): followed
# its player, or deviated by a coin flip independent of the state (an
# epsilon-greedy random action, the first step of a lapse), or went on with a
# lapse. Replays read it to compare the two branches of the coin
# (atari_data.replay, benchmarks.study.data_evidence).
FOLLOWED, RANDOM, LAPSE_START, LAPSE = 'player', 'random', 'lapse_start', 'lapse'
CHOICES = (FOLLOWED, RANDOM, LAPSE_START, LAPSE)


def describe(policy) -> str:
  """What a policy says it is (recorded per checkpoint in metadata.json)."""
  return getattr(policy, 'description', type(policy).__name__)


class EpsilonGreedy:
  """Plays uniformly at random with probability epsilon, else `policy`."""

  def __init__(self, policy: BehaviourPolicy, epsilon: float,
               num_actions: int, seed: int):
    self._policy = policy
    self._epsilon = epsilon
    self._num_actions = num_actions
    self._rng = np.random.default_rng(seed)
    self.last_choice = None
    self.description = (f'epsilon-greedy(epsilon={epsilon:.3f}) over '
                        f'{describe(policy)}')

  def select_action(self, timestep, environment) -> int:
    if self._rng.random() < self._epsilon:
      self.last_choice = RANDOM
      return int(self._rng.integers(self._num_actions))
    self.last_choice = FOLLOWED
    return self._policy.select_action(timestep, environment)


def lapse_start_probability(lapse_share: float,
                            mean_lapse_steps: float) -> float:
  """The probability per attentive step that a lapse starts, such that a
  share `lapse_share` of all steps are in lapses of geometric length with
  mean `mean_lapse_steps` (a lapse includes the step it starts at): a cycle
  holds (1 - p) / p attentive steps and `mean_lapse_steps` lapsed ones."""
  if not 0.0 <= lapse_share < 1.0:
    raise ValueError(f'lapse_share={lapse_share}; it must be in [0, 1).')
  if mean_lapse_steps < 1.0:
    raise ValueError(f'mean_lapse_steps={mean_lapse_steps}; a lapse lasts at '
                     'least one step.')
  return lapse_share / (mean_lapse_steps * (1.0 - lapse_share) + lapse_share)


class Lapses:
  """Follows `policy`, with lapses of attention: at each attentive step a
  lapse starts with a probability independent of the state; for its
  geometric number of steps (mean `mean_lapse_steps`) the behaviour holds
  one uniformly random action, as a distracted player keeps pressing what it
  pressed. Unlike epsilon-greedy's single random steps, which the player
  undoes at the next step, a lapse lasts long enough to lose a ball or take
  punches, and the states it leads to (a paddle far from the ball) are those
  where the data's most frequent action is the lapse's: imitation copies
  the flaw there, while the returns after the lapses hold the evidence
  against it. The lapses ignore the game entirely, episode boundaries
  included, so their coin is independent of every state.
  """

  def __init__(self, policy: BehaviourPolicy, lapse_share: float,
               mean_lapse_steps: float, num_actions: int, seed: int):
    self._policy = policy
    self._start_probability = lapse_start_probability(lapse_share,
                                                      mean_lapse_steps)
    self._end_probability = 1.0 / mean_lapse_steps
    self._num_actions = num_actions
    self._rng = np.random.default_rng(seed)
    self._lapse_action = 0
    self._lapse_steps_left = 0
    self.last_choice = None
    self.description = (f'lapses(share={lapse_share:.3f}, mean_steps='
                        f'{mean_lapse_steps:g}) of {describe(policy)}')

  def select_action(self, timestep, environment) -> int:
    if self._lapse_steps_left > 0:
      self._lapse_steps_left -= 1
      self.last_choice = LAPSE
      return self._lapse_action
    if self._rng.random() < self._start_probability:
      self._lapse_action = int(self._rng.integers(self._num_actions))
      self._lapse_steps_left = int(
          self._rng.geometric(self._end_probability)) - 1
      self.last_choice = LAPSE_START
      return self._lapse_action
    self.last_choice = FOLLOWED
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
    return self.noisy(self.player(game, num_actions, seed), epsilon,
                      num_actions, seed + 1)

  def noisy(self, player: BehaviourPolicy, epsilon: float, num_actions: int,
            seed: int) -> BehaviourPolicy:
    """`player` with the schedule's noise at `epsilon`."""
    return EpsilonGreedy(player, epsilon, num_actions, seed)

  def action_entropy(self, epsilon: float,
                     num_actions: int) -> Optional[float]:
    """The least cross-entropy a policy of the state can have on the
    actions at `epsilon` (epsilon_greedy_entropy: exact for a deterministic
    player); None where no such bound is known."""
    return epsilon_greedy_entropy(epsilon, num_actions)


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


@dataclasses.dataclass(frozen=True)
class ObjectPlayerLapseSchedule(ObjectPlayerSchedule):
  """The game's object player with lapses (`Lapses`): epsilon is the share
  of steps spent in lapses, falling along the checkpoints; at epsilon 1 the
  play is uniformly random, as every schedule's first checkpoint.

  Attributes:
    mean_lapse_steps: mean length of a lapse, in agent steps (16: about a
      second of play at 4 frames a step, long enough for a ball to pass).
  """
  mean_lapse_steps: float = 16.0

  def noisy(self, player, epsilon, num_actions, seed) -> BehaviourPolicy:
    return Lapses(player, epsilon, self.mean_lapse_steps, num_actions, seed)

  def action_entropy(self, epsilon, num_actions) -> Optional[float]:
    # A lapse's held action is a function of its past, which frames show
    # only in part: no bound is exact.
    del epsilon, num_actions
    return None


def uniform_random_factory(game, checkpoint, num_checkpoints, environment,
                           seed) -> BehaviourPolicy:
  """A PolicyFactory of uniform random play at every checkpoint."""
  del game, checkpoint, num_checkpoints
  return UniformRandomPolicy(environment.num_actions, seed)


# The epsilon schedules by name (benchmarks.study's datasets name theirs).
SCHEDULES = {'lookahead': LookaheadSchedule,
             'object_player': ObjectPlayerSchedule,
             'object_player_lapses': ObjectPlayerLapseSchedule}

BEHAVIOURS = {
    'lookahead': LookaheadSchedule(),
    'object_player': ObjectPlayerSchedule(),
    'object_player_lapses': ObjectPlayerLapseSchedule(),
    'random': uniform_random_factory,
    # Each known-answer problem's own behaviour (environments.known_answer).
    'known_answer': known_answer.behaviour_factory,
}
