"""The pre-training program and its single-process twin.

`make_program` builds the Launchpad program of a `PretrainExperiment`:

  counter    an Acme counter (learner steps, evaluation episodes)
  learner    reads the RLDS loader, trains, checkpoints to the workdir, and
             stops the program when the step budget is reached
  evaluator  plays every game with the learner's current parameters every
             eval_every_steps learner steps

Reverb is not needed offline: evaluators pull parameters from the learner.
Nodes stop as launchers/program_stop.py describes, so the program ends with
exit status 0 when training is done, on Ctrl-C and on SIGTERM. `run_single_process` does the same work in one
process, without Launchpad, for debugging.
"""

import signal
import threading

from absl import logging

from builders import acme_compat  # noqa: F401  (before acme)

import launchpad as lp

from launchers import experiment as experiment_lib
from launchers import program_stop


def _learner_node(experiment: experiment_lib.PretrainExperiment, counter):
  return experiment.make_learner_runner(program_stop.CounterClient(counter))


def _evaluator_node(experiment: experiment_lib.PretrainExperiment, learner,
                    counter):
  return experiment.make_evaluator(variable_source=learner, counter=counter,
                                   learner_probe='completed_steps')


def make_program(experiment: experiment_lib.PretrainExperiment) -> lp.Program:
  """The pre-training program: counter, learner, evaluator."""
  program = lp.Program('scaled_ql_pretrain')
  with program.group('counter'):
    counter = program.add_node(lp.CourierNode(program_stop.CounterNode))
  with program.group('learner'):
    learner = program.add_node(
        lp.CourierNode(_learner_node, experiment, counter))
  with program.group('evaluator'):
    program.add_node(
        lp.CourierNode(_evaluator_node, experiment, learner, counter))
  return program


def run_single_process(experiment: experiment_lib.PretrainExperiment):
  """Trains and evaluates in this process; SIGTERM/Ctrl-C stop it cleanly
  (after the current learner step or environment step).

  Returns the last complete evaluation round's results.
  """
  stop_requested = threading.Event()

  def request_stop(signum, frame):
    del frame
    logging.info('Signal %d: stopping.', signum)
    stop_requested.set()

  previous = {sig: signal.signal(sig, request_stop)
              for sig in (signal.SIGINT, signal.SIGTERM)}
  try:
    runner = experiment.make_learner_runner()
    evaluator = experiment.make_evaluator(variable_source=runner)
    results = None
    while not stop_requested.is_set():
      results = evaluator.evaluate(runner.completed_steps(),
                                   should_stop=stop_requested.is_set) or results
      if runner.finished():
        break
      runner.train(should_stop=stop_requested.is_set,
                   max_steps=experiment.eval_every_steps)
    return results
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
