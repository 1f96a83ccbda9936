r"""Diagnoses what a checkpoint's Q-network learned, on its dataset's states.

Prints, per game, the numbers of agents/scaled_ql/diagnostics.py (via
launchers/programs/checkpoint_diagnosis.py): how alike
the shared features of different states are, how constant the greedy policy
is, how much the Q-values vary with the state, and whether the data's actions
are preferred. With --play_episodes, it also plays the evaluation policy and
compares the Q-values of the actions it took with the discounted returns that
followed (over-estimation). Use it when scores are poor, to tell "the network
has not learned to tell states apart" from "it learned the wrong values".

  python -m launchers.diagnose --workdir=/tmp/scaled_ql --dataset=/data/rlds \
      --checkpoints=all --num_states=1024 --play_episodes=5
"""

from absl import app
from absl import flags

from launchers.programs import atomic_files
from launchers.programs import checkpoint_diagnosis
from launchers.programs import checkpoint_loading
from launchers.programs import command_line
from launchers.programs import endings
from launchers.programs import evaluator
from launchers.programs import field_checks

_WORKDIR = flags.DEFINE_string('workdir', None, 'Work directory of a run.')
_CHECKPOINT = flags.DEFINE_string(
    'checkpoint', None, 'A checkpoint file (default: the latest in --workdir).')
_DATASET = flags.DEFINE_string(
    'dataset', None, 'Dataset whose states are probed (a make_dataset '
    'directory or a TFDS name, as for launchers.pretrain).')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'TFDS data_dir for TFDS names.')
_CHECKPOINTS = flags.DEFINE_string(
    'checkpoints', 'all', 'Behaviour checkpoints whose states are probed.')
_NUM_STATES = flags.DEFINE_integer('num_states', 1024,
                                   'States probed, over all games.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seeds the sampled states.')
_RETURN_HORIZON = flags.DEFINE_integer(
    'return_horizon', checkpoint_diagnosis.DEFAULT_RETURN_HORIZON,
    "Steps of the data's discounted return compared with Q(s, a_data).")
_REFERENCE_STATES = flags.DEFINE_integer(
    'reference_states', 0, "Data states per game at which the greedy action "
    "is compared with the object player's, for games with one, by replaying "
    'the recording (atari_data.replay; --dataset recorded by '
    'launchers.make_dataset); 0: none.')
_PLAY_EPISODES = flags.DEFINE_integer(
    'play_episodes', 0, 'Episodes per game played with the evaluation policy '
    'to compare its Q-values with the returns that followed (0: none).')
_MAX_EPISODE_FRAMES = flags.DEFINE_integer(
    'max_episode_frames', evaluator.STANDARD_MAX_EPISODE_FRAMES,
    'Frame cap of the played episodes.')
_JSON = flags.DEFINE_string('json', None, 'Also write the results here.')
field_checks.register_validators(['checkpoints', 'num_states', 'workdir',
                                  'play_episodes', 'max_episode_frames',
                                  'return_horizon', 'reference_states'])


def main(argv):
  command_line.start(argv)
  if not _DATASET.value:
    raise app.UsageError('--dataset is required: the states to probe.')
  with endings.bad_input():
    path = checkpoint_loading.checkpoint_path(_WORKDIR.value, _CHECKPOINT.value)
    checkpoint_diagnosis.check_input(path, _DATASET.value, _CHECKPOINTS.value,
                                     _DATA_DIR.value, _REFERENCE_STATES.value)
  checkpoint, results = checkpoint_diagnosis.diagnose_checkpoint(
      path, _DATASET.value, _CHECKPOINTS.value,
      _NUM_STATES.value, _SEED.value, _DATA_DIR.value,
      _RETURN_HORIZON.value, _REFERENCE_STATES.value)
  print(f'{checkpoint.path} (learner step {checkpoint.step}):')
  print(checkpoint_diagnosis.format_diagnostics(results))
  played = None
  if _PLAY_EPISODES.value:
    played = checkpoint_diagnosis.play_diagnostics(
        checkpoint, _PLAY_EPISODES.value, _MAX_EPISODE_FRAMES.value,
        _SEED.value)
    print(checkpoint_diagnosis.format_play_diagnostics(played))
  if _JSON.value:
    atomic_files.write_json_atomically(
        _JSON.value, {'checkpoint': checkpoint.path, 'step': checkpoint.step,
                      'games': results, 'played': played})


if __name__ == '__main__':
  endings.run(main)
