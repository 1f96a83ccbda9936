"""Multi-game batches of stacked n-step transitions from RL Unplugged Atari.

One loader reads both the recorder's datasets and the published TFDS data:

  * a directory written by `launchers.make_dataset` (one `<Game>/` builder
    directory per game, one `checkpoint_XX` split per checkpoint);
  * `rlu_atari_checkpoints_ordered` (configs `<Game>_run_<k>`, splits
    checkpoint_00..49) or `rlu_atari` (one train split; checkpoints selected
    by the episodes' checkpoint_id) under a TFDS data_dir.

Everything a user can get wrong (game names, paths, schema, checkpoint range,
games missing from the data) is checked eagerly by `resolve_sources`, which
both entry points call before building any tf.data pipeline.

Per game, a tf.data stream (`decoded_episodes`): shuffled shard files ->
TFRecord episodes -> an episode shuffle buffer -> whole episodes decoded in
parallel workers (PNG frames, n-step returns and discounts folded once per
episode) -> prefetch. A `MultiGameSampler` keeps a pool of
`episode_pool_size` decoded episodes per game, stacks each episode's frames
once, and builds every batch with contiguous NumPy copies: each game gets a
multinomial share of the batch (weights = game proportions), each sample a
uniformly chosen pooled episode, which emits its transitions in random order
and is replaced once they are all used. Memory is bounded by the pools, not
by the dataset (streaming), unless `keep_decoded_episodes` keeps every
decoded episode for the passes after the first; `make_multigame_dataset`
wraps the sampler in a prefetched tf.data.Dataset.

Frame stacks never cross episodes: stack(t) = frames t-3..t of the episode,
with zero frames before its first step (as Dopamine's replay and our
environment pad).
"""

import atexit
import dataclasses
import math
import os
import re
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union
import weakref

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core import example_parser

from agents.scaled_ql.types import MultiGameTransition
from atari_data import schema
from atari_data import tf_data
from environments import games as games_lib

FRAME_STACK = 4
# rlu_atari's single split holds the 50 checkpoints of each DQN Replay run.
_RLU_NUM_CHECKPOINTS = 50

CheckpointSpec = Union[str, Tuple[int, int]]


@dataclasses.dataclass(frozen=True)
class LoaderConfig:
  """What to load and how to batch it.

  Attributes:
    games: games, in the order that defines game_id (the Q-head index).
    source: a directory written by launchers.make_dataset, or a TFDS name:
      'rlu_atari_checkpoints_ordered' (config '<Game>_run_<run>'), a name
      with a '{game}' placeholder ('rlu_atari_checkpoints_ordered/
      {game}_run_2'), a full single-game name ('rlu_atari_checkpoints_ordered/
      Pong_run_1') or 'rlu_atari'.
    data_dir: TFDS data dir for TFDS names (None: TFDS's default).
    run: DQN Replay run (1-5) for TFDS names that do not name a config.
    checkpoints: 'all', 'first 20%' (the paper's sub-optimal data), 'last
      10%', or a half-open range 'a:b' / (a, b) of checkpoint indices. A
      fraction keeps floor(fraction * number of checkpoints) checkpoints.
    n_step: maximal n of the n-step return (batch_rl's offline C51 uses 1;
      the paper's value was not found).
    discount: gamma (0.99 as in DQN Replay / batch_rl).
    batch_size: transitions per batch.
    game_weights: sampling proportion of each game (normalised; None:
      uniform).
    seed: seeds every random choice; a fixed seed gives identical batches.
    episode_pool_size: decoded episodes per game whose transitions are mixed
      at any time. Memory ~ games x (pool + 3) x episode length x 35 KB
      (stacked and single frames), e.g. ~40 MB per pooled 1,000-step episode.
    transition_reuse: times each transition is emitted while its episode is
      pooled (in random order). 1 = each transition once per pass over the
      data. PNG decoding (~40-60 us per frame on this 2-core machine) bounds
      one-pass throughput; 2 halves the decoding per emitted transition.
    episode_shuffle_buffer: serialised episodes shuffled before decoding.
    num_parallel_calls: parallel episode decoders per game.
    repeat: cycle through the data forever (training); False for one epoch.
      Batches keep batch_size rows, so the last batch_size - 1 or fewer
      transitions of an epoch, too few for a full batch, are not emitted.
    keep_decoded_episodes: decode each selected episode once, in the first
      pass, and keep it in memory (its frames, ~7 KB per step, e.g. ~2.1 GB
      for 3 games x 100,000 steps); every later pass replays the kept
      episodes in a fresh random order without reading or decoding. Where the
      data fit in memory this removes PNG decoding, the bound of one-pass
      throughput, from all passes but the first. Needs repeat=True.
  """
  games: Sequence[str]
  source: str
  data_dir: Optional[str] = None
  run: int = 1
  checkpoints: CheckpointSpec = 'all'
  n_step: int = 1
  discount: float = 0.99
  batch_size: int = 32
  game_weights: Optional[Sequence[float]] = None
  seed: int = 0
  episode_pool_size: int = 8
  transition_reuse: int = 1
  episode_shuffle_buffer: int = 16
  num_parallel_calls: int = 2
  repeat: bool = True
  keep_decoded_episodes: bool = False
  num_shards: int = 1
  shard_index: int = 0


