"""Online fine-tuning as a Launchpad program, for any Acme 0.4.0 builder.

`make_program` takes an Acme `ActorLearnerBuilder` with an environment
factory, a network factory and a policy factory (the arguments of Acme's own
DistributedLayout) and builds:

  replay     the builder's Reverb tables (program_stop.ReplayNode: drained
             for a few seconds after the stop, so no actor stays blocked on
             a rate limiter)
  counter    the program's Acme counter (program_stop.CounterNode)
  learner    builder.make_learner fed by builder.make_dataset_iterator on
             the replay (through program_stop.StopAwareIterator), run by a
             LearnerRunner: atomic checkpoints in <workdir>/checkpoints,
             resume from the latest one, and `lp.stop()` at num_steps
  actor_i    builder.make_actor with builder.make_adder, playing the
             environment; it polls the stop event at every step and makes
             no remote call after it; episode returns go to
             <workdir>/logs/actor_<i>/logs.csv
  evaluator  launchers.evaluation.Evaluator on the evaluation environment
             every eval_every_steps learner steps (optional)

The program stops by itself at the learner's step budget with exit status 0
under local_mt and local_mp, and cleanly on Ctrl-C / SIGTERM, as
launchers/program_stop.py describes.

`FinetuneExperiment` is Scaled Q-Learning's use of it (what
`python -m launchers.finetune_online` runs): a pre-trained multi-game
checkpoint (launchers.pretrain) fine-tuned online on one of its games, in an
ALE mode/difficulty variant, or a new agent trained from scratch.
"""

import dataclasses
import functools
import os
import time
from typing import Any, Callable, Dict, Mapping, Optional

from absl import logging

from builders import acme_compat  # noqa: F401  (before acme)

from acme import specs
from acme.utils import counting
import dm_env
import jax
import launchpad as lp

from agents.scaled_ql import checkpointing
from agents.scaled_ql import config as learner_config
from builders import builder as builder_lib
from builders import config as builder_config
from environments import atari
from environments import games as games_lib
from environments import wrappers
from launchers import evaluation
from launchers import learner_runner
from launchers import logging_utils
from launchers import program_stop

EnvironmentFactory = Callable[[int], dm_env.Environment]
NetworkFactory = Callable[[specs.EnvironmentSpec], Any]
PolicyFactory = Callable[[Any], Any]
LearnerInitializer = Callable[[Any], None]


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

  def __post_init__(self):
    if self.num_steps <= 0:
      raise ValueError(f'num_steps must be positive, got {self.num_steps}.')
    if self.num_actors <= 0:
      raise ValueError(f'num_actors must be positive, got {self.num_actors}.')

  @property
  def checkpoint_dir(self) -> str:
    return os.path.join(self.workdir, 'checkpoints')


class _EvaluationAgent:
  """What evaluation.Evaluator asks of a builder, for any Acme builder."""

  def __init__(self, builder, network_factory: NetworkFactory,
               policy_factory: PolicyFactory,
               environment_spec: specs.EnvironmentSpec):
    self._builder = builder
    self._network_factory = network_factory
    self._policy_factory = policy_factory
    self._environment_spec = environment_spec

  def make_networks(self):
    return self._network_factory(self._environment_spec)

  def make_policy(self, networks, game=None, evaluation=True):
    del game, evaluation  # The evaluation policy plays the program's game.
    return self._policy_factory(networks)

  def make_actor(self, *args, **kwargs):
    return self._builder.make_actor(*args, **kwargs)


