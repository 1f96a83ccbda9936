"""host_memory: freed buffers are reused without page faults; settings and
their errors."""

import json
import os
import platform
import subprocess
import sys

import pytest

from agents.scaled_ql import host_memory

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc",
                                reason="mallopt settings are glibc's")

# Allocates and touches a 128 MB block twice (freeing it in between), in the
# main thread or in a new one, and prints the minor page faults of the second
# round. 128 MB is above glibc's largest dynamic mmap threshold (32 MB) and a
# thread arena's heap (64 MB), and below host_memory's threshold.
_PROBE = r"""
import ctypes, json, resource, sys, threading
from agents.scaled_ql import host_memory
if sys.argv[1] == "settings":
  host_memory.reuse_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 128 << 20
faults = []
def rounds():
  for _ in range(2):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
if sys.argv[2] == "thread":
  thread = threading.Thread(target=rounds)
  thread.start()
  thread.join()
else:
  rounds()
print(json.dumps(faults))
"""


def _faults(mode: str, where: str, **variables):
  env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ".", **variables}
  out = subprocess.run([sys.executable, "-c", _PROBE, mode, where],
                       capture_output=True, text=True, env=env, check=True)
  return json.loads(out.stdout)


_PAGES = (128 << 20) // 4096


def test_a_freed_large_block_is_reused_without_page_faults():
  first, second = _faults("defaults", "main")
  # With glibc's defaults the block is a fresh mmap every time.
  assert first > _PAGES // 2 and second > _PAGES // 2, (first, second)
  first, second = _faults("settings", "main")
  assert first > _PAGES // 2, first  # The first touch still faults...
  assert second < _PAGES // 100, second  # ...the reuse does not.


def test_in_a_thread_only_one_arena_avoids_the_faults():
  # A thread's own arena cannot hold the block: it is an mmap every time...
  first, second = _faults("settings", "thread")
  assert second > _PAGES // 2, second
  # ...unless every thread uses the main arena (the documented opt-in).
  first, second = _faults("settings", "thread", MALLOC_ARENA_MAX="1")
  assert first > _PAGES // 2 and second < _PAGES // 100, (first, second)


def test_settings_go_to_the_environment_and_a_users_value_wins():
  environ = {"MALLOC_TOP_PAD_": str(32 << 20)}
  applied = host_memory.reuse_freed_memory(environ)
  assert applied["MALLOC_TOP_PAD_"] == 32 << 20
  assert environ["MALLOC_TOP_PAD_"] == str(32 << 20)
  assert applied["MALLOC_MMAP_THRESHOLD_"] == host_memory.MMAP_THRESHOLD_BYTES
  assert "MALLOC_ARENA_MAX" not in environ
  assert set(environ) == set(host_memory.SETTINGS)
  assert host_memory.environment()["MALLOC_MMAP_THRESHOLD_"] == str(
      host_memory.MMAP_THRESHOLD_BYTES)
  host_memory.reuse_freed_memory({})  # This process's settings again.


@pytest.mark.parametrize("value", ["lots", "-1", str(1 << 31)])
def test_a_bad_value_is_an_error_naming_it(value):
  with pytest.raises(ValueError, match=(
      rf"MALLOC_TRIM_THRESHOLD_='{value}'; valid: an integer from 0 to "
      r"2147483647")):
    host_memory.reuse_freed_memory({"MALLOC_TRIM_THRESHOLD_": value})


def test_a_command_line_refuses_a_bad_value_before_anything_else():
  env = {"PATH": "/usr/bin:/bin", "MALLOC_TOP_PAD_": "many"}
  process = subprocess.run(
      [sys.executable, "-m", "launchers.pretrain", "--dataset=x"],
      capture_output=True, text=True, env=env, timeout=300,
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert process.returncode == 1, process.stdout + process.stderr
  assert "Traceback" not in process.stderr, process.stderr[-3000:]
  assert ("MALLOC_TOP_PAD_='many'; valid: an integer from 0 to 2147483647"
          in process.stderr), process.stderr[-3000:]
