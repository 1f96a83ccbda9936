"""Action values by emulator rollouts (atari_data.rollouts) and what the
study makes of them (benchmarks.study.action_values): values against a
direct replay of the same steps, the emulator left as found, and the
summaries against hand computations."""

import json
import subprocess
import sys

import numpy as np
import pytest

from atari_data import object_players
from atari_data import rollouts
from benchmarks.study import action_values
from environments import atari


def _advanced(game: str, sticky: float, steps: int = 40):
  env = atari.make_atari_environment(game, seed=2,
                                     sticky_action_probability=sticky)
  env.reset()
  actions = np.random.default_rng(0).integers(env.num_actions, size=steps)
  for action in actions:
    env.step(int(action))
  return env, actions


def _ram_after(env, actions):
  for action in actions:
    env.simulate_step(int(action))
  return env.ram().copy()


def test_a_snapshot_without_the_rng_draws_fresh_sticky_actions():
  env, _ = _advanced('Pong', sticky=0.25)
  actions = np.random.default_rng(1).integers(env.num_actions, size=60)
  exact = env.clone_state()
  first = _ram_after(env, actions)
  env.restore_state(exact)
  np.testing.assert_array_equal(_ram_after(env, actions), first)
  fresh = env.clone_state(include_rng=False)
  env.restore_state(fresh)
  second = _ram_after(env, actions)
  env.restore_state(fresh)
  third = _ram_after(env, actions)
  assert not np.array_equal(second, third)


def test_a_rollout_return_matches_stepping_the_same_actions():
  # No sticky actions: the player's actions replay exactly through `step`.
  env, history = _advanced('Pong', sticky=0.0, steps=30)
  twin = atari.make_atari_environment('Pong', seed=2,
                                      sticky_action_probability=0.0)
  twin.reset()
  for action in history:
    twin.step(int(action))
  player = object_players.ObjectPlayer('Pong')
  got = rollouts.discounted_rollout_return(env, 2, player, horizon=150,
                                           discount=0.9)
  expected, weight, action = 0.0, 1.0, 2
  for _ in range(150):
    timestep = twin.step(action)
    expected += weight * atari.clip_reward(timestep.reward)
    weight *= 0.9
    action = player.select_action(timestep, twin)
  assert got == pytest.approx(expected, abs=1e-9)


def _return_of_stepping(env, first_action, policy, horizon, discount):
  total, weight, action = 0.0, 1.0, first_action
  for _ in range(horizon):
    timestep = env.step(action)
    total += weight * atari.clip_reward(timestep.reward)
    if timestep.last():
      break
    weight *= discount
    action = policy.select_action(timestep, env)
  return total


def test_a_rollout_from_a_restored_state_is_the_states_own_future():
  # Sticky actions on: the first rollout draws the state's own sticky
  # actions, and the action they repeat is set to the one before the state,
  # so each action's rollout in another emulator is the future the state's
  # own emulator would have played.
  player = object_players.ObjectPlayer('Pong')
  for seed in range(3):
    env, history = _advanced('Pong', sticky=0.25, steps=40 + seed)
    other = atari.make_atari_environment('Pong', seed=9,
                                         sticky_action_probability=0.25)
    other.reset()
    for action in (3, 3, 2, 5):  # Its own last action is not the state's.
      other.step(action)
    values = rollouts.action_values(other, env.clone_state(),
                                    int(history[-1]), lambda k: player,
                                    num_rollouts=2, horizon=80, discount=0.97)
    assert values.shape == (6, 2)
    for action in range(6):
      twin, _ = _advanced('Pong', sticky=0.25, steps=40 + seed)
      assert values[action, 0] == pytest.approx(_return_of_stepping(
          twin, action, player, horizon=80, discount=0.97), abs=1e-9)


def test_the_rollouts_leave_the_measured_environment_untouched():
  env, _ = _advanced('Breakout', sticky=0.25)
  twin, _ = _advanced('Breakout', sticky=0.25)
  other = atari.make_atari_environment('Breakout', seed=4)
  other.reset()
  player = object_players.ObjectPlayer('Breakout')
  rollouts.action_values(other, env.clone_state(), 0, lambda k: player,
                         num_rollouts=2, horizon=30, discount=0.99)
  for action in np.random.default_rng(5).integers(env.num_actions, size=50):
    np.testing.assert_array_equal(env.step(int(action)).observation,
                                  twin.step(int(action)).observation)


