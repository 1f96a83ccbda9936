"""One learner, several JAX processes: JAX's multi-controller runtime.

Each learner process (one per host, or several on one host) runs the same
Python program with its own local devices. `initialize` connects it to the
others through `jax.distributed` (process 0 hosts the coordination service at
`coordinator_address`); from then on `jax.devices()` lists every process's
devices, and `update_step.compile_update_step` builds its mesh over all of
them: each process feeds its own rows of the global batch, the gradient is
all-reduced by XLA, and every process ends each update with the same
parameters (a replicated global array).

Nothing here imports acme, TensorFlow, Reverb or Launchpad.

On CPU the cross-process collectives are gloo's (TCP), which jaxlib 0.4.30
has; without `jax_cpu_collectives_implementation='gloo'` a CPU computation
spanning processes fails to compile. GPUs use NCCL and need nothing here.
"""

import dataclasses
import re
from typing import Any, Optional

import jax
from jax.experimental import multihost_utils
import numpy as np

# Seconds a process waits for all the others to connect to the coordination
# service (jax.distributed's default is 300 s). The learner processes of one
# program start together; a peer that is not up within this bound has failed,
# and waiting longer only delays the program's clear end.
DEFAULT_INITIALIZATION_TIMEOUT_S = 120

_ADDRESS = re.compile(r'(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})')


@dataclasses.dataclass(frozen=True)
class ProcessSettings:
  """Where one learner process stands among the others.

  Attributes:
    num_processes: learner processes training the one network (1: no
      jax.distributed; the learner uses this process's devices only).
    process_id: this process's index, 0 .. num_processes - 1. Process 0
      hosts the coordination service and is the chief: it alone writes
      checkpoints and logs, and serves parameters to evaluators and actors.
    coordinator_address: 'host:port' of process 0's coordination service,
      reachable from every learner process (a free port on process 0's
      host). Unused with one process.
    initialization_timeout_s: how long a process waits for the others to
      connect before it fails.
  """
  num_processes: int = 1
  process_id: int = 0
  coordinator_address: Optional[str] = None
  initialization_timeout_s: int = DEFAULT_INITIALIZATION_TIMEOUT_S

  def __post_init__(self):
    check_process_settings(self.num_processes, self.process_id,
                           self.coordinator_address)
    if self.initialization_timeout_s < 1:
      raise ValueError(f'initialization_timeout_s must be >= 1, got '
                       f'{self.initialization_timeout_s}.')

  @property
  def is_chief(self) -> bool:
    return self.process_id == 0


def check_coordinator_address(address: str) -> None:
  """Raises ValueError unless `address` is 'host:port' with a valid port."""
  match = _ADDRESS.fullmatch(address or '')
  if not match or not 0 < int(match.group(2)) < 65536:
    raise ValueError(
        f'coordinator_address={address!r} is not "host:port" (e.g. '
        '"10.0.0.2:8476" or "localhost:8476", port 1-65535): the address of '
        'learner process 0, where it listens for the other learner processes.')


def check_process_settings(num_processes: int, process_id: int,
                           coordinator_address: Optional[str]) -> None:
  """Raises ValueError, naming the value, for settings no run can use."""
  if num_processes < 1:
    raise ValueError(f'num_processes must be >= 1, got {num_processes}.')
  if not 0 <= process_id < num_processes:
    raise ValueError(f'process_id={process_id} is not in 0..'
                     f'{num_processes - 1} (num_processes={num_processes}).')
  if num_processes > 1:
    check_coordinator_address(coordinator_address)


def initialize(settings: ProcessSettings) -> None:
  """Joins the learner processes of `settings` (no-op for one process).

  Must run before any JAX computation of this process: the backends are
  created once, and only those created after jax.distributed.initialize see
  the other processes' devices. Blocks until every process has connected
  (at most settings.initialization_timeout_s).

  Raises:
    RuntimeError: this process already computed with JAX, or already joined
      (jax.distributed's own error).
  """
  if settings.num_processes == 1:
    return
  # Gloo's TCP collectives for CPU devices; GPU backends ignore the setting.
  # An explicit choice of the user's ('mpi') stays.
  if jax.config.read('jax_cpu_collectives_implementation') == 'none':
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(
      coordinator_address=settings.coordinator_address,
      num_processes=settings.num_processes,
      process_id=settings.process_id,
      initialization_timeout=settings.initialization_timeout_s)
  if jax.process_count() != settings.num_processes:
    raise RuntimeError(
        f'jax.process_count() is {jax.process_count()} after '
        f'jax.distributed.initialize with num_processes='
        f'{settings.num_processes}: JAX had created its backends before '
        'initialize (a JAX computation ran first in this process).')


class ProcessGroup:
  """What the learner processes agree on between updates.

  The processes are JAX's (jax.process_index / jax.process_count, after
  `initialize`); in a process that did not initialize, a group of one.
  Each method is a collective: every process calls it, in the same order,
  or the calls wait for each other (the updates are collectives too). With
  one process they do no communication.
  """

  @property
  def count(self) -> int:
    return jax.process_count()

  @property
  def index(self) -> int:
    return jax.process_index()

  @property
  def is_chief(self) -> bool:
    """Process 0: it alone writes checkpoints and logs."""
    return self.index == 0

  def any(self, flag: bool) -> bool:
    """True on every process when `flag` is true on one of them.

    A stop that one process sees before the others must end every process
    at the same update: a process that took one more update would wait
    forever for the others in its all-reduce.
    """
    if self.count == 1:
      return bool(flag)
    flags = multihost_utils.process_allgather(np.asarray(bool(flag)))
    return bool(np.any(flags))

  def broadcast_from_chief(self, tree: Any) -> Any:
    """Process 0's `tree` (NumPy leaves of the same shapes on every process).

    Used for what process 0 alone reads (a checkpoint: the other hosts may
    not share its file system) and for the initial state, so that every
    process starts from bit-identical parameters whatever its hardware.
    """
    if self.count == 1:
      return tree
    return jax.tree_util.tree_map(
        np.asarray, multihost_utils.broadcast_one_to_all(tree))


# Bytes per element of the HLO element types that collectives carry.
_HLO_ELEMENT_BYTES = {'pred': 1, 's8': 1, 'u8': 1, 's16': 2, 'u16': 2,
                      'f16': 2, 'bf16': 2, 's32': 4, 'u32': 4, 'f32': 4,
                      's64': 8, 'u64': 8, 'f64': 8, 'c64': 8, 'c128': 16}
_HLO_SHAPE = re.compile(r'\b(' + '|'.join(_HLO_ELEMENT_BYTES) +
                        r')\[([0-9,]*)\]')
_HLO_ALL_REDUCE = re.compile(r'=\s*(.*?)\s+all-reduce(?:-start)?\(')


def all_reduced_bytes(hlo_text: str) -> int:
  """Bytes all-reduced by one run of a compiled computation.

  Sums the result shapes of the all-reduce instructions of `hlo_text`
  (`jitted.lower(...).compile().as_text()`, after SPMD partitioning). This
  is the payload every device contributes; a ring all-reduce over N devices
  sends and receives 2 (N - 1) / N times it per device.
  """
  total = 0
  for line in hlo_text.splitlines():
    match = _HLO_ALL_REDUCE.search(line)
    if not match:
      continue
    for element, dims in _HLO_SHAPE.findall(match.group(1)):
      size = int(np.prod([int(d) for d in dims.split(',') if d]))
      total += size * _HLO_ELEMENT_BYTES[element]
  return total
