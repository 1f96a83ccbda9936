"""Known third-party noise is dropped from the programs' output, and only that."""

import logging
import os
import subprocess
import sys

from launchers.programs import quiet_output

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_only_deprecations_reported_in_installed_packages_are_noise():
  installed = os.path.join(quiet_output.THIRD_PARTY_DIRECTORIES[0], 'acme',
                           'jax', 'utils.py')
  ours = os.path.join(REPO_ROOT, 'launchers', 'programs', 'evaluator.py')
  assert quiet_output.is_noisy_warning(DeprecationWarning, installed)
  assert not quiet_output.is_noisy_warning(DeprecationWarning, ours)
  assert not quiet_output.is_noisy_warning(UserWarning, installed)


def test_known_log_lines_are_noise_and_others_are_not():
  def record(module, message):
    return logging.LogRecord(module, logging.INFO, f'/x/{module}.py', 1,
                             message, (), None)
  assert quiet_output.is_noisy_log_line(record('courier_utils', 'Binding: run'))
  assert quiet_output.is_noisy_log_line(
      record('xla_bridge', "Unable to initialize backend 'tpu'"))
  assert not quiet_output.is_noisy_log_line(
      record('learner_runner', 'Checkpoint at learner step 20'))
  assert not quiet_output.is_noisy_log_line(record('courier_utils', 'Other'))


def test_verbose_is_read_from_the_command_line():
  assert quiet_output.verbose_requested(['prog', '--verbose'])
  assert quiet_output.verbose_requested(['prog', '-v', '1'][:1] + ['-v=1'])
  assert quiet_output.verbose_requested(['prog', '--verbosity=2'])
  assert not quiet_output.verbose_requested(['prog', '--verbosity=0'])
  assert not quiet_output.verbose_requested(['prog', '--workdir=/tmp/v'])


def test_a_command_prints_its_own_lines_and_verbose_brings_the_noise_back(
    tiny_atari_dataset, tmp_path):
  command = [sys.executable, '-m', 'launchers.pretrain',
             f'--dataset={tiny_atari_dataset}', '--checkpoints=all',
             f'--workdir={tmp_path}', '--check_data']
  quiet = subprocess.run(command, capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=300)
  loud = subprocess.run(command + ['--verbose'], capture_output=True,
                        text=True, cwd=REPO_ROOT, timeout=300)
  assert quiet.returncode == 0 and loud.returncode == 0, loud.stderr[-3000:]
  for process in (quiet, loud):
    assert process.stdout.splitlines()[-1] == 'data OK'
    assert 'Pong: ' in process.stdout and 'Breakout: ' in process.stdout
  for noise in ('TensorInfo.dtype', 'Load dataset info', 'Gym has been'):
    assert noise not in quiet.stderr, quiet.stderr[-3000:]
  assert 'TensorInfo.dtype' in loud.stderr
  assert 'Gym has been' in loud.stderr
