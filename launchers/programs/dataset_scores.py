"""The mean game score of a recorded dataset, from its metadata."""

import os
from typing import Dict, Sequence

import numpy as np
import tensorflow_datasets as tfds

from atari_data import loader


def dataset_mean_scores(dataset: str, games: Sequence[str],
                        checkpoints: str) -> Dict[str, float]:
  """Mean game score of the selected checkpoints of a recorded dataset.

  Uses the per-checkpoint statistics the recorder stores in the dataset's
  metadata (complete episodes where there are any), weighted by episodes.
  Games without such metadata (e.g. the published data) are left out.
  """
  scores = {}
  for game in games:
    directory = os.path.join(dataset, game)
    if not os.path.isdir(directory):
      continue
    stats = tfds.builder_from_directory(directory).info.metadata.get('checkpoints')
    if not stats:
      continue
    start, stop = loader.select_checkpoints(checkpoints, len(stats))
    weights, values = [], []
    for checkpoint in stats[start:stop]:
      if checkpoint.get('mean_complete_game_score') is not None:
        weights.append(checkpoint['num_complete_episodes'])
        values.append(checkpoint['mean_complete_game_score'])
      else:
        weights.append(checkpoint['num_episodes'])
        values.append(checkpoint['mean_game_score'])
    scores[game] = float(np.average(values, weights=weights))
  return scores
