"""The study runner: a tiny study recorded, run, skipped and reported."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from agents.scaled_ql import checkpointing
from atari_data import policies
from atari_data import recorder
from builders import config as builder_config
from benchmarks.study import config as study_config
from benchmarks.study import data
from benchmarks.study import dissect
from benchmarks.study import dissection_report
from benchmarks.study import offline
from benchmarks.study import online
from benchmarks.study import report
from benchmarks.study import results
from benchmarks.study import runs
from launchers.programs import checkpoint_loading
from launchers.programs import endings
from launchers.programs import workdir_lock

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)

TINY = (('network_size', 'nature_dqn'), ('feature_dim', 32),
        ('batch_size', 8), ('n_step', 3))
STUDY = study_config.Study(
    name='tiny_study',
    dataset=study_config.StudyDataset(
        games=('MsPacman', 'Qbert'), num_checkpoints=2,
        steps_per_checkpoint=150, epsilon_first=0.5, learn_from='first 50%',
        random_episodes=1, max_episode_frames=400),
    methods=(study_config.Method('scaled_ql', 'scaled_ql', 'Scaled QL', TINY),
             study_config.Method('bc', 'bc', 'BC', TINY)),
    seeds=(0, 1), num_steps=10, eval_every_steps=5, curve_episodes=1,
    final_episodes=2)


@pytest.fixture(scope='module')
def seed_0_runs(tmp_path_factory):
  """The tiny study recorded and its seed 0 run: (root, results_dir,
  [(method, path of the result)])."""
  tmp_path = tmp_path_factory.mktemp('tiny_study')
  root, results_dir = str(tmp_path / 'root'), str(tmp_path / 'results')
  data.ensure_dataset(STUDY.dataset, root)
  assert [(m.name, s) for m, s in runs.pending_runs(STUDY, results_dir)] == [
      ('scaled_ql', 0), ('bc', 0), ('scaled_ql', 1), ('bc', 1)]
  written = [(method, offline.run_one(STUDY, method, seed, root, results_dir))
             for method, seed in runs.pending_runs(STUDY, results_dir,
                                                  seeds=[0])]
  return root, results_dir, written


def test_runs_write_results_are_skipped_when_done_and_make_a_report(
    seed_0_runs, tmp_path):
  root, results_dir, written = seed_0_runs
  for method, path in written:
    assert path == results.result_path(results_dir, STUDY.name, method.name,
                                       0)
    result = results.read(path)
    assert result['settings']['learner']['network_size'] == 'nature_dqn'
    assert [p['learner_steps'] for p in result['curve']] == [0, 5, 10]
    for game in ('MsPacman', 'Qbert'):
      assert len(result['final'][game]['episode_scores']) == 2
    assert result['reference'] == data.reference_scores(STUDY.dataset, root)

  # Done runs are skipped; the pending ones keep the study's order.
  assert [(m.name, s) for m, s in runs.pending_runs(STUDY, results_dir)] == [
      ('scaled_ql', 1), ('bc', 1)]
  assert runs.pending_runs(STUDY, results_dir, methods=['bc'], seeds=[0]) == []
  with pytest.raises(ValueError, match="Unknown method 'dqn'"):
    runs.pending_runs(STUDY, results_dir, methods=['dqn'])
  with pytest.raises(ValueError, match='Seed 7 is not one of'):
    runs.pending_runs(STUDY, results_dir, seeds=[7])

  report_files = report.write_report(results_dir, str(tmp_path / 'report'),
                                     STUDY, reps=200)
  assert os.path.dirname(report_files['report']) == str(
      tmp_path / 'report' / STUDY.name)
  with open(report_files['report']) as f:
    text = f.read()
  assert '| scaled_ql | 1 |' in text and '| bc | 1 |' in text
  # One run per method: no interval, so no claim either way.
  assert 'no interval, no conclusion yet' in text
  assert 'intervals do not overlap' not in text
  assert os.path.getsize(report_files['learning curves']) > 0



def test_a_dissection_trains_a_changed_method_and_records_its_values(
    seed_0_runs, tmp_path):
  root, _, _ = seed_0_runs
  method = dataclasses.replace(
      STUDY.method('scaled_ql'), learner=STUDY.method('scaled_ql').learner +
      dissect.parse_overrides(['cql_alpha=0.5', 'target_update_period=2']))
  path = dissect.dissect(STUDY, method, seed=0, num_steps=4, name='alpha',
                         root=root, results_dir=str(tmp_path), num_states=16,
                         play_episodes=1)
  assert path == str(tmp_path / 'tiny_study' / 'dissection' / 'alpha.json')
  with open(path) as f:
    written = json.load(f)
  learner = written['settings']['learner']
  assert (learner['cql_alpha'], learner['target_update_period']) == (0.5, 2)
  assert written['settings']['num_steps'] == 4
  # The learner logs at time intervals: at least its first update.
  assert 1 <= written['logged_q'][0]['learner_steps'] <= 4
  assert all(np.isfinite(row['q_mean']) for row in written['logged_q'])
  for game in STUDY.dataset.games:
    assert written['on_data'][game]['num_states'] > 0
    assert len(written['played'][game]['episode_returns']) == 1
  # Its own folder: the study's run of the same method and seed is intact.
  assert os.path.isdir(os.path.join(runs.study_root(root, STUDY), 'dissection',
                                    'alpha'))
  # The report's rows are the result's numbers, one per game.
  written_report = dissection_report.write_dissection_report(
      str(tmp_path), str(tmp_path / 'docs'), STUDY)
  assert os.path.getsize(written_report['figure']) > 0
  with open(written_report['report']) as f:
    rows = [line for line in f if line.startswith('| alpha |')]
  assert len(rows) == len(STUDY.dataset.games)
  cells = rows[0].split(' | ')
  game = cells[3]
  assert cells[1] == 'cql_alpha=0.5, target_update_period=2; 4 updates'
  assert cells[2] == '0'
  assert float(cells[4]) == pytest.approx(
      written['on_data'][game]['within_game_cosine'], abs=1e-4)
  assert float(cells[-5]) == pytest.approx(
      written['played'][game]['overestimation'], abs=0.01)
  on_data_returns = written['on_data'][game]['data_returns']
  assert float(cells[-4]) == pytest.approx(on_data_returns['overestimation'],
                                           abs=0.01)
  # The planner's data do not replay: no comparison with an object player.
  assert 'data_reference_player' not in written['on_data'][game]
  assert [cells[-2], cells[-1].rstrip(' |\n')] == ['-', '-']
  correlation = cells[-3]
  if on_data_returns['correlation'] is None:
    assert correlation == '-'
  else:
    assert float(correlation) == pytest.approx(
        on_data_returns['correlation'], abs=1e-3)


def _dissection(name, seed, changes, cosine, overestimation, returns):
  method = STUDY.method('scaled_ql')
  games = STUDY.dataset.games
  return {
      'name': name, 'seed': seed, 'method': method.name,
      'settings': {'method': {'learner': [list(item) for item in
                                          method.learner + changes]},
                   'num_steps': 100},
      'on_data': {game: {'within_game_cosine': cosine, 'q_state_std': 0.1,
                         'greedy_action_share': 0.5} for game in games},
      'played': {game: {'overestimation': overestimation,
                        'episode_returns': returns} for game in games}}


def test_the_seed_summary_averages_the_seeds_of_the_same_changes():
  dissections = [
      _dissection('dr3_s0', 0, (('dr3_coefficient', 1.0),), 0.2, 1.0, [2, 4]),
      _dissection('dr3_s1', 1, (('dr3_coefficient', 1.0),), 0.4, -2.0, [0]),
      _dissection('dr3_s2', 2, (('dr3_coefficient', 1.0),), 0.3, 0.4, [6]),
      # One seed only: no summary row.
      _dissection('alpha', 0, (('cql_alpha', 0.1),), 0.9, 3.0, [1]),
  ]
  rows = dissection_report.seed_summary(dissections, STUDY)
  body = rows[2:]
  assert len(body) == len(STUDY.dataset.games)
  cells = body[0].strip('| \n').split(' | ')
  assert cells[0] == 'dr3_coefficient=1.0; 100 updates'
  assert cells[1] == '0, 1, 2'
  assert cells[2] == STUDY.dataset.games[0]
  # By hand: cosine (0.2 + 0.4 + 0.3) / 3; over-estimation (1 - 2 + 0.4) / 3;
  # scores 3, 0, 6.
  assert cells[3] == '0.300 [0.200, 0.400]'
  assert cells[6] == '-0.20 [-2.00, +1.00]'
  assert cells[7] == '3.0 [0.0, 6.0]'
  # Numbers these dissections do not have.
  assert cells[8:] == ['-', '-']
  assert dissection_report.seed_summary(dissections[3:], STUDY) == []


def test_the_dissection_report_names_a_study_without_dissections(tmp_path):
  with pytest.raises(ValueError, match='No dissections of tiny_study'):
    dissection_report.write_dissection_report(str(tmp_path), str(tmp_path),
                                              STUDY)


def test_dissection_overrides_take_their_fields_types_and_refuse_bad_ones():
  assert dissect.parse_overrides(
      ['cql_alpha=0.1', 'n_step=3', 'value_loss=mse']) == (
          ('cql_alpha', 0.1), ('n_step', 3), ('value_loss', 'mse'))
  with pytest.raises(ValueError, match="'cql=0.1'.*field=value"):
    dissect.parse_overrides(['cql=0.1'])
  with pytest.raises(ValueError, match="n_step takes a int, got 'three'"):
    dissect.parse_overrides(['n_step=three'])


def test_a_run_whose_folder_another_runner_holds_is_refused(seed_0_runs):
  root, results_dir, _ = seed_0_runs
  method = STUDY.method('scaled_ql')
  with workdir_lock.WorkdirLock(runs.workdir(root, STUDY, method.name, 1)):
    with pytest.raises(workdir_lock.WorkdirInUse, match=f'pid {os.getpid()}'):
      offline.run_one(STUDY, method, 1, root, results_dir)
  assert not os.path.exists(
      results.result_path(results_dir, STUDY.name, method.name, 1))


def test_a_trained_checkpoint_short_of_its_budget_names_the_run(
    seed_0_runs, monkeypatch):
  root, _, _ = seed_0_runs
  # Stop tests earlier in this process leave their signal recorded.
  monkeypatch.setattr(endings._SIGNALS, 'received', None)
  workdir = runs.workdir(root, STUDY, 'scaled_ql', 0)
  assert runs.trained_checkpoint(workdir, STUDY.num_steps,
                                 'scaled_ql seed 0').step == STUDY.num_steps
  with pytest.raises(RuntimeError, match=(
      f'scaled_ql seed 0 stopped at learner step {STUDY.num_steps} of '
      f'{STUDY.num_steps + 1}; run it again to resume')):
    runs.trained_checkpoint(workdir, STUDY.num_steps + 1, 'scaled_ql seed 0')


def test_a_stop_signal_during_training_ends_the_run_as_stopped(tmp_path):
  # A real SIGINT under the training's own stop check, before any checkpoint
  # exists: the run ends as stopped, not with "no readable checkpoint".
  code = textwrap.dedent(f"""
      import os, signal
      from benchmarks.study import runs
      from launchers.programs import endings, stop
      with stop.signal_stop_check() as should_stop:
        os.kill(os.getpid(), signal.SIGINT)
        while not should_stop():
          pass
      try:
        runs.trained_checkpoint({str(tmp_path)!r}, 10, 'scaled_ql seed 0')
      except endings.StopRequested as stopped:
        print('stopped by signal', stopped.args[0])
      """)
  process = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT,
                           capture_output=True, text=True, check=False)
  assert process.returncode == 0, process.stderr[-3000:]
  assert process.stdout.strip() == f'stopped by signal {int(signal.SIGINT)}'


FINETUNING = study_config.Study(
    name='tiny_finetuning',
    dataset=dataclasses.replace(STUDY.dataset, games=('Breakout',)),
    methods=(study_config.Method('pretrained', 'scaled_ql', 'pre-trained',
                                 TINY, init_from='scaled_ql'),
             study_config.Method('frozen', 'scaled_ql', 'frozen torso',
                                 TINY + (('frozen_torso', True),),
                                 init_from='scaled_ql'),
             study_config.Method('scratch', 'scaled_ql', 'scratch', TINY)),
    seeds=(0, 1), num_steps=10, eval_every_steps=5, curve_episodes=1,
    final_episodes=2, focus='pretrained', pretraining=STUDY.name,
    work_subdir='tiny_finetuning')


def _shared_layers(params):
  return {module: {name: np.asarray(value) for name, value in values.items()}
          for module, values in params.items() if module != 'heads'}


def test_fine_tuning_runs_start_from_the_pretraining_runs_final_checkpoint(
    seed_0_runs, monkeypatch):
  root, results_dir, _ = seed_0_runs
  monkeypatch.setitem(study_config.STUDIES, STUDY.name, STUDY)
  pretrained_path = runs.init_checkpoint(
      FINETUNING, FINETUNING.method('pretrained'), 0, root, results_dir)
  assert pretrained_path == checkpointing.list_checkpoints(os.path.join(
      runs.workdir(root, STUDY, 'scaled_ql', 0), 'checkpoints'))[-1][1]
  assert runs.init_checkpoint(FINETUNING, FINETUNING.method('scratch'), 1,
                             root, results_dir) is None
  # Seed 1 of the pre-training has no result: its fine-tuning waits, and
  # the message says what to run.
  with pytest.raises(ValueError, match='--study=tiny_study '
                     '--methods=scaled_ql --seeds=1'):
    runs.init_checkpoint(FINETUNING, FINETUNING.method('frozen'), 1, root,
                        results_dir)

  data.ensure_dataset(FINETUNING.dataset, runs.study_root(root, FINETUNING))
  pretrained = checkpoint_loading.load_checkpoint(pretrained_path).params
  for name in ('frozen', 'pretrained'):
    path = offline.run_one(FINETUNING, FINETUNING.method(name), 0, root,
                       results_dir)
    assert path == results.result_path(results_dir, FINETUNING.name, name, 0)
    transfer = results.read(path)['transfer']
    assert transfer['init_checkpoint'] == pretrained_path
    assert transfer['max_feature_difference'] == 0.0
    final = checkpoint_loading.load_checkpoint(checkpoint_loading.
                                               checkpoint_path(
        runs.workdir(root, FINETUNING, name, 0), None))
    assert final.builder.config.games == ('Breakout',)
    same = [np.array_equal(final_value, _shared_layers(pretrained)[m][n])
            for m, values in _shared_layers(final.params).items()
            for n, final_value in values.items()]
    # Frozen: the pre-trained torso and projection, bit for bit, after
    # training; fine-tuned: they moved on from there.
    assert all(same) if name == 'frozen' else not any(same)


def test_a_study_on_another_studys_data_reads_it_and_runs_in_its_own_folder(
    seed_0_runs, tmp_path):
  root, results_dir, written = seed_0_runs
  longer = dataclasses.replace(STUDY, name='tiny_longer', num_steps=20,
                               work_subdir='tiny_longer', data_subdir='')
  assert runs.data_root(root, longer) == runs.data_root(root, STUDY) == root
  path = offline.run_one(longer, longer.method('scaled_ql'), 0, root,
                         str(tmp_path))
  result = results.read(path)
  assert result['reference'] == results.read(dict(
      (method.name, p) for method, p in written)['scaled_ql'])['reference']
  assert checkpointing.list_checkpoints(os.path.join(
      runs.workdir(root, longer, 'scaled_ql', 0), 'checkpoints'))[-1][0] == 20
  assert sorted(os.listdir(os.path.join(root, 'tiny_longer'))) == ['runs']


def test_a_result_names_the_code_its_run_started_with(monkeypatch):
  """The tree may move on while a run trains: the recorded version is the
  one read at the start."""
  monkeypatch.setattr(runs, 'code_version', lambda: 'commit-at-start')
  started = runs.run_started()
  monkeypatch.setattr(runs, 'code_version', lambda: 'commit-at-end')
  record = runs.run_record(started)
  assert record['code_version'] == 'commit-at-start'
  assert record['wall_seconds'] >= 0
  assert len(record['load_average']['start']) == 3


def test_the_reference_scores_come_from_the_recorded_data(tmp_path):
  root = str(tmp_path)
  data.ensure_dataset(STUDY.dataset, root)
  reference = data.reference_scores(STUDY.dataset, root)
  assert set(reference) == {'MsPacman', 'Qbert'}
  for game, scores in reference.items():
    with open(os.path.join(root, 'data', game, 'metadata.json')) as f:
      checkpoints = json.load(f)['checkpoints']
    means = [c['mean_complete_game_score'] if c['num_complete_episodes']
             else c['mean_game_score'] for c in checkpoints]
    # 'first 50%' of two checkpoints is the first one.
    assert scores['data_score'] == pytest.approx(means[0])
    assert scores['best_score'] == pytest.approx(max(means))
    with open(os.path.join(root, 'random', game, 'metadata.json')) as f:
      random_play = json.load(f)['checkpoints'][0]
    assert random_play['behaviour'] == 'uniform random'
    assert scores['random_score'] == pytest.approx(
        random_play['mean_complete_game_score'])


ONLINE = study_config.OnlineStudy(
    name='tiny_online',
    variants=(study_config.GameVariant('Qbert', difficulty=1),),
    methods=(study_config.Method('pretrained', 'scaled_ql', 'pre-trained',
                                 TINY, init_from='scaled_ql'),
             study_config.Method('scratch', 'scaled_ql', 'scratch', TINY)),
    pretraining=STUDY.name, seeds=(0,), num_env_steps=260,
    eval_every_steps=50, curve_episodes=1, final_episodes=2,
    max_episode_frames=400, random_episodes=1, work_subdir='tiny_online',
    online=builder_config.OnlineSettings(min_replay_size=100))


def test_online_fine_tuning_runs_write_results_and_a_report(seed_0_runs,
                                                           tmp_path):
  root, results_dir, _ = seed_0_runs
  online.ensure_random_play(ONLINE, root)
  for method in ONLINE.methods:
    # In a process of its own, as a command line runs it: Launchpad's
    # termination alarm and pytest's timeout share SIGALRM.
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {TESTS_DIR!r})
        import test_study_run as t
        from benchmarks.study import config, online
        config.STUDIES[t.STUDY.name] = t.STUDY
        print(online.run_one(t.ONLINE, t.ONLINE.method({method.name!r}), 0,
                             {root!r}, {results_dir!r}))
    """)
    process = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stdout + process.stderr
    path = process.stdout.strip().splitlines()[-1]
    assert path == results.result_path(results_dir, ONLINE.name, method.name,
                                       0)
    result = results.read(path)
    assert result['kind'] == 'online'
    assert result['games'] == ['Qbert difficulty 1']
    assert len(result['final']['Qbert difficulty 1']['episode_scores']) == 2
    # (260 - 100) transitions x 8 samples per insert / batch 8.
    final = checkpoint_loading.load_checkpoint(checkpoint_loading.
                                               checkpoint_path(
        online.variant_workdir(root, ONLINE, method.name, 0,
                               ONLINE.variants[0]), None))
    assert final.step == 160
    assert final.builder.config.games == (
        ('MsPacman', 'Qbert') if method.init_from else ('Qbert',))
    # Environment steps through the rate limiter: 100 + learner steps x
    # batch 8 / 8 samples per insert.
    assert result['curve'] and all(
        p['env_steps'] == 100 + p['learner_steps'] for p in result['curve'])
  written = report.write_report(results_dir, str(tmp_path / 'report'),
                                ONLINE, reps=200)
  with open(written['report']) as f:
    text = f.read()
  assert '| Qbert difficulty 1 |' in text
  assert 'pretrained vs scratch (human-normalised IQM)' in text
  assert 'data-normalised' not in text


