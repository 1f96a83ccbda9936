"""glibc malloc settings that let XLA:CPU reuse its freed buffers.

XLA's CPU runtime allocates an update's temporaries (one buffer of the
executable's temp size, ~100-200 MB for Nature DQN at batch 256) and its
outputs with malloc on every call, and frees them afterwards. With glibc's
defaults, blocks above the dynamic mmap threshold (at most 32 MB) are fresh
mmaps that are unmapped on free, and a thread other than the main one
allocates from an arena whose heaps hold at most 64 MB, so anything larger
is an mmap as well. Every update then first-touches its buffers again: on
the 2-core machine, 21,000 minor page faults and ~55 ms of system time per
Nature-DQN update at batch 256 (equal work), 46,000 and ~120 ms for the full
Scaled QL update (BENCHMARKS.md, "The allocator").

`reuse_freed_memory` raises the mmap threshold above those buffers and
stops returning freed memory to the kernel. Freed blocks then stay in the
heap and the next update reuses them without page faults. The cost: the
process keeps its peak heap size (freed memory is not returned).

A learner in a Launchpad thread (local_mt) whose temp buffer exceeds an
arena heap (64 MB; e.g. Nature DQN at batch 256) still faults, unless the
process runs with MALLOC_ARENA_MAX=1 (every thread in the main arena; set
it before the process starts, or before its second thread first
allocates). That is not a default: with one arena the demo's local_mt
programs, where tf.data, the learner and the evaluator allocate side by
side, measured slower (BENCHMARKS.md, "The allocator").

The settings are applied to this process (mallopt) and written to
os.environ for processes it starts (glibc reads MALLOC_* variables at
start-up; Launchpad's local_mp nodes inherit the environment). A value the
user has already set in the environment wins. Numbers are unchanged:
only where buffers live changes.
"""

import ctypes
import ctypes.util
import os
import platform
from typing import Dict, MutableMapping

# mallopt(int parameter, int value), glibc's malloc.h.
_C_INT_MAX = (1 << 31) - 1
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

# Above the temp buffer of every CPU configuration this project runs
# (BENCHMARKS.md: XLA GiB of the update, 0.21 GiB at most for Nature DQN at
# batch 256); larger blocks are still mmapped, as by default.
MMAP_THRESHOLD_BYTES = 256 << 20
# Freed memory at the top of the heap is returned to the kernel only above
# this: effectively never.
TRIM_THRESHOLD_BYTES = _C_INT_MAX
# Extra heap requested with each growth, so that growing is rare.
TOP_PAD_BYTES = 64 << 20

SETTINGS = {
    # environment variable: (mallopt parameter, value)
    "MALLOC_MMAP_THRESHOLD_": (_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
    "MALLOC_TRIM_THRESHOLD_": (_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
    "MALLOC_TOP_PAD_": (_M_TOP_PAD, TOP_PAD_BYTES),
}


def environment() -> Dict[str, str]:
  """SETTINGS as environment variables, for a process started afresh."""
  return {variable: str(value) for variable, (_, value) in SETTINGS.items()}


def reuse_freed_memory(
    environ: MutableMapping[str, str] = os.environ) -> Dict[str, int]:
  """Applies SETTINGS to this process and to `environ` (see the module
  docstring); returns {variable: value applied}, empty where the C library
  is not glibc (nothing is changed there).

  command_line.start calls it for every command line, before Launchpad
  starts the nodes.

  Raises:
    ValueError: if an environment variable of SETTINGS holds something other
      than an integer that mallopt accepts.
  """
  if platform.libc_ver()[0] != "glibc":
    return {}
  libc = ctypes.CDLL(ctypes.util.find_library("c"))
  applied = {}
  for variable, (parameter, default) in SETTINGS.items():
    text = environ.setdefault(variable, str(default))
    if not text.isdigit() or int(text) > _C_INT_MAX:
      raise ValueError(f"{variable}={text!r}; valid: an integer from 0 to "
                       f"{_C_INT_MAX} (bytes; this project's default is "
                       f"{default})")
    if not libc.mallopt(parameter, int(text)):
      raise ValueError(f"{variable}={text!r} was refused by glibc's mallopt "
                       f"(this project's default is {default})")
    applied[variable] = int(text)
  return applied
