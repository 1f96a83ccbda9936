"""Our builder inside Acme's own OfflineDistributedLayout, under local_mt.

Acme builds the program (counter + StepsLimiter, learner wrapped in its
CheckpointingRunner, evaluator); this script only supplies the factories.
Usage: python tests/programs/acme_offline_layout.py DATASET WORKDIR STEPS
"""


import builders  # noqa: F401  (compat shim before acme)

from acme.jax.layouts import offline_distributed_layout
from absl import app
import launchpad as lp

from agents.scaled_ql import config as learner_config
from launchers.programs import pretrain_experiment


def main(argv):
  dataset, workdir, steps = argv[1], argv[2], int(argv[3])
  experiment = pretrain_experiment.PretrainExperiment(
      games=('Pong', 'Breakout'), dataset=dataset, checkpoints='all',
      learner=learner_config.ScaledQLConfig(
          network_size='nature_dqn', feature_dim=32, num_atoms=11,
          batch_size=8),
      num_steps=steps, workdir=workdir, eval_max_episode_frames=400)
  builder = experiment.make_builder()

  def make_learner(random_key, networks, counter, logger):
    del logger
    return builder.make_learner(random_key, networks,
                                experiment.make_dataset_iterator(),
                                counter=counter)

  def make_evaluator(random_key, variable_source, counter):
    del random_key
    return experiment.make_evaluator(variable_source, counter)

  layout = offline_distributed_layout.OfflineDistributedLayout(
      seed=0, network_factory=builder.make_networks, make_learner=make_learner,
      evaluator_factories=[make_evaluator], max_number_of_steps=steps,
      workdir=workdir)
  lp.launch(layout.build(), launch_type='local_mt',
            serialize_py_nodes=False)


if __name__ == '__main__':
  app.run(main)
