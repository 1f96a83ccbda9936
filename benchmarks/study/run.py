r"""Runs a study's missing runs, one at a time, each to a result file.

  python -m benchmarks.study.run                    # everything missing
  python -m benchmarks.study.run --max_runs=2       # a session-sized chunk
  python -m benchmarks.study.run --methods=scaled_ql,bc --seeds=0
  python -m benchmarks.study.run --list             # what is done, what not
  python -m benchmarks.study.run --study=offline_finetuning_v1

A run is one method and one seed: it pre-trains in this process (the
offline program's single-process mode, so that a seed gives the same run
bit for bit on one machine), evaluates the final parameters, and writes
<results_dir>/<study>/<method>/seed_<k>.json atomically
(benchmarks.study.results). A method initialised from another study's run
(`init_from`) waits until that run's result exists and starts from its final
checkpoint.
Runs whose file exists are skipped, so the study resumes across sessions
and machines once the files are committed; an interrupted run resumes
from the latest checkpoint of its work directory. Runs go seed by seed
(every method's seed 0 first), so a partial study compares all methods.
"""

import os
import subprocess
import time
from typing import Dict, List, Optional, Sequence, Tuple

from absl import app
from absl import flags
import jax
import numpy as np

from agents.scaled_ql import checkpointing
from atari_data import loader
from benchmarks.study import config as study_config
from benchmarks.study import data
from benchmarks.study import results as results_lib
from launchers.programs import checkpoint_loading
from launchers.programs import offline_program
from launchers.programs import plots
from launchers.programs import pretrain_experiment

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

FINAL_EVALUATION_SEED = 100_000


def study_root(root: str, study: study_config.Study) -> str:
  """The folder of `study`'s data and runs under the runner's --root."""
  return os.path.join(root, study.work_subdir)


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
  checkpoints = dict(checkpointing.list_checkpoints(os.path.join(
      workdir(root, pretraining, method.init_from, seed), 'checkpoints')))
  if pretraining.num_steps not in checkpoints:
    raise ValueError(
        f'{pretraining.name} {method.init_from} seed {seed} has a result but '
        f'no final checkpoint (step {pretraining.num_steps}) under {root}: '
        'its run folder is not committed; remove its result file and rerun '
        'it here to recreate the checkpoint.')
  return checkpoints[pretraining.num_steps]


def transfer_check(study: study_config.Study,
                   experiment: pretrain_experiment.PretrainExperiment,
                   root: str, num_states: int = 1024) -> Dict[str, float]:
  """How exactly a fine-tuning run starts from its checkpoint: the largest
  difference between the features its initial network and the pre-trained
  network compute on `num_states` states of the pre-training data (0 when
  the torso and projection are carried over intact)."""
  pretraining = study_config.study_named(study.pretraining)
  loaded = checkpoint_loading.load_checkpoint(experiment.init_checkpoint)
  builder = experiment.make_builder()
  networks = builder.make_networks()
  learner = builder.make_learner(random_key=jax.random.PRNGKey(
      experiment.seed), networks=networks, dataset=iter(()))
  experiment.initialise_from_checkpoint(learner, networks)
  states = next(loader.make_multigame_iterator(loader.LoaderConfig(
      games=pretraining.dataset.games,
      source=data.data_dir(study_root(root, pretraining)),
      checkpoints=pretraining.dataset.learn_from, batch_size=num_states,
      seed=experiment.seed))).observation
  features, _ = networks.embed(learner.get_variables(['policy'])[0], states)
  expected, _ = loaded.builder.make_networks().embed(loaded.params, states)
  return {'pretraining_states': num_states,
          'max_feature_difference': float(np.max(np.abs(
              np.asarray(features) - np.asarray(expected))))}


def make_experiment(study: study_config.Study, method: study_config.Method,
                    seed: int, root: str, init_from: Optional[str] = None
                    ) -> pretrain_experiment.PretrainExperiment:
  """`init_from`: the checkpoint that initialises the run (None: scratch)."""
  dataset = study.dataset
  return pretrain_experiment.PretrainExperiment(
      games=dataset.games, dataset=data.data_dir(study_root(root, study)),
      checkpoints=dataset.learn_from, learner=study.learner_config(method),
      agent=method.agent, num_steps=study.num_steps,
      workdir=workdir(root, study, method.name, seed),
      checkpoint_every_steps=study.eval_every_steps,
      eval_every_steps=study.eval_every_steps,
      eval_episodes=study.curve_episodes,
      eval_max_episode_frames=dataset.max_episode_frames, seed=seed,
      init_checkpoint=init_from)


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


def final_evaluation(study: study_config.Study,
                     loaded: checkpoint_loading.LoadedCheckpoint,
                     seed: int) -> Dict[str, List[float]]:
  """final_episodes episodes per game of the checkpoint's evaluation policy
  (sticky actions; environments seeded apart from the training ones)."""
  results = checkpoint_loading.make_evaluator(
      loaded, study.final_episodes, study.dataset.max_episode_frames,
      seed=FINAL_EVALUATION_SEED + seed).evaluate(loaded.step)
  return {game: list(result.episode_returns)
          for game, result in results.items()}


