"""A node that fails ends the program, a dead actor does not, and killing the
launcher takes every node with it (issue 12: a learner raising at start-up
hung local_mp and printed twice under local_mt; kill -9 of the launcher left
orphans; kill -9 of an actor went unreported). Real Launchpad programs
(tests/programs/supervised_program.py) through stop.launch."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from launchers.programs import endings
from launchers.programs import workdir_lock
from tests_support import checkpoint_steps

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAM = os.path.join('tests', 'programs', 'supervised_program.py')


def _run(launch_type, mode):
  process = subprocess.run([sys.executable, PROGRAM, launch_type, mode],
                           capture_output=True, text=True, cwd=REPO_ROOT,
                           timeout=300)
  return process, process.stdout + process.stderr


@pytest.mark.parametrize('launch_type', ['local_mt', 'local_mp'])
def test_a_node_failing_at_start_up_ends_the_program(launch_type):
  process, output = _run(launch_type, 'learner_fails')
  assert process.returncode == endings.FAILED, output[-5000:]
  assert 'Killing entire runtime' not in output
  # The node's traceback once (by Launchpad's manager under local_mt, by the
  # node's process under local_mp), and the last line naming it.
  assert output.count('Traceback (most recent call last)') == 1, output[-5000:]
  assert output.count('raise ValueError(\'the learner cannot start\')') == 1
  last = process.stdout.splitlines()[-1]
  if launch_type == 'local_mt':
    assert last == ('failed: a node failed: ValueError: the learner cannot '
                    'start')
  else:
    assert last == 'failed: node learner/0 (exit status 1) failed'


@pytest.mark.parametrize('launch_type', ['local_mt', 'local_mp'])
def test_an_actor_that_fails_is_reported_and_the_others_go_on(launch_type):
  process, output = _run(launch_type, 'actor_raises')
  assert process.returncode == 0, output[-5000:]
  assert ('Node actor/1 failed (RuntimeError: actor 1 gives up); the program '
          'goes on without it.') in output or (
              f'Node actor/1 failed (exit status {endings.FAILED})' in output
          ), output[-5000:]
  assert process.stdout.splitlines()[-1].startswith(
      'actor nodes: 1 of 2 finished (actor/1 failed: ')


def test_an_actor_that_fails_while_its_process_would_outlive_the_stop():
  """A failed node process that ended the usual way could end only after
  the stop, by the stop's SIGTERM, like a clean one: it is still reported."""
  process, output = _run('local_mp', 'actor_raises_exits_at_stop')
  assert process.returncode == 0, output[-5000:]
  failure = f'actor/1 failed: exit status {endings.FAILED}'
  assert (f'Node actor/1 failed (exit status {endings.FAILED}); the program '
          'goes on without it.') in output, output[-5000:]
  assert 'RuntimeError: actor 1 gives up' in output
  assert process.stdout.splitlines()[-1] == (
      f'actor nodes: 1 of 2 finished ({failure})')


def test_a_killed_actor_is_reported_and_the_others_go_on():
  process, output = _run('local_mp', 'actor_killed')
  assert process.returncode == 0, output[-5000:]
  assert 'Node actor/1 failed (killed by SIGKILL)' in output
  assert process.stdout.splitlines()[-1] == (
      'actor nodes: 1 of 2 finished (actor/1 failed: killed by SIGKILL)')


def test_when_every_actor_has_failed_the_program_fails():
  process, output = _run('local_mt', 'actors_raise')
  assert process.returncode == endings.FAILED, output[-5000:]
  assert 'No expendable node is left; stopping the program.' in output
  assert process.stdout.splitlines()[-1].startswith(
      'failed: every node of actor failed: actor/')


def _alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  # A zombie (dead, not yet reaped by its new parent) is not running.
  with open(f'/proc/{pid}/stat') as f:
    return f.read().split(') ')[1][0] != 'Z'


def test_sigkill_of_the_local_mp_launcher_takes_every_node_with_it():
  launcher = subprocess.Popen([sys.executable, PROGRAM, 'local_mp', 'forever'],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, cwd=REPO_ROOT)
  pids = {}
  for line in launcher.stdout:
    started = re.search(r'Node (\S+): pid (\d+)\.', line)
    if started:
      pids[started.group(1)] = int(started.group(2))
    # Every node is past its start-up once the learner serves and both
    # actors count on the counter.
    if len(pids) == 4 and all(_alive(pid) for pid in pids.values()):
      break
  assert len(pids) == 4, pids
  launcher.send_signal(signal.SIGKILL)
  launcher.wait()
  launcher.stdout.close()
  deadline = time.time() + 30
  while any(_alive(pid) for pid in pids.values()) and time.time() < deadline:
    time.sleep(0.1)
  assert not [node for node, pid in pids.items() if _alive(pid)]


def test_a_stop_during_a_node_start_up_ends_that_node_at_once():
  launcher = subprocess.Popen([sys.executable, PROGRAM, 'local_mp',
                               'slow_start'],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, cwd=REPO_ROOT)
  lines = []
  for line in launcher.stdout:
    lines.append(line)
    if '[learner/0] learner: starting up' in line:
      break
  launcher.send_signal(signal.SIGTERM)
  output = ''.join(lines) + launcher.communicate(timeout=300)[0]
  assert launcher.returncode == 0, output[-5000:]
  assert 'Killing entire runtime' not in output
  assert 'Stopped during start-up: nothing to save; exiting.' in output


def test_sigkill_of_a_training_launcher_leaves_no_node_behind(
    tiny_atari_dataset, tmp_path):
  """The issue's case: pre-training under local_mp, the launcher killed
  while the learner trains and checkpoints."""
  launcher = subprocess.Popen(
      [sys.executable, '-m', 'launchers.pretrain', '--lp_launch_type=local_mp',
       '--games=Pong', f'--dataset={tiny_atari_dataset}', '--checkpoints=all',
       '--network_size=nature_dqn', '--batch_size=8', '--num_steps=1000000',
       '--checkpoint_every_steps=5', '--eval_every_steps=1000000',
       f'--workdir={tmp_path}'],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)
  output = []
  reader = threading.Thread(target=lambda: output.extend(launcher.stdout),
                            daemon=True)
  reader.start()
  deadline = time.time() + 900  # A bound for a broken run only.
  while not checkpoint_steps(str(tmp_path)) and time.time() < deadline:
    assert launcher.poll() is None, ''.join(output)[-5000:]
    time.sleep(0.2)
  pids = dict(re.findall(r'Node (\S+): pid (\d+)\.', ''.join(output)))
  assert sorted(pids) == ['counter/0', 'evaluator/0', 'learner/0'], pids
  launcher.send_signal(signal.SIGKILL)
  launcher.wait()
  deadline = time.time() + 30
  while (any(_alive(int(pid)) for pid in pids.values()) and
         time.time() < deadline):
    time.sleep(0.1)
  assert not [node for node, pid in pids.items() if _alive(int(pid))]
  # Nothing holds the work directory: the same command can run again.
  workdir_lock.WorkdirLock(str(tmp_path)).release()
