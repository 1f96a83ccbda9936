"""The study runner: a tiny study recorded, run, skipped and reported."""

import json
import os

import pytest

from benchmarks.study import config as study_config
from benchmarks.study import data
from benchmarks.study import report
from benchmarks.study import results
from benchmarks.study import run

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


def test_runs_write_results_are_skipped_when_done_and_make_a_report(tmp_path):
  root, results_dir = str(tmp_path / 'root'), str(tmp_path / 'results')
  data.ensure_dataset(STUDY.dataset, root)
  assert [(m.name, s) for m, s in run.pending_runs(STUDY, results_dir)] == [
      ('scaled_ql', 0), ('bc', 0), ('scaled_ql', 1), ('bc', 1)]

  for method, seed in run.pending_runs(STUDY, results_dir, seeds=[0]):
    path = run.run_one(STUDY, method, seed, root, results_dir)
    assert path == results.result_path(results_dir, method.name, seed)
    result = results.read(path)
    assert result['settings']['learner']['network_size'] == 'nature_dqn'
    assert [p['learner_steps'] for p in result['curve']] == [0, 5, 10]
    for game in ('MsPacman', 'Qbert'):
      assert len(result['final'][game]['episode_scores']) == 2
    assert result['reference'] == data.reference_scores(STUDY.dataset, root)

  # Done runs are skipped; the pending ones keep the study's order.
  assert [(m.name, s) for m, s in run.pending_runs(STUDY, results_dir)] == [
      ('scaled_ql', 1), ('bc', 1)]
  assert run.pending_runs(STUDY, results_dir, methods=['bc'], seeds=[0]) == []
  with pytest.raises(ValueError, match="Unknown method 'dqn'"):
    run.pending_runs(STUDY, results_dir, methods=['dqn'])
  with pytest.raises(ValueError, match='Seed 7 is not one of'):
    run.pending_runs(STUDY, results_dir, seeds=[7])

  written = report.write_report(results_dir, str(tmp_path / 'report'), STUDY,
                                reps=200)
  with open(written['report']) as f:
    text = f.read()
  assert '| scaled_ql | 1 |' in text and '| bc | 1 |' in text
  # One run per method: no interval, so no claim either way.
  assert 'no interval, no conclusion yet' in text
  assert 'intervals do not overlap' not in text
  assert os.path.getsize(written['learning curves']) > 0


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
