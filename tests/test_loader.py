"""Tests of the multi-game loader against hand-built episodes.

Every frame of a hand-built episode is a constant image whose value encodes
(game, episode, step), so a batch row tells which frames it stacked.
"""

import collections
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from agents.scaled_ql.types import MultiGameTransition
from atari_data import loader
from atari_data import recorder
from atari_data import schema

_GAME_OFFSET = {'Pong': 0, 'Breakout': 128}


def _value(game, episode, step):
  return _GAME_OFFSET[game] + 10 * episode + step + 1  # step <= 9.


def _steps(game, episode, rewards, terminal):
  """RLDS steps of an episode with len(rewards) transitions."""
  length = len(rewards) + 1
  last = np.arange(length) == length - 1
  discount = np.ones(length, np.float32)
  if terminal:
    discount[-2:] = 0.0  # RLDS: the discount after the final action is 0.
  return {
      'observation': np.stack([
          np.full((84, 84, 1), _value(game, episode, t), np.uint8)
          for t in range(length)]),
      'action': np.arange(length, dtype=np.int64) % 3,
      'reward': np.array(list(rewards) + [0.0], np.float32),
      'discount': discount,
      'is_first': np.arange(length) == 0,
      'is_last': last,
      'is_terminal': last & terminal,
  }


def _write(output_dir, game, checkpoints):
  """checkpoints: list (per checkpoint) of lists of (rewards, terminal)."""
  with recorder.DatasetWriter(str(output_dir), game) as writer:
    episode = 0
    for episodes in checkpoints:
      steps = []
      for rewards, terminal in episodes:
        steps.append(_steps(game, episode, rewards, terminal))
        episode += 1
      writer.write_checkpoint(steps)
    writer.commit({})


def _identify(stack):
  """(game, episode, step) of the newest frame of an [84, 84, 4] stack."""
  value = int(stack[0, 0, -1])
  game = 'Breakout' if value > _GAME_OFFSET['Breakout'] else 'Pong'
  episode, step = divmod(value - _GAME_OFFSET[game] - 1, 10)
  return game, episode, step


def _all_transitions(config):
  """Every transition of one pass, keyed by (game, episode, step)."""
  config = loader.LoaderConfig(**{**config.__dict__, 'batch_size': 1,
                                  'repeat': False, 'transition_reuse': 1})
  found = {}
  for batch in loader.make_multigame_iterator(config):
    key = _identify(batch.observation[0])
    assert key not in found, f'{key} emitted twice in one pass'
    found[key] = batch
  return found


def test_frame_stacks_pad_episode_starts_and_never_mix_episodes(tmp_path):
  _write(tmp_path, 'Pong', [[([0.0] * 5, True), ([0.0] * 6, False)]])
  found = _all_transitions(loader.LoaderConfig(
      games=['Pong'], source=str(tmp_path), n_step=1))
  assert len(found) == 5 + 6
  for (game, episode, step), batch in found.items():
    expected = [_value(game, episode, t) if t >= 0 else 0
                for t in range(step - 3, step + 1)]
    # Every pixel of stacked frame i is the value of step - 3 + i.
    np.testing.assert_array_equal(
        batch.observation[0], np.broadcast_to(expected, (84, 84, 4)))
    next_expected = [_value(game, episode, t) if t >= 0 else 0
                     for t in range(step - 2, step + 2)]
    np.testing.assert_array_equal(
        batch.next_observation[0], np.broadcast_to(next_expected, (84, 84, 4)))
    assert batch.action[0] == step % 3
  # Hand-checked boundary: episode 1 starts with three zero frames.
  np.testing.assert_array_equal(found[('Pong', 1, 0)].observation[0, 0, 0],
                                [0, 0, 0, 11])
  np.testing.assert_array_equal(found[('Pong', 1, 1)].observation[0, 0, 0],
                                [0, 0, 11, 12])


