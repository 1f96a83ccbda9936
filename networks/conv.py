"""2-D convolution with hk.Conv2D's parameters, computed at stride 1.

XLA's CPU backend runs stride-1 convolutions (forward and both gradients)
through Eigen, but the gradients of a strided convolution are dilated
convolutions (the input gradient has lhs dilation, the kernel gradient
window dilation) that it computes with a slow generic loop: on 2 cores, the
Nature-DQN torso's second layer spent ~40 ms per batch of 32 in its input
gradient alone (BENCHMARKS.md, Learner profile). A stride-s convolution is
the same sum as a stride-1 convolution of the space-to-depth rearranged
input (each s x s block of pixels becomes one pixel of s*s*C channels) with
the kernel rearranged the same way when the kernel size is a multiple of s
(Nature DQN's 8x8/4 and 4x4/2, the ResNet stems' 4x4/4), and a 1x1
stride-s convolution is a 1x1 convolution of every s-th pixel. Only the
order of the additions changes, so results agree with lax's strided
convolution to float rounding (tests/test_networks.py). Other strided
kernels (ResNet's 3x3/2) stay lax strided convolutions: padding their kernel
to a multiple of the stride would add 78% FLOPs.
"""

import math

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _space_to_depth(x: jax.Array, block: int) -> jax.Array:
  """[B, H*s, W*s, C] -> [B, H, W, s*s*C], channels ordered (row, col, c)."""
  batch, height, width, channels = x.shape
  x = x.reshape(batch, height // block, block, width // block, block,
                channels)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(
      batch, height // block, width // block, block * block * channels)


def _kernel_to_depth(w: jax.Array, block: int) -> jax.Array:
  """[k*s, k*s, C, O] -> [k, k, s*s*C, O], matching _space_to_depth."""
  size, _, channels, outputs = w.shape
  taps = size // block
  w = w.reshape(taps, block, taps, block, channels, outputs)
  return w.transpose(0, 2, 1, 3, 4, 5).reshape(taps, taps,
                                               block * block * channels,
                                               outputs)


def same_padding(size: int, kernel: int, stride: int):
  """(before, after) padding of lax's 'SAME' for one spatial dimension."""
  total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def conv2d(x: jax.Array, w: jax.Array, stride: int,
           padding: str = "VALID") -> jax.Array:
  """lax.conv_general_dilated(x, w, (stride, stride), padding), NHWC/HWIO,
  square kernel; at stride 1 where the kernel size is a multiple of the
  stride or 1 (see the module docstring).

  Args:
    x: [B, H, W, C] inputs.
    w: [k, k, C, O] kernel.
    stride: the same in both spatial dimensions.
    padding: 'VALID' or 'SAME' (lax's convention: the extra pixel after).

  Returns:
    [B, H', W', O] as lax computes it.
  """
  if padding not in ("VALID", "SAME"):
    raise ValueError(f"padding={padding!r}; valid: 'VALID', 'SAME'")
  kernel = w.shape[0]
  if padding == "SAME":
    pads = [same_padding(n, kernel, stride) for n in x.shape[1:3]]
    x = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
  if stride > 1 and kernel == 1:
    x = x[:, ::stride, ::stride]
  elif stride > 1 and kernel % stride == 0:
    outputs = [(n - kernel) // stride + 1 for n in x.shape[1:3]]
    # The rows and columns the kernel reads; the rest is never used.
    used = [(n - 1) * stride + kernel for n in outputs]
    x = _space_to_depth(x[:, :used[0], :used[1]], stride)
    w = _kernel_to_depth(w, stride)
  elif stride > 1:
    return jax.lax.conv_general_dilated(x, w, (stride, stride), "VALID",
                                        dimension_numbers=_DIMENSIONS)
  return jax.lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                      dimension_numbers=_DIMENSIONS)


class Conv2D(hk.Module):
  """hk.Conv2D (NHWC, square kernel and stride) computed by `conv2d`.

  Same parameter names, shapes and initialisers as hk.Conv2D ('w' truncated
  normal with stddev 1/sqrt(fan-in), 'b' zeros), so parameters and
  checkpoints are interchangeable with it.
  """

  def __init__(self, output_channels: int, kernel_shape: int, stride: int = 1,
               padding: str = "SAME", with_bias: bool = True, name=None):
    super().__init__(name=name)
    self._output_channels = output_channels
    self._kernel = kernel_shape
    self._stride = stride
    self._padding = padding
    self._with_bias = with_bias

  def __call__(self, x: jax.Array) -> jax.Array:
    shape = (self._kernel, self._kernel, x.shape[-1], self._output_channels)
    w = hk.get_parameter(
        "w", shape, x.dtype,
        init=hk.initializers.TruncatedNormal(1.0 / np.sqrt(np.prod(
            shape[:-1]))))
    out = conv2d(x, w, self._stride, self._padding)
    if self._with_bias:
      out = out + hk.get_parameter("b", (self._output_channels,), x.dtype,
                                   init=jnp.zeros)
    return out
