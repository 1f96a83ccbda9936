"""Replaying a recording through the game it came from (atari_data.replay)."""

import dataclasses
import json
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atari_data import loader
from atari_data import policies
from atari_data import recorder
from atari_data import replay
from benchmarks.study import action_values
from benchmarks.study import data_evidence
from launchers.programs import checkpoint_diagnosis
from launchers.programs import checkpoint_loading

STEPS_PER_CHECKPOINT = 120


@pytest.fixture(scope='module')
def object_player_recording(tmp_path_factory) -> str:
  """Breakout: checkpoint 0 the noiseless object player, checkpoint 1
  uniform random play; episodes capped at 50 steps, so each checkpoint
  holds several (the last cut by the step budget)."""
  output_dir = str(tmp_path_factory.mktemp('object_player_rlds'))
  recorder.record(
      recorder.RecorderConfig(output_dir=output_dir, games=('Breakout',),
                              num_checkpoints=2,
                              steps_per_checkpoint=STEPS_PER_CHECKPOINT,
                              max_episode_frames=200, seed=3),
      policies.ObjectPlayerSchedule(epsilon_first=0.0, epsilon_last=1.0))
  return output_dir


# Lapses of 4 steps in half the steps, so that 120 steps hold several.
LAPSES = policies.ObjectPlayerLapseSchedule(epsilon_first=0.5,
                                            epsilon_last=0.5,
                                            mean_lapse_steps=4.0)


@pytest.fixture(scope='module')
def lapses_recording(tmp_path_factory) -> str:
  output_dir = str(tmp_path_factory.mktemp('lapses_rlds'))
  recorder.record(
      recorder.RecorderConfig(output_dir=output_dir, games=('Breakout',),
                              num_checkpoints=1,
                              steps_per_checkpoint=STEPS_PER_CHECKPOINT,
                              max_episode_frames=200, seed=4), LAPSES)
  return output_dir


def _episodes(dataset, checkpoint):
  return list(replay.replay_with_reference_actions(dataset, 'Breakout',
                                                   checkpoint))


def test_the_noiseless_players_recording_replays_to_its_own_actions(
    object_player_recording):
  episodes = _episodes(object_player_recording, 0)
  assert len(episodes) >= 3  # 120 steps in episodes of at most 50
  assert sum(len(e['action']) for e in episodes) == STEPS_PER_CHECKPOINT
  for episode in episodes:
    # The player's action depends on the RAM (ball, paddle), so this holds
    # only if the replay passes through the recorded emulator states.
    np.testing.assert_array_equal(episode['reference_action'],
                                  episode['action'])
    assert len(episode['frames']) == len(episode['action']) + 1


def test_random_plays_recording_replays_with_valid_reference_actions(
    object_player_recording):
  episodes = _episodes(object_player_recording, 1)
  assert sum(len(e['action']) for e in episodes) == STEPS_PER_CHECKPOINT
  reference = np.concatenate([e['reference_action'] for e in episodes])
  actions = np.concatenate([e['action'] for e in episodes])
  assert reference.min() >= 0 and reference.max() < 4
  # Uniform random play takes the player's action about a quarter of the
  # time, not always.
  assert 0.0 < np.mean(reference == actions) < 0.6


def test_a_replay_that_leaves_the_recording_is_refused(
    object_player_recording, tmp_path):
  copy = tmp_path / 'copy'
  shutil.copytree(object_player_recording, copy)
  metadata_path = copy / 'Breakout' / 'metadata.json'
  metadata = json.loads(metadata_path.read_text())
  metadata['recorder_config']['seed'] = 4  # Other sticky-action draws.
  metadata_path.write_text(json.dumps(metadata))
  with pytest.raises(ValueError, match=r'Replaying Breakout checkpoint 1 .* '
                     r'differs from the recorded frame'):
    _episodes(str(copy), 1)


def test_a_planners_recording_is_refused(tiny_atari_dataset):
  # Checkpoint 1 of the default schedule is the lookahead planner, whose
  # rollouts leave the emulator in a state its snapshots do not restore.
  with pytest.raises(ValueError, match='a behaviour that plans on the '
                     'emulator'):
    list(replay.replay_with_reference_actions(tiny_atari_dataset, 'Pong', 1))


