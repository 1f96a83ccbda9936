"""The one stop protocol of the project's Launchpad programs (Launchpad 0.5.0).

A program stops when its learner reaches its budget (`lp.stop()`), on SIGTERM
or on Ctrl-C: Launchpad sets every node's stop event and kills the runtime
if a node is still running `--lp_termination_notice_secs` later. A node
cannot be interrupted while it is inside C++ (an RPC, a blocking Reverb read
or write, an XLA compilation), so every node follows the same rules:

* it asks "has the program stopped?" only through a `stop_check()` (a
  Launchpad node) or `signal_stop_check()` (a single process, no
  Launchpad): a `Callable[[], bool]` polled at every step, usable from any
  thread of the node;
* its first remote call to another node goes through `wait_until_serving`,
  which the stop ends (a call to a node that never came up waits inside
  gRPC forever);
* it reaches the counter only through `CounterClient`, which makes no
  call after the stop (a learner step or an episode can span it);
* serving nodes (learner, counter) keep serving SERVING_GRACE_SECONDS after
  the stop (`serve_until_stopped`), so a call started just before the stop
  completes;
* Reverb: the replay is drained for REPLAY_DRAIN_SECONDS after the stop
  (`ReplayNode`), which releases actors blocked on the rate limiter, and the
  learner reads the replay through `StopAwareIterator`, which ends at the
  stop however long a sample would block;
* the launching process alone enforces a TERMINATION_NOTICE_SECONDS notice
  (`launch`), long enough for nodes that are still starting up, and a node
  process stopped during its constructor ends at once
  (`ends_if_stopped_during_start_up`: it has nothing to save).

docs/ARCHITECTURE.md ("How a program stops") gives the measurements behind
each rule.
"""

import contextlib
from concurrent import futures
import functools
import os
import queue
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterator, Optional, Sequence, Tuple

from absl import flags
from absl import logging
import launchpad as lp
from launchpad.launch.run_locally import run_locally
from launchpad.nodes.python import local_multi_processing

from acme.utils import counting

from launchers.programs import endings
from launchers.programs import supervision as supervision_lib

# Longer than any single remote call of these programs (milliseconds), far
# shorter than the termination notice.
SERVING_GRACE_SECONDS = 1.0
# How long replay keeps being sampled after the stop so that no actor stays
# blocked on a rate limiter: longer than an actor needs to see the stop and
# flush (milliseconds), shorter than the termination notice.
REPLAY_DRAIN_SECONDS = 3.0
# Bounded waits inside the drain and StopAwareIterator (milliseconds).
_POLL_MS = 100
# Launchpad's default for the programs' launchers. A node sees the stop only
# once its start-up is over, and the learner then writes its final
# checkpoint and exits: on 2 cores kept busy by other jobs (load 5-7), the
# six node processes of the online program took 35-45 s to start, and a
# pre-training learner's end outlived a 30 s notice. A clean stop ends when
# the nodes end, however long the notice; the notice only bounds how long a
# node that hangs is waited for.
TERMINATION_NOTICE_SECONDS = 120


def use_termination_notice_default():
  """Makes TERMINATION_NOTICE_SECONDS the default of Launchpad's
  --lp_termination_notice_secs (a value given on the command line stays);
  command lines call it before flags are parsed so that --help shows it."""
  flags.FLAGS.set_default('lp_termination_notice_secs',
                          TERMINATION_NOTICE_SECONDS)


