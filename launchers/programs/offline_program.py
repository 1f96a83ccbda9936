"""The offline pre-training program of a `PretrainExperiment`.

`make_program` builds the Launchpad program:

  counter    an Acme counter (learner steps, evaluation episodes)
  learner    reads the RLDS loader, trains, checkpoints to the workdir, and
             stops the program when the step budget is reached; with
             experiment.learner_processes > 1, that many nodes
             (learner/0..N-1) that train one network together
             (agents.scaled_ql.multi_process), learner/0 checkpointing
  evaluator  plays every game with the learner's current parameters (from
             learner/0) every eval_every_steps learner steps

Reverb is not needed offline: the evaluator pulls parameters from the
learner. Nodes stop as launchers/programs/stop.py describes, so the program
ends with exit status 0 when training is done, on Ctrl-C and on SIGTERM.
`run_single_process` does the same work in one process, without Launchpad.
`run` is the one entry point for either: it returns when the run is over and
leaves everything in the experiment's workdir.
"""

from typing import Dict, List, Optional

import launchpad as lp

from atari_data import loader
from launchers.programs import evaluator as evaluator_lib
from launchers.programs import learner_runner
from launchers.programs import pretrain_experiment
from launchers.programs import stop

PretrainExperiment = pretrain_experiment.PretrainExperiment
# run()'s launch types: Launchpad's two local ones, and no Launchpad at all.
LAUNCH_TYPES = ('local_mt', 'local_mp', 'single_process')


def data_sources(experiment: PretrainExperiment) -> List[loader.GameSource]:
  """What the learner of `experiment` reads, per game, after validation."""
  return loader.resolve_sources(experiment.loader_config())


def _learner_node(experiment: PretrainExperiment, counter, process_id: int = 0,
                  coordinator_address: Optional[str] = None):
  return experiment.make_learner_runner(
      stop.CounterClient(counter), process_id=process_id,
      coordinator_address=coordinator_address)


def coordinator_address(experiment: PretrainExperiment) -> Optional[str]:
  """Where the learner processes of `experiment` meet (None: one process)."""
  return learner_runner.coordinator_address(experiment.learner_processes,
                                            experiment.coordinator_address)


def _evaluator_node(experiment: PretrainExperiment, learner, counter):
  return experiment.make_evaluator(variable_source=learner, counter=counter,
                                   learner_probe='completed_steps')


def make_program(experiment: PretrainExperiment) -> lp.Program:
  """The pre-training program: counter, learner(s), evaluator."""
  program = lp.Program('scaled_ql_pretrain')
  with program.group('counter'):
    counter = program.add_node(lp.CourierNode(stop.CounterNode))
  address = coordinator_address(experiment)
  with program.group('learner'):
    learners = [
        program.add_node(lp.CourierNode(
            stop.ends_if_stopped_during_start_up(_learner_node), experiment,
            counter, process_id, address))
        for process_id in range(experiment.learner_processes)]
  learner = learners[0]  # Serves the parameters that every process holds.
  with program.group('evaluator'):
    program.add_node(
        lp.CourierNode(stop.ends_if_stopped_during_start_up(_evaluator_node),
                       experiment, learner, counter))
  return program


def run_single_process(experiment: PretrainExperiment
                       ) -> Optional[Dict[str, evaluator_lib.GameEvaluation]]:
  """Trains and evaluates in this process; SIGTERM/Ctrl-C stop it cleanly
  (after the current learner step or environment step).

  Returns the last complete evaluation round's results.
  """
  with stop.signal_stop_check() as should_stop:
    runner = experiment.make_learner_runner()
    evaluator = experiment.make_evaluator(variable_source=runner)
    results = None
    while not should_stop():
      results = evaluator.evaluate(runner.completed_steps(),
                                   should_stop=should_stop) or results
      if runner.finished():
        break
      runner.train(should_stop=should_stop,
                   max_steps=experiment.eval_every_steps)
    return results


def check_launch_type(experiment: PretrainExperiment, launch_type: str):
  """Raises ValueError unless `experiment` can run under `launch_type`."""
  if launch_type not in LAUNCH_TYPES:
    raise ValueError(f'launch_type={launch_type!r}; valid: {LAUNCH_TYPES}.')
  learner_runner.check_launch_type(experiment.learner_processes, launch_type)


def run(experiment: PretrainExperiment, launch_type: str = 'local_mt'
        ) -> Optional[Dict[str, evaluator_lib.GameEvaluation]]:
  """Validates `experiment` and runs it to completion (or to a stop).

  Args:
    experiment: the run; its workdir receives checkpoints, logs
      (logs/learner, logs/evaluator, logs/evaluator_aggregate) and
      TensorBoard files. Running it again with the same workdir resumes.
    launch_type: 'local_mt' (Launchpad, one process, threads), 'local_mp'
      (Launchpad, one process per node; this process waits for them) or
      'single_process' (no Launchpad).

  Returns:
    single_process: the last complete evaluation round's results.
    Launchpad: None once the program has stopped; results are in the
    workdir's logs.
  """
  check_launch_type(experiment, launch_type)
  experiment.validate()
  if launch_type == 'single_process':
    return run_single_process(experiment)
  stop.launch(make_program(experiment), launch_type)
  return None
