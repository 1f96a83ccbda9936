r"""Records Atari datasets in the RL Unplugged schema, one per game.

Example (three games, five checkpoints of rising quality, 2,000 steps each):

  python -m launchers.make_dataset --games=Pong,MsPacman,Breakout \
      --num_checkpoints=5 --steps_per_checkpoint=2000 \
      --output_dir=/tmp/atari_data

Each game lands in <output_dir>/<Game>, which `tfds.builder_from_directory`
opens and `atari_data.loader` reads. The per-checkpoint mean returns are
printed and stored in the dataset's metadata.json.
"""


from absl import flags

from atari_data import policies
from atari_data import recorder
from environments import factory
from launchers.programs import command_line
from launchers.programs import endings
from launchers.programs import field_checks

_GAMES = flags.DEFINE_list('games', ['Pong'], 'Games to record (RL Unplugged '
                           'CamelCase names or ALE ids).')
_OUTPUT_DIR = flags.DEFINE_string('output_dir', None,
                                  'Directory receiving <Game>/ datasets.')
_NUM_CHECKPOINTS = flags.DEFINE_integer(
    'num_checkpoints', 5, 'Checkpoints (splits) per game, of rising quality.')
_EPISODES = flags.DEFINE_integer(
    'episodes_per_checkpoint', None,
    'Complete episodes per checkpoint (exclusive with steps_per_checkpoint).')
_STEPS = flags.DEFINE_integer(
    'steps_per_checkpoint', None,
    'Transitions per checkpoint; the last episode is cut at the budget. '
    'Default 1000 when --episodes_per_checkpoint is not given.')
_BEHAVIOUR = flags.DEFINE_enum(
    'behaviour', 'lookahead', sorted(policies.BEHAVIOURS),
    'lookahead: epsilon-greedy over a lookahead planner (emulator '
    'rollouts); object_player: epsilon-greedy over a player that acts on the '
    'objects the screen shows (Pong, Breakout, Boxing, Freeway); '
    'object_player_lapses: the same players with lapses of attention (one '
    'random action held; epsilon is the share of steps in lapses); for '
    'these, epsilon falls from --epsilon_first to --epsilon_last along the '
    'checkpoints. '
    'random: uniform random at every checkpoint; known_answer: a '
    "known-answer problem's own behaviour (environments.known_answer).")
_EPSILON_FIRST = flags.DEFINE_float(
    'epsilon_first', 1.0, 'lookahead and object players: epsilon at '
    'checkpoint 0 (1: uniform random play).')
_EPSILON_LAST = flags.DEFINE_float(
    'epsilon_last', 0.0, 'lookahead and object players: epsilon at the last '
    'checkpoint.')
_HORIZON = flags.DEFINE_integer(
    'lookahead_horizon', 16, 'lookahead only: rollout length in agent steps '
    '(longer sees further, at a linear cost).')
_COMMIT_STEPS = flags.DEFINE_integer(
    'lookahead_commit_steps', 4, 'lookahead only: steps each plan is kept '
    'for (divides the planning cost).')
_MEAN_LAPSE_STEPS = flags.DEFINE_float(
    'mean_lapse_steps', None, 'object_player_lapses only: mean length of a '
    'lapse in agent steps (default: ObjectPlayerLapseSchedule\'s).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of environments and policies.')
_MAX_EPISODE_FRAMES = flags.DEFINE_integer(
    'max_episode_frames', 108_000, 'Emulator frames before truncation.')
_MODE = flags.DEFINE_integer('mode', None, 'ALE game mode (default: game\'s).')
_DIFFICULTY = flags.DEFINE_integer('difficulty', None, 'ALE difficulty.')
_OVERWRITE = flags.DEFINE_boolean('overwrite', False,
                                  'Replace existing datasets of these games.')
_PROCESSES = flags.DEFINE_integer(
    'processes', 1, 'Games recorded at once, each in its own process (the '
    'files are the same whatever the number).', lower_bound=1)
field_checks.register_validators(
    ['games', 'output_dir', 'num_checkpoints', 'episodes_per_checkpoint',
     'steps_per_checkpoint', 'epsilon_first', 'epsilon_last',
     'lookahead_horizon', 'lookahead_commit_steps', 'mean_lapse_steps',
     'max_episode_frames'])


def main(argv):
  command_line.start(argv)
  steps = _STEPS.value
  if steps is None and _EPISODES.value is None:
    steps = 1000
  with endings.bad_input():
    config = recorder.RecorderConfig(
        output_dir=_OUTPUT_DIR.value,
        games=tuple(_GAMES.value),
        num_checkpoints=_NUM_CHECKPOINTS.value,
        episodes_per_checkpoint=_EPISODES.value,
        steps_per_checkpoint=steps,
        seed=_SEED.value,
        max_episode_frames=_MAX_EPISODE_FRAMES.value,
        mode=_MODE.value,
        difficulty=_DIFFICULTY.value,
        overwrite=_OVERWRITE.value)
    recorder.check_targets(config)
    for game in config.games:
      # Building the game validates --mode and --difficulty.
      factory.make_environment(game, mode=config.mode,
                               difficulty=config.difficulty)
  if _BEHAVIOUR.value == 'lookahead':
    policy_factory = policies.LookaheadSchedule(
        epsilon_first=_EPSILON_FIRST.value, epsilon_last=_EPSILON_LAST.value,
        horizon=_HORIZON.value, commit_steps=_COMMIT_STEPS.value)
  elif _BEHAVIOUR.value == 'object_player':
    policy_factory = policies.ObjectPlayerSchedule(
        epsilon_first=_EPSILON_FIRST.value, epsilon_last=_EPSILON_LAST.value)
  elif _BEHAVIOUR.value == 'object_player_lapses':
    lapses = ({} if _MEAN_LAPSE_STEPS.value is None else
              {'mean_lapse_steps': _MEAN_LAPSE_STEPS.value})
    policy_factory = policies.ObjectPlayerLapseSchedule(
        epsilon_first=_EPSILON_FIRST.value, epsilon_last=_EPSILON_LAST.value,
        **lapses)
  else:
    policy_factory = policies.BEHAVIOURS[_BEHAVIOUR.value]
  results = recorder.record(config, policy_factory, _PROCESSES.value)
  for game, stats in results.items():
    print(f'{recorder.dataset_dir(config.output_dir, game)}')
    for checkpoint in stats:
      print(f'  checkpoint_{checkpoint.checkpoint_id:02d}: '
            f'mean clipped return {checkpoint.mean_episode_return:8.2f}  '
            f'mean game score {checkpoint.mean_game_score:9.1f}  '
            f'episodes {checkpoint.num_episodes:3d} '
            f'({checkpoint.num_complete_episodes} complete)  '
            f'steps {checkpoint.num_steps:6d}  '
            f'{checkpoint.seconds:6.1f}s  {checkpoint.behaviour}')


if __name__ == '__main__':
  flags.mark_flag_as_required('output_dir')
  endings.run(main)
