"""How a command ends: distinct exit statuses and a last line that says
completed, stopped (by which signal) or failed, at which step, and the
command that resumes it (issue 12: a SIGTERM stop ended like a completed
run)."""

import gc
import os
import signal
import subprocess
import sys
import time
import types

import pytest

from agents.scaled_ql import checkpointing
from launchers.programs import checkpoint_loading
from launchers.programs import endings
from launchers.programs import results
from launchers.programs import stop
from launchers.programs import workdir_lock
from tests_support import tiny_experiment

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def no_stop_signal_yet(monkeypatch):
  """This process's stop-signal record starts empty: an earlier test in
  the same process (a single-process stop) may have recorded a SIGTERM."""
  monkeypatch.setattr(endings, '_SIGNALS', endings._StopSignals())  # pylint: disable=protected-access


def _checkpoints(tmp_path, *steps):
  directory = str(tmp_path / 'checkpoints')
  checkpointer = checkpointing.Checkpointer(directory, {'games': ['Pong']})
  for step in steps:
    checkpointer.save(step, {'w': [step]})
  return directory


def test_statuses_are_distinct():
  assert len({endings.COMPLETED, endings.BAD_INPUT, endings.STOPPED,
              endings.FAILED, 137}) == 5


def test_a_run_at_its_budget_completed(tmp_path):
  status, line = endings.training_outcome(_checkpoints(tmp_path, 50, 100), 100)
  assert status == endings.COMPLETED
  assert line == (f'finished: learner step 100 of 100, checkpoint '
                  f'{tmp_path}/checkpoints/checkpoint-0000000100.npz')


def test_a_run_before_its_budget_was_stopped_and_says_how_to_resume(
    tmp_path, monkeypatch):
  monkeypatch.setattr(sys, 'argv', ['/repo/launchers/pretrain.py',
                                    '--num_steps=100', '--workdir=/tmp/a b'])
  monkeypatch.setattr(sys.modules['__main__'], '__spec__',
                      types.SimpleNamespace(name='launchers.pretrain'))
  status, line = endings.training_outcome(_checkpoints(tmp_path, 50), 100)
  assert status == endings.STOPPED
  assert line.startswith('stopped: learner step 50 of 100, checkpoint ')
  assert line.endswith("the same command resumes from it: python -m "
                       "launchers.pretrain --num_steps=100 '--workdir=/tmp/a "
                       "b'")


def test_a_failed_run_says_what_failed_and_where_it_stands(tmp_path):
  status, line = endings.training_outcome(_checkpoints(tmp_path), 100,
                                          failure='node learner/0 failed')
  assert status == endings.FAILED
  assert line.startswith('failed (node learner/0 failed): before the first '
                         'checkpoint (0 of 100 learner steps); after a fix, '
                         'the same command starts it again: ')


def _sigterm_dropped_in_a_garbage_collector_callback():
  """Python runs the handler inside a garbage-collector callback too, where
  its StopRequested is printed and dropped."""
  previous = {sig: signal.getsignal(sig)
              for sig in (signal.SIGTERM, signal.SIGINT)}

  def stop_during_collection(phase, info):
    del info
    if phase == 'start':
      signal.raise_signal(signal.SIGTERM)

  endings.install_stop_signals()
  gc.callbacks.append(stop_during_collection)
  try:
    gc.collect()
  finally:
    gc.callbacks.remove(stop_during_collection)
    for sig, handler in previous.items():
      signal.signal(sig, handler)
  assert endings.stop_signal_name() == 'SIGTERM'


@pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")  # The dropped raise.
def test_a_stop_signal_dropped_where_it_was_raised_stops_the_launch():
  _sigterm_dropped_in_a_garbage_collector_callback()
  with pytest.raises(endings.StopRequested):
    endings.hand_over_to_launchpad()


@pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")  # The dropped raise.
def test_a_stop_signal_dropped_where_it_was_raised_stops_a_single_process():
  with stop.signal_stop_check() as should_stop:
    assert not should_stop()
  _sigterm_dropped_in_a_garbage_collector_callback()
  with stop.signal_stop_check() as should_stop:
    assert should_stop()


@pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning")  # The dropped raise.
def test_a_stop_signal_dropped_where_it_was_raised_stops_an_evaluation(
    tiny_atari_dataset, tmp_path):
  # The command line's evaluation ran all its episodes when a SIGTERM landed
  # in a garbage-collector callback (seen in the suite: 1,000 episodes).
  tiny_experiment(tiny_atari_dataset, tmp_path,
                  num_steps=2).make_learner_runner().train(lambda: False)
  _sigterm_dropped_in_a_garbage_collector_callback()
  with pytest.raises(endings.StopRequested):
    results.evaluate_checkpoint(
        checkpoint_loading.checkpoint_path(str(tmp_path), None),
        episodes=2, max_episode_frames=400, seed=0,
        workdir=str(tmp_path))
  assert not os.path.exists(tmp_path / 'evaluation' / 'results.json')


def test_sigterm_during_start_up_ends_with_stopped_and_the_resume_command(
    tiny_atari_dataset, tmp_path):
  """SIGTERM as soon as the run holds its work directory: before or while
  Launchpad starts the program, the run ends as stopped, never killed."""
  command = [sys.executable, '-m', 'launchers.pretrain', '--games=Pong',
             f'--dataset={tiny_atari_dataset}', '--checkpoints=all',
             '--network_size=nature_dqn', '--batch_size=8',
             '--num_steps=100000', f'--workdir={tmp_path}']
  process = subprocess.Popen(command, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
  lock = os.path.join(tmp_path, workdir_lock.LOCK_FILE)
  while not (os.path.exists(lock) and os.path.getsize(lock)):
    assert process.poll() is None, process.communicate()
    time.sleep(0.05)
  process.send_signal(signal.SIGTERM)
  stdout, stderr = process.communicate(timeout=600)
  assert process.returncode == endings.STOPPED, (stdout + stderr)[-5000:]
  assert 'Killing entire runtime' not in stdout + stderr
  last = (stdout + stderr).strip().splitlines()[-1]
  assert last.startswith('stopped by SIGTERM'), last
  assert 'python -m launchers.pretrain --games=Pong' in last


def test_sigterm_during_an_evaluation_ends_with_stopped_and_no_results(
    tiny_atari_dataset, tmp_path):
  tiny_experiment(tiny_atari_dataset, tmp_path,
                  num_steps=2).make_learner_runner().train(lambda: False)
  process = subprocess.Popen(
      [sys.executable, '-m', 'launchers.evaluate', f'--workdir={tmp_path}',
       '--episodes=1000'],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)
  lines = []
  for line in process.stdout:
    lines.append(line)
    if 'Evaluating ' in line:  # Playing has begun.
      break
  process.send_signal(signal.SIGTERM)
  output = ''.join(lines) + process.communicate(timeout=300)[0]
  assert process.returncode == endings.STOPPED, output[-5000:]
  assert 'Traceback' not in output
  assert output.strip().splitlines()[-1] == (
      'stopped by SIGTERM before it finished; the same command runs it '
      f'again: python -m launchers.evaluate --workdir={tmp_path} '
      '--episodes=1000')
  assert not os.path.exists(tmp_path / 'evaluation' / 'results.json')