def test_n_step_returns_and_discounts_by_hand(tmp_path):
  # Raw rewards 1, -3, 0, 2 clip to 1, -1, 0, 1. n = 3, gamma = 0.5.
  rewards = [1.0, -3.0, 0.0, 2.0]
  _write(tmp_path, 'Pong', [[(rewards, True), (rewards, False)]])
  found = _all_transitions(loader.LoaderConfig(
      games=['Pong'], source=str(tmp_path), n_step=3, discount=0.5))
  # Episode 0 ends in a terminal (step 4): windows reaching it get 0.
  #   t=0: 1 - 0.5 + 0 = 0.5, s_3, 0.5^3; t=1: -1 + 0 + 0.25 = -0.75, s_4, 0
  #   t=2: 0 + 0.5 = 0.5, s_4, 0;          t=3: 1, s_4, 0
  # Episode 1 is truncated at step 4: the same sums bootstrap with 0.5^k.
  expected = {
      (0, 0): (0.5, 0.125, 3), (0, 1): (-0.75, 0.0, 4),
      (0, 2): (0.5, 0.0, 4), (0, 3): (1.0, 0.0, 4),
      (1, 0): (0.5, 0.125, 3), (1, 1): (-0.75, 0.125, 4),
      (1, 2): (0.5, 0.25, 4), (1, 3): (1.0, 0.5, 4),
  }
  assert {(e, t) for _, e, t in found} == set(expected)
  for (_, episode, step), batch in found.items():
    reward, discount, next_step = expected[(episode, step)]
    assert batch.reward[0] == pytest.approx(reward)
    assert batch.discount[0] == pytest.approx(discount)
    assert _identify(batch.next_observation[0]) == ('Pong', episode,
                                                    next_step)


def _two_games(tmp_path):
  _write(tmp_path, 'Pong', [[([0.0] * 9, True), ([1.0] * 7, False)]])
  _write(tmp_path, 'Breakout', [[([0.0] * 8, True)], [([1.0] * 5, True)]])


def test_batches_are_multigame_transitions_with_game_ids(tmp_path):
  _two_games(tmp_path)
  config = loader.LoaderConfig(games=['Breakout', 'pong'],
                               source=str(tmp_path), batch_size=16)
  batch = next(loader.make_multigame_iterator(config))
  assert isinstance(batch, MultiGameTransition)
  assert batch.observation.shape == (16, 84, 84, 4)
  assert batch.observation.dtype == np.uint8
  assert batch.next_observation.shape == (16, 84, 84, 4)
  assert batch.action.dtype == np.int32 and batch.game_id.dtype == np.int32
  assert batch.reward.dtype == np.float32
  assert batch.discount.dtype == np.float32
  for row in range(16):  # game_id indexes the games list given.
    game = _identify(batch.observation[row])[0]
    assert batch.game_id[row] == ['Breakout', 'Pong'].index(game)
  dataset = loader.make_multigame_dataset(config)
  element = next(iter(dataset))
  assert set(element) == set(MultiGameTransition._fields)
  assert element['observation'].shape == (16, 84, 84, 4)


def test_game_weights_set_the_mix(tmp_path):
  _two_games(tmp_path)
  config = loader.LoaderConfig(games=['Pong', 'Breakout'],
                               source=str(tmp_path), batch_size=64,
                               game_weights=[3.0, 1.0])
  iterator = loader.make_multigame_iterator(config)
  game_ids = np.concatenate([next(iterator).game_id for _ in range(40)])
  assert np.mean(game_ids == 0) == pytest.approx(0.75, abs=0.04)


def test_fixed_seed_gives_identical_batches(tmp_path):
  _two_games(tmp_path)
  make = lambda seed: loader.make_multigame_iterator(loader.LoaderConfig(
      games=['Pong', 'Breakout'], source=str(tmp_path), batch_size=8,
      n_step=2, seed=seed))
  first, second, other = make(7), make(7), make(8)
  differs = False
  for _ in range(5):
    a, b, c = next(first), next(second), next(other)
    for field in MultiGameTransition._fields:
      np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    differs |= not np.array_equal(a.observation, c.observation)
  assert differs


def test_pipelines_are_deterministic_and_not_autotuned(tmp_path):
  # Autotuning's model thread made releasing an iterator wait up to 60 s
  # (atari_data/tf_data.py); its absence is what keeps the exit short.
  _two_games(tmp_path)
  config = loader.LoaderConfig(games=['Pong', 'Breakout'],
                               source=str(tmp_path), batch_size=8)
  source = loader.resolve_sources(config)[0]
  for dataset in (loader.decoded_episodes(source, config, seed=0),
                  loader.make_multigame_dataset(config)):
    assert dataset.options().deterministic is True
    assert dataset.options().autotune.enabled is False


def test_checkpoint_selection(tmp_path):
  _write(tmp_path, 'Pong', [[([0.0] * 3, True)] for _ in range(5)])
  episodes = lambda spec: sorted({e for _, e, _ in _all_transitions(
      loader.LoaderConfig(games=['Pong'], source=str(tmp_path),
                          checkpoints=spec))})
  assert episodes('first 20%') == [0]
  assert episodes('first 40%') == [0, 1]
  assert episodes('last 20%') == [4]
  assert episodes('1:3') == [1, 2]
  assert episodes((3, 5)) == [3, 4]
  assert episodes('all') == [0, 1, 2, 3, 4]
  assert loader.select_checkpoints('first 20%', 50) == (0, 10)


