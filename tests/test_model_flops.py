"""Model FLOPs from the jaxpr: against closed forms written by hand, and
against XLA's CPU cost analysis where the backend gives one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.scaled_ql import update_step as update_lib
from agents.scaled_ql.config import ScaledQLConfig
from agents.scaled_ql.networks import make_network
from agents.scaled_ql.types import MultiGameTransition
from benchmarks import model_flops

DIMENSIONS = ("NHWC", "HWIO", "NHWC")
B = 2


def _shape(*shape):
  return jax.ShapeDtypeStruct(shape, jnp.float32)


def _xla_flops(fun, *args):
  """XLA's count on the un-optimised HLO; skips where the backend gives
  none (a GPU with jax 0.11.2)."""
  analysis = jax.jit(fun).lower(*args).cost_analysis()
  if analysis is None:
    pytest.skip(f"no XLA cost analysis on {jax.default_backend()}")
  # A list of one dict per computation in older JAX, a dict in newer.
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return analysis["flops"]


def _conv(x, w, stride=1, padding="VALID", groups=1):
  return jax.lax.conv_general_dilated(x, w, (stride, stride), padding,
                                      dimension_numbers=DIMENSIONS,
                                      feature_group_count=groups)


def _network_loss(params, x):
  """A 3x3 stride-2 'SAME' convolution (9x9x3 -> 5x5x4), ReLU, and a dense
  layer of 6 units on the 100 flattened features."""
  hidden = jax.nn.relu(_conv(x, params["conv"], stride=2, padding="SAME"))
  out = hidden.reshape(x.shape[0], -1) @ params["dense"] + params["bias"]
  return jnp.sum(out**2)


NETWORK_PARAMS = {"conv": _shape(3, 3, 3, 4), "dense": _shape(100, 6),
                  "bias": _shape(6)}
FRAMES = _shape(B, 9, 9, 3)
# Per spatial dimension 5 outputs x 3 taps, less the two taps on padding
# (row -1 for the first output, row 9 for the last): 13 real taps.
CONV_FLOPS = 2 * B * 4 * 3 * 13 * 13
DENSE_FLOPS = 2 * B * 100 * 6


def _network_flops(fun):
  return model_flops.model_flops(fun, NETWORK_PARAMS, FRAMES)


def test_a_small_network_by_hand():
  assert _network_flops(_network_loss) == CONV_FLOPS + DENSE_FLOPS
  # Backward: the dense layer's kernel and input gradients (one forward
  # matmul each) and the convolution's kernel gradient; the frames take no
  # gradient, so the convolution has no input gradient.
  assert _network_flops(jax.value_and_grad(_network_loss)) == (
      2 * CONV_FLOPS + 3 * DENSE_FLOPS)
  # With the frames' gradient: the strided convolution's input gradient, an
  # lhs-dilated convolution, does the forward's work (not stride^2 times).
  assert _network_flops(jax.value_and_grad(_network_loss, (0, 1))) == (
      3 * CONV_FLOPS + 3 * DENSE_FLOPS)


@pytest.mark.parametrize("groups,channels,outputs", [(3, 3, 6), (2, 4, 6)])
def test_depthwise_and_grouped_convolutions(groups, channels, outputs):
  """(3, 3, 6): depthwise, 2 outputs per channel; (2, 4, 6): two groups of
  2 input channels. The kernel gradient is a batch-grouped convolution."""
  x, w = _shape(B, 9, 9, channels), _shape(3, 3, channels // groups, outputs)
  loss = lambda x, w: jnp.sum(_conv(x, w, groups=groups))
  forward = 2 * B * 7 * 7 * outputs * (channels // groups) * 3 * 3
  assert model_flops.model_flops(loss, x, w) == forward
  assert model_flops.model_flops(jax.grad(loss, argnums=(0, 1)), x,
                                 w) == 3 * forward


def test_batched_matmul_counts_every_batch():
  einsum = lambda a, b: jnp.einsum("bnm,bm->bn", a, b)
  assert model_flops.model_flops(einsum, _shape(5, 3, 7),
                                 _shape(5, 7)) == 2 * 5 * 3 * 7


def test_scan_cond_while_and_nested_calls():
  matmul_flops = 2 * 4 * 4 * 4
  square = lambda m: m @ m
  scanned = lambda m: jax.lax.scan(lambda c, _: (square(c), None), m, None,
                                   length=5)[0]
  assert model_flops.model_flops(scanned, _shape(4, 4)) == 5 * matmul_flops
  branches = lambda m: jax.lax.cond(m[0, 0] > 0, lambda: square(square(m)),
                                    lambda: m)
  assert model_flops.model_flops(branches, _shape(4, 4)) == 2 * matmul_flops
  nested = lambda m: jax.jit(square)(jax.checkpoint(square)(m))
  assert model_flops.model_flops(nested, _shape(4, 4)) == 2 * matmul_flops
  looped = lambda m: jax.lax.while_loop(lambda m: m[0, 0] < 100, square, m)
  with pytest.warns(UserWarning, match=f"{matmul_flops} FLOPs per iteration"):
    assert model_flops.model_flops(looped, _shape(4, 4)) == matmul_flops


def test_a_function_instead_of_a_jaxpr_is_refused():
  with pytest.raises(TypeError, match="jaxpr=<function .*not a Jaxpr"):
    model_flops.jaxpr_flops(_network_loss)


@pytest.mark.parametrize("stride,padding,groups", [
    (1, "VALID", 1), (2, "SAME", 1), (3, ((2, 1), (0, 2)), 1),
    (2, "SAME", 3)])
def test_convolutions_and_their_gradients_count_as_xla_does(stride, padding,
                                                            groups):
  """Nothing but convolutions (forward, input and kernel gradients): XLA's
  count is ours to the FLOP."""
  x, w = _shape(B, 11, 10, 6), _shape(3, 3, 6 // groups, 9)
  conv = lambda x, w: _conv(x, w, stride, padding, groups)

  def forward_and_gradients(x, w, cotangent):
    out, vjp = jax.vjp(conv, x, w)
    return out, vjp(cotangent)

  cotangent = jax.eval_shape(conv, x, w)
  assert model_flops.model_flops(forward_and_gradients, x, w, cotangent) == (
      _xla_flops(forward_and_gradients, x, w, cotangent))


def test_a_small_network_is_within_5_percent_of_xla():
  """XLA counts the matmuls and convolutions as we do (see the test above)
  and also the elementwise ops (ReLU, bias, square, sum and their
  derivatives): a few FLOPs per activation element, against 2 x 27 of the
  convolution per output element. Measured: XLA 2.1% above ours."""
  grad = jax.value_and_grad(_network_loss, argnums=(0, 1))
  ours = _network_flops(grad)
  xla = _xla_flops(grad, NETWORK_PARAMS, FRAMES)
  assert ours <= xla <= 1.05 * ours, (ours, xla)


def test_the_update_step_is_within_5_percent_of_xla():
  """The tiny learner's whole update. Beyond the matmuls and convolutions
  XLA counts the elementwise ops: Adam's (~10 per parameter), clipping,
  the C51 projection's kernel, softmaxes, ReLUs and normalisation, a few
  FLOPs per parameter or activation against the convolutions' hundreds per
  output element. Measured: XLA 0.9% above ours."""
  config = ScaledQLConfig(network_size="nature_dqn", feature_dim=32,
                          num_atoms=11, batch_size=8)
  network = make_network(config, (6, 4))
  state = jax.eval_shape(
      lambda key: update_lib.make_initial_state(network, config, key),
      jax.random.PRNGKey(0))
  frames = jax.ShapeDtypeStruct((8, 84, 84, 4), jnp.uint8)
  vector = lambda dtype: jax.ShapeDtypeStruct((8,), dtype)
  batch = MultiGameTransition(
      observation=frames, action=vector(jnp.int32),
      reward=vector(jnp.float32), discount=vector(jnp.float32),
      next_observation=frames, game_id=vector(jnp.int32))
  update = update_lib.make_update_step(network, config)
  ours = model_flops.model_flops(update, state, batch)
  assert ours > 0 and np.isfinite(ours)
  xla = _xla_flops(update, state, batch)
  assert ours <= xla <= 1.05 * ours, (ours, xla)

