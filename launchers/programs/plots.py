"""Learning curves of a pre-training run, as PNG files, from its CSV logs."""

import csv
import os
from typing import Dict, List, Mapping, Optional

import matplotlib

matplotlib.use('Agg')  # Files only; no display is needed or assumed.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

from launchers.programs import atomic_files  # pylint: disable=g-import-not-at-top

_LEARNER_METRICS = ('td_loss', 'cql_loss', 'dr3_loss', 'q_mean', 'grad_norm',
                    'feature_norm', 'feature_cosine')


def read_log(workdir: str, label: str) -> List[Dict[str, str]]:
  """Rows of <workdir>/logs/<label>/logs.csv; [] when there is none.

  A resumed run appends to the same file and may repeat steps logged after
  its last checkpoint; the later row of a repeated step wins. A header line
  repeated inside the file (two runs that wrote it at once, before a run
  held its work directory alone) is not a row.
  """
  path = os.path.join(workdir, 'logs', label, 'logs.csv')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    rows = [row for row in csv.DictReader(f)
            if any(value != key for key, value in row.items())]
  latest = {}
  for row in rows:
    latest[(row.get('game'), int(float(row['learner_steps'])))] = row
  return sorted(latest.values(), key=lambda row: int(float(row['learner_steps'])))


def plot_learner(workdir: str, output_path: str) -> Optional[str]:
  rows = read_log(workdir, 'learner')
  metrics = [m for m in _LEARNER_METRICS if rows and m in rows[0]]
  if not metrics:
    return None
  steps = [int(float(row['learner_steps'])) for row in rows]
  figure, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3))
  for axis, metric in zip(axes, metrics):
    axis.plot(steps, [float(row[metric]) for row in rows], linewidth=1)
    axis.set_title(metric)
    axis.set_xlabel('learner step')
    axis.grid(alpha=0.3)
  return atomic_files.save_figure_atomically(figure, output_path)


def plot_evaluation(workdir: str, output_path: str,
                    dataset_scores: Optional[Mapping[str, float]] = None,
                    final_scores: Optional[Mapping[str, float]] = None,
                    final_step: Optional[int] = None,
                    final_label: str = 'final evaluation') -> Optional[str]:
  """Mean raw score per game against learner steps; the data's mean dashed;
  `final_scores` (e.g. launchers.evaluate's longer evaluation at
  `final_step`) as a separate marker."""
  rows = read_log(workdir, 'evaluator')
  if not rows:
    return None
  games = sorted({row['game'] for row in rows})
  figure, axes = plt.subplots(1, len(games), figsize=(4 * len(games), 3.2),
                              squeeze=False)
  for axis, game in zip(axes[0], games):
    game_rows = [row for row in rows if row['game'] == game]
    axis.plot([int(float(r['learner_steps'])) for r in game_rows],
              [float(r['mean_return']) for r in game_rows], marker='o',
              label='agent')
    if final_scores and game in final_scores:
      axis.plot([final_step], [final_scores[game]], marker='*', markersize=12,
                linestyle='none', color='tab:red', label=final_label)
    if dataset_scores and game in dataset_scores:
      axis.axhline(dataset_scores[game], color='gray', linestyle='--',
                   label='data mean')
    axis.legend(fontsize=8)
    axis.set_title(game)
    axis.set_xlabel('learner step')
    axis.set_ylabel('mean game score')
    axis.grid(alpha=0.3)
  return atomic_files.save_figure_atomically(figure, output_path)


def plot_all(workdir: str,
             dataset_scores: Optional[Mapping[str, float]] = None,
             **final_evaluation) -> List[str]:
  """Writes <workdir>/plots/{learner,evaluation}.png; returns their paths.

  `final_evaluation`: final_scores, final_step, final_label of
  plot_evaluation.
  """
  directory = os.path.join(workdir, 'plots')
  os.makedirs(directory, exist_ok=True)
  written = [
      plot_learner(workdir, os.path.join(directory, 'learner.png')),
      plot_evaluation(workdir, os.path.join(directory, 'evaluation.png'),
                      dataset_scores, **final_evaluation),
  ]
  return [path for path in written if path]