def episode_in_shard(file_index, record_index, shard_index: int,
                     num_shards: int):
  """Whether episode `record_index` (0-based, in file order) of file
  `file_index` (in GameSource.files) belongs to shard `shard_index`.

  Episodes go round-robin over the shards within each file, starting at a
  different shard in each file: the shards are disjoint, cover every
  episode, and their sizes differ by at most one episode per file, also for
  data with one episode per file. Works on Python ints and tf tensors.
  """
  return (file_index + record_index) % num_shards == shard_index


@dataclasses.dataclass(frozen=True)
class GameSource:
  """Where one game's selected episodes are, after validation."""
  game: str
  description: str
  files: Tuple[str, ...]
  # Only for single-split sources: keep episodes with checkpoint_id in range.
  checkpoint_filter: Optional[Tuple[int, int]]
  num_checkpoints: int
  checkpoint_range: Tuple[int, int]


_FRACTION = re.compile(r'(first|last)\s*(\d+(?:\.\d+)?)\s*%')
_RANGE = re.compile(r'(\d+)\s*:\s*(\d+)')
_SPEC_FORMS = '"all", "first 20%", "last 10%", "a:b" or a (start, stop) tuple'


def check_checkpoint_spec(spec: CheckpointSpec) -> None:
  """Raises ValueError unless `spec` is a checkpoint selection that some
  dataset can satisfy (the form, a fraction in (0, 100]%, a range a < b);
  whether this dataset has enough checkpoints is select_checkpoints'."""
  if isinstance(spec, str):
    text = spec.strip().lower()
    fraction, explicit = _FRACTION.fullmatch(text), _RANGE.fullmatch(text)
    if text == 'all':
      return
    if fraction:
      percent = float(fraction.group(2))
      if not 0 < percent <= 100:
        raise ValueError(
            f'checkpoints={spec!r}: a fraction is a percentage in (0, 100], '
            f'e.g. "{fraction.group(1)} 20%"')
      return
    if not explicit:
      raise ValueError(f'checkpoints={spec!r} cannot be parsed; use '
                       f'{_SPEC_FORMS}')
    start, stop = int(explicit.group(1)), int(explicit.group(2))
  else:
    start, stop = (int(x) for x in spec)
  if not 0 <= start < stop:
    raise ValueError(f'checkpoints={spec!r}: a range a:b needs 0 <= a < b')