def test_rollouts_differ_by_their_sticky_draws_only_with_sticky_actions():
  player = object_players.ObjectPlayer('Pong')
  deterministic, _ = _advanced('Pong', sticky=0.0)
  values = rollouts.action_values(deterministic, deterministic.clone_state(),
                                  0, lambda k: player, num_rollouts=3,
                                  horizon=120, discount=0.99)
  np.testing.assert_array_equal(values, values[:, :1].repeat(3, axis=1))
  sticky, _ = _advanced('Pong', sticky=0.25)
  taken = []

  class Recording:
    """The player, noting the RAM it acts on at each step."""

    def select_action(self, timestep, environment):
      taken.append(environment.ram().tobytes())
      return player.select_action(timestep, environment)

  rollouts.action_values(sticky, sticky.clone_state(), 0, lambda k: Recording(),
                         num_rollouts=2, horizon=60, discount=0.99)
  # Six actions per rollout, 59 continuation steps each: the first action's
  # steps in rollout 0 and in rollout 1.
  assert taken[:59] != taken[6 * 59:7 * 59]


def test_bad_rollout_settings_are_refused():
  env, _ = _advanced('Pong', sticky=0.0, steps=1)
  with pytest.raises(ValueError, match='num_rollouts and horizon >= 1; got 0 '
                     'and 10'):
    rollouts.action_values(env, env.clone_state(), 0, lambda k: None, 0, 10,
                           0.99)
  with pytest.raises(ValueError, match=r'discount=1.5; it must be in \[0, 1\]'):
    rollouts.action_values(env, env.clone_state(), 0, lambda k: None, 2, 10,
                           1.5)


def test_summarise_values_matches_a_hand_computation():
  # Two states, three actions, two rollouts each.
  values = np.array([[[1.0, 3.0], [0.0, 0.0], [2.0, 2.0]],
                     [[1.0, 1.0], [5.0, 3.0], [0.0, 2.0]]])
  # Means: state 0 (2, 0, 2), state 1 (1, 4, 1).
  summary = action_values.summarise_values(values, player=np.array([0, 0]),
                                           recorded=np.array([1, 1]),
                                           num_resamples=200)
  assert summary['states'] == 2
  # State 0: action 0 ties action 2 for best (half the credit); state 1: not.
  assert summary['player_best_share']['mean'] == pytest.approx(0.25)
  # Advantage over the mean: 2 - 4/3 and 1 - 2.
  assert summary['player_advantage']['mean'] == pytest.approx(
      ((2 - 4 / 3) + (1 - 2)) / 2)
  assert summary['player_regret']['mean'] == pytest.approx((0 + 3) / 2)
  assert summary['recorded_regret']['mean'] == pytest.approx((2 + 0) / 2)
  assert summary['uniform_regret']['mean'] == pytest.approx(
      ((2 - 4 / 3) + (4 - 2)) / 2)
  assert summary['action_gap']['mean'] == pytest.approx((0 + 3) / 2)
  low, high = (summary['player_regret'][k] for k in ('low', 'high'))
  assert 0.0 <= low <= 1.5 <= high <= 3.0
  # Rollout std (ddof 1): state 0 (sqrt 2, 0, 0), state 1 (0, sqrt 2,
  # sqrt 2).
  assert summary['rollout_std'] == pytest.approx(3 * np.sqrt(2) / 6)
  # Paired differences from the player's action, per rollout: state 0
  # action 1 (-1, -3), action 2 (1, -1); state 1 action 1 (4, 2), action 2
  # (-1, 1): s.e. = std / sqrt(2) = sqrt(2) / sqrt(2) = 1 for each.
  assert summary['difference_standard_error'] == pytest.approx(1.0)


def test_summarise_values_refuses_a_single_rollout():
  with pytest.raises(ValueError, match=r'values of shape \(2, 3, 1\).*'
                     r'rollouts >= 2'):
    action_values.summarise_values(np.zeros((2, 3, 1)), np.zeros(2, int),
                                   np.zeros(2, int))


def test_rank_against_values_matches_a_hand_computation():
  values = np.array([[[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]],
                     [[1.0, 1.0], [4.0, 4.0], [1.0, 1.0]]])
  q_values = np.array([[0.1, 0.3, 0.2],   # greedy 1: regret 2
                       [0.0, 0.5, 0.1]])  # greedy 1: regret 0
  ranked = action_values.rank_against_values(q_values, values,
                                             player=np.array([0, 1]),
                                             num_resamples=100)
  assert ranked['greedy_regret']['mean'] == pytest.approx(1.0)
  assert ranked['greedy_best_share'] == pytest.approx(0.5)
  assert ranked['greedy_player_agreement'] == pytest.approx(0.5)
  centred_q = q_values - q_values.mean(axis=1, keepdims=True)
  means = values.mean(axis=2)
  centred_v = means - means.mean(axis=1, keepdims=True)
  assert ranked['difference_correlation'] == pytest.approx(
      np.corrcoef(centred_q.ravel(), centred_v.ravel())[0, 1])
  assert ranked['learner_gap'] == pytest.approx((0.1 + 0.4) / 2)
  assert ranked['measured_gap'] == pytest.approx((1.0 + 3.0) / 2)


