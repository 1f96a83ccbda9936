"""ResNet torsos with group normalisation and learned spatial embeddings.

The paper's encoder (Kumar et al. 2023, Fig. 3): a ResNet with group
normalisation whose final convolutional map is turned into a vector by
learned spatial embeddings instead of global average pooling, so that the
position of objects on the screen survives. The paper gives neither widths,
nor groups, nor the exact embedding; what is used here:

  * ResNet v1.5 (stride on the 3x3 convolution of bottleneck blocks) with
    BatchNorm replaced by GroupNorm with 4 groups, as in the same group's
    PTR code (Asap7772/PTR jaxrl2/networks/encoders/resnet_encoderv1.py).
    The last GroupNorm of each residual branch starts at scale 0, so every
    block starts as the identity (Goyal et al. 2017), which keeps 100-layer
    nets trainable without BatchNorm's statistics.
  * Standard ImageNet widths and depths (He et al. 2016) for resnet18/34/50/
    101; the stem (7x7 stride-2 conv + 3x3 stride-2 max-pool) takes 84x84 to
    21x21 and the stages to 21, 11, 6, 3.
  * `resnet_tiny` for CPU demos and tests (NOT in the paper): a stride-4
    4x4 patchifying stem and three narrow one-block stages (21 -> 11, 6, 3),
    sized so that a batch-32 update runs at ~20/s on two CPU cores.
  * SpatialLearnedEmbeddings as in PTR (jaxrl2/networks/encoders/
    spatial_softmax.py): the [H, W, C] map times a learned [H, W, C, K]
    kernel, summed over H and W, flattened to C*K features. K = 16, where
    PTR's default is 8: with it the resnet101 network for 40 games with
    18-action heads has 78M parameters, matching the paper's ~80M (with
    K = 8 it would be 70M). The paper gives no K.

Group normalisation statistics are computed in float32 even when the network
runs in bfloat16.
"""

import dataclasses
from typing import Sequence

import haiku as hk
import jax
import jax.numpy as jnp

from networks import conv


@dataclasses.dataclass(frozen=True)
class ResNetSize:
  """Shape of one named ResNet torso.

  Attributes:
    stem_channels: output channels of the stem convolution.
    stem_kernel, stem_stride: the stem convolution.
    stem_max_pool: whether a 3x3 stride-2 max-pool follows the stem.
    bottleneck: bottleneck blocks (1x1, 3x3, 1x1 x4) instead of basic ones.
    blocks_per_stage: residual blocks in each stage.
    stage_widths: 3x3 convolution width of each stage (bottleneck blocks
      output 4x this).
    stage_strides: stride of each stage's first block.
    num_groups: GroupNorm groups.
    num_spatial_embeddings: K, learned embeddings per channel.
  """
  stem_channels: int
  stem_kernel: int
  stem_stride: int
  stem_max_pool: bool
  bottleneck: bool
  blocks_per_stage: Sequence[int]
  stage_widths: Sequence[int]
  stage_strides: Sequence[int]
  num_groups: int = 4
  num_spatial_embeddings: int = 16


def _imagenet_size(bottleneck, blocks_per_stage):
  return ResNetSize(
      stem_channels=64, stem_kernel=7, stem_stride=2, stem_max_pool=True,
      bottleneck=bottleneck, blocks_per_stage=blocks_per_stage,
      stage_widths=(64, 128, 256, 512), stage_strides=(1, 2, 2, 2))


RESNET_SIZES = {
    "resnet_tiny": ResNetSize(
        stem_channels=16, stem_kernel=4, stem_stride=4, stem_max_pool=False,
        bottleneck=False, blocks_per_stage=(1, 1, 1),
        stage_widths=(16, 32, 32), stage_strides=(2, 2, 2)),
    "resnet18": _imagenet_size(False, (2, 2, 2, 2)),
    "resnet34": _imagenet_size(False, (3, 4, 6, 3)),
    "resnet50": _imagenet_size(True, (3, 4, 6, 3)),
    "resnet101": _imagenet_size(True, (3, 4, 23, 3)),
}


