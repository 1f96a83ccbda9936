"""The options of every tf.data pipeline of the project (loader, replay)."""

import tensorflow as tf


def pipeline_options() -> tf.data.Options:
  """Deterministic element order, and no autotuning.

  The pipelines fix their parallelism and buffer sizes, so autotuning has
  nothing to tune; but its model thread makes releasing an iterator wait
  (idle) until the thread's next wake-up, an interval that grows to 60 s in
  a long run (TF 2.8). Measured on the loader's sampler after 60 s idle:
  close 21.3 s with autotuning, 0.02 s without; a pre-training program
  spent up to 110 s of its exit there (BENCHMARKS.md, "The exit after
  training").
  """
  options = tf.data.Options()
  options.deterministic = True
  options.autotune.enabled = False
  return options
