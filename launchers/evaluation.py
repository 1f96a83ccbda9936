"""Evaluation of the multi-game agent on the real Atari games.

The evaluator plays each game with the agent's evaluation policy (the game's
own head, epsilon 0.001) through Acme's `EnvironmentLoop` and an actor made by
the builder, scoring raw game points under the DQN Replay protocol (sticky
actions, 108k-frame episode cap unless shortened). Scores are reported raw and
human-normalised, with mean, median and IQM over games.

Parameters come from a variable source: the learner node of a running
program, or a checkpoint (`CheckpointVariableSource`).
"""

import dataclasses
from typing import Callable, Dict, List, Optional, Sequence

from builders import acme_compat  # noqa: F401  (before acme)

from absl import logging
import acme
from acme import core
from acme.utils import counting
from acme.utils import loggers
from acme.utils import signals
import dm_env
import jax
import numpy as np

from environments import atari
from environments import atari_scores

EnvironmentFactory = Callable[[str, int], dm_env.Environment]


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
    max_episode_frames: int = 108_000,
    sticky_action_probability: float = 0.25) -> EnvironmentFactory:
  """(game, seed) -> the real game under the evaluation protocol."""

  def factory(game: str, seed: int) -> dm_env.Environment:
    return atari.make_atari_environment(
        game, seed=seed, max_episode_frames=max_episode_frames,
        sticky_action_probability=sticky_action_probability)

  return factory


class Evaluator:
  """Plays every game with the current parameters of `variable_source`.

  Args:
    builder: the agent's builder (make_networks, make_policy, make_actor).
    variable_source: gives 'policy' parameters: the learner node of a
      program, or a checkpoint.
    games: games to play (each must be one of the builder's games).
    episodes_per_game: episodes per game and evaluation round.
    environment_factory: (game, seed) -> environment.
    seed: seeds the environments and the actors' exploration.
    counter: the program's Acme counter: `run()` reads 'learner_steps' there,
      and episodes and steps played are counted under 'evaluator_'.
    logger: receives one row per game and round, with a 'game' column.
    aggregate_logger: receives one row per round: mean/median/IQM of the
      human-normalised scores and each game's mean return and score, one
      column each (numbers only, so TensorBoard can take it).
    eval_every_steps: in `run()`, learner steps between evaluation rounds.
  """

  def __init__(self, builder, variable_source: core.VariableSource,
               games: Sequence[str], episodes_per_game: int,
               environment_factory: EnvironmentFactory, seed: int = 0,
               counter: Optional[counting.Counter] = None,
               logger: Optional[loggers.Logger] = None,
               aggregate_logger: Optional[loggers.Logger] = None,
               eval_every_steps: int = 0):
    self._builder = builder
    self._variable_source = variable_source
    self._games = list(games)
    self._episodes_per_game = episodes_per_game
    self._environment_factory = environment_factory
    self._seed = seed
    self._counter = counter
    self._logger = logger
    self._aggregate_logger = aggregate_logger
    self._eval_every_steps = eval_every_steps
    self._networks = builder.make_networks()
    self._rounds = 0

  def evaluate(self, learner_steps: int = 0) -> Dict[str, GameEvaluation]:
    """One round: `episodes_per_game` episodes of every game."""
    results = {}
    for game_number, game in enumerate(self._games):
      seed = self._seed + 1000 * self._rounds + game_number
      actor = self._builder.make_actor(
          jax.random.PRNGKey(seed),
          self._builder.make_policy(self._networks, game, evaluation=True),
          adder=None, variable_source=self._variable_source)
      loop = acme.EnvironmentLoop(
          self._environment_factory(game, seed), actor,
          counter=counting.Counter(self._counter, prefix='evaluator'),
          should_update=False, logger=loggers.NoOpLogger())
      returns = [float(loop.run_episode()['episode_return'])
                 for _ in range(self._episodes_per_game)]
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
    if self._aggregate_logger is not None:
      aggregates = atari_scores.aggregate(
          {game: result.human_normalized for game, result in results.items()})
      row = {'learner_steps': learner_steps}
      row.update({f'human_normalized_{name}': value
                  for name, value in aggregates.items()})
      for game, result in results.items():
        row[f'{game}_mean_return'] = result.mean_return
        row[f'{game}_human_normalized'] = result.human_normalized
      self._aggregate_logger.write(row)
    return results

  def run(self):
    """Launchpad entry point: evaluates every `eval_every_steps` until stop.

    Acme's runtime terminator raises SystemExit in this thread when the
    program stops, also in the middle of an episode: the environment and the
    policy return to Python every step, so the node always ends in time.
    """
    import launchpad as lp  # Only Launchpad programs call run().
    next_evaluation = 0
    with signals.runtime_terminator():
      while not lp.wait_for_stop(0):
        steps = self._counter.get_counts().get('learner_steps', 0)
        if steps >= next_evaluation:
          self.evaluate(steps)
          next_evaluation = steps + self._eval_every_steps
        else:
          lp.wait_for_stop(2.0)
