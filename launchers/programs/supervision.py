"""What the launching process does about its nodes' failures and its own
death (used by stop.launch).

* **A failed node ends the program.** Launchpad's worker manager stops the
  program when a node fails, but under local_mp (current terminal) it starts
  each node behind a bash wrapper that it watches through psutil, which
  cannot see an exit status: a node that failed at start-up went unnoticed
  and the launcher waited forever. `start_node_processes` starts the node
  processes itself, as `subprocess.Popen` workers of the manager, whose exit
  statuses the manager checks.
* **No orphans.** Each node process gets PR_SET_PDEATHSIG = SIGKILL: the
  kernel kills it when the launching process dies, SIGKILL included (before,
  learner, counter and evaluator lived on with parent pid 1, training and
  checkpointing into the work directory).
* **Expendable nodes** (the online program's actors): one that fails is
  logged, with which node and why, and the program goes on with the others;
  once none is left, the program is stopped as failed. `run_expendable`
  runs such a node's work (under local_mt an error stays in its thread);
  under local_mp, its process's exit status is reported instead.

Node output keeps Launchpad's "[group/index] " line prefix (no colours).
"""

import contextlib
import ctypes
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import traceback
from typing import Callable, Dict, Iterator, List, Sequence

from absl import logging
from launchpad.launch import worker_manager

from launchers.programs import endings

_PR_SET_PDEATHSIG = 1


@dataclasses.dataclass
class NodeEnd:
  """An expendable node that ended by a failure."""
  node: str
  reason: str


class Supervision:
  """The launching process's record of one program's expendable nodes."""

  def __init__(self, expendable_groups: Sequence[str] = ()):
    self.expendable_groups = tuple(expendable_groups)
    self.num_expendable = 0
    self.failures: List[NodeEnd] = []
    self._lock = threading.Lock()
    self.all_expendable_failed = threading.Event()

  def count_expendable(self, groups: Dict[str, int]):
    self.num_expendable = sum(count for group, count in groups.items()
                              if group in self.expendable_groups)

  def report_failure(self, node: str, reason: str):
    logging.error('Node %s failed (%s); the program goes on without it.',
                  node, reason)
    with self._lock:
      self.failures.append(NodeEnd(node, reason))
      if self.num_expendable and len(self.failures) >= self.num_expendable:
        self.all_expendable_failed.set()

  def summary(self) -> str:
    """'actors: 1 of 2 finished (actor/1: killed by SIGKILL)'-like line."""
    groups = '/'.join(self.expendable_groups)
    line = (f'{groups} nodes: {self.num_expendable - len(self.failures)} of '
            f'{self.num_expendable} finished')
    if self.failures:
      line += ' (' + '; '.join(f'{end.node} failed: {end.reason}'
                               for end in self.failures) + ')'
    return line


# The program being launched by this process (None in node processes).
_CURRENT: List[Supervision] = []


def current() -> Supervision:
  return _CURRENT[-1]


def in_launching_process() -> bool:
  """Whether this process launches a program (local_mt nodes run in it);
  false in a local_mp node process."""
  return bool(_CURRENT)


@contextlib.contextmanager
def supervising(supervision: Supervision) -> Iterator[Supervision]:
  """Makes `supervision` the one of the program this process launches."""
  _CURRENT.append(supervision)
  try:
    yield supervision
  finally:
    _CURRENT.remove(supervision)


def run_expendable(node: str, run: Callable[[], None]):
  """Runs an expendable node's work. In the launching process (local_mt),
  an error is reported and ends this node only; in a node process of its
  own (local_mp), the error's traceback is printed and the process exits at
  once with status endings.FAILED, which the launcher reports even when it
  sees it after the stop (a process that exits the usual way can outlive
  the program's stop on a busy machine, and the stop's SIGTERM then ends
  it: a clean node's end)."""
  try:
    run()
  except Exception as e:  # pylint: disable=broad-except
    if not in_launching_process():
      traceback.print_exc()
      logging.flush()
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(endings.FAILED)  # pylint: disable=protected-access
    logging.exception('%s raised:', node)
    current().report_failure(node, f'{type(e).__name__}: {e}')


