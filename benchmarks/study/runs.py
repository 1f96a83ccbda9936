"""What every study run shares, offline or online.

Where a run works (<root>/<study.work_subdir>/runs/<method>/seed_<k>), which
runs are pending, a run's checkpoint of an update and the one a fine-tuning
run starts from, its learning curve from the evaluator's log, and the record
of how it ran.
"""

import dataclasses
import os
import subprocess
import time
from typing import Dict, List, Optional, Sequence, Tuple

from absl import flags
import jax

from agents.scaled_ql import checkpointing
from benchmarks.study import config as study_config
from benchmarks.study import results as results_lib
from launchers.programs import checkpoint_loading
from launchers.programs import config_flags
from launchers.programs import endings
from launchers.programs import plots

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

# The runners' --root: recorded data and run folders (not committed).
DEFAULT_ROOT = os.path.join(_REPO_ROOT, 'study_output')


def define_location_flags():
  """--root and --results_dir, shared by the study's command lines; defined
  only when one of them runs, as flags of that command line (its --help
  lists them)."""
  module_name = config_flags.calling_module_name()
  return dict(
      root=flags.DEFINE_string(
          'root', DEFAULT_ROOT,
          "Recorded data and the runs' work directories (not committed).",
          module_name=module_name),
      results_dir=flags.DEFINE_string(
          'results_dir', results_lib.DEFAULT_RESULTS_DIR,
          'Where result files go (committed).', module_name=module_name))
# Final evaluations' environments are seeded apart from training's.
FINAL_EVALUATION_SEED = 100_000


def study_root(root: str, study: study_config.Study) -> str:
  """The folder of `study`'s data and runs under the runner's --root."""
  return os.path.normpath(os.path.join(root, study.work_subdir))


def data_root(root: str, study: study_config.Study) -> str:
  """The folder under the runner's --root holding the data (and random
  play) `study` learns from and is scored against."""
  if study.data_subdir is None:
    return study_root(root, study)
  return os.path.normpath(os.path.join(root, study.data_subdir))


def workdir(root: str, study: study_config.Study, method: str,
            seed: int) -> str:
  return os.path.join(study_root(root, study), 'runs', method, f'seed_{seed}')


def init_checkpoint(study: study_config.Study, method: study_config.Method,
                    seed: int, root: str, results_dir: str) -> Optional[str]:
  """The final checkpoint of the pre-training run `method` starts from.

  Raises:
    ValueError: that run has no result yet, or its final checkpoint is gone
      (the runs' folders are not committed: rerun it on this machine).
  """
  if not method.init_from:
    return None
  pretraining = study_config.study_named(study.pretraining)
  if not os.path.exists(results_lib.result_path(
      results_dir, pretraining.name, method.init_from, seed)):
    raise ValueError(
        f'{method.name} seed {seed} starts from {pretraining.name} '
        f'{method.init_from} seed {seed}, which has no result yet: run '
        f'python -m benchmarks.study.run --study={pretraining.name} '
        f'--methods={method.init_from} --seeds={seed}')
  path = run_checkpoint(workdir(root, pretraining, method.init_from, seed),
                        pretraining.num_steps)
  if path is None:
    raise ValueError(
        f'{pretraining.name} {method.init_from} seed {seed} has a result but '
        f'no final checkpoint (step {pretraining.num_steps}) under {root}: '
        'its run folder is not committed; remove its result file and rerun '
        'it here to recreate the checkpoint.')
  return path


def run_checkpoint(run_workdir: str, step: Optional[int]) -> Optional[str]:
  """The path of the run's checkpoint of update `step` (its newest readable
  one when `step` is None), or None when it has none."""
  if step is None:
    try:
      return checkpoint_loading.checkpoint_path(run_workdir, None)
    except ValueError:
      return None  # No run here, or none with a readable checkpoint yet.
  return dict(checkpointing.list_checkpoints(
      os.path.join(run_workdir, 'checkpoints'))).get(step)


def pending_runs(study: study_config.Study, results_dir: str,
                 methods: Optional[Sequence[str]] = None,
                 seeds: Optional[Sequence[int]] = None
                 ) -> List[Tuple[study_config.Method, int]]:
  """(method, seed) without a result file, seed by seed, in study order."""
  chosen = [study.method(name) for name in methods] if methods else list(
      study.methods)
  for seed in seeds or ():
    if seed not in study.seeds:
      raise ValueError(f'Seed {seed} is not one of study {study.name}\'s '
                       f'seeds {list(study.seeds)}.')
  return [(method, seed) for seed in (seeds or study.seeds)
          for method in chosen
          if not os.path.exists(results_lib.result_path(
              results_dir, study.name, method.name, seed))]


def learning_curve(run_workdir: str) -> List[Dict]:
  """The in-training evaluations, from the evaluator's log."""
  by_step = {}
  for row in plots.read_log(run_workdir, 'evaluator'):
    step = int(float(row['learner_steps']))
    by_step.setdefault(step, {})[row['game']] = float(row['mean_return'])
  return [{'learner_steps': step, 'mean_scores': scores}
          for step, scores in sorted(by_step.items())]


def code_version() -> str:
  try:
    commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=_REPO_ROOT,
                            capture_output=True, text=True,
                            check=True).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                           cwd=_REPO_ROOT, capture_output=True, text=True,
                           check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'
  return commit + ('+uncommitted' if dirty else '')


@dataclasses.dataclass(frozen=True)
class RunStart:
  """When a run began, the load then, and the code it runs (read at the
  start: the tree may move on while a run trains)."""
  time: float
  load_average: Tuple[float, float, float]
  code_version: str


def run_started() -> RunStart:
  return RunStart(time.time(), os.getloadavg(), code_version())


def run_record(started: RunStart) -> Dict:
  """The result file's 'run' entry of the run that began as `started`."""
  return {'wall_seconds': time.time() - started.time,
          'load_average': {'start': list(started.load_average),
                           'end': list(os.getloadavg())},
          'code_version': started.code_version,
          'finished_at': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
          'devices': [str(d) for d in jax.devices()]}


def trained_checkpoint(workdir: str, num_steps: int,
                       what: str) -> checkpoint_loading.LoadedCheckpoint:
  """The final checkpoint of a training run that has just returned.

  Raises:
    endings.StopRequested: a stop signal ended the training early (the
      command ends as stopped, with the line that runs it again).
    RuntimeError: the training returned short of `num_steps` for another
      reason; `what` names the run.
  """
  # A finished run is finished whatever signal arrived; only a short one
  # asks why it is short.
  try:
    loaded = checkpoint_loading.load_checkpoint(
        checkpoint_loading.checkpoint_path(workdir, None))
  except ValueError:
    endings.raise_if_stop_signalled()
    raise
  if loaded.step != num_steps:
    endings.raise_if_stop_signalled()
    raise RuntimeError(f'{what} stopped at learner step {loaded.step} of '
                       f'{num_steps}; run it again to resume.')
  return loaded
