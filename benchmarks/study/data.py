"""The study's recorded data and the reference scores it defines.

The data are recorded once per machine (the recorder is seeded, so a second
machine records the same episodes) under <root>/data/<Game>, with uniform
random play beside them under <root>/random/<Game>; every method of the
study reads the same files.
"""

import os
from typing import Dict

from absl import logging

from atari_data import loader
from atari_data import policies
from atari_data import recorder
from benchmarks.study import config as study_config
from environments import atari_scores
from launchers.programs import dataset_scores


def data_dir(root: str) -> str:
  return os.path.join(root, 'data')


def random_dir(root: str) -> str:
  return os.path.join(root, 'random')


def _missing(directory: str, games) -> list:
  return [game for game in games
          if not os.path.isdir(os.path.join(directory, game))]


def ensure_dataset(dataset: study_config.StudyDataset, root: str) -> str:
  """Records what is missing of `dataset` under `root`; returns the data
  directory. Each game is written atomically, so an interrupted recording
  leaves no partial game behind and is resumed game by game."""
  missing = _missing(data_dir(root), dataset.games)
  if missing:
    logging.info('Recording the study data of %s into %s ...', missing,
                 data_dir(root))
    stats = recorder.record(
        recorder.RecorderConfig(
            output_dir=data_dir(root), games=tuple(missing),
            num_checkpoints=dataset.num_checkpoints,
            steps_per_checkpoint=dataset.steps_per_checkpoint,
            seed=dataset.seed, max_episode_frames=dataset.max_episode_frames),
        policy_factory=dataset.schedule())
    for game, checkpoints in stats.items():
      print(f'{game}: mean game score per checkpoint: ' + ', '.join(
          f'{c.mean_complete_game_score or c.mean_game_score:.0f}'
          for c in checkpoints), flush=True)
  missing = _missing(random_dir(root), dataset.games)
  if missing:
    record_random_play(random_dir(root), missing, dataset.random_episodes,
                       dataset.seed + 1, dataset.max_episode_frames)
  # Fails clearly on a half-written or foreign directory.
  loader.resolve_sources(loader.LoaderConfig(
      games=dataset.games, source=data_dir(root), checkpoints='all'))
  return data_dir(root)


def record_random_play(output_dir: str, games, episodes: int, seed: int,
                       max_episode_frames: int, mode=None, difficulty=None):
  """Records `episodes` of uniform random play of each game (one checkpoint
  per game under `output_dir`), the floor of a game's scores."""
  recorder.record(
      recorder.RecorderConfig(
          output_dir=output_dir, games=tuple(games), num_checkpoints=1,
          episodes_per_checkpoint=episodes, steps_per_checkpoint=None,
          seed=seed, max_episode_frames=max_episode_frames, mode=mode,
          difficulty=difficulty),
      policy_factory=policies.uniform_random_factory)


def reference_scores(dataset: study_config.StudyDataset,
                     root: str) -> Dict[str, Dict[str, float]]:
  """Per game: the learned-from data's mean score (the bar to beat), the
  best checkpoint's (a ceiling), the whole dataset's, uniform random play's
  under the same protocol, and the published human score."""
  learned = dataset_scores.dataset_mean_scores(
      data_dir(root), dataset.games, dataset.learn_from)
  everything = dataset_scores.dataset_mean_scores(
      data_dir(root), dataset.games, 'all')
  randoms = dataset_scores.dataset_mean_scores(
      random_dir(root), dataset.games, 'all')
  return {
      game: {
          'data_score': learned[game],
          'best_score': float(max(score for score, _ in
                                 dataset_scores.checkpoint_scores(
                                     data_dir(root), game))),
          'all_data_score': everything[game],
          'random_score': randoms[game],
          'human_score': atari_scores.reference_scores(game).human,
      } for game in dataset.games
  }