def select_checkpoints(spec: CheckpointSpec,
                       num_checkpoints: int) -> Tuple[int, int]:
  """Half-open range [start, stop) of checkpoints that `spec` selects.

  Raises:
    ValueError: for a malformed spec or an empty or out-of-bounds range.
  """
  check_checkpoint_spec(spec)
  if isinstance(spec, str):
    text = spec.strip().lower()
    fraction, explicit = _FRACTION.fullmatch(text), _RANGE.fullmatch(text)
    if text == 'all':
      start, stop = 0, num_checkpoints
    elif fraction:
      count = math.floor(float(fraction.group(2)) / 100 * num_checkpoints +
                         1e-9)
      if count == 0:
        raise ValueError(
            f'checkpoints={spec!r} keeps no checkpoint of a dataset with '
            f'{num_checkpoints}: a fraction keeps floor(fraction x '
            f'{num_checkpoints}) of them. Choose a fraction of at least '
            f'{math.ceil(100 / num_checkpoints)}%, a range inside '
            f'0:{num_checkpoints}, or record more checkpoints.')
      if fraction.group(1) == 'first':
        start, stop = 0, count
      else:
        start, stop = num_checkpoints - count, num_checkpoints
    else:
      start, stop = int(explicit.group(1)), int(explicit.group(2))
  else:
    start, stop = (int(x) for x in spec)
  if stop > num_checkpoints:
    raise ValueError(
        f'checkpoints={spec!r} selects [{start}, {stop}), beyond the '
        f'{num_checkpoints} checkpoints (0..{num_checkpoints - 1}) of the '
        'dataset. Choose a range inside 0:{}, or record more '
        'checkpoints.'.format(num_checkpoints))
  return start, stop


def _check_schema(builder, where: str):
  differences = schema.schema_differences(builder.info.features)
  if differences:
    listing = '; '.join(f'{k}: {v}' for k, v in differences.items())
    raise ValueError(
        f'{where} does not have the RL Unplugged Atari schema '
        f'(tensorflow_datasets.rl_unplugged.atari_utils.features_dict()): '
        f'{listing}. Record it with launchers.make_dataset or convert it.')


def _checkpoint_splits(builder, where: str) -> List[str]:
  splits = sorted(s for s in builder.info.splits
                  if re.fullmatch(r'checkpoint_\d+', s))
  expected = [schema.checkpoint_split(i) for i in range(len(splits))]
  if not splits or splits != expected:
    raise ValueError(
        f'{where} should have splits checkpoint_00..checkpoint_K (one per '
        f'checkpoint), found {sorted(builder.info.splits)}.')
  return splits


def _source_from_builder(game: str, builder, where: str,
                         checkpoints: CheckpointSpec) -> GameSource:
  _check_schema(builder, where)
  if set(builder.info.splits) == {'train'}:  # rlu_atari: one split.
    start, stop = select_checkpoints(checkpoints, _RLU_NUM_CHECKPOINTS)
    files = builder.info.splits['train'].filepaths
    return GameSource(game, where, tuple(map(os.fspath, files)),
                      checkpoint_filter=(start, stop),
                      num_checkpoints=_RLU_NUM_CHECKPOINTS,
                      checkpoint_range=(start, stop))
  splits = _checkpoint_splits(builder, where)
  start, stop = select_checkpoints(checkpoints, len(splits))
  files = [os.fspath(f) for split in splits[start:stop]
           for f in builder.info.splits[split].filepaths]
  return GameSource(game, where, tuple(files), checkpoint_filter=None,
                    num_checkpoints=len(splits),
                    checkpoint_range=(start, stop))


def _directory_source(game: str, source: str,
                      checkpoints: CheckpointSpec) -> GameSource:
  path = os.path.join(source, game)
  if not os.path.isfile(os.path.join(path, 'dataset_info.json')):
    present = _recorded_games(source)
    raise ValueError(
        f'Game {game} is absent from the dataset directory {source} (games '
        f'there: {present}). Record it with `python -m launchers.make_dataset '
        f'--games={game} --output_dir={source}` or remove it from games.')
  return _source_from_builder(game, tfds.builder_from_directory(path), path,
                              checkpoints)


