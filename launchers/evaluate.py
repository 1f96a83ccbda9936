r"""Evaluates a pre-training checkpoint on the real Atari games.

Rebuilds the network from the checkpoint's own description (games, network
size, heads), plays --episodes episodes of every game under the evaluation
protocol, and prints per game the mean raw score, the human-normalised score
and, when --dataset is given, the mean score of the data it learned from;
then mean, median and IQM of the human-normalised scores. Writes the table
(results.json, results.md) and learning-curve plots from the run's logs.

  python -m launchers.evaluate --workdir=/tmp/scaled_ql --episodes=10 \
      --dataset=/data/rlds --checkpoints='first 20%'
"""

from absl import flags

from agents.scaled_ql import checkpointing
from launchers.programs import checkpoint_loading
from launchers.programs import command_line
from launchers.programs import dataset_scores
from launchers.programs import endings
from launchers.programs import evaluator
from launchers.programs import field_checks
from launchers.programs import results

_WORKDIR = flags.DEFINE_string('workdir', None, 'Work directory of a run.')
_CHECKPOINT = flags.DEFINE_string(
    'checkpoint', None, 'A checkpoint file (default: the latest in --workdir).')
_EPISODES = flags.DEFINE_integer('episodes', 10, 'Episodes per game.')
_MAX_FRAMES = flags.DEFINE_integer(
    'max_episode_frames', evaluator.STANDARD_MAX_EPISODE_FRAMES,
    'Episode cap in emulator frames (the standard: 30 minutes of play).')
_DATASET = flags.DEFINE_string(
    'dataset', None, 'The recorded dataset the run learned from (optional), '
    'for the "data" column.')
_CHECKPOINTS = flags.DEFINE_string(
    'checkpoints', 'first 20%', 'Behaviour checkpoints the run learned from.')
_SEED = flags.DEFINE_integer('seed', 12345, 'Evaluation seed.')
field_checks.register_validators(['episodes', 'max_episode_frames',
                                  'checkpoints', 'workdir'])


def main(argv):
  command_line.start(argv)
  with endings.bad_input():
    path = checkpoint_loading.checkpoint_path(_WORKDIR.value, _CHECKPOINT.value)
    games = checkpointing.read_description(path)['games']
    if _DATASET.value:
      dataset_scores.dataset_mean_scores(_DATASET.value, games,
                                         _CHECKPOINTS.value)
  table = results.evaluate_checkpoint(
      path, _EPISODES.value, _MAX_FRAMES.value, _SEED.value, _DATASET.value,
      _CHECKPOINTS.value, _WORKDIR.value)
  print(results.format_table(table))
  for plot in table.get('plots', []):
    print(f'plot: {plot}')


if __name__ == '__main__':
  endings.run(main)