def _write_published_layout(data_dir, name, version, game, splits):
  """A prepared TFDS dataset as `tfds.builder(name, data_dir)` expects."""
  directory = os.path.join(data_dir, name.split('/')[0], name.split('/')[1],
                           version)
  os.makedirs(directory)
  features = schema.features_dict()
  for split, episodes in splits.items():
    path = os.path.join(
        directory, f'{name.split("/")[0]}-{split}.tfrecord-00000-of-00001')
    with tf.io.TFRecordWriter(path) as writer:
      for checkpoint, episode, rewards in episodes:
        writer.write(features.serialize_example({
            'steps': _steps(game, episode, rewards, True),
            'checkpoint_id': checkpoint, 'episode_id': episode,
            'episode_return': sum(rewards)}))
  tfds.folder_dataset.write_metadata(data_dir=directory, features=features,
                                     check_data=False)


def test_reads_published_tfds_layouts(tmp_path):
  _write_published_layout(tmp_path, 'rlu_atari_checkpoints_ordered/Pong_run_1',
                          '1.1.0', 'Pong', {
                              'checkpoint_00': [(0, 0, [0.0] * 3)],
                              'checkpoint_01': [(1, 1, [0.0] * 4)]})
  for source in ('rlu_atari_checkpoints_ordered',
                 'rlu_atari_checkpoints_ordered/Pong_run_1',
                 'rlu_atari_checkpoints_ordered/{game}_run_1'):
    found = _all_transitions(loader.LoaderConfig(
        games=['Pong'], source=source, data_dir=str(tmp_path),
        checkpoints='1:2'))
    assert sorted(found) == [('Pong', 1, t) for t in range(4)]
  # rlu_atari: one train split; checkpoints are selected by checkpoint_id.
  _write_published_layout(tmp_path, 'rlu_atari/Pong_run_1', '1.3.0', 'Pong', {
      'train': [(0, 0, [0.0] * 3), (12, 1, [0.0] * 2), (30, 2, [0.0] * 2)]})
  found = _all_transitions(loader.LoaderConfig(
      games=['Pong'], source='rlu_atari', data_dir=str(tmp_path),
      checkpoints='first 20%'))
  assert sorted({e for _, e, _ in found}) == [0]
  with pytest.raises(ValueError, match=r'no episode with a transition in '
                     r'checkpoints \[40, 50\)'):
    loader.make_multigame_iterator(loader.LoaderConfig(
        games=['Pong'], source='rlu_atari', data_dir=str(tmp_path),
        checkpoints='last 20%'))


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(games=['Pongg']), ValueError, r"Unknown Atari game 'Pongg'.*Pong"),
    (dict(games=['Pong', 'Breakout']), ValueError,
     r'Game Breakout is absent from the dataset directory .*launchers'
     r'\.make_dataset --games=Breakout'),
    (dict(checkpoints='first 10%'), ValueError,
     r"keeps no checkpoint of a dataset with 2.*at least 50%"),
    (dict(checkpoints='5:9'), ValueError, r'beyond the 2 checkpoints'),
    (dict(checkpoints='half'), ValueError, r'cannot be parsed'),
    (dict(game_weights=[1.0, 2.0]), ValueError, r'game_weights'),
    (dict(n_step=0), ValueError, r'n_step must be >= 1'),
    (dict(keep_decoded_episodes=True, repeat=False), ValueError,
     r'keep_decoded_episodes=True needs repeat=True'),
    (dict(source='/nonexistent/atari'), FileNotFoundError,
     r'/nonexistent/atari does not exist.*make_dataset'),
    (dict(source='relative/missing'), FileNotFoundError,
     r'relative/missing does not exist'),
    (dict(source='rlu_atari_checkpoints_ordered'), ValueError,
     r'rlu_atari_checkpoints_ordered/Pong_run_1 is not prepared'),
    (dict(source='rlu_atari_checkpoints_ordered/Breakout_run_1'), ValueError,
     r'names one game \(Breakout\) but games includes Pong'),
])
def test_bad_input_fails_before_any_data_is_read(tmp_path, kwargs, error,
                                                  message):
  data = tmp_path / 'data'
  _write(data, 'Pong', [[([0.0] * 3, True)], [([0.0] * 3, True)]])
  arguments = dict(games=['Pong'], source=str(data),
                   data_dir=str(tmp_path / 'tfds'))
  arguments.update(kwargs)
  with pytest.raises(error, match=message):
    loader.make_multigame_dataset(loader.LoaderConfig(**arguments))
  with pytest.raises(error, match=message):
    loader.make_multigame_iterator(loader.LoaderConfig(**arguments))