def test_sampled_states_are_data_states_with_the_players_actions(
    object_player_recording):
  sample = replay.sample_reference_states(
      object_player_recording, 'Breakout', (0, 1), num_states=30, seed=5,
      replay_steps=100)
  assert sample['observation'].shape == (30, 84, 84, 4)
  np.testing.assert_array_equal(sample['action'], sample['reference_action'])
  # Every sampled stack is one of the first 100 transitions' stacks, each
  # drawn once.
  stacks = np.concatenate([loader.frame_stacks(e['frames'])[:-1]
                           for e in _episodes(object_player_recording, 0)])
  stacks = stacks[:100].reshape(100, -1)
  rows = [np.flatnonzero((stacks == s.reshape(-1)).all(axis=1))
          for s in sample['observation']]
  assert all(len(r) >= 1 for r in rows)
  assert len({int(r[0]) for r in rows}) == len(
      {s.tobytes() for s in sample['observation']})


def test_asking_more_states_than_were_replayed_is_refused(
    object_player_recording):
  with pytest.raises(ValueError, match='11 states asked of Breakout, but the '
                     'replayed transitions hold 10'):
    replay.sample_reference_states(object_player_recording, 'Breakout',
                                   (0, 1), num_states=11, replay_steps=10)


def test_a_game_without_an_object_player_is_refused(object_player_recording):
  with pytest.raises(ValueError, match="MsPacman has no object player"):
    next(replay.replay_with_reference_actions(object_player_recording,
                                              'MsPacman', 0))


def test_reference_player_on_data_matches_a_direct_computation(
    tiny_atari_dataset, pong_checkpoint):
  checkpoint = checkpoint_loading.load_checkpoint(pong_checkpoint)
  results = checkpoint_diagnosis.reference_player_on_data(
      checkpoint, tiny_atari_dataset, {'Pong': (0, 1)}, states_per_game=16,
      seed=2)
  sample = replay.sample_reference_states(tiny_atari_dataset, 'Pong', (0, 1),
                                          16, seed=2)
  network = checkpoint.builder.make_networks()
  q_values = np.asarray(jax.jit(network.apply)(
      checkpoint.params, sample['observation'],
      jnp.zeros(16, jnp.int32)).q_values)[:, :6]
  greedy = q_values.argmax(axis=1)
  row = results['Pong']
  assert row['states'] == 16
  assert row['data_agreement'] == pytest.approx(
      np.mean(sample['action'] == sample['reference_action']))
  assert row['agreement'] == pytest.approx(
      np.mean(greedy == sample['reference_action']))
  reference_q = q_values[np.arange(16), sample['reference_action']]
  assert row['reference_q_gap'] == pytest.approx(
      np.mean(reference_q - q_values.max(axis=1)), abs=1e-6)
  assert set(results) == {'Pong'}


def test_took_action_advantage_matches_a_hand_computation():
  returns = [np.array([1.0, 2.0, 3.0]), np.array([4.0, 6.0])]
  took = [np.array([True, False, True]), np.array([False, True])]
  evidence = data_evidence.took_action_advantage(returns, took,
                                                 num_resamples=200)
  # After the action: 1, 3, 6; after the others: 2, 4.
  assert evidence['mean_return_took'] == pytest.approx(10 / 3)
  assert evidence['mean_return_other'] == pytest.approx(3.0)
  assert evidence['advantage'] == pytest.approx(1 / 3)
  assert (evidence['steps'], evidence['episodes']) == (5, 2)
  assert evidence['took_share'] == pytest.approx(3 / 5)
  assert evidence['return_std'] == pytest.approx(np.std([1, 2, 3, 4, 6]))
  # Resampling two episodes gives 0 (the first twice), 1/3 or 2 (the
  # second twice).
  assert 0.0 <= evidence['advantage_low'] <= 1 / 3
  assert 1 / 3 <= evidence['advantage_high'] <= 2.0