def test_a_study_of_object_players_records_their_play(tmp_path):
  dataset = study_config.StudyDataset(
      games=('Breakout',), num_checkpoints=2, steps_per_checkpoint=150,
      behaviour='object_player', epsilon_first=0.5, random_episodes=1,
      max_episode_frames=400)
  data.ensure_dataset(dataset, str(tmp_path))
  with open(os.path.join(str(tmp_path), 'data', 'Breakout',
                         'metadata.json')) as f:
    behaviours = [c['behaviour'] for c in json.load(f)['checkpoints']]
  assert behaviours == [
      'epsilon-greedy(epsilon=0.500) over object player (BreakoutTracker)',
      'epsilon-greedy(epsilon=0.000) over object player (BreakoutTracker)']


def test_recorded_data_are_held_to_their_fingerprint(tmp_path):
  dataset = study_config.StudyDataset(
      games=('Breakout', 'Pong'), num_checkpoints=1, steps_per_checkpoint=60,
      behaviour='object_player', random_episodes=1, max_episode_frames=200)
  path = str(tmp_path / 'results' / 'data_fingerprint.json')
  data.ensure_dataset(dataset, str(tmp_path / 'first'), path)
  with open(path) as f:
    written = json.load(f)
  assert sorted(written) == ['data/Breakout', 'data/Pong', 'random/Breakout',
                             'random/Pong']
  assert written['random/Pong'] == recorder.dataset_digest(
      str(tmp_path / 'first' / 'random'), 'Pong')
  # Recorded again elsewhere: the same bytes, so the check passes.
  data.ensure_dataset(dataset, str(tmp_path / 'second'), path)
  with pytest.raises(ValueError, match=r'data/Breakout: recorded [0-9a-f]{12}'
                     r'\.\.\., committed [0-9a-f]{12}\.\.\.; data/Pong'):
    data.ensure_dataset(dataclasses.replace(dataset, seed=1),
                        str(tmp_path / 'third'), path)


