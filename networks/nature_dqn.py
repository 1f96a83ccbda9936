"""The 3-layer convolutional torso of Mnih et al. 2015 (Nature DQN).

The small baseline the paper says does not scale, and the common encoder of
peer offline-Atari benchmarks. Its 512-unit fully connected layer is the
shared projection of networks.multi_game, so this module stops at the
flattened convolutional features.
"""

import haiku as hk
import jax


class NatureDQNTorso(hk.Module):
  """Frames [B, 84, 84, 4] (scaled to [0, 1]) -> features [B, 7*7*64]."""

  def __call__(self, x: jax.Array) -> jax.Array:
    for channels, kernel, stride in ((32, 8, 4), (64, 4, 2), (64, 3, 1)):
      x = jax.nn.relu(
          hk.Conv2D(channels, kernel, stride=stride, padding="VALID")(x))
    return x.reshape(x.shape[0], -1)
