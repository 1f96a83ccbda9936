"""The study's result files and report, on synthetic results."""

import json
import os

import numpy as np
import pytest
import scipy.stats

from benchmarks.study import config as study_config
from benchmarks.study import report
from benchmarks.study import results

STUDY = study_config.Study(name='test_study')
GAMES = list(STUDY.dataset.games)
REFERENCE = {game: {'data_score': 100.0 * (i + 1), 'best_score': 300.0 * (i + 1),
                    'all_data_score': 200.0 * (i + 1),
                    'random_score': 50.0 * (i + 1),
                    'human_score': 5000.0 * (i + 1)}
             for i, game in enumerate(GAMES)}


def _result(method, seed, means, study='test_study'):
  return {
      'schema_version': results.SCHEMA_VERSION, 'study': study,
      'method': method, 'seed': seed, 'settings': {'seed': seed},
      'games': GAMES,
      'final': {game: {'episode_scores': [mean - 1.0, mean + 1.0],
                       'mean_score': mean}
                for game, mean in zip(GAMES, means)},
      'curve': [{'learner_steps': step,
                 'mean_scores': {game: mean * step / 10 for game, mean in
                                 zip(GAMES, means)}} for step in (0, 5, 10)],
      'reference': REFERENCE,
      'run': {'wall_seconds': 1.0,
              'load_average': {'start': [0.0] * 3, 'end': [0.0] * 3},
              'code_version': 'test', 'finished_at': 'now'},
  }


SCALED_QL = {0: (150.0, 300.0, 400.0), 1: (200.0, 250.0, 500.0),
             2: (250.0, 350.0, 450.0)}
BC = {0: (90.0, 180.0, 250.0), 1: (110.0, 200.0, 330.0)}


@pytest.fixture
def results_dir(tmp_path):
  directory = str(tmp_path / 'results')
  for seed, means in SCALED_QL.items():
    results.write(directory, _result('scaled_ql', seed, means))
  for seed, means in BC.items():
    results.write(directory, _result('bc', seed, means))
  # Another study's results live in their own folder and are not read.
  results.write(directory, _result('no_cql', 0, (1e6, 1e6, 1e6), 'other'))
  return directory


def test_written_results_read_back_and_are_strict_json(results_dir):
  path = results.result_path(results_dir, 'test_study', 'scaled_ql', 1)
  assert results.read(path) == _result('scaled_ql', 1, SCALED_QL[1])
  with open(path) as f:
    text = f.read()
  assert 'NaN' not in text and 'Infinity' not in text
  assert [(r['method'], r['seed']) for r in
          results.read_all(results_dir, 'test_study')] == [
              ('bc', 0), ('bc', 1), ('scaled_ql', 0), ('scaled_ql', 1),
              ('scaled_ql', 2)]


@pytest.mark.parametrize('subdir', results.NOT_RESULTS)
def test_a_studys_dissections_and_action_values_are_not_read_as_its_results(
    results_dir, subdir):
  folder = os.path.join(results_dir, 'test_study', subdir)
  os.makedirs(folder)
  with open(os.path.join(folder, 'alpha.json'), 'w') as f:
    f.write('{"study": "test_study", "name": "alpha"}')
  assert len(list(results.read_all(results_dir, 'test_study'))) == 5


def test_a_non_finite_score_is_refused_before_anything_is_written(tmp_path):
  bad = _result('scaled_ql', 0, (float('nan'), 1.0, 2.0))
  with pytest.raises(results.ResultError, match='finite'):
    results.write(str(tmp_path), bad)
  assert not os.path.exists(
      results.result_path(str(tmp_path), 'test_study', 'scaled_ql', 0))


def test_a_file_with_nan_or_missing_fields_is_an_error(tmp_path):
  path = results.result_path(str(tmp_path), 'test_study', 'scaled_ql', 0)
  os.makedirs(os.path.dirname(path))
  good = _result('scaled_ql', 0, (1.0, 2.0, 3.0))
  with open(path, 'w') as f:
    f.write(json.dumps(good).replace('"mean_score": 1.0', '"mean_score": NaN'))
  with pytest.raises(results.ResultError, match='NaN'):
    results.read(path)
  del good['curve']
  with open(path, 'w') as f:
    json.dump(good, f)
  with pytest.raises(results.ResultError, match="lacks \\['curve'\\]"):
    results.read(path)


def test_aggregates_are_those_of_the_normalised_score_matrix(results_dir):
  tables = report.StudyTables(
      list(results.read_all(results_dir, 'test_study')), STUDY, reps=2000)
  assert tables.methods == ['scaled_ql', 'bc']
  # data-normalised by hand: (score - data) / (best - data) per game.
  data = np.array([REFERENCE[g]['data_score'] for g in GAMES])
  best = np.array([REFERENCE[g]['best_score'] for g in GAMES])
  scores = np.array([SCALED_QL[s] for s in (0, 1, 2)])
  normalised = (scores - data) / (best - data)
  iqm = tables.aggregates['data']['scaled_ql']['iqm']
  assert iqm.point == pytest.approx(
      scipy.stats.trim_mean(normalised.ravel(), 0.25))
  assert tables.aggregates['data']['scaled_ql']['mean'].point == (
      pytest.approx(normalised.mean()))
  human = (scores - [REFERENCE[g]['random_score'] for g in GAMES]) / (
      np.array([REFERENCE[g]['human_score'] - REFERENCE[g]['random_score']
                for g in GAMES]))
  assert tables.aggregates['human']['scaled_ql']['mean'].point == (
      pytest.approx(human.mean()))
  per_game = tables.per_game['bc'][GAMES[2]]
  assert per_game.point == pytest.approx(290.0)
  assert per_game.low >= 250.0 and per_game.high <= 330.0
  # The curves rise linearly from 0 to the final score: the area under
  # them is half the final score.
  area = tables.area['scaled_ql'][GAMES[0]]
  assert area.point == pytest.approx(np.mean([SCALED_QL[s][0] / 2
                                              for s in (0, 1, 2)]))


