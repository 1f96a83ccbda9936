"""A multi-game offline pre-training experiment: everything one run needs.

`PretrainExperiment` is a plain, picklable description (games, data, network,
steps, work directory, evaluation); its methods build the parts in whichever
process needs them, so the same experiment runs as a Launchpad program
(`local_mt`, `local_mp`) or in a single process. Work directory layout:

  <workdir>/checkpoints/checkpoint-<step>.npz   learner state (atomic)
  <workdir>/logs/<label>/logs.csv               learner, evaluator, ...
  <workdir>/tensorboard/                        the same, for TensorBoard
"""

import dataclasses
import os
from typing import Any, Dict, Iterator, Optional, Tuple

from absl import logging
from acme.utils import counting
import jax

from agents.scaled_ql import checkpointing
from agents.scaled_ql import config as learner_config
from agents.scaled_ql import multi_process
from agents.scaled_ql import transfer
from agents.scaled_ql import types as agent_types
from atari_data import loader
from builders import agents
from builders import builder as builder_lib
from builders import config as builder_config
from environments import games as games_lib
from launchers.programs import checkpoint_loading
from launchers.programs import evaluator as evaluator_lib
from launchers.programs import field_checks
from launchers.programs import learner_runner
from launchers.programs import run_logs


@dataclasses.dataclass(frozen=True)
class PretrainExperiment:
  """Attributes:

    games: games to pre-train on (either spelling); head order.
    dataset: where the RLDS data are: a directory written by
      launchers.make_dataset (one dataset per game), or a TFDS name such as
      rlu_atari_checkpoints_ordered (config <Game>_run_<run>) or
      'rlu_atari_checkpoints_ordered/{game}_run_2', read from data_dir (see
      atari_data.loader).
    checkpoints: which behaviour checkpoints of the data to train on, e.g.
      'first 20%' (the paper's sub-optimal set), 'all' or '0:5'.
    learner: the learner's hyperparameters.
    agent: what learns, one of builders.agents.AGENTS: 'scaled_ql' (this
      project's learner) or 'bc' (Acme's behaviour cloning on the same
      network, reading network_size, feature_dim, the optimiser settings and
      batch_size of `learner`).
    num_steps: learner steps of the whole run.
    workdir: checkpoints and logs; a run restarted with the same workdir
      resumes from its latest checkpoint.
    checkpoint_every_steps: learner steps between checkpoints.
    eval_every_steps: learner steps between evaluation rounds.
    eval_episodes: episodes per game and evaluation round.
    eval_max_episode_frames: episode cap of evaluation games (108,000 is the
      standard protocol; shorter caps make CPU demos affordable).
    seed: seeds parameters, data order and evaluation.
    data_dir: TFDS data dir for TFDS names.
    episode_pool_size: decoded episodes per game that batches mix (see
      atari_data.loader.LoaderConfig; more means less correlated batches
      and more memory).
    keep_decoded_episodes: keep every decoded episode in memory after the
      first pass over the data, so that later passes skip PNG decoding
      (atari_data.loader.LoaderConfig; ~7 KB per recorded step).
    init_checkpoint: a checkpoint of another pre-training run to start from
      (offline fine-tuning, e.g. on a game the backbone never saw): its
      torso, projection and the heads of the games it knows seed the new
      network; new games get fresh heads; the optimiser starts afresh. Its
      network settings must be this run's. Ignored when the work directory
      already has a checkpoint (the run resumes from that).
    learner_processes: JAX processes that train the one network together
      (agents.scaled_ql.multi_process; docs/MULTI_PROCESS.md), each with its
      local devices and its own share of the episodes and of the batch
      (batch_size / learner_processes rows); process 0 writes checkpoints
      and logs and serves the evaluator. More than 1 needs the local_mp
      launch type (one process per node) and agent scaled_ql.
    coordinator_address: 'host:port' where learner process 0 listens for the
      others, reachable from each of them. None: localhost with a free port
      picked at launch (every learner process on this machine).
  """
  games: Tuple[str, ...]
  dataset: str
  checkpoints: str
  learner: learner_config.ScaledQLConfig
  num_steps: int
  workdir: str
  agent: str = 'scaled_ql'
  checkpoint_every_steps: int = 1000
  eval_every_steps: int = 2000
  eval_episodes: int = 1
  eval_max_episode_frames: int = evaluator_lib.STANDARD_MAX_EPISODE_FRAMES
  seed: int = 0
  data_dir: Optional[str] = None
  episode_pool_size: int = 8
  keep_decoded_episodes: bool = False
  init_checkpoint: Optional[str] = None
  learner_processes: int = 1
  coordinator_address: Optional[str] = None

  def __post_init__(self):
    # Normalise names (and fail early on unknown games) before anything runs.
    object.__setattr__(self, 'games',
                       tuple(games_lib.canonical_name(g) for g in self.games))
    agents.check_agent(self.agent)
    if self.init_checkpoint and self.agent != 'scaled_ql':
      raise ValueError(f'init_checkpoint seeds Scaled QL runs only, not '
                       f'agent={self.agent!r}.')

  @property
  def checkpoint_dir(self) -> str:
    return os.path.join(self.workdir, 'checkpoints')

  def make_builder(self, logger_fn=lambda: None) -> builder_lib.ScaledQLBuilder:
    num_actions = tuple(len(games_lib.action_set(game)) for game in self.games)
    return agents.make_builder(
        self.agent,
        builder_config.ScaledQLBuilderConfig(
            learner=self.learner, games=self.games, num_actions=num_actions),
        logger_fn=logger_fn)

  def checkpoint_description(self) -> Dict[str, Any]:
    """What a checkpoint must share with this run to be resumed into it."""
    config = self.make_builder().config
    return {'agent': self.agent, 'games': list(config.games),
            'num_actions': list(config.num_actions),
            **checkpointing.network_description(self.learner)}

  def make_checkpointer(self) -> checkpointing.Checkpointer:
    return checkpointing.Checkpointer(self.checkpoint_dir,
                                      self.checkpoint_description())

  def validate(self):
    """Raises a clear error for bad input before any training starts.

    Checks every field (field_checks), the data (games, directory or TFDS
    name, schema, checkpoint range) and that the latest intact checkpoint in
    the work directory was written by a compatible run (array shapes are
    checked again on restore).
    """
    field_checks.check_fields(self)
    field_checks.check_fields(self.learner)
    self.check_learner_processes()
    loader.resolve_sources(self.loader_config())
    self.make_checkpointer().check_compatible()
    if self.init_checkpoint:
      self.check_init_checkpoint()

  def check_learner_processes(self):
    """Raises unless the learner can be split over learner_processes."""
    processes = self.learner_processes
    if processes == 1:
      return
    if self.agent != 'scaled_ql':
      raise ValueError(f'learner_processes={processes}: only the scaled_ql '
                       f'agent trains over several processes, not '
                       f'agent={self.agent!r}.')
    if self.learner.batch_size % processes:
      raise ValueError(
          f'batch_size={self.learner.batch_size} is not a multiple of '
          f'learner_processes={processes}: each process loads '
          'batch_size / learner_processes rows of the global batch.')

  def process_settings(self, process_id: int,
                       coordinator_address: Optional[str]
                       ) -> multi_process.ProcessSettings:
    """Learner process `process_id`'s place among learner_processes, with
    the coordinator address the program chose (coordinator_address or a
    free localhost port)."""
    return multi_process.ProcessSettings(
        num_processes=self.learner_processes, process_id=process_id,
        coordinator_address=coordinator_address)

  def check_init_checkpoint(self):
    """Raises unless `init_checkpoint` can seed this run's network (same
    network settings; the games may differ)."""
    checkpointing.check_network(self.init_checkpoint, self.learner,
                                'cannot seed this network')

  def initialise_from_checkpoint(self, learner, networks):
    """Sets `learner`'s online and target parameters from init_checkpoint
    (agents.scaled_ql.transfer), keeping its fresh optimiser state."""
    self.check_init_checkpoint()
    pretrained = checkpoint_loading.load_checkpoint(self.init_checkpoint)
    learner.set_parameters(transfer.transfer_parameters(
        pretrained.params, pretrained.builder.config.games,
        pretrained.builder.config.num_actions, learner.save().params,
        self.games, networks.num_actions))
    logging.info('Initialised from %s (games %s).', self.init_checkpoint,
                 list(pretrained.builder.config.games))

  def loader_config(self, process_id: int = 0) -> loader.LoaderConfig:
    """Learner process `process_id`'s loader: its shard of the episodes and
    its rows of the batch (all of both with one learner process)."""
    return loader.LoaderConfig(
        games=self.games, source=self.dataset, data_dir=self.data_dir,
        checkpoints=self.checkpoints, n_step=self.learner.n_step,
        discount=self.learner.discount,
        batch_size=self.learner.batch_size // self.learner_processes,
        seed=self.seed, episode_pool_size=self.episode_pool_size,
        keep_decoded_episodes=self.keep_decoded_episodes,
        num_shards=self.learner_processes, shard_index=process_id)

  def make_dataset_iterator(self, process_id: int = 0
                            ) -> Iterator[agent_types.MultiGameTransition]:
    return loader.make_multigame_iterator(self.loader_config(process_id))

  def make_learner_runner(
      self, counter: Optional[counting.Counter] = None, process_id: int = 0,
      coordinator_address: Optional[str] = None
  ) -> learner_runner.LearnerRunner:
    """The learner (process `process_id` of learner_processes, which meet
    at `coordinator_address`) and its checkpoints.

    With several learner processes this joins them first (before any JAX
    computation of this process); the processes other than 0 neither log
    nor count (`counter` is ignored there).
    """
    settings = self.process_settings(
        process_id, coordinator_address or self.coordinator_address)
    multi_process.initialize(settings)
    if not settings.is_chief:
      counter = None
    builder = self.make_builder(logger_fn=(
        (lambda: run_logs.make_learner_logger(self.workdir, self.num_steps))
        if settings.is_chief else lambda: None))

    def make_learner():
      networks = builder.make_networks()
      # Prefixed as Acme's layouts do: the learner's steps count as
      # 'learner_steps' on the program's counter.
      learner = builder.make_learner(
          random_key=jax.random.PRNGKey(self.seed), networks=networks,
          dataset=self.make_dataset_iterator(process_id),
          counter=counting.Counter(counter, prefix='learner'))
      if self.init_checkpoint:
        # LearnerRunner then restores the work directory's own checkpoint
        # over this, if there is one.
        if settings.is_chief:
          self.initialise_from_checkpoint(learner, networks)
        else:  # Takes process 0's parameters (its hosts may lack the file).
          learner.restore(learner.save())
      return learner

    return learner_runner.LearnerRunner(
        make_learner, self.make_checkpointer(), self.num_steps,
        self.checkpoint_every_steps, counter=counter)

  def make_evaluator(self, variable_source,
                     counter: Optional[counting.Counter] = None,
                     learner_probe: Optional[str] = None
                     ) -> evaluator_lib.Evaluator:
    """The evaluator of every game, with parameters from `variable_source`
    (the learner node, or a LearnerRunner in this process).

    `learner_probe`: a method of the learner node, taking no arguments, that
    the evaluator's `run()` waits for before its first round.
    """
    return evaluator_lib.Evaluator(
        actor_factory=evaluator_lib.scaled_ql_actor_factory(
            self.make_builder(), variable_source),
        games=self.games, episodes_per_game=self.eval_episodes,
        environment_factory=evaluator_lib.make_evaluation_environment_factory(
            self.eval_max_episode_frames),
        seed=self.seed + 1, counter=counter,
        eval_every_steps=self.eval_every_steps,
        servers=[(variable_source, learner_probe)] if learner_probe else (),
        **run_logs.make_evaluator_loggers(self.workdir))
