"""The known-answer benchmark's report: its table rows from run records
(computed here by hand), its plot (one row of panels per task), and the
command line end to end."""

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from benchmarks import known_answer_runs


def _run(task, variant, seed, greedy, q_error, solved_at, returns,
         overrides=()):
  games = known_answer_runs.TASKS[task]
  curve = [{'update': update,
            'all': {'greedy_optimal': g, 'q_error': q, 'wait_excess': -0.1}}
           for update, g, q in zip((0, 250, 500), greedy, q_error)]
  return {
      'spec': {'task': task, 'variant': variant, 'seed': seed,
               'overrides': [list(o) for o in overrides], 'num_updates': 500,
               'eval_every': 250, 'discount': 0.9, 'episodes': 20},
      'curve': curve, 'solved_at': solved_at,
      'returns': {game: returns for game in games},
      'data_returns': {game: 0.1 for game in games},
      'random_returns': {game: 0.4 for game in games},
      'optimal_returns': {game: 1.0 for game in games}}


RUNS = [
    _run('two_game', 'chain', 0, (0.5, 0.9, 1.0), (0.5, 0.1, 0.02), 500, 1.0),
    _run('two_game', 'chain', 1, (0.5, 0.96, 0.98), (0.5, 0.04, 0.03), 250,
         0.8),
    _run('two_game', 'chain', 2, (0.5, 0.6, 0.7), (0.5, 0.3, 0.2), None, 0.4),
    _run('chain', 'chain', 0, (0.5, 1.0, 1.0), (0.4, 0.03, 0.01), 250, 1.0),
    _run('two_game', 'chain', 0, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), None, 0.0,
         overrides=(('cql_alpha', 0.3),)),
]


def test_table_rows_summarise_seeds_by_hand():
  text = known_answer_runs.report(RUNS)
  variants, changes = text.split('## One change at a time (--set)')
  row = [line for line in variants.splitlines()
         if line.startswith('| two_game | chain |')]
  assert len(row) == 1
  cells = [cell.strip() for cell in row[0].strip('|').split('|')]
  # Seeds 3; solved 2 of 3 at 500 and 250 (median 375); final greedy
  # 1.0 / 0.98 / 0.7 -> mean 0.893; q_error 0.02 / 0.03 / 0.2 -> 0.083;
  # returns (1.0 + 0.8 + 0.4) / 3 = 0.733.
  assert cells[4:8] == ['3', '2/3', '375', '0.89 [0.70, 1.00]']
  assert cells[8] == '0.08 [0.02, 0.20]'
  assert cells[10] == '0.73 / 0.10 / 0.40 / 1.00'
  assert '| chain | chain |' in variants
  assert '| two_game | chain cql_alpha=0.3 |' in changes
  assert 'cql_alpha=0.3' not in variants


def test_plot_has_a_row_of_panels_per_task(tmp_path):
  one_task = os.path.join(tmp_path, 'one.png')
  two_tasks = os.path.join(tmp_path, 'two.png')
  known_answer_runs.plot(RUNS[:3], one_task)
  known_answer_runs.plot(RUNS, two_tasks)
  height_one = Image.open(one_task).size[1]
  height_two = Image.open(two_tasks).size[1]
  np.testing.assert_allclose(height_two / height_one, 2.0, rtol=0.05)


def _run_command_line(*flags):
  """The benchmark as a user runs it: absl's app.run in a fresh process."""
  repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return subprocess.run(
      [sys.executable, '-m', 'benchmarks.known_answer_learning', *flags],
      cwd=repo_root, capture_output=True, text=True, timeout=600)


def test_the_command_line_records_trains_and_reports(tmp_path):
  """One tiny run's JSON, the table and the plot."""
  process = _run_command_line(
      '--tasks=chain', '--variants=chain', '--seeds=0', '--num_updates=20',
      '--eval_every=10', '--episodes=1', f'--output_dir={tmp_path}')
  assert process.returncode == 0, process.stderr[-3000:]
  run, = known_answer_runs.load_runs(os.path.join(tmp_path, 'runs'))
  assert [point['update'] for point in run['curve']] == [0, 10, 20]
  assert set(run['returns']) == {'KnownAnswerChain'}
  assert os.path.exists(os.path.join(tmp_path, 'results.md'))
  assert os.path.exists(os.path.join(tmp_path, 'value_error.png'))


def test_the_command_line_applies_a_change_and_reports_it(tmp_path):
  """A run with a --set change alone: the change is in its spec and its
  learner, and the report has its table but no curves of the variants."""
  process = _run_command_line(
      '--tasks=chain', '--variants=chain', '--seeds=0', '--num_updates=10',
      '--eval_every=10', '--episodes=1', '--set=cql_alpha=0.02',
      f'--output_dir={tmp_path}')
  assert process.returncode == 0, process.stderr[-3000:]
  run, = known_answer_runs.load_runs(os.path.join(tmp_path, 'runs'))
  assert run['spec']['overrides'] == [['cql_alpha', 0.02]]
  assert run['learner']['cql_alpha'] == 0.02
  assert 'cql_alpha=0.02' in run['name']
  assert os.path.exists(os.path.join(tmp_path, 'results.md'))
  assert not os.path.exists(os.path.join(tmp_path, 'value_error.png'))
  assert ('No plot: no run there is a variant as it stands (without --set '
          'changes) at gamma') in process.stdout


def test_the_command_line_refuses_a_setting_of_the_wrong_type(tmp_path):
  process = _run_command_line('--tasks=chain', '--set=cql_alpha=lots',
                              f'--output_dir={tmp_path}')
  assert process.returncode != 0
  assert "--set 'cql_alpha=lots': cql_alpha takes a float" in process.stderr
  assert not os.path.exists(os.path.join(tmp_path, 'runs'))
