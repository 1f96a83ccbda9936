"""How a command line ends: its exit status and its last line.

Exit statuses (the README's "Exit statuses" and docs/ARCHITECTURE.md list
them too):

  0    COMPLETED   the command did all it was asked; a training run reached
                   its step budget
  1    BAD_INPUT   bad input or usage, refused before anything started (the
                   one line names the flag or value and what is valid), or
                   the work directory is in use by another run
  3    STOPPED     stopped by SIGTERM or Ctrl-C before the end; a training
                   run wrote its final checkpoint, and the last line is the
                   command that resumes it
  4    FAILED      a node of the program failed (its error is printed above)
                   and the program was stopped
  137  (Launchpad) a node did not stop within the termination notice and
                   Launchpad killed the runtime

A stop signal that arrives before the Launchpad program exists (flag
parsing aside: validation, dataset checks, imports) ends the command with
STOPPED and the same kind of last line; once the program is being launched,
the signal goes to Launchpad's own stop (stop.launch hands it over, and
sends it again to a program whose stop it missed).
"""

import contextlib
import os
import shlex
import signal
import sys
import traceback
from typing import Callable, Optional

from absl import app
from absl import flags

from agents.scaled_ql import checkpointing

COMPLETED = 0
BAD_INPUT = 1
STOPPED = 3
FAILED = 4

# Errors that mean "this input cannot run" when raised while a command line
# checks its input (`bad_input`); the same types raised later are failures.
BAD_INPUT_ERRORS = (ValueError, OSError)
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequested(BaseException):
  """A stop signal arrived before the command handed stops to Launchpad."""


class _StopSignals:
  """The first stop signal this process received; whether it is still this
  module's to act on (before the Launchpad program is launched); which one
  it raised as StopRequested, and which one arrived while the program was
  being launched."""

  def __init__(self):
    self.received: Optional[int] = None
    self.launching = False
    self.raised: Optional[int] = None
    self.while_launching: Optional[int] = None

  def handle(self, signum, frame):
    del frame
    if self.received is None:
      self.received = signum
    if not self.launching:
      # Python runs the handler between any two bytecodes, also inside a
      # garbage-collector callback (JAX's) or a __del__, where the exception
      # is printed ("Exception ignored in") and dropped: hand_over_to_launchpad
      # raises it again.
      self.raised = signum
      raise StopRequested(signum)
    self.while_launching = signum


_SIGNALS = _StopSignals()


def install_stop_signals():
  """Makes SIGTERM and SIGINT end the command cleanly (StopRequested) until
  `hand_over_to_launchpad`; called by command_line.start."""
  for sig in _STOP_SIGNALS:
    signal.signal(sig, _SIGNALS.handle)


def dropped_stop_signal() -> Optional[int]:
  """The stop signal whose StopRequested was dropped where it was raised
  (see `_StopSignals.handle`), if one was; a StopRequested that propagated
  ends the command before anyone asks."""
  return _SIGNALS.raised


def raise_dropped_stop_signal():
  """Raises StopRequested if a stop signal's StopRequested was dropped where
  it was raised (see `_StopSignals.handle`): long in-process work (an
  evaluation) polls this, or a SIGTERM landing in a garbage-collector
  callback would let it run to its end."""
  signum = dropped_stop_signal()
  if signum is not None:
    raise StopRequested(signum)


def raise_if_stop_signalled():
  """Raises StopRequested if a stop signal has arrived, also one that another
  handler recorded (stop.signal_stop_check, Launchpad's stop): work that
  follows a step the signal ended early (a study's final evaluation after
  its training) does not go on."""
  if _SIGNALS.received is not None:
    raise StopRequested(_SIGNALS.received)


def hand_over_to_launchpad():
  """From now on a stop signal is recorded, not raised: Launchpad's worker
  manager stops the program (`stop_launched_program_if_signalled`).

  Raises:
    StopRequested: a stop signal arrived before, and its StopRequested was
      dropped where it was raised (see `_StopSignals.handle`).
  """
  raise_dropped_stop_signal()
  _SIGNALS.launching = True
  _SIGNALS.while_launching = None