def _tfds_name(game: str, source: str, run: int) -> str:
  """Full TFDS name '<dataset>/<config>' of `game` in `source`."""
  if '{game}' in source:
    return source.format(game=game)
  if '/' not in source:
    return f'{source}/{game}_run_{run}'
  config_game = source.split('/', 1)[1].split('_run_')[0]
  if config_game != game:
    raise ValueError(
        f'source={source!r} names one game ({config_game}) but games '
        f'includes {game}. Use a name without a config (e.g. '
        f'{source.split("/")[0]!r}) or a "{{game}}" placeholder.')
  return source


def _tfds_source(game: str, source: str, data_dir: Optional[str], run: int,
                 checkpoints: CheckpointSpec) -> GameSource:
  name = _tfds_name(game, source, run)
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as error:  # TFDS raises several types for bad names.
    raise ValueError(
        f'TFDS has no dataset {name!r} (game {game} may be absent from '
        f'{source}: RL Unplugged covers 46 games): {error}') from error
  info_file = os.path.join(builder.data_dir, 'dataset_info.json')
  if not tf.io.gfile.exists(info_file):
    raise ValueError(
        f'{name} is not prepared under data_dir={data_dir!r} (no '
        f'{info_file}). Copy the prepared dataset there or pass the data_dir '
        'that holds it; these machines cannot download it.')
  return _source_from_builder(game, builder, f'{name} in {builder.data_dir}',
                              checkpoints)


def _recorded_games(directory: str) -> List[str]:
  """The games of a launchers.make_dataset directory (<dir>/<Game>/ holding
  a dataset_info.json); none for any other directory."""
  return sorted(d for d in os.listdir(directory)
                if os.path.isfile(os.path.join(directory, d,
                                               'dataset_info.json')))


def _is_tfds_name(source: str) -> bool:
  """Whether `source` names a registered TFDS dataset (else: a directory).

  A directory of recorded games is a directory whatever its name; a folder
  that merely has a TFDS dataset's name (such as a TFDS data_dir's own
  rlu_atari_checkpoints_ordered/, when run from the data_dir) is not one.
  """
  if os.path.isdir(source) and _recorded_games(source):
    return False
  try:
    tfds.builder_cls(source.split('/')[0])
  except Exception:  # pylint: disable=broad-except  (DatasetNotFoundError...)
    return False
  return True


def resolve_sources(config: LoaderConfig) -> List[GameSource]:
  """Validates `config` and finds every game's files; fails early and clearly.

  Raises:
    ValueError: unknown game, bad checkpoint range or spec, schema mismatch,
      game absent from the source, unprepared TFDS data, bad parameters.
    FileNotFoundError: a directory source that does not exist.
    NotADirectoryError: a source that is a file.
  """
  if not config.games:
    raise ValueError('games is empty; pass at least one game.')
  names = [games_lib.canonical_name(game) for game in config.games]
  if len(set(names)) != len(names):
    raise ValueError(f'games has duplicates: {names}.')
  if config.game_weights is not None:
    weights = np.asarray(config.game_weights, np.float64)
    if weights.shape != (len(names),) or (weights < 0).any() or (
        weights.sum() <= 0):
      raise ValueError(
          f'game_weights={config.game_weights} must be {len(names)} '
          'non-negative numbers, one per game, with a positive sum.')
  for field in ('n_step', 'batch_size', 'episode_pool_size',
                'transition_reuse', 'num_parallel_calls'):
    if getattr(config, field) < 1:
      raise ValueError(f'{field} must be >= 1, got {getattr(config, field)}.')
  if not 0.0 <= config.discount <= 1.0:
    raise ValueError(f'discount must be in [0, 1], got {config.discount}.')
  if config.num_shards < 1:
    raise ValueError(f'num_shards must be >= 1, got {config.num_shards}.')
  if not 0 <= config.shard_index < config.num_shards:
    raise ValueError(f'shard_index={config.shard_index} is not in 0..'
                     f'{config.num_shards - 1} (num_shards='
                     f'{config.num_shards}).')
  if config.keep_decoded_episodes and not config.repeat:
    raise ValueError(
        'keep_decoded_episodes=True needs repeat=True: with repeat=False '
        'there is one pass, which decodes every episode once anyway.')
  if _is_tfds_name(config.source):
    return [_tfds_source(game, config.source, config.data_dir, config.run,
                         config.checkpoints) for game in names]
  if os.path.exists(config.source) and not os.path.isdir(config.source):
    raise NotADirectoryError(
        f'Dataset {config.source} is a file; give the directory written by '
        'launchers.make_dataset (it holds one <Game>/ folder per game) or a '
        'TFDS name such as rlu_atari_checkpoints_ordered.')
  if not os.path.isdir(config.source):
    raise FileNotFoundError(
        f'Dataset directory {config.source} does not exist (and it is not a '
        'TFDS name such as rlu_atari_checkpoints_ordered). Record one with '
        f'`python -m launchers.make_dataset --output_dir={config.source}` or '
        'fix the path.')
  return [_directory_source(game, config.source, config.checkpoints)
          for game in names]


