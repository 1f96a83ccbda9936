"""One timing of d3rlpy's DiscreteCQL.update, for benchmarks.versus_d3rlpy.

Runs in the d3rlpy virtual environment (PyTorch CPU, d3rlpy 2.8.1), never in
the project's: it imports only NumPy, PyTorch, d3rlpy and the standard
library. Prints one JSON line: {"updates_per_s": ..., "updates": ...}.

    python -m benchmarks.d3rlpy_worker BATCH.npz SECONDS THREADS ALPHA LR \\
        TARGET_UPDATE_INTERVAL
"""

import json
import sys
import time

import numpy as np


def main():
  path, seconds, threads, alpha, learning_rate, target_interval = sys.argv[1:]
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(int(threads))
  import d3rlpy  # pylint: disable=g-import-not-at-top

  data = np.load(path)
  batch_size = data["action"].shape[0]
  num_actions = int(data["num_actions"])
  # d3rlpy's images are channel-first float32 frames in [0, 255]; its
  # PixelObservationScaler divides by 255 inside update().
  to_d3rlpy = lambda frames: np.ascontiguousarray(
      frames.transpose(0, 3, 1, 2)).astype(np.float32)
  column = lambda x: x.astype(np.float32).reshape(-1, 1)
  terminal = (data["discount"] == 0).astype(np.float32)
  batch = d3rlpy.dataset.TransitionMiniBatch(
      observations=to_d3rlpy(data["observation"]),
      actions=column(data["action"]),
      rewards=column(data["reward"]),
      next_observations=to_d3rlpy(data["next_observation"]),
      next_actions=column(data["action"]),
      terminals=column(terminal),
      intervals=np.ones((batch_size, 1), np.float32),
      transitions=[])
  algo = d3rlpy.algos.DiscreteCQLConfig(
      batch_size=batch_size, alpha=float(alpha),
      learning_rate=float(learning_rate),
      target_update_interval=int(target_interval),
      observation_scaler=d3rlpy.preprocessing.PixelObservationScaler(),
  ).create(device="cpu:0")
  algo.create_impl((4, 84, 84), num_actions)
  algo.update(batch)  # Warm-up.
  updates, start = 0, time.perf_counter()
  while updates < 2 or time.perf_counter() - start < float(seconds):
    algo.update(batch)
    updates += 1
  elapsed = time.perf_counter() - start
  print(json.dumps({"updates_per_s": updates / elapsed, "updates": updates,
                    "threads": torch.get_num_threads(),
                    "d3rlpy": d3rlpy.__version__,
                    "torch": torch.__version__}))


if __name__ == "__main__":
  main()