def test_rank_against_values_refuses_mismatched_shapes():
  with pytest.raises(ValueError, match=r'Q-values of shape \(2, 4\) against '
                     r'measured values of \(2, 3\)'):
    action_values.rank_against_values(np.zeros((2, 4)), np.zeros((2, 3, 2)),
                                      np.zeros(2, int))


def test_sample_positions_spread_over_the_checkpoints():
  positions = action_values.sample_positions(num_checkpoints=2,
                                             replay_steps=10, num_states=20,
                                             seed=0)
  assert positions == [list(range(10)), list(range(10))]
  some = action_values.sample_positions(3, 100, 30, seed=1)
  assert sum(map(len, some)) == 30
  assert all(p == sorted(p) and all(0 <= x < 100 for x in p) for p in some)
  with pytest.raises(ValueError, match=r'num_states=21; it must be in '
                     r'\[1, 20\] \(2 checkpoints x 10 replayed steps\)'):
    action_values.sample_positions(2, 10, 21, seed=0)


def test_the_command_refuses_a_study_without_object_players(tmp_path):
  finished = subprocess.run(
      [sys.executable, '-m', 'benchmarks.study.action_values',
       '--study=small_scale_v1', f'--root={tmp_path}',
       f'--results_dir={tmp_path}'], capture_output=True, text=True,
      check=False)
  assert finished.returncode != 0
  assert ('Study small_scale_v1 does not learn from object players'
          in finished.stderr + finished.stdout)
  finished = subprocess.run(
      [sys.executable, '-m', 'benchmarks.study.action_values',
       '--num_rollouts=0', f'--root={tmp_path}'], capture_output=True,
      text=True, check=False)
  assert finished.returncode != 0
  assert 'num_rollouts' in finished.stderr


@pytest.mark.parametrize('arguments, message', [
    (['--rank_step=0'], 'rank_step'),
    (['--rank_step=18000'], '--rank_step=18000 ranks checkpoints: give it '
     'with --rank'),
])
def test_the_command_refuses_a_bad_rank_step(tmp_path, arguments, message):
  finished = subprocess.run(
      [sys.executable, '-m', 'benchmarks.study.action_values', *arguments,
       f'--root={tmp_path}', f'--results_dir={tmp_path}'],
      capture_output=True, text=True, check=False)
  assert finished.returncode != 0
  assert message in finished.stderr + finished.stdout
  assert not list(tmp_path.iterdir())  # Nothing recorded, nothing written.


def test_a_ranking_adds_to_the_earlier_one(tmp_path):
  settings = {'num_states': 100}
  path = tmp_path / 'player_rankings.json'
  assert action_values.earlier_rankings(str(path), settings) == {}
  path.write_text(json.dumps({
      'settings': settings, 'steps': {'bc seed 0': 30000, 'mse seed 1': 18000},
      'runs': {'bc seed 0': {'Pong': {'r': 1}},
               'mse seed 1': {'Pong': {'r': 2}}}}))
  previous = action_values.earlier_rankings(str(path), settings)
  merged, kept = action_values.merged_rankings(
      previous, settings, {'mse seed 1': 30000, 'mse seed 4': 30000},
      {'mse seed 1': {'Pong': {'r': 3}}, 'mse seed 4': {'Pong': {'r': 4}}})
  assert kept == ['bc seed 0']  # Its work folder is gone: its ranking stays.
  assert merged == {
      'settings': settings,
      'steps': {'bc seed 0': 30000, 'mse seed 1': 30000, 'mse seed 4': 30000},
      'runs': {'bc seed 0': {'Pong': {'r': 1}},
               'mse seed 1': {'Pong': {'r': 3}},
               'mse seed 4': {'Pong': {'r': 4}}}}
  assert list(merged['runs']) == ['bc seed 0', 'mse seed 1', 'mse seed 4']
  with pytest.raises(ValueError, match=r"player_rankings.json ranked against "
                     r"values measured with \{'num_states': 100\}, not "
                     r"\{'num_states': 50\}: move it away to rank again"):
    action_values.earlier_rankings(str(path), {'num_states': 50})
