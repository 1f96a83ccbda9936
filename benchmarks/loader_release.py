r"""How long releasing the loader's streams takes once they have idled.

  python -m benchmarks.loader_release                 # demo_output/dataset
  python -m benchmarks.loader_release --source_dir=study_output/data \
      --idle_seconds=60 --runs=2

A training process releases its loader's tf.data streams when it exits (the
loader's exit hook closes every live sampler), long after the learner
stopped reading them. Each case runs in a fresh process: it opens a
`loader.MultiGameSampler` over the dataset's games, draws a few batches,
leaves the sampler idle for --idle_seconds, closes it and prints the wall
and CPU seconds of the close. Cases:

  project    the project's pipeline options (atari_data/tf_data.py:
             autotuning off);
  autotuned  the same pipelines with TensorFlow's default autotuning on.

The close is almost all waiting (CPU seconds stay near 0), so the figures
depend little on the load; the load average is printed anyway.
"""

import json
import os
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags
import tensorflow as tf

from atari_data import loader
from atari_data import tf_data

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SOURCE_DIR = flags.DEFINE_string(
    'source_dir', os.path.join(_REPO_ROOT, 'demo_output', 'dataset'),
    'A recorded dataset (`make demo` records demo_output/dataset; '
    '`python -m launchers.make_dataset` records any).')
_IDLE_SECONDS = flags.DEFINE_float(
    'idle_seconds', 60.0, 'How long the sampler idles before its close.')
_RUNS = flags.DEFINE_integer('runs', 2, 'Fresh processes per case.')
_CASES = ('project', 'autotuned')
# Internal: one measurement in a fresh process, printed as JSON.
_MEASURE = flags.DEFINE_enum('measure', None, _CASES, 'Internal.')
flags.register_validator('idle_seconds', lambda value: value >= 0,
                         '--idle_seconds must be >= 0.')
flags.register_validator('runs', lambda value: value >= 1,
                         '--runs must be >= 1.')


def _measure(case: str, source_dir: str, idle_seconds: float) -> dict:
  if case == 'autotuned':
    project_options = tf_data.pipeline_options

    def autotuned_options() -> tf.data.Options:
      options = project_options()
      options.autotune.enabled = True
      return options

    tf_data.pipeline_options = autotuned_options
  games = sorted(name for name in os.listdir(source_dir)
                 if os.path.isdir(os.path.join(source_dir, name)))
  sampler = loader.MultiGameSampler(
      loader.LoaderConfig(games=games, source=source_dir))
  for _ in range(10):
    next(sampler)
  time.sleep(idle_seconds)
  cpu, wall = time.process_time(), time.time()
  sampler.close()
  return {'case': case, 'games': games,
          'close_wall_s': time.time() - wall,
          'close_cpu_s': time.process_time() - cpu}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  source_dir = _SOURCE_DIR.value
  if _MEASURE.value:
    print(json.dumps(_measure(_MEASURE.value, source_dir,
                              _IDLE_SECONDS.value)))
    return
  if not os.path.isdir(source_dir):
    raise app.UsageError(
        f'--source_dir={source_dir} is not a directory: record a dataset '
        'first (`make demo` or `python -m launchers.make_dataset`).')
  print(f'load average before: {os.getloadavg()[0]:.2f}', flush=True)
  results = {case: [] for case in _CASES}
  for run in range(_RUNS.value):
    for case in _CASES:
      output = subprocess.run(
          [sys.executable, '-m', 'benchmarks.loader_release',
           f'--measure={case}', f'--source_dir={source_dir}',
           f'--idle_seconds={_IDLE_SECONDS.value}'],
          cwd=_REPO_ROOT, check=True, capture_output=True, text=True).stdout
      result = json.loads(output.strip().splitlines()[-1])
      results[case].append(result)
      print(f'run {run} {case}: close {result["close_wall_s"]:.2f} s wall, '
            f'{result["close_cpu_s"]:.2f} s CPU, after '
            f'{_IDLE_SECONDS.value:.0f} s idle ({",".join(result["games"])})',
            flush=True)
  for case in _CASES:
    walls = [r['close_wall_s'] for r in results[case]]
    print(f'{case}: close median {statistics.median(walls):.2f} s, '
          f'min {min(walls):.2f}, max {max(walls):.2f} ({len(walls)} runs)')
  print(f'load average after: {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
  app.run(main)
