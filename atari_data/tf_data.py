"""TensorFlow's side of the project's data: its one import for data.

The options of every tf.data pipeline (loader, replay), and TensorFlow kept
off the GPUs. Every module that builds a tf.data pipeline (the loader, the
Acme builder's Reverb replay) imports this one, so the devices are hidden
before any of those pipelines runs.
"""

from absl import logging
import tensorflow as tf


def keep_tensorflow_off_gpus():
  """Hides the GPUs from TensorFlow; JAX has them to itself.

  TensorFlow here only reads, writes and pipes data on the host. A
  GPU-enabled TensorFlow would otherwise reserve most of each GPU's memory
  when it first runs an op, beside JAX's own allocator (`make venv-gpu`
  installs tensorflow-cpu, which sees no GPU; this keeps a swapped-in GPU
  build off them too). Only possible before TensorFlow initialises its
  devices: later, it says so and changes nothing.
  """
  try:
    tf.config.set_visible_devices([], 'GPU')
  except RuntimeError as error:  # TensorFlow's devices already initialised.
    logging.warning('TensorFlow may use the GPUs: %s', error)


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


keep_tensorflow_off_gpus()
