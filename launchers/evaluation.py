"""Evaluation of the multi-game agent on the real Atari games.

The evaluator plays each game with the agent's evaluation policy (the game's
own head, epsilon 0.001) through an Acme actor made by the builder, scoring raw game points under the DQN Replay protocol (sticky
actions, 108k-frame episode cap unless shortened). Scores are reported raw and
human-normalised, with mean, median and IQM over games.

Parameters come from a variable source: the learner node of a running
program, or a checkpoint (`load_checkpoint`, `CheckpointVariableSource`);
`evaluate_checkpoint` is what `launchers.evaluate` runs.
"""

import dataclasses
import json
import os
import time
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence

from builders import acme_compat  # noqa: F401  (before acme)

from absl import logging
from acme import core
from acme.utils import counting
from acme.utils import loggers
import dm_env
import jax
import numpy as np
import tensorflow_datasets as tfds

from agents.scaled_ql import checkpointing
from agents.scaled_ql import config as learner_config
from agents.scaled_ql import update_step
from atari_data import loader
from builders import builder as builder_lib
from builders import config as builder_config
from environments import atari
from environments import atari_scores
from environments import games as games_lib
from launchers import atomic_files
from launchers import plots

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
    sticky_action_probability: float = 0.25,
    mode: Optional[int] = None,
    difficulty: Optional[int] = None) -> EnvironmentFactory:
  """(game, seed) -> the real game under the evaluation protocol.

  `mode` and `difficulty` select an ALE game variant (None: the default).
  """

  def factory(game: str, seed: int) -> dm_env.Environment:
    return atari.make_atari_environment(
        game, mode=mode, difficulty=difficulty, seed=seed,
        max_episode_frames=max_episode_frames,
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
    learner_probe: in `run()`, a method of `variable_source`'s node that
      takes no arguments (e.g. 'completed_steps' of a LearnerRunner): the
      first round waits until it answers, in a way the stop ends
      (program_stop.wait_until_serving). None: no wait for the learner.
  """

  def __init__(self, builder, variable_source: core.VariableSource,
               games: Sequence[str], episodes_per_game: int,
               environment_factory: EnvironmentFactory, seed: int = 0,
               counter: Optional[counting.Counter] = None,
               logger: Optional[loggers.Logger] = None,
               aggregate_logger: Optional[loggers.Logger] = None,
               eval_every_steps: int = 0,
               learner_probe: Optional[str] = None):
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
    self._learner_probe = learner_probe
    self._networks = builder.make_networks()
    self._rounds = 0

  def evaluate(self, learner_steps: int = 0,
               should_stop: Callable[[], bool] = lambda: False
               ) -> Optional[Dict[str, GameEvaluation]]:
    """One round: `episodes_per_game` episodes of every game.

    Returns None, logging nothing, if `should_stop()` turns true during the
    round (it is polled at every environment step).
    """
    results = {}
    for game_number, game in enumerate(self._games):
      seed = self._seed + 1000 * self._rounds + game_number
      environment = self._environment_factory(game, seed)
      actor = self._builder.make_actor(
          jax.random.PRNGKey(seed),
          self._builder.make_policy(self._networks, game, evaluation=True),
          adder=None, variable_source=self._variable_source)
      returns = []
      for _ in range(self._episodes_per_game):
        episode_return = play_episode(environment, actor, should_stop)
        if episode_return is None:
          return None
        returns.append(episode_return)
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
    if self._counter is not None and not should_stop():
      self._counter.increment(
          evaluator_episodes=len(self._games) * self._episodes_per_game)
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

    Polls the stop event at every environment step and makes no remote call
    once it is set (see launchers/program_stop.py).
    """
    # Only Launchpad programs call run().
    from launchers import program_stop  # pylint: disable=g-import-not-at-top
    servers = [(self._counter, 'get_counts')]
    if self._learner_probe:
      servers.append((self._variable_source, self._learner_probe))
    if not program_stop.wait_until_serving(servers):
      return
    next_evaluation = 0
    while not program_stop.stop_requested():
      steps = self._counter.get_counts().get('learner_steps', 0)
      if steps >= next_evaluation:
        self.evaluate(steps, should_stop=program_stop.stop_requested)
        next_evaluation = steps + self._eval_every_steps
      else:
        time.sleep(1.0)


class EpisodeResult(NamedTuple):
  episode_return: float
  steps: int


def run_episode(environment: dm_env.Environment, actor: core.Actor,
                should_stop: Callable[[], bool],
                update_actor: bool = False) -> Optional[EpisodeResult]:
  """Plays one episode; None if `should_stop()` turns true during it.

  Acme's EnvironmentLoop.run_episode without its counter and with a stop
  check before every action (the first action fetches the parameters).
  `update_actor` calls `actor.update()` after every step, as Acme's loop
  does for learning actors (periodic parameter fetches), also only while
  `should_stop()` is false: a remote call left in flight when the learner's
  server goes away never returns, and the process then hangs at exit
  joining the thread that made it (measured with Acme's DQN actor).
  """
  timestep = environment.reset()
  actor.observe_first(timestep)
  episode_return = 0.0
  steps = 0
  while not timestep.last():
    if should_stop():
      return None
    action = actor.select_action(timestep.observation)
    timestep = environment.step(action)
    actor.observe(action, next_timestep=timestep)
    episode_return += float(timestep.reward)
    steps += 1
    if update_actor:
      # update() may ask the learner for parameters: never after the stop
      # (the first select_action may have waited past it).
      if should_stop():
        return None
      actor.update()
  return EpisodeResult(episode_return, steps)


def play_episode(environment: dm_env.Environment, actor: core.Actor,
                 should_stop: Callable[[], bool]) -> Optional[float]:
  """The raw score of one episode, or None if `should_stop()` turns true."""
  result = run_episode(environment, actor, should_stop)
  return None if result is None else result.episode_return


class CheckpointVariableSource:
  """Serves the parameters of a checkpoint as a learner would."""

  def __init__(self, params):
    self._params = params

  def get_variables(self, names: Sequence[str]) -> List[Any]:
    return [self._params for _ in names]


@dataclasses.dataclass(frozen=True)
class LoadedCheckpoint:
  path: str
  step: int
  builder: builder_lib.ScaledQLBuilder
  params: Any


def checkpoint_path(workdir: Optional[str], checkpoint: Optional[str]) -> str:
  """`checkpoint` if given, else the latest checkpoint of run `workdir`.

  Raises:
    ValueError: neither is given, or `workdir` has no checkpoint.
  """
  if checkpoint:
    return checkpoint
  if not workdir:
    raise ValueError('Give --workdir or --checkpoint.')
  latest = checkpointing.latest_checkpoint(os.path.join(workdir, 'checkpoints'))
  if latest is None:
    raise ValueError(f'No checkpoint in {workdir}/checkpoints.')
  return latest[1]


def load_checkpoint(path: str) -> LoadedCheckpoint:
  """The builder and online parameters of checkpoint `path`.

  Raises:
    CheckpointMismatchError: a game's action set today differs from the one
      the checkpoint was trained with (e.g. a full vs minimal action set).
  """
  description = checkpointing.read_description(path)
  games = tuple(description['games'])
  num_actions = tuple(description['num_actions'])
  for game, trained in zip(games, num_actions):
    available = len(games_lib.action_set(game))
    if available != trained:
      raise checkpointing.CheckpointMismatchError(
          f'{path} was trained with {trained} actions for {game}, but the '
          f'environment offers {available}: the action spaces do not match.')
  config = learner_config.ScaledQLConfig(
      network_size=description['network_size'],
      feature_dim=description['feature_dim'],
      num_atoms=description['num_atoms'], v_min=description['v_min'],
      v_max=description['v_max'])
  builder = builder_lib.ScaledQLBuilder(builder_config.ScaledQLBuilderConfig(
      learner=config, games=games, num_actions=num_actions))
  template = update_step.make_initial_state(
      builder.make_networks(), config, jax.random.PRNGKey(0))
  checkpointer = checkpointing.Checkpointer(os.path.dirname(path), description)
  step, state = checkpointer.restore(template=template, path=path)
  return LoadedCheckpoint(path, step, builder, state.params)


def dataset_mean_scores(dataset: str, games: Sequence[str],
                        checkpoints: str) -> Dict[str, float]:
  """Mean game score of the selected checkpoints of a recorded dataset.

  Uses the per-checkpoint statistics the recorder stores in the dataset's
  metadata (complete episodes where there are any), weighted by episodes.
  Games without such metadata (e.g. the published data) are left out.
  """
  scores = {}
  for game in games:
    directory = os.path.join(dataset, game)
    if not os.path.isdir(directory):
      continue
    stats = tfds.builder_from_directory(directory).info.metadata.get('checkpoints')
    if not stats:
      continue
    start, stop = loader.select_checkpoints(checkpoints, len(stats))
    selected = stats[start:stop]
    weights, values = [], []
    for checkpoint in selected:
      if checkpoint.get('mean_complete_game_score') is not None:
        weights.append(checkpoint['num_complete_episodes'])
        values.append(checkpoint['mean_complete_game_score'])
      else:
        weights.append(checkpoint['num_episodes'])
        values.append(checkpoint['mean_game_score'])
    scores[game] = float(np.average(values, weights=weights))
  return scores


def results_table(results: Mapping[str, GameEvaluation],
                  dataset_scores: Mapping[str, float]) -> Dict[str, Any]:
  rows = []
  for game, result in results.items():
    reference = atari_scores.reference_scores(game)
    rows.append({
        'game': game, 'episodes': len(result.episode_returns),
        'mean_score': result.mean_return,
        'human_normalized': result.human_normalized,
        'data_mean_score': dataset_scores.get(game),
        'random_score': reference.random, 'human_score': reference.human,
    })
  aggregates = atari_scores.aggregate(
      {row['game']: row['human_normalized'] for row in rows})
  return {'games': rows, 'human_normalized': aggregates}


def format_table(table: Mapping[str, Any]) -> str:
  """A Markdown table of per-game results and the aggregates."""
  def number(value, digits=1):
    return 'n/a' if value is None else f'{value:.{digits}f}'
  lines = ['| game | episodes | mean score | data mean score | human-normalised |'
           ' random | human |',
           '|---|---:|---:|---:|---:|---:|---:|']
  for row in table['games']:
    lines.append(
        f"| {row['game']} | {row['episodes']} | {number(row['mean_score'])} | "
        f"{number(row['data_mean_score'])} | {number(row['human_normalized'], 3)} "
        f"| {number(row['random_score'])} | {number(row['human_score'])} |")
  aggregates = table['human_normalized']
  lines.append('')
  lines.append('human-normalised over games: ' + ', '.join(
      f'{name} {value:.3f}' for name, value in aggregates.items()))
  return '\n'.join(lines)


def evaluate_checkpoint(path: str, episodes: int, max_episode_frames: int,
                        seed: int, dataset: Optional[str] = None,
                        checkpoints: str = 'first 20%',
                        workdir: Optional[str] = None) -> Dict[str, Any]:
  """Plays, tabulates, writes results and plots; returns the table."""
  loaded = load_checkpoint(path)
  games = loaded.builder.config.games
  logging.info('Evaluating %s (learner step %d) on %s, %d episodes each.',
               path, loaded.step, list(games), episodes)
  evaluator = Evaluator(
      builder=loaded.builder,
      variable_source=CheckpointVariableSource(loaded.params), games=games,
      episodes_per_game=episodes,
      environment_factory=make_evaluation_environment_factory(
          max_episode_frames),
      seed=seed)
  dataset_scores = (dataset_mean_scores(dataset, games, checkpoints)
                    if dataset else {})
  table = results_table(evaluator.evaluate(loaded.step), dataset_scores)
  table.update(checkpoint=path, learner_step=loaded.step,
               max_episode_frames=max_episode_frames)
  if workdir:
    directory = os.path.join(workdir, 'evaluation')
    os.makedirs(directory, exist_ok=True)
    atomic_files.write_text_atomically(os.path.join(directory, 'results.json'),
                                       json.dumps(table, indent=2))
    atomic_files.write_text_atomically(os.path.join(directory, 'results.md'),
                                       format_table(table))
    table['plots'] = plots.plot_all(
        workdir, dataset_scores,
        final_scores={row['game']: row['mean_score'] for row in table['games']},
        final_step=loaded.step,
        final_label=f'{episodes}-episode evaluation')
  return table
