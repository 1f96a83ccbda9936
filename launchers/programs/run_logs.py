"""Loggers of the programs: CSV files, TensorBoard, and a progress line.

All are Acme loggers (anything with `write(dict)`), so the learner and the
evaluators log the same way under every launch type. CSV files live in
`<workdir>/logs/<label>/logs.csv` (Acme's CSVLogger layout) and are appended
to, so a resumed run continues the same files.
"""

import time
from typing import Dict, Optional, Tuple

from absl import logging
from acme.utils import loggers
from acme.utils.loggers import tf_summary


def _format_duration(seconds: float) -> str:
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  return f'{hours}h{minutes:02d}m{seconds:02d}s' if hours else f'{minutes}m{seconds:02d}s'


def progress_metrics(data) -> Tuple[str, ...]:
  """The metrics a progress line shows: every loss term the learner logs
  ('total_loss' first, then '*_loss' by name; Acme's BC learner logs a
  plain 'loss'), then 'q_mean' if logged."""
  losses = sorted(key for key in data
                  if key == 'loss' or key.endswith('_loss'))
  if 'total_loss' in losses:
    losses.remove('total_loss')
    losses.insert(0, 'total_loss')
  return tuple(losses) + (('q_mean',) if 'q_mean' in data else ())


class ProgressLogger(loggers.Logger):
  """Prints 'step N/M (p%), steps/s, ETA' and the loss terms every few
  seconds.

  Reads the step from `steps_key` of the logged data; speed is measured over
  the interval since the last line, so a resumed run reports its own speed.
  `metrics`: the metrics shown; default `progress_metrics` of each row.
  """

  def __init__(self, total_steps: int, steps_key: str = 'learner_steps',
               every_seconds: float = 10.0,
               metrics: Optional[Tuple[str, ...]] = None):
    self._total_steps = total_steps
    self._steps_key = steps_key
    self._every_seconds = every_seconds
    self._metrics = metrics
    self._last_time: Optional[float] = None
    self._last_step = 0

  def write(self, data):
    step = int(data[self._steps_key])
    now = time.time()
    if self._last_time is None:
      self._last_time, self._last_step = now, step
      return
    elapsed = now - self._last_time
    if elapsed < self._every_seconds and step < self._total_steps:
      return
    speed = (step - self._last_step) / max(elapsed, 1e-9)
    remaining = (self._total_steps - step) / speed if speed > 0 else float('inf')
    metrics = self._metrics or progress_metrics(data)
    shown = ' '.join(f'{key}={float(data[key]):.4g}' for key in metrics
                     if key in data)
    eta = _format_duration(remaining) if remaining != float('inf') else '?'
    logging.info('learner step %d/%d (%.0f%%) %.1f steps/s ETA %s %s', step,
                 self._total_steps, 100.0 * step / self._total_steps, speed,
                 eta, shown)
    self._last_time, self._last_step = now, step

  def close(self):
    pass


def make_csv_logger(workdir: str, label: str) -> loggers.Logger:
  """Appends rows to <workdir>/logs/<label>/logs.csv, flushed at each row.

  Rows are rare (evaluation rounds, or learner metrics throttled to one a
  second), so flushing each one costs nothing and keeps the file current for
  plots and for runs that are killed.
  """
  return loggers.CSVLogger(workdir, label=label, add_uid=False, flush_every=1)


def make_csv_and_tensorboard_logger(workdir: str, label: str,
                                    steps_key: str) -> loggers.Logger:
  """CSV and TensorBoard logs for `label`; values must all be numbers."""
  return loggers.Dispatcher([
      make_csv_logger(workdir, label),
      tf_summary.TFSummaryLogger(f'{workdir}/tensorboard', label=label,
                                 steps_key=steps_key),
  ])


def make_evaluator_loggers(workdir: str) -> Dict[str, loggers.Logger]:
  """`evaluator.Evaluator`'s logger and aggregate_logger keyword arguments:
  per-game rows in logs/evaluator, per-round rows in logs/evaluator_aggregate
  (CSV and TensorBoard)."""
  return {
      'logger': make_csv_logger(workdir, 'evaluator'),
      'aggregate_logger': make_csv_and_tensorboard_logger(
          workdir, 'evaluator_aggregate', 'learner_steps'),
  }


def make_learner_logger(workdir: str, total_steps: int,
                        csv_every_seconds: float = 1.0) -> loggers.Logger:
  """The learner's logger: files at most once every `csv_every_seconds`."""
  return loggers.Dispatcher([
      loggers.TimeFilter(
          make_csv_and_tensorboard_logger(workdir, 'learner', 'learner_steps'),
          csv_every_seconds),
      ProgressLogger(total_steps),
  ])