def test_a_dataset_of_an_unknown_behaviour_is_refused_with_the_valid_ones():
  with pytest.raises(ValueError, match=r"behaviour='planner'; valid "
                     r"behaviours: \['lookahead', 'object_player', "
                     r"'object_player_lapses'\]"):
    study_config.StudyDataset(behaviour='planner')


def test_a_datasets_behaviour_settings_reach_its_schedule_or_are_refused():
  dataset = study_config.StudyDataset(
      games=('Breakout',), behaviour='object_player_lapses',
      epsilon_first=0.25, behaviour_settings=(('mean_lapse_steps', 8.0),))
  schedule = dataset.schedule()
  assert (type(schedule), schedule.epsilon_first, schedule.epsilon_last,
          schedule.mean_lapse_steps) == (
              policies.ObjectPlayerLapseSchedule, 0.25, 0.0, 8.0)
  assert dataset.plays_object_player
  assert not study_config.StudyDataset().plays_object_player
  with pytest.raises(ValueError, match=r"behaviour_settings \['lapse_steps'\] "
                     r"are not fields of 'object_player_lapses'"):
    study_config.StudyDataset(behaviour='object_player_lapses',
                              behaviour_settings=(('lapse_steps', 8.0),))


def test_a_study_shares_its_base_learner_across_its_methods():
  study = study_config.OBJECT_PLAYERS
  for method in study.methods:
    learner = study.learner_config(method)
    assert (learner.n_step, learner.target_update_period,
            learner.v_min, learner.v_max) == (1, 100, -5.0, 5.0)
  assert study.learner_config(study.method('scaled_ql')).cql_alpha == 0.01
  assert study.learner_config(study.method('no_cql')).cql_alpha == 0.0
  # The first study keeps its own base.
  assert study_config.STUDY.learner_config(
      study_config.STUDY.method('scaled_ql')).n_step == 10


