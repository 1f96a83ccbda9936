"""launchers.programs.stop: waiting for servers (real courier servers) and the
learners' counter client around the stop."""

import os
import signal
import threading
import time

from acme.utils import counting
import courier

from launchers.programs import stop


def _counter_server():
  server = courier.Server()
  server.Bind('get_counts', lambda: {'learner_steps': 7})
  return server


def test_waits_for_a_server_that_comes_up_late():
  server = _counter_server()
  client = courier.Client(server.address)
  starter = threading.Timer(0.5, server.Start)
  starter.start()
  start = time.time()
  try:
    assert stop.wait_until_serving([(client, 'get_counts')],
                                           should_stop=lambda: False)
    assert time.time() - start >= 0.5
    assert client.get_counts() == {'learner_steps': 7}
  finally:
    starter.join()
    server.Stop()


def test_the_stop_ends_the_wait_for_a_server_that_never_serves():
  never_started = _counter_server()
  client = courier.Client(never_started.address)
  checks = []

  def stops_at_the_third_check():
    checks.append(True)
    return len(checks) >= 3

  assert not stop.wait_until_serving([(client, 'get_counts')],
                                     should_stop=stops_at_the_third_check)
  # The wait checked the stop between short polls and returned at the first
  # check that found it (no gRPC deadline in between).
  assert len(checks) == 3


def test_every_server_is_waited_for_in_turn():
  up = _counter_server()
  up.Start()
  down = _counter_server()
  calls = [(courier.Client(up.address), 'get_counts'),
           (courier.Client(down.address), 'get_counts')]
  stop_at = time.time() + 0.3
  try:
    assert not stop.wait_until_serving(
        calls, should_stop=lambda: time.time() > stop_at)
  finally:
    up.Stop()


def test_objects_in_this_process_are_not_waited_for():

  class Learner:

    def completed_steps(self):
      raise AssertionError('not to be called')

  assert stop.wait_until_serving([(Learner(), 'completed_steps')],
                                         should_stop=lambda: True)


def test_counter_client_makes_no_call_after_the_stop():
  program_counter = counting.Counter()
  stopped = threading.Event()
  learner_counter = counting.Counter(
      stop.CounterClient(program_counter, should_stop=stopped.is_set),
      prefix='learner', time_delta=0.)
  assert learner_counter.increment(steps=3) == {'learner_steps': 3}
  stopped.set()
  # The step that spans the stop: counted locally, not sent.
  assert learner_counter.increment(steps=1) == {'learner_steps': 3}
  assert program_counter.get_counts() == {'learner_steps': 3}


def test_signal_stop_check_turns_true_on_sigterm_and_restores_the_handler():
  previous = signal.getsignal(signal.SIGTERM)
  with stop.signal_stop_check() as should_stop:
    assert not should_stop()
    os.kill(os.getpid(), signal.SIGTERM)
    deadline = time.time() + 10
    while not should_stop() and time.time() < deadline:
      time.sleep(0.01)  # The handler runs between bytecodes of this thread.
    assert should_stop()
  assert signal.getsignal(signal.SIGTERM) is previous


def test_stop_check_outside_a_launchpad_program_is_never_true():
  assert stop.stop_check()() is False