def make_learner_runner(builder, network_factory: NetworkFactory,
                        environment_spec: specs.EnvironmentSpec,
                        replay_client, config: OnlineProgramConfig,
                        counter: Optional[counting.Counter] = None,
                        learner_initializer: Optional[LearnerInitializer] = None
                        ) -> learner_runner.LearnerRunner:
  """The learner node: the builder's learner on the replay, in a runner.

  `learner_initializer(learner)` runs on a new learner (e.g. to load
  pre-trained parameters); a checkpoint in the workdir then overrides it.
  """

  def make_learner():
    learner = builder.make_learner(
        random_key=jax.random.PRNGKey(config.seed),
        networks=network_factory(environment_spec),
        dataset=program_stop.StopAwareIterator(
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

  Plays episodes until the program stops, polling the stop event at every
  step (evaluation.run_episode); after the stop it makes no remote call. Each
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
    # The learner node is this program's LearnerRunner.
    if not program_stop.wait_until_serving(
        [(self._counter, 'get_counts'),
         (self._variable_source, 'completed_steps')]):
      return
    seed = self._config.seed + 1000 * (self._actor_id + 1)
    environment = self._environment_factory(seed)
    networks = self._network_factory(specs.make_environment_spec(environment))
    actor = self._builder.make_actor(
        jax.random.PRNGKey(seed), self._policy_factory(networks),
        self._builder.make_adder(self._replay_client), self._variable_source)
    counter = counting.Counter(self._counter, prefix='actor')
    logger = logging_utils.make_csv_logger(self._config.workdir,
                                           f'actor_{self._actor_id}')
    should_stop = program_stop.stop_requested
    episodes = 0
    try:
      while not should_stop():
        start = time.time()
        episode = evaluation.run_episode(environment, actor, should_stop,
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
                  config, learner_initializer):
  return make_learner_runner(builder, network_factory, environment_spec,
                             replay, config,
                             program_stop.CounterClient(counter),
                             learner_initializer)


def _evaluator_node(builder, network_factory, policy_factory,
                    environment_factory, environment_spec, learner, counter,
                    config):
  return evaluation.Evaluator(
      builder=_EvaluationAgent(builder, network_factory, policy_factory,
                               environment_spec),
      variable_source=learner, games=[config.evaluation_game],
      episodes_per_game=config.eval_episodes,
      environment_factory=lambda game, seed: environment_factory(seed),
      seed=config.seed + 1, counter=counter,
      eval_every_steps=config.eval_every_steps,
      learner_probe='completed_steps',
      **logging_utils.make_evaluator_loggers(config.workdir))


def make_program(builder,
                 environment_factory: EnvironmentFactory,
                 network_factory: NetworkFactory,
                 policy_factory: PolicyFactory,
                 config: OnlineProgramConfig,
                 evaluation_environment_factory: Optional[EnvironmentFactory] = None,
                 evaluation_policy_factory: Optional[PolicyFactory] = None,
                 learner_initializer: Optional[LearnerInitializer] = None,
                 environment_spec: Optional[specs.EnvironmentSpec] = None,
                 name: str = 'online_finetuning') -> lp.Program:
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
  """
  if config.evaluation_game and evaluation_environment_factory is None:
    raise ValueError('config.evaluation_game is set but no '
                     'evaluation_environment_factory was given.')
  if environment_spec is None:
    environment_spec = specs.make_environment_spec(
        environment_factory(config.seed))
  program = lp.Program(name)
  with program.group('replay'):
    replay = program.add_node(program_stop.ReplayNode(
        functools.partial(_replay_tables, builder, environment_spec)))
  with program.group('counter'):
    counter = program.add_node(lp.CourierNode(program_stop.CounterNode))
  with program.group('learner'):
    learner = program.add_node(lp.CourierNode(
        _learner_node, builder, network_factory, environment_spec, replay,
        counter, config, learner_initializer))
  with program.group('actor'):
    for actor_id in range(config.num_actors):
      program.add_node(lp.CourierNode(
          ActorNode, builder, environment_factory, network_factory,
          policy_factory, replay, learner, counter, config, actor_id))
  if config.evaluation_game:
    with program.group('evaluator'):
      program.add_node(lp.CourierNode(
          _evaluator_node, builder, network_factory,
          evaluation_policy_factory or policy_factory,
          evaluation_environment_factory, environment_spec, learner, counter,
          config))
  return program


# Scaled Q-Learning: fine-tuning a pre-trained checkpoint on a game variant.

def network_settings(checkpoint: str) -> Dict[str, Any]:
  """The network fields of ScaledQLConfig that `checkpoint` was trained with."""
  description = checkpointing.read_description(checkpoint)
  return {field: description[field] for field in checkpointing.NETWORK_FIELDS}


@dataclasses.dataclass(frozen=True)
class FinetuneExperiment:
  """Online fine-tuning of Scaled Q-Learning on one game (variant).

  Attributes:
    game: the game to play (either spelling). With a checkpoint, one of the
      games it was trained on: the learner trains that game's head (and the
      shared torso); the other heads are kept as they were.
    workdir: checkpoints and logs; a restarted run resumes from the latest
      checkpoint here (not from `checkpoint`).
    learner: the learner's hyperparameters. With a checkpoint, its network
      fields (network_size, feature_dim, num_atoms, v_min, v_max) must be the
      checkpoint's (`network_settings` reads them).
    checkpoint: a pre-trained checkpoint (launchers.pretrain); the learner
      starts from its online parameters (target = online) with a fresh
      optimiser state. None: train from scratch (one head).
    mode, difficulty: the ALE variant (None: the game's default). The paper
      fine-tunes online on variants of Freeway, Hero and Breakout (which
      modes and difficulties it does not say).
    num_env_steps: environment steps (all actors) the run is budgeted for;
      [paper] 20k online interaction steps. The learner's step budget is
      derived from it (`num_learner_steps`), since the rate limiter ties
      learner steps to inserted transitions.
    num_actors: actor nodes.
    min_replay_size: transitions before learning starts. [dopamine] 1,600,
      Dopamine's data-efficient (Atari-100k DER) setting: the usual 20k would
      be the whole budget.
    samples_per_insert: [dopamine] 8 (update every 4 steps, batch 32).
    max_replay_size: replay capacity in transitions.
    actor_epsilon: exploration of the actors. [dopamine] 0.01.
    variable_update_period: actor steps between parameter fetches.
    actor_max_episode_frames: episode cap of the actors' games.
    checkpoint_every_steps: learner steps between checkpoints.
    eval_every_steps: learner steps between evaluation rounds.
    eval_episodes: episodes per evaluation round.
    eval_max_episode_frames: evaluation episode cap (108,000: the standard).
    seed: seeds everything.
  """
  game: str
  workdir: str
  learner: learner_config.ScaledQLConfig = learner_config.ScaledQLConfig(
      batch_size=32)
  checkpoint: Optional[str] = None
  mode: Optional[int] = None
  difficulty: Optional[int] = None
  num_env_steps: int = 20_000
  num_actors: int = 1
  min_replay_size: int = 1_600
  samples_per_insert: float = 8.0
  max_replay_size: int = 1_000_000
  actor_epsilon: float = 0.01
  variable_update_period: int = 100
  actor_max_episode_frames: int = 108_000
  checkpoint_every_steps: int = 1000
  eval_every_steps: int = 1000
  eval_episodes: int = 1
  eval_max_episode_frames: int = 108_000
  seed: int = 0

  def __post_init__(self):
    # Normalise the name (and fail early on unknown games).
    object.__setattr__(self, 'game', games_lib.canonical_name(self.game))

  @property
  def num_learner_steps(self) -> int:
    """Learner steps that num_env_steps of acting feed: the rate limiter lets
    the learner sample samples_per_insert items per transition beyond
    min_replay_size."""
    transitions = max(self.num_env_steps - self.min_replay_size, 0)
    return max(1, int(transitions * self.samples_per_insert /
                      self.learner.batch_size))

  def _pretrained_games(self):
    description = checkpointing.read_description(self.checkpoint)
    return tuple(description['games']), tuple(description['num_actions'])

  def validate(self):
    """Raises a clear error for bad input before anything runs: checkpoint
    (exists, is one, same network, has the game), variant, workdir."""
    if self.checkpoint:
      description = checkpointing.read_description(self.checkpoint)
      games = list(description['games'])
      if self.game not in games:
        raise ValueError(
            f'{self.game} is not one of the games {self.checkpoint} was '
            f'trained on: {games}. Online fine-tuning adapts one of them (a '
            'new mode/difficulty); pick one of those games.')
      differences = checkpointing.network_differences(description,
                                                      self.learner)
      if differences:
        raise checkpointing.CheckpointMismatchError(
            f'{self.checkpoint} is a different network from the one asked '
            'for:\n  ' + '\n  '.join(differences) + '\nLeave the network '
            'flags unset to take the checkpoint\'s.')
    # Builds the game once, which validates mode and difficulty.
    atari.make_atari_environment(self.game, mode=self.mode,
                                 difficulty=self.difficulty)
    checkpointing.Checkpointer(self.program_config().checkpoint_dir,
                               self.checkpoint_description()).check_compatible()

  def make_builder(self, logger_fn=lambda: None) -> builder_lib.ScaledQLBuilder:
    if self.checkpoint:
      games, num_actions = self._pretrained_games()
    else:
      games = (self.game,)
      num_actions = (len(games_lib.action_set(self.game)),)
    return builder_lib.ScaledQLBuilder(
        builder_config.ScaledQLBuilderConfig(
            learner=self.learner, games=games, num_actions=num_actions,
            online_game=self.game, actor_epsilon=self.actor_epsilon,
            variable_update_period=self.variable_update_period,
            max_replay_size=self.max_replay_size,
            min_replay_size=self.min_replay_size,
            samples_per_insert=self.samples_per_insert),
        logger_fn=logger_fn)

  def checkpoint_description(self) -> Dict[str, Any]:
    """What a checkpoint in the workdir must share with this run."""
    config = self.make_builder().config
    description = {'games': list(config.games),
                   'num_actions': list(config.num_actions),
                   'online_game': self.game, 'mode': self.mode,
                   'difficulty': self.difficulty}
    description.update(checkpointing.network_description(self.learner))
    return description

  def program_config(self) -> OnlineProgramConfig:
    return OnlineProgramConfig(
        workdir=self.workdir, num_steps=self.num_learner_steps,
        num_actors=self.num_actors,
        checkpoint_every_steps=self.checkpoint_every_steps,
        checkpoint_description=self.checkpoint_description(),
        evaluation_game=self.game, eval_every_steps=self.eval_every_steps,
        eval_episodes=self.eval_episodes, seed=self.seed)

  def actor_environment(self, seed: int) -> dm_env.Environment:
    """The game variant with clipped rewards (what the learner learns from)."""
    return wrappers.ClippedRewardEnvironment(atari.make_atari_environment(
        self.game, mode=self.mode, difficulty=self.difficulty,
        seed=seed % (2**31), max_episode_frames=self.actor_max_episode_frames))

  def evaluation_environment(self, seed: int) -> dm_env.Environment:
    """The game variant with raw scores, under the evaluation protocol."""
    return evaluation.make_evaluation_environment_factory(
        self.eval_max_episode_frames, mode=self.mode,
        difficulty=self.difficulty)(self.game, seed % (2**31))

  def initialize_learner(self, learner):
    """Puts the checkpoint's online parameters into a new learner (online
    and target; optimiser state, step and key stay the new learner's)."""
    if not self.checkpoint:
      return
    loaded = evaluation.load_checkpoint(self.checkpoint)
    learner.set_parameters(loaded.params)
    logging.info('Learner initialised from %s (pre-trained for %d steps).',
                 self.checkpoint, loaded.step)

  def _program_parts(self):
    builder = self.make_builder(
        logger_fn=lambda: logging_utils.make_learner_logger(
            self.workdir, self.num_learner_steps))
    return dict(
        builder=builder,
        environment_factory=self.actor_environment,
        network_factory=lambda spec: builder.make_networks(),
        policy_factory=builder.make_policy,
        config=self.program_config(),
        learner_initializer=self.initialize_learner)

  def make_learner_runner(self, replay_client,
                          counter: Optional[counting.Counter] = None
                          ) -> learner_runner.LearnerRunner:
    """The learner node's runner (for tests and tools)."""
    parts = self._program_parts()
    return make_learner_runner(
        parts['builder'], parts['network_factory'],
        specs.make_environment_spec(self.actor_environment(self.seed)),
        replay_client, parts['config'], counter, parts['learner_initializer'])

  def make_program(self) -> lp.Program:
    parts = self._program_parts()
    return make_program(
        evaluation_environment_factory=self.evaluation_environment,
        evaluation_policy_factory=functools.partial(
            parts['builder'].make_policy, evaluation=True),
        name='scaled_ql_online_finetuning', **parts)
