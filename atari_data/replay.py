"""Replays a recorded checkpoint in the game it was recorded from.

The recorder plays each checkpoint in one environment seeded from (seed,
game, checkpoint), so stepping a fresh environment with that seed through the
recorded actions passes through the recorded states again, emulator RAM
included. That gives what the files do not hold: for every data state, the
action an object player (atari_data.object_players) would take there, the
noiseless behaviour behind the study's epsilon-greedy data. Every replayed
frame is compared with the recorded one, so a replay that left the recording
(another emulator version, other recorder settings) stops with an error
instead of labelling the wrong states. Behaviours that run the emulator
between steps (the lookahead planner's rollouts) leave it in a state their
snapshots do not wholly restore, so their recordings do not replay (the
replay diverges within the first planned episode): the frame check refuses
them too.
"""

import os
from typing import Callable, Dict, Iterator, Optional, Tuple

import numpy as np
import tensorflow_datasets as tfds

from atari_data import loader
from atari_data import object_players
from atari_data import policies
from environments import factory
from environments import games as games_lib
from environments import seeding


def _recorder_metadata(game_dir: str) -> Dict:
  """A recorded game's metadata.json: its recorder_config and per-checkpoint
  stats."""
  metadata = tfds.builder_from_directory(game_dir).info.metadata or {}
  if 'recorder_config' not in metadata:
    raise ValueError(
        f'{game_dir} has no recorder_config in its metadata: only games '
        'recorded by atari_data.recorder (launchers.make_dataset) can be '
        'replayed.')
  return metadata


def recorder_config(game_dir: str) -> Dict:
  """The recorder settings stored in a recorded game's metadata.json."""
  return _recorder_metadata(game_dir)['recorder_config']


def _recorded_episodes(dataset: str, game: str,
                       checkpoint: int) -> Iterator[Dict[str, np.ndarray]]:
  """One checkpoint's episodes in recording order: frames [T, 84, 84],
  actions [T - 1] and the clipped rewards after them [T - 1]."""
  config = loader.LoaderConfig(
      games=[game], source=dataset, checkpoints=(checkpoint, checkpoint + 1),
      repeat=False, episode_shuffle_buffer=1, num_parallel_calls=1)
  (source,) = loader.resolve_sources(config)
  if len(source.files) != 1:
    raise ValueError(f'{game} checkpoint {checkpoint} of {dataset} is in '
                     f'{len(source.files)} files; the recorder writes one, '
                     'whose order is the recording order.')
  for episode in loader.decoded_episodes(source, config, seed=0):
    yield {'frames': episode['frames'].numpy(),
           'action': episode['action'].numpy(),
           'reward': episode['reward'].numpy()}


def _rebuilt_behaviour(behaviour: policies.PolicyFactory, metadata: Dict,
                       game: str, checkpoint: int, environment,
                       policy_seed: int) -> policies.BehaviourPolicy:
  """The policy the recorder played `checkpoint` with, rebuilt from
  `behaviour` with the recorder's seed; refused unless it describes itself
  as the recorded one (another schedule or other settings)."""
  policy = behaviour(game, checkpoint,
                     metadata['recorder_config']['num_checkpoints'],
                     environment, policy_seed)
  described = metadata['checkpoints'][checkpoint]['behaviour']
  rebuilt = policies.describe(policy)
  if rebuilt != described:
    raise ValueError(
        f'{game} checkpoint {checkpoint} was recorded by {described!r}, but '
        f'the behaviour given to replay it is {rebuilt!r}.')
  return policy


# Called at each replayed state, before its recorded action: (episode index,
# step, the timestep, the environment, the action recorded at the step before
# or NOOP, 0, at an episode's first). It may read the emulator (clone_state,
# ram) but not step it: restoring a state does not restore the action sticky
# actions repeat, and the next frame check refuses a replay that was moved.
Visit = Callable[[int, int, object, object, int], None]


