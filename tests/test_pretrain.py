"""Offline pre-training: the Launchpad program, resume, stop, bad input."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from agents.scaled_ql import checkpointing
from launchers.programs import endings
from launchers.programs import offline_program
from tests_support import TINY_LEARNER
from tests_support import checkpoint_steps
from tests_support import csv_rows
from tests_support import tiny_experiment

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pretrain_command(dataset, workdir, *flags):
  return [sys.executable, '-m', 'launchers.pretrain', '--games=Pong,Breakout',
          f'--dataset={dataset}', '--checkpoints=all', '--network_size=nature_dqn',
          '--batch_size=8', '--eval_max_episode_frames=400',
          f'--workdir={workdir}', *flags]


@pytest.mark.parametrize('launch_type', ['local_mt', 'local_mp'])
def test_launchpad_program_trains_evaluates_and_stops_by_itself(
    launch_type, tiny_atari_dataset, tmp_path):
  process = subprocess.run(
      _pretrain_command(tiny_atari_dataset, tmp_path,
                        f'--lp_launch_type={launch_type}',
                        '--num_steps=300', '--checkpoint_every_steps=100',
                        '--eval_every_steps=100'),
      capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
  output = process.stdout + process.stderr
  assert process.returncode == 0, output[-5000:]
  assert 'Killing entire runtime' not in output
  assert 'Learner reached 300 steps; stopping the program.' in output
  assert checkpoint_steps(str(tmp_path))[-1] == 300
  assert process.stdout.splitlines()[-1].startswith(
      'finished: learner step 300 of 300, checkpoint ')
  learner_rows = csv_rows(str(tmp_path), 'learner')
  assert learner_rows and float(learner_rows[-1]['td_loss']) > 0
  evaluations = csv_rows(str(tmp_path), 'evaluator')
  assert {row['game'] for row in evaluations} == {'Pong', 'Breakout'}


def test_sigterm_stops_the_program_cleanly_with_a_final_checkpoint(
    tiny_atari_dataset, tmp_path):
  process = subprocess.Popen(
      _pretrain_command(tiny_atari_dataset, tmp_path, '--lp_launch_type=local_mt',
                        '--num_steps=1000000', '--checkpoint_every_steps=20',
                        '--eval_every_steps=1000000'),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)
  deadline = time.time() + 900  # A bound for a broken run only.
  while not checkpoint_steps(str(tmp_path)) and time.time() < deadline:
    time.sleep(0.5)
  process.send_signal(signal.SIGTERM)
  output, _ = process.communicate(timeout=600)
  assert process.returncode == endings.STOPPED, output[-5000:]
  assert 'Killing entire runtime' not in output
  steps = checkpoint_steps(str(tmp_path))
  assert steps[-1] >= 20
  assert f'Checkpoint at learner step {steps[-1]}' in output
  last = output.splitlines()[-1]
  assert last.startswith(
      f'stopped by SIGTERM: learner step {steps[-1]} of 1000000, checkpoint ')
  assert last.endswith('the same command resumes from it: python -m '
                       'launchers.pretrain ' + ' '.join(process.args[3:]))


def test_restarted_run_resumes_step_count_and_optimiser_state(
    tiny_atari_dataset, tmp_path):
  first = tiny_experiment(tiny_atari_dataset, tmp_path, num_steps=12)
  runner = first.make_learner_runner()
  runner.train(should_stop=lambda: False)
  assert runner.completed_steps() == 12
  saved = jax.device_get(runner.learner.save())

  resumed = tiny_experiment(tiny_atari_dataset, tmp_path, num_steps=20)
  resumed.validate()
  runner = resumed.make_learner_runner()
  assert runner.completed_steps() == 12
  restored = jax.device_get(runner.learner.save())
  assert int(restored.steps) == 12
  for a, b in zip(jax.tree_util.tree_leaves(saved),
                  jax.tree_util.tree_leaves(restored)):
    assert np.array_equal(a, b)  # Parameters, target, Adam moments, key.
  runner.train(should_stop=lambda: False)
  assert runner.completed_steps() == 20
  assert checkpoint_steps(str(tmp_path))[-1] == 20


def test_single_process_mode_trains_and_evaluates(tiny_atari_dataset, tmp_path):
  results = offline_program.run_single_process(
      tiny_experiment(tiny_atari_dataset, tmp_path, num_steps=20))
  assert set(results) == {'Pong', 'Breakout'}
  assert checkpoint_steps(str(tmp_path))[-1] == 20
  rounds = csv_rows(str(tmp_path), 'evaluator_aggregate')
  assert [int(row['learner_steps']) for row in rounds] == [0, 10, 20]


def test_checkpoint_of_another_game_set_is_refused_before_training(
    tiny_atari_dataset, tmp_path):
  runner = tiny_experiment(tiny_atari_dataset, tmp_path, num_steps=2).make_learner_runner()
  runner.train(should_stop=lambda: False)
  swapped = tiny_experiment(tiny_atari_dataset, tmp_path, games=('Breakout', 'Pong'))
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match=r"games: checkpoint has \['Pong', 'Breakout'\], this "
                           r"run has \['Breakout', 'Pong'\]"):
    swapped.validate()
  bigger = tiny_experiment(tiny_atari_dataset, tmp_path, learner=dataclasses.replace(
      TINY_LEARNER, network_size='resnet_tiny'))
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match="network_size: checkpoint has 'nature_dqn'"):
    bigger.validate()


def test_missing_dataset_is_a_clear_error(tmp_path):
  with pytest.raises(Exception, match='does not exist|not found|No such'):
    tiny_experiment(str(tmp_path / 'no_such_dataset'), tmp_path / 'work').validate()


def test_unknown_game_is_a_clear_error(tiny_atari_dataset, tmp_path):
  with pytest.raises(ValueError, match="Unknown Atari game 'Pongg'.*Did you mean"):
    tiny_experiment(tiny_atari_dataset, tmp_path, games=('Pongg',))


def test_game_absent_from_the_dataset_is_a_clear_error(tiny_atari_dataset, tmp_path):
  with pytest.raises(Exception, match='Freeway'):
    tiny_experiment(tiny_atari_dataset, tmp_path, games=('Pong', 'Freeway')).validate()


def test_builder_runs_in_acme_offline_distributed_layout(tiny_atari_dataset,
                                                         tmp_path):
  """Acme's own program (StepsLimiter, CheckpointingRunner) with our builder."""
  process = subprocess.run(
      [sys.executable, os.path.join('tests', 'programs', 'acme_offline_layout.py'),
       tiny_atari_dataset, str(tmp_path), '100'],
      capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
  output = process.stdout + process.stderr
  assert process.returncode == 0, output[-5000:]
  assert 'Killing entire runtime' not in output
  assert 'StepsLimiter: Max steps of 100 was reached, terminating' in output
