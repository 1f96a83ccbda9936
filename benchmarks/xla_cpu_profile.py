"""Time per op class of a jitted function on XLA's CPU backend.

XLA:CPU emits a profiler event per HLO instruction when the process starts
with XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true (set PROFILE_XLA_FLAGS
before JAX initialises). `op_class_times` traces a few calls with
jax.profiler, reads the Perfetto trace, and sums the instructions' wall
time by class, using the optimised HLO's opcodes and metadata:

  conv fwd   convolutions of the forward pass;
  conv bwd   convolutions under a transpose, or without metadata (XLA's
             rewrites of kernel gradients; it names the dilated ones
             convolution-base-dilated / -window-dilated);
  matmul     dots and oneDNN matmul custom calls (forward and backward);
  optimizer  instructions whose source is optax (clipping, Adam);
  elementwise fusions, reductions, converts and other loops;
  other      copies, transposes, control flow.

Parallelised loops appear as `call`s of a parallel computation; they are
classified by what they call. The classes' sum is below the update's wall
time by the runtime's own overhead (reported as `unattributed`).
"""

import collections
import glob
import gzip
import json
import re
import tempfile
import time
from typing import Callable, Dict, Tuple

import jax

PROFILE_XLA_FLAGS = "--xla_cpu_enable_xprof_traceme=true"
OP_CLASSES = ("conv fwd", "conv bwd", "matmul", "optimizer", "elementwise",
              "other")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (.*)$")
_COMPUTATION = re.compile(r"^(?:ENTRY )?%([\w.\-]+) ")
_ELEMENTWISE = {"fusion", "reduce", "reduce-window", "convert", "add",
                "multiply", "divide", "subtract", "maximum", "exponential",
                "select", "compare", "broadcast", "scatter", "gather",
                "select-and-scatter", "sort", "iota", "log", "rsqrt", "sqrt"}


def _opcode(rest: str) -> str:
  """The opcode of an instruction's text after '= ' (type, then opcode)."""
  if rest.startswith("("):  # A tuple type: skip to its closing parenthesis.
    depth = 0
    for i, char in enumerate(rest):
      depth += {"(": 1, ")": -1}.get(char, 0)
      if depth == 0:
        rest = rest[i + 1:]
        break
  else:
    rest = rest.split(" ", 1)[1]
  return rest.strip().split("(", 1)[0]


def _classify(opcode: str, text: str) -> str:
  if opcode == "convolution":
    forward = "op_name=" in text and "transpose(" not in text
    return "conv fwd" if forward else "conv bwd"
  if opcode == "dot" or "matmul" in text and opcode == "custom-call":
    return "matmul"
  if "optax" in text:
    return "optimizer"
  if opcode in _ELEMENTWISE:
    return "elementwise"
  return "other"


def instruction_classes(hlo_text: str) -> Dict[str, str]:
  """Instruction name -> op class, for an optimised HLO module's text."""
  computations = collections.defaultdict(list)
  current = None
  for line in hlo_text.splitlines():
    match = _COMPUTATION.match(line)
    if match:
      current = match.group(1)
      continue
    match = _INSTRUCTION.match(line)
    if match and current is not None:
      computations[current].append((match.group(1), _opcode(match.group(2)),
                                    match.group(2)))

  def classify(opcode, text, depth=0):
    called = re.search(r"to_apply=%([\w.\-]+)", text)
    if opcode == "call" and called and depth < 3:
      # A parallelised loop: the class of the heaviest thing it calls.
      inner = [classify(o, t, depth + 1)
               for _, o, t in computations[called.group(1)]
               if o not in ("parameter", "constant", "tuple",
                            "get-tuple-element")]
      for op_class in OP_CLASSES:
        if op_class in inner:
          return op_class
      return "other"
    return _classify(opcode, text)

  return {name: classify(opcode, text)
          for instructions in computations.values()
          for name, opcode, text in instructions}


def op_class_times(jitted: Callable, args: Tuple,
                   calls: int = 3) -> Dict[str, float]:
  """Seconds per call of `jitted(*args)` by op class, plus 'wall' and
  'unattributed'. `jitted` must be warm (compiled), and must not donate
  its arguments (they are reused)."""
  classes = instruction_classes(jitted.lower(*args).compile().as_text())
  with tempfile.TemporaryDirectory() as directory:
    with jax.profiler.trace(directory, create_perfetto_trace=True):
      start = time.perf_counter()
      for _ in range(calls):
        out = jitted(*args)
      jax.block_until_ready(out)
      wall = time.perf_counter() - start
    path = glob.glob(f"{directory}/**/perfetto_trace.json.gz",
                     recursive=True)[0]
    with gzip.open(path) as f:
      trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  totals = collections.Counter()
  for event in events:
    op_class = classes.get(event.get("name"))
    if event.get("ph") == "X" and op_class is not None:
      totals[op_class] += event["dur"] * 1e-6 / calls
  result = {op_class: totals[op_class] for op_class in OP_CLASSES}
  result["wall"] = wall / calls
  result["unattributed"] = result["wall"] - sum(totals.values())
  return result