def launch(program: lp.Program, launch_type: Optional[str] = None,
           expendable_groups: Sequence[str] = ()) -> supervision_lib.Supervision:
  """Launches `program` in this terminal and returns once it has stopped;
  under local_mp, only this process enforces the termination notice.

  `launch_type`: 'local_mt' or 'local_mp'; None: --lp_launch_type.
  `expendable_groups`: groups whose nodes may fail without ending the
  program while another node of theirs runs (supervision).

  Each local_mp node process has a worker manager of its own, which would
  SIGKILL itself at its own notice (Launchpad's 10 s), counted down twice as
  fast because the launching process re-sends SIGTERM every second. The
  nodes are given --lp_termination_notice_secs=-1 (no self-kill); this
  process kills every node still running when its notice has passed. Node
  processes are started by supervision.start_node_processes (exit statuses
  seen, killed with this process).

  Returns:
    The program's Supervision: which expendable nodes failed.

  Raises:
    endings.ProgramFailed: a node failed (or every expendable one did); the
      other nodes have stopped.
  """
  use_termination_notice_default()  # Keeps a value given on the command line.
  _define_missing_launchpad_placeholder_flag()
  node_flags = local_multi_processing.PythonProcess(
      args={'lp_termination_notice_secs': -1})
  supervision = supervision_lib.Supervision(expendable_groups)
  supervision.count_expendable(
      {group: len(nodes) for group, nodes in program.groups.items()})
  endings.hand_over_to_launchpad()
  current_terminal = run_locally.SEPARATE_TERMINAL_CURRENT_TERMINAL
  launchers = run_locally._LOCAL_LAUNCHER_MAP  # pylint: disable=protected-access
  launchpads_own = launchers[current_terminal]
  launchers[current_terminal] = functools.partial(
      supervision_lib.start_node_processes, supervision=supervision)
  with supervision_lib.supervising(supervision):
    try:
      manager = lp.launch(
          program, launch_type=launch_type, terminal=current_terminal,
          serialize_py_nodes=False,
          local_resources={group: node_flags for group in program.groups})
    finally:
      launchers[current_terminal] = launchpads_own
    endings.stop_launched_program_if_signalled(manager)
    failure = _wait(manager, supervision)
  if hasattr(manager, 'wait_for_output'):
    manager.wait_for_output()  # The nodes' last lines come before ours.
  if failure:
    raise endings.ProgramFailed(failure)
  return supervision


def _wait(manager, supervision: supervision_lib.Supervision) -> Optional[str]:
  """Waits until every node has ended; returns what failed, if anything.

  A failed node makes Launchpad's manager stop the others (their stop
  event, then the termination notice); when every expendable node has
  failed, this stops the program the same way, by SIGTERM to itself.
  """
  failed_expendables = threading.Thread(
      target=_stop_when_set, args=(supervision.all_expendable_failed, manager),
      daemon=True, name='expendable_nodes')
  failed_expendables.start()
  try:
    manager.wait()
  except Exception as e:  # pylint: disable=broad-except  (a node's error)
    # Its traceback is printed (by the manager, or by the node's process);
    # the command's last line names it.
    manager.wait(raise_error=False)
    if hasattr(manager, 'failed_nodes'):  # local_mp: the error is above.
      return 'node ' + ', '.join(manager.failed_nodes()) + ' failed'
    return f'a node failed: {type(e).__name__}: {e}'
  if supervision.all_expendable_failed.is_set():
    return (f'every node of {"/".join(supervision.expendable_groups)} '
            'failed: ' + '; '.join(f'{end.node}: {end.reason}'
                                   for end in supervision.failures))
  return None


def _stop_when_set(event: threading.Event, manager):
  while not event.wait(1.0):
    if manager.wait_for_stop(0):
      return
  logging.error('No expendable node is left; stopping the program.')
  os.kill(os.getpid(), signal.SIGTERM)


def ends_if_stopped_during_start_up(constructor: Callable[..., Any]
                                    ) -> Callable[..., Any]:
  """A node constructor whose process ends at once when the program stops
  while it runs (local_mp node processes; elsewhere it is `constructor`).

  A node sees the stop only once its start-up is over, and a learner's
  start-up (datasets, network, checkpoint restore) can outlast the notice on
  a busy machine. A node that has not started has nothing to save, so a stop
  (SIGTERM) during its constructor ends its process with exit status 0.
  """

  @functools.wraps(constructor, updated=())
  def construct(*args, **kwargs):
    if (supervision_lib.in_launching_process() or
        threading.current_thread() is not threading.main_thread()):
      return constructor(*args, **kwargs)
    try:
      stopped = lp.stop_event()
    except RuntimeError:  # Not in a Launchpad node.
      return constructor(*args, **kwargs)
    if stopped.is_set():
      _end_during_start_up(signal.SIGTERM, None)
    previous = signal.signal(signal.SIGTERM, _end_during_start_up)
    try:
      return constructor(*args, **kwargs)
    finally:
      signal.signal(signal.SIGTERM, previous)

  return construct


