"""Learner throughput: updates/s, samples/s, memory and FLOPs per update.

    python -m benchmarks.learner_throughput                 # default grid
    python -m benchmarks.learner_throughput --sizes resnet101 \\
        --batch-sizes 256 512 --dtype bfloat16              # on a GPU

Measures the jitted update step alone (agents.scaled_ql.update_step) on a
synthetic batch already on the device(s): no data loading. Each
(size, batch) runs in its own subprocess so that peak memory is its own.
For each: the model FLOPs of one update (the matmuls and convolutions of
its forward and backward passes, counted on the jaxpr on any backend; see
_model_flops); updates/s as the median over --runs
timed runs after compilation and one warm-up update; peak memory (the
device allocator's peak where it reports one, e.g. GPU; else the process'
peak RSS) and XLA's own estimate (arguments + temporaries); and model FLOP
utilisation against --peak-tflops when given.

--value-loss, --dr3-coefficient, --cql-alpha and --double-q choose the
update's mathematics (default: ScaledQLConfig's C51 + CQL + DR3). --profile
adds the CPU time per op class of one update (benchmarks.xla_cpu_profile).
The processes use the project's malloc settings (agents.scaled_ql.
host_memory), as its command lines do; --malloc=glibc measures with glibc's
defaults instead. Each row also gives the minor page faults per timed
update (buffers the update touches for the first time).

The default CPU grid took 30 minutes on 2 shared cores, most of it compiling
resnet50 and resnet101 (up to 10 minutes each); pass --sizes to skip them.

Imports only JAX, Haiku, Optax, chex, NumPy and the standard library, so it
runs on a machine without TensorFlow, Reverb, Launchpad or Acme.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import jax
import numpy as np

from agents.scaled_ql import host_memory
from agents.scaled_ql import update_step as update_lib
from agents.scaled_ql.config import VALUE_LOSSES, ScaledQLConfig
from agents.scaled_ql.networks import make_network
from agents.scaled_ql.types import MultiGameTransition
from benchmarks import model_flops
from benchmarks import results as results_lib
from benchmarks import xla_cpu_profile
from networks import torsos

# Sizes and batches measured by default on a CPU: every size at batch 8 and
# 32, and the two demo-sized networks also at 128.
CPU_GRID = [(name, batch) for name in torsos.TORSO_NAMES for batch in (8, 32)
           ] + [("nature_dqn", 128), ("resnet_tiny", 128)]
# On an accelerator: the paper's largest network at growing batches.
ACCELERATOR_GRID = [("resnet101", batch) for batch in (128, 256, 512)]
# NVIDIA's dense (no sparsity) bf16 tensor-core peak of the H100/H200 SXM.
HOPPER_DENSE_BF16_TFLOPS = 989.0
MALLOC_CHOICES = ("project", "glibc")


def _synthetic_batch(batch_size, num_games, num_actions, seed=0):
  rng = np.random.default_rng(seed)
  frames = lambda: rng.integers(0, 256, (batch_size, 84, 84, 4), np.uint8)
  return MultiGameTransition(
      observation=frames(),
      action=rng.integers(0, num_actions, batch_size).astype(np.int32),
      reward=rng.uniform(-1, 1, batch_size).astype(np.float32),
      discount=np.full(batch_size, 0.99, np.float32),
      next_observation=frames(),
      game_id=rng.integers(0, num_games, batch_size).astype(np.int32))


def _model_flops(config, batch_size, num_actions):
  """Model FLOPs of one update (benchmarks.model_flops), from its jaxpr.

  Counted for a one-game network of the same size: with G games the heads'
  one-hot matmul does G times the useful work of one head per example, and
  that padding is not model FLOPs.
  """
  network = make_network(config, [num_actions])
  state = jax.eval_shape(
      lambda key: update_lib.make_initial_state(network, config, key),
      jax.random.PRNGKey(0))
  batch = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
      _synthetic_batch(batch_size, 1, num_actions))
  return model_flops.model_flops(
      update_lib.make_update_step(network, config), state, batch)


def measure(size, batch_size, num_games, num_actions, dtype, runs,
            seconds_per_run, peak_tflops, loss_options=None, profile=False):
  """Benchmarks one configuration in this process; returns a dict.

  loss_options: ScaledQLConfig fields of the update's mathematics
  (value_loss, dr3_coefficient, cql_alpha, double_q); profile: add the
  time per op class (needs xla_cpu_profile.PROFILE_XLA_FLAGS in XLA_FLAGS).
  """
  config = ScaledQLConfig(network_size=size, batch_size=batch_size,
                          compute_dtype=dtype, **(loss_options or {}))
  network = make_network(config, [num_actions] * num_games)
  compiled = update_lib.compile_update_step(
      update_lib.make_update_step(network, config), donate_state=True)
  state = compiled.put_state(
      update_lib.make_initial_state(network, config, jax.random.PRNGKey(0)))
  batch = compiled.put_batch(
      _synthetic_batch(batch_size, num_games, num_actions))

  start = time.perf_counter()
  executable = compiled.update.lower(state, batch).compile()
  compile_seconds = time.perf_counter() - start
  flops = _model_flops(config, batch_size, num_actions)
  memory = executable.memory_analysis()
  xla_bytes = (memory.argument_size_in_bytes + memory.temp_size_in_bytes
               if memory is not None else None)

  state, metrics = compiled.update(state, batch)  # Warm-up.
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  state, metrics = compiled.update(state, batch)
  jax.block_until_ready(metrics)
  steps_per_run = max(1, int(seconds_per_run / (time.perf_counter() - start)))
  rates = []
  faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  for _ in range(runs):
    start = time.perf_counter()
    for _ in range(steps_per_run):
      state, metrics = compiled.update(state, batch)
    jax.block_until_ready((state, metrics))
    rates.append(steps_per_run / (time.perf_counter() - start))
  faults_per_update = ((resource.getrusage(resource.RUSAGE_SELF).ru_minflt -
                        faults_before) / (runs * steps_per_run))
  updates_per_second = statistics.median(rates)
  op_classes = None
  if profile:
    # Undonated, so that the profiled calls can reuse their inputs.
    undonated = jax.jit(update_lib.make_update_step(network, config))
    jax.block_until_ready(undonated(state, batch))
    op_classes = xla_cpu_profile.op_class_times(undonated, (state, batch))

  device_stats = jax.local_devices()[0].memory_stats() or {}
  result = {
      "size": size,
      "batch_size": batch_size,
      "dtype": dtype,
      "num_games": num_games,
      "devices": f"{compiled.num_devices} x {jax.local_devices()[0].device_kind}",
      "updates_per_s": updates_per_second,
      "samples_per_s": updates_per_second * batch_size,
      "runs": [round(r, 3) for r in rates],
      "steps_per_run": steps_per_run,
      "page_faults_per_update": faults_per_update,
      "gflops_per_update": flops / 1e9,
      "compile_s": compile_seconds,
      "xla_memory_gib": xla_bytes / 2**30 if xla_bytes is not None else None,
      "loss_finite": bool(np.isfinite(float(metrics["total_loss"]))),
      "loss_options": loss_options or {},
      "load_average": os.getloadavg(),
  }
  if op_classes is not None:
    result["op_class_s"] = op_classes
  if "peak_bytes_in_use" in device_stats:
    result["peak_memory_gib"] = device_stats["peak_bytes_in_use"] / 2**30
    result["peak_memory_kind"] = "device allocator peak"
  else:
    result["peak_memory_gib"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    result["peak_memory_kind"] = "process max RSS"
  if peak_tflops:
    result["mfu"] = (flops * updates_per_second /
                     (peak_tflops * 1e12 * compiled.num_devices))
  return result


def _run_in_subprocess(size, batch_size, args):
  command = [
      sys.executable, "-m", "benchmarks.learner_throughput", "--one",
      "--sizes", size, "--batch-sizes", str(batch_size), "--dtype",
      args.dtype, "--num-games", str(args.num_games), "--num-actions",
      str(args.num_actions), "--runs", str(args.runs), "--seconds-per-run",
      str(args.seconds_per_run), "--peak-tflops", str(args.peak_tflops),
      "--value-loss", args.value_loss, "--cql-alpha", str(args.cql_alpha),
      "--dr3-coefficient", str(args.dr3_coefficient), "--malloc",
      args.malloc
  ] + (["--double-q"] if args.double_q else []) + (
      ["--profile"] if args.profile else [])
  env = dict(os.environ)
  if args.malloc == "glibc":  # Not even settings inherited from a parent.
    for variable in host_memory.SETTINGS:
      env.pop(variable, None)
  if args.profile:
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " +
                        xla_cpu_profile.PROFILE_XLA_FLAGS).strip()
  out = subprocess.run(command, capture_output=True, text=True, env=env)
  if out.returncode != 0:
    return {"size": size, "batch_size": batch_size,
            "error": out.stderr.strip().splitlines()[-1]}
  return json.loads(out.stdout.strip().splitlines()[-1])


def _print_row(r):
  if "error" in r:
    print(f"{r['size']:<12} {r['batch_size']:>5}  FAILED: {r['error']}")
    return
  mfu = f"{100 * r['mfu']:5.1f}%" if "mfu" in r else "     -"
  xla = (f"{r['xla_memory_gib']:8.2f}" if r["xla_memory_gib"] is not None
         else "       -")
  print(f"{r['size']:<12} {r['batch_size']:>5} {r['updates_per_s']:9.2f} "
        f"{r['samples_per_s']:10.1f} {r['gflops_per_update']:10.1f} "
        f"{r['peak_memory_gib']:9.2f} {xla} {mfu} {r['compile_s']:8.1f} "
        f"{r['page_faults_per_update']:9.0f}",
        flush=True)
  if "op_class_s" in r:
    print("    ms per update: " + ", ".join(
        f"{name} {1000 * seconds:.1f}"
        for name, seconds in r["op_class_s"].items()), flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", nargs="+", choices=torsos.TORSO_NAMES)
  parser.add_argument("--batch-sizes", nargs="+", type=int)
  parser.add_argument("--dtype", choices=["float32", "bfloat16"],
                      help="default: float32 on CPU, bfloat16 elsewhere")
  parser.add_argument("--num-games", type=int, default=40)
  parser.add_argument("--num-actions", type=int, default=18)
  parser.add_argument("--runs", type=int, default=5)
  parser.add_argument("--seconds-per-run", type=float, default=2.0)
  parser.add_argument("--peak-tflops", type=float,
                      help="per-device peak for MFU; default 989 (dense "
                      "bf16) on H100/H200 in bfloat16, else none")
  defaults = ScaledQLConfig()
  parser.add_argument("--value-loss", choices=VALUE_LOSSES,
                      default=defaults.value_loss)
  parser.add_argument("--cql-alpha", type=float, default=defaults.cql_alpha)
  parser.add_argument("--dr3-coefficient", type=float,
                      default=defaults.dr3_coefficient)
  parser.add_argument("--double-q", action="store_true",
                      default=defaults.double_q)
  parser.add_argument("--profile", action="store_true",
                      help="also time one update per op class (CPU)")
  parser.add_argument("--malloc", choices=MALLOC_CHOICES, default="project",
                      help="project: agents.scaled_ql.host_memory's settings "
                      "(as the command lines); glibc: glibc's defaults")
  parser.add_argument("--json", help="also write all results here")
  parser.add_argument("--one", action="store_true",
                      help="internal: measure one config in this process")
  args = parser.parse_args()

  if args.malloc == "project":
    # As the project's command lines do, before JAX starts its threads.
    host_memory.reuse_freed_memory()
  device = jax.local_devices()[0]
  on_cpu = jax.default_backend() == "cpu"
  if args.dtype is None:
    args.dtype = "float32" if on_cpu else "bfloat16"
  if args.peak_tflops is None:
    hopper = any(name in device.device_kind for name in ("H100", "H200"))
    args.peak_tflops = (HOPPER_DENSE_BF16_TFLOPS
                        if hopper and args.dtype == "bfloat16" else 0.0)

  loss_options = dict(value_loss=args.value_loss, cql_alpha=args.cql_alpha,
                      dr3_coefficient=args.dr3_coefficient,
                      double_q=args.double_q)
  if args.one:
    print(json.dumps(measure(args.sizes[0], args.batch_sizes[0],
                             args.num_games, args.num_actions, args.dtype,
                             args.runs, args.seconds_per_run,
                             args.peak_tflops, loss_options, args.profile)))
    return

  if args.sizes or args.batch_sizes:
    grid = [(size, batch) for size in (args.sizes or torsos.TORSO_NAMES)
            for batch in (args.batch_sizes or (8, 32))]
  else:
    grid = CPU_GRID if on_cpu else ACCELERATOR_GRID
  print(f"{jax.local_device_count()} x {device.device_kind} "
        f"({jax.default_backend()}), jax {jax.__version__}, {args.dtype}, "
        f"{args.num_games} games x {args.num_actions} actions, median of "
        f"{args.runs} runs of ~{args.seconds_per_run}s, MFU peak "
        f"{args.peak_tflops or '-'} TFLOP/s, {loss_options}, malloc "
        f"{args.malloc}, load average "
        f"{os.getloadavg()}")
  print(f"{'size':<12} {'batch':>5} {'updates/s':>9} {'samples/s':>10} "
        f"{'GFLOP/upd':>10} {'peak GiB':>9} {'XLA GiB':>8} {'MFU':>6} "
        f"{'compile':>8} {'faults/upd':>9}")
  results = []
  for size, batch in grid:
    results.append(_run_in_subprocess(size, batch, args))
    _print_row(results[-1])
  kinds = {r.get("peak_memory_kind") for r in results} - {None}
  print(f"peak GiB: {', '.join(sorted(kinds))}; XLA GiB: the executable's "
        "arguments + temporaries; compile in seconds")
  print(f"load average at the end: {os.getloadavg()}")
  if args.json:
    results_lib.write_json_atomically(args.json, results)


if __name__ == "__main__":
  main()
