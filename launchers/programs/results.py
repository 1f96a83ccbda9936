"""The final evaluation of a checkpoint: results table, files and plots.

`evaluate_checkpoint` is what `launchers.evaluate` (and the demo) run: it
plays every game of a checkpoint, compares with the data's mean score and
the random/human references, and writes <workdir>/evaluation/results.json,
results.md and <workdir>/plots/*.png.
"""

import os
from typing import Any, Dict, Mapping, Optional

from absl import logging

from environments import atari_scores
from launchers.programs import atomic_files
from launchers.programs import checkpoint_loading
from launchers.programs import dataset_scores as dataset_scores_lib
from launchers.programs import endings
from launchers.programs import evaluator as evaluator_lib
from launchers.programs import plots


def results_table(results: Mapping[str, evaluator_lib.GameEvaluation],
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


def format_comparison(tables: Mapping[str, Mapping[str, Any]]) -> str:
  """Markdown: per game the data's mean score and each agent's (bold above
  the data's), then each agent's human-normalised IQM; `tables` maps an
  agent's name to its `evaluate_checkpoint` table, games in the same order."""
  agents = list(tables)
  first = tables[agents[0]]
  lines = ['| game | data mean score | ' + ' | '.join(agents) + ' |',
           '|---|---:|' + '---:|' * len(agents)]
  for row_number, row in enumerate(first['games']):
    scores = [tables[agent]['games'][row_number]['mean_score']
              for agent in agents]
    cells = [f'**{score:.1f}**' if score > row['data_mean_score']
             else f'{score:.1f}' for score in scores]
    lines.append(f"| {row['game']} | {row['data_mean_score']:.1f} | "
                 + ' | '.join(cells) + ' |')
  lines.append('| human-normalised IQM | | ' + ' | '.join(
      f"{tables[agent]['human_normalized']['iqm']:.3f}" for agent in agents)
      + ' |')
  return '\n'.join(lines)


def evaluate_checkpoint(path: str, episodes: int, max_episode_frames: int,
                        seed: int, dataset: Optional[str] = None,
                        checkpoints: str = 'first 20%',
                        workdir: Optional[str] = None) -> Dict[str, Any]:
  """Plays, tabulates, writes results and plots; returns the table."""
  loaded = checkpoint_loading.load_checkpoint(path)
  games = loaded.builder.config.games
  logging.info('Evaluating %s (learner step %d) on %s, %d episodes each.',
               path, loaded.step, list(games), episodes)
  evaluator = checkpoint_loading.make_evaluator(loaded, episodes,
                                                max_episode_frames, seed)
  dataset_scores = (dataset_scores_lib.dataset_mean_scores(
      dataset, games, checkpoints) if dataset else {})
  evaluation = evaluator.evaluate(
      loaded.step, should_stop=lambda: endings.dropped_stop_signal() is not None)
  endings.raise_dropped_stop_signal()  # evaluate() returned None: stopped.
  table = results_table(evaluation, dataset_scores)
  table.update(checkpoint=path, learner_step=loaded.step,
               max_episode_frames=max_episode_frames)
  if workdir:
    directory = os.path.join(workdir, 'evaluation')
    # JSON first: a table that is not strict JSON leaves both files as they
    # were.
    atomic_files.write_json_atomically(os.path.join(directory, 'results.json'),
                                       table)
    atomic_files.write_text_atomically(os.path.join(directory, 'results.md'),
                                       format_table(table))
    table['plots'] = plots.plot_all(
        workdir, dataset_scores,
        final_scores={row['game']: row['mean_score'] for row in table['games']},
        final_step=loaded.step,
        final_label=f'{episodes}-episode evaluation')
  return table
