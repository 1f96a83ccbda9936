"""The mean game score of a recorded dataset, from its metadata."""

import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow_datasets as tfds

from atari_data import loader


def checkpoint_scores(dataset: str, game: str) -> List[Tuple[float, int]]:
  """(mean game score, episodes) of each behaviour checkpoint of `game`.

  From the per-checkpoint statistics the recorder stores in the dataset's
  metadata: over complete episodes where there are any (an episode cut by
  the step budget scores low), else over all. [] for a game without such
  metadata (e.g. the published data) or absent from `dataset`.
  """
  directory = os.path.join(dataset, game)
  if not os.path.isdir(directory):
    return []
  stats = tfds.builder_from_directory(directory).info.metadata.get(
      'checkpoints') or []
  return [(c['mean_complete_game_score'], c['num_complete_episodes'])
          if c.get('mean_complete_game_score') is not None
          else (c['mean_game_score'], c['num_episodes']) for c in stats]


def dataset_mean_scores(dataset: str, games: Sequence[str],
                        checkpoints: str) -> Dict[str, float]:
  """Mean game score of the selected checkpoints of a recorded dataset,
  weighted by episodes (`checkpoint_scores`). Games without the recorder's
  metadata are left out.

  Raises:
    FileNotFoundError, NotADirectoryError: `dataset` is not a directory.
  """
  if os.path.exists(dataset) and not os.path.isdir(dataset):
    raise NotADirectoryError(
        f'Dataset {dataset} is a file; give the directory written by '
        'launchers.make_dataset.')
  if not os.path.isdir(dataset):
    raise FileNotFoundError(f'Dataset directory {dataset} does not exist.')
  scores = {}
  for game in games:
    per_checkpoint = checkpoint_scores(dataset, game)
    if not per_checkpoint:
      continue
    start, stop = loader.select_checkpoints(checkpoints, len(per_checkpoint))
    values, weights = zip(*per_checkpoint[start:stop])
    scores[game] = float(np.average(values, weights=weights))
  return scores
