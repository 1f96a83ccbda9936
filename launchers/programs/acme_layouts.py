"""Acme 0.4.0's DistributedLayout with a clean stop.

Acme's `DistributedLayout` (acme/jax/layouts/distributed_layout.py) stops by
a StepsLimiter calling `lp.stop()`, after which every node that runs inside
Acme's `signals.runtime_terminator` gets one asynchronous SystemExit. On this
stack that is not enough for a clean exit: an actor blocked in Reverb's
rate limiter never runs Python again once the learner stops sampling, and a
SystemExit that lands in a garbage-collection callback is dropped
(docs/ARCHITECTURE.md, "How a program stops", has the measurements).

`CleanStopDistributedLayout` keeps Acme's program topology, runners and
environment loops, and changes three things:

* every node's run is wrapped in `run_until_stopped`, which raises the
  SystemExit again every STOP_REDELIVERY_SECONDS after the stop until the
  run returns, so a dropped one does not leave the node running;
* after Acme's learner runner returns at the stop, the learner node drains
  the replay for stop.REPLAY_DRAIN_SECONDS, so blocked inserts go through,
  the actors' SystemExit lands and every node returns (exit 0);
* an actor or evaluator node drops its environment loop when the loop
  returns, so its adder's final flush (Acme's `__del__`, up to 10 s) runs
  while the replay is still drained, not at interpreter exit against a
  server already shut down.
"""

import ctypes
import threading
from typing import Any, Callable, Optional

from acme.jax.layouts import distributed_layout
import launchpad as lp

from launchers.programs import stop

# After the stop, how often a node that is still running gets its SystemExit
# again: long enough for Acme's own delivery to unwind, far shorter than
# Launchpad's 10 s termination notice.
STOP_REDELIVERY_SECONDS = 1.0


def _set_async_exit(thread_id: int, exit_type: Optional[type]):
  """Makes `thread_id` raise `exit_type` when it next runs Python; with None,
  withdraws one that it has not raised yet."""
  ctypes.pythonapi.PyThreadState_SetAsyncExc(
      ctypes.c_ulong(thread_id),
      ctypes.py_object(exit_type) if exit_type is not None else None)


def run_until_stopped(run: Callable[[], Any], stop_event: threading.Event,
                      redelivery_seconds: float = STOP_REDELIVERY_SECONDS):
  """Runs `run`, a worker that stops on an asynchronous SystemExit (Acme's
  `runtime_terminator`), and raises SystemExit in this thread again every
  `redelivery_seconds` after `stop_event` is set until `run` returns.

  Returns normally once `run` has returned or raised SystemExit; other
  errors are raised. No SystemExit of this function's reaches the caller.
  """
  thread_id = threading.get_ident()
  returned = threading.Event()
  # Held while a SystemExit is being set, so none is set after `returned`.
  delivery_lock = threading.Lock()

  def redeliver():
    while not stop_event.wait(redelivery_seconds):
      if returned.is_set():
        return
    while not returned.wait(redelivery_seconds):
      with delivery_lock:
        if not returned.is_set():
          _set_async_exit(thread_id, SystemExit)

  threading.Thread(target=redeliver, daemon=True,
                   name='stop_redelivery').start()
  try:
    run()
  except SystemExit:
    pass  # A redelivered stop that landed outside Acme's runtime_terminator.
  finally:
    while True:
      try:
        with delivery_lock:
          returned.set()
        _set_async_exit(thread_id, None)
        break
      except SystemExit:
        pass  # Set just before `returned`; raised here instead of withdrawn.


class _CleanStopNode:
  """A node's Acme worker, run by `run_until_stopped`; otherwise the worker
  itself, so Launchpad's courier serves the worker's methods."""

  def __init__(self, worker):
    self._worker = worker

  def run(self):
    run_until_stopped(self._worker.run, lp.stop_event())

  def __dir__(self):
    # Launchpad's courier binds the public methods it finds here.
    return sorted({name for name in dir(self._worker)
                   if not name.startswith('_')} | {'run'})

  def __getattr__(self, name):
    if name.startswith('_'):
      raise AttributeError(name)
    return getattr(self._worker, name)


class _DrainingLearner(_CleanStopNode):
  """Acme's learner runner, then a replay drain."""

  def __init__(self, runner, replay_client):
    super().__init__(runner)
    self._replay_client = replay_client

  def run(self):
    super().run()  # Acme's CheckpointingRunner: returns at the stop.
    stop.drain_replay(self._replay_client)


class _ReleasingLoop(_CleanStopNode):
  """An environment loop, dropped (and so its adder) once it returns."""

  def run(self):
    try:
      super().run()
    finally:
      self._worker = None


class CleanStopDistributedLayout(distributed_layout.DistributedLayout):
  """Acme's DistributedLayout whose nodes all stop at the program's stop."""

  def __init__(self, *args, evaluator_factories=(), **kwargs):
    super().__init__(*args, evaluator_factories=[
        _releasing_evaluator(factory) for factory in evaluator_factories],
                     **kwargs)

  def counter(self):
    return _CleanStopNode(super().counter())

  def coordinator(self, counter, max_actor_steps):
    return _CleanStopNode(super().coordinator(counter, max_actor_steps))

  def learner(self, random_key, replay, counter):
    return _DrainingLearner(super().learner(random_key, replay, counter),
                            replay)

  def actor(self, random_key, replay, variable_source, counter, actor_id):
    return _ReleasingLoop(super().actor(random_key, replay, variable_source,
                                        counter, actor_id))


def _releasing_evaluator(factory):
  def make_evaluator(*args, **kwargs):
    return _ReleasingLoop(factory(*args, **kwargs))
  return make_evaluator
