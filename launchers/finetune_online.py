r"""Online fine-tuning of Scaled Q-Learning (command line).

Fine-tunes a pre-trained checkpoint (written by launchers.pretrain) online on
one of its games, in an ALE mode/difficulty variant, as the Launchpad program
of launchers/online_finetuning.py (Reverb replay, actors, learner, evaluator,
counter); without --checkpoint it trains a new agent from scratch. It stops by
itself after the budget with exit status 0, and cleanly on Ctrl-C / SIGTERM;
the same command with the same --workdir resumes from the latest checkpoint.

  python -m launchers.finetune_online \
      --checkpoint=/tmp/scaled_ql/checkpoints/checkpoint-0000100000.npz \
      --game=Breakout --mode=12 --difficulty=1 --workdir=/tmp/finetune \
      --lp_launch_type=local_mt

The paper fine-tunes on variants of Freeway, Hero and Breakout for 20k
online interaction steps (--num_env_steps); which modes and difficulties it
used is not known. Valid ones: Breakout modes 0-44 step 4, difficulties 0-1;
Freeway modes 0-7, difficulties 0-1; Hero modes 0-4, difficulty 0.
"""

from absl import app
from absl import flags
from absl import logging

from builders import acme_compat  # noqa: F401  (before acme)

from agents.scaled_ql import config as learner_config
from launchers import online_finetuning
from launchers import program_stop

_DEFAULTS = online_finetuning.FinetuneExperiment
_LEARNER = learner_config.ScaledQLConfig

_GAME = flags.DEFINE_string(
    'game', None, 'Game to fine-tune on (with --checkpoint: one of its games).')
_MODE = flags.DEFINE_integer('mode', None, 'ALE game mode (default: the game\'s).')
_DIFFICULTY = flags.DEFINE_integer(
    'difficulty', None, 'ALE difficulty (default: the game\'s).')
_CHECKPOINT = flags.DEFINE_string(
    'checkpoint', None,
    'Pre-trained checkpoint (<pretrain workdir>/checkpoints/checkpoint-N.npz). '
    'Without it, a new agent is trained from scratch.')
_NETWORK_SIZE = flags.DEFINE_string(
    'network_size', None,
    'Torso size. Default: the checkpoint\'s, or resnet_tiny from scratch; a '
    'value that differs from the checkpoint\'s is refused.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Learner batch size.')
_LEARNING_RATE = flags.DEFINE_float('learning_rate', _LEARNER.learning_rate,
                                    'Adam step size.')
_CQL_ALPHA = flags.DEFINE_float('cql_alpha', _LEARNER.cql_alpha, 'CQL weight.')
_DR3 = flags.DEFINE_float('dr3_coefficient', _LEARNER.dr3_coefficient,
                          'DR3 weight.')
_N_STEP = flags.DEFINE_integer('n_step', _LEARNER.n_step,
                               'n-step return horizon.')
_TARGET_UPDATE = flags.DEFINE_integer(
    'target_update_period', _LEARNER.target_update_period,
    'Learner steps between target network updates.')
_NUM_ENV_STEPS = flags.DEFINE_integer(
    'num_env_steps', _DEFAULTS.num_env_steps,
    'Online interaction budget in environment steps, all actors together '
    '(the paper: 20k); the learner runs (num_env_steps - min_replay_size) x '
    'samples_per_insert / batch_size steps.')
_NUM_ACTORS = flags.DEFINE_integer('num_actors', _DEFAULTS.num_actors,
                                   'Actor nodes.')
_MIN_REPLAY = flags.DEFINE_integer('min_replay_size', _DEFAULTS.min_replay_size,
                                   'Transitions before learning starts.')
_SAMPLES_PER_INSERT = flags.DEFINE_float(
    'samples_per_insert', _DEFAULTS.samples_per_insert,
    'Learner samples per inserted transition.')
_MAX_REPLAY = flags.DEFINE_integer('max_replay_size', _DEFAULTS.max_replay_size,
                                   'Replay capacity in transitions.')
