"""Tests of the dm_env Atari environment and game-name handling."""

import dm_env
import numpy as np
import pytest

from environments import atari
from environments import games


@pytest.mark.parametrize('name, camel, rom', [
    ('Pong', 'Pong', 'pong'),
    ('pong', 'Pong', 'pong'),
    ('MsPacman', 'MsPacman', 'ms_pacman'),
    ('ms_pacman', 'MsPacman', 'ms_pacman'),
    ('SpaceInvaders', 'SpaceInvaders', 'space_invaders'),
    ('UpNDown', 'UpNDown', 'up_n_down'),
])
def test_game_names_accept_both_spellings(name, camel, rom):
  assert games.canonical_name(name) == camel
  assert games.rom_id(name) == rom


def test_every_rl_unplugged_game_has_a_rom_and_keeps_its_name():
  from tensorflow_datasets.rl_unplugged import atari_utils  # pylint: disable=g-import-not-at-top
  rlu_games = sorted({config.game for config in atari_utils.builder_configs()})
  assert len(rlu_games) == 46
  for game in rlu_games:
    assert games.canonical_name(game) == game
    assert games.num_actions(game) <= 18


def test_unknown_game_suggests_close_matches():
  with pytest.raises(ValueError, match=r"Unknown Atari game 'SpaceInvader'.*SpaceInvaders"):
    games.rom_id('SpaceInvader')


def test_num_actions_minimal_and_full():
  # Pong's minimal set: NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, LEFTFIRE.
  assert games.num_actions('Pong') == 6
  assert games.action_set('Pong') == (0, 1, 3, 4, 11, 12)
  assert games.num_actions('MsPacman') == 9
  assert games.num_actions('Pong', full_action_space=True) == 18
  env = atari.make_atari_environment('Pong', full_action_space=True)
  assert env.action_spec().num_values == 18


def test_area_resize_against_hand_computed_frame():
  frame = np.zeros((210, 160), np.uint8)
  frame[:5, :] = 100  # Rows 0..4 = output rows 0 and 1 (2.5 rows each).
  frame[:, 0] = 200   # Column 0 is 1/1.905 of output column 0.
  resized = atari.resize_frame(frame)
  assert resized.shape == (84, 84) and resized.dtype == np.uint8
  np.testing.assert_array_equal(resized[:2, 1:], 100)
  np.testing.assert_array_equal(resized[2:, 1:], 0)
  scale = 160 / 84
  # Output column 0 covers columns [0, 1.905): 1 part of 200, rest 0 / 100.
  np.testing.assert_array_equal(resized[2:, 0], round(200 / scale))
  np.testing.assert_array_equal(
      resized[:2, 0], round((200 + 100 * (scale - 1)) / scale))
  constant = np.full((210, 160), 77, np.uint8)
  np.testing.assert_array_equal(atari.resize_frame(constant), 77)


def test_observations_stack_frames_and_pad_with_zeros():
  env = atari.make_atari_environment('Breakout', seed=0)
  spec = env.observation_spec()
  assert spec.shape == (84, 84, 4) and spec.dtype == np.uint8
  first = env.reset()
  assert first.first()
  assert first.observation.shape == (84, 84, 4)
  assert first.observation.dtype == np.uint8
  np.testing.assert_array_equal(first.observation[..., :3], 0)
  assert first.observation[..., 3].any()
  previous = first.observation
  for _ in range(5):
    timestep = env.step(1)
    np.testing.assert_array_equal(timestep.observation[..., :3],
                                  previous[..., 1:])
    previous = timestep.observation


def test_reward_is_raw_score_and_clip_reward_clips():
  # Space Invaders scores 5..30 points per invader: raw rewards exceed 1.
  env = atari.make_atari_environment('SpaceInvaders', seed=0)
  env.reset()
  rng = np.random.default_rng(0)
  rewards = []
  for _ in range(400):
    timestep = env.step(rng.integers(env.num_actions))
    rewards.append(timestep.reward)
    if timestep.last():
      break
  rewards = np.array(rewards)
  assert rewards.max() > 1
  clipped = atari.clip_reward(rewards)
  assert clipped.dtype == np.float32
  np.testing.assert_array_equal(clipped, np.sign(rewards))


def _play(env, actions):
  observations = [env.reset().observation]
  for action in actions:
    observations.append(env.step(action).observation)
  return np.stack(observations)


def test_same_seed_same_episode_and_sticky_actions_use_the_seed():
  actions = np.random.default_rng(0).integers(6, size=150)
  play = lambda seed: _play(atari.make_atari_environment('Pong', seed=seed),
                            actions)
  np.testing.assert_array_equal(play(3), play(3))
  assert not np.array_equal(play(3), play(4))


def test_truncation_at_the_frame_cap_keeps_discount_one():
  env = atari.make_atari_environment('Pong', max_episode_frames=400)
  env.reset()
  for step in range(1, 200):
    timestep = env.step(0)
    if timestep.last():
      break
  assert step == 100  # 400 frames / frame skip 4.
  assert timestep.discount == 1.0
  assert env.step(0).first()  # Stepping after the end starts a new episode.


def test_game_over_is_a_terminal_with_discount_zero():
  env = atari.make_atari_environment('Pong', seed=0)
  timestep = env.reset()
  while not timestep.last():
    timestep = env.step(0)  # NOOP loses 21 points in ~800 steps.
  assert timestep.step_type == dm_env.StepType.LAST
  assert timestep.discount == 0.0


def test_clone_and_restore_replay_the_same_future():
  env = atari.make_atari_environment('MsPacman', seed=0)
  env.reset()
  for _ in range(20):
    env.step(2)
  snapshot = env.clone_state()
  actions = np.random.default_rng(1).integers(9, size=30)
  first = [env.step(a).observation for a in actions]
  env.restore_state(snapshot)
  second = [env.step(a).observation for a in actions]
  np.testing.assert_array_equal(np.stack(first), np.stack(second))


def test_modes_and_difficulties():
  with pytest.raises(ValueError, match=r'Mode 7 is not valid for Pong; '
                     r'valid modes: \[0, 1\]'):
    atari.make_atari_environment('Pong', mode=7)
  with pytest.raises(ValueError, match=r'Difficulty 9 is not valid for Pong; '
                     r'valid difficulties: \[0, 1, 2, 3\]'):
    atari.make_atari_environment('Pong', difficulty=9)
  default = _play(atari.make_atari_environment('Breakout'), [1] * 60)
  variant = _play(atari.make_atari_environment('Breakout', mode=4,
                                               difficulty=1), [1] * 60)
  assert default.shape == variant.shape
  assert not np.array_equal(default, variant)
