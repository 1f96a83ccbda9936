r"""Where CQL's own fixed point loses the optimal policy, before any network.

    python -m benchmarks.cql_fixed_point

Tabular discrete CQL with a scalar Q and the behaviour's exact action
probabilities mu: the loss mu(a|s) (Q - B Q)^2 / 2 + alpha (logsumexp_a'
Q(s, a') - sum_a mu(a|s) Q(s, a)) per state is stationary where

    Q(s, a) = r(s, a) + gamma max_a' Q(s', a') - alpha (pi(a|s) / mu(a|s) - 1),

pi = softmax(Q(s, .)) (Kumar et al. 2020, the CQL(H) backup). The penalty
alpha (pi / mu - 1) is in reward units and is paid on every backup, so it
compounds over 1 / (1 - gamma) steps; where the behaviour takes the optimal
action less often than pi does, it is penalised against an action gap of
only (1 - gamma^2) V*(s). This solves that equation on the known-answer
chains (environments.known_answer) for a grid of alphas and prints, per
problem and gamma, the fraction of cells whose greedy action is optimal,
and the largest alpha of the grid that keeps every cell optimal.
"""

from typing import Sequence

from absl import app
from absl import flags
import numpy as np

from environments import known_answer

ALPHAS = (0.0, 0.001, 0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 0.3, 1.0)
DISCOUNTS = (known_answer.RESOLVABLE_DISCOUNT, 0.99)

_OUTPUT = flags.DEFINE_string('output', 'docs/known_answer/cql_fixed_point.md',
                              'Where the table goes (markdown).')


def cql_fixed_point(chain: known_answer.ChainProblem, behaviour: np.ndarray,
                    alpha: float, discount: float, tolerance: float = 1e-10, step: float = 0.2,
                    max_iterations: int = 100_000) -> np.ndarray:
  """Q[cell, action] solving the CQL(H) backup above (0 at the goal).

  Solved by damped fixed-point iteration (each step moves `step` of the
  way to the backup), which converges for the alphas of ALPHAS on these
  chains.

  Raises:
    ValueError: if behaviour is not a [cells, actions] array of positive
      probabilities, or the iteration does not converge.
  """
  behaviour = np.asarray(behaviour, np.float64)
  if behaviour.shape != (chain.num_cells, chain.num_actions) or np.any(
      behaviour <= 0):
    raise ValueError(f'behaviour must be a [{chain.num_cells}, '
                     f'{chain.num_actions}] array of positive probabilities '
                     '(CQL divides by them).')
  q = np.zeros((chain.num_cells, chain.num_actions))
  decisions = np.arange(chain.num_cells) != chain.goal_cell
  for _ in range(max_iterations):
    pi = np.exp(q - q.max(axis=1, keepdims=True))
    pi /= pi.sum(axis=1, keepdims=True)
    backup = known_answer.backup(chain, q.max(axis=1), discount) - (
        alpha * (pi / behaviour - 1.0) * decisions[:, None])
    if np.max(np.abs(backup - q)) < tolerance:
      return backup
    q = q + step * (backup - q)
  raise ValueError(f'{chain.name}: CQL backup at alpha={alpha}, '
                   f'discount={discount} did not converge.')


def optimal_fraction(chain: known_answer.ChainProblem,
                     q_values: np.ndarray) -> float:
  """Fraction of the non-goal cells whose greedy action is optimal."""
  cells = [c for c in range(chain.num_cells) if c != chain.goal_cell]
  optimal = known_answer.optimal_actions(chain)
  return float(np.mean([np.argmax(q_values[c]) == optimal[c] for c in cells]))


def table(problems: Sequence[str], alphas: Sequence[float] = ALPHAS,
          discounts: Sequence[float] = DISCOUNTS) -> str:
  lines = ['| problem | gamma | ' + ' | '.join(f'alpha {a}' for a in alphas) +
           ' | largest alpha with every cell optimal |',
           '|---|---|' + '---:|' * len(alphas) + '---:|']
  for name in problems:
    chain = known_answer.problem(name)
    behaviour = known_answer.behaviour_policy(chain)
    for discount in discounts:
      fractions = [optimal_fraction(chain, cql_fixed_point(
          chain, behaviour, alpha, discount)) for alpha in alphas]
      keeps = [a for a, f in zip(alphas, fractions) if f == 1.0]
      lines.append(f'| {name} | {discount} | ' +
                   ' | '.join(f'{f:.2f}' for f in fractions) +
                   f' | {max(keeps) if keeps else "none"} |')
  return '\n'.join(lines)


def main(argv):
  del argv
  problems = [name for name, chain in known_answer.PROBLEMS.items()
              if chain.stitch_turn_cell is None]
  text = ('# CQL\'s tabular fixed point on the known-answer chains\n\n'
          '`python -m benchmarks.cql_fixed_point`: fraction of cells whose '
          'greedy action is optimal at the fixed point of the CQL(H) '
          'backup with the behaviour\'s exact action probabilities '
          '(scalar Q, no network; the stitching problem\'s behaviour is '
          'not stationary and is left out).\n\n' + table(problems) + '\n')
  with open(_OUTPUT.value, 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  app.run(main)
