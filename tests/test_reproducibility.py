"""A seed means something: the same seed gives the same run, bit for bit.

In the offline program's single-process mode every random choice is seeded:
the loader's file and episode order, the pooled transitions, the parameter
initialisation, the evaluation environments and the evaluation actors'
exploration. Under Launchpad (local_mt, local_mp) the learner is equally
deterministic, but which parameters the evaluator plays with depends on
thread timing, so learning curves (not checkpoints) may differ there.
"""

import os

import numpy as np

from agents.scaled_ql import config as learner_config
from launchers.programs import offline_program
from launchers.programs import plots
from launchers.programs import pretrain_experiment
from tests.conftest import TINY_GAMES


def _run(dataset: str, workdir: str, seed: int):
  experiment = pretrain_experiment.PretrainExperiment(
      games=TINY_GAMES, dataset=dataset, checkpoints='all',
      learner=learner_config.ScaledQLConfig(
          network_size='nature_dqn', feature_dim=32, batch_size=8, n_step=3),
      num_steps=12, workdir=workdir, checkpoint_every_steps=6,
      eval_every_steps=6, eval_episodes=1, eval_max_episode_frames=600,
      seed=seed)
  offline_program.run(experiment, launch_type='single_process')
  checkpoint = os.path.join(workdir, 'checkpoints',
                            'checkpoint-0000000012.npz')
  with np.load(checkpoint) as saved:
    arrays = {name: saved[name] for name in saved.files}
  returns = [(row['learner_steps'], row['game'], row['mean_return'])
             for row in plots.read_log(workdir, 'evaluator')]
  return arrays, returns


def test_the_same_seed_gives_the_same_run_and_another_seed_another(
    tiny_atari_dataset, tmp_path):
  first, first_returns = _run(tiny_atari_dataset, str(tmp_path / 'a'), 3)
  second, second_returns = _run(tiny_atari_dataset, str(tmp_path / 'b'), 3)
  other, _ = _run(tiny_atari_dataset, str(tmp_path / 'c'), 4)
  assert first.keys() == second.keys()
  for name in first:
    np.testing.assert_array_equal(first[name], second[name], err_msg=name)
  # Three evaluation rounds (steps 0, 6, 12) of both games, played alike.
  assert len(first_returns) == 6
  assert first_returns == second_returns
  differing = [name for name in first
               if first[name].dtype.kind == 'f'
               and not np.array_equal(first[name], other[name])]
  assert differing, 'seed 4 trained the same parameters as seed 3'
