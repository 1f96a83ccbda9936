"""Helpers shared by the test modules (not tests themselves).

The pre-training programs (Acme, TensorFlow) are imported by
`tiny_experiment` alone, so that the pure core's tests can take TINY_LEARNER
on a machine without them (e.g. a GPU box with JAX, Haiku, Optax and chex
only).
"""

import csv
import os

from agents.scaled_ql import checkpointing
from agents.scaled_ql import config as learner_config

# A network small enough for CPU tests: Nature-DQN torso, 32 features, 11 atoms.
TINY_LEARNER = learner_config.ScaledQLConfig(
    network_size='nature_dqn', feature_dim=32, num_atoms=11, batch_size=8)


def tiny_experiment(dataset, workdir, **overrides):
  """Pong + Breakout pre-training on `dataset` with the tiny network."""
  from launchers.programs import pretrain_experiment
  settings = dict(games=('Pong', 'Breakout'), dataset=dataset,
                  checkpoints='all', learner=TINY_LEARNER, num_steps=20,
                  workdir=str(workdir), checkpoint_every_steps=10,
                  eval_every_steps=10, eval_max_episode_frames=400)
  settings.update(overrides)
  return pretrain_experiment.PretrainExperiment(**settings)


def checkpoint_steps(workdir):
  """Learner steps of the checkpoints in <workdir>/checkpoints, oldest first."""
  return [step for step, _ in checkpointing.list_checkpoints(
      os.path.join(workdir, 'checkpoints'))]


def csv_rows(workdir, label):
  """The rows of <workdir>/logs/<label>/logs.csv."""
  with open(os.path.join(workdir, 'logs', label, 'logs.csv')) as f:
    return list(csv.DictReader(f))