def frame_stacks(frames: np.ndarray) -> np.ndarray:
  """[T, 84, 84, 4] stacks of frames t-3..t of [T, 84, 84] `frames`.

  Frames before the episode's first are zeros. Stacking once per episode
  makes batching a contiguous copy. The interleave goes through uint16 pairs
  of frames: ~8 us per step here, against 23-56 us for NumPy stacking or
  strided copies and ~75 us for tf.gather + tf.transpose.
  """
  length = len(frames)
  padded = np.concatenate(
      [np.zeros((FRAME_STACK - 1,) + frames.shape[1:], np.uint8), frames])
  pairs = np.empty(padded[1:].shape + (2,), np.uint8)  # (f_s, f_s+1)
  pairs[..., 0] = padded[:-1]
  pairs[..., 1] = padded[1:]
  pairs = pairs.view(np.uint16)[..., 0]
  stacks = np.empty(frames.shape + (2,), np.uint16)  # (pair_t, pair_t+2)
  stacks[..., 0] = pairs[:length]
  stacks[..., 1] = pairs[2:length + 2]
  return stacks.view(np.uint8).reshape(frames.shape + (FRAME_STACK,))


def _decode_episode(steps: Dict[str, tf.Tensor], n_step: int,
                    discount: float) -> Dict[str, tf.Tensor]:
  """Decodes one episode's frames and folds its n-step transitions.

  Runs once per episode, in parallel tf.data workers. Step t < T-1 of an
  episode of T steps is a transition; with k_t = min(n, T-1-t):
  reward_t = sum_{i<k_t} gamma^i clip(r_{t+i}),
  discount_t = 0 if step t+k_t is the episode's terminal step else gamma^k_t,
  and s_{t+k_t} is the frame stack at step next_t = t+k_t.
  """
  frames = tf.map_fn(
      lambda png: tf.io.decode_png(png, channels=1)[..., 0],
      steps['observation'],
      fn_output_signature=tf.TensorSpec([84, 84], tf.uint8))
  length = tf.shape(frames)[0]
  num_transitions = length - 1
  t = tf.range(num_transitions)
  k = tf.minimum(n_step, num_transitions - t)
  rewards = tf.clip_by_value(steps['reward'][:-1], -1.0, 1.0)
  # Zeros past the last transition make every window a plain n-term sum.
  padded_rewards = tf.concat([rewards, tf.zeros([n_step], tf.float32)], 0)
  reward_windows = tf.gather(padded_rewards,
                             t[:, None] + tf.range(n_step)[None, :])
  powers = tf.constant([discount**i for i in range(n_step)], tf.float32)
  next_t = t + k
  reaches_terminal = tf.logical_and(steps['is_terminal'][-1],
                                    tf.equal(next_t, num_transitions))
  return {
      'frames': frames,
      'action': tf.cast(steps['action'][:-1], tf.int32),
      'reward': tf.reduce_sum(reward_windows * powers[None, :], axis=1),
      'discount': tf.where(reaches_terminal, 0.0,
                           tf.pow(discount, tf.cast(k, tf.float32))),
      'next_t': next_t,
  }


