"""One run per work directory: an exclusive lock the OS releases.

A training run holds `<workdir>/.run.lock` locked (fcntl.flock, exclusive)
for as long as it runs. The lock belongs to the open file, so the OS drops
it when the process ends however it ends (SIGKILL included): a crash never
leaves a stale lock, and nothing has to be cleaned up. The file holds the
holder's pid and command line, which a refused run names.
"""

import fcntl
import os

LOCK_FILE = '.run.lock'


class WorkdirInUse(OSError):
  """Another run holds the work directory."""


def _holder(lock_path: str) -> str:
  try:
    with open(lock_path) as f:
      return f.read().strip() or 'a process that has not written its pid yet'
  except OSError:
    return 'unknown'


class WorkdirLock:
  """Holds `workdir` (created if needed) for this process until `release()`,
  the end of a `with` block, or the end of the process.

  Raises:
    WorkdirInUse: another process holds it; the message names its pid.
  """

  def __init__(self, workdir: str):
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, LOCK_FILE)
    # 'a+': opening must not erase the holder's pid before the lock is ours.
    self._file = open(path, 'a+')
    try:
      fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      self._file.close()
      raise WorkdirInUse(
          f'Work directory {workdir} is in use by another run (pid '
          f'{_holder(path)}); wait for it to end, stop it, or give another '
          '--workdir.') from None
    self._file.seek(0)
    self._file.truncate()
    self._file.write(f'{os.getpid()}: {_command_line()}\n')
    self._file.flush()

  def release(self):
    self._file.close()  # Closing the file releases the lock.

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.release()


def _command_line() -> str:
  try:
    with open(f'/proc/{os.getpid()}/cmdline', 'rb') as f:
      return f.read().replace(b'\0', b' ').decode(errors='replace').strip()
  except OSError:
    return ''
