"""Atari game names: RL Unplugged's CamelCase names and ALE's ROM ids.

RL Unplugged / DQN Replay name games in CamelCase (`Pong`, `MsPacman`,
`SpaceInvaders`, `UpNDown`); ale-py names its bundled ROMs in snake_case
(`pong`, `ms_pacman`, `space_invaders`, `up_n_down`). The two are related by
inserting an underscore before every capital letter, so every function here
accepts either spelling and the project's canonical name is the CamelCase one
(it names dataset directories and TFDS configs).

The known-answer problems (`environments.known_answer`, not Atari games) are
accepted under their own names by `canonical_name`, `action_set` and
`num_actions`, so datasets, heads and programs treat them like games.
"""

import difflib
import functools
import re
from typing import List, Tuple

from ale_py import ALEInterface
from ale_py import LoggerMode
from ale_py import roms

from environments import known_answer

ALEInterface.setLoggerMode(LoggerMode.Error)


def _camel_to_rom_id(name: str) -> str:
  return re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()


def _rom_id_to_camel(rom_id: str) -> str:
  return ''.join(part[:1].upper() + part[1:] for part in rom_id.split('_'))


@functools.lru_cache(maxsize=None)
def _all_rom_ids() -> Tuple[str, ...]:
  return tuple(roms.get_all_rom_ids())


def all_games() -> List[str]:
  """Canonical (CamelCase) names of every game whose ROM ale-py bundles."""
  return [_rom_id_to_camel(rom_id) for rom_id in _all_rom_ids()]


def rom_id(game: str) -> str:
  """ALE ROM id of `game` (`'MsPacman'` or `'ms_pacman'` -> `'ms_pacman'`).

  Raises:
    ValueError: if no bundled ROM matches; the message suggests close names.
  """
  if not isinstance(game, str) or not game:
    raise ValueError(f'A game name must be a non-empty string, got {game!r}.')
  # 'ms_pacman' and 'pong' are ROM ids already; 'MsPacman' and 'Pong' are not.
  candidate = game if game.islower() else _camel_to_rom_id(game)
  if candidate in _all_rom_ids():
    return candidate
  spellings = list(_all_rom_ids()) + all_games()
  close = difflib.get_close_matches(game, spellings, n=5, cutoff=0.6)
  hint = (f' Did you mean one of {close}?' if close else
          f' Valid: {", ".join(sorted(all_games()))}.')
  raise ValueError(
      f'Unknown Atari game {game!r}: ale-py {len(_all_rom_ids())} bundled '
      f'ROMs include none called {candidate!r}.{hint} (Known-answer test '
      f'problems: {", ".join(known_answer.PROBLEMS)}.)')


def canonical_name(game: str) -> str:
  """RL Unplugged's CamelCase name of `game` (`'ms_pacman'` -> `'MsPacman'`);
  a known-answer problem's name is its own canonical name."""
  if known_answer.is_known_answer(game):
    return game
  return _rom_id_to_camel(rom_id(game))


@functools.lru_cache(maxsize=None)
def _action_sets(game_rom_id: str) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
  ale = ALEInterface()
  ale.loadROM(roms.get_rom_path(game_rom_id))
  minimal = tuple(a.value for a in ale.getMinimalActionSet())
  full = tuple(a.value for a in ale.getLegalActionSet())
  return minimal, full


def action_set(game: str, full_action_space: bool = False) -> Tuple[int, ...]:
  """ALE action ids that agent actions 0..A-1 stand for.

  Args:
    game: game name, either spelling.
    full_action_space: False (default) gives the game's minimal action set,
      which is what DQN Replay / RL Unplugged recorded, so recorded action
      indices mean the same thing as the published ones; True gives all 18.
      A known-answer problem has one action set: its own actions 0..A-1.
  """
  if known_answer.is_known_answer(game):
    return tuple(range(known_answer.problem(game).num_actions))
  minimal, full = _action_sets(rom_id(game))
  return full if full_action_space else minimal


def num_actions(game: str, full_action_space: bool = False) -> int:
  """Number of actions of `game` under the chosen action set."""
  return len(action_set(game, full_action_space))
