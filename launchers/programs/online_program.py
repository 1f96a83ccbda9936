"""Online fine-tuning as a Launchpad program, for any Acme 0.4.0 builder.

`make_program` takes an Acme `ActorLearnerBuilder` with an environment
factory, a network factory and a policy factory (the arguments of Acme's own
DistributedLayout) and builds:

  replay     the builder's Reverb tables (stop.ReplayNode: drained for a
             few seconds after the stop, so no actor stays blocked on a
             rate limiter)
  counter    the program's Acme counter (stop.CounterNode)
  learner    builder.make_learner fed by builder.make_dataset_iterator on
             the replay (through stop.StopAwareIterator), run by a
             LearnerRunner: atomic checkpoints in <workdir>/checkpoints,
             resume from the latest one, and `lp.stop()` at num_steps; with
             config.learner_processes > 1, that many nodes (learner/0..N-1)
             training one network (agents.scaled_ql.multi_process), each
             sampling its share of the batch; learner/0 checkpoints, logs
             and serves the actors and the evaluator
  actor_i    builder.make_actor with builder.make_adder, playing the
             environment; it polls the stop event at every step and makes
             no remote call after it; episode returns go to
             <workdir>/logs/actor_<i>/logs.csv
  evaluator  evaluator.Evaluator on the evaluation environment every
             eval_every_steps learner steps (optional)

The program stops by itself at the learner's step budget with exit status 0
under local_mt and local_mp, and cleanly on Ctrl-C / SIGTERM, as
launchers/programs/stop.py describes. Scaled Q-Learning's use of it is
finetune_experiment.FinetuneExperiment.
"""

import dataclasses
import functools
import os
import time
from typing import Any, Callable, Mapping, Optional

from absl import logging
from acme import specs
from acme.utils import counting
import dm_env
import jax
import launchpad as lp

from agents.scaled_ql import checkpointing
from agents.scaled_ql import multi_process
from launchers.programs import episodes as episodes_lib
from launchers.programs import evaluator as evaluator_lib
from launchers.programs import learner_runner
from launchers.programs import run_logs
from launchers.programs import stop
from launchers.programs import supervision

EnvironmentFactory = Callable[[int], dm_env.Environment]
NetworkFactory = Callable[[specs.EnvironmentSpec], Any]
PolicyFactory = Callable[[Any], Any]
LearnerInitializer = Callable[[Any], None]
# The group of the actor nodes: expendable (supervision), so a program goes
# on while one of its actors runs.
ACTOR_GROUP = 'actor'


@dataclasses.dataclass(frozen=True)
class OnlineProgramConfig:
  """Attributes:

    workdir: checkpoints (<workdir>/checkpoints) and logs (<workdir>/logs).
    num_steps: learner steps of the whole run (resumed steps included).
    num_actors: actor nodes.
    checkpoint_every_steps: learner steps between checkpoints.
    checkpoint_description: what a checkpoint in the workdir must share with
      this run to be resumed (see agents.scaled_ql.checkpointing).
    evaluation_game: the Atari game the evaluator scores (raw and
      human-normalised); None: no evaluator.
    eval_every_steps: learner steps between evaluation rounds.
    eval_episodes: episodes per evaluation round.
    seed: seeds parameters, actors and environments.
    learner_processes: JAX processes that train the learner together
      (docs/MULTI_PROCESS.md); more than 1 needs local_mp and a builder per
      process (make_program's process_builder).
    coordinator_address: 'host:port' where learner process 0 listens for the
      others; None: localhost with a port free at launch.
  """
  workdir: str
  num_steps: int
  num_actors: int = 1
  checkpoint_every_steps: int = 1000
  checkpoint_description: Mapping[str, Any] = dataclasses.field(
      default_factory=dict)
  evaluation_game: Optional[str] = None
  eval_every_steps: int = 1000
  eval_episodes: int = 1
  seed: int = 0
  learner_processes: int = 1
  coordinator_address: Optional[str] = None

  def __post_init__(self):
    if self.num_steps <= 0:
      raise ValueError(f'num_steps must be positive, got {self.num_steps}.')
    if self.num_actors <= 0:
      raise ValueError(f'num_actors must be positive, got {self.num_actors}.')
    if self.learner_processes < 1:
      raise ValueError(f'learner_processes must be >= 1, got '
                       f'{self.learner_processes}.')
    if self.coordinator_address is not None:
      multi_process.check_coordinator_address(self.coordinator_address)

  @property
  def checkpoint_dir(self) -> str:
    return os.path.join(self.workdir, 'checkpoints')