def decoded_episodes(source: GameSource, config: LoaderConfig,
                     seed: int) -> tf.data.Dataset:
  """Streams one game's selected episodes, decoded by `_decode_episode`
  (those of shard config.shard_index of config.num_shards)."""
  cycle_length = min(len(source.files), 4)
  if config.num_shards == 1:
    files = tf.data.Dataset.from_tensor_slices(list(source.files))
    files = files.shuffle(len(source.files), seed=seed,
                          reshuffle_each_iteration=True)
    records = files.interleave(tf.data.TFRecordDataset,
                               cycle_length=cycle_length)
  else:
    # The shard is decided on each file's own record order, before any
    # shuffle, so that it is the same set of episodes in every pass.
    shard_index, num_shards = config.shard_index, config.num_shards

    def shard_records(path, file_index):
      return tf.data.TFRecordDataset(path).enumerate().filter(
          lambda record_index, _: episode_in_shard(
              file_index, record_index, shard_index, num_shards)).map(
                  lambda _, record: record)

    files = tf.data.Dataset.from_tensor_slices(
        (list(source.files), tf.range(len(source.files), dtype=tf.int64)))
    files = files.shuffle(len(source.files), seed=seed,
                          reshuffle_each_iteration=True)
    records = files.interleave(shard_records, cycle_length=cycle_length)
  if config.episode_shuffle_buffer > 1:
    records = records.shuffle(config.episode_shuffle_buffer, seed=seed + 1,
                              reshuffle_each_iteration=True)
  parser = example_parser.ExampleParser(
      schema.features_dict().get_serialized_info())
  episodes = records.map(parser.parse_example)
  if source.checkpoint_filter is not None:
    start, stop = source.checkpoint_filter
    episodes = episodes.filter(lambda e: tf.logical_and(
        e['checkpoint_id'] >= start, e['checkpoint_id'] < stop))
  episodes = episodes.filter(lambda e: tf.size(e['steps']['action']) >= 2)
  if config.repeat:
    # After the filters: tf.data ends, rather than spins, on an empty epoch.
    episodes = episodes.repeat()
  n_step, discount = config.n_step, config.discount
  decoded = episodes.map(
      lambda e: _decode_episode(e['steps'], n_step, discount),
      num_parallel_calls=config.num_parallel_calls, deterministic=True)
  return decoded.prefetch(1).with_options(tf_data.pipeline_options())


class _PooledEpisode:
  """A decoded episode and the shuffled order in which it emits transitions."""

  def __init__(self, episode: Dict[str, np.ndarray], reuse: int,
               rng: np.random.Generator):
    self.episode = episode
    # Stacked here rather than in a tf.numpy_function inside the tf.data
    # workers: a 3-game run of that variant hung here.
    self.stacks = frame_stacks(episode.pop('frames'))
    self._order = rng.permutation(
        np.tile(np.arange(len(episode['action'])), reuse))
    self._position = 0

  def take(self, count: int) -> np.ndarray:
    taken = self._order[self._position:self._position + count]
    self._position += len(taken)
    return taken

  @property
  def exhausted(self) -> bool:
    return self._position >= len(self._order)


