"""An offline study run: pre-training (or offline fine-tuning) in one process.

The offline program's single-process mode, so that a seed gives the same
run bit for bit on one machine; then the final parameters' evaluation and
the result file.
"""

from typing import Dict, List, Optional

import jax
import numpy as np

from atari_data import loader
from benchmarks.study import config as study_config
from benchmarks.study import data
from benchmarks.study import results as results_lib
from benchmarks.study import runs
from launchers.programs import checkpoint_loading
from launchers.programs import offline_program
from launchers.programs import pretrain_experiment
from launchers.programs import workdir_lock


def transfer_check(study: study_config.Study,
                   experiment: pretrain_experiment.PretrainExperiment,
                   root: str, num_states: int = 1024) -> Dict[str, float]:
  """How exactly a fine-tuning run starts from its checkpoint: the largest
  difference between the features its initial network and the pre-trained
  network compute on `num_states` states of the pre-training data (0 when
  the torso and projection are carried over intact)."""
  pretraining = study_config.study_named(study.pretraining)
  loaded = checkpoint_loading.load_checkpoint(experiment.init_checkpoint)
  builder = experiment.make_builder()
  networks = builder.make_networks()
  learner = builder.make_learner(random_key=jax.random.PRNGKey(
      experiment.seed), networks=networks, dataset=iter(()))
  experiment.initialise_from_checkpoint(learner, networks)
  states = next(loader.make_multigame_iterator(loader.LoaderConfig(
      games=pretraining.dataset.games,
      source=data.data_dir(runs.data_root(root, pretraining)),
      checkpoints=pretraining.dataset.learn_from, batch_size=num_states,
      seed=experiment.seed))).observation
  features, _ = networks.embed(learner.get_variables(['policy'])[0], states)
  expected, _ = loaded.builder.make_networks().embed(loaded.params, states)
  return {'pretraining_states': num_states,
          'max_feature_difference': float(np.max(np.abs(
              np.asarray(features) - np.asarray(expected))))}


def make_experiment(study: study_config.Study, method: study_config.Method,
                    seed: int, root: str, init_from: Optional[str] = None
                    ) -> pretrain_experiment.PretrainExperiment:
  """`init_from`: the checkpoint that initialises the run (None: scratch)."""
  dataset = study.dataset
  return pretrain_experiment.PretrainExperiment(
      games=dataset.games, dataset=data.data_dir(runs.data_root(root, study)),
      checkpoints=dataset.learn_from, learner=study.learner_config(method),
      agent=method.agent, num_steps=study.num_steps,
      workdir=runs.workdir(root, study, method.name, seed),
      checkpoint_every_steps=study.eval_every_steps,
      eval_every_steps=study.eval_every_steps,
      eval_episodes=study.curve_episodes,
      eval_max_episode_frames=dataset.max_episode_frames, seed=seed,
      init_checkpoint=init_from)


def final_evaluation(study: study_config.Study,
                     loaded: checkpoint_loading.LoadedCheckpoint,
                     seed: int) -> Dict[str, List[float]]:
  """final_episodes episodes per game of the checkpoint's evaluation policy
  (sticky actions; environments seeded apart from the training ones)."""
  results = checkpoint_loading.make_evaluator(
      loaded, study.final_episodes, study.dataset.max_episode_frames,
      seed=runs.FINAL_EVALUATION_SEED + seed).evaluate(loaded.step)
  return {game: list(result.episode_returns)
          for game, result in results.items()}


def run_one(study: study_config.Study, method: study_config.Method, seed: int,
            root: str, results_dir: str) -> str:
  """Trains, evaluates and writes one run's result file; returns its path."""
  started = runs.run_started()
  experiment = make_experiment(
      study, method, seed, root,
      runs.init_checkpoint(study, method, seed, root, results_dir))
  # One process per run folder: a second runner of the same run is refused.
  with workdir_lock.WorkdirLock(experiment.workdir):
    transfer = (transfer_check(study, experiment, root)
                if experiment.init_checkpoint else None)
    offline_program.run(experiment, launch_type='single_process')
  loaded = runs.trained_checkpoint(experiment.workdir, study.num_steps,
                                  f'{method.name} seed {seed}')
  final = final_evaluation(study, loaded, seed)
  result = {
      'schema_version': results_lib.SCHEMA_VERSION, 'study': study.name,
      'method': method.name, 'seed': seed,
      'settings': study.settings(method, seed),
      'games': list(study.dataset.games),
      'final': {game: {'episode_scores': scores,
                       'mean_score': sum(scores) / len(scores)}
                for game, scores in final.items()},
      'curve': runs.learning_curve(experiment.workdir),
      'reference': data.reference_scores(study.dataset,
                                         runs.data_root(root, study)),
      'run': runs.run_record(started),
  }
  if transfer is not None:
    result['transfer'] = {'init_checkpoint': experiment.init_checkpoint,
                          **transfer}
  return results_lib.write(results_dir, result)


