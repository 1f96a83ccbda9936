"""The Scaled Q-Learning learner.

Follows Acme's learner contract by duck typing (step, get_variables, save,
restore) without importing acme, so the same class runs under Launchpad and
on a bare JAX machine.
"""

import itertools
from typing import Any, Iterator, List, Optional, Sequence

import jax
import numpy as np

from agents.scaled_ql import multi_process
from agents.scaled_ql import update_step as update_lib
from agents.scaled_ql.config import ScaledQLConfig
from agents.scaled_ql.types import MultiGameTransition
from networks.multi_game import MultiGameQNetwork


# The update's metrics that a usable update has finite.
_MUST_BE_FINITE = ("total_loss", "grad_norm")


class ScaledQLLearner:
  """Offline multi-game CQL + C51 + DR3 learner.

  Each step() draws one global batch from `iterator`, splits it over the
  local devices (when there are several) and applies one update.

  After multi_process.initialize, the learner spans every learner process:
  each builds it the same way, its iterator yields this process's rows of
  the global batch (batch_size / processes), and every step is one update
  of the global batch, with the same parameters on every process after it.
  The initial and restored states are process 0's.
  """

  def __init__(self,
               networks: MultiGameQNetwork,
               config: ScaledQLConfig,
               iterator: Iterator[MultiGameTransition],
               random_key: jax.Array,
               logger: Optional[Any] = None,
               devices: Optional[Sequence[Any]] = None):
    """Builds the learner.

    Args:
      networks: the multi-game Q-network (agents.scaled_ql.networks).
      config: hyperparameters.
      iterator: yields MultiGameTransition batches of NumPy arrays, with a
        batch size divisible by the number of devices (with several
        processes: this process's rows, divisible by its local devices).
      random_key: initialises the parameters.
      logger: anything with .write(dict); receives the metrics every step.
      devices: devices to split batches over; default jax.devices() (this
        process's, or every learner process's after
        multi_process.initialize).
    """
    self._iterator = iterator
    self._logger = logger
    self._processes = multi_process.ProcessGroup()
    self._compiled = update_lib.compile_update_step(
        update_lib.make_update_step(networks, config), devices)
    self.restore(update_lib.make_initial_state(networks, config, random_key))

  def step(self):
    """One update on the next batch; writes metrics to the logger.

    Raises FloatingPointError, keeping the state from before the update, when
    the update's loss or gradient norm is not finite: a NaN spreads to every
    parameter in one step, and a run that went on would checkpoint it.
    """
    batch = self._next_batch()
    state, metrics = self._compiled.update(self._state, batch)
    metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
    non_finite = {k: metrics[k] for k in _MUST_BE_FINITE
                  if not np.isfinite(metrics[k])}
    if non_finite:
      raise FloatingPointError(
          f"Learner step {int(self._state.steps) + 1}: {non_finite} is not "
          f"finite (metrics: {metrics}); the update is not applied, the "
          "learner keeps the state of the step before.")
    self._state = state
    if self._logger is not None:
      metrics["learner_steps"] = int(self._state.steps)
      self._logger.write(metrics)

  def _next_batch(self) -> MultiGameTransition:
    """The next batch on the devices; StopIteration when the data end.

    With several processes, the data end for all of them when they end for
    one (e.g. a stopping online program's replay): the others would
    otherwise wait forever in the update's all-reduce.
    """
    try:
      rows = next(self._iterator)
    except StopIteration:
      rows = None
    if self._processes.count > 1 and self._processes.any(rows is None):
      raise StopIteration
    if rows is None:
      raise StopIteration
    return self._compiled.put_batch(rows)

  def run(self, num_steps: Optional[int] = None):
    """Calls step() num_steps times, or forever (as acme.core.Learner.run)."""
    for _ in (range(num_steps) if num_steps is not None else
              itertools.count()):
      self.step()

  def get_variables(self, names: Sequence[str]) -> List[Any]:
    """'policy' -> online parameters, 'target' -> target parameters."""
    variables = {"policy": self._state.params,
                 "target": self._state.target_params}
    if self._processes.count > 1:
      # Host copies of this process's replicas, for the evaluators and
      # actors that process 0 serves (no collective: every process holds
      # the whole replicated state).
      variables = jax.device_get(variables)
    return [variables[name] for name in names]

  def set_parameters(self, params):
    """Makes `params` the online and target parameters (e.g. pre-trained
    ones), keeping the optimiser state, step count and random key."""
    state = jax.device_get(self._state)
    self.restore(state._replace(params=params, target_params=params))

  def save(self) -> update_lib.TrainingState:
    """The full training state as host (NumPy) arrays."""
    return jax.device_get(self._state)

  def restore(self, state: update_lib.TrainingState):
    """Continues from a state returned by save().

    With several learner processes every process calls it, and all continue
    from process 0's `state` (the others' may be any state of the same
    shapes, e.g. their own save()).
    """
    state = jax.tree_util.tree_map(np.asarray, jax.device_get(state))
    state = self._processes.broadcast_from_chief(state)
    self._state = self._compiled.put_state(update_lib.TrainingState(*state))
