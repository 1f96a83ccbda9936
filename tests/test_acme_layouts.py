"""run_until_stopped: the SystemExit redelivery behind
launchers.programs.acme_layouts.CleanStopDistributedLayout, in plain threads."""

import ctypes
import threading
import time

import pytest

from launchers.programs import acme_layouts

REDELIVERY_SECONDS = 0.05


class _Worker:
  """Loops in Python until a SystemExit reaches it; the first
  `exits_to_drop` are dropped, as a garbage-collection callback drops one."""

  def __init__(self, exits_to_drop: int, steps_before_return=None):
    self.exits_to_drop = exits_to_drop
    self.exits_dropped = 0
    self.steps = 0
    self._steps_before_return = steps_before_return
    self.running = threading.Event()

  def run(self):
    self.running.set()
    while self.steps != self._steps_before_return:
      try:
        time.sleep(0.001)
        self.steps += 1
      except SystemExit:
        if self.exits_dropped == self.exits_to_drop:
          raise
        self.exits_dropped += 1


def _run_in_thread(worker, stop_event):
  """Runs the worker under run_until_stopped, then goes on running Python
  for a while, where a stray SystemExit would land; records how it ended."""
  outcome = {}

  def node():
    try:
      acme_layouts.run_until_stopped(worker.run, stop_event,
                                     redelivery_seconds=REDELIVERY_SECONDS)
      outcome['returned_at'] = time.time()
      deadline = time.time() + 10 * REDELIVERY_SECONDS
      while time.time() < deadline:
        time.sleep(0.001)
      outcome['after_return'] = 'no SystemExit'
    except BaseException as e:  # pylint: disable=broad-except
      outcome['after_return'] = repr(e)

  thread = threading.Thread(target=node, daemon=True)
  thread.start()
  return thread, outcome


def _deliver_exit(thread):
  """What Acme's runtime_terminator does at the stop, once."""
  assert ctypes.pythonapi.PyThreadState_SetAsyncExc(
      ctypes.c_ulong(thread.ident), ctypes.py_object(SystemExit)) == 1


@pytest.mark.parametrize('exits_to_drop', [0, 3])
def test_the_stop_is_raised_again_until_the_worker_returns(exits_to_drop):
  worker = _Worker(exits_to_drop=exits_to_drop)
  stop_event = threading.Event()
  thread, outcome = _run_in_thread(worker, stop_event)
  # Acme's exit reaches a worker that runs (on a busy machine the thread can
  # start late).
  assert worker.running.wait(timeout=60)
  stop_event.set()
  stopped_at = time.time()
  _deliver_exit(thread)
  thread.join(timeout=10)
  assert not thread.is_alive()
  assert worker.exits_dropped == exits_to_drop
  # Acme's exit plus one redelivery per dropped exit were needed.
  assert (outcome['returned_at'] - stopped_at >=
          exits_to_drop * REDELIVERY_SECONDS)
  # None arrives once the worker has returned.
  assert outcome['after_return'] == 'no SystemExit'


def test_nothing_is_raised_without_a_stop():
  worker = _Worker(exits_to_drop=0, steps_before_return=50)
  thread, outcome = _run_in_thread(worker, threading.Event())
  thread.join(timeout=10)
  assert worker.steps == 50
  assert outcome['after_return'] == 'no SystemExit'


def test_errors_of_the_worker_are_raised():

  def failing_run():
    raise ValueError('bad batch')

  with pytest.raises(ValueError, match='bad batch'):
    acme_layouts.run_until_stopped(failing_run, threading.Event())
