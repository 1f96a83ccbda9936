"""The evaluator: plays games with an agent's current parameters and scores them.

Each game is played by an actor made by `actor_factory` (the agent's
evaluation policy through its builder) under the evaluation protocol of
`make_evaluation_environment_factory` (sticky actions, 108k-frame episode
cap unless shortened). Scores are raw game points and human-normalised, with
mean, median and IQM over games. The same class is the evaluator node of
the offline and online programs (`run()`) and the in-process evaluation of
single-process runs and of `launchers.evaluate` (`evaluate()`).
"""

import dataclasses
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from absl import logging
from acme import core
from acme.utils import counting
from acme.utils import loggers
import dm_env
import jax
import numpy as np

from environments import factory as environments_factory
from environments import atari_scores
from launchers.programs import episodes
from launchers.programs import stop

EnvironmentFactory = Callable[[str, int], dm_env.Environment]
# The standard evaluation cap: 30 minutes of play (DQN, DQN Replay).
STANDARD_MAX_EPISODE_FRAMES = 108_000
# (game, random key) -> an actor that plays `game` with the evaluation policy.
ActorFactory = Callable[[str, jax.Array], core.Actor]


@dataclasses.dataclass(frozen=True)
class GameEvaluation:
  game: str
  episode_returns: List[float]

  @property
  def mean_return(self) -> float:
    return float(np.mean(self.episode_returns))

  @property
  def human_normalized(self) -> float:
    return atari_scores.human_normalized_score(self.game, self.mean_return)


def make_evaluation_environment_factory(
    max_episode_frames: int = STANDARD_MAX_EPISODE_FRAMES,
    sticky_action_probability: float = 0.25,
    mode: Optional[int] = None,
    difficulty: Optional[int] = None) -> EnvironmentFactory:
  """(game, seed) -> the real game under the evaluation protocol.

  `mode` and `difficulty` select an ALE game variant (None: the default).
  """

  def factory(game: str, seed: int) -> dm_env.Environment:
    return environments_factory.make_environment(
        game, mode=mode, difficulty=difficulty, seed=seed,
        max_episode_frames=max_episode_frames,
        sticky_action_probability=sticky_action_probability)

  return factory


def builder_actor_factory(builder, policy_factory: Callable[[str], object],
                          variable_source: core.VariableSource
                          ) -> ActorFactory:
  """An ActorFactory from any Acme builder: `builder.make_actor` without an
  adder, with `policy_factory(game)` as its policy, fetching parameters
  from `variable_source`."""

  def make_actor(game: str, random_key: jax.Array) -> core.Actor:
    return builder.make_actor(random_key, policy_factory(game), adder=None,
                              variable_source=variable_source)

  return make_actor


def scaled_ql_actor_factory(builder, variable_source: core.VariableSource
                            ) -> ActorFactory:
  """The ActorFactory of a ScaledQLBuilder: each game's head with the
  evaluation epsilon."""
  networks = builder.make_networks()
  return builder_actor_factory(
      builder, lambda game: builder.make_policy(networks, game, evaluation=True),
      variable_source)


class Evaluator:
  """Plays every game with the current parameters the actors fetch.

  Args:
    actor_factory: (game, random key) -> an actor playing the evaluation
      policy of that game (see `builder_actor_factory`).
    games: games to play.
    episodes_per_game: episodes per game and evaluation round.
    environment_factory: (game, seed) -> environment.
    seed: seeds the environments and the actors' exploration.
    counter: the program's Acme counter: `run()` reads 'learner_steps' there,
      and episodes played are counted under 'evaluator_episodes'.
    logger: receives one row per game and round, with a 'game' column.
    aggregate_logger: receives one row per round: mean/median/IQM of the
      human-normalised scores and each game's mean return and score, one
      column each (numbers only, so TensorBoard can take it).
    eval_every_steps: in `run()`, learner steps between evaluation rounds.
    servers: in `run()`, (courier handle, method taking no arguments) of the
      nodes to wait for before the first round, e.g. (learner,
      'completed_steps'); the counter is always waited for
      (stop.wait_until_serving).
  """

  def __init__(self, actor_factory: ActorFactory, games: Sequence[str],
               episodes_per_game: int,
               environment_factory: EnvironmentFactory, seed: int = 0,
               counter: Optional[counting.Counter] = None,
               logger: Optional[loggers.Logger] = None,
               aggregate_logger: Optional[loggers.Logger] = None,
               eval_every_steps: int = 0,
               servers: Sequence[Tuple[object, str]] = ()):
    self._actor_factory = actor_factory
    self._games = list(games)
    self._episodes_per_game = episodes_per_game
    self._environment_factory = environment_factory
    self._seed = seed
    # Made here, in the node's thread: no counter call after the stop.
    self._counter = (stop.CounterClient(counter) if counter is not None
                     else None)
    self._servers = [(counter, 'get_counts'), *servers]
    self._logger = logger
    self._aggregate_logger = aggregate_logger
    self._eval_every_steps = eval_every_steps
    self._rounds = 0

  def evaluate(self, learner_steps: int = 0,
               should_stop: stop.StopCheck = lambda: False
               ) -> Optional[Dict[str, GameEvaluation]]:
    """One round: `episodes_per_game` episodes of every game.

    Returns None, logging nothing, if `should_stop()` turns true during the
    round (it is polled at every environment step).
    """
    results = {}
    for game_number, game in enumerate(self._games):
      seed = self._seed + 1000 * self._rounds + game_number
      environment = self._environment_factory(game, seed)
      actor = self._actor_factory(game, jax.random.PRNGKey(seed))
      returns = []
      for _ in range(self._episodes_per_game):
        episode = episodes.run_episode(environment, actor, should_stop)
        if episode is None:
          return None
        returns.append(episode.episode_return)
      results[game] = GameEvaluation(game, returns)
      logging.info('evaluation at learner step %d: %s mean return %.1f over %d '
                   'episodes (human-normalised %.3f)', learner_steps, game,
                   results[game].mean_return, len(returns),
                   results[game].human_normalized)
      if self._logger is not None:
        self._logger.write({
            'learner_steps': learner_steps, 'game': game,
            'mean_return': results[game].mean_return,
            'min_return': min(returns), 'max_return': max(returns),
            'episodes': len(returns),
            'human_normalized': results[game].human_normalized})
    self._rounds += 1
    if self._counter is not None:
      self._counter.increment(
          evaluator_episodes=len(self._games) * self._episodes_per_game)
    if self._aggregate_logger is not None:
      self._aggregate_logger.write(_aggregate_row(learner_steps, results))
    return results

  def run(self):
    """Launchpad entry point: evaluates every `eval_every_steps` until stop."""
    should_stop = stop.stop_check()
    if not stop.wait_until_serving(self._servers, should_stop):
      return
    next_evaluation = 0
    while not should_stop():
      steps = self._counter.get_counts().get('learner_steps', 0)
      if steps >= next_evaluation:
        self.evaluate(steps, should_stop=should_stop)
        next_evaluation = steps + self._eval_every_steps
      else:
        time.sleep(1.0)


def _aggregate_row(learner_steps: int,
                   results: Dict[str, GameEvaluation]) -> Dict[str, float]:
  aggregates = atari_scores.aggregate(
      {game: result.human_normalized for game, result in results.items()})
  row = {'learner_steps': learner_steps}
  row.update({f'human_normalized_{name}': value
              for name, value in aggregates.items()})
  for game, result in results.items():
    row[f'{game}_mean_return'] = result.mean_return
    row[f'{game}_human_normalized'] = result.human_normalized
  return row
