"""The Scaled Q-Learning learner as an `acme.core.Learner`.

The learner itself (agents.scaled_ql.learning) is pure JAX and follows
Acme's contract by duck typing. Acme's layouts and savers test
`isinstance(learner, core.Learner)` and expect learners to count their steps
on an Acme counter (the StepsLimiter and evaluators read `learner_steps`
there), which is all this adds.
"""

from acme import core
from acme.utils import counting

from agents.scaled_ql import learning


class ScaledQLAcmeLearner(learning.ScaledQLLearner, core.Learner):
  """A ScaledQLLearner that also counts steps on `counter`."""

  def __init__(self, *, counter: counting.Counter, **learner_kwargs):
    super().__init__(**learner_kwargs)
    self._counter = counter

  @property
  def counter(self) -> counting.Counter:
    return self._counter

  def step(self):
    super().step()
    self._counter.increment(steps=1)