def describe_exit_status(status: int) -> str:
  if status < 0:
    return f'killed by {signal.Signals(-status).name}'
  return f'exit status {status}'


class _ExpendableProcess(subprocess.Popen):
  """An expendable node's process: to the worker manager it always ends
  cleanly; a failure is reported to the program's Supervision instead.

  A nonzero exit status seen after the stop is the stop's (SIGTERM), except
  run_expendable's endings.FAILED."""

  node = ''
  supervision: Supervision = None
  stopping: Callable[[], bool] = staticmethod(lambda: False)
  _reported = False

  def wait(self, timeout=None):
    status = super().wait(timeout)
    failed = status == endings.FAILED or (status != 0 and not self.stopping())
    if failed and not self._reported:
      self._reported = True
      self.supervision.report_failure(self.node, describe_exit_status(status))
    return 0


def _die_with_launcher(launcher_pid: int, libc) -> Callable[[], None]:
  def in_child():
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != launcher_pid:  # The launcher died before prctl.
      os._exit(1)  # pylint: disable=protected-access
  return in_child


def _copy_output(node: str, stream):
  for line in stream:
    sys.stdout.write(f'[{node}] {line}')
    sys.stdout.flush()


class _NodeProcessManager(worker_manager.WorkerManager):
  """Launchpad's worker manager, given processes started here."""

  def __init__(self):
    super().__init__()
    self.output_threads: List[threading.Thread] = []
    self.processes: Dict[str, subprocess.Popen] = {}

  def failed_nodes(self) -> List[str]:
    """'learner/0 (exit status 1)' for each node process that failed by
    itself (one the stop's SIGTERM ended mid-start-up only if none did)."""
    failed = {node: process.returncode
              for node, process in self.processes.items()
              if not isinstance(process, _ExpendableProcess)
              and process.returncode not in (None, 0)}
    by_itself = {node: status for node, status in failed.items()
                 if status != -signal.SIGTERM} or failed
    return [f'{node} ({describe_exit_status(status)})'
            for node, status in by_itself.items()]

  def add_process(self, label: str, process: subprocess.Popen):
    # What WorkerManager.process_worker does with the process it starts.
    self.processes[label] = process
    with self._mutex:
      self._workers_count[label] += 1
      self._active_workers[label].append(process)

  def wait_for_output(self):
    for thread in self.output_threads:
      # Ends at the end of the node's output; a bound in case a process the
      # node started holds it open.
      thread.join(timeout=10)


def start_node_processes(commands_to_launch, supervision: Supervision):
  """Launchpad's current-terminal start of local_mp node processes
  (launch_local_current_terminal), as the module docstring says.

  Call it from a thread that lives as long as the program (stop.launch
  runs in the main thread): the kernel's parent-death signal follows the
  thread that started the process."""
  manager = _NodeProcessManager()
  libc = ctypes.CDLL(None, use_errno=True)
  for command in commands_to_launch:
    expendable = command.title.split('/')[0] in supervision.expendable_groups
    process = (_ExpendableProcess if expendable else subprocess.Popen)(
        command.command_as_list,
        env={**os.environ, **command.env_overrides, 'PYTHONUNBUFFERED': '1'},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        errors='replace',
        preexec_fn=_die_with_launcher(os.getpid(), libc))
    if expendable:
      process.node, process.supervision = command.title, supervision
      process.stopping = lambda: manager.wait_for_stop(0)
    logging.info('Node %s: pid %d.', command.title, process.pid)
    thread = threading.Thread(target=_copy_output,
                              args=(command.title, process.stdout),
                              daemon=True, name=f'output_{command.title}')
    thread.start()
    manager.output_threads.append(thread)
    manager.add_process(command.title, process)
  return manager