def test_curve_area_is_the_trapezoid_mean_over_the_span():
  curve = [{'learner_steps': 0, 'mean_scores': {'A': 0.0}},
           {'learner_steps': 10, 'mean_scores': {'A': 10.0}},
           {'learner_steps': 30, 'mean_scores': {'A': 10.0, 'B': 1.0}}]
  # (10 * 5 + 20 * 10) / 30
  assert report.curve_area(curve, 'A') == pytest.approx(250 / 30)
  assert np.isnan(report.curve_area(curve, 'B'))


def test_a_result_filed_under_another_study_is_an_error(results_dir):
  misplaced = results.result_path(results_dir, 'test_study', 'no_cql', 0)
  os.makedirs(os.path.dirname(misplaced))
  with open(results.result_path(results_dir, 'other', 'no_cql', 0)) as f:
    text = f.read()
  with open(misplaced, 'w') as f:
    f.write(text)
  with pytest.raises(results.ResultError, match='of study other, filed '
                     'under test_study'):
    list(results.read_all(results_dir, 'test_study'))


def test_report_files_and_claims(results_dir, tmp_path):
  output_dir = str(tmp_path / 'report')
  written = report.write_report(results_dir, output_dir, STUDY, reps=2000)
  for path in written.values():
    assert os.path.getsize(path) > 0
  with open(written['report']) as f:
    text = f.read()
  assert '| scaled_ql | 3 |' in text and '| bc | 2 |' in text
  assert 'no_cql' not in text
  assert 'scaled_ql vs its data' in text
  assert 'scaled_ql vs bc (data-normalised IQM):' in text
  assert 'scaled_ql vs bc (data-normalised mean):' in text
  assert 'scaled_ql is higher, the intervals do not overlap' in text
  assert 'Area under the learning curve' in text
  assert os.path.basename(written['final scores per game']) in text


def test_a_baseline_of_another_study_is_reported_as_in_its_own_study(
    results_dir, tmp_path, monkeypatch):
  monkeypatch.setitem(study_config.STUDIES, STUDY.name, STUDY)
  longer = study_config.Study(name='test_longer', methods=STUDY.methods[:1],
                              num_steps=40_000,
                              baselines=((STUDY.name, 'scaled_ql'),))
  for seed, means in ((0, (400.0, 500.0, 600.0)), (1, (450.0, 550.0, 650.0))):
    results.write(results_dir, _result('scaled_ql', seed, means,
                                       'test_longer'))
  tables = report.StudyTables(report.read_results(results_dir, longer),
                              longer, reps=100)
  own = report.StudyTables(list(results.read_all(results_dir, STUDY.name)),
                           STUDY, reps=100)
  assert tables.methods == ['scaled_ql', 'test_study/scaled_ql']
  for game in GAMES:
    assert (tables.per_game['test_study/scaled_ql'][game].point ==
            own.per_game['scaled_ql'][game].point)
  np.testing.assert_array_equal(
      tables.score_matrix('test_study/scaled_ql', 'data'),
      own.score_matrix('scaled_ql', 'data'))
  written = report.write_report(results_dir, str(tmp_path / 'report'), longer,
                                reps=200)
  with open(written['report']) as f:
    text = f.read()
  assert '| test_study/scaled_ql | 3 |' in text
  assert 'test_study/bc' not in text
  assert 'scaled_ql vs test_study/scaled_ql (data-normalised IQM):' in text
  assert '(study test_study, 20,000 learner steps per run)' in text


def test_a_baseline_naming_an_unknown_study_or_method_is_an_error():
  unknown_study = study_config.Study(name='x', baselines=(('nope', 'bc'),))
  with pytest.raises(ValueError, match="Unknown study 'nope'"):
    study_config.baseline_methods(unknown_study)
  unknown_method = study_config.Study(
      name='x', baselines=((study_config.STUDY.name, 'nope'),))
  with pytest.raises(ValueError, match="Unknown method 'nope'"):
    study_config.baseline_methods(unknown_method)


def test_results_measured_against_other_data_are_refused(results_dir):
  other = _result('scaled_ql', 5, (1.0, 2.0, 3.0))
  other['reference'] = {**REFERENCE, GAMES[0]: {**REFERENCE[GAMES[0]],
                                                'data_score': 1.0}}
  results.write(results_dir, other)
  with pytest.raises(results.ResultError, match='other reference scores'):
    report.StudyTables(list(results.read_all(results_dir, 'test_study')),
                       STUDY, reps=100)


def test_a_figure_that_fails_to_save_leaves_the_old_png(tmp_path):
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from launchers.programs import atomic_files  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'plot.png')
  figure, axis = plt.subplots()
  axis.plot([0, 1], [1, 0])
  atomic_files.save_figure_atomically(figure, path)
  with open(path, 'rb') as f:
    before = f.read()
  assert before.startswith(b'\x89PNG')
  broken, axis = plt.subplots()
  axis.plot([0, 1], [0, 1])
  broken.savefig = lambda *args, **kwargs: (_ for _ in ()).throw(
      OSError('disk full'))
  with pytest.raises(OSError, match='disk full'):
    atomic_files.save_figure_atomically(broken, path)
  with open(path, 'rb') as f:
    assert f.read() == before
  assert os.listdir(tmp_path) == ['plot.png']
