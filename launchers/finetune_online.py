r"""Online fine-tuning of Scaled Q-Learning (command line).

Fine-tunes a pre-trained checkpoint (written by launchers.pretrain) online on
one of its games, in an ALE mode/difficulty variant, as the Launchpad program
of launchers.programs.online_program (Reverb replay, actors, learner,
evaluator, counter); without --checkpoint it trains a new agent from scratch.
With --checkpoint, network flags left unset take the checkpoint's values
(one set to another value is refused). It stops by itself after the budget
with exit status 0, and cleanly on Ctrl-C / SIGTERM (exit status 3); the same
command with the same --workdir resumes from the latest intact checkpoint.
An actor that fails is reported and the program goes on with the others;
before its last line the run says how many actors finished. Exit statuses:
launchers.programs.endings.

  python -m launchers.finetune_online \
      --checkpoint=/tmp/scaled_ql/checkpoints/checkpoint-0000100000.npz \
      --game=Breakout --mode=12 --difficulty=1 --workdir=/tmp/finetune

The paper fine-tunes on variants of Freeway, Hero and Breakout for 20k
online interaction steps (--num_env_steps); which modes and difficulties it
used is not known. Valid ones: Breakout modes 0-44 step 4, difficulties 0-1;
Freeway modes 0-7, difficulties 0-1; Hero modes 0-4, difficulty 0.
"""

from absl import app
from absl import flags

from builders import config as builder_config
from launchers.programs import command_line
from launchers.programs import config_flags
from launchers.programs import endings
from launchers.programs import finetune_experiment
from launchers.programs import learner_runner
from launchers.programs import stop
from launchers.programs import workdir_lock

_EXPERIMENT = config_flags.define_flags(
    finetune_experiment.FinetuneExperiment,
    defaults={'workdir': '/tmp/scaled_ql_finetune'})
_ONLINE = config_flags.define_flags(builder_config.OnlineSettings)
_LEARNER = command_line.define_learner_flags()


def experiment_from_flags() -> finetune_experiment.FinetuneExperiment:
  if not _EXPERIMENT['game'].value:
    raise app.UsageError('--game is required (e.g. --game=Breakout).')
  checkpoint = _EXPERIMENT['checkpoint'].value
  return finetune_experiment.FinetuneExperiment(
      learner=command_line.learner_from_flags(_LEARNER, checkpoint),
      online=builder_config.OnlineSettings(
          **config_flags.flag_values(builder_config.OnlineSettings, _ONLINE)),
      **config_flags.flag_values(finetune_experiment.FinetuneExperiment,
                                 _EXPERIMENT))


def main(argv):
  command_line.start(argv)
  with endings.bad_input():
    experiment = experiment_from_flags()
    learner_runner.check_launch_type(experiment.learner_processes,
                                     flags.FLAGS.lp_launch_type)
    # Before validation, which reads (and creates) the checkpoint directory.
    lock = workdir_lock.WorkdirLock(experiment.workdir)
    experiment.validate()
  with lock:
    endings.end_training(
        lambda: finetune_experiment.run(
            experiment, flags.FLAGS.lp_launch_type).summary(),
        experiment.program_config().checkpoint_dir,
        experiment.num_learner_steps)


if __name__ == '__main__':
  stop.use_termination_notice_default()
  command_line.show_launch_type_flag()
  endings.run(main)
