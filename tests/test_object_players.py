"""Players that act on the objects the screen shows: their actions on hand-made
RAM, on the real games, their noise (epsilon-greedy, lapses) and its schedule,
and the pilot's entropy."""

import json
import math
import subprocess
import sys

import ale_py
import numpy as np
import pytest

from atari_data import object_players
from atari_data import policies
from environments import factory
from environments import games


def _ram(**values) -> np.ndarray:
  ram = np.zeros(128, np.uint8)
  for address, value in values.items():
    ram[int(address[1:])] = value
  return ram


def _action_name(game: str, index: int) -> str:
  return ale_py.Action(int(games.action_set(game)[index])).name


def test_breakout_tracker_serves_then_follows_the_ball():
  player = object_players.BreakoutTracker()
  assert _action_name('Breakout', player.select(_ram(a72=100, a99=150,
                                                     a101=0))) == 'FIRE'
  # The ball 50 to the right of the paddle (beyond the -8 offset and the
  # dead zone): move right; 50 to the left: move left; level: stay.
  assert _action_name('Breakout', player.select(
      _ram(a72=100, a99=150, a101=80))) == 'RIGHT'
  assert _action_name('Breakout', player.select(
      _ram(a72=100, a99=50, a101=80))) == 'LEFT'
  assert _action_name('Breakout', player.select(
      _ram(a72=100, a99=108, a101=80))) == 'NOOP'


def test_boxing_chaser_closes_in_and_punches_in_reach():
  player = object_players.BoxingChaser()
  # Far to the opponent's left and above it: right and down, no punch.
  assert _action_name('Boxing', player.select(
      _ram(a32=20, a34=20, a33=120, a35=60))) == 'DOWNRIGHT'
  # At reach 26 to its left, 14 below its y: punch, standing.
  assert _action_name('Boxing', player.select(
      _ram(a32=94, a34=74, a33=120, a35=60))) == 'FIRE'
  # To its right: it closes in from that side, moving left.
  assert _action_name('Boxing', player.select(
      _ram(a32=150, a34=74, a33=100, a35=60))) == 'LEFT'


def test_pong_tracker_moves_its_paddle_towards_the_ball():
  player = object_players.PongTracker()
  assert _action_name('Pong', player.select(
      _ram(a51=60, a49=100, a54=150))) == 'LEFT'   # LEFT moves it down.
  assert _action_name('Pong', player.select(
      _ram(a51=180, a49=100, a54=100))) == 'RIGHT'
  # No ball in play: back to the centre.
  assert _action_name('Pong', player.select(
      _ram(a51=120, a49=0, a54=0))) == 'NOOP'


@pytest.mark.parametrize('game', sorted(object_players.PLAYERS))
def test_players_play_the_real_games_with_valid_actions(game):
  environment = factory.make_environment(game, seed=0,
                                         sticky_action_probability=0.0)
  player = object_players.ObjectPlayer(game)
  timestep = environment.reset()
  chosen = set()
  for _ in range(300):
    action = player.select_action(timestep, environment)
    assert 0 <= action < environment.num_actions
    chosen.add(action)
    timestep = environment.step(action)
    if timestep.last():
      timestep = environment.reset()
  # Acting on what it sees: more than one action, except the runner.
  assert len(chosen) == 1 if game == 'Freeway' else len(chosen) > 1


def test_freeway_runner_crosses_the_road():
  environment = factory.make_environment('Freeway', seed=0,
                                         sticky_action_probability=0.0)
  player = object_players.ObjectPlayer('Freeway')
  timestep = environment.reset()
  score = 0.0
  for _ in range(400):
    timestep = environment.step(player.select_action(timestep, environment))
    score += timestep.reward
  assert score >= 2  # A crossing takes about 100 steps when nothing hits.


def test_a_game_without_a_player_is_refused_with_the_games_that_have_one():
  with pytest.raises(ValueError, match=r"MsPacman.*\['Boxing', 'Breakout'"):
    object_players.ObjectPlayer('MsPacman')
  assert not object_players.has_player('MsPacman')
  # Names as the environments spell them, in any case ALE's ROMs use.
  assert object_players.has_player('Breakout')
  assert object_players.has_player('breakout')


def test_schedule_is_linear_in_the_checkpoint_and_random_at_epsilon_one():
  schedule = policies.ObjectPlayerSchedule(epsilon_first=0.5,
                                           epsilon_last=0.0)
  assert [schedule.epsilon(k, 5) for k in range(5)] == [
      0.5, 0.375, 0.25, 0.125, 0.0]
  environment = factory.make_environment('Breakout', seed=0)
  assert isinstance(policies.ObjectPlayerSchedule()(
      'Breakout', 0, 5, environment, seed=0), policies.UniformRandomPolicy)
  greedy = schedule('Breakout', 4, 5, environment, seed=0)
  assert 'object player (BreakoutTracker)' in greedy.description


