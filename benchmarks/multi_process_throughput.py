r"""Updates/s of one learner over 1 and over N JAX processes, and the bytes
all-reduced per update (issue 27).

    python -m benchmarks.multi_process_throughput            # 1 vs 2, tiny
    python -m benchmarks.multi_process_throughput --processes 1 2 \
        --network-size resnet_tiny --batch-size 32 --steps 100 \
        --json /tmp/multi_process.json

For each process count N, starts N learner processes on this machine (one
CPU device each, gloo collectives, agents.scaled_ql.multi_process), each
with a ScaledQLLearner over the global mesh fed its B/N rows of a synthetic
batch, and times --steps learner steps after --warmup ones (compilation).
A step is what a learner node of the pre-training program does per update
without data loading: the learner's step (batch to the devices, update,
metrics to the host) and the processes' stop agreement
(ProcessGroup.any). updates/s is process 0's.

On one machine the processes share its cores: 2 processes do the work of
1 plus the communication, so the figure shows the overhead, not a
speed-up. The bytes all-reduced per update (counted on the compiled update,
multi_process.all_reduced_bytes) are what a multi-host estimate needs;
--paper-estimate adds the count for the paper's network and batch
(resnet101, 40 games x 18 actions, 51 atoms, batch 256): its gradient bytes
from the parameter shapes (jax.eval_shape, no compilation) plus DR3's
observation bytes (2 x B x 84 x 84 x 4, see docs/MULTI_PROCESS.md).

Run it alone: timings on the shared 2-core machine are otherwise
meaningless. Imports only JAX, Haiku, Optax, NumPy, portpicker and the
standard library.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np

from agents.scaled_ql.config import ScaledQLConfig

OBSERVATION_BYTES = 84 * 84 * 4  # One uint8 stack of 4 frames.
# The paper's multi-game setting, for --paper-estimate.
PAPER_CONFIG = ScaledQLConfig(network_size='resnet101', batch_size=256)
PAPER_NUM_ACTIONS = (18,) * 40
NUM_ACTIONS = (6, 4)  # Two games (Pong's and Breakout's minimal sets).


def _worker(port: int, num_processes: int, process_id: int,
            config: ScaledQLConfig, warmup: int, steps: int) -> None:
  """One learner process: prints a JSON line (process 0 only)."""
  from agents.scaled_ql import multi_process
  multi_process.initialize(multi_process.ProcessSettings(
      num_processes=num_processes, process_id=process_id,
      coordinator_address=f'localhost:{port}'))
  import jax  # pylint: disable=g-import-not-at-top
  from agents.scaled_ql import update_step as update_lib
  from agents.scaled_ql.learning import ScaledQLLearner
  from agents.scaled_ql.networks import make_network
  from agents.scaled_ql.types import MultiGameTransition

  rows = config.batch_size // num_processes
  rng = np.random.default_rng(process_id)
  game_id = rng.integers(0, len(NUM_ACTIONS), rows).astype(np.int32)
  batch = MultiGameTransition(
      observation=rng.integers(0, 256, (rows, 84, 84, 4), np.uint8),
      action=(rng.integers(0, 4, rows) % np.asarray(NUM_ACTIONS)[game_id]
              ).astype(np.int32),
      reward=rng.uniform(-1, 1, rows).astype(np.float32),
      discount=np.full(rows, 0.99, np.float32),
      next_observation=rng.integers(0, 256, (rows, 84, 84, 4), np.uint8),
      game_id=game_id)
  network = make_network(config, NUM_ACTIONS)
  learner = ScaledQLLearner(network, config, iter(lambda: batch, None),
                            jax.random.PRNGKey(0))
  processes = multi_process.ProcessGroup()

  def step():
    learner.step()
    processes.any(False)

  for _ in range(warmup):
    step()
  start = time.perf_counter()
  for _ in range(steps):
    step()
  elapsed = time.perf_counter() - start
  # The same update compiled again, for its collectives (no all-reduce
  # with one device).
  compiled = update_lib.compile_update_step(
      update_lib.make_update_step(network, config))
  state = compiled.put_state(learner.save())
  hlo = compiled.update.lower(state, compiled.put_batch(batch)).compile(
  ).as_text()
  if processes.is_chief:
    print(json.dumps({
        'processes': num_processes,
        'devices': compiled.num_devices,
        'updates_per_second': steps / elapsed,
        'steps': steps,
        'all_reduced_bytes': multi_process.all_reduced_bytes(hlo),
        'parameter_bytes': int(sum(
            leaf.size * leaf.dtype.itemsize
            for leaf in jax.tree_util.tree_leaves(learner.save().params))),
    }), flush=True)


def measure(num_processes: int, config: ScaledQLConfig, warmup: int,
            steps: int, timeout_s: float) -> dict:
  """Runs `num_processes` workers to the end; process 0's JSON result."""
  import portpicker  # pylint: disable=g-import-not-at-top
  port = portpicker.pick_unused_port()
  env = {**{k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'},
         'JAX_PLATFORMS': os.environ.get('JAX_PLATFORMS', 'cpu')}
  workers = [subprocess.Popen(
      [sys.executable, '-m', 'benchmarks.multi_process_throughput',
       '--worker', str(port), str(num_processes), str(process_id),
       '--network-size', config.network_size,
       '--batch-size', str(config.batch_size), '--warmup', str(warmup),
       '--steps', str(steps)],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for process_id in range(num_processes)]
  try:
    outputs = [worker.communicate(timeout=timeout_s) for worker in workers]
  finally:
    for worker in workers:
      if worker.poll() is None:
        worker.kill()
        worker.wait()
  for worker, (_, stderr) in zip(workers, outputs):
    if worker.returncode != 0:
      raise RuntimeError(f'a learner process of {num_processes} failed '
                         f'(exit status {worker.returncode}):\n'
                         f'{stderr[-3000:]}')
  return json.loads(outputs[0][0].strip().splitlines()[-1])


def paper_estimate() -> dict:
  """Bytes all-reduced per update for the paper's network and batch."""
  import jax  # pylint: disable=g-import-not-at-top
  from agents.scaled_ql.networks import make_network
  network = make_network(PAPER_CONFIG, PAPER_NUM_ACTIONS)
  shapes = jax.eval_shape(network.init, jax.random.PRNGKey(0))
  parameters = int(sum(np.prod(leaf.shape)
                       for leaf in jax.tree_util.tree_leaves(shapes)))
  observations = (2 * PAPER_CONFIG.batch_size * OBSERVATION_BYTES
                  if PAPER_CONFIG.dr3_coefficient else 0)
  return {'network_size': PAPER_CONFIG.network_size,
          'games': len(PAPER_NUM_ACTIONS),
          'batch_size': PAPER_CONFIG.batch_size,
          'parameters': parameters,
          'gradient_bytes': 4 * parameters,
          'dr3_observation_bytes': observations,
          'all_reduced_bytes': 4 * parameters + observations}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--processes', type=int, nargs='+', default=[1, 2])
  parser.add_argument('--network-size', default='resnet_tiny')
  parser.add_argument('--batch-size', type=int, default=32,
                      help='global batch, split over the processes')
  parser.add_argument('--warmup', type=int, default=3,
                      help='untimed steps first (the first compiles)')
  parser.add_argument('--steps', type=int, default=100)
  parser.add_argument('--timeout', type=float, default=1800,
                      help='seconds for one process count, compilation '
                      'included')
  parser.add_argument('--paper-estimate', action='store_true')
  parser.add_argument('--json', help='also write the results here')
  parser.add_argument('--worker', nargs=3, type=int,
                      metavar=('PORT', 'NUM_PROCESSES', 'PROCESS_ID'),
                      help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  for name in ('batch_size', 'warmup', 'steps'):
    if getattr(args, name) < (0 if name == 'warmup' else 1):
      parser.error(f'--{name.replace("_", "-")}={getattr(args, name)} must be '
                   f'>= {0 if name == "warmup" else 1}')
  for count in args.processes:
    if count < 1 or args.batch_size % count:
      parser.error(f'--processes {count}: each count must be >= 1 and divide '
                   f'--batch-size={args.batch_size}')
  config = dataclasses.replace(ScaledQLConfig(), network_size=args.network_size,
                               batch_size=args.batch_size)
  if args.worker:
    _worker(*args.worker, config, args.warmup, args.steps)
    return
  results = {'network_size': args.network_size, 'batch_size': args.batch_size,
             'cpu_cores': os.cpu_count(), 'runs': []}
  for count in args.processes:
    result = measure(count, config, args.warmup, args.steps, args.timeout)
    results['runs'].append(result)
    print(f'{count} learner process(es), {result["devices"]} device(s): '
          f'{result["updates_per_second"]:.2f} updates/s; all-reduced per '
          f'update: {result["all_reduced_bytes"]:,} bytes (parameters: '
          f'{result["parameter_bytes"]:,} bytes)', flush=True)
  if args.paper_estimate:
    results['paper'] = paper_estimate()
    paper = results['paper']
    print(f'paper ({paper["network_size"]}, {paper["games"]} games, batch '
          f'{paper["batch_size"]}): {paper["parameters"]:,} parameters; '
          f'{paper["all_reduced_bytes"]:,} bytes all-reduced per update '
          f'({paper["gradient_bytes"]:,} gradient + '
          f'{paper["dr3_observation_bytes"]:,} DR3 observations)')
  if args.json:
    from benchmarks import results as results_lib  # pylint: disable=g-import-not-at-top
    results_lib.write_json_atomically(args.json, results)


if __name__ == '__main__':
  main()
