r"""The study's report: tables and plots from the committed result files.

Reads only <results_dir>/<study>/<method>/seed_<k>.json
(benchmarks.study.results) and writes <output_dir>/<study>/REPORT.md with
per-game final scores and areas under the learning curve, aggregate IQM and
mean (95% stratified bootstrap CIs over games x seeds, as rliable computes
them), and the PNGs it shows:

  python -m benchmarks.study.report                # the default study
  python -m benchmarks.study.report --study=offline_finetuning_v1
"""

import collections
import os
from typing import Dict, List, Mapping, Sequence

from absl import app
from absl import flags
import matplotlib

matplotlib.use('Agg')  # Files only; no display is needed or assumed.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from benchmarks.study import config as study_config  # pylint: disable=g-import-not-at-top
from benchmarks.study import results as results_lib
from benchmarks.study import statistics
from launchers.programs import atomic_files

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEFAULT_OUTPUT_DIR = os.path.join(_REPO_ROOT, 'docs', 'study')


def curve_area(curve: Sequence[Mapping], game: str,
               steps_key: str = 'learner_steps') -> float:
  """The learning curve's mean score over the steps it spans (trapezoid
  area / span, steps read from `steps_key`); NaN with fewer than two
  evaluations of `game`."""
  points = sorted((p[steps_key], p['mean_scores'][game])
                  for p in curve if game in p['mean_scores'])
  if len(points) < 2:
    return float('nan')
  steps, scores = np.array(points, np.float64).T
  area = np.sum(np.diff(steps) * (scores[1:] + scores[:-1]) / 2)
  return float(area / (steps[-1] - steps[0]))


class StudyTables:
  """The numbers of the report, computed once from the result files.

  Attributes:
    online: the study fine-tunes online on game variants (no dataset: the
      scores are normalised to random play and humans only).
    steps_key: the curves' x-axis, 'learner_steps' or (online)
      'env_steps'.
    normalisations: the aggregates' normalisations, the first one the
      comparisons' ('data' then 'human'; online 'human').
    games: the games (online: variant labels), in the study's order.
    methods: methods with at least one result, in the study's order.
    runs: method -> its results, by seed.
    reference: game -> reference scores (identical in every result file).
    per_game: method -> game -> Estimate of the mean score over seeds.
    area: method -> game -> Estimate of the mean over seeds of the area
      under the learning curve (the curve's mean score over the learner
      steps it spans, trapezoid rule), or None where runs lack a curve.
    aggregates: normalisation -> method -> {'iqm', 'mean'}.
  """

  def __init__(self, results: Sequence[Mapping], study, reps: int = 20_000):
    if not results:
      raise results_lib.ResultError(f'No results of study {study.name}.')
    self.online = isinstance(study, study_config.OnlineStudy)
    self.steps_key = 'env_steps' if self.online else 'learner_steps'
    self.normalisations = ('human',) if self.online else ('data', 'human')
    self.games = list(study.games if self.online else study.dataset.games)
    by_method = collections.defaultdict(list)
    for result in results:
      if list(result['games']) != self.games:
        raise results_lib.ResultError(
            f'{result["method"]} seed {result["seed"]} has games '
            f'{result["games"]}, the study {self.games}.')
      by_method[result['method']].append(result)
    labels = [m.name for m in study.methods] + [
        label for label, _, _ in study_config.baseline_methods(study)]
    self.methods = [label for label in labels if label in by_method]
    self.runs = {m: by_method[m] for m in self.methods}
    self.reference = results[0]['reference']
    for result in results[1:]:
      if result['reference'] != self.reference:
        raise results_lib.ResultError(
            f'{result["method"]} seed {result["seed"]} was measured against '
            'other reference scores (another recording of the data).')
    self.per_game = {}
    for method, runs in self.runs.items():
      scores = self.score_matrix(method, 'raw')
      self.per_game[method] = {
          game: statistics.interval_estimates(
              {method: scores[:, [i]]}, reps=reps)[method]['mean']
          for i, game in enumerate(self.games)}
    self.area = {}
    for method in self.methods:
      areas = np.array([[curve_area(result['curve'], game, self.steps_key)
                         for game in self.games]
                        for result in self.runs[method]])
      self.area[method] = {
          game: (None if np.isnan(areas[:, i]).any() else
                 statistics.interval_estimates(
                     {method: areas[:, [i]]}, reps=reps)[method]['mean'])
          for i, game in enumerate(self.games)}
    self.aggregates = {
        normalisation: statistics.interval_estimates(
            {m: self.score_matrix(m, normalisation) for m in self.methods},
            reps=reps)
        for normalisation in self.normalisations}

  def score_matrix(self, method: str, normalisation: str) -> np.ndarray:
    """[seeds, games] final mean scores: 'raw', 'data' or 'human'
    normalised."""
    rows = []
    for result in self.runs[method]:
      row = []
      for game in self.games:
        score = result['final'][game]['mean_score']
        reference = self.reference[game]
        if normalisation == 'data':
          score = statistics.data_normalised(
              score, reference['data_score'], reference['best_score'])
        elif normalisation == 'human':
          score = ((score - reference['random_score']) /
                   (reference['human_score'] - reference['random_score']))
        row.append(score)
      rows.append(row)
    return np.asarray(rows)


