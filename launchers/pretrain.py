r"""Multi-game offline pre-training of Scaled Q-Learning (command line).

Runs launchers.programs.offline_program (counter, learner, evaluator) under
Launchpad (--lp_launch_type, default local_mt), or in one process with
--single_process. It stops by itself at --num_steps with exit status 0, and
cleanly on Ctrl-C / SIGTERM (exit status 3); the same command with the same
--workdir resumes from the latest intact checkpoint. One run at a time holds
a work directory (launchers.programs.workdir_lock). Exit statuses:
launchers.programs.endings.

  python -m launchers.pretrain --games=Pong,Breakout \
      --dataset=/data/rlds --checkpoints='first 20%' --workdir=/tmp/scaled_ql
  python -m launchers.pretrain ... --single_process   # debugging, no Launchpad
  python -m launchers.pretrain ... --check_data       # check the data, then exit
  python -m launchers.pretrain ... --lp_launch_type=local_mp \
      --learner_processes=2     # one network, 2 JAX processes (MULTI_PROCESS.md)
"""

from absl import app
from absl import flags

from launchers.programs import command_line
from launchers.programs import config_flags
from launchers.programs import endings
from launchers.programs import offline_program
from launchers.programs import stop
from launchers.programs import workdir_lock

_EXPERIMENT = config_flags.define_flags(
    offline_program.PretrainExperiment,
    defaults={'games': ('Pong', 'Breakout'), 'checkpoints': 'first 20%',
              'num_steps': 10_000, 'workdir': '/tmp/scaled_ql'})
_LEARNER = command_line.define_learner_flags()
_SINGLE_PROCESS = flags.DEFINE_bool(
    'single_process', False,
    'Run learner and evaluation in this process, without Launchpad (debugging).')
_CHECK_DATA = flags.DEFINE_bool(
    'check_data', False,
    'Only check the run: the dataset (games, layout, RLDS schema, checkpoint '
    'range) and the workdir; print what would be read, and exit.')


def experiment_from_flags() -> offline_program.PretrainExperiment:
  if not _EXPERIMENT['dataset'].value:
    raise app.UsageError('--dataset is required: a directory written by '
                         'launchers.make_dataset or a TFDS name.')
  return offline_program.PretrainExperiment(
      learner=command_line.learner_from_flags(_LEARNER),
      **config_flags.flag_values(offline_program.PretrainExperiment,
                                 _EXPERIMENT))


def main(argv):
  command_line.start(argv)
  launch_type = ('single_process' if _SINGLE_PROCESS.value
                 else flags.FLAGS.lp_launch_type)
  with endings.bad_input():
    experiment = experiment_from_flags()
    offline_program.check_launch_type(experiment, launch_type)
    # Before validation, which reads (and creates) the checkpoint directory.
    lock = workdir_lock.WorkdirLock(experiment.workdir)
    experiment.validate()
  if _CHECK_DATA.value:
    for source in offline_program.data_sources(experiment):
      start, stop_ = source.checkpoint_range
      print(f'{source.game}: {source.description}, behaviour checkpoints '
            f'{start}-{stop_ - 1} of {source.num_checkpoints}, '
            f'{len(source.files)} files')
    print('data OK')
    return
  with lock:
    endings.end_training(
        lambda: offline_program.run(experiment, launch_type),
        experiment.checkpoint_dir, experiment.num_steps)


if __name__ == '__main__':
  stop.use_termination_notice_default()
  command_line.show_launch_type_flag()
  endings.run(main)
