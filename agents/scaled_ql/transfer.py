"""Carrying pre-trained parameters over to a network for another game list.

Fine-tuning on a game the backbone never saw (the paper's offline
fine-tuning experiment) keeps the pre-trained shared torso and projection and
gives the new game a freshly initialised head; games the checkpoint already
knows keep their trained heads. The heads' weights are stacked per game and
padded to the largest action count (networks.multi_game.MultiGameHeads), so
a head is copied action by action, output by output (51 atoms of a C51
head, one value of a scalar head), into the new padding.

Pure JAX/NumPy: nothing here imports acme, TensorFlow, Reverb or Launchpad.
"""

from typing import Any, Sequence

import numpy as np

from networks.multi_game import HEADS_MODULE as HEADS


def _outputs_per_action(head_weights: np.ndarray,
                        num_actions: Sequence[int]) -> int:
  """Outputs per action of stacked heads [G, D, A_max * outputs]."""
  return np.shape(head_weights)[-1] // max(num_actions)


class TransferError(ValueError):
  """The pre-trained parameters cannot seed the new network."""


def transfer_parameters(pretrained: Any, pretrained_games: Sequence[str],
                        pretrained_num_actions: Sequence[int], fresh: Any,
                        games: Sequence[str], num_actions: Sequence[int]
                        ) -> Any:
  """Parameters for `games`: shared layers and known heads from `pretrained`.

  Args:
    pretrained: parameters of the pre-trained network (Haiku mapping).
    pretrained_games, pretrained_num_actions: its game list and action counts.
    fresh: freshly initialised parameters of the new network; its new games'
      heads are kept from here.
    games, num_actions: the new network's game list and action counts.

  Returns:
    A new parameter mapping shaped like `fresh`.

  Raises:
    TransferError: the shared layers differ in shape (another network size
      or feature width), the heads' outputs per action differ (another
      value head or number of atoms), or a game's action count changed.
  """
  for module in fresh:
    if module == HEADS:
      continue
    if module not in pretrained:
      raise TransferError(
          f"The pre-trained parameters have no '{module}': they come from a "
          'different network (torso).')
    for name, value in fresh[module].items():
      shape = np.shape(pretrained[module][name])
      if shape != np.shape(value):
        raise TransferError(
            f'{module}/{name} is {shape} in the pre-trained parameters and '
            f'{np.shape(value)} in the new network: a different network size '
            'or feature width.')
  transferred = {module: {name: np.array(value) for name, value in
                          (fresh[module] if module == HEADS else
                           pretrained[module]).items()}
                 for module in fresh}

  old_w = np.asarray(pretrained[HEADS]["w"])
  old_outputs = _outputs_per_action(old_w, pretrained_num_actions)
  new_outputs = _outputs_per_action(transferred[HEADS]["w"], num_actions)
  if old_outputs != new_outputs:
    raise TransferError(
        f'The pre-trained heads give {old_outputs} outputs per action and '
        f'the new network\'s {new_outputs}: another value head or number of '
        'atoms.')
  old_max, new_max = max(pretrained_num_actions), max(num_actions)
  old_w = old_w.reshape(old_w.shape[:2] + (old_max, old_outputs))
  old_b = np.asarray(pretrained[HEADS]["b"]).reshape(-1, old_max, old_outputs)
  new_w = transferred[HEADS]["w"].reshape(
      transferred[HEADS]["w"].shape[:2] + (new_max, new_outputs))
  new_b = transferred[HEADS]["b"].reshape(-1, new_max, new_outputs)
  if old_w.shape[1] != new_w.shape[1]:
    raise TransferError(
        f'The heads read {old_w.shape[1]} features in the pre-trained '
        f'network and {new_w.shape[1]} in the new one.')
  for new_id, game in enumerate(games):
    if game not in pretrained_games:
      continue
    old_id = list(pretrained_games).index(game)
    actions = num_actions[new_id]
    if pretrained_num_actions[old_id] != actions:
      raise TransferError(
          f'{game} had {pretrained_num_actions[old_id]} actions when '
          f'pre-trained and has {actions} now: the action spaces differ.')
    new_w[new_id, :, :actions] = old_w[old_id, :, :actions]
    new_b[new_id, :actions] = old_b[old_id, :actions]
  transferred[HEADS]["w"] = new_w.reshape(transferred[HEADS]["w"].shape)
  transferred[HEADS]["b"] = new_b.reshape(transferred[HEADS]["b"].shape)
  return transferred