def _code_version() -> str:
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


def run_one(study: study_config.Study, method: study_config.Method, seed: int,
            root: str, results_dir: str) -> str:
  """Trains, evaluates and writes one run's result file; returns its path."""
  start = time.time()
  load_start = os.getloadavg()
  experiment = make_experiment(
      study, method, seed, root,
      init_checkpoint(study, method, seed, root, results_dir))
  transfer = (transfer_check(study, experiment, root)
              if experiment.init_checkpoint else None)
  offline_program.run(experiment, launch_type='single_process')
  checkpoint = checkpoint_loading.checkpoint_path(experiment.workdir, None)
  loaded = checkpoint_loading.load_checkpoint(checkpoint)
  if loaded.step != study.num_steps:
    raise RuntimeError(f'{method.name} seed {seed} stopped at learner step '
                       f'{loaded.step} of {study.num_steps}; run it again to '
                       'resume.')
  final = final_evaluation(study, loaded, seed)
  result = {
      'schema_version': results_lib.SCHEMA_VERSION, 'study': study.name,
      'method': method.name, 'seed': seed,
      'settings': study.settings(method, seed),
      'games': list(study.dataset.games),
      'final': {game: {'episode_scores': scores,
                       'mean_score': sum(scores) / len(scores)}
                for game, scores in final.items()},
      'curve': learning_curve(experiment.workdir),
      'reference': data.reference_scores(study.dataset,
                                         study_root(root, study)),
      'run': {'wall_seconds': time.time() - start,
              'load_average': {'start': list(load_start),
                               'end': list(os.getloadavg())},
              'code_version': _code_version(),
              'finished_at': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
              'devices': [str(d) for d in jax.devices()]},
  }
  if transfer is not None:
    result['transfer'] = {'init_checkpoint': experiment.init_checkpoint,
                          **transfer}
  return results_lib.write(results_dir, result)


def _define_flags():
  """The command line's flags; defined only when it runs, so importing the
  runner as a library defines none."""
  return dict(
      study_name=flags.DEFINE_enum(
          'study', study_config.STUDY.name, sorted(study_config.STUDIES),
          'The study to run (benchmarks/study/config.py).'),
      root=flags.DEFINE_string(
          'root', os.path.join(_REPO_ROOT, 'study_output'),
          "Recorded data and the runs' work directories (not committed)."),
      results_dir=flags.DEFINE_string(
          'results_dir', results_lib.DEFAULT_RESULTS_DIR,
          'Where result files go (committed).'),
      methods=flags.DEFINE_list(
          'methods', None, 'Methods to run (default: all of the study).'),
      seeds=flags.DEFINE_list(
          'seeds', None, 'Seeds to run (default: all of the study).'),
      max_runs=flags.DEFINE_integer('max_runs', None,
                                    'Stop after this many runs.'),
      list_only=flags.DEFINE_bool(
          'list', False, 'List done and pending runs, run nothing.'))


def main(argv, study_name, root, results_dir, methods, seeds, max_runs,
         list_only):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  try:
    study = study_config.study_named(study_name.value)
    chosen_seeds = [int(s) for s in seeds.value] if seeds.value else None
    pending = pending_runs(study, results_dir.value, methods.value,
                           chosen_seeds)
  except ValueError as error:
    raise app.UsageError(str(error))
  total = len(study.methods) * len(study.seeds)
  done = total - len(pending_runs(study, results_dir.value))
  print(f'Study {study.name}: {done} of {total} runs done; {len(pending)} '
        'selected to run.', flush=True)
  ready = []
  for method, seed in pending:
    try:
      init_checkpoint(study, method, seed, root.value, results_dir.value)
      ready.append((method, seed))
      if list_only.value:
        print(f'  pending: {method.name} seed {seed}')
    except ValueError as error:
      print(f'  waiting: {error}')
  if list_only.value:
    return
  data.ensure_dataset(study.dataset, study_root(root.value, study))
  if max_runs.value is not None:
    ready = ready[:max_runs.value]
  durations = []
  for number, (method, seed) in enumerate(ready, start=1):
    print(f'[{number}/{len(ready)}] {method.name} seed {seed} ...',
          flush=True)
    start = time.time()
    path = run_one(study, method, seed, root.value, results_dir.value)
    durations.append(time.time() - start)
    left = (len(ready) - number) * sum(durations) / len(durations)
    print(f'[{number}/{len(ready)}] {method.name} seed {seed}: '
          f'{durations[-1] / 60:.1f} min -> {path}; about {left / 60:.0f} min '
          'left for the selected runs.', flush=True)


if __name__ == '__main__':
  _flags = _define_flags()
  app.run(lambda argv: main(argv, **_flags))
