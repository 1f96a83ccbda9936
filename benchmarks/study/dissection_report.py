r"""The dissections of a study side by side: one table and one figure.

Reads every <results_dir>/<study>/dissection/*.json (benchmarks.study.dissect)
and writes <output_dir>/<study>/DISSECTION.md with its PNG: per variant and
game, what the network learned on the data (how alike its features are
within a game, how much its Q-values vary over states, how often the greedy
action is one the data took) and what it did when it played (score, Q of the
actions taken against the discounted returns that followed). Variants
run with several seeds (the same changes, one dissection per seed) are also
summarised across their seeds: mean [min, max].

  python -m benchmarks.study.dissection_report --study=object_players_v1
"""

import glob
import json
import os
from typing import Dict, List, Mapping, Sequence

from absl import app
from absl import flags
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from benchmarks.study import config as study_config
from benchmarks.study import report
from benchmarks.study import results as results_lib
from launchers.programs import atomic_files


def read_dissections(results_dir: str, study_name: str) -> List[Mapping]:
  """The study's dissection results, in the order they finished."""
  paths = glob.glob(os.path.join(results_dir, study_name,
                                 results_lib.DISSECTION_SUBDIR,
                                 '*.json'))
  dissections = []
  for path in paths:
    with open(path) as file:
      dissections.append(json.load(file))
  return sorted(dissections, key=lambda d: d['run']['finished_at'])


def _changes(dissection: Mapping, study) -> str:
  """The dissection's --set changes to its study method, and its length."""
  learner = dissection['settings']['method']['learner']
  changes = learner[len(study.method(dissection['method']).learner):]
  text = ', '.join(f'{name}={value}' for name, value in changes) or '-'
  return f"{text}; {dissection['settings']['num_steps']:,} updates"


def table(dissections: Sequence[Mapping], study) -> List[str]:
  """Markdown rows: a variant's games, one row each."""
  lines = ['| variant | changes | seed | game | within-game cosine | Q std '
           'over states | greedy action share | data share of greedy action '
           '| score played | Q of actions taken | discounted return that '
           "followed | over-estimation | Q(s, a_data) - the data's return | "
           "correlation with the data's return | greedy = the player's "
           "action (data states) | other actions below the player's |",
           '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
           '---:|---:|---:|']
  for dissection in dissections:
    for game, on_data in dissection['on_data'].items():
      played = dissection['played'][game]
      # Dissections written before data_return_calibration existed lack it.
      calibration = on_data.get('data_returns')
      data_overestimation = ('-' if calibration is None else
                             f"{calibration['overestimation']:+.2f}")
      correlation = calibration and calibration['correlation']
      correlation = '-' if correlation is None else f'{correlation:+.3f}'
      # Only object players' data have it, and only dissections since it.
      versus_player = on_data.get('data_reference_player')
      player_cells = ('- | -' if versus_player is None else
                      f"{versus_player['agreement']:.3f} | "
                      f"{versus_player['reference_above_share']:.3f}")
      lines.append(
          f"| {dissection['name']} | {_changes(dissection, study)} | "
          f"{dissection['seed']} | {game} | "
          f"{on_data['within_game_cosine']:.4f} | "
          f"{on_data['q_state_std']:.4f} | "
          f"{on_data['greedy_action_share']:.2f} | "
          f"{on_data['greedy_action_data_share']:.3f} | "
          f"{np.mean(played['episode_returns']):.1f} "
          f"({len(played['episode_returns'])}) | "
          f"{played['mean_predicted']:.2f} | {played['mean_realised']:.2f} | "
          f"{played['overestimation']:+.2f} | "
          f"{data_overestimation} | {correlation} | {player_cells} |")
  return lines


# The across-seeds table's columns: (heading, the number of a dissection
# for one game, its format).
_SEED_SUMMARY_COLUMNS = (
    ('within-game cosine',
     lambda d, game: d['on_data'][game]['within_game_cosine'], '.3f'),
    ('Q std over states', lambda d, game: d['on_data'][game]['q_state_std'],
     '.3f'),
    ('greedy action share',
     lambda d, game: d['on_data'][game]['greedy_action_share'], '.2f'),
    ('over-estimation', lambda d, game: d['played'][game]['overestimation'],
     '+.2f'),
    ('score played',
     lambda d, game: float(np.mean(d['played'][game]['episode_returns'])),
     '.1f'),
    ("correlation with the data's return",
     lambda d, game: (d['on_data'][game].get('data_returns') or {}).get(
         'correlation'), '+.3f'),
    ("greedy = the player's action (data states)",
     lambda d, game: (d['on_data'][game].get('data_reference_player') or
                      {}).get('agreement'), '.3f'),
)


