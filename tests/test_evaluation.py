"""Evaluation: human-normalised scores, aggregates, the evaluate launcher."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from agents.scaled_ql import checkpointing
from environments import atari_scores
from launchers.programs import checkpoint_loading
from launchers.programs import evaluator
from launchers.programs import offline_program
from tests_support import tiny_experiment

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_human_normalised_score_matches_the_reference_table_by_hand():
  # Breakout: random 1.7, human 30.5 (DQN / Wang et al. 2016).
  result = evaluator.GameEvaluation('Breakout', [10.0, 22.2])
  assert result.mean_return == pytest.approx(16.1)
  assert result.human_normalized == pytest.approx((16.1 - 1.7) / (30.5 - 1.7))
  # Pong: random -20.7, human 14.6; either spelling of the name.
  assert atari_scores.human_normalized_score('pong', -3.05) == pytest.approx(0.5)
  assert atari_scores.human_normalized_score('Pong', 14.6) == pytest.approx(1.0)


def test_aggregates_by_hand():
  scores = {f'game{i}': float(v) for i, v in enumerate([5, -1, 0, 2, 100, 3, 1, 4])}
  aggregates = atari_scores.aggregate(scores)
  assert aggregates['mean'] == pytest.approx(114 / 8)
  assert aggregates['median'] == pytest.approx(2.5)
  # IQM: drop the 2 lowest (-1, 0) and 2 highest (5, 100): mean of 1,2,3,4.
  assert aggregates['iqm'] == pytest.approx(2.5)


def test_games_without_reference_scores_are_refused():
  with pytest.raises(ValueError, match="'Pooyan' has no published random/human"):
    atari_scores.reference_scores('Pooyan')


def test_evaluate_launcher_plays_tabulates_and_plots(tiny_atari_dataset, tmp_path):
  # Trains 10 steps with evaluation rounds at 0 and 10, so both logs exist.
  offline_program.run_single_process(
      tiny_experiment(tiny_atari_dataset, tmp_path, num_steps=10))
  process = subprocess.run(
      [sys.executable, '-m', 'launchers.evaluate', f'--workdir={tmp_path}',
       '--episodes=2', '--max_episode_frames=600',
       f'--dataset={tiny_atari_dataset}', '--checkpoints=all'],
      capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
  assert process.returncode == 0, process.stderr[-5000:]
  results = json.loads((tmp_path / 'evaluation' / 'results.json').read_text())
  assert results['learner_step'] == 10
  rows = {row['game']: row for row in results['games']}
  assert set(rows) == {'Pong', 'Breakout'}
  for game, row in rows.items():
    assert row['episodes'] == 2
    assert row['human_normalized'] == pytest.approx(
        atari_scores.human_normalized_score(game, row['mean_score']))
    assert row['data_mean_score'] is not None
  assert results['human_normalized']['mean'] == pytest.approx(
      np.mean([row['human_normalized'] for row in rows.values()]))
  assert '| Pong | 2 |' in process.stdout
  for name in ('learner.png', 'evaluation.png'):
    assert (tmp_path / 'plots' / name).stat().st_size > 1000


def test_checkpoint_trained_with_another_action_space_is_refused(
    tiny_atari_dataset, tmp_path):
  experiment = tiny_experiment(tiny_atari_dataset, tmp_path, num_steps=1)
  experiment.make_learner_runner().train(should_stop=lambda: False)
  path = checkpointing.latest_checkpoint(experiment.checkpoint_dir)[1]
  # Rewrite the description as if Pong had been trained with all 18 actions.
  with np.load(path) as data:
    arrays = dict(data)
  header = json.loads(bytes(arrays['__description__']).decode())
  header['description']['num_actions'] = [18, 4]
  arrays['__description__'] = np.frombuffer(json.dumps(header).encode(), np.uint8)
  np.savez(path, **arrays)
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match='trained with 18 actions for Pong, but the '
                           'environment offers 6'):
    checkpoint_loading.load_checkpoint(path)