def _interval(estimate: statistics.Estimate, digits: int = 1) -> str:
  return (f'{estimate.point:.{digits}f} '
          f'[{estimate.low:.{digits}f}, {estimate.high:.{digits}f}]')


def _reference_table(tables: StudyTables) -> List[str]:
  if tables.online:
    lines = ['| variant | uniform random | human |', '|---|---:|---:|']
    lines += [f'| {game} | {tables.reference[game]["random_score"]:.1f} | '
              f'{tables.reference[game]["human_score"]:.1f} |'
              for game in tables.games]
    return lines
  lines = ['| game | uniform random | learned-from data | all data | best '
           'checkpoint | human |', '|---|---:|---:|---:|---:|---:|']
  for game in tables.games:
    r = tables.reference[game]
    lines.append(f'| {game} | {r["random_score"]:.1f} | {r["data_score"]:.1f}'
                 f' | {r["all_data_score"]:.1f} | {r["best_score"]:.1f} | '
                 f'{r["human_score"]:.1f} |')
  return lines


def _per_game_table(tables: StudyTables, estimates: Mapping,
                    bold_above_data: bool) -> List[str]:
  lines = ['| method | seeds | ' + ' | '.join(tables.games) + ' |',
           '|---|---:|' + '---:|' * len(tables.games)]
  for method in tables.methods:
    cells = []
    for game in tables.games:
      estimate = estimates[method][game]
      if estimate is None:
        cells.append('no curve')
        continue
      cell = _interval(estimate)
      above = bold_above_data and (
          estimate.low > tables.reference[game]['data_score'])
      cells.append(f'**{cell}**' if above else cell)
    lines.append(f'| {method} | {len(tables.runs[method])} | '
                 + ' | '.join(cells) + ' |')
  return lines


def markdown(tables: StudyTables, study, plots: Mapping[str, str]) -> str:
  """REPORT.md's text."""
  if tables.online:
    setting = (f'{len(tables.games)} game variants '
               f'({", ".join(tables.games)}), fine-tuned online for '
               f'{study.num_env_steps:,} environment steps per variant '
               f'({study.launch_type}, Reverb replay)')
    steps = 'environment steps'
  else:
    setting = (f'{len(tables.games)} games ({", ".join(tables.games)}), '
               f'learning from checkpoints "{study.dataset.learn_from}" of '
               f'{study.dataset.num_checkpoints}; {study.num_steps:,} learner '
               'steps per run')
    steps = 'learner steps'
  lines = [f'# Study {study.name}: results', '',
           f'{setting}; final evaluation {study.final_episodes} episodes '
           'per game with sticky actions. Intervals: 95% stratified '
           'bootstrap over seeds (per game: over seeds only).', '',
           '## Reference scores (mean game score)', '']
  lines += _reference_table(tables)
  lines += ['', '## Final scores per game (mean over seeds [95% CI])', '']
  lines += _per_game_table(tables, tables.per_game,
                           bold_above_data=not tables.online)
  if not tables.online:
    lines += ['', 'Bold: the whole interval lies above the learned-from '
              "data's mean score."]
  lines += ['', '## Area under the learning curve per game (mean score over '
            f'the {steps} the curve spans, mean over seeds [95% CI])', '']
  lines += _per_game_table(tables, tables.area, bold_above_data=False)
  lines += ['', f'The curves: {study.curve_episodes} episodes per game every '
            f'{study.eval_every_steps:,} learner steps, from step 0.', '',
            '## Aggregates over games x seeds', '']
  header = '| method | runs | '
  for normalisation in tables.normalisations:
    header += (f'{normalisation}-normalised IQM | '
               f'{normalisation}-normalised mean | ')
  lines += [header.rstrip(),
            '|---|---:|' + '---:|' * 2 * len(tables.normalisations)]
  for method in tables.methods:
    cells = []
    for normalisation in tables.normalisations:
      estimate = tables.aggregates[normalisation][method]
      cells += [_interval(estimate['iqm'], 3),
                _interval(estimate['mean'], 3)]
    lines.append(f'| {method} | {len(tables.runs[method])} | '
                 + ' | '.join(cells) + ' |')
  if not tables.online:
    lines += ['', 'Data-normalised: 0 is the learned-from data\'s mean '
              'score, 1 the best behaviour checkpoint\'s.']
  lines += ['', 'Human-normalised: 0 is uniform random play, 1 the '
            'published human score.', '']
  lines += ['## Comparisons', '']
  lines += comparisons(tables, study.focus)
  lines += ['', '## Plots', '']
  lines += [f'![{name}]({os.path.basename(path)})'
            for name, path in plots.items()]
  lines += ['', '## Methods', '']
  lines += [f'- `{m.name}`: {m.description}' for m in study.methods
            if m.name in tables.methods]
  lines += [f'- `{label}`: {m.description} (study {other.name}, '
            f'{other.num_steps:,} learner steps per run)'
            for label, m, other in study_config.baseline_methods(study)
            if label in tables.methods]
  return '\n'.join(lines) + '\n'