def seed_summary(dissections: Sequence[Mapping], study) -> List[str]:
  """Markdown rows, one per (changes, game) of changes dissected with more
  than one seed: mean [min, max] over the seeds of each column."""
  groups: Dict[str, List[Mapping]] = {}
  for dissection in dissections:
    groups.setdefault(_changes(dissection, study), []).append(dissection)
  lines = ['| changes | seeds | game | ' + ' | '.join(
      heading for heading, _, _ in _SEED_SUMMARY_COLUMNS) + ' |',
           '|---|---|---|' + '---:|' * len(_SEED_SUMMARY_COLUMNS)]
  for changes, group in groups.items():
    if len({d['seed'] for d in group}) < 2:
      continue
    seeds = ', '.join(str(d['seed']) for d in sorted(group,
                                                     key=lambda d: d['seed']))
    for game in group[0]['on_data']:
      cells = []
      for _, value, spec in _SEED_SUMMARY_COLUMNS:
        # Older dissections (and constant values) lack some numbers.
        values = [v for v in (value(d, game) for d in group) if v is not None]
        cells.append(f'{np.mean(values):{spec}} [{min(values):{spec}}, '
                     f'{max(values):{spec}}]' if values else '-')
      lines.append(f"| {changes} | {seeds} | {game} | {' | '.join(cells)} |")
  return lines if len(lines) > 2 else []


def plot(dissections: Sequence[Mapping], path: str) -> str:
  """Logged mean Q along training, and each game's over-estimation and
  within-game cosine, per variant."""
  games = list(dissections[0]['on_data'])
  figure, axes = plt.subplots(1, 3, figsize=(15, 3.8))
  width = 0.8 / len(dissections)
  for index, dissection in enumerate(dissections):
    curve = [(row['learner_steps'], row['q_mean'])
             for row in dissection['logged_q'] if 'q_mean' in row]
    if curve:
      axes[0].plot(*zip(*curve), label=dissection['name'], linewidth=0.8)
    positions = np.arange(len(games)) + (index - len(dissections) / 2 +
                                         0.5) * width
    axes[1].bar(positions, [dissection['played'][game]['overestimation']
                            for game in games], width,
                label=dissection['name'])
    axes[2].bar(positions,
                [1.0 - dissection['on_data'][game]['within_game_cosine']
                 for game in games], width, label=dissection['name'])
  axes[0].set_xlabel('learner steps')
  axes[0].set_ylabel("logged mean Q (batch's valid actions)")
  axes[1].set_ylabel('Q of actions taken - discounted return')
  axes[1].axhline(0.0, color='black', linewidth=0.5)
  axes[2].set_ylabel('1 - within-game feature cosine')
  axes[2].set_yscale('log')
  for axis in axes[1:]:
    axis.set_xticks(np.arange(len(games)))
    axis.set_xticklabels(games)
  axes[2].legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.0, 1.0))
  figure.tight_layout()
  return atomic_files.save_figure_atomically(figure, path)


def write_dissection_report(results_dir: str, output_dir: str,
                            study) -> Dict[str, str]:
  """Writes <output_dir>/<study>/DISSECTION.md and dissection.png; returns
  name -> path."""
  dissections = read_dissections(results_dir, study.name)
  if not dissections:
    raise ValueError(f'No dissections of {study.name} in {results_dir}; '
                     'run benchmarks.study.dissect first.')
  output_dir = os.path.join(output_dir, study.name)
  figure = plot(dissections, os.path.join(output_dir, 'dissection.png'))
  lines = [f'# Dissections of {study.name}', '',
           'Written by `python -m benchmarks.study.dissection_report '
           f'--study={study.name}` from `benchmarks/study/results/'
           f'{study.name}/dissection/`. Diagnostics on the data: on states '
           "of the learned-from data; played: the evaluation policy's "
           'episodes (their number in brackets).', '',
           '![dissection](dissection.png)', '',
           *table(dissections, study), '']
  summary = seed_summary(dissections, study)
  if summary:
    lines += ['## Across seeds', '', 'The same changes with several seeds: '
              'mean [min, max] over the seeds.', '', *summary, '']
  path = os.path.join(output_dir, 'DISSECTION.md')
  atomic_files.write_text_atomically(path, '\n'.join(lines))
  return {'report': path, 'figure': figure}


def _define_flags():
  """The command line's flags, defined only when it runs."""
  return dict(
      study=flags.DEFINE_enum('study', 'object_players_v1',
                              sorted(study_config.STUDIES),
                              'The study whose dissections are reported.'),
      results_dir=flags.DEFINE_string(
          'results_dir', results_lib.DEFAULT_RESULTS_DIR,
          'Where the dissection results are.'),
      output_dir=flags.DEFINE_string(
          'output_dir', report.DEFAULT_OUTPUT_DIR,
          'DISSECTION.md and its PNG go to <output_dir>/<study>.'))


def main(argv, study, results_dir, output_dir):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  try:
    written = write_dissection_report(
        results_dir.value, output_dir.value,
        study_config.study_named(study.value))
  except ValueError as error:
    raise app.UsageError(str(error))
  for path in written.values():
    print(path)


if __name__ == '__main__':
  _flags = _define_flags()
  app.run(lambda argv: main(argv, **_flags))
