"""Our update against d3rlpy 2.8.1's DiscreteCQL.update, side by side.

    .venv/bin/python -m benchmarks.versus_d3rlpy [--rounds 3]
        [--seconds-per-round 4] [--batch-sizes 32 256] [--json PATH]

Same architecture (Nature-DQN convolutions + a 512-unit layer, one game,
6 actions), same batch of 84x84x4 uint8 frames built beforehand and read by
every process, on the CPU with the same number of threads (PyTorch:
torch.set_num_threads(--threads); JAX: XLA's CPU pool, one thread per core;
--threads defaults to the core count). Each round runs, at each batch size
and each in a fresh process, d3rlpy and our three updates:

  equal_work: our discrete CQL on a scalar Q head, computed as d3rlpy's
    DiscreteCQL computes it (value_loss='huber', double_q=True, cql_alpha
    = --alpha, no DR3, Adam with d3rlpy's learning rate and eps 1e-8, the
    same target-update interval). Differences left: our 512-unit layer has
    no ReLU and its output is L2-normalised (the project's feature
    normalisation), and our optimiser clips the global gradient norm (at
    10; one norm over 1.7M parameters).
  c51_cql: our C51 + CQL (no DR3), ScaledQLConfig's other defaults.
  scaled_ql: the full Scaled QL update (C51 + CQL + DR3), the defaults.

d3rlpy runs in its own virtual environment (not the project's .venv, not in
its lock): created on first use under --venv with python3.11 and
`pip install torch==2.13.0 d3rlpy==2.8.1` (a few minutes; PyPI, or a local
wheel directory pip is configured with). d3rlpy's update() takes float32
channel-first frames (it converts them to tensors and divides by 255 on
every call); ours takes the uint8 frames already on the device. Our
processes use the project's malloc settings (agents.scaled_ql.host_memory);
d3rlpy runs with glibc's defaults (the reference of the ratios) and, as
d3rlpy_malloc, with the same settings.

Prints updates/s (median, min, max over rounds) per case and batch size and
the ratios ours / d3rlpy of the medians, the load average at the start and
the end, and writes all of it to --json atomically.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from agents.scaled_ql import host_memory
from benchmarks import results as results_lib

DEFAULT_VENV = os.path.expanduser("~/.cache/scaled_ql_bench/d3rlpy-venv")
D3RLPY_REQUIREMENTS = ("torch==2.13.0", "d3rlpy==2.8.1")
NUM_ACTIONS = 6
# d3rlpy DiscreteCQLConfig's defaults (d3rlpy/algos/qlearning/cql.py, 2.8.1).
D3RLPY_LEARNING_RATE = 6.25e-5
D3RLPY_ALPHA = 1.0
D3RLPY_TARGET_UPDATE_INTERVAL = 8000
D3RLPY_ADAM_EPS = 1e-8
OUR_CASES = ("equal_work", "c51_cql", "scaled_ql")
# d3rlpy as installed (glibc's malloc defaults: the reference of the ratios),
# and with the malloc settings our processes use (host_memory), so that the
# allocator's share of a ratio shows.
D3RLPY_CASES = {"d3rlpy": {}, "d3rlpy_malloc": host_memory.environment()}
CASES = tuple(D3RLPY_CASES) + OUR_CASES
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_d3rlpy_venv(venv: str, python: str = "python3.11") -> str:
  """The d3rlpy venv's python, building the venv first if it is missing.

  Built in a sibling directory and renamed into place, so a failed or
  interrupted build never leaves a half-installed venv at `venv`.
  """
  venv_python = os.path.join(venv, "bin", "python")
  if os.path.exists(venv_python):
    return venv_python
  if shutil.which(python) is None:
    raise RuntimeError(f"{python} not found: it is needed to build the "
                       f"d3rlpy virtual environment at {venv}")
  os.makedirs(os.path.dirname(venv), exist_ok=True)
  building = tempfile.mkdtemp(prefix=".building-", dir=os.path.dirname(venv))
  print(f"building {venv} ({', '.join(D3RLPY_REQUIREMENTS)}) ...",
        flush=True)
  subprocess.run([python, "-m", "venv", building], check=True)
  install = subprocess.run(
      [os.path.join(building, "bin", "pip"), "install", "--quiet",
       *D3RLPY_REQUIREMENTS], capture_output=True, text=True)
  if install.returncode != 0:
    shutil.rmtree(building, ignore_errors=True)
    raise RuntimeError(f"pip install {' '.join(D3RLPY_REQUIREMENTS)} failed:"
                       f"\n{install.stdout}\n{install.stderr}")
  # Only bin/python (a link to the interpreter) is used after the rename;
  # pip's scripts keep the building directory in their first line.
  os.rename(building, venv)
  return venv_python


def write_batch(path: str, batch_size: int, seed: int = 0):
  """One batch of random frames and transitions (8% terminal), as .npz."""
  rng = np.random.default_rng(seed)
  frames = lambda: rng.integers(0, 256, (batch_size, 84, 84, 4), np.uint8)
  np.savez(path, observation=frames(), next_observation=frames(),
           action=rng.integers(0, NUM_ACTIONS, batch_size).astype(np.int32),
           reward=rng.uniform(-1, 1, batch_size).astype(np.float32),
           discount=np.where(rng.uniform(size=batch_size) < 0.92, 0.99,
                             0.0).astype(np.float32),
           num_actions=NUM_ACTIONS)


def our_config(case: str, batch_size: int, alpha: float):
  """The ScaledQLConfig of one of OUR_CASES."""
  from agents.scaled_ql.config import ScaledQLConfig  # pylint: disable=g-import-not-at-top
  common = dict(network_size="nature_dqn", feature_dim=512,
                batch_size=batch_size)
  if case == "equal_work":
    return ScaledQLConfig(
        value_loss="huber", double_q=True, cql_alpha=alpha,
        dr3_coefficient=0.0, learning_rate=D3RLPY_LEARNING_RATE,
        adam_eps=D3RLPY_ADAM_EPS,
        target_update_period=D3RLPY_TARGET_UPDATE_INTERVAL, **common)
  if case == "c51_cql":
    return ScaledQLConfig(dr3_coefficient=0.0, **common)
  if case == "scaled_ql":
    return ScaledQLConfig(**common)
  raise ValueError(f"case={case!r}; valid: {OUR_CASES}")


def time_ours(case: str, batch_path: str, seconds: float,
              alpha: float) -> dict:
  """Updates/s of our jitted update on the batch, in this process."""
  host_memory.reuse_freed_memory()  # As the project's command lines do.
  import jax  # pylint: disable=g-import-not-at-top
  from agents.scaled_ql import update_step as update_lib  # pylint: disable=g-import-not-at-top
  from agents.scaled_ql.networks import make_network  # pylint: disable=g-import-not-at-top
  from agents.scaled_ql.types import MultiGameTransition  # pylint: disable=g-import-not-at-top

  data = np.load(batch_path)
  batch_size = data["action"].shape[0]
  config = our_config(case, batch_size, alpha)
  network = make_network(config, [int(data["num_actions"])])
  compiled = update_lib.compile_update_step(
      update_lib.make_update_step(network, config), donate_state=True)
  state = compiled.put_state(
      update_lib.make_initial_state(network, config, jax.random.PRNGKey(0)))
  batch = compiled.put_batch(MultiGameTransition(
      observation=data["observation"], action=data["action"],
      reward=data["reward"], discount=data["discount"],
      next_observation=data["next_observation"],
      game_id=np.zeros(batch_size, np.int32)))
  state, metrics = compiled.update(state, batch)  # Compilation, warm-up.
  jax.block_until_ready(metrics)
  updates, start = 0, time.perf_counter()
  while updates < 2 or time.perf_counter() - start < seconds:
    state, metrics = compiled.update(state, batch)
    updates += 1
  jax.block_until_ready((state, metrics))
  elapsed = time.perf_counter() - start
  return {"updates_per_s": updates / elapsed, "updates": updates,
          "jax": jax.__version__, "devices": jax.local_device_count()}


def _run(command, env=None) -> dict:
  out = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT,
                       env=env)
  if out.returncode != 0:
    raise RuntimeError(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(rates):
  return {"median": statistics.median(rates), "min": min(rates),
          "max": max(rates), "rounds": rates}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--seconds-per-round", type=float, default=4.0,
                      help="timed seconds per process (after warm-up)")
  parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
  parser.add_argument("--threads", type=int, default=os.cpu_count(),
                      help="torch.set_num_threads for d3rlpy")
  parser.add_argument("--alpha", type=float, default=D3RLPY_ALPHA,
                      help="CQL weight of d3rlpy and of equal_work")
  parser.add_argument("--venv", default=DEFAULT_VENV)
  parser.add_argument("--json", default="versus_d3rlpy.json")
  parser.add_argument("--worker", choices=OUR_CASES,
                      help="internal: time one of our cases in this process")
  parser.add_argument("--batch-file", help="internal: the worker's batch")
  args = parser.parse_args()

  if args.worker:
    print(json.dumps(time_ours(args.worker, args.batch_file,
                               args.seconds_per_round, args.alpha)))
    return

  start_load = os.getloadavg()
  print(f"load average at start: {start_load}", flush=True)
  d3rlpy_python = ensure_d3rlpy_venv(args.venv)
  print(f"d3rlpy: {d3rlpy_python}; torch.set_num_threads({args.threads}); "
        f"ours: JAX CPU on {os.cpu_count()} cores", flush=True)
  rates = {(name, b): [] for b in args.batch_sizes
           for name in CASES}
  versions = {}
  with tempfile.TemporaryDirectory() as directory:
    paths = {}
    for batch_size in args.batch_sizes:
      paths[batch_size] = os.path.join(directory, f"batch_{batch_size}.npz")
      write_batch(paths[batch_size], batch_size)
    for round_index in range(args.rounds):
      for batch_size in args.batch_sizes:
        for name, env in D3RLPY_CASES.items():
          result = _run([
              d3rlpy_python, "-m", "benchmarks.d3rlpy_worker",
              paths[batch_size], str(args.seconds_per_round),
              str(args.threads), str(args.alpha), str(D3RLPY_LEARNING_RATE),
              str(D3RLPY_TARGET_UPDATE_INTERVAL)], env={**os.environ, **env})
          versions.update(d3rlpy=result["d3rlpy"], torch=result["torch"],
                          torch_threads=result["threads"])
          rates[(name, batch_size)].append(result["updates_per_s"])
        for case in OUR_CASES:
          result = _run([
              sys.executable, "-m", "benchmarks.versus_d3rlpy", "--worker",
              case, "--batch-file", paths[batch_size], "--seconds-per-round",
              str(args.seconds_per_round), "--alpha", str(args.alpha)])
          versions.update(jax=result["jax"])
          rates[(case, batch_size)].append(result["updates_per_s"])
        line = ", ".join(f"{name} {rates[(name, batch_size)][-1]:.2f}"
                         for name in CASES)
        print(f"round {round_index + 1}/{args.rounds} batch {batch_size}: "
              f"{line} updates/s (load {os.getloadavg()[0]:.2f})", flush=True)

  end_load = os.getloadavg()
  report = {"command": " ".join(sys.argv), "versions": versions,
            "threads": args.threads, "alpha": args.alpha,
            "seconds_per_round": args.seconds_per_round,
            "load_average_start": start_load, "load_average_end": end_load,
            "results": []}
  print(f"\n{'case':<13} {'batch':>5} {'median':>8} {'min':>8} {'max':>8} "
        f"{'ours/d3rlpy':>12}")
  for batch_size in args.batch_sizes:
    reference = statistics.median(rates[("d3rlpy", batch_size)])
    for name in CASES:
      summary = _summary(rates[(name, batch_size)])
      ratio = summary["median"] / reference
      report["results"].append({"case": name, "batch_size": batch_size,
                                "updates_per_s": summary,
                                "ratio_to_d3rlpy": ratio})
      print(f"{name:<13} {batch_size:>5} {summary['median']:8.2f} "
            f"{summary['min']:8.2f} {summary['max']:8.2f} {ratio:12.2f}")
  print(f"load average at end: {end_load}")
  results_lib.write_json_atomically(args.json, report)
  print(f"wrote {args.json}")


if __name__ == "__main__":
  main()
