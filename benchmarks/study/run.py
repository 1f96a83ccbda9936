r"""Runs a study's missing runs, one at a time, each to a result file.

  python -m benchmarks.study.run                    # everything missing
  python -m benchmarks.study.run --max_runs=2       # a session-sized chunk
  python -m benchmarks.study.run --methods=scaled_ql,bc --seeds=0
  python -m benchmarks.study.run --list             # what is done, what not
  python -m benchmarks.study.run --study=offline_finetuning_v1

A run is one method and one seed: offline (benchmarks.study.offline), it
pre-trains in this process (the offline program's single-process mode, so
that a seed gives the same run bit for bit on one machine); online
(benchmarks.study.online), it fine-tunes on every game variant under
Launchpad with Reverb. It evaluates the final parameters and writes
<results_dir>/<study>/<method>/seed_<k>.json atomically
(benchmarks.study.results). A method initialised from another study's run
(`init_from`) waits until that run's result exists and starts from its final
checkpoint.
Runs whose file exists are skipped, so the study resumes across sessions
and machines once the files are committed; an interrupted run resumes
from the latest checkpoint of its work directory. Ctrl-C or SIGTERM stops
the run in progress and ends the command with exit status 3 (STOPPED) and
the line that runs it again. Runs go seed by seed
(every method's seed 0 first), so a partial study compares all methods.
"""

import time

from absl import app
from absl import flags

from benchmarks.study import config as study_config
from benchmarks.study import data
from benchmarks.study import offline
from benchmarks.study import online
from benchmarks.study import runs
from launchers.programs import endings


def _define_flags():
  """The command line's flags; defined only when it runs, so importing the
  runner as a library defines none."""
  return dict(
      study_name=flags.DEFINE_enum(
          'study', study_config.STUDY.name, sorted(study_config.STUDIES),
          'The study to run (benchmarks/study/config.py).'),
      **runs.define_location_flags(),
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
  endings.install_stop_signals()
  try:
    study = study_config.study_named(study_name.value)
    chosen_seeds = [int(s) for s in seeds.value] if seeds.value else None
    pending = runs.pending_runs(study, results_dir.value, methods.value,
                                chosen_seeds)
  except ValueError as error:
    raise app.UsageError(str(error))
  total = len(study.methods) * len(study.seeds)
  done = total - len(runs.pending_runs(study, results_dir.value))
  print(f'Study {study.name}: {done} of {total} runs done; {len(pending)} '
        'selected to run.', flush=True)
  ready = []
  for method, seed in pending:
    try:
      runs.init_checkpoint(study, method, seed, root.value, results_dir.value)
      ready.append((method, seed))
      if list_only.value:
        print(f'  pending: {method.name} seed {seed}')
    except ValueError as error:
      print(f'  waiting: {error}')
  if list_only.value:
    return
  if isinstance(study, study_config.OnlineStudy):
    online.ensure_random_play(study, root.value)
    run_one = online.run_one
  else:
    data.ensure_study_data(study, root.value, results_dir.value)
    run_one = offline.run_one
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
  endings.run(lambda argv: main(argv, **_flags))
