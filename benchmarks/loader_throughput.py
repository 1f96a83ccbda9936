r"""Loader throughput (stacked transitions/s) and peak RSS, 1 and 3 games.

  python -m benchmarks.loader_throughput            # records its own data
  python -m benchmarks.loader_throughput --source_dir=/tmp/atari_data

Records (or reuses) a small random-play dataset of Pong, MsPacman and Breakout,
replicates its shard files into a "small" (x1) and a "large" (x8) dataset per
game, then measures every (games, size, transition_reuse,
keep_decoded_episodes) case in a fresh process, so that each peak RSS
(ru_maxrss) is that case's alone. Throughput is the median over --runs timed
runs of --batches batches each, after warm-up; with keep_decoded_episodes,
after the first pass too, so that the runs replay from memory (the first
pass decodes at the streaming rate). RSS that does not grow from small to
large shows that the streaming loader (keep_decoded_episodes false) is
bounded by its pools.
The load average is printed because this machine's 2 cores are shared.
"""

import itertools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

_SOURCE_DIR = flags.DEFINE_string(
    'source_dir', None, 'Recorded dataset directory to replicate (default: '
    'record one into a temporary directory).')
_GAMES = flags.DEFINE_list('games', ['Pong', 'MsPacman', 'Breakout'],
                           'Games; the first alone is the 1-game case.')
_LARGE_COPIES = flags.DEFINE_integer(
    'large_copies', 8, 'How many times larger the "large" dataset is.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 256, 'Batch size.')
_BATCHES = flags.DEFINE_integer('batches', 40, 'Batches per timed run.')
_RUNS = flags.DEFINE_integer('runs', 5, 'Timed runs; the median is reported.')
_REUSES = flags.DEFINE_list('transition_reuse', ['1', '2'],
                            'LoaderConfig.transition_reuse values to time.')
_KEEPS = flags.DEFINE_list(
    'keep_decoded_episodes', ['false', 'true'],
    'LoaderConfig.keep_decoded_episodes values to time; with true, the runs '
    'start after the first pass.')
_BOOLEANS = {'false': False, 'true': True}
flags.register_validator(
    'keep_decoded_episodes',
    lambda values: all(value.lower() in _BOOLEANS for value in values),
    message='--keep_decoded_episodes takes a list of true and false.')
_N_STEP = flags.DEFINE_integer('n_step', 3, 'n of the n-step returns.')
# Internal: one measurement in a fresh process, printed as JSON.
_MEASURE = flags.DEFINE_string('measure', None, 'Internal.')


def _record_base(directory: str, games):
  from atari_data import policies  # pylint: disable=g-import-not-at-top
  from atari_data import recorder  # pylint: disable=g-import-not-at-top
  recorder.record(recorder.RecorderConfig(
      output_dir=directory, games=tuple(games), num_checkpoints=2,
      steps_per_checkpoint=2500, seed=0), policies.uniform_random_factory)


def _replicate(base_dir: str, game: str, copies: int, output_dir: str) -> int:
  """Copies a game's shards `copies` times as more checkpoints; transitions."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from atari_data import schema  # pylint: disable=g-import-not-at-top
  builder = tfds.builder_from_directory(os.path.join(base_dir, game))
  target = os.path.join(output_dir, game)
  os.makedirs(target)
  split_infos, checkpoint = [], 0
  for _ in range(copies):
    for split in sorted(builder.info.splits):
      info = builder.info.splits[split]
      name = schema.checkpoint_split(checkpoint)
      shutil.copyfile(
          os.fspath(info.filepaths[0]),
          os.path.join(target, f'{schema.RECORDED_DATASET_NAME}-{name}'
                       '.tfrecord-00000-of-00001'))
      split_infos.append(tfds.core.SplitInfo(
          name=name, shard_lengths=[info.num_examples],
          num_bytes=info.num_bytes))
      checkpoint += 1
  tfds.folder_dataset.write_metadata(
      data_dir=target, features=builder.info.features,
      split_infos=split_infos, check_data=False)
  steps = sum(c['num_steps'] for c in builder.info.metadata['checkpoints'])
  return steps * copies


def _measure(case: dict) -> dict:
  """Runs in a fresh process: throughput runs and this process's peak RSS."""
  from atari_data import loader  # pylint: disable=g-import-not-at-top
  config = loader.LoaderConfig(
      games=case['games'], source=case['source'], n_step=case['n_step'],
      batch_size=case['batch_size'],
      transition_reuse=case['transition_reuse'],
      keep_decoded_episodes=case['keep_decoded_episodes'])
  sampler = loader.make_multigame_iterator(config)
  while config.keep_decoded_episodes and not sampler.replaying_from_memory:
    next(sampler)  # The first pass decodes, at the streaming rate.
  for _ in range(case['batches']):  # Warm-up: pools filled, graphs traced.
    next(sampler)
  rates = []
  for _ in range(case['runs']):
    start = time.perf_counter()
    for _ in range(case['batches']):
      next(sampler)
    rates.append(case['batches'] * case['batch_size'] /
                 (time.perf_counter() - start))
  return {
      'median_transitions_per_s': statistics.median(rates),
      'rates': rates,
      'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  }


def main(argv):
  del argv
  if _MEASURE.value:
    print(json.dumps(_measure(json.loads(_MEASURE.value))))
    return
  print(f'load average at start: {os.getloadavg()} (2 shared cores)')
  workdir = tempfile.mkdtemp(prefix='loader_benchmark_')
  try:
    base_dir = _SOURCE_DIR.value
    if base_dir is None:
      base_dir = os.path.join(workdir, 'base')
      started = time.time()
      _record_base(base_dir, _GAMES.value)
      print(f'recorded base data in {time.time() - started:.0f}s')
    sizes = {}
    for label, copies in (('small', 1), ('large', _LARGE_COPIES.value)):
      directory = os.path.join(workdir, label)
      sizes[label] = (directory, {
          game: _replicate(base_dir, game, copies, directory)
          for game in _GAMES.value})
    print(f'{"games":>5} {"size":>6} {"transitions/game":>16} {"reuse":>5} '
          f'{"keep":>5} {"median trans/s":>14} {"peak RSS MB":>11}')
    for games in (_GAMES.value[:1], _GAMES.value):
      for reuse, keep, (label, (directory, transitions)) in (
          itertools.product(_REUSES.value, _KEEPS.value, sizes.items())):
        keep = _BOOLEANS[keep.lower()]
        case = dict(games=games, source=directory, n_step=_N_STEP.value,
                    batch_size=_BATCH_SIZE.value, batches=_BATCHES.value,
                    runs=_RUNS.value, transition_reuse=int(reuse),
                    keep_decoded_episodes=keep)
        output = subprocess.run(
            [sys.executable, '-m', 'benchmarks.loader_throughput',
             f'--measure={json.dumps(case)}'],
            check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        print(f'{len(games):>5} {label:>6} '
              f'{transitions[games[0]]:>16} {reuse:>5} {str(keep):>5} '
              f'{result["median_transitions_per_s"]:>14,.0f} '
              f'{result["peak_rss_mb"]:>11,.0f}', flush=True)
    print(f'load average at end: {os.getloadavg()}')
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
  app.run(main)
