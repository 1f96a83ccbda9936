"""Runs a learner to a step budget: resume, atomic checkpoints, clean stop.

Works with any Acme learner (step / get_variables / save / restore), so other
Acme agents' learners run through the same launchers. The runner is the
learner node of a Launchpad program (`run()`), or is driven in-process by the
single-process mode (`train()`).

With several learner processes (agents.scaled_ql.multi_process), every
process runs a runner around its part of the one learner: process 0 alone
reads and writes checkpoints, the others are restored to its step, and the
processes stop at the same step (a stop any of them sees ends all of them).
"""

import time
from typing import Any, Callable, List, Optional, Sequence

from absl import logging
import launchpad as lp
import numpy as np
import portpicker

from agents.scaled_ql import checkpointing
from agents.scaled_ql import multi_process
from launchers.programs import stop


def coordinator_address(num_processes: int,
                        address: Optional[str] = None) -> Optional[str]:
  """Where a program's learner processes meet: `address` if given, else a
  port free now on this machine (local_mp: every node runs here); None for
  one learner process."""
  if num_processes == 1:
    return None
  return address or f'localhost:{portpicker.pick_unused_port()}'


def check_launch_type(learner_processes: int, launch_type: str) -> None:
  """Raises ValueError unless `learner_processes` can run under
  `launch_type`: several learner processes need local_mp (one JAX process
  per node; local_mt runs every node in one process)."""
  if learner_processes > 1 and launch_type != 'local_mp':
    raise ValueError(
        f'learner_processes={learner_processes} needs launch type local_mp '
        f'(each learner process is a JAX process of its own), not '
        f'{launch_type!r}.')


class LearnerRunner:
  """Owns a learner and its checkpoints; resumes from the newest checkpoint
  that reads back whole (checkpointing.Checkpointer.restore_newest).

  Args:
    learner_factory: () -> learner; called once, in the process that trains.
    checkpointer: where checkpoints are read and written.
    num_steps: total learner steps of the run (counting resumed ones).
    checkpoint_every_steps: steps between periodic checkpoints; a checkpoint
      is also written whenever training stops, finished or not.
    counter: the program's Acme counter, if any. A resumed run adds the steps
      it resumes from under 'learner_steps', so evaluators and step limiters
      that read the counter see the true learner step.
  """

  def __init__(self, learner_factory: Callable[[], Any],
               checkpointer: checkpointing.Checkpointer, num_steps: int,
               checkpoint_every_steps: int, counter: Optional[Any] = None):
    if num_steps <= 0:
      raise ValueError(f'num_steps must be positive, got {num_steps}.')
    self._learner = learner_factory()
    self._checkpointer = checkpointer
    self._num_steps = num_steps
    self._checkpoint_every_steps = checkpoint_every_steps
    self._steps = 0
    # The learner's processes (JAX's): one, unless the learner factory
    # joined several (multi_process.initialize).
    self._processes = multi_process.ProcessGroup()
    template = self._learner.save()
    restored = (checkpointer.restore_newest(template=template)
                if self._processes.is_chief else None)
    if self._processes.count > 1:
      # Process 0's step, -1 for a fresh start; the learner's restore takes
      # process 0's state, whatever the others pass.
      step = int(self._processes.broadcast_from_chief(
          np.asarray(-1 if restored is None else restored[0], np.int32)))
      if step >= 0 and restored is None:
        restored = (step, 'learner process 0', template)
    if restored is not None:
      self._steps, path, state = restored
      self._learner.restore(state)
      if counter is not None:
        counter.increment(learner_steps=self._steps)
      logging.info('Resumed from %s at learner step %d.', path, self._steps)

  @property
  def learner(self):
    return self._learner

  def completed_steps(self) -> int:
    return self._steps

  def finished(self) -> bool:
    return self._steps >= self._num_steps

  def get_variables(self, names: Sequence[str]) -> List[Any]:
    return self._learner.get_variables(names)

  def save_checkpoint(self) -> Optional[str]:
    """Writes a checkpoint of the current step (process 0 only: the others
    hold the same state); returns its path, None on the other processes."""
    if not self._processes.is_chief:
      return None
    path = self._checkpointer.save(self._steps, self._learner.save())
    logging.info('Checkpoint at learner step %d: %s', self._steps, path)
    return path

  def train(self, should_stop: Callable[[], bool],
            max_steps: Optional[int] = None) -> int:
    """Steps until the budget, `max_steps` more steps, or `should_stop()`.

    Returns the number of steps taken by this call. The latest checkpoint is
    always current when it returns, however it returns (KeyboardInterrupt
    included). A learner whose data end (StopIteration from step()) once
    `should_stop()` is true has stopped: online programs end their datasets
    that way (stop.StopAwareIterator).
    """
    target = self._num_steps if max_steps is None else min(
        self._num_steps, self._steps + max_steps)
    start_steps, start_time = self._steps, time.time()
    # Every process takes the same number of updates (each is a collective).
    local_should_stop = should_stop
    should_stop = lambda: self._processes.any(local_should_stop())
    try:
      while self._steps < target and not should_stop():
        try:
          self._learner.step()
        except StopIteration:
          # Every process is here (ScaledQLLearner ends the data of all when
          # they end for one) and agrees on why.
          if should_stop():
            logging.info('Learner data ended with the stop at step %d.',
                         self._steps)
            break
          raise
        self._steps += 1
        if self._steps % self._checkpoint_every_steps == 0:
          self.save_checkpoint()
    finally:
      if self._processes.is_chief:
        latest = self._checkpointer.latest()
        if self._steps > 0 and (latest is None or latest[0] != self._steps):
          self.save_checkpoint()
    taken = self._steps - start_steps
    if taken:
      logging.info('%d learner steps in %.1f s.', taken, time.time() - start_time)
    return taken

  def run(self):
    """Launchpad entry point: trains to the budget, then stops the program.

    Returns only after the program's stop plus a grace period, serving the
    evaluators' parameter requests until then (see stop).
    """
    self.train(should_stop=stop.stop_check())
    if self.finished():
      logging.info('Learner reached %d steps; stopping the program.', self._steps)
      lp.stop()
    stop.serve_until_stopped()