def make_learner_runner(builder, network_factory: NetworkFactory,
                        environment_spec: specs.EnvironmentSpec,
                        replay_client, config: OnlineProgramConfig,
                        counter: Optional[counting.Counter] = None,
                        learner_initializer: Optional[LearnerInitializer] = None,
                        process_id: int = 0,
                        coordinator_address: Optional[str] = None
                        ) -> learner_runner.LearnerRunner:
  """The learner node: the builder's learner on the replay, in a runner.

  `learner_initializer(learner)` runs on a new learner (e.g. to load
  pre-trained parameters); a checkpoint in the workdir then overrides it.
  With config.learner_processes > 1 this is process `process_id`: it joins
  the others at `coordinator_address` first (before any JAX computation),
  and only process 0 counts on `counter`; `builder` is this process's (its
  share of the batch, its logging).
  """
  settings = multi_process.ProcessSettings(
      num_processes=config.learner_processes, process_id=process_id,
      coordinator_address=coordinator_address or config.coordinator_address)
  multi_process.initialize(settings)
  if not settings.is_chief:
    counter = None

  def make_learner():
    learner = builder.make_learner(
        random_key=jax.random.PRNGKey(config.seed),
        networks=network_factory(environment_spec),
        dataset=stop.StopAwareIterator(
            builder.make_dataset_iterator(replay_client)),
        replay_client=replay_client,
        counter=counting.Counter(counter, prefix='learner'))
    if learner_initializer is not None:
      learner_initializer(learner)
    return learner

  return learner_runner.LearnerRunner(
      make_learner,
      checkpointing.Checkpointer(config.checkpoint_dir,
                                 dict(config.checkpoint_description)),
      config.num_steps, config.checkpoint_every_steps, counter=counter)


class ActorNode:
  """One actor: the builder's actor and adder on its own environment.

  Plays episodes until the program stops, polling the stop check at every
  step (episodes.run_episode); after the stop it makes no remote call. Each
  episode is counted on the program's counter (actor_steps, actor_episodes)
  and logged to <workdir>/logs/actor_<id>/logs.csv.
  """

  def __init__(self, builder, environment_factory: EnvironmentFactory,
               network_factory: NetworkFactory, policy_factory: PolicyFactory,
               replay_client, variable_source, counter,
               config: OnlineProgramConfig, actor_id: int):
    self._builder = builder
    self._environment_factory = environment_factory
    self._network_factory = network_factory
    self._policy_factory = policy_factory
    self._replay_client = replay_client
    self._variable_source = variable_source
    self._counter = counter
    self._config = config
    self._actor_id = actor_id

  def run(self):
    # An actor that fails ends alone; the program goes on with the others.
    supervision.run_expendable(f'{ACTOR_GROUP}/{self._actor_id}', self._play)

  def _play(self):
    should_stop = stop.stop_check()
    # The learner node is this program's LearnerRunner.
    if not stop.wait_until_serving(
        [(self._counter, 'get_counts'),
         (self._variable_source, 'completed_steps')], should_stop):
      return
    seed = self._config.seed + 1000 * (self._actor_id + 1)
    environment = self._environment_factory(seed)
    networks = self._network_factory(specs.make_environment_spec(environment))
    actor = self._builder.make_actor(
        jax.random.PRNGKey(seed), self._policy_factory(networks),
        self._builder.make_adder(self._replay_client), self._variable_source)
    counter = counting.Counter(stop.CounterClient(self._counter, should_stop),
                               prefix='actor')
    logger = run_logs.make_csv_logger(self._config.workdir,
                                      f'actor_{self._actor_id}')
    episodes = 0
    try:
      while not should_stop():
        start = time.time()
        episode = episodes_lib.run_episode(environment, actor, should_stop,
                                         update_actor=True)
        if episode is None or should_stop():
          break
        episodes += 1
        counts = counter.increment(episodes=1, steps=episode.steps)
        steps_per_second = episode.steps / max(time.time() - start, 1e-9)
        logger.write({
            'actor_id': self._actor_id, 'episode': episodes,
            'episode_return': episode.episode_return,
            'episode_length': episode.steps,
            'steps_per_second': steps_per_second,
            'actor_steps': counts.get('actor_steps', 0),
            'learner_steps': counts.get('learner_steps', 0)})
        logging.info('actor %d episode %d: return %.1f, %d steps (%.0f steps/s);'
                     ' %d actor steps, %d learner steps in all', self._actor_id,
                     episodes, episode.episode_return, episode.steps,
                     steps_per_second, counts.get('actor_steps', 0),
                     counts.get('learner_steps', 0))
    finally:
      # Drop the actor (and its adder) now, while the replay is drained, so
      # the adder's final flush does not wait at interpreter exit.
      actor = None
      logger.close()


