"""Atomic result files (JSON, reports, plots) for the benchmarks.

The benchmarks run where only JAX (and, for benchmarks.versus_d3rlpy, the
standard library) is installed, so they cannot import the launchers'
writer (launchers/ imports Acme on import).
"""

import json
import os
import tempfile


def write_bytes_atomically(path: str, data: bytes) -> None:
  """Writes `data` to `path`; readers see the old file or the new.

  The bytes go to a temporary file in the same directory (created if
  needed), are flushed to disk, and the file is renamed over `path`.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  with tempfile.NamedTemporaryFile("wb", dir=directory, prefix=".tmp-",
                                   delete=False) as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  os.replace(f.name, path)


def write_text_atomically(path: str, text: str) -> None:
  """Writes `text` (UTF-8) to `path`; readers see the old file or the new."""
  write_bytes_atomically(path, text.encode("utf-8"))


def write_json_atomically(path: str, data) -> None:
  """Writes `data` as JSON to `path`; readers see the old file or the new."""
  write_text_atomically(path, json.dumps(data, indent=1))