def test_schema_mismatch_is_reported(tmp_path):
  directory = tmp_path / 'Pong'
  directory.mkdir()
  features = tfds.features.FeaturesDict({
      'steps': tfds.features.Dataset({
          'observation': tfds.features.Image(shape=(84, 84, 3)),
          'action': np.int64}),
  })
  path = directory / 'other-checkpoint_00.tfrecord-00000-of-00001'
  with tf.io.TFRecordWriter(str(path)) as writer:
    writer.write(features.serialize_example({'steps': {
        'observation': np.zeros((2, 84, 84, 3), np.uint8),
        'action': np.zeros(2, np.int64)}}))
  tfds.folder_dataset.write_metadata(data_dir=str(directory),
                                     features=features, check_data=False)
  with pytest.raises(ValueError, match=r'does not have the RL Unplugged Atari '
                     r'schema.*steps/observation: expected \(84, 84, 1\)'):
    loader.make_multigame_dataset(
        loader.LoaderConfig(games=['Pong'], source=str(tmp_path)))


def test_streaming_pool_is_bounded(tmp_path):
  """The sampler holds at most episode_pool_size decoded episodes per game."""
  _write(tmp_path, 'Pong', [[([0.0] * 4, False) for _ in range(12)]])
  sampler = loader.MultiGameSampler(loader.LoaderConfig(
      games=['Pong'], source=str(tmp_path), batch_size=4,
      episode_pool_size=3))
  seen = collections.Counter()
  for _ in range(30):
    batch = next(sampler)
    seen.update(_identify(s)[1] for s in batch.observation)
    assert len(sampler._pools[0]) <= 3  # pylint: disable=protected-access
  assert len(seen) == 12  # ... and still cycles through every episode.
  sampler.close()
  with pytest.raises(StopIteration):
    next(sampler)


def test_one_pass_emits_full_batches_only_as_documented(tmp_path):
  # 5 + 6 = 11 transitions in batches of 4: two batches; the last 3
  # transitions of the pass are not emitted (LoaderConfig.repeat).
  _write(tmp_path, 'Pong', [[([0.0] * 5, True), ([0.0] * 6, False)]])
  batches = list(loader.make_multigame_iterator(loader.LoaderConfig(
      games=['Pong'], source=str(tmp_path), batch_size=4, repeat=False)))
  assert [len(batch.action) for batch in batches] == [4, 4]
  emitted = {_identify(observation) for batch in batches
             for observation in batch.observation}
  assert len(emitted) == 8
  assert 'not emitted' in loader.LoaderConfig.__doc__


def test_kept_episodes_replay_every_pass_from_memory(tmp_path):
  """With keep_decoded_episodes, every pass emits each transition once, the
  same as a streamed pass, and the passes after the first read no file."""
  data = tmp_path / 'data'
  _write(data, 'Pong', [[([0.0] * 5, True), ([1.0, -2.0, 0.0], False),
                         ([0.0, 1.0, 0.0, 0.0], True)]])
  streamed = _all_transitions(loader.LoaderConfig(
      games=['Pong'], source=str(data), n_step=2))
  assert len(streamed) == 12
  # One pooled episode at a time: pass k is exactly emissions
  # 12(k-1)..12k-1.
  config = loader.LoaderConfig(games=['Pong'], source=str(data), n_step=2,
                               batch_size=1, episode_pool_size=1,
                               keep_decoded_episodes=True)
  sampler, twin = (loader.make_multigame_iterator(config) for _ in range(2))
  def next_pass(batches):
    return [next(batches) for _ in range(len(streamed))]
  assert not sampler.replaying_from_memory
  for _ in range(2):  # The stream ends in the first pass.
    for batch, twin_batch in zip(next_pass(sampler), next_pass(twin)):
      for field in MultiGameTransition._fields:  # Same seed, same batches.
        np.testing.assert_array_equal(getattr(batch, field),
                                      getattr(twin_batch, field))
  assert sampler.replaying_from_memory
  shutil.rmtree(data)
  for _ in range(2):
    batches = next_pass(sampler)
    keys = [_identify(batch.observation[0]) for batch in batches]
    assert sorted(keys) == sorted(streamed)
    for key, batch in zip(keys, batches):
      for field in MultiGameTransition._fields:
        np.testing.assert_array_equal(getattr(batch, field),
                                      getattr(streamed[key], field))
