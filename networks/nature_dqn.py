"""The 3-layer convolutional torso of Mnih et al. 2015 (Nature DQN).

The small baseline the paper says does not scale, and the common encoder of
peer offline-Atari benchmarks. Its 512-unit fully connected layer is the
shared projection of networks.multi_game, so this module stops at the
flattened convolutional features.
"""

import haiku as hk
import jax

from networks import conv


class NatureDQNTorso(hk.Module):
  """Frames [B, 84, 84, 4] (scaled to [0, 1]) -> features [B, 7*7*64]."""

  def __call__(self, x: jax.Array) -> jax.Array:
    layers = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
    for i, (channels, kernel, stride) in enumerate(layers):
      # hk.Conv2D's module names, so parameters match the hk.Conv2D torso.
      x = jax.nn.relu(conv.Conv2D(channels, kernel, stride=stride,
                                  padding="VALID",
                                  name="conv2_d" + (f"_{i}" if i else ""))(x))
    return x.reshape(x.shape[0], -1)
