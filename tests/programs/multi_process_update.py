"""One learner process of a multi-process ScaledQLLearner (test worker).

Joins NUM_PROCESSES learner processes at localhost:PORT as PROCESS_ID, trains
the tiny network for NUM_STEPS updates on the global batches
tests.test_multi_process_learner.global_batch(step), feeding this process's
rows only, and writes OUTPUT (npz): the final parameters and target
parameters (flattened leaves), the step count and every step's metrics.

Process 1 is given another random key than process 0 on purpose: the
learner must start every process from process 0's parameters.

Usage: python tests/programs/multi_process_update.py PORT NUM_PROCESSES \
           PROCESS_ID NUM_STEPS OUTPUT
"""

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path[:0] = [REPO_ROOT, os.path.join(REPO_ROOT, 'tests')]

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from agents.scaled_ql import multi_process  # pylint: disable=g-import-not-at-top


def main(port, num_processes, process_id, num_steps, output):
  multi_process.initialize(multi_process.ProcessSettings(
      num_processes=num_processes, process_id=process_id,
      coordinator_address=f'localhost:{port}', initialization_timeout_s=60))
  # After initialize: nothing before it may compute with JAX.
  from agents.scaled_ql.learning import ScaledQLLearner
  from agents.scaled_ql.networks import make_network
  from tests.test_multi_process_learner import (CONFIG, NUM_ACTIONS,
                                                RecordingLogger, local_rows)
  batches = (local_rows(step, process_id, num_processes)
             for step in range(num_steps))
  logger = RecordingLogger()
  learner = ScaledQLLearner(make_network(CONFIG, NUM_ACTIONS), CONFIG, batches,
                            jax.random.PRNGKey(process_id), logger=logger)
  learner.run(num_steps)
  state = learner.save()
  arrays = {f'params_{i}': leaf for i, leaf in
            enumerate(jax.tree_util.tree_leaves(state.params))}
  arrays.update({f'target_{i}': leaf for i, leaf in
                 enumerate(jax.tree_util.tree_leaves(state.target_params))})
  for key in logger.records[0]:
    arrays[f'metric_{key}'] = np.asarray([r[key] for r in logger.records])
  arrays['steps'] = np.asarray(state.steps)
  arrays['process_count'] = np.asarray(jax.process_count())
  np.savez(output, **arrays)


if __name__ == '__main__':
  main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
       int(sys.argv[4]), sys.argv[5])
