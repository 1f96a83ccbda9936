"""Representation diagnostics: values against direct computations, and the CLI."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from agents.scaled_ql import diagnostics
from agents.scaled_ql.networks import make_network
from agents.scaled_ql.types import MultiGameTransition
from launchers.programs import offline_program
from tests_support import TINY_LEARNER, tiny_experiment

GAMES = ('Pong', 'Breakout')
NUM_ACTIONS = (6, 4)


def _batch(observation, game_id, action, reward=None):
  return MultiGameTransition(
      observation=observation, action=action,
      reward=(np.zeros(len(action), np.float32) if reward is None
              else reward),
      discount=np.ones(len(action), np.float32),
      next_observation=observation, game_id=game_id)


def test_values_match_a_direct_computation_on_the_network_output():
  network = make_network(TINY_LEARNER, NUM_ACTIONS)
  params = network.init(jax.random.PRNGKey(0))
  rng = np.random.default_rng(0)
  game_id = np.array([0] * 5 + [1] * 7, np.int32)
  action = np.array([0, 1, 2, 3, 5, 0, 1, 2, 3, 0, 1, 2], np.int32)
  batch = _batch(rng.integers(0, 256, (12, 84, 84, 4), np.uint8), game_id,
                 action)

  results = diagnostics.representation_diagnostics(
      diagnostics.network_output(network, params, batch), NUM_ACTIONS, batch,
      GAMES)

  output = network.apply(params, batch.observation, batch.game_id)
  for index, game in enumerate(GAMES):
    rows = game_id == index
    q = np.asarray(output.q_values)[rows][:, :NUM_ACTIONS[index]]
    row = results[game]
    assert row['num_states'] == rows.sum()
    np.testing.assert_allclose(row['q_state_std'], np.std(q, axis=0).mean(),
                               rtol=1e-5)
    np.testing.assert_allclose(row['action_gap'],
                               np.mean(q.max(1) - q.mean(1)), rtol=1e-5)
    np.testing.assert_allclose(
        row['data_action_advantage'],
        np.mean([q[i, a] - q[i].mean() for i, a in enumerate(action[rows])]),
        rtol=1e-4, atol=1e-7)
    greedy = [int(np.argmax(q_row)) for q_row in q]
    assert row['greedy_action_histogram'] == [
        greedy.count(a) for a in range(NUM_ACTIONS[index])]
    assert row['greedy_action_share'] == max(
        greedy.count(a) for a in set(greedy)) / len(greedy)
    data_actions = list(action[rows])
    assert row['data_action_histogram'] == [
        data_actions.count(a) for a in range(NUM_ACTIONS[index])]
    np.testing.assert_allclose(
        row['greedy_action_data_share'],
        np.mean([data_actions.count(g) / len(data_actions) for g in greedy]))
    # Random uint8 frames differ everywhere, but ReLU features share a sign.
    assert -1.0 <= row['within_game_cosine'] < 1.0


def test_identical_states_read_as_a_collapsed_representation():
  network = make_network(TINY_LEARNER, NUM_ACTIONS)
  params = network.init(jax.random.PRNGKey(1))
  frame = np.random.default_rng(1).integers(0, 256, (1, 84, 84, 4), np.uint8)
  batch = _batch(np.repeat(frame, 6, axis=0), np.zeros(6, np.int32),
                 np.arange(6, dtype=np.int32))

  results = diagnostics.representation_diagnostics(
      diagnostics.network_output(network, params, batch), NUM_ACTIONS, batch,
      GAMES)
  row = results['Pong']

  np.testing.assert_allclose(row['within_game_cosine'], 1.0, atol=1e-5)
  assert row['greedy_action_share'] == 1.0
  np.testing.assert_allclose(row['q_state_std'], 0.0, atol=1e-5)
  # Every action is the data's action once: the advantages average to 0.
  np.testing.assert_allclose(row['data_action_advantage'], 0.0, atol=1e-5)
  assert 'Breakout' not in results  # no Breakout states in the batch


def test_discounted_returns_match_a_hand_computation():
  # G_2 = 2; G_1 = 0 + 0.5 * 2 = 1; G_0 = 1 + 0.5 * 1 = 1.5.
  np.testing.assert_allclose(
      diagnostics.discounted_returns(np.array([1.0, 0.0, 2.0]), 0.5),
      [1.5, 1.0, 2.0])


def test_value_calibration_clips_rewards_and_averages_over_all_steps():
  # Episode 1: rewards 3 -> 1 (clipped), then -1: returns [1 - 0.5, -1].
  # Episode 2: one step, reward 0.25: return 0.25.
  calibration = diagnostics.value_calibration(
      [np.array([2.0, 0.0]), np.array([1.0])],
      [np.array([3.0, -1.0]), np.array([0.25])], discount=0.5)
  realised = [0.5, -1.0, 0.25]
  predicted = [2.0, 0.0, 1.0]
  assert calibration['steps'] == 3
  np.testing.assert_allclose(calibration['mean_realised'], np.mean(realised))
  np.testing.assert_allclose(calibration['mean_predicted'], np.mean(predicted))
  np.testing.assert_allclose(calibration['overestimation'],
                             np.mean(predicted) - np.mean(realised))
  np.testing.assert_allclose(calibration['first_step_predicted'], 1.5)
  np.testing.assert_allclose(calibration['first_step_realised'], 0.375)


def test_value_calibration_refuses_mismatched_episodes():
  with pytest.raises(ValueError, match='2 Q-values but 1 rewards'):
    diagnostics.value_calibration([np.zeros(2)], [np.zeros(1)], 0.9)
  with pytest.raises(ValueError, match='got 1 and 0'):
    diagnostics.value_calibration([np.zeros(2)], [], 0.9)


def test_return_calibration_matches_a_hand_computation():
  # Deviations from the means (2 and 1): predicted [-1, 0, 1], realised
  # [-1, 1, 0]: covariance 1 / 3, both variances 2 / 3, correlation 0.5.
  calibration = diagnostics.return_calibration(np.array([1.0, 2.0, 3.0]),
                                               np.array([0.0, 2.0, 1.0]))
  assert calibration == pytest.approx({
      'mean_predicted': 2.0, 'mean_realised': 1.0, 'overestimation': 1.0,
      'correlation': 0.5})
  constant = diagnostics.return_calibration(np.ones(3), np.arange(3.0))
  assert constant['correlation'] is None
  with pytest.raises(ValueError, match=r'got shapes \(3,\) and \(2,\)'):
    diagnostics.return_calibration(np.ones(3), np.ones(2))


def test_data_return_calibration_compares_the_data_actions_q_with_returns():
  network = make_network(TINY_LEARNER, NUM_ACTIONS)
  params = network.init(jax.random.PRNGKey(2))
  rng = np.random.default_rng(2)
  game_id = np.array([1, 0, 1, 1, 0], np.int32)
  action = np.array([3, 5, 0, 2, 1], np.int32)
  returns = np.array([0.5, -1.0, 2.0, 0.0, 0.25], np.float32)
  batch = _batch(rng.integers(0, 256, (5, 84, 84, 4), np.uint8), game_id,
                 action, returns)

  results = diagnostics.data_return_calibration(
      diagnostics.network_output(network, params, batch).q_values, batch,
      GAMES)

  q = np.asarray(network.apply(params, batch.observation,
                               batch.game_id).q_values)
  for index, game in enumerate(GAMES):
    rows = np.flatnonzero(game_id == index)
    predicted = q[rows, action[rows]]
    assert results[game]['states'] == len(rows)
    np.testing.assert_allclose(results[game]['mean_predicted'],
                               predicted.mean(), rtol=1e-5)
    np.testing.assert_allclose(results[game]['mean_realised'],
                               returns[rows].mean(), rtol=1e-6)
    np.testing.assert_allclose(
        results[game]['correlation'],
        np.corrcoef(predicted, returns[rows])[0, 1], rtol=1e-4)


def test_reference_agreement_matches_a_hand_computation():
  # Three states; the reference player would FIRE (1) in the first two and
  # move (2) in the third. The policy took 0, 1, 2.
  q_values = np.array([[0.5, 0.4, 0.0],    # FIRE 0.1 below the greedy NOOP
                       [0.2, 0.3, 0.1],    # FIRE greedy: gap 0
                       [0.0, 0.1, 0.7]])   # move greedy: gap 0
  agreement = diagnostics.reference_action_agreement(
      q_values, taken=np.array([0, 1, 2]), reference=np.array([1, 1, 2]))
  assert agreement['agreement'] == pytest.approx(2 / 3)
  fire = agreement['by_reference_action']['1']
  assert fire['states'] == 2
  assert fire['agreement'] == pytest.approx(0.5)
  assert fire['reference_q_gap'] == pytest.approx((-0.1 + 0.0) / 2)
  assert fire['taken_histogram'] == [1, 1, 0]
  move = agreement['by_reference_action']['2']
  assert (move['states'], move['agreement'], move['reference_q_gap'],
          move['taken_histogram']) == (1, 1.0, 0.0, [0, 0, 1])
  assert set(agreement['by_reference_action']) == {'1', '2'}
  assert agreement['reference_q_gap'] == pytest.approx(-0.1 / 3)
  # FIRE beats one of two other actions in state 0, both in state 1; the
  # move beats both in state 2.
  assert agreement['reference_above_share'] == pytest.approx(
      (0.5 + 1.0 + 1.0) / 3)


def test_reference_above_share_counts_ties_half():
  # All values equal: the reference action neither above nor below.
  agreement = diagnostics.reference_action_agreement(
      np.zeros((2, 4)), taken=np.array([0, 0]), reference=np.array([3, 1]))
  assert agreement['reference_above_share'] == pytest.approx(0.5)
  # Above one, tied with one, below one of three others: (1 + 0.5) / 3.
  agreement = diagnostics.reference_action_agreement(
      np.array([[0.0, 0.2, 0.2, 0.5]]), taken=np.array([3]),
      reference=np.array([1]))
  assert agreement['reference_above_share'] == pytest.approx(0.5)


def test_reference_agreement_refuses_bad_shapes_and_actions():
  with pytest.raises(ValueError, match=r'got shapes \(2, 3\), \(2,\) and '
                     r'\(3,\)'):
    diagnostics.reference_action_agreement(np.zeros((2, 3)), np.zeros(2, int),
                                           np.zeros(3, int))
  with pytest.raises(ValueError, match=r'reference actions must lie in '
                     r'\[0, 3\), got 0..3'):
    diagnostics.reference_action_agreement(np.zeros((2, 3)), np.zeros(2, int),
                                           np.array([0, 3]))


def test_diagnose_command_prints_a_table_for_a_checkpoint(
    tiny_atari_dataset, tmp_path):
  offline_program.run_single_process(
      tiny_experiment(tiny_atari_dataset, tmp_path, num_steps=2,
                      eval_every_steps=100))
  completed = subprocess.run(
      [sys.executable, '-m', 'launchers.diagnose', f'--workdir={tmp_path}',
       f'--dataset={tiny_atari_dataset}', '--num_states=64',
       '--play_episodes=1', '--max_episode_frames=200',
       # Checkpoint 1 is the lookahead planner's, which does not replay.
       '--checkpoints=0:1', '--reference_states=8',
       f'--json={tmp_path}/diagnostics.json'],
      capture_output=True, text=True, check=False)
  assert completed.returncode == 0, completed.stderr[-3000:]
  assert '| game | states | within-game cosine |' in completed.stdout
  assert '| Pong |' in completed.stdout and '| Breakout |' in completed.stdout
  assert '| game | episodes | mean return |' in completed.stdout
  assert '| game | states | Q(s, a_data) |' in completed.stdout
  written = json.loads((tmp_path / 'diagnostics.json').read_text())
  for game in ('Pong', 'Breakout'):
    on_data = written['games'][game]
    assert on_data['data_returns']['horizon'] == 1000
    assert on_data['data_returns']['states'] == on_data['num_states']
    # Replayed data states with the object player's action at each.
    on_replayed = on_data['data_reference_player']
    assert on_replayed['states'] == 8
    assert 0.0 <= on_replayed['reference_above_share'] <= 1.0
    assert on_replayed['reference_q_gap'] <= 0.0
    played = written['played'][game]
    # 200 frames at a frame skip of 4: 50 agent steps at most.
    assert played['episode_steps'][0] <= 50
    assert sum(played['played_action_histogram']) == played['steps']
    np.testing.assert_allclose(
        played['overestimation'],
        played['mean_predicted'] - played['mean_realised'], atol=1e-9)
    # Both games have an object player: its action at every played state.
    compared = played['reference_player']
    assert compared['player'].startswith('object player')
    by_action = compared['by_reference_action'].values()
    assert sum(row['states'] for row in by_action) == played['steps']
    assert [sum(counts) for counts in zip(
        *(row['taken_histogram'] for row in by_action))] == played[
            'played_action_histogram']
  assert '| game | reference player | its action |' in completed.stdout
  assert '| game | reference player | data states |' in completed.stdout


def test_diagnose_refuses_a_negative_episode_count(tmp_path):
  completed = subprocess.run(
      [sys.executable, '-m', 'launchers.diagnose', f'--workdir={tmp_path}',
       '--dataset=unused', '--play_episodes=-1'],
      capture_output=True, text=True, check=False)
  assert completed.returncode != 0
  assert 'play_episodes' in completed.stderr and '-1' in completed.stderr
