"""Records real Atari play as RLDS datasets in the RL Unplugged Atari schema.

Layout (one TFDS builder directory per game, opened by
`tfds.builder_from_directory(<output_dir>/<Game>)`):

  <output_dir>/<Game>/dataset_info.json, features.json, metadata.json
  <output_dir>/<Game>/recorded_atari-checkpoint_00.tfrecord-00000-of-00001
  ...                 recorded_atari-checkpoint_<K-1>.tfrecord-00000-of-00001

i.e. one split per checkpoint like `rlu_atari_checkpoints_ordered`, with
checkpoint k played by the behaviour policy the `PolicyFactory` returns for k.
The per-checkpoint statistics (mean clipped episode return, mean raw game
score, episodes, steps, behaviour) are in metadata.json
(`builder.info.metadata['checkpoints']`).

Writing is atomic per game: everything goes to a hidden sibling directory that
is renamed to <Game> only once data and metadata are complete, so an
interrupted recording leaves nothing a loader would open.
"""

import dataclasses
import hashlib
import multiprocessing
import os
import shutil
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence

from absl import logging
import dm_env
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from atari_data import policies
from atari_data import schema
from environments import atari
from environments import factory
from environments import games
from environments import seeding


@dataclasses.dataclass(frozen=True)
class RecorderConfig:
  """What to record.

  Attributes:
    output_dir: directory that receives one dataset directory per game.
    games: games to record, either spelling (stored under CamelCase names).
    num_checkpoints: checkpoints (splits) per game, of rising quality.
    episodes_per_checkpoint: complete episodes per checkpoint; exclusive with
      steps_per_checkpoint.
    steps_per_checkpoint: agent steps (transitions) per checkpoint, like the
      published data's 1M-step checkpoints; the episode running when the
      budget is spent is cut there (is_last without is_terminal).
    seed: seeds the environments and policies (each game and checkpoint gets
      its own stream, so recordings are reproducible).
    sticky_action_probability: as in `atari.AtariConfig`.
    max_episode_frames: as in `atari.AtariConfig` (108,000 by default).
    mode: ALE game mode to record (None: default).
    difficulty: ALE difficulty to record (None: default).
    overwrite: replace an existing dataset of the same game.
  """
  output_dir: str
  games: Sequence[str] = ('Pong',)
  num_checkpoints: int = 5
  episodes_per_checkpoint: Optional[int] = None
  steps_per_checkpoint: Optional[int] = 1000
  seed: int = 0
  sticky_action_probability: float = 0.25
  max_episode_frames: int = 108_000
  mode: Optional[int] = None
  difficulty: Optional[int] = None
  overwrite: bool = False

  def __post_init__(self):
    if (self.episodes_per_checkpoint is None) == (
        self.steps_per_checkpoint is None):
      raise ValueError('Set exactly one of episodes_per_checkpoint and '
                       'steps_per_checkpoint, got '
                       f'{self.episodes_per_checkpoint} and '
                       f'{self.steps_per_checkpoint}.')
    if (self.episodes_per_checkpoint or self.steps_per_checkpoint) < 1:
      raise ValueError('episodes/steps per checkpoint must be >= 1.')
    if self.num_checkpoints < 1:
      raise ValueError(f'num_checkpoints must be >= 1, got '
                       f'{self.num_checkpoints}.')


@dataclasses.dataclass
class CheckpointStats:
  """What one checkpoint's behaviour achieved, written into metadata.json."""
  checkpoint_id: int
  behaviour: str
  num_episodes: int
  num_complete_episodes: int
  num_steps: int
  mean_episode_return: float  # Sum of clipped rewards, over all episodes.
  mean_game_score: float      # Sum of raw rewards, over all episodes.
  # The same over complete episodes only (None if the step budget cut the
  # only episode): cut episodes bias the means above downwards.
  mean_complete_episode_return: Optional[float]
  mean_complete_game_score: Optional[float]
  seconds: float


def dataset_dir(output_dir: str, game: str) -> str:
  """Where the recorder puts (and the loader finds) a game's dataset."""
  return os.path.join(output_dir, games.canonical_name(game))


def dataset_digest(output_dir: str, game: str) -> str:
  """SHA-256 of a recorded game's episodes: each split's file name, then
  its records in order, each serialized with sorted feature keys. The file
  bytes themselves vary between processes (protobuf writes a map in hash
  order) and the metadata holds the recording's timings, so neither is
  hashed."""
  digest = hashlib.sha256()
  directory = dataset_dir(output_dir, game)
  for name in sorted(os.listdir(directory)):
    if '.tfrecord-' not in name:
      continue
    digest.update(name.encode())
    for record in tf.data.TFRecordDataset(os.path.join(directory, name)):
      digest.update(tf.train.Example.FromString(record.numpy())
                    .SerializeToString(deterministic=True))
  return digest.hexdigest()


