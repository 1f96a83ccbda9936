r"""Multi-game offline pre-training of Scaled Q-Learning (command line).

Runs the program of launchers/pretraining.py (counter, learner, evaluator)
under Launchpad, or in one process with --single_process. It stops by itself
at --num_steps with exit status 0, and cleanly on Ctrl-C / SIGTERM; the same
command with the same --workdir resumes from the latest checkpoint.

  python -m launchers.pretrain --games=Pong,Breakout \
      --dataset=/data/rlds --checkpoints='first 20%' \
      --lp_launch_type=local_mt --workdir=/tmp/scaled_ql
  python -m launchers.pretrain ... --single_process   # debugging, no Launchpad
"""

from absl import app
from absl import flags

from builders import acme_compat  # noqa: F401  (before acme)

from agents.scaled_ql import config as learner_config
from launchers import experiment as experiment_lib
from launchers import pretraining
from launchers import program_stop

_GAMES = flags.DEFINE_list('games', ['Pong', 'Breakout'], 'Games to pre-train on.')
_DATASET = flags.DEFINE_string(
    'dataset', None,
    'A directory written by launchers.make_dataset (one dataset per game), or '
    'a TFDS name such as rlu_atari_checkpoints_ordered (config '
    '<Game>_run_<run>) or "rlu_atari_checkpoints_ordered/{game}_run_2", read '
    'from --data_dir.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'TFDS data_dir for TFDS names.')
_CHECKPOINTS = flags.DEFINE_string(
    'checkpoints', 'first 20%',
    "Behaviour checkpoints to learn from: 'first 20%' (the paper's sub-optimal "
    "data), 'all', or a half-open range 'start:stop'.")
_NETWORK_SIZE = flags.DEFINE_string('network_size', 'resnet_tiny', 'Torso size.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Global batch size.')
_LEARNING_RATE = flags.DEFINE_float(
    'learning_rate', learner_config.ScaledQLConfig.learning_rate, 'Adam step size.')
_ADAM_EPS = flags.DEFINE_float(
    'adam_eps', learner_config.ScaledQLConfig.adam_eps,
    "Adam's epsilon (the default is Dopamine's 0.01/32 for a batch-mean loss).")
_CQL_ALPHA = flags.DEFINE_float(
    'cql_alpha', learner_config.ScaledQLConfig.cql_alpha, 'CQL weight.')
_DR3 = flags.DEFINE_float(
    'dr3_coefficient', learner_config.ScaledQLConfig.dr3_coefficient, 'DR3 weight.')
_N_STEP = flags.DEFINE_integer('n_step', learner_config.ScaledQLConfig.n_step,
                               'n-step return horizon.')
_TARGET_UPDATE = flags.DEFINE_integer(
    'target_update_period', learner_config.ScaledQLConfig.target_update_period,
    'Learner steps between target network updates.')
_NUM_STEPS = flags.DEFINE_integer('num_steps', 10_000, 'Learner steps in total.')
_WORKDIR = flags.DEFINE_string('workdir', '/tmp/scaled_ql', 'Checkpoints and logs.')
_CHECKPOINT_EVERY = flags.DEFINE_integer('checkpoint_every_steps', 1000,
                                         'Learner steps between checkpoints.')
_EVAL_EVERY = flags.DEFINE_integer('eval_every_steps', 2000,
                                   'Learner steps between evaluation rounds.')
_EVAL_EPISODES = flags.DEFINE_integer('eval_episodes', 1,
                                      'Episodes per game and evaluation round.')
_EVAL_MAX_FRAMES = flags.DEFINE_integer(
    'eval_max_episode_frames', 108_000,
    'Evaluation episode cap in emulator frames (108,000 = the standard 30 min).')
_SEED = flags.DEFINE_integer('seed', 0, 'Random seed.')
_EPISODE_POOL = flags.DEFINE_integer(
    'episode_pool_size', 8,
    'Decoded episodes per game that batches mix (memory ~ games x pool x '
    'episode length x 35 KB).')
_INIT_CHECKPOINT = flags.DEFINE_string(
    'init_checkpoint', None,
    'Offline fine-tuning: a checkpoint of another pre-training run (same '
    'network settings) whose torso and known games\' heads seed this run; '
    'games it never saw get fresh heads.')
_SINGLE_PROCESS = flags.DEFINE_bool(
    'single_process', False,
    'Run learner and evaluation in this process, without Launchpad (debugging).')


def experiment_from_flags() -> experiment_lib.PretrainExperiment:
  if not _DATASET.value:
    raise app.UsageError('--dataset is required: a directory written by '
                         'launchers.make_dataset or a TFDS name.')
  learner = learner_config.ScaledQLConfig(
      network_size=_NETWORK_SIZE.value, batch_size=_BATCH_SIZE.value,
      learning_rate=_LEARNING_RATE.value, adam_eps=_ADAM_EPS.value,
      cql_alpha=_CQL_ALPHA.value,
      dr3_coefficient=_DR3.value, n_step=_N_STEP.value,
      target_update_period=_TARGET_UPDATE.value)
  return experiment_lib.PretrainExperiment(
      games=tuple(_GAMES.value),
      dataset=_DATASET.value, data_dir=_DATA_DIR.value,
      checkpoints=_CHECKPOINTS.value, learner=learner,
      num_steps=_NUM_STEPS.value, workdir=_WORKDIR.value,
      checkpoint_every_steps=_CHECKPOINT_EVERY.value,
      eval_every_steps=_EVAL_EVERY.value, eval_episodes=_EVAL_EPISODES.value,
      eval_max_episode_frames=_EVAL_MAX_FRAMES.value, seed=_SEED.value,
      episode_pool_size=_EPISODE_POOL.value,
      init_checkpoint=_INIT_CHECKPOINT.value)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  experiment = experiment_from_flags()
  experiment.validate()
  if _SINGLE_PROCESS.value:
    pretraining.run_single_process(experiment)
    return
  program_stop.launch(pretraining.make_program(experiment))


if __name__ == '__main__':
  program_stop.use_termination_notice_default()
  app.run(main)
