"""Model FLOPs of a JAX function, counted on its jaxpr: the same on every
backend.

What is counted: 2 FLOPs per multiply-accumulate of every matrix product
(`dot_general`) and convolution (`conv_general_dilated`), the convolutions
of a backward pass included, as model FLOP utilisation (MFU) conventions
count model FLOPs. Elementwise ops, reductions, softmaxes, normalisation and
the optimiser's arithmetic are left out: a few FLOPs per activation or
parameter, against the matmul peak that MFU divides by.

A convolution's multiply-accumulates are its output elements x its input
features per group x the kernel taps that read a real input element: a tap
on padding or on a hole of lhs dilation multiplies a zero and is not
counted. So the input gradient of a strided convolution (a stride-1
convolution of the lhs-dilated output gradient) counts what the forward
convolution does, not stride^2 times as much, and XLA's cost analysis
counts convolutions the same way (tests/test_model_flops.py).

Why not XLA's cost analysis: `Lowered.cost_analysis()` returns None on a
GPU with jax 0.11.2, and an optimised GPU executable's count misses the
convolutions handed to cuDNN. The jaxpr needs no backend at all.

Control flow: a `scan` body counts `length` times; a `cond` counts its
costliest branch (an upper bound); a `while_loop` counts its condition and
body once, since its trip count is known only when it runs (a lower bound;
a warning says so where the body has matmuls). Every other sub-jaxpr (pjit,
closed_call, custom_jvp_call, custom_vjp_call, remat) counts once.

Imports only JAX, NumPy and the standard library, so it runs on a machine
without TensorFlow, Reverb, Launchpad or Acme.
"""

import math
import warnings
from typing import Any, Callable, Iterator, Sequence, Tuple

import jax
import numpy as np


def dot_general_flops(lhs_shape: Sequence[int], output_shape: Sequence[int],
                      dimension_numbers) -> int:
  """2 x output elements x contracted size of a lax.dot_general."""
  (lhs_contracting, _), _ = dimension_numbers
  contracted = math.prod(lhs_shape[d] for d in lhs_contracting)
  return 2 * math.prod(output_shape) * contracted


def _real_taps(input_size: int, output_size: int, window: int, stride: int,
               padding: Tuple[int, int], lhs_dilation: int,
               rhs_dilation: int) -> int:
  """(output position, kernel tap) pairs of one spatial dimension whose tap
  reads an input element: not padding, not a hole of lhs dilation."""
  low, _ = padding
  position = (np.arange(output_size)[:, None] * stride +
              np.arange(window)[None, :] * rhs_dilation - low)
  real = ((position >= 0) & (position <= (input_size - 1) * lhs_dilation) &
          (position % lhs_dilation == 0))
  return int(real.sum())


def conv_flops(lhs_shape: Sequence[int], rhs_shape: Sequence[int],
               output_shape: Sequence[int], params) -> int:
  """2 x multiply-accumulates of a lax.conv_general_dilated equation.

  Output batch x output features x the kernel's input features (per group
  already, for feature_group_count and batch_group_count alike) x the
  real taps of every spatial dimension (see the module docstring).

  Args:
    lhs_shape, rhs_shape, output_shape: the equation's input, kernel and
      output shapes.
    params: the equation's parameters (dimension_numbers, window_strides,
      padding, lhs_dilation, rhs_dilation).
  """
  lhs_spec, rhs_spec, output_spec = params["dimension_numbers"]
  taps = 1
  for i in range(len(lhs_spec) - 2):
    taps *= _real_taps(lhs_shape[lhs_spec[2 + i]],
                       output_shape[output_spec[2 + i]],
                       rhs_shape[rhs_spec[2 + i]], params["window_strides"][i],
                       params["padding"][i], params["lhs_dilation"][i],
                       params["rhs_dilation"][i])
  per_tap = (output_shape[output_spec[0]] * output_shape[output_spec[1]] *
             rhs_shape[rhs_spec[1]])
  return 2 * per_tap * taps


def _sub_jaxprs(params) -> Iterator[Any]:
  """The jaxprs among an equation's parameters, ClosedJaxprs unwrapped.

  Found by what they hold rather than by class, as jax.core's classes move
  between JAX versions.
  """
  for value in params.values():
    for item in value if isinstance(value, (tuple, list)) else (value,):
      jaxpr = getattr(item, "jaxpr", item)
      if hasattr(jaxpr, "eqns"):
        yield jaxpr


def jaxpr_flops(jaxpr) -> int:
  """Model FLOPs of a Jaxpr or ClosedJaxpr (see the module docstring)."""
  jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
  if not hasattr(jaxpr, "eqns"):
    raise TypeError(f"jaxpr={jaxpr!r:.80}: not a Jaxpr or ClosedJaxpr "
                    "(jax.make_jaxpr gives one; model_flops traces a function)")
  total = 0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "dot_general":
      lhs, _ = eqn.invars
      total += dot_general_flops(lhs.aval.shape, eqn.outvars[0].aval.shape,
                                 eqn.params["dimension_numbers"])
    elif name == "conv_general_dilated":
      lhs, rhs = eqn.invars
      total += conv_flops(lhs.aval.shape, rhs.aval.shape,
                          eqn.outvars[0].aval.shape, eqn.params)
    elif name == "scan":
      total += eqn.params["length"] * jaxpr_flops(eqn.params["jaxpr"])
    elif name == "cond":
      total += max(jaxpr_flops(branch) for branch in eqn.params["branches"])
    elif name == "while":
      body = jaxpr_flops(eqn.params["body_jaxpr"])
      if body:
        warnings.warn(f"while loop counted once: {body} FLOPs per iteration, "
                      "trip count unknown before it runs")
      total += body + jaxpr_flops(eqn.params["cond_jaxpr"])
    else:
      total += sum(jaxpr_flops(sub) for sub in _sub_jaxprs(eqn.params))
  return total


def model_flops(fun: Callable[..., Any], *args, **kwargs) -> int:
  """Model FLOPs of one call fun(*args, **kwargs), traced, not run.

  args may be arrays or jax.ShapeDtypeStruct trees (e.g. from
  jax.eval_shape), so nothing is allocated or compiled.
  """
  return jaxpr_flops(jax.make_jaxpr(fun)(*args, **kwargs))