def test_took_action_advantage_is_none_without_a_comparison():
  evidence = data_evidence.took_action_advantage(
      [np.array([1.0, 2.0])], [np.array([True, True])], num_resamples=10)
  assert evidence['advantage'] is None and evidence['mean_return_other'] is None
  with pytest.raises(ValueError, match='got 2 and 1'):
    data_evidence.took_action_advantage([np.ones(2), np.ones(2)],
                                        [np.ones(2, bool)], num_resamples=10)


def test_game_evidence_over_a_replayed_recording(object_player_recording):
  # Checkpoint 0 always took the player's action: nothing to compare with.
  noiseless = data_evidence.game_evidence(
      object_player_recording, 'Breakout', (0, 1), discount=0.99,
      num_resamples=20, seed=0)
  assert noiseless['steps'] == STEPS_PER_CHECKPOINT
  assert noiseless['took_share'] == 1.0 and noiseless['advantage'] is None
  both = data_evidence.game_evidence(
      object_player_recording, 'Breakout', (0, 2), discount=0.99,
      num_resamples=20, seed=0)
  assert both['steps'] == 2 * STEPS_PER_CHECKPOINT
  assert 0.5 < both['took_share'] < 1.0
  assert sum(row['steps'] for row in both['by_player_action'].values()) == (
      both['steps'])
  assert '| Breakout | any |' in data_evidence.format_evidence(
      {'Breakout': both})


def test_data_evidence_refuses_a_study_without_object_players():
  completed = subprocess.run(
      [sys.executable, '-m', 'benchmarks.study.data_evidence',
       '--study=small_scale_v1'], capture_output=True, text=True, check=False)
  assert completed.returncode != 0
  assert ("Study small_scale_v1 does not learn from object players' data"
          in completed.stderr)



def test_the_advantage_prints_with_its_interval_or_a_dash():
  evidence = {'advantage': 0.0469, 'advantage_low': 0.0363,
              'advantage_high': 0.0568}
  assert data_evidence.format_advantage(evidence) == (
      '+0.0469 [+0.0363, +0.0568]')
  assert data_evidence.format_advantage(evidence, '+.3f') == (
      '+0.047 [+0.036, +0.057]')
  assert data_evidence.format_advantage({'advantage': None}) == '-'


def test_a_lapsing_behaviour_replays_with_what_it_did_at_each_step(
    lapses_recording):
  episodes = list(replay.replay_with_reference_actions(
      lapses_recording, 'Breakout', 0, behaviour=LAPSES))
  choices = np.concatenate([e['choice'] for e in episodes])
  actions = np.concatenate([e['action'] for e in episodes])
  reference = np.concatenate([e['reference_action'] for e in episodes])
  followed = choices == policies.CHOICES.index(policies.FOLLOWED)
  lapsed = choices == policies.CHOICES.index(policies.LAPSE)
  assert followed.any() and lapsed.any()
  assert set(choices) <= {policies.CHOICES.index(c) for c in (
      policies.FOLLOWED, policies.LAPSE_START, policies.LAPSE)}
  # Where the behaviour followed the player, it took the player's action;
  # a lapse's later steps repeat the step before.
  np.testing.assert_array_equal(actions[followed], reference[followed])
  within = np.flatnonzero(lapsed[1:]) + 1
  np.testing.assert_array_equal(actions[within], actions[within - 1])


def test_a_behaviour_other_than_the_recorded_one_is_refused(
    lapses_recording):
  other = dataclasses.replace(LAPSES, mean_lapse_steps=8.0)
  with pytest.raises(ValueError, match=r"recorded by 'lapses\(share=0.500, "
                     r"mean_steps=4\).*is 'lapses\(share=0.500, "
                     r"mean_steps=8\)"):
    next(replay.replay_with_reference_actions(lapses_recording, 'Breakout', 0,
                                              behaviour=other))

  class Impostor:
    """Describes itself as the recorded behaviour, but always serves."""

    def __init__(self, recorded):
      self.description = recorded.description

    def select_action(self, timestep, environment):
      del timestep, environment
      return 1

  def impostor(game, checkpoint, num_checkpoints, environment, seed):
    return Impostor(LAPSES(game, checkpoint, num_checkpoints, environment,
                           seed))

  with pytest.raises(ValueError, match='but the rebuilt behaviour chose 1'):
    list(replay.replay_with_reference_actions(lapses_recording, 'Breakout', 0,
                                              behaviour=impostor))


