"""The seeds of a recording: one environment and one behaviour stream per
(recording seed, game, checkpoint).

Shared by atari_data.recorder, which records with them, and
environments.known_answer.recorded_transitions, which reproduces a
recording's transitions without TensorFlow and must draw the same streams.
"""

from typing import Tuple

import numpy as np


def recording_seeds(seed: int, game: str, checkpoint: int) -> Tuple[int, int]:
  """(environment seed, behaviour seed): independent and reproducible for
  each (seed, game, checkpoint)."""
  env_seed, policy_seed = np.random.SeedSequence(
      [seed, sum(map(ord, game)), checkpoint]).generate_state(2)
  return int(env_seed), int(policy_seed)
