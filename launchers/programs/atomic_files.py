"""Atomic writes of small text files (reports, results)."""

import os
import tempfile


def write_text_atomically(path: str, text: str) -> None:
  """Writes `text` to `path` so that readers see the old file or the new one.

  The text goes to a temporary file in the same directory (created if
  needed), is flushed to disk, and is renamed over `path`.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  with tempfile.NamedTemporaryFile('w', dir=directory, prefix='.tmp-',
                                   delete=False) as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(f.name, path)
