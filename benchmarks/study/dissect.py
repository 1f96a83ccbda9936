r"""Dissects a study method on the study's own data: one change at a time.

Trains one variant of a study method (the method's settings with --set
overrides) for --num_steps updates on the study's learned-from data, then
measures what its network learned rather than only what it scores:

  * the learner's logged Q-values along the way (mean and max over the
    batch's valid actions);
  * launchers.diagnose's numbers on --num_states states of the data
    (greedy action share, the data's share of the greedy action, ...);
  * where the data are object players' (epsilon-greedy), the greedy action
    against the player's at --reference_states replayed data states per
    game (checkpoint_diagnosis.reference_player_on_data);
  * --play_episodes episodes per game of its evaluation policy, with the
    Q-values of the actions taken against the discounted returns that
    followed (over-estimation).

  python -m benchmarks.study.dissect --study=object_players_v1 \
      --method=scaled_ql --name=alpha_0.1 --set=cql_alpha=0.1 \
      --num_steps=10000

The result goes to <results_dir>/<study>/dissection/<name>.json (atomic,
skipped when present, committed like the study's runs); the run works in
<root>/<study>/dissection/<name> and resumes from its latest checkpoint.
Dissection results are diagnostics, not study results: the report never
reads them.
"""

import dataclasses
import os

from absl import app
from absl import flags

from agents.scaled_ql import config as learner_config
from benchmarks.study import config as study_config
from benchmarks.study import data
from benchmarks.study import offline
from benchmarks.study import results as results_lib
from benchmarks.study import runs
from launchers.programs import atomic_files
from launchers.programs import checkpoint_diagnosis
from launchers.programs import config_flags
from launchers.programs import endings
from launchers.programs import field_checks
from launchers.programs import offline_program
from launchers.programs import plots
from launchers.programs import workdir_lock

_LOGGED_Q = ('q_mean', 'q_max')


def parse_overrides(assignments) -> tuple:
  """['cql_alpha=0.1', ...] -> (('cql_alpha', 0.1), ...): --set's
  ScaledQLConfig fields (config_flags.parse_assignments)."""
  return config_flags.parse_assignments(
      assignments, learner_config.ScaledQLConfig(), '--set')


def dissection_path(results_dir: str, study: study_config.Study,
                    name: str) -> str:
  return os.path.join(results_dir, study.name, results_lib.DISSECTION_SUBDIR,
                      f'{name}.json')


def logged_q(run_workdir: str):
  """The learner's logged Q-values: [{'learner_steps', 'q_mean', 'q_max'}]."""
  return [{'learner_steps': int(float(row['learner_steps'])),
           **{key: float(row[key]) for key in _LOGGED_Q if row.get(key)}}
          for row in plots.read_log(run_workdir, 'learner')]


def dissect(study: study_config.Study, method: study_config.Method,
            seed: int, num_steps: int, name: str, root: str,
            results_dir: str, num_states: int, play_episodes: int,
            reference_states: int = 0) -> str:
  """Trains the variant, diagnoses it and writes its result; returns the
  result's path."""
  started = runs.run_started()
  variant = dataclasses.replace(study, num_steps=num_steps,
                                eval_every_steps=num_steps)
  experiment = dataclasses.replace(
      offline.make_experiment(variant, method, seed, root),
      workdir=os.path.join(runs.study_root(root, study),
                           results_lib.DISSECTION_SUBDIR, name))
  with workdir_lock.WorkdirLock(experiment.workdir):
    offline_program.run(experiment, launch_type='single_process')
  checkpoint = runs.trained_checkpoint(experiment.workdir, num_steps, name)
  dataset = study.dataset
  # Only the object players' recordings replay (atari_data.replay).
  if not dataset.plays_object_player:
    reference_states = 0
  _, on_data = checkpoint_diagnosis.diagnose_checkpoint(
      checkpoint.path, experiment.dataset, dataset.learn_from, num_states,
      seed, reference_states=reference_states)
  played = checkpoint_diagnosis.play_diagnostics(
      checkpoint, play_episodes, dataset.max_episode_frames,
      runs.FINAL_EVALUATION_SEED + seed)
  print(checkpoint_diagnosis.format_diagnostics(on_data))
  print(checkpoint_diagnosis.format_play_diagnostics(played))
  path = dissection_path(results_dir, study, name)
  atomic_files.write_json_atomically(path, {
      'schema_version': results_lib.SCHEMA_VERSION, 'study': study.name,
      'name': name, 'method': method.name, 'seed': seed,
      'settings': variant.settings(method, seed),
      'logged_q': logged_q(experiment.workdir),
      'on_data': on_data, 'played': played,
      'reference': data.reference_scores(dataset, runs.data_root(root, study)),
      'run': runs.run_record(started)})
  return path


def _define_flags():
  holders = dict(
      study_name=flags.DEFINE_enum(
          'study', 'object_players_v1', sorted(study_config.STUDIES),
          'The (offline) study whose data and method are dissected.'),
      method_name=flags.DEFINE_string('method', 'scaled_ql',
                                      'The study method to start from.'),
      overrides=flags.DEFINE_list(
          'set', [], 'ScaledQLConfig changes, field=value, comma separated.'),
      name=flags.DEFINE_string('name', None, 'Names the variant (required).'),
      seed=flags.DEFINE_integer('seed', 0, 'Seed of the run.'),
      num_steps=flags.DEFINE_integer('num_steps', 10_000, 'Learner updates.'),
      num_states=flags.DEFINE_integer('num_states', 2048,
                                      'Data states diagnosed, over all games.'),
      reference_states=flags.DEFINE_integer(
          'reference_states', 1000, "Replayed data states per game compared "
          "with the object player's action (object players' data only)."),
      play_episodes=flags.DEFINE_integer(
          'play_episodes', 3, 'Episodes per game played for the values.'),
      **runs.define_location_flags())
  field_checks.register_validators(['num_steps', 'num_states',
                                    'reference_states'])
  return holders


def main(argv, study_name, method_name, overrides, name, seed, num_steps,
         num_states, reference_states, play_episodes, root, results_dir):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not name.value:
    raise app.UsageError('--name is required: it names the result file.')
  endings.install_stop_signals()
  # diagnose's --play_episodes may be 0 (play nothing); a dissection plays.
  if play_episodes.value < 1:
    raise app.UsageError(
        f'--play_episodes must be >= 1, got {play_episodes.value}.')
  try:
    study = study_config.study_named(study_name.value)
    if isinstance(study, study_config.OnlineStudy):
      raise ValueError(f'Study {study.name} is online; dissect an offline '
                       'study.')
    method = study.method(method_name.value)
    if method.agent != 'scaled_ql':
      raise ValueError(f'Method {method.name} is {method.agent}; only '
                       'scaled_ql methods have Q-values to dissect.')
    method = dataclasses.replace(
        method, learner=method.learner + parse_overrides(overrides.value))
    study.learner_config(method)  # refuses invalid settings before training
  except ValueError as error:
    raise app.UsageError(str(error))
  path = dissection_path(results_dir.value, study, name.value)
  if os.path.exists(path):
    print(f'{path} exists; nothing to do.')
    return
  data.ensure_study_data(study, root.value, results_dir.value)
  print(dissect(study, method, seed.value, num_steps.value, name.value,
                root.value, results_dir.value, num_states.value,
                play_episodes.value, reference_states.value))


if __name__ == '__main__':
  _flags = _define_flags()
  endings.run(lambda argv: main(argv, **_flags))