def test_behaviour_entropy_matches_a_hand_computation():
  # epsilon 0.5 over 4 actions: the player's action 0.625, each other 0.125.
  expected = -(0.625 * math.log(0.625) + 3 * 0.125 * math.log(0.125))
  assert policies.epsilon_greedy_entropy(0.5, 4) == pytest.approx(expected)
  assert policies.epsilon_greedy_entropy(1.0, 4) == pytest.approx(math.log(4))
  assert policies.epsilon_greedy_entropy(0.0, 4) == 0.0


class _ConstantPlayer:
  description = 'constant'

  def select_action(self, timestep, environment):
    del timestep, environment
    return 0


def test_lapses_fill_their_share_of_steps_at_their_mean_length():
  # Attentive runs of (1 - p) / p steps then lapses of 16: share 0.25 needs
  # p = 0.25 / (16 * 0.75 + 0.25).
  assert policies.lapse_start_probability(0.25, 16.0) == pytest.approx(
      0.25 / 12.25)
  lapses = policies.Lapses(_ConstantPlayer(), lapse_share=0.25,
                           mean_lapse_steps=16.0, num_actions=4, seed=0)
  choices, actions = [], []
  for _ in range(200_000):
    actions.append(lapses.select_action(None, None))
    choices.append(lapses.last_choice)
  choices = np.array(choices)
  in_lapse = choices != policies.FOLLOWED
  assert in_lapse.mean() == pytest.approx(0.25, abs=0.01)
  starts = np.flatnonzero(choices == policies.LAPSE_START)
  assert in_lapse.sum() / len(starts) == pytest.approx(16.0, rel=0.05)
  # A lapse holds the action it started with; the player's steps are its.
  actions = np.array(actions)
  for start in starts[:200]:
    end = start + 1
    while end < len(choices) and choices[end] == policies.LAPSE:
      end += 1
    assert (actions[start:end] == actions[start]).all()
  assert (actions[choices == policies.FOLLOWED] == 0).all()
  assert len(set(actions[starts])) == 4


def test_lapse_settings_out_of_range_are_refused_with_the_value():
  with pytest.raises(ValueError, match=r'lapse_share=1.0; it must be in'):
    policies.lapse_start_probability(1.0, 16.0)
  with pytest.raises(ValueError, match='mean_lapse_steps=0.5; a lapse lasts'):
    policies.lapse_start_probability(0.25, 0.5)


def test_the_lapse_schedule_plays_lapses_of_the_object_player():
  schedule = policies.ObjectPlayerLapseSchedule(epsilon_first=0.25,
                                                epsilon_last=0.0,
                                                mean_lapse_steps=8.0)
  environment = factory.make_environment('Breakout', seed=0)
  assert isinstance(schedule('Breakout', 0, 5, environment, seed=0),
                    policies.Lapses)
  assert schedule('Breakout', 0, 5, environment, seed=0).description == (
      'lapses(share=0.250, mean_steps=8) of object player (BreakoutTracker)')
  assert isinstance(policies.ObjectPlayerLapseSchedule()(
      'Breakout', 0, 5, environment, seed=0), policies.UniformRandomPolicy)
  # No exact entropy floor for lapses; epsilon-greedy's is exact.
  assert schedule.action_entropy(0.25, 4) is None
  assert policies.ObjectPlayerSchedule().action_entropy(0.5, 4) == (
      policies.epsilon_greedy_entropy(0.5, 4))


def test_the_pilot_table_shows_both_advantages_and_a_dash_without_a_floor():
  evidence = {'advantage': 0.01, 'advantage_low': -0.02,
              'advantage_high': 0.04,
              'followed_against_deviated': {'advantage': 0.2,
                                            'advantage_low': 0.1,
                                            'advantage_high': 0.3}}
  row = {'checkpoint': 0, 'epsilon': 0.25, 'mean_score': 15.0, 'episodes': 20,
         'behaviour_entropy': None, 'uniform_cross_entropy': math.log(4),
         'discounted_return': {'p1': 0.0, 'median': 1.0, 'p99': 3.0},
         'player_advantage': evidence}
  # In a process of its own: the pilot's flags share names with others'.
  table = subprocess.run(
      [sys.executable, '-c', 'import json, sys; from benchmarks.study import '
       'pilot; print(pilot.markdown_table(json.loads(sys.argv[1])))',
       json.dumps({'Breakout': {'random_score': 1.2, 'checkpoints': [row]}})],
      capture_output=True, text=True, check=True).stdout
  assert table.splitlines()[-1] == (
      '| Breakout | 0 | 0.25 | 15.0 | 20 | 1.2 | - | - | - | 1.386 | '
      '0.00 / 1.00 / 3.00 | +0.010 [-0.020, +0.040] | '
      '+0.200 [+0.100, +0.300] |')
