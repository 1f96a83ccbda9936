"""Players that act on the objects the screen shows, read from the RAM.

The behaviour whose data a learner can improve on acts on what its
observations show, as the replay of a DQN agent does: its actions are a
function of the screen, so the frames predict them, and its mistakes show in
the rewards that follow. A lookahead planner decides from emulator rollouts
instead, which the frames do not show. These players read the positions of
the paddle, ball or boxers from RAM, where the screen draws the same objects
(the addresses are the AtariARI annotations, Anand et al. 2019, checked
against the moving objects here), and move towards a target drawn from them.

Quality is graded the way DQN Replay's checkpoints are: epsilon-greedy over
the player, epsilon falling along the checkpoints (`ObjectPlayerSchedule`).
The random actions leave their consequences in the data (a missed ball, a
punch taken), and the same player with less noise scores higher: an
improvement the data hold the evidence for.
"""

from typing import Dict, Type

import numpy as np

from environments import games

# Minimal action sets (environments.games.action_set), by name.
_PONG_UP, _PONG_DOWN, _PONG_NOOP = 2, 3, 0   # RIGHT moves Pong's paddle up.
_BREAKOUT_NOOP, _BREAKOUT_FIRE, _BREAKOUT_RIGHT, _BREAKOUT_LEFT = 0, 1, 2, 3
# Boxing's 18 actions: (dx, dy, fire) -> index; dy > 0 is down the screen.
_BOXING_ACTIONS = {
    (0, 0, False): 0, (0, 0, True): 1, (0, -1, False): 2, (1, 0, False): 3,
    (-1, 0, False): 4, (0, 1, False): 5, (1, -1, False): 6,
    (-1, -1, False): 7, (1, 1, False): 8, (-1, 1, False): 9,
    (0, -1, True): 10, (1, 0, True): 11, (-1, 0, True): 12,
    (0, 1, True): 13, (1, -1, True): 14, (-1, -1, True): 15,
    (1, 1, True): 16, (-1, 1, True): 17,
}


def _toward(position: int, target: int, dead_zone: int) -> int:
  """-1, 0 or +1: the direction that brings `position` to `target`."""
  if position < target - dead_zone:
    return 1
  if position > target + dead_zone:
    return -1
  return 0


class PongTracker:
  """Keeps its paddle level with the ball; centres it while no ball is in
  play. Too weak for a study (docs/STUDY.md: -9 to -12 with no noise, and
  an extrapolating variant no better)."""
  PADDLE_Y, BALL_X, BALL_Y = 51, 49, 54
  PADDLE_CENTRE = 120
  # The paddle's RAM y sits this far from the ball's when level; with the
  # dead zone, the best of a sweep (docs/STUDY.md).
  BALL_TO_PADDLE = -5
  DEAD_ZONE = 6

  def select(self, ram: np.ndarray) -> int:
    if ram[self.BALL_X] == 0:
      target = self.PADDLE_CENTRE
    else:
      target = int(ram[self.BALL_Y]) + self.BALL_TO_PADDLE
    direction = _toward(int(ram[self.PADDLE_Y]), target, self.DEAD_ZONE)
    return {1: _PONG_DOWN, -1: _PONG_UP, 0: _PONG_NOOP}[direction]


class FreewayRunner:
  """Runs up the road. A player that acts on no object, but whose actions
  the frames still predict (the chicken moves up) and whose noise costs
  crossings: the game where imitation is enough."""
  UP = 1

  def select(self, ram: np.ndarray) -> int:
    del ram
    return self.UP


class BreakoutTracker:
  """Serves when no ball is in play; otherwise keeps the paddle under the
  ball."""
  PADDLE_X, BALL_X, BALL_Y = 72, 99, 101
  # Best of a sweep (docs/STUDY.md: offsets -10 / -8 / -6, three episodes
  # each: 50 / 53 / 37 points).
  BALL_TO_PADDLE = -8
  DEAD_ZONE = 4

  def select(self, ram: np.ndarray) -> int:
    if ram[self.BALL_Y] == 0:
      return _BREAKOUT_FIRE
    target = int(ram[self.BALL_X]) + self.BALL_TO_PADDLE
    direction = _toward(int(ram[self.PADDLE_X]), target, self.DEAD_ZONE)
    return {1: _BREAKOUT_RIGHT, -1: _BREAKOUT_LEFT, 0: _BREAKOUT_NOOP}[
        direction]


class BoxingChaser:
  """Walks to punching range beside the opponent, a little below it, and
  punches when there."""
  PLAYER_X, PLAYER_Y, ENEMY_X, ENEMY_Y = 32, 34, 33, 35
  # Horizontal distance and vertical offset it punches from: the best of a
  # sweep (docs/STUDY.md: reach 22 / 26 / 30 by offset -14 / +14, three
  # episodes each; 26 / +14 scored 8.0, level with the opponent about -3).
  REACH = 26
  LEVEL = 14
  DEAD_ZONE = 4

  def select(self, ram: np.ndarray) -> int:
    x, y = int(ram[self.PLAYER_X]), int(ram[self.PLAYER_Y])
    enemy_x, enemy_y = int(ram[self.ENEMY_X]), int(ram[self.ENEMY_Y])
    side = 1 if x <= enemy_x else -1
    dx = _toward(x, enemy_x - side * self.REACH, self.DEAD_ZONE)
    dy = _toward(y, enemy_y + self.LEVEL, self.DEAD_ZONE)
    in_reach = dx == 0 and abs(y - enemy_y - self.LEVEL) <= 2 * self.DEAD_ZONE
    return _BOXING_ACTIONS[(dx, dy, in_reach)]


PLAYERS: Dict[str, Type] = {
    'Pong': PongTracker,
    'Breakout': BreakoutTracker,
    'Boxing': BoxingChaser,
    'Freeway': FreewayRunner,
}


def has_player(game: str) -> bool:
  return games.canonical_name(game) in PLAYERS


class ObjectPlayer:
  """A BehaviourPolicy: the game's player, on the environment's RAM."""

  def __init__(self, game: str):
    game = games.canonical_name(game)
    if game not in PLAYERS:
      raise ValueError(f'No object player for {game!r}; games with one: '
                       f'{sorted(PLAYERS)}.')
    self._player = PLAYERS[game]()
    self.description = f'object player ({type(self._player).__name__})'

  def select_action(self, timestep, environment) -> int:
    del timestep
    return self._player.select(environment.ram())