def stop_launched_program_if_signalled(manager):
  """Stops the program that Launchpad's worker `manager` runs if a stop
  signal arrived since `hand_over_to_launchpad` and the program has not
  stopped; call it once lp.launch has returned.

  Launchpad's manager installs its SIGTERM handler while lp.launch runs, and
  a signal can land before it, or while it is being installed (its
  dispatcher, once installed, calls the handlers registered so far, this
  module's, and forgets them): such a signal stops nothing. Sent again now,
  it reaches the manager's handler.
  """
  signum, _SIGNALS.while_launching = _SIGNALS.while_launching, None
  if signum is not None and not manager.wait_for_stop(0):
    os.kill(os.getpid(), signum)


def record_stop_signal(signum: int):
  """Records a stop signal handled elsewhere (stop.signal_stop_check)."""
  if _SIGNALS.received is None:
    _SIGNALS.received = signum


def stop_signal_name() -> Optional[str]:
  """'SIGTERM' or 'SIGINT' once one arrived, else None."""
  received = _SIGNALS.received
  return None if received is None else signal.Signals(received).name


def same_command() -> str:
  """This process's command line, as `python -m <module> <arguments>`."""
  main = sys.modules.get('__main__')
  spec = getattr(main, '__spec__', None)
  program = (['python', '-m', spec.name.removesuffix('.__main__')]
             if spec is not None else ['python', sys.argv[0]])
  return shlex.join(program + sys.argv[1:])


def _fail(status: int, line: str):
  print(line, file=sys.stderr, flush=True)
  sys.exit(status)


@contextlib.contextmanager
def bad_input():
  """Turns BAD_INPUT_ERRORS raised inside into one line on stderr and exit
  status BAD_INPUT (with --verbose, the traceback first). Wrap what checks
  the input, before anything is started."""
  try:
    yield
  except BAD_INPUT_ERRORS as e:
    if _verbose():
      traceback.print_exc()
    _fail(BAD_INPUT, f'error: {e}')


def _verbose() -> bool:
  return 'verbose' in flags.FLAGS and flags.FLAGS.verbose


def run(main: Callable):
  """`app.run(main)` where a stop signal before the end gives exit status
  STOPPED and a last line that says so (training runs print their own,
  see `end_training`)."""

  def main_that_ends_cleanly(argv):
    try:
      return main(argv)
    except StopRequested:
      _fail(STOPPED, f'stopped by {stop_signal_name()} before it finished; '
            f'the same command runs it again: {same_command()}')

  app.run(main_that_ends_cleanly)


class ProgramFailed(Exception):
  """A node of a Launchpad program failed and the program was stopped."""


def training_outcome(checkpoint_dir: str, num_steps: int,
                     failure: Optional[str] = None):
  """(exit status, last line) of a training run that has ended: whether it
  reached its budget, was stopped (by which signal) or failed, at which
  learner step and checkpoint, and the command that resumes it."""
  latest = checkpointing.latest_checkpoint(checkpoint_dir)
  step, path = latest if latest is not None else (0, None)
  where = (f'learner step {step} of {num_steps}, checkpoint {path}' if path
           else f'before the first checkpoint (0 of {num_steps} learner steps)')
  if failure is None and step >= num_steps:
    return COMPLETED, f'finished: {where}'
  resume = (f'the same command resumes from it: {same_command()}' if path
            else f'the same command starts it again: {same_command()}')
  if failure is not None:
    return FAILED, f'failed ({failure}): {where}; after a fix, {resume}'
  by = stop_signal_name()
  return STOPPED, f'stopped{f" by {by}" if by else ""}: {where}; {resume}'


def end_training(train: Callable[[], Optional[str]], checkpoint_dir: str,
                 num_steps: int):
  """Runs `train` and ends the command with the training outcome: its line
  on stdout (the last line of the run) and its exit status. A summary that
  `train` returns is printed before it."""
  failure = None
  try:
    summary = train()
    if summary:
      print(summary, flush=True)
  except StopRequested:
    pass
  except ProgramFailed as e:
    failure = str(e)
  status, line = training_outcome(checkpoint_dir, num_steps, failure)
  print(line, flush=True)
  sys.exit(status)
