"""Acme 0.4.0's DistributedLayout with a clean stop.

Acme's `DistributedLayout` (acme/jax/layouts/distributed_layout.py) cannot
stop itself cleanly on this stack. Its StepsLimiter calls `lp.stop()`; every
node then gets an asynchronous SystemExit from `runtime_terminator`, which
only lands when the thread runs Python. The learner stops sampling at once,
but an actor whose Acme adder is inside `TrajectoryWriter.flush`, waiting for
the rate limiter to admit its insert, waits in C++ for samples that no longer
come: Launchpad reports "Worker groups that did not terminate in time:
['actor']" and kills the runtime (exit 137; measured with our builder on
Pong, 2 actors). See launchers/program_stop.py.

`CleanStopDistributedLayout` changes two things, and keeps everything else
(program topology, Acme's runners and environment loops) as Acme has it:

* after Acme's learner runner returns at the stop, the learner node drains
  the replay for program_stop.REPLAY_DRAIN_SECONDS, so blocked inserts go
  through, the actors' pending SystemExit lands and every node returns
  (exit 0);
* an actor node drops its environment loop when the loop returns, so its
  adder's final flush (Acme's `__del__`, up to 10 s) runs while the replay is
  still drained, not at interpreter exit against a server already shut down
  (which added 10 s to every exit).
"""

from builders import acme_compat  # noqa: F401  (before acme)

from acme.jax.layouts import distributed_layout

from launchers import program_stop


class _DrainingRunner:
  """Acme's learner runner, then a replay drain; otherwise the runner itself."""

  def __init__(self, runner, replay_client):
    self._runner = runner
    self._replay_client = replay_client

  def run(self):
    self._runner.run()  # Acme's CheckpointingRunner: returns at the stop.
    program_stop.drain_replay(self._replay_client)

  def __dir__(self):
    # Launchpad's courier binds the public methods it finds here.
    return sorted({name for name in dir(self._runner)
                   if not name.startswith('_')} | {'run'})

  def __getattr__(self, name):
    if name.startswith('_'):
      raise AttributeError(name)
    return getattr(self._runner, name)


class _ReleasingWorker:
  """Runs a worker, then drops it (and so its adder) before returning."""

  def __init__(self, worker):
    self._worker = worker

  def run(self):
    try:
      self._worker.run()
    finally:
      self._worker = None


class CleanStopDistributedLayout(distributed_layout.DistributedLayout):
  """Acme's DistributedLayout whose learner drains the replay at the stop."""

  def learner(self, random_key, replay, counter):
    return _DrainingRunner(super().learner(random_key, replay, counter), replay)

  def actor(self, random_key, replay, variable_source, counter, actor_id):
    return _ReleasingWorker(super().actor(random_key, replay, variable_source,
                                          counter, actor_id))
