"""Atomic JSON result files for the benchmarks.

The benchmarks run where only JAX (and, for benchmarks.versus_d3rlpy, the
standard library) is installed, so they cannot import the launchers'
writer (launchers/ imports Acme on import).
"""

import json
import os
import tempfile


def write_json_atomically(path: str, data) -> None:
  """Writes `data` as JSON to `path`; readers see the old file or the new.

  The JSON goes to a temporary file in the same directory (created if
  needed), is flushed to disk, and is renamed over `path`.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  with tempfile.NamedTemporaryFile("w", dir=directory, prefix=".tmp-",
                                   suffix=".json", delete=False) as f:
    json.dump(data, f, indent=1)
    f.flush()
    os.fsync(f.fileno())
  os.replace(f.name, path)
