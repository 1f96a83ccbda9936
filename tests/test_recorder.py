"""Tests of the RL Unplugged-schema recorder: schema, layout, quality, atomicity."""

import os
import shutil

from absl import flags
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.rl_unplugged import atari_utils

from atari_data import policies
from atari_data import recorder
from atari_data import schema
from environments import atari


@pytest.fixture(scope='module')
def recording(tmp_path_factory):
  """MsPacman, 3 checkpoints of 300 steps: random, eps 0.5, eps 0 lookahead."""
  output_dir = str(tmp_path_factory.mktemp('recorded'))
  config = recorder.RecorderConfig(
      output_dir=output_dir, games=('ms_pacman',), num_checkpoints=3,
      steps_per_checkpoint=300, seed=0)
  stats = recorder.record(config)
  return output_dir, stats['MsPacman']


def test_features_equal_tfds_rl_unplugged_atari_features(recording):
  output_dir, _ = recording
  builder = tfds.builder_from_directory(os.path.join(output_dir, 'MsPacman'))
  expected = atari_utils.features_dict()
  assert builder.info.features.to_json() == expected.to_json()
  assert schema.schema_differences(builder.info.features) == {}
  assert (builder.info.features.get_serialized_info() ==
          expected.get_serialized_info())


def test_schema_differences_names_the_field():
  features = tfds.features.FeaturesDict({
      'steps': tfds.features.Dataset({
          'observation': tfds.features.Image(shape=(84, 84, 3)),
      }),
  })
  differences = schema.schema_differences(features)
  assert 'steps/observation' in differences
  assert '(84, 84, 3)' in differences['steps/observation']
  assert 'found missing' in differences['episode_return']


def test_layout_one_split_per_checkpoint_and_rlds_steps(recording):
  output_dir, stats = recording
  builder = tfds.builder_from_directory(os.path.join(output_dir, 'MsPacman'))
  assert sorted(builder.info.splits) == [
      'checkpoint_00', 'checkpoint_01', 'checkpoint_02']
  for checkpoint, split in enumerate(sorted(builder.info.splits)):
    episodes = list(tfds.as_numpy(builder.as_dataset(split=split)))
    assert len(episodes) == builder.info.splits[split].num_examples
    assert len(episodes) == stats[checkpoint].num_episodes
    num_steps = 0
    for episode_id, episode in enumerate(episodes):
      assert episode['checkpoint_id'] == checkpoint
      assert episode['episode_id'] == episode_id
      steps = list(episode['steps'])
      assert steps[0]['is_first'] and not steps[1]['is_first']
      assert steps[-1]['is_last'] and not steps[-2]['is_last']
      assert steps[0]['observation'].shape == (84, 84, 1)
      rewards = np.array([s['reward'] for s in steps[:-1]])
      assert np.all(np.abs(rewards) <= 1)
      assert episode['episode_return'] == pytest.approx(rewards.sum())
      num_steps += len(steps) - 1
    assert num_steps == 300  # The step budget, in transitions.
  metadata = builder.info.metadata['checkpoints']
  assert [c['checkpoint_id'] for c in metadata] == [0, 1, 2]
  assert metadata[0]['behaviour'] == 'uniform random'
  assert metadata[2]['mean_episode_return'] == stats[2].mean_episode_return


def test_behaviour_quality_rises_with_checkpoint_on_a_real_game(recording):
  _, stats = recording
  returns = [s.mean_episode_return for s in stats]
  assert returns[0] < returns[1] < returns[2], returns
  assert returns[2] >= 2 * returns[0], returns


def test_recording_is_deterministic_given_the_seed(tmp_path):
  config = recorder.RecorderConfig(
      output_dir=str(tmp_path / 'a'), games=('Pong',), num_checkpoints=2,
      steps_per_checkpoint=40, seed=5)
  first = recorder.record(config)['Pong']
  second = recorder.record(
      recorder.RecorderConfig(**{**config.__dict__,
                                 'output_dir': str(tmp_path / 'b')}))['Pong']
  for a, b in zip(first, second):
    assert a.mean_game_score == b.mean_game_score
  read = lambda d: [
      e['steps']['observation'] for e in tfds.as_numpy(
          tfds.builder_from_directory(str(tmp_path / d / 'Pong')).as_dataset(
              split='checkpoint_01', decoders={
                  'steps': tfds.decode.SkipDecoding()}))]
  np.testing.assert_array_equal(read('a')[0], read('b')[0])


