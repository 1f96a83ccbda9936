"""Prints the parameter count of every named network size.

    python -m networks.param_counts

Counted for the paper's setting: 40 games, heads as wide as the full
18-action set, 51 atoms, 512 shared features. Shapes only: nothing is
initialised or compiled.
"""

import math
from typing import Tuple

import jax

from networks import multi_game
from networks import torsos

NUM_GAMES = 40
NUM_ACTIONS = 18


def _size(tree) -> int:
  return sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree))


def count(torso_name: str,
          num_games: int = NUM_GAMES,
          num_actions: int = NUM_ACTIONS,
          feature_dim: int = 512,
          num_atoms: int = 51) -> Tuple[int, int, int]:
  """(total, shared torso + projection, one game's head) parameter counts."""
  network = multi_game.make_multi_game_q_network(
      [num_actions] * num_games, torso_name, num_atoms=num_atoms,
      feature_dim=feature_dim)
  params = jax.eval_shape(network.init, jax.random.PRNGKey(0))
  heads = _size(params["heads"])
  return _size(params), _size(params) - heads, heads // num_games


def main():
  print(f"{NUM_GAMES} games, {NUM_ACTIONS}-action heads, 51 atoms, "
        "512 features")
  print(f"{'size':<12} {'total':>12} {'shared':>12} {'per head':>10}")
  for name in torsos.TORSO_NAMES:
    total, shared, head = count(name)
    print(f"{name:<12} {total:>12,} {shared:>12,} {head:>10,}")


if __name__ == "__main__":
  main()