def _record_episode(environment: dm_env.Environment,
                    policy: policies.BehaviourPolicy,
                    max_steps: Optional[int]):
  """Plays one episode (at most `max_steps` transitions); RLDS step arrays."""
  timestep = environment.reset()
  frames, actions, rewards, discounts = [], [], [], []
  game_score = 0.0
  while not timestep.last() and (max_steps is None or
                                 len(actions) < max_steps):
    frames.append(timestep.observation[..., -1:])
    action = policy.select_action(timestep, environment)
    timestep = environment.step(action)
    actions.append(action)
    rewards.append(atari.clip_reward(timestep.reward))
    discounts.append(timestep.discount)
    game_score += float(timestep.reward)
  # The last step holds only the final observation (RLDS); its action,
  # reward and discount are placeholders nothing reads.
  terminal = timestep.last() and timestep.discount == 0.0
  frames.append(timestep.observation[..., -1:])
  actions.append(0)
  rewards.append(0.0)
  discounts.append(0.0 if terminal else 1.0)
  length = len(frames)
  steps = {
      'observation': np.stack(frames),
      'action': np.asarray(actions, np.int64),
      'reward': np.asarray(rewards, np.float32),
      'discount': np.asarray(discounts, np.float32),
      'is_first': np.arange(length) == 0,
      'is_last': np.arange(length) == length - 1,
      'is_terminal': np.logical_and(np.arange(length) == length - 1,
                                    terminal),
  }
  return steps, timestep.last(), game_score


def _refuse_existing(target: str):
  if os.path.exists(target):
    raise FileExistsError(f'{target} exists; pass --overwrite '
                          '(overwrite=True) to replace it or choose another '
                          'output directory.')


def check_targets(config: 'RecorderConfig'):
  """Raises before anything is recorded: an unknown game, or (without
  `overwrite`) a game already recorded in `output_dir`."""
  for game in config.games:
    target = dataset_dir(config.output_dir, games.canonical_name(game))
    if not config.overwrite:
      _refuse_existing(target)


class DatasetWriter:
  """Writes one game's dataset directory atomically; a context manager.

  Episodes go to a hidden staging directory beside the target; `commit`
  writes the TFDS metadata and renames staging to <output_dir>/<Game>.
  Leaving the `with` block without `commit` (an error, an interrupt) deletes
  the staging directory, and a killed process leaves only a hidden
  `.<Game>.incomplete-*` directory without metadata, which nothing loads.
  """

  def __init__(self, output_dir: str, game: str, overwrite: bool = False):
    self._game = games.canonical_name(game)
    self._output_dir = output_dir
    self._target = dataset_dir(output_dir, self._game)
    if not overwrite:
      _refuse_existing(self._target)
    self._features = schema.features_dict()
    self._split_infos = []
    self._staging = None

  def __enter__(self) -> 'DatasetWriter':
    os.makedirs(self._output_dir, exist_ok=True)
    self._staging = os.path.join(
        self._output_dir,
        f'.{self._game}.incomplete-{os.getpid()}-{time.time_ns()}')
    os.makedirs(self._staging)
    return self

  def __exit__(self, *exc_info):
    if self._staging is not None:  # Not committed.
      shutil.rmtree(self._staging, ignore_errors=True)

  def write_checkpoint(self, episodes: Iterable[Dict[str, np.ndarray]]
                       ) -> List[float]:
    """Writes the next checkpoint's split; returns its episode returns.

    Args:
      episodes: RLDS step arrays of each episode (keys of the schema's
        `steps`), as `_record_episode` returns them.
    """
    checkpoint = len(self._split_infos)
    split = schema.checkpoint_split(checkpoint)
    path = os.path.join(
        self._staging,
        f'{schema.RECORDED_DATASET_NAME}-{split}.tfrecord-00000-of-00001')
    returns = []
    with tf.io.TFRecordWriter(path) as writer:
      for steps in episodes:
        # The schema's episode_return: the sum of the clipped rewards.
        returns.append(float(steps['reward'][:-1].sum()))
        writer.write(self._features.serialize_example({
            'steps': steps,
            'checkpoint_id': checkpoint,
            'episode_id': len(returns) - 1,
            'episode_return': returns[-1],
        }))
    self._split_infos.append(tfds.core.SplitInfo(
        name=split, shard_lengths=[len(returns)],
        num_bytes=os.path.getsize(path)))
    return returns

  def commit(self, metadata: Dict[str, Any]) -> str:
    """Writes TFDS metadata (+ `metadata`) and moves the dataset in place."""
    tfds.folder_dataset.write_metadata(
        data_dir=self._staging,
        features=self._features,
        split_infos=self._split_infos,
        version=schema.RECORDED_VERSION,
        description=(f'{self._game} played with the DQN Replay protocol '
                     '(environments.atari); one split per behaviour '
                     'checkpoint, RL Unplugged Atari schema.'),
        metadata=tfds.core.MetadataDict(game=self._game, **metadata),
        disable_shuffling=True,
        check_data=False,
    )
    if os.path.exists(self._target):
      shutil.rmtree(self._target)
    os.rename(self._staging, self._target)
    self._staging = None
    return self._target


