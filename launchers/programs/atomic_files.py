"""Atomic writes of small files (reports, results, plots)."""

import json
import os
import tempfile
from typing import Any


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


def write_json_atomically(path: str, value: Any) -> None:
  """Writes `value` as strict JSON (no NaN or Infinity, which JSON does not
  have) atomically; a value that is not strict JSON raises ValueError and
  leaves the file at `path` as it was."""
  try:
    text = json.dumps(value, indent=2, allow_nan=False)
  except ValueError as e:
    raise ValueError(f'{path} not written, its content is not strict JSON '
                     f'({e}); the file keeps what it had.') from e
  write_text_atomically(path, text)


def save_figure_atomically(figure, path: str, dpi: int = 100) -> str:
  """Saves a matplotlib figure as `path` (PNG) so that readers see the old
  file or the new one, closes the figure, and returns `path`."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  with tempfile.NamedTemporaryFile(dir=directory, prefix='.tmp-',
                                   suffix=os.path.splitext(path)[1],
                                   delete=False) as f:
    temporary = f.name
  # pyplot only here: text writers of this module need no matplotlib.
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  try:
    figure.tight_layout()
    figure.savefig(temporary, dpi=dpi)
    os.replace(temporary, path)
  finally:
    plt.close(figure)
    if os.path.exists(temporary):
      os.remove(temporary)
  return path