def test_writer_round_trips_frames_exactly(tmp_path):
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 256, size=(5, 84, 84, 1), dtype=np.uint8)
  steps = {
      'observation': frames,
      'action': np.array([1, 2, 3, 4, 0], np.int64),
      'reward': np.array([0, 1, -1, 0, 0], np.float32),
      'discount': np.array([1, 1, 1, 0, 0], np.float32),
      'is_first': np.array([1, 0, 0, 0, 0], bool),
      'is_last': np.array([0, 0, 0, 0, 1], bool),
      'is_terminal': np.array([0, 0, 0, 0, 1], bool),
  }
  with recorder.DatasetWriter(str(tmp_path), 'Pong') as writer:
    assert writer.write_checkpoint([steps]) == [0.0]
    writer.commit({})
  builder = tfds.builder_from_directory(str(tmp_path / 'Pong'))
  episode = next(iter(tfds.as_numpy(builder.as_dataset(
      split='checkpoint_00', decoders={'steps': tfds.decode.SkipDecoding()}))))
  decoded = np.stack([tfds.features.Image(shape=(84, 84, 1)).decode_example(p)
                      for p in episode['steps']['observation']])
  np.testing.assert_array_equal(decoded, frames)
  np.testing.assert_array_equal(episode['steps']['action'], steps['action'])


def test_lookahead_planner_restores_the_game_and_commits_to_its_plan():
  env = atari.make_atari_environment('MsPacman', seed=0)
  timestep = env.reset()
  for _ in range(30):
    timestep = env.step(2)
  snapshot = env.clone_state()
  planner = policies.LookaheadPlanner(env.num_actions, seed=0, horizon=8,
                                      commit_steps=3)
  action = planner.select_action(timestep, env)
  after_planning = env.step(action).observation
  env.restore_state(snapshot)
  np.testing.assert_array_equal(env.step(action).observation, after_planning)
  # The next two decisions reuse the plan without touching the emulator.
  assert planner.select_action(timestep, None) == action
  assert planner.select_action(timestep, None) == action


class _FailingFactory:
  """Plays randomly, then fails when asked for checkpoint 1."""

  def __call__(self, game, checkpoint, num_checkpoints, environment, seed):
    if checkpoint == 1:
      raise KeyboardInterrupt('simulated interruption')
    return policies.uniform_random_factory(game, checkpoint, num_checkpoints,
                                           environment, seed)


def test_games_recorded_in_processes_are_the_same_episodes(tmp_path):
  config = recorder.RecorderConfig(
      output_dir=str(tmp_path / 'one'), games=('Pong', 'Breakout', 'Freeway'),
      num_checkpoints=2, steps_per_checkpoint=60, seed=4)
  alone = recorder.record(config, policies.ObjectPlayerLapseSchedule())
  in_processes = recorder.record(
      recorder.RecorderConfig(**{**config.__dict__,
                                 'output_dir': str(tmp_path / 'two')}),
      policies.ObjectPlayerLapseSchedule(), processes=2)
  assert list(in_processes) == ['Pong', 'Breakout', 'Freeway']
  for game, stats in alone.items():
    assert ([s.mean_episode_return for s in stats] ==
            [s.mean_episode_return for s in in_processes[game]])
  for game in alone:
    assert (recorder.dataset_digest(str(tmp_path / 'one'), game) ==
            recorder.dataset_digest(str(tmp_path / 'two'), game))
  assert recorder.dataset_digest(str(tmp_path / 'one'), 'Pong') != (
      recorder.dataset_digest(str(tmp_path / 'one'), 'Breakout'))


def test_dataset_digest_is_of_the_decoded_episodes(tmp_path):
  """Two recordings of the same episodes, one rewritten with its feature
  keys in reverse order: other bytes, the same digest; another seed's
  episodes: another digest."""
  config = recorder.RecorderConfig(output_dir=str(tmp_path / 'a'),
                                   games=('Pong',), num_checkpoints=1,
                                   steps_per_checkpoint=30, seed=2)
  recorder.record(config, policies.uniform_random_factory)
  name = 'recorded_atari-checkpoint_00.tfrecord-00000-of-00001'
  original = os.path.join(str(tmp_path / 'a'), 'Pong', name)
  shutil.copytree(str(tmp_path / 'a'), str(tmp_path / 'b'))
  rewritten = os.path.join(str(tmp_path / 'b'), 'Pong', name)
  with tf.io.TFRecordWriter(rewritten) as writer:
    for record in tf.data.TFRecordDataset(original):
      example = tf.train.Example.FromString(record.numpy())
      reordered = tf.train.Example()
      for key in sorted(example.features.feature, reverse=True):
        reordered.features.feature[key].CopyFrom(example.features.feature[key])
      writer.write(reordered.SerializeToString())
  with open(original, 'rb') as a, open(rewritten, 'rb') as b:
    assert a.read() != b.read()
  assert (recorder.dataset_digest(str(tmp_path / 'a'), 'Pong') ==
          recorder.dataset_digest(str(tmp_path / 'b'), 'Pong'))
  recorder.record(recorder.RecorderConfig(
      **{**config.__dict__, 'output_dir': str(tmp_path / 'c'), 'seed': 3}),
      policies.uniform_random_factory)
  assert (recorder.dataset_digest(str(tmp_path / 'c'), 'Pong') !=
          recorder.dataset_digest(str(tmp_path / 'a'), 'Pong'))