def comparisons(tables: StudyTables, focus: str) -> List[str]:
  """Plain sentences on the `focus` method against its data (offline) and
  every other method, on the first normalisation's IQM and then its mean,
  where the results allow."""
  normalisation = tables.normalisations[0]
  aggregates = tables.aggregates[normalisation]
  if focus not in aggregates:
    return [f'No results of {focus} yet.']
  runs = {method: len(tables.runs[method]) for method in tables.methods}
  lines = []
  for statistic, label in (('iqm', 'IQM'), ('mean', 'mean')):
    name = f'{normalisation}-normalised {label}'
    ours = aggregates[focus][statistic]
    if not tables.online:
      if runs[focus] < 2:
        verdict = ('above' if ours.point > 0 else 'below'
                   if ours.point < 0 else 'at')
        verdict += (' the data (0), from one run: no interval, no conclusion '
                    'yet')
      else:
        verdict = ('above' if ours.low > 0 else
                   'below' if ours.high < 0 else 'not distinguishable from')
        verdict += ' the data (0)'
      lines.append(f'- {focus} vs its data: {name} {_interval(ours, 3)}, '
                   f'{verdict}.')
    for method in tables.methods:
      if method == focus:
        continue
      other = aggregates[method][statistic]
      if min(runs[focus], runs[method]) < 2:
        relation = (f'{focus} is ' + ('higher' if ours.point > other.point
                                       else 'lower') +
                    ', from one run of one of them: no interval, no '
                    'conclusion yet')
      elif statistics.intervals_overlap(ours, other):
        relation = 'the intervals overlap'
      elif ours.low > other.high:
        relation = f'{focus} is higher, the intervals do not overlap'
      else:
        relation = f'{focus} is lower, the intervals do not overlap'
      lines.append(f'- {focus} vs {method} ({name}): {_interval(ours, 3)} vs '
                   f'{_interval(other, 3)}; {relation}.')
  return lines


def plot_per_game(tables: StudyTables, path: str) -> str:
  """Bars per game: methods side by side with CIs; data lines."""
  figure, axes = plt.subplots(1, len(tables.games),
                              figsize=(4.5 * len(tables.games), 3.8))
  axes = np.atleast_1d(axes)
  for axis, game in zip(axes, tables.games):
    for i, method in enumerate(tables.methods):
      estimate = tables.per_game[method][game]
      axis.bar(i, estimate.point, width=0.7,
               yerr=[[estimate.point - estimate.low],
                     [estimate.high - estimate.point]], capsize=3,
               label=method)
    reference = tables.reference[game]
    if not tables.online:
      axis.axhline(reference['data_score'], color='black', linestyle='--',
                   label='learned-from data')
      axis.axhline(reference['all_data_score'], color='grey', linestyle=':',
                   label='all data')
    axis.axhline(reference['random_score'], color='red', linestyle='-.',
                 label='uniform random')
    axis.set_xticks(range(len(tables.methods)))
    axis.set_xticklabels(tables.methods, rotation=45, ha='right')
    axis.set_title(game)
    axis.set_ylabel('mean game score')
  axes[-1].legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.0, 1.0))
  return atomic_files.save_figure_atomically(figure, path)


def plot_aggregates(tables: StudyTables, path: str) -> str:
  """IQM and mean (the first normalisation) with CIs, one row per method."""
  normalisation = tables.normalisations[0]
  figure, axes = plt.subplots(1, 2, figsize=(9, 0.5 * len(tables.methods)
                                             + 1.5))
  for axis, name in zip(axes, ('iqm', 'mean')):
    for row, method in enumerate(tables.methods):
      estimate = tables.aggregates[normalisation][method][name]
      axis.errorbar(estimate.point, row,
                    xerr=[[estimate.point - estimate.low],
                          [estimate.high - estimate.point]],
                    fmt='o', capsize=4)
    if tables.online:
      axis.axvline(0.0, color='red', linestyle='-.', label='random play (0)')
    else:
      axis.axvline(0.0, color='black', linestyle='--', label='data (0)')
      axis.axvline(1.0, color='grey', linestyle=':',
                   label='best checkpoint (1)')
    axis.set_yticks(range(len(tables.methods)))
    axis.set_yticklabels(tables.methods)
    axis.invert_yaxis()
    axis.set_xlabel(f'{normalisation}-normalised {name.upper()} (95% CI)')
  axes[0].legend(fontsize=7)
  return atomic_files.save_figure_atomically(figure, path)


