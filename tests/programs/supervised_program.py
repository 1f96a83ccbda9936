"""A Launchpad program whose nodes fail on request, through stop.launch.

Nodes: a counter; two actors (an expendable group, like the online
program's) that count ticks on the counter until the stop; a learner that
stops the program once the counter has TARGET ticks. MODE:

  runs           nothing fails (the learner stops the program)
  forever        nothing fails and nothing stops (for kill tests)
  learner_fails  the learner raises at start-up
  actor_raises   actor 1 raises after its first tick
  actor_raises_exits_at_stop
                 the same, and a thread that is not a daemon would keep
                 actor 1's process until the program stops (as a slow
                 exit on a busy machine can)
  actor_killed   actor 1 SIGKILLs its own process (local_mp only)
  actors_raise   both actors raise after their first tick
  slow_start     the learner's start-up never ends by itself (a stop must
                 end it: stop.ends_if_stopped_during_start_up)

Prints the supervision summary and exits 0, or prints "failed: ..." and
exits with endings.FAILED.
Usage: python tests/programs/supervised_program.py LAUNCH_TYPE MODE
"""

import os
import signal
import sys
import threading
import time

import launchers  # noqa: F401  (the launchers' set-up)

from absl import app
import launchpad as lp

from launchers.programs import endings
from launchers.programs import stop
from launchers.programs import supervision

TARGET = 40
TICK_SECONDS = 0.05


def _connect(counter):
  """(stop check, counter client) once the counter serves; None if the
  program stops first."""
  should_stop = stop.stop_check()
  if not stop.wait_until_serving([(counter, 'get_counts')], should_stop):
    return None
  return should_stop, stop.CounterClient(counter, should_stop)


class Actor:

  def __init__(self, counter, actor_id: int, mode: str):
    self._counter, self._actor_id, self._mode = counter, actor_id, mode

  def run(self):
    supervision.run_expendable(f'actor/{self._actor_id}', self._tick)

  def _tick(self):
    connected = _connect(self._counter)
    if connected is None:
      return
    should_stop, counter = connected
    failing = self._actor_id == 1 or self._mode == 'actors_raise'
    if failing and self._mode == 'actor_raises_exits_at_stop':
      # A thread that is not a daemon: the process exits after it.
      threading.Thread(target=lp.stop_event().wait,
                       name='exits_at_stop').start()
    while not should_stop():
      counter.increment(ticks=1)
      if failing and self._mode in ('actor_raises', 'actors_raise',
                                    'actor_raises_exits_at_stop'):
        raise RuntimeError(f'actor {self._actor_id} gives up')
      if failing and self._mode == 'actor_killed':
        os.kill(os.getpid(), signal.SIGKILL)
      time.sleep(TICK_SECONDS)  # The pace of an actor's steps.


class Learner:

  def __init__(self, counter, mode: str):
    if mode == 'learner_fails':
      raise ValueError('the learner cannot start')
    if mode == 'slow_start':
      print('learner: starting up', flush=True)
      while True:
        time.sleep(TICK_SECONDS)  # A start-up that runs Python throughout.
    self._counter, self._mode = counter, mode

  def run(self):
    connected = _connect(self._counter)
    if connected is None:
      return
    should_stop, counter = connected
    while not should_stop():
      if (self._mode != 'forever' and
          counter.get_counts().get('ticks', 0) >= TARGET):
        lp.stop()
        break
      time.sleep(TICK_SECONDS)
    stop.serve_until_stopped()


def make_program(mode: str) -> lp.Program:
  program = lp.Program('supervised')
  with program.group('counter'):
    counter = program.add_node(lp.CourierNode(stop.CounterNode))
  with program.group('learner'):
    program.add_node(lp.CourierNode(
        stop.ends_if_stopped_during_start_up(Learner), counter, mode))
  with program.group('actor'):
    for actor_id in range(2):
      program.add_node(lp.CourierNode(Actor, counter, actor_id, mode))
  return program


def main(argv):
  launch_type, mode = argv[1:]
  try:
    report = stop.launch(make_program(mode), launch_type,
                         expendable_groups=('actor',))
  except endings.ProgramFailed as e:
    print(f'failed: {e}', flush=True)
    sys.exit(endings.FAILED)
  print(report.summary(), flush=True)


if __name__ == '__main__':
  app.run(main)