class MultiGameSampler:
  """Iterator of MultiGameTransition batches mixed from several games.

  Per game it keeps a pool of `episode_pool_size` decoded episodes fed by a
  `decoded_episodes` tf.data stream; every transition of a pooled episode is
  emitted `transition_reuse` times in random order, after which the episode
  is replaced by the next one. A batch takes multinomial(batch_size,
  game_weights) transitions from the games, each from a uniformly chosen
  pooled episode, at uniformly random rows. Stacks are copied contiguously.
  """

  def __init__(self, config: LoaderConfig):
    self._sources = resolve_sources(config)  # Fails before any tf.data work.
    self._config = config
    # Shards draw differently from one seed (one shard: the seed's own).
    seeds = np.random.SeedSequence(
        config.seed, spawn_key=(() if config.num_shards == 1 else
                                (config.shard_index,))).generate_state(
                                    len(self._sources) + 1)
    self._rng = np.random.default_rng(seeds[-1])
    # With keep_decoded_episodes, the streams make one pass and the sampler
    # replays what they decoded.
    stream_config = (dataclasses.replace(config, repeat=False)
                     if config.keep_decoded_episodes else config)
    self._streams = [
        decoded_episodes(source, stream_config,
                         int(seed) % 2**31).as_numpy_iterator()
        for source, seed in zip(self._sources, seeds)
    ]
    self._kept = [[] for _ in self._sources]
    self._replay_order = [[] for _ in self._sources]
    # Filled now, so that a selection without usable episodes fails here.
    self._pools = [self._fill_pool(game_id)
                   for game_id in range(len(self._sources))]
    weights = (np.ones(len(self._sources)) if config.game_weights is None
               else np.asarray(config.game_weights, np.float64))
    self._weights = weights / weights.sum()
    _LIVE_SAMPLERS.add(self)

  @property
  def sources(self) -> List[GameSource]:
    return list(self._sources)

  @property
  def replaying_from_memory(self) -> bool:
    """Whether every game's first pass is over and its batches come from
    the kept episodes (only with keep_decoded_episodes)."""
    return self._config.keep_decoded_episodes and not any(
        stream is not None for stream in self._streams)

  def close(self):
    """Releases the tf.data streams and pooled episodes; ends iteration."""
    self._streams = []
    self._kept = []
    self._pools = []
    self._weights = np.zeros(0)

  def _next_episode(self, game_id: int) -> Optional[Dict[str, np.ndarray]]:
    """The game's next decoded episode; None once its data are used up
    (only without repeat)."""
    stream = self._streams[game_id]
    if stream is not None:
      episode = next(stream, None)
      if not self._config.keep_decoded_episodes:
        return episode
      if episode is not None:
        self._kept[game_id].append(episode)
        return episode
      self._streams[game_id] = None  # The first pass is over.
    order = self._replay_order[game_id]
    if not order:  # A new pass over the kept episodes, in a new order.
      order.extend(self._rng.permutation(len(self._kept[game_id])))
    return self._kept[game_id][order.pop()]

  def _next_pooled(self, game_id: int) -> Optional[_PooledEpisode]:
    episode = self._next_episode(game_id)
    if episode is None:
      return None
    # A copy: pooling takes the frames out of the episode, not out of the
    # kept one.
    return _PooledEpisode(dict(episode), self._config.transition_reuse,
                          self._rng)

  def _fill_pool(self, game_id: int) -> List[_PooledEpisode]:
    pool = [self._next_pooled(game_id)
            for _ in range(self._config.episode_pool_size)]
    pool = [pooled for pooled in pool if pooled is not None]
    if not pool:
      source = self._sources[game_id]
      if self._config.num_shards > 1:
        raise ValueError(
            f'{source.description}: shard {self._config.shard_index} of '
            f'{self._config.num_shards} (one per learner process) has no '
            f'episode with a transition in checkpoints '
            f'[{source.checkpoint_range[0]}, {source.checkpoint_range[1]}). '
            'Use fewer learner processes or select more checkpoints.')
      raise ValueError(
          f'{source.description} has no episode with a transition in '
          f'checkpoints [{source.checkpoint_range[0]}, '
          f'{source.checkpoint_range[1]}). Select other checkpoints.')
    return pool

  def _fill(self, game_id: int, count: int, rows: np.ndarray,
            batch: Dict[str, np.ndarray]) -> int:
    """Writes `count` transitions of one game into `rows`; returns how many."""
    pool = self._pools[game_id]
    written = 0
    while written < count and pool:
      slots = np.bincount(self._rng.integers(len(pool), size=count - written),
                          minlength=len(pool))
      for slot in np.flatnonzero(slots)[::-1]:
        pooled = pool[slot]
        taken = pooled.take(slots[slot])
        target = rows[written:written + len(taken)]
        episode = pooled.episode
        batch['observation'][target] = pooled.stacks[taken]
        batch['next_observation'][target] = pooled.stacks[
            episode['next_t'][taken]]
        for field in ('action', 'reward', 'discount'):
          batch[field][target] = episode[field][taken]
        batch['game_id'][target] = game_id
        written += len(taken)
        if pooled.exhausted:
          replacement = self._next_pooled(game_id)
          if replacement is None:
            del pool[slot]
          else:
            pool[slot] = replacement
    return written

  def __iter__(self):
    return self

  def __next__(self) -> MultiGameTransition:
    size = self._config.batch_size
    batch = {
        'observation': np.empty((size, 84, 84, FRAME_STACK), np.uint8),
        'action': np.empty((size,), np.int32),
        'reward': np.empty((size,), np.float32),
        'discount': np.empty((size,), np.float32),
        'next_observation': np.empty((size, 84, 84, FRAME_STACK), np.uint8),
        'game_id': np.empty((size,), np.int32),
    }
    rows = self._rng.permutation(size)
    filled = 0
    weights = self._weights.copy()
    while filled < size:
      if weights.sum() == 0:  # Every game used up (repeat=False).
        raise StopIteration
      counts = self._rng.multinomial(size - filled, weights / weights.sum())
      for game_id in np.flatnonzero(counts):
        written = self._fill(game_id, counts[game_id],
                             rows[filled:filled + counts[game_id]], batch)
        filled += written
        if written < counts[game_id]:
          self._weights[game_id] = weights[game_id] = 0.0
    return MultiGameTransition(**batch)