def replay_with_reference_actions(
    dataset: str, game: str, checkpoint: int,
    behaviour: Optional[policies.PolicyFactory] = None,
    visit: Optional[Visit] = None
) -> Iterator[Dict[str, np.ndarray]]:
  """Replays `checkpoint` of `game` in `dataset` (a launchers.make_dataset
  directory) with the game's object player watching.

  Args:
    dataset: the dataset directory.
    game: the game.
    checkpoint: the checkpoint replayed.
    behaviour: the PolicyFactory that recorded the dataset
      (atari_data.policies.SCHEDULES' schedules with the recording's
      settings), or None. Given, the recorded behaviour is rebuilt with the
      recorder's seed and replays alongside: it must choose every recorded
      action, and what it did at each step (its `last_choice`) is yielded.
    visit: called at every replayed state (`Visit`), or None.

  Yields:
    Per recorded episode in recording order, {'frames': [T, 84, 84] recorded
    frames, 'action': [T - 1] recorded actions, 'reward': [T - 1] the
    clipped rewards that followed them (as the loader clips them),
    'reference_action': [T - 1] the object player's action at each of those
    states}, and with `behaviour`, 'choice': [T - 1] indices into
    atari_data.policies.CHOICES (-1 where the behaviour reports none).

  Raises:
    ValueError: the game has no object player, a replayed frame differs from
      the recorded one (the replay is not the recording), or the rebuilt
      behaviour is not the recorded one.
  """
  game = games_lib.canonical_name(game)
  if not object_players.has_player(game):
    raise ValueError(f'{game} has no object player to replay with; games with '
                     f'one: {sorted(object_players.PLAYERS)}.')
  metadata = _recorder_metadata(os.path.join(dataset, game))
  recorded = metadata['recorder_config']
  env_seed, policy_seed = seeding.recording_seeds(recorded['seed'], game,
                                                  checkpoint)
  environment = factory.make_environment(
      game, mode=recorded['mode'], difficulty=recorded['difficulty'],
      seed=env_seed,
      sticky_action_probability=recorded['sticky_action_probability'],
      max_episode_frames=recorded['max_episode_frames'])
  player = object_players.ObjectPlayer(game)
  policy = None if behaviour is None else _rebuilt_behaviour(
      behaviour, metadata, game, checkpoint, environment, policy_seed)

  def check(timestep, frames, index, step):
    if not np.array_equal(timestep.observation[..., -1], frames[step]):
      raise ValueError(
          f'Replaying {game} checkpoint {checkpoint} of {dataset}: episode '
          f'{index}, step {step} differs from the recorded frame, so the '
          'replay has left the recording (a behaviour that plans on the '
          'emulator, or another ale-py or recorder version); its reference '
          'actions would label the wrong states.')

  def choose(timestep, action, index, step):
    chosen = policy.select_action(timestep, environment)
    if chosen != action:
      raise ValueError(
          f'Replaying {game} checkpoint {checkpoint} of {dataset}: episode '
          f'{index}, step {step} recorded action {action}, but the rebuilt '
          f'behaviour chose {chosen}: it is not the recorded behaviour.')
    last = getattr(policy, 'last_choice', None)
    return -1 if last is None else policies.CHOICES.index(last)

  for index, episode in enumerate(_recorded_episodes(dataset, game,
                                                     checkpoint)):
    frames, actions = episode['frames'], episode['action']
    reference = np.empty(len(actions), np.int64)
    choices = np.empty(len(actions), np.int8)
    timestep = environment.reset()
    for step, action in enumerate(actions):
      check(timestep, frames, index, step)
      if visit is not None:
        visit(index, step, timestep, environment,
              int(actions[step - 1]) if step else 0)
      reference[step] = player.select_action(timestep, environment)
      if policy is not None:
        choices[step] = choose(timestep, int(action), index, step)
      timestep = environment.step(int(action))
    check(timestep, frames, index, len(actions))
    yield {**episode, 'reference_action': reference,
           **({} if policy is None else {'choice': choices})}


# Transitions replayed from the start of each checkpoint to draw states from.
# A checkpoint is one behaviour throughout (the recorder's epsilon is fixed
# within it), so its first episodes sample the same state distribution as the
# rest at a fraction of the replay's cost (~1 ms per step here).
DEFAULT_REPLAY_STEPS = 20_000


def sample_reference_states(dataset: str, game: str,
                            checkpoint_range: Tuple[int, int],
                            num_states: int, seed: int = 0,
                            replay_steps: int = DEFAULT_REPLAY_STEPS
                            ) -> Dict[str, np.ndarray]:
  """`num_states` data states of `game`, drawn uniformly without replacement
  from the first `replay_steps` transitions of each checkpoint in
  [start, stop), with the object player's action at each.

  Returns {'observation': [N, 84, 84, 4] frame stacks as the loader builds
  them, 'action': [N] the data's actions, 'reference_action': [N] the
  object player's}.
  """
  start, stop = checkpoint_range
  if num_states < 1 or replay_steps < 1 or stop <= start:
    raise ValueError(
        f'sample_reference_states needs num_states >= 1, replay_steps >= 1 '
        f'and a non-empty checkpoint range; got {num_states}, {replay_steps} '
        f'and {checkpoint_range}.')
  pieces = []
  for checkpoint in range(start, stop):
    steps = 0
    for episode in replay_with_reference_actions(dataset, game, checkpoint):
      keep = min(len(episode['action']), replay_steps - steps)
      pieces.append((episode, keep))
      steps += keep
      if steps == replay_steps:
        break
  total = sum(keep for _, keep in pieces)
  if num_states > total:
    raise ValueError(f'{num_states} states asked of {game}, but the replayed '
                     f'transitions hold {total}.')
  chosen = np.sort(np.random.default_rng(seed).choice(total, num_states,
                                                      replace=False))
  observations, actions, references = [], [], []
  offset = 0
  for episode, keep in pieces:
    rows = chosen[(chosen >= offset) & (chosen < offset + keep)] - offset
    offset += keep
    if not len(rows):
      continue
    observations.append(loader.frame_stacks(episode['frames'])[rows])
    actions.append(episode['action'][rows])
    references.append(episode['reference_action'][rows])
  return {'observation': np.concatenate(observations),
          'action': np.concatenate(actions),
          'reference_action': np.concatenate(references)}
