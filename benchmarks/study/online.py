"""An online study run: fine-tuning on game variants with Reverb and actors.

Each variant is one run of launchers.finetune_online's program (Reverb
replay, actors, learner, evaluator; `OnlineStudy.launch_type`), from the
pre-training run's final checkpoint or from scratch; then the final
parameters play the variant and one result file holds every variant.
Unlike an offline run, an online one is not bit for bit reproducible: the
actors' and learner's interleaving depends on the machine's timing.
"""

import os
import re
from typing import Dict, List, Optional

from benchmarks.study import config as study_config
from benchmarks.study import data
from benchmarks.study import results as results_lib
from benchmarks.study import runs
from environments import atari_scores
from launchers.programs import checkpoint_loading
from launchers.programs import dataset_scores
from launchers.programs import evaluator as evaluator_lib
from launchers.programs import finetune_experiment
from launchers.programs import workdir_lock


def _slug(variant: study_config.GameVariant) -> str:
  return re.sub(r'[^A-Za-z0-9]+', '_', variant.label)


def variant_workdir(root: str, study: study_config.OnlineStudy,
                    method: str, seed: int,
                    variant: study_config.GameVariant) -> str:
  return os.path.join(runs.workdir(root, study, method, seed),
                      _slug(variant))


def random_play_dir(root: str, study: study_config.OnlineStudy,
                    variant: study_config.GameVariant) -> str:
  return os.path.join(runs.study_root(root, study), 'random', _slug(variant))


def ensure_random_play(study: study_config.OnlineStudy, root: str) -> None:
  """Records `random_episodes` of uniform random play of every variant
  (once per machine; seeded), the floor of its scores."""
  for variant in study.variants:
    directory = random_play_dir(root, study, variant)
    if os.path.isdir(os.path.join(directory, variant.game)):
      continue
    data.record_random_play(directory, (variant.game,),
                            study.random_episodes, 1,
                            study.max_episode_frames, mode=variant.mode,
                            difficulty=variant.difficulty)


def reference_scores(study: study_config.OnlineStudy,
                     root: str) -> Dict[str, Dict[str, float]]:
  """Per variant: uniform random play's mean score and the published human
  score of its game (recorded for the default variant)."""
  return {
      variant.label: {
          'random_score': dataset_scores.dataset_mean_scores(
              random_play_dir(root, study, variant), (variant.game,),
              'all')[variant.game],
          'human_score': atari_scores.reference_scores(variant.game).human,
      } for variant in study.variants}


def make_experiment(study: study_config.OnlineStudy,
                    method: study_config.Method,
                    variant: study_config.GameVariant, seed: int, root: str,
                    checkpoint: Optional[str]
                    ) -> finetune_experiment.FinetuneExperiment:
  """`checkpoint`: the pre-trained parameters to start from (None:
  scratch)."""
  return finetune_experiment.FinetuneExperiment(
      game=variant.game, mode=variant.mode, difficulty=variant.difficulty,
      workdir=variant_workdir(root, study, method.name, seed, variant),
      learner=study.learner_config(method), checkpoint=checkpoint,
      num_env_steps=study.num_env_steps, online=study.online,
      actor_max_episode_frames=study.max_episode_frames,
      checkpoint_every_steps=study.eval_every_steps,
      eval_every_steps=study.eval_every_steps,
      eval_episodes=study.curve_episodes,
      eval_max_episode_frames=study.max_episode_frames, seed=seed)


def environment_steps(experiment: finetune_experiment.FinetuneExperiment,
                      learner_steps: int) -> int:
  """The environment steps behind `learner_steps`: the rate limiter starts
  the learner at min_replay_size transitions and then lets it sample
  samples_per_insert items per inserted transition (within its tolerance)."""
  online = experiment.online
  return int(online.min_replay_size + learner_steps *
             experiment.learner.batch_size / online.samples_per_insert)


def _curve(experiment: finetune_experiment.FinetuneExperiment,
           label: str) -> List[Dict]:
  return [{'learner_steps': point['learner_steps'],
           'env_steps': environment_steps(experiment, point['learner_steps']),
           'mean_scores': {label: point['mean_scores'][experiment.game]}}
          for point in runs.learning_curve(experiment.workdir)]


def final_evaluation(experiment: finetune_experiment.FinetuneExperiment,
                     loaded: checkpoint_loading.LoadedCheckpoint,
                     episodes: int, seed: int) -> List[float]:
  """`episodes` of the final parameters' evaluation policy on the variant."""
  evaluator = evaluator_lib.Evaluator(
      actor_factory=evaluator_lib.scaled_ql_actor_factory(
          loaded.builder, checkpoint_loading.CheckpointVariableSource(
              loaded.params)),
      games=(experiment.game,), episodes_per_game=episodes,
      environment_factory=lambda game, s: experiment.evaluation_environment(
          s),
      seed=runs.FINAL_EVALUATION_SEED + seed)
  return list(evaluator.evaluate(loaded.step)[experiment.game]
              .episode_returns)


def run_one(study: study_config.OnlineStudy, method: study_config.Method,
            seed: int, root: str, results_dir: str) -> str:
  """Fine-tunes online on every variant, evaluates, writes the result."""
  started = runs.run_started()
  checkpoint = runs.init_checkpoint(study, method, seed, root, results_dir)
  final, curve = {}, []
  for variant in study.variants:
    experiment = make_experiment(study, method, variant, seed, root,
                                 checkpoint)
    with workdir_lock.WorkdirLock(experiment.workdir):
      finetune_experiment.run(experiment, study.launch_type)
    loaded = runs.trained_checkpoint(
        experiment.workdir, experiment.num_learner_steps,
        f'{method.name} seed {seed} on {variant.label}')
    scores = final_evaluation(experiment, loaded, study.final_episodes, seed)
    final[variant.label] = {'episode_scores': scores,
                            'mean_score': sum(scores) / len(scores)}
    curve += _curve(experiment, variant.label)
  result = {
      'schema_version': results_lib.SCHEMA_VERSION, 'study': study.name,
      'kind': 'online', 'method': method.name, 'seed': seed,
      'settings': study.settings(method, seed), 'games': list(study.games),
      'final': final, 'curve': curve,
      'reference': reference_scores(study, root),
      'run': runs.run_record(started),
  }
  if checkpoint is not None:
    result['transfer'] = {'init_checkpoint': checkpoint}
  return results_lib.write(results_dir, result)