def _learner_settings(study_before, study_after, method_name):
  """The learner settings of one method in two studies, as dicts."""
  return tuple(
      dataclasses.asdict(study.learner_config(study.method(method_name)))
      for study in (study_before, study_after))


def _changed(before, after):
  return {key for key in before if before[key] != after[key]}


def test_the_second_object_players_study_changes_dr3_alone_on_the_same_data():
  v1, v2 = study_config.OBJECT_PLAYERS, study_config.OBJECT_PLAYERS_V2
  assert v2.dataset == v1.dataset
  assert runs.data_root('/r', v2) == runs.study_root('/r', v1)
  assert runs.study_root('/r', v2) != runs.study_root('/r', v1)
  for name in ('scaled_ql', 'no_cql', 'mse'):
    before, after = _learner_settings(v1, v2, name)
    assert _changed(before, after) == {'dr3_coefficient'}, name
    assert after['dr3_coefficient'] == 1.0
  # BC has no DR3: its runs are v1's, shown beside v2's methods.
  assert [label for label, _, _ in study_config.baseline_methods(v2)] == [
      'object_players_v1/bc', 'object_players_v1/scaled_ql']
  assert 'bc' not in [method.name for method in v2.methods]


def test_the_third_object_players_study_changes_the_atoms_alone():
  v2, v3 = study_config.OBJECT_PLAYERS_V2, study_config.OBJECT_PLAYERS_V3
  assert v3.dataset == v2.dataset
  assert runs.data_root('/r', v3) == runs.data_root('/r', v2)
  assert runs.study_root('/r', v3) not in (runs.study_root('/r', v2),
                                           runs.data_root('/r', v2))
  for name in ('scaled_ql', 'no_cql', 'mse'):
    before, after = _learner_settings(v2, v3, name)
    assert _changed(before, after) == {'num_atoms'}, name
    # The atom spacing of 51 atoms on [-2, 2], where the known-answer task
    # at discount 0.99 was learned.
    assert (after['v_max'] - after['v_min']) / (after['num_atoms'] - 1) == (
        pytest.approx(4.0 / 50))
  assert [label for label, _, _ in study_config.baseline_methods(v3)] == [
      'object_players_v1/bc', 'object_players_v2/scaled_ql']


def test_run_checkpoint_finds_a_step_or_nothing(tmp_path):
  directory = tmp_path / 'checkpoints'
  directory.mkdir()
  for step in (18_000, 30_000):
    (directory / f'checkpoint-{step:010d}.npz').write_bytes(b'')
  assert runs.run_checkpoint(str(tmp_path), 18_000) == str(
      directory / 'checkpoint-0000018000.npz')
  assert runs.run_checkpoint(str(tmp_path), 24_000) is None
  # Without a step, only a checkpoint whose header reads back counts.
  assert runs.run_checkpoint(str(tmp_path), None) is None
  assert runs.run_checkpoint(str(tmp_path / 'absent'), 18_000) is None
  assert runs.run_checkpoint(str(tmp_path / 'absent'), None) is None