def plot_curves(tables: StudyTables, path: str) -> str:
  """Evaluation score vs steps (learner steps; online: environment steps),
  mean over seeds with a min-max band. Seeds evaluated at other steps (an
  online program evaluates when the learner gets there) are interpolated
  onto the steps they all span."""
  figure, axes = plt.subplots(1, len(tables.games),
                              figsize=(4.5 * len(tables.games), 3.5))
  axes = np.atleast_1d(axes)
  for axis, game in zip(axes, tables.games):
    for method in tables.methods:
      curves = [sorted((p[tables.steps_key], p['mean_scores'][game])
                       for p in result['curve'] if game in p['mean_scores'])
                for result in tables.runs[method]]
      if not all(curves):
        continue
      low = max(curve[0][0] for curve in curves)
      high = min(curve[-1][0] for curve in curves)
      steps = sorted({step for curve in curves for step, _ in curve
                      if low <= step <= high})
      if not steps:
        continue
      values = np.array([np.interp(steps, *zip(*curve)) for curve in curves])
      line, = axis.plot(steps, values.mean(axis=0), label=method)
      axis.fill_between(steps, values.min(axis=0), values.max(axis=0),
                        color=line.get_color(), alpha=0.15)
    reference = tables.reference[game]
    if tables.online:
      axis.axhline(reference['random_score'], color='red', linestyle='-.',
                   label='uniform random')
    else:
      axis.axhline(reference['data_score'], color='black', linestyle='--',
                   label='learned-from data')
    axis.set_title(game)
    axis.set_xlabel(tables.steps_key.replace('_', ' ').replace(
        'env', 'environment'))
    axis.set_ylabel('mean game score')
  axes[-1].legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.0, 1.0))
  return atomic_files.save_figure_atomically(figure, path)


def read_results(results_dir: str, study) -> List[Mapping]:
  """`study`'s results and those of its baselines, each baseline's method
  relabelled '<study>/<method>'."""
  results = list(results_lib.read_all(results_dir, study.name))
  others = {}  # Each baseline study's files are read once.
  for label, method, other in study_config.baseline_methods(study):
    if other.name not in others:
      others[other.name] = list(results_lib.read_all(results_dir, other.name))
    results += [{**result, 'method': label} for result in others[other.name]
                if result['method'] == method.name]
  return results


def write_report(results_dir: str, output_dir: str,
                 study=study_config.STUDY,
                 reps: int = 20_000) -> Dict[str, str]:
  """Writes <output_dir>/<study>/REPORT.md and its PNGs; returns name ->
  path."""
  tables = StudyTables(read_results(results_dir, study), study, reps=reps)
  output_dir = os.path.join(output_dir, study.name)
  plots = {
      'final scores per game': plot_per_game(
          tables, os.path.join(output_dir, 'per_game.png')),
      'aggregates': plot_aggregates(
          tables, os.path.join(output_dir, 'aggregates.png')),
      'learning curves': plot_curves(
          tables, os.path.join(output_dir, 'curves.png')),
  }
  report = os.path.join(output_dir, 'REPORT.md')
  atomic_files.write_text_atomically(report, markdown(tables, study, plots))
  return {'report': report, **plots}


def _define_flags():
  """The command line's flags; defined only when it runs, so importing the
  report as a library defines none."""
  return (
      flags.DEFINE_enum('study', study_config.STUDY.name,
                        sorted(study_config.STUDIES),
                        'The study to report (benchmarks/study/config.py).'),
      flags.DEFINE_string('results_dir', results_lib.DEFAULT_RESULTS_DIR,
                          'Where the run result files are.'),
      flags.DEFINE_string('output_dir', DEFAULT_OUTPUT_DIR,
                          'REPORT.md and the PNGs go to <output_dir>/<study>.'),
      flags.DEFINE_integer('bootstrap_reps', 20_000,
                           'Bootstrap replications per interval.'))


def main(argv, study, results_dir, output_dir, reps):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  written = write_report(results_dir.value, output_dir.value,
                         study_config.study_named(study.value),
                         reps=reps.value)
  for path in written.values():
    print(path)


if __name__ == '__main__':
  _flags = _define_flags()
  app.run(lambda argv: main(argv, *_flags))
