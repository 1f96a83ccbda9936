"""Quiet output: the programs print their own lines, not known third-party noise.

A run of the pinned stack (Acme 0.4.0, JAX 0.4.30, TFDS 4.8.3, Launchpad
0.5.0, Gym 0.23.1) printed 100-140 lines, of which 10-12 were the
program's: deprecation warnings of the old stack (Acme on JAX 0.4 on every
actor step, TensorFlow and TFP at import), TFDS's dtype notices for every
feature of every dataset, courier's "Binding:" line for every method of
every node, JAX's search for GPU/TPU backends, Gym's notice at import.
`install()` (run once, by the launchers package) drops exactly those:

* DeprecationWarnings reported at a line of an installed package (the
  project cannot change that code; one reported at the project's own code
  is still shown), at `warnings.showwarning`, so the order of the filters
  libraries install does not matter;
* the absl log lines of NOISY_LOG_LINES, at absl's logger;
* Gym's notice, by importing Gym with its stderr captured.

Everything else is printed as before. With --verbose, or absl's -v 1 or
higher, nothing is dropped.
"""

import contextlib
import io
import logging
import os
import re
import sys
import sysconfig
import warnings

from absl import logging as absl_logging  # noqa: F401  (creates the 'absl' logger)

# Where installed packages live: their DeprecationWarnings are noise.
THIRD_PARTY_DIRECTORIES = tuple(sorted({
    os.path.realpath(sysconfig.get_paths()[key]) + os.sep
    for key in ('purelib', 'platlib')}))
# (module that logs, message pattern) of absl log lines that are noise.
NOISY_LOG_LINES = (
    ('feature', r'`TensorInfo\.dtype` is deprecated'),  # TFDS, per feature
    ('dtype_utils', r'You use TensorFlow DType'),  # TFDS, per feature
    ('dataset_info', r'Load dataset info from|Fields info\.\[module_name\]'),
    ('courier_utils', r'Binding: '),  # Launchpad, per served method
    ('xla_bridge', r'Unable to initialize backend'),  # JAX on a CPU machine
    ('csv', r'Logging to '),  # Acme's CSVLogger, per log file
)

_verbose = False
_installed = False


def verbose_requested(argv) -> bool:
  """--verbose or absl's -v/--verbosity above 0 in `argv` (read before
  flags are parsed, for the noise printed at import)."""
  for argument in argv[1:]:
    if argument in ('--verbose', '--verbose=true', '--verbose=True'):
      return True
    match = re.fullmatch(r'--?(?:v|verbosity)=?(-?\d+)', argument)
    if match and int(match.group(1)) > 0:
      return True
  return False


def set_verbose(verbose: bool):
  """True: print everything from now on; False: drop the known noise."""
  global _verbose
  _verbose = verbose


def is_noisy_warning(category, filename: str) -> bool:
  """A DeprecationWarning reported at a line of an installed package."""
  return (issubclass(category, DeprecationWarning) and
          os.path.realpath(filename).startswith(THIRD_PARTY_DIRECTORIES))


def is_noisy_log_line(record: logging.LogRecord) -> bool:
  return any(record.module == module and re.search(pattern, record.getMessage())
             for module, pattern in NOISY_LOG_LINES)


class _NoiseFilter(logging.Filter):

  def filter(self, record):
    return _verbose or not is_noisy_log_line(record)


def install(argv=None):
  """Drops the known noise from now on (unless `argv` asks for --verbose);
  imports Gym without its notice. Idempotent."""
  global _installed
  if _installed:
    return
  _installed = True
  set_verbose(verbose_requested(sys.argv if argv is None else argv))
  show_warning = warnings.showwarning

  def show_unless_noise(message, category, filename, *args, **kwargs):
    if _verbose or not is_noisy_warning(category, filename):
      show_warning(message, category, filename, *args, **kwargs)

  warnings.showwarning = show_unless_noise
  # On absl's logger, not its handler: also when absl's handler is not in
  # use (library callers without app.run, whose records go to Python's).
  logging.getLogger('absl').addFilter(_NoiseFilter())
  if not _verbose:
    # Gym prints an unmaintained-package notice to stderr when imported.
    with contextlib.redirect_stderr(io.StringIO()):
      import gym  # pylint: disable=g-import-not-at-top,unused-import
