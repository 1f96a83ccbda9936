"""The RL Unplugged Atari schema and the directory layout of its datasets.

Recorded datasets use TFDS's own RL Unplugged Atari features
(`tensorflow_datasets.rl_unplugged.atari_utils.features_dict()`), so one code
path reads them and the published `rlu_atari_checkpoints_ordered`. RLDS step
convention, as TFDS converts the published data: step t holds observation s_t
(one 84x84x1 frame, PNG), the action taken in it, the CLIPPED reward and the
discount that followed that action; the last step of an episode (is_last)
holds only its final observation, and is_terminal marks a true game over
(otherwise the episode was truncated and bootstraps).
"""

from typing import Dict

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.rl_unplugged import atari_utils

# TFDS dataset name of the recorder's output (the prefix of its shard files).
RECORDED_DATASET_NAME = 'recorded_atari'
RECORDED_VERSION = '1.0.0'
# Published datasets: the per-checkpoint one and the one-split one.
RLU_CHECKPOINTS_ORDERED = 'rlu_atari_checkpoints_ordered'
RLU_ATARI = 'rlu_atari'


def features_dict() -> tfds.features.FeaturesDict:
  """The RL Unplugged Atari features, taken from TFDS itself."""
  return atari_utils.features_dict()


def checkpoint_split(checkpoint: int) -> str:
  """Split name of one checkpoint, as in rlu_atari_checkpoints_ordered."""
  return f'checkpoint_{checkpoint:02d}'


def _flat_signature(features: tfds.features.FeaturesDict) -> Dict[str, str]:
  """Field -> 'shape dtype (stored as shape dtype)', for every nested field."""
  flatten = tfds.core.utils.flatten_nest_dict
  decoded = flatten(features.get_tensor_info())
  serialized = flatten(features.get_serialized_info())
  describe = lambda t: f'{tuple(t.shape)} {np.dtype(t.np_dtype).name}'
  return {
      path: f'{describe(decoded[path])} (stored as '
            f'{describe(serialized[path])})' for path in decoded
  }


def schema_differences(features: tfds.features.FeaturesDict) -> Dict[str, str]:
  """Fields whose shape or dtype differ from the RL Unplugged Atari schema.

  Returns an empty dict when `features` reads exactly like the published
  data; otherwise field -> 'expected X, found Y' (X or Y 'missing').
  """
  expected = _flat_signature(features_dict())
  found = _flat_signature(features)
  differences = {}
  for field in sorted(set(expected) | set(found)):
    if expected.get(field) != found.get(field):
      differences[field] = (f'expected {expected.get(field, "missing")}, '
                            f'found {found.get(field, "missing")}')
  return differences