_ACTOR_EPSILON = flags.DEFINE_float('actor_epsilon', _DEFAULTS.actor_epsilon,
                                    'Exploration of the actors.')
_VARIABLE_UPDATE = flags.DEFINE_integer(
    'variable_update_period', _DEFAULTS.variable_update_period,
    'Actor steps between parameter fetches.')
_ACTOR_MAX_FRAMES = flags.DEFINE_integer(
    'actor_max_episode_frames', _DEFAULTS.actor_max_episode_frames,
    'Episode cap of the actors\' games, in emulator frames.')
_WORKDIR = flags.DEFINE_string('workdir', '/tmp/scaled_ql_finetune',
                               'Checkpoints and logs.')
_CHECKPOINT_EVERY = flags.DEFINE_integer(
    'checkpoint_every_steps', _DEFAULTS.checkpoint_every_steps,
    'Learner steps between checkpoints.')
_EVAL_EVERY = flags.DEFINE_integer('eval_every_steps', _DEFAULTS.eval_every_steps,
                                   'Learner steps between evaluation rounds.')
_EVAL_EPISODES = flags.DEFINE_integer('eval_episodes', _DEFAULTS.eval_episodes,
                                      'Episodes per evaluation round.')
_EVAL_MAX_FRAMES = flags.DEFINE_integer(
    'eval_max_episode_frames', _DEFAULTS.eval_max_episode_frames,
    'Evaluation episode cap in emulator frames (108,000 = the standard).')
_SEED = flags.DEFINE_integer('seed', 0, 'Random seed.')


def experiment_from_flags() -> online_finetuning.FinetuneExperiment:
  if not _GAME.value:
    raise app.UsageError('--game is required (e.g. --game=Breakout).')
  network = {}
  if _CHECKPOINT.value:
    # The checkpoint's network unless a flag asks for another (refused then).
    network = online_finetuning.network_settings(_CHECKPOINT.value)
  if _NETWORK_SIZE.value:
    network['network_size'] = _NETWORK_SIZE.value
  learner = learner_config.ScaledQLConfig(
      batch_size=_BATCH_SIZE.value, learning_rate=_LEARNING_RATE.value,
      cql_alpha=_CQL_ALPHA.value, dr3_coefficient=_DR3.value,
      n_step=_N_STEP.value, target_update_period=_TARGET_UPDATE.value,
      **network)
  return online_finetuning.FinetuneExperiment(
      game=_GAME.value, mode=_MODE.value, difficulty=_DIFFICULTY.value,
      checkpoint=_CHECKPOINT.value, learner=learner, workdir=_WORKDIR.value,
      num_env_steps=_NUM_ENV_STEPS.value, num_actors=_NUM_ACTORS.value,
      min_replay_size=_MIN_REPLAY.value,
      samples_per_insert=_SAMPLES_PER_INSERT.value,
      max_replay_size=_MAX_REPLAY.value, actor_epsilon=_ACTOR_EPSILON.value,
      variable_update_period=_VARIABLE_UPDATE.value,
      actor_max_episode_frames=_ACTOR_MAX_FRAMES.value,
      checkpoint_every_steps=_CHECKPOINT_EVERY.value,
      eval_every_steps=_EVAL_EVERY.value, eval_episodes=_EVAL_EPISODES.value,
      eval_max_episode_frames=_EVAL_MAX_FRAMES.value, seed=_SEED.value)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  experiment = experiment_from_flags()
  experiment.validate()
  logging.info('Fine-tuning %s (mode %s, difficulty %s) %s: %d environment '
               'steps, %d learner steps.', experiment.game, experiment.mode,
               experiment.difficulty,
               f'from {experiment.checkpoint}' if experiment.checkpoint
               else 'from scratch', experiment.num_env_steps,
               experiment.num_learner_steps)
  program_stop.launch(experiment.make_program())


if __name__ == '__main__':
  program_stop.use_termination_notice_default()
  app.run(main)
