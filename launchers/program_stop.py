"""How the nodes of the project's Launchpad programs stop (Launchpad 0.5.0).

Launchpad stops a program by setting every node's stop event (on `lp.stop()`,
SIGTERM or Ctrl-C) and SIGKILLs the whole runtime if a node is still running
10 s later; a node cannot be interrupted while it is inside C++ (an RPC, a
blocking read). So:

* working nodes poll `stop_requested()` at every step and make no remote call
  once it is true;
* serving nodes (the learner, the counter) keep serving for a short grace
  period after the stop, so that a remote call another node started just
  before the stop completes instead of hitting a server that is going away
  (measured: without the grace period, an evaluator's in-flight
  `get_variables` crashed the process with SIGSEGV in 1 of 4 stops).
"""

import time

import launchpad as lp

from builders import acme_compat  # noqa: F401  (before acme)

from acme.utils import counting

# Longer than any single remote call of these programs (milliseconds), far
# shorter than Launchpad's 10 s termination notice.
SERVING_GRACE_SECONDS = 1.0


def stop_requested() -> bool:
  """True once the program is stopping; never blocks."""
  return lp.wait_for_stop(0)


def serve_until_stopped():
  """Returns SERVING_GRACE_SECONDS after the program's stop event is set."""
  while not lp.wait_for_stop(1.0):
    pass
  time.sleep(SERVING_GRACE_SECONDS)


class CounterNode(counting.Counter):
  """Acme's counter, served until the stop plus the grace period."""

  def run(self):
    serve_until_stopped()