def _replay_tables(builder, environment_spec):
  return builder.make_replay_tables(environment_spec)


def _learner_node(builder, network_factory, environment_spec, replay, counter,
                  config, learner_initializer, process_id=0,
                  coordinator_address=None):
  return make_learner_runner(builder, network_factory, environment_spec,
                             replay, config,
                             stop.CounterClient(counter),
                             learner_initializer, process_id,
                             coordinator_address)


def _evaluator_node(builder, network_factory, policy_factory,
                    environment_factory, environment_spec, learner, counter,
                    config):
  networks = network_factory(environment_spec)
  return evaluator_lib.Evaluator(
      actor_factory=evaluator_lib.builder_actor_factory(
          builder, lambda game: policy_factory(networks), learner),
      games=[config.evaluation_game], episodes_per_game=config.eval_episodes,
      environment_factory=lambda game, seed: environment_factory(seed),
      seed=config.seed + 1, counter=counter,
      eval_every_steps=config.eval_every_steps,
      servers=[(learner, 'completed_steps')],
      **run_logs.make_evaluator_loggers(config.workdir))


def make_program(builder,
                 environment_factory: EnvironmentFactory,
                 network_factory: NetworkFactory,
                 policy_factory: PolicyFactory,
                 config: OnlineProgramConfig,
                 evaluation_environment_factory: Optional[EnvironmentFactory] = None,
                 evaluation_policy_factory: Optional[PolicyFactory] = None,
                 learner_initializer: Optional[LearnerInitializer] = None,
                 environment_spec: Optional[specs.EnvironmentSpec] = None,
                 name: str = 'online_program',
                 process_builder: Optional[Callable[[int], Any]] = None
                 ) -> lp.Program:
  """The online program of any Acme 0.4.0 ActorLearnerBuilder.

  Args:
    builder: an `acme.agents.jax.builders.ActorLearnerBuilder`.
    environment_factory: seed -> the actors' environment (the learning
      reward, e.g. clipped).
    network_factory: environment spec -> the builder's networks.
    policy_factory: networks -> the actors' policy (builder.make_actor's
      policy_network).
    config: budget, work directory, actors, evaluation.
    evaluation_environment_factory: seed -> the evaluator's environment
      (raw game scores); needed when config.evaluation_game is set.
    evaluation_policy_factory: networks -> the evaluator's policy; default
      policy_factory.
    learner_initializer: called with a new learner (see make_learner_runner).
    environment_spec: default: the spec of environment_factory(seed).
    name: the program's name.
    process_builder: process id -> the builder of that learner process
      (its share of the batch; logging on process 0 only); needed when
      config.learner_processes > 1 (the builder must make a learner that
      spans processes, as Scaled QL's does).
  """
  if config.evaluation_game and evaluation_environment_factory is None:
    raise ValueError('config.evaluation_game is set but no '
                     'evaluation_environment_factory was given.')
  if config.learner_processes > 1 and process_builder is None:
    raise ValueError(
        f'config.learner_processes={config.learner_processes} needs a '
        'process_builder: each learner process samples its share of the '
        'batch.')
  if environment_spec is None:
    environment_spec = specs.make_environment_spec(
        environment_factory(config.seed))
  address = learner_runner.coordinator_address(config.learner_processes,
                                               config.coordinator_address)
  program = lp.Program(name)
  with program.group('replay'):
    replay = program.add_node(stop.ReplayNode(
        functools.partial(_replay_tables, builder, environment_spec)))
  with program.group('counter'):
    counter = program.add_node(lp.CourierNode(stop.CounterNode))
  with program.group('learner'):
    learners = [program.add_node(lp.CourierNode(
        stop.ends_if_stopped_during_start_up(_learner_node),
        process_builder(process_id) if process_builder else builder,
        network_factory, environment_spec, replay, counter, config,
        learner_initializer, process_id, address))
                for process_id in range(config.learner_processes)]
  learner = learners[0]  # Serves the parameters that every process holds.
  with program.group(ACTOR_GROUP):
    for actor_id in range(config.num_actors):
      program.add_node(lp.CourierNode(
          ActorNode, builder, environment_factory, network_factory,
          policy_factory, replay, learner, counter, config, actor_id))
  if config.evaluation_game:
    with program.group('evaluator'):
      program.add_node(lp.CourierNode(
          stop.ends_if_stopped_during_start_up(_evaluator_node), builder,
          network_factory, evaluation_policy_factory or policy_factory,
          evaluation_environment_factory, environment_spec, learner, counter,
          config))
  return program
