r"""Evaluates a pre-training checkpoint on the real Atari games.

Rebuilds the network from the checkpoint's own description (games, network
size, heads), plays --episodes episodes of every game under the evaluation
protocol, and prints per game the mean raw score, the human-normalised score
and, when --dataset is given, the mean score of the data it learned from;
then mean, median and IQM of the human-normalised scores. Writes the table
(results.json, results.md) and learning-curve plots from the run's logs.

  python -m launchers.evaluate --workdir=/tmp/scaled_ql --episodes=10 \
      --dataset=/data/rlds --checkpoints='first 20%'
"""

import dataclasses
import json
import os
import tempfile
from typing import Any, Dict, List, Mapping, Optional, Sequence

from absl import app
from absl import flags
from absl import logging

from builders import acme_compat  # noqa: F401  (before acme)

import jax
import numpy as np
import tensorflow_datasets as tfds

from agents.scaled_ql import checkpointing
from agents.scaled_ql import config as learner_config
from agents.scaled_ql import update_step
from atari_data import loader
from builders import builder as builder_lib
from builders import config as builder_config
from environments import atari_scores
from environments import games as games_lib
from launchers import evaluation
from launchers import plots

_WORKDIR = flags.DEFINE_string('workdir', None, 'Work directory of a run.')
_CHECKPOINT = flags.DEFINE_string(
    'checkpoint', None, 'A checkpoint file (default: the latest in --workdir).')
_EPISODES = flags.DEFINE_integer('episodes', 10, 'Episodes per game.')
_MAX_FRAMES = flags.DEFINE_integer(
    'max_episode_frames', 108_000, 'Episode cap in emulator frames.')
_DATASET = flags.DEFINE_string(
    'dataset', None, 'The recorded dataset the run learned from (optional), '
    'for the "data" column.')
_CHECKPOINTS = flags.DEFINE_string(
    'checkpoints', 'first 20%', 'Behaviour checkpoints the run learned from.')
_SEED = flags.DEFINE_integer('seed', 12345, 'Evaluation seed.')


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


def results_table(results: Mapping[str, evaluation.GameEvaluation],
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


def _write_atomically(path: str, text: str):
  with tempfile.NamedTemporaryFile('w', dir=os.path.dirname(path),
                                   delete=False) as f:
    f.write(text)
  os.replace(f.name, path)


def evaluate_checkpoint(path: str, episodes: int, max_episode_frames: int,
                        seed: int, dataset: Optional[str] = None,
                        checkpoints: str = 'first 20%',
                        workdir: Optional[str] = None) -> Dict[str, Any]:
  """Plays, tabulates, writes results and plots; returns the table."""
  loaded = load_checkpoint(path)
  games = loaded.builder.config.games
  logging.info('Evaluating %s (learner step %d) on %s, %d episodes each.',
               path, loaded.step, list(games), episodes)
  evaluator = evaluation.Evaluator(
      builder=loaded.builder,
      variable_source=CheckpointVariableSource(loaded.params), games=games,
      episodes_per_game=episodes,
      environment_factory=evaluation.make_evaluation_environment_factory(
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
    _write_atomically(os.path.join(directory, 'results.json'),
                      json.dumps(table, indent=2))
    _write_atomically(os.path.join(directory, 'results.md'), format_table(table))
    table['plots'] = plots.plot_all(workdir, dataset_scores)
  return table


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  path = _CHECKPOINT.value
  if path is None:
    if not _WORKDIR.value:
      raise app.UsageError('Give --workdir or --checkpoint.')
    latest = checkpointing.Checkpointer(
        os.path.join(_WORKDIR.value, 'checkpoints'), {}).latest()
    if latest is None:
      raise app.UsageError(f'No checkpoint in {_WORKDIR.value}/checkpoints.')
    path = latest[1]
  table = evaluate_checkpoint(
      path, _EPISODES.value, _MAX_FRAMES.value, _SEED.value, _DATASET.value,
      _CHECKPOINTS.value, _WORKDIR.value)
  print(format_table(table))
  for plot in table.get('plots', []):
    print(f'plot: {plot}')


if __name__ == '__main__':
  app.run(main)