def _end_during_start_up(signum, frame):
  del signum, frame
  logging.info('Stopped during start-up: nothing to save; exiting.')
  logging.flush()
  sys.stdout.flush()
  os._exit(0)  # pylint: disable=protected-access


def _define_missing_launchpad_placeholder_flag():
  # Launchpad 0.5.0 passes a node's flag arguments to its process through a
  # placeholder flag per flag type, and looks up one, 'lp_dummy_config', that
  # it never defines (KeyError). A flag of a type no other placeholder has
  # stands in for it.
  if 'lp_dummy_config' not in flags.FLAGS:
    flags.DEFINE_multi_string('lp_dummy_config', [],
                              'Placeholder that Launchpad 0.5.0 expects.')


StopCheck = Callable[[], bool]


def stop_check() -> StopCheck:
  """A Launchpad node's stop check: true once the program is stopping.

  Make it in the node's own thread (Launchpad's worker manager is only
  reachable there); the check itself never blocks and can be called from
  any thread. Outside a Launchpad program it is never true.
  """
  try:
    return lp.stop_event().is_set
  except RuntimeError:
    return lambda: False


@contextlib.contextmanager
def signal_stop_check() -> Iterator[StopCheck]:
  """The stop check of a single process without Launchpad: true after
  SIGINT or SIGTERM while the context is open (previous handlers are put
  back when it closes). Use it from the main thread.

  A stop signal whose StopRequested was dropped before the context opened
  (endings.dropped_stop_signal) makes the check true from the start."""
  stopping = threading.Event()
  if endings.dropped_stop_signal() is not None:
    stopping.set()

  def request_stop(signum, frame):
    del frame
    logging.info('Signal %d: stopping.', signum)
    endings.record_stop_signal(signum)
    stopping.set()

  previous = {sig: signal.signal(sig, request_stop)
              for sig in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield stopping.is_set
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)


def wait_until_serving(calls: Sequence[Tuple[Any, str]],
                       should_stop: Optional[Callable[[], bool]] = None
                       ) -> bool:
  """Waits until every server answers, or the program stops.

  Args:
    calls: (courier handle, name of a method it serves that takes no
      arguments), e.g. (counter, 'get_counts'), (learner, 'completed_steps').
      A handle without courier futures (an object in this process) is not
      waited for.
    should_stop: default: `stop_check()`.

  Returns:
    True once all have answered; False as soon as the program stops, with
    the pending call cancelled.
  """
  should_stop = should_stop or stop_check()
  for handle, method in calls:
    if not hasattr(handle, 'futures'):
      continue
    answer = getattr(handle.futures, method)()
    while True:
      try:
        answer.result(timeout=_POLL_MS / 1000)
        break
      except futures.TimeoutError:
        if should_stop():
          answer.cancel()
          return False
  return True


def serve_until_stopped():
  """Returns SERVING_GRACE_SECONDS after the program's stop event is set."""
  # Polled, not one long wait, so that the thread runs Python every second
  # (Acme's asynchronous SystemExit lands only then).
  stop_event = lp.stop_event()
  while not stop_event.wait(1.0):
    pass
  time.sleep(SERVING_GRACE_SECONDS)


class CounterNode(counting.Counter):
  """Acme's counter, served until the stop plus the grace period."""

  def run(self):
    serve_until_stopped()