# Samplers still alive at exit release their tf.data iterators while
# TensorFlow is intact: left to the garbage collector during interpreter
# shutdown, each prints an "Exception ignored in IteratorResourceDeleter".
_LIVE_SAMPLERS = weakref.WeakSet()
atexit.register(lambda: [sampler.close() for sampler in list(_LIVE_SAMPLERS)])


def make_multigame_iterator(config: LoaderConfig
                            ) -> Iterator[MultiGameTransition]:
  """NumPy MultiGameTransition batches for the learner (validated eagerly)."""
  return MultiGameSampler(config)


def make_multigame_dataset(config: LoaderConfig) -> tf.data.Dataset:
  """The same batches as a prefetched tf.data.Dataset of dicts.

  Validation happens in this call. Fields: observation/next_observation
  uint8 [B, 84, 84, 4], action int32 [B], reward/discount float32 [B],
  game_id int32 [B].
  """
  sampler = MultiGameSampler(config)
  size = config.batch_size
  stack = tf.TensorSpec((size, 84, 84, FRAME_STACK), tf.uint8)
  signature = {
      'observation': stack,
      'action': tf.TensorSpec((size,), tf.int32),
      'reward': tf.TensorSpec((size,), tf.float32),
      'discount': tf.TensorSpec((size,), tf.float32),
      'next_observation': stack,
      'game_id': tf.TensorSpec((size,), tf.int32),
  }
  dataset = tf.data.Dataset.from_generator(
      lambda: (batch._asdict() for batch in sampler),
      output_signature=signature)
  return dataset.prefetch(2).with_options(tf_data.pipeline_options())