class GroupNorm(hk.Module):
  """hk.GroupNorm with float32 statistics whatever the input dtype."""

  def __init__(self, num_groups: int, zero_init: bool = False, name=None):
    super().__init__(name=name)
    self._norm = hk.GroupNorm(
        num_groups,
        scale_init=hk.initializers.Constant(0.0) if zero_init else None,
        name="group_norm")

  def __call__(self, x: jax.Array) -> jax.Array:
    return self._norm(x.astype(jnp.float32)).astype(x.dtype)


def _conv(channels, kernel, stride=1, name=None):
  return conv.Conv2D(channels, kernel, stride=stride, with_bias=False,
                     padding="SAME", name=name)


class ResidualBlock(hk.Module):
  """Basic (two 3x3) or bottleneck (1x1, 3x3, 1x1) block, post-activation."""

  def __init__(self, width: int, stride: int, bottleneck: bool,
               num_groups: int, name=None):
    super().__init__(name=name)
    self._width = width
    self._stride = stride
    self._bottleneck = bottleneck
    self._num_groups = num_groups

  def __call__(self, x: jax.Array) -> jax.Array:
    out_channels = 4 * self._width if self._bottleneck else self._width
    if self._bottleneck:
      layers = [(self._width, 1, 1), (self._width, 3, self._stride),
                (out_channels, 1, 1)]
    else:
      layers = [(self._width, 3, self._stride), (out_channels, 3, 1)]
    shortcut = x
    if self._stride != 1 or x.shape[-1] != out_channels:
      shortcut = _conv(out_channels, 1, self._stride, name="shortcut_conv")(x)
      shortcut = GroupNorm(self._num_groups, name="shortcut_norm")(shortcut)
    for i, (channels, kernel, stride) in enumerate(layers):
      x = _conv(channels, kernel, stride, name=f"conv_{i}")(x)
      last = i == len(layers) - 1
      x = GroupNorm(self._num_groups, zero_init=last, name=f"norm_{i}")(x)
      if not last:
        x = jax.nn.relu(x)
    return jax.nn.relu(x + shortcut)


class SpatialLearnedEmbeddings(hk.Module):
  """[B, H, W, C] -> [B, C*K]: per-channel learned weighted sums over H, W."""

  def __init__(self, num_features: int, name=None):
    super().__init__(name=name)
    self._num_features = num_features

  def __call__(self, x: jax.Array) -> jax.Array:
    _, height, width, channels = x.shape
    kernel = hk.get_parameter(
        "kernel", (height, width, channels, self._num_features), x.dtype,
        init=hk.initializers.VarianceScaling(1.0, "fan_in",
                                             "truncated_normal",
                                             fan_in_axes=(0, 1)))
    features = jnp.einsum("bhwc,hwck->bck", x, kernel)
    return features.reshape(x.shape[0], -1)


class ResNetTorso(hk.Module):
  """Frames [B, 84, 84, 4] (already scaled to [0, 1]) -> features [B, C*K]."""

  def __init__(self, size: ResNetSize, name=None):
    super().__init__(name=name)
    self._size = size

  def __call__(self, x: jax.Array) -> jax.Array:
    size = self._size
    x = _conv(size.stem_channels, size.stem_kernel, size.stem_stride,
              name="stem_conv")(x)
    x = jax.nn.relu(GroupNorm(size.num_groups, name="stem_norm")(x))
    if size.stem_max_pool:
      x = hk.max_pool(x, window_shape=3, strides=2, padding="SAME")
    for stage, (blocks, width, stride) in enumerate(
        zip(size.blocks_per_stage, size.stage_widths, size.stage_strides)):
      for block in range(blocks):
        x = ResidualBlock(width, stride if block == 0 else 1, size.bottleneck,
                          size.num_groups,
                          name=f"stage_{stage}_block_{block}")(x)
    return SpatialLearnedEmbeddings(size.num_spatial_embeddings)(x)