class CounterClient:
  """A node's handle to the program's counter that makes no call once the
  program stops.

  Acme learners count each step on the counter after its update. When a step
  spans the stop (the first one compiles for many seconds), that call would
  go to a counter node that has stopped serving and wait forever inside
  gRPC (measured: the online program's learner, SIGTERM 25 s after the
  start, 30 s notice, killed). After the stop, increments are dropped and
  `get_counts` returns the last counts seen; the final checkpoint, not the
  counter, carries the learner's step. Make it in the node's thread.
  """

  def __init__(self, counter, should_stop: Optional[Callable[[], bool]] = None):
    self._counter = counter
    self._should_stop = should_stop or stop_check()
    self._last_counts = {}

  def increment(self, **counts):
    if not self._should_stop():
      self._last_counts = self._counter.increment(**counts)
    return self._last_counts

  def get_counts(self):
    if not self._should_stop():
      self._last_counts = self._counter.get_counts()
    return self._last_counts


class StopAwareIterator:
  """A learner's dataset iterator that ends when the program stops.

  A daemon thread reads `iterator` one element ahead; `next()` waits for it in
  short slices and raises StopIteration once the program is stopping (or
  `should_stop()` is true), however long the underlying read would block.
  Make it in the node's thread (see `stop_check`).
  A learner's step() then raises StopIteration before it changes any state
  (Acme's learners and ours take the batch first). Errors of the underlying
  iterator are raised in the caller.
  """

  def __init__(self, iterator: Iterator[Any],
               should_stop: Optional[Callable[[], bool]] = None):
    self._iterator = iterator
    # Learners may read their dataset from threads of their own (Acme's
    # prefetch): the check must be one made in the node's thread.
    self._should_stop = should_stop or stop_check()
    self._queue = queue.Queue(maxsize=1)
    self._thread: Optional[threading.Thread] = None

  def _fill(self):
    try:
      for element in self._iterator:
        self._queue.put((element, None))
      self._queue.put((None, StopIteration()))
    except Exception as e:  # pylint: disable=broad-except
      self._queue.put((None, e))

  def __iter__(self):
    return self

  def __next__(self):
    if self._thread is None:
      self._thread = threading.Thread(target=self._fill, daemon=True,
                                      name='stop_aware_iterator')
      self._thread.start()
    while True:
      if self._should_stop():
        raise StopIteration
      try:
        element, error = self._queue.get(timeout=_POLL_MS / 1000)
      except queue.Empty:
        continue
      if error is not None:
        raise error
      return element


def drain_replay(client, seconds: float = REPLAY_DRAIN_SECONDS):
  """Samples and discards every table of `client`'s server for `seconds`.

  Releases writers blocked on a rate limiter (see the module docstring); no
  call blocks for longer than a fraction of a second. Tables without a
  signature are skipped.
  """
  import reverb  # pylint: disable=g-import-not-at-top
  deadline = time.time() + seconds
  try:
    tables = client.server_info(timeout=int(max(1, seconds)))
  except Exception as e:  # pylint: disable=broad-except
    logging.warning('Replay not drained: no server info (%s).', e)
    return
  datasets = [
      reverb.TrajectoryDataset.from_table_signature(
          client.server_address, name, max_in_flight_samples_per_worker=16,
          rate_limiter_timeout_ms=_POLL_MS)
      for name, info in sorted(tables.items()) if info.signature is not None]
  drained = 0
  while time.time() < deadline:
    for dataset in datasets:
      try:
        for _ in dataset.take(64):
          drained += 1
      except Exception as e:  # pylint: disable=broad-except
        logging.warning('Replay drain stopped early: %s', e)
        return
  logging.info('Replay drained for %.1f s after the stop (%d samples).',
               seconds, drained)


class ReplayNode(lp.ReverbNode):
  """Launchpad's Reverb node, drained for REPLAY_DRAIN_SECONDS after the stop."""

  def run(self):
    super().run()  # Serves until the program's stop.
    drain_replay(self._server.localhost_client())
