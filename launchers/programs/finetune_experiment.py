"""Online fine-tuning of Scaled Q-Learning: one run, described by one dataclass.

`FinetuneExperiment` is what `python -m launchers.finetune_online` runs: a
pre-trained multi-game checkpoint (launchers.pretrain) fine-tuned online on
one of its games, in an ALE mode/difficulty variant, or a new agent trained
from scratch, as the online program of any Acme builder
(online_program.make_program) with the Scaled Q-Learning builder.
"""

import dataclasses
import functools
from typing import Any, Dict, Optional

from absl import logging
from acme import specs
from acme.utils import counting
import dm_env
import launchpad as lp

from agents.scaled_ql import checkpointing
from agents.scaled_ql import config as learner_config
from builders import builder as builder_lib
from builders import config as builder_config
from environments import factory
from environments import games as games_lib
from environments import wrappers
from launchers.programs import checkpoint_loading
from launchers.programs import evaluator as evaluator_lib
from launchers.programs import field_checks
from launchers.programs import learner_runner
from launchers.programs import online_program
from launchers.programs import run_logs
from launchers.programs import stop
from launchers.programs import supervision


# The program's settings that this experiment passes on keep its defaults.
_PROGRAM = online_program.OnlineProgramConfig


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
      fields (checkpointing.NETWORK_FIELDS) must be the checkpoint's
      (`checkpointing.network_settings` reads them).
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
    online: actors' exploration, parameter fetches and Reverb replay
      (builders.config.OnlineSettings, where the defaults and their sources
      are).
    actor_max_episode_frames: episode cap of the actors' games.
    checkpoint_every_steps: learner steps between checkpoints.
    eval_every_steps: learner steps between evaluation rounds.
    eval_episodes: episodes per evaluation round.
    eval_max_episode_frames: evaluation episode cap (108,000: the standard).
    seed: seeds everything.
    learner_processes: JAX processes that train the learner together
      (docs/MULTI_PROCESS.md), each sampling batch_size / learner_processes
      transitions per update; process 0 checkpoints, logs and serves the
      actors and the evaluator. More than 1 needs the local_mp launch type.
    coordinator_address: 'host:port' where learner process 0 listens for the
      others; None: localhost with a port free at launch.
  """
  game: str
  workdir: str
  learner: learner_config.ScaledQLConfig = learner_config.ScaledQLConfig()
  checkpoint: Optional[str] = None
  mode: Optional[int] = None
  difficulty: Optional[int] = None
  num_env_steps: int = 20_000
  num_actors: int = _PROGRAM.num_actors
  online: builder_config.OnlineSettings = builder_config.OnlineSettings()
  actor_max_episode_frames: int = evaluator_lib.STANDARD_MAX_EPISODE_FRAMES
  checkpoint_every_steps: int = _PROGRAM.checkpoint_every_steps
  eval_every_steps: int = _PROGRAM.eval_every_steps
  eval_episodes: int = _PROGRAM.eval_episodes
  eval_max_episode_frames: int = evaluator_lib.STANDARD_MAX_EPISODE_FRAMES
  seed: int = _PROGRAM.seed
  learner_processes: int = _PROGRAM.learner_processes
  coordinator_address: Optional[str] = _PROGRAM.coordinator_address

  def __post_init__(self):
    # Normalise the name (and fail early on unknown games).
    object.__setattr__(self, 'game', games_lib.canonical_name(self.game))

  @property
  def num_learner_steps(self) -> int:
    """Learner steps that num_env_steps of acting feed: the rate limiter lets
    the learner sample samples_per_insert items per transition beyond
    min_replay_size."""
    transitions = max(self.num_env_steps - self.online.min_replay_size, 0)
    return max(1, int(transitions * self.online.samples_per_insert /
                      self.learner.batch_size))

  def _pretrained_games(self):
    description = checkpointing.read_description(self.checkpoint)
    return tuple(description['games']), tuple(description['num_actions'])

  def validate(self):
    """Raises a clear error for bad input before anything runs: every field
    (field_checks), the budget, checkpoint (exists, is one, same network,
    has the game), variant, workdir."""
    for config in (self, self.learner, self.online):
      field_checks.check_fields(config)
    if self.learner.batch_size % self.learner_processes:
      raise ValueError(
          f'batch_size={self.learner.batch_size} is not a multiple of '
          f'learner_processes={self.learner_processes}: each process samples '
          'batch_size / learner_processes transitions per update.')
    if self.online.min_replay_size > self.online.max_replay_size:
      raise ValueError(
          f'min_replay_size={self.online.min_replay_size} exceeds '
          f'max_replay_size={self.online.max_replay_size}: the learner would '
          'never start.')
    if self.num_env_steps <= self.online.min_replay_size:
      raise ValueError(
          f'num_env_steps={self.num_env_steps} leaves the learner nothing to '
          f'learn from: it samples only once the replay holds '
          f'min_replay_size={self.online.min_replay_size} transitions, so '
          'num_env_steps must exceed min_replay_size.')
    if self.checkpoint:
      description = checkpointing.check_network(
          self.checkpoint, self.learner,
          'is a different network from the one asked for')
      games = list(description['games'])
      if self.game not in games:
        raise ValueError(
            f'{self.game} is not one of the games {self.checkpoint} was '
            f'trained on: {games}. Online fine-tuning adapts one of them (a '
            'new mode/difficulty); pick one of those games.')
    # Builds the game once, which validates mode and difficulty.
    factory.make_environment(self.game, mode=self.mode,
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
            online_game=self.game, online=self.online),
        logger_fn=logger_fn)

  def checkpoint_description(self) -> Dict[str, Any]:
    """What a checkpoint in the workdir must share with this run."""
    config = self.make_builder().config
    description = {'agent': 'scaled_ql', 'games': list(config.games),
                   'num_actions': list(config.num_actions),
                   'online_game': self.game, 'mode': self.mode,
                   'difficulty': self.difficulty}
    description.update(checkpointing.network_description(self.learner))
    return description

  def program_config(self) -> online_program.OnlineProgramConfig:
    return online_program.OnlineProgramConfig(
        workdir=self.workdir, num_steps=self.num_learner_steps,
        num_actors=self.num_actors,
        checkpoint_every_steps=self.checkpoint_every_steps,
        checkpoint_description=self.checkpoint_description(),
        evaluation_game=self.game, eval_every_steps=self.eval_every_steps,
        eval_episodes=self.eval_episodes, seed=self.seed,
        learner_processes=self.learner_processes,
        coordinator_address=self.coordinator_address)

  def actor_environment(self, seed: int) -> dm_env.Environment:
    """The game variant with clipped rewards (what the learner learns from)."""
    return wrappers.ClippedRewardEnvironment(factory.make_environment(
        self.game, mode=self.mode, difficulty=self.difficulty,
        seed=seed % (2**31), max_episode_frames=self.actor_max_episode_frames))

  def evaluation_environment(self, seed: int) -> dm_env.Environment:
    """The game variant with raw scores, under the evaluation protocol."""
    return evaluator_lib.make_evaluation_environment_factory(
        self.eval_max_episode_frames, mode=self.mode,
        difficulty=self.difficulty)(self.game, seed % (2**31))

  def initialize_learner(self, learner):
    """Puts the checkpoint's online parameters into a new learner (online
    and target; optimiser state, step and key stay the new learner's)."""
    if not self.checkpoint:
      return
    loaded = checkpoint_loading.load_checkpoint(self.checkpoint)
    learner.set_parameters(loaded.params)
    logging.info('Learner initialised from %s (pre-trained for %d steps).',
                 self.checkpoint, loaded.step)

  def process_builder(self, process_id: int) -> builder_lib.ScaledQLBuilder:
    """Learner process `process_id`'s builder: batch_size /
    learner_processes transitions per update, the learner's logs on process
    0 only."""
    experiment = dataclasses.replace(self, learner=dataclasses.replace(
        self.learner,
        batch_size=self.learner.batch_size // self.learner_processes))
    return experiment.make_builder(
        logger_fn=(lambda: run_logs.make_learner_logger(
            self.workdir, self.num_learner_steps)) if process_id == 0 else
        (lambda: None))

  def _program_parts(self):
    builder = self.make_builder(
        logger_fn=lambda: run_logs.make_learner_logger(
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
    return online_program.make_learner_runner(
        parts['builder'], parts['network_factory'],
        specs.make_environment_spec(self.actor_environment(self.seed)),
        replay_client, parts['config'], counter, parts['learner_initializer'])

  def make_program(self) -> lp.Program:
    parts = self._program_parts()
    return online_program.make_program(
        evaluation_environment_factory=self.evaluation_environment,
        evaluation_policy_factory=functools.partial(
            parts['builder'].make_policy, evaluation=True),
        name='scaled_ql_online_finetuning',
        process_builder=(self.process_builder if self.learner_processes > 1
                         else None), **parts)


def run(experiment: FinetuneExperiment, launch_type: str = 'local_mt'
        ) -> supervision.Supervision:
  """Validates `experiment` and runs its Launchpad program ('local_mt' or
  'local_mp') until it stops; everything is left in its workdir. Returns
  which actors failed (the program goes on while one runs).

  Raises:
    endings.ProgramFailed: a node other than an actor failed, or every
      actor did.
  """
  learner_runner.check_launch_type(experiment.learner_processes, launch_type)
  experiment.validate()
  logging.info('Fine-tuning %s (mode %s, difficulty %s) %s: %d environment '
               'steps, %d learner steps.', experiment.game, experiment.mode,
               experiment.difficulty,
               f'from {experiment.checkpoint}' if experiment.checkpoint
               else 'from scratch', experiment.num_env_steps,
               experiment.num_learner_steps)
  return stop.launch(experiment.make_program(), launch_type,
                     expendable_groups=(online_program.ACTOR_GROUP,))
