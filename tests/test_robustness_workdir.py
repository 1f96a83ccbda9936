"""One run per work directory (issue 12: two runs at once in one --workdir)."""

import os
import signal
import subprocess
import sys

import pytest

from launchers.programs import endings
from launchers.programs import plots
from launchers.programs import workdir_lock

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Holds the lock of argv[1], says so, and waits for its stdin to close.
_HOLDER = ('import sys; from launchers.programs import workdir_lock; '
           'lock = workdir_lock.WorkdirLock(sys.argv[1]); '
           'print("held", flush=True); sys.stdin.read()')


@pytest.fixture
def held_by_another_process(tmp_path):
  holder = subprocess.Popen([sys.executable, '-c', _HOLDER, str(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=REPO_ROOT)
  assert holder.stdout.readline() == 'held\n'
  yield holder
  holder.kill()
  holder.wait()


def test_a_second_holder_is_refused_with_the_first_ones_pid(
    held_by_another_process, tmp_path):
  with pytest.raises(workdir_lock.WorkdirInUse) as refused:
    workdir_lock.WorkdirLock(str(tmp_path))
  assert f'in use by another run (pid {held_by_another_process.pid}:' in str(
      refused.value)


def test_the_lock_of_a_killed_run_is_free_at_once(held_by_another_process,
                                                  tmp_path):
  held_by_another_process.send_signal(signal.SIGKILL)
  held_by_another_process.wait()
  with workdir_lock.WorkdirLock(str(tmp_path)):
    with open(os.path.join(tmp_path, workdir_lock.LOCK_FILE)) as f:
      assert f.read().startswith(f'{os.getpid()}: ')
  # Released at the end of the block: the next run takes it.
  workdir_lock.WorkdirLock(str(tmp_path)).release()


def test_pretrain_refuses_a_workdir_in_use_before_training(
    held_by_another_process, tiny_atari_dataset, tmp_path):
  process = subprocess.run(
      [sys.executable, '-m', 'launchers.pretrain', '--games=Pong',
       f'--dataset={tiny_atari_dataset}', '--checkpoints=all',
       '--network_size=nature_dqn', '--num_steps=5', f'--workdir={tmp_path}'],
      capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
  assert process.returncode == endings.BAD_INPUT, process.stderr[-3000:]
  assert (f'error: Work directory {tmp_path} is in use by another run (pid '
          f'{held_by_another_process.pid}:') in process.stderr
  assert 'Traceback' not in process.stderr
  assert not os.path.exists(os.path.join(tmp_path, 'checkpoints'))
  assert not os.path.exists(os.path.join(tmp_path, 'logs'))


def test_a_log_with_a_repeated_header_still_reads(tmp_path):
  """What two runs at once in one work directory left (before the lock):
  two header lines in one logs.csv; the later evaluate crashed in its plot."""
  log = tmp_path / 'logs' / 'learner' / 'logs.csv'
  log.parent.mkdir(parents=True)
  log.write_text('learner_steps,td_loss\nlearner_steps,td_loss\n10,0.5\n'
                 'learner_steps,td_loss\n20,0.25\n')
  assert plots.read_log(str(tmp_path), 'learner') == [
      {'learner_steps': '10', 'td_loss': '0.5'},
      {'learner_steps': '20', 'td_loss': '0.25'}]