def test_record_rejects_fewer_than_one_process(tmp_path):
  config = recorder.RecorderConfig(output_dir=str(tmp_path), games=('Pong',))
  with pytest.raises(ValueError, match='processes must be >= 1, got 0'):
    recorder.record(config, processes=0)


def test_interrupted_recording_leaves_no_dataset(tmp_path):
  config = recorder.RecorderConfig(
      output_dir=str(tmp_path), games=('Pong',), num_checkpoints=3,
      steps_per_checkpoint=20)
  with pytest.raises(KeyboardInterrupt):
    recorder.record(config, _FailingFactory())
  assert os.listdir(tmp_path) == []


def test_interrupted_overwrite_keeps_the_old_dataset(tmp_path):
  config = recorder.RecorderConfig(
      output_dir=str(tmp_path), games=('Pong',), num_checkpoints=2,
      steps_per_checkpoint=20)
  recorder.record(config, policies.uniform_random_factory)
  with pytest.raises(FileExistsError, match='overwrite'):
    recorder.record(config)
  overwrite = recorder.RecorderConfig(**{**config.__dict__, 'overwrite': True,
                                         'num_checkpoints': 3})
  with pytest.raises(KeyboardInterrupt):
    recorder.record(overwrite, _FailingFactory())
  assert os.listdir(tmp_path) == ['Pong']
  builder = tfds.builder_from_directory(str(tmp_path / 'Pong'))
  assert sorted(builder.info.splits) == ['checkpoint_00', 'checkpoint_01']


def test_config_rejects_ambiguous_budgets():
  with pytest.raises(ValueError, match='exactly one'):
    recorder.RecorderConfig(output_dir='/tmp/x', episodes_per_checkpoint=2,
                            steps_per_checkpoint=10)
  with pytest.raises(ValueError, match='Unknown Atari game'):
    recorder.record(recorder.RecorderConfig(output_dir='/tmp/x',
                                            games=('Pong', 'Pongg')))


def test_make_dataset_launcher(tmp_path, capsys):
  from launchers import make_dataset  # pylint: disable=g-import-not-at-top
  flags.FLAGS([
      'make_dataset', '--games=Breakout', f'--output_dir={tmp_path}',
      '--num_checkpoints=2', '--episodes_per_checkpoint=1',
      '--max_episode_frames=200', '--behaviour=random', '--seed=3'])
  try:
    make_dataset.main([])
  finally:
    flags.FLAGS.unparse_flags()
  assert 'checkpoint_01: mean clipped return' in capsys.readouterr().out
  builder = tfds.builder_from_directory(str(tmp_path / 'Breakout'))
  assert builder.info.splits['checkpoint_01'].num_examples == 1
  # An episode capped at 200 frames has 50 transitions + its last step.
  episode = next(iter(builder.as_dataset(split='checkpoint_00')))
  assert len(list(episode['steps'])) == 51


def test_make_dataset_records_lapses_with_their_settings(tmp_path):
  from launchers import make_dataset  # pylint: disable=g-import-not-at-top
  flags.FLAGS([
      'make_dataset', '--games=Breakout', f'--output_dir={tmp_path}',
      '--num_checkpoints=2', '--steps_per_checkpoint=20',
      '--max_episode_frames=200', '--behaviour=object_player_lapses',
      '--epsilon_first=0.5', '--mean_lapse_steps=4', '--seed=3'])
  try:
    make_dataset.main([])
  finally:
    flags.FLAGS.unparse_flags()
  metadata = tfds.builder_from_directory(str(tmp_path / 'Breakout')).info
  assert [c['behaviour'] for c in metadata.metadata['checkpoints']] == [
      'lapses(share=0.500, mean_steps=4) of object player (BreakoutTracker)',
      'lapses(share=0.000, mean_steps=4) of object player (BreakoutTracker)']


def test_a_lapse_shorter_than_a_step_is_refused_at_the_flag():
  from launchers import make_dataset  # pylint: disable=g-import-not-at-top
  del make_dataset  # Its flags are defined.
  with pytest.raises(flags.IllegalFlagValueError,
                     match='mean_lapse_steps.*a number >= 1'):
    flags.FLAGS(['make_dataset', '--games=Breakout', '--output_dir=/tmp/x',
                 '--mean_lapse_steps=0.5'])
  flags.FLAGS.unparse_flags()
