"""The batch format shared by the data loaders and the learner.

Pure Python/NumPy/JAX: nothing here imports acme, TensorFlow or Reverb, so
the learner core that consumes it runs anywhere JAX runs.
"""

from typing import NamedTuple

import numpy as np


class MultiGameTransition(NamedTuple):
  """A batch of n-step transitions drawn from several games.

  Every field has leading batch dimension B. The loader has already folded
  the n-step return and the discount, so the learner's target for one example
  is `reward + discount * Z(next_observation)` with no knowledge of n or gamma.

  Attributes:
    observation: uint8 [B, 84, 84, 4], the last 4 frames up to and including
      s_t (oldest first). Frames before an episode's start are zeros.
    action: int32 [B], the action taken in s_t, an index into the game's own
      (minimal) action set.
    reward: float32 [B], sum_{i<k} gamma^i r_{t+i} of clipped rewards, where
      k <= n is the number of steps actually available in the episode.
    discount: float32 [B], gamma^k if the episode continues past t+k (also
      when the recording was truncated there), 0 if it reached a true
      terminal state within the k steps.
    next_observation: uint8 [B, 84, 84, 4], the frame stack at s_{t+k}.
    game_id: int32 [B], the index of the example's game in the agent's game
      list; it selects the Q-value head.
  """
  observation: np.ndarray
  action: np.ndarray
  reward: np.ndarray
  discount: np.ndarray
  next_observation: np.ndarray
  game_id: np.ndarray