def test_followed_against_deviated_matches_a_hand_computation():
  followed, start, lapse, random = (policies.CHOICES.index(c) for c in (
      policies.FOLLOWED, policies.LAPSE_START, policies.LAPSE,
      policies.RANDOM))
  returns = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([5.0, 7.0])]
  choices = [np.array([followed, start, lapse, followed]),
             np.array([random, followed])]
  evidence = data_evidence.followed_against_deviated(returns, choices,
                                                     num_resamples=50)
  # The coin was flipped at every step but the lapse's second: followed at
  # returns 1, 4, 7; deviated at 2, 5.
  assert evidence['steps'] == 5
  assert evidence['mean_return_took'] == pytest.approx(4.0)
  assert evidence['mean_return_other'] == pytest.approx(3.5)
  assert evidence['advantage'] == pytest.approx(0.5)


def test_game_evidence_with_the_behaviour_compares_its_coin(
    lapses_recording):
  evidence = data_evidence.game_evidence(
      lapses_recording, 'Breakout', (0, 1), discount=0.99, num_resamples=20,
      seed=0, behaviour=LAPSES)
  coin = evidence['followed_against_deviated']
  assert evidence['steps'] == STEPS_PER_CHECKPOINT
  assert 0 < coin['steps'] < STEPS_PER_CHECKPOINT  # Not a lapse's later steps.
  assert 0.0 < coin['took_share'] < 1.0
  assert '| Breakout | followed (vs deviated) |' in (
      data_evidence.format_evidence({'Breakout': evidence}))


def test_a_visit_that_moves_the_emulator_is_refused(lapses_recording):
  def careless(index, step, timestep, environment, previous_action):
    del index, timestep, previous_action
    if step == 3:
      environment.simulate_step(1)

  with pytest.raises(ValueError, match='has left the recording'):
    list(replay.replay_with_reference_actions(lapses_recording, 'Breakout', 0,
                                              visit=careless))


def test_action_values_at_replayed_states_are_the_recordings(
    lapses_recording):
  measured = action_values.measure_game(
      lapses_recording, 'Breakout', (0, 1), num_checkpoints=1,
      schedule=LAPSES, continuation='behaviour', num_states=5,
      num_rollouts=2, horizon=6, discount=0.9, replay_steps=100, seed=0)
  episodes = _episodes(lapses_recording, 0)
  actions = np.concatenate([e['action'] for e in episodes])
  reference = np.concatenate([e['reference_action'] for e in episodes])
  stacks = np.concatenate([loader.frame_stacks(e['frames'])[:len(e['action'])]
                           for e in episodes])
  states = measured['states']
  positions = [s['position'] for s in states]
  assert positions == action_values.sample_positions(1, 100, 5, seed=0)[0]
  assert [s['recorded'] for s in states] == actions[positions].tolist()
  assert [s['player'] for s in states] == reference[positions].tolist()
  values = np.array([s['values'] for s in states])
  assert values.shape == (5, 4, 2)
  # Clipped rewards over 6 steps at 0.9: at most 1 + 0.9 + ... + 0.9^5.
  assert np.all(np.abs(values) <= (1 - 0.9**6) / (1 - 0.9) + 1e-9)
  observations = action_values.observations_at(lapses_recording, 'Breakout',
                                                (0, 1), states)
  np.testing.assert_array_equal(observations, stacks[positions])


def test_positions_past_the_recording_are_refused(lapses_recording):
  with pytest.raises(ValueError, match=r'Breakout checkpoint 0 of .* ends '
                     r'before replayed step 500'):
    action_values.visit_positions(lapses_recording, 'Breakout', (0, 1),
                                  [[3, 500]], lambda *args: None)