def _record_checkpoint(game: str, checkpoint: int, config: RecorderConfig,
                       policy_factory: policies.PolicyFactory,
                       writer: DatasetWriter) -> CheckpointStats:
  """Plays one checkpoint's episodes into `writer`."""
  start = time.time()
  env_seed, policy_seed = seeding.recording_seeds(config.seed, game,
                                                 checkpoint)
  environment = factory.make_environment(
      game, mode=config.mode, difficulty=config.difficulty,
      seed=env_seed,
      sticky_action_probability=config.sticky_action_probability,
      max_episode_frames=config.max_episode_frames)
  policy = policy_factory(game, checkpoint, config.num_checkpoints,
                          environment, policy_seed)
  scores, complete, lengths = [], [], []

  def play():
    while True:
      if config.episodes_per_checkpoint is not None:
        if len(lengths) == config.episodes_per_checkpoint:
          return
        budget = None
      else:
        budget = config.steps_per_checkpoint - sum(lengths)
        if budget <= 0:
          return
      steps, ended, game_score = _record_episode(environment, policy, budget)
      scores.append(game_score)
      complete.append(ended)
      lengths.append(len(steps['action']) - 1)
      yield steps

  returns = writer.write_checkpoint(play())
  complete_mean = lambda values: (
      float(np.mean(np.asarray(values)[complete])) if any(complete) else None)
  return CheckpointStats(
      checkpoint_id=checkpoint, behaviour=policies.describe(policy),
      num_episodes=len(returns), num_complete_episodes=sum(complete),
      num_steps=sum(lengths), mean_episode_return=float(np.mean(returns)),
      mean_game_score=float(np.mean(scores)),
      mean_complete_episode_return=complete_mean(returns),
      mean_complete_game_score=complete_mean(scores),
      seconds=time.time() - start)


def record_game(game: str, config: RecorderConfig,
                policy_factory: policies.PolicyFactory
                ) -> List[CheckpointStats]:
  """Records `config.num_checkpoints` checkpoints of `game`, atomically."""
  game = games.canonical_name(game)
  stats = []
  with DatasetWriter(config.output_dir, game, config.overwrite) as writer:
    for checkpoint in range(config.num_checkpoints):
      stats.append(_record_checkpoint(game, checkpoint, config,
                                      policy_factory, writer))
      logging.info('%s checkpoint %d: %s', game, checkpoint, stats[-1])
    writer.commit({
        'checkpoints': [dataclasses.asdict(s) for s in stats],
        'recorder_config': {**dataclasses.asdict(config),
                            'games': list(config.games)},
    })
  return stats


def record(config: RecorderConfig,
           policy_factory: Optional[policies.PolicyFactory] = None,
           processes: int = 1) -> Dict[str, List[CheckpointStats]]:
  """Records every game of `config`; returns game -> per-checkpoint stats.

  Args:
    config: what to record.
    policy_factory: behaviour per checkpoint; default
      `policies.LookaheadSchedule()` (random at checkpoint 0, then
      epsilon-greedy lookahead with falling epsilon). With processes > 1 it
      must pickle (the schedules of `policies` do).
    processes: games recorded at once, each in its own process. A game's
      episodes depend only on the seed, the game and the checkpoint, so
      they are the same whatever the number (`dataset_digest`).
  """
  if processes < 1:
    raise ValueError(f'processes must be >= 1, got {processes}.')
  policy_factory = policy_factory or policies.LookaheadSchedule()
  # Fail on any bad name or recorded game before spending minutes on others.
  check_targets(config)
  names = [games.canonical_name(game) for game in config.games]
  processes = min(processes, len(names))
  if processes == 1:
    return {game: record_game(game, config, policy_factory) for game in names}
  # Spawned, not forked: TensorFlow's threads do not survive a fork. Leaving
  # the pool (a stop signal, a game's error) terminates the other games'
  # processes; each leaves at most a hidden staging directory.
  with multiprocessing.get_context('spawn').Pool(processes) as pool:
    stats = pool.starmap(
        record_game, [(game, config, policy_factory) for game in names])
  return dict(zip(names, stats))
