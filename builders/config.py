"""Configuration of the Scaled Q-Learning builder (the agent's Acme parts).

The learner's settings live in `agents.scaled_ql.config.ScaledQLConfig`; this
adds what only the Acme side needs: the game list the heads stand for, and
the actors, Reverb replay and dataset settings of online fine-tuning. The
paper gives none of the online settings (shared/PAPER_FACTS.md B5: NOT
FOUND); the defaults are the DQN-Replay / Dopamine ones the data were
collected with, marked [dopamine].
"""

import dataclasses
from typing import Tuple

from agents.scaled_ql import config as learner_config


@dataclasses.dataclass(frozen=True)
class ScaledQLBuilderConfig:
  """Attributes:

    learner: the learner's hyperparameters (paper defaults, see there).
    games: canonical names of the games, in head order; a batch's game_id
      indexes this tuple.
    num_actions: each game's number of actions (its minimal action set), in
      the same order; sets the width of each head.
    online_game: the game online actors play (fine-tuning on a variant of a
      training game or on a new game); must be one of `games`.
    actor_epsilon: exploration of the online actors. [dopamine] 0.01.
    evaluation_epsilon: exploration of evaluators. [dopamine] 0.001.
    variable_update_period: actor steps between parameter fetches.
    replay_table_name: Reverb table of online transitions.
    max_replay_size: [dopamine] 1M transitions.
    min_replay_size: transitions before learning starts. [dopamine] 20k.
    samples_per_insert: learner samples per inserted transition; Dopamine
      updates every 4 steps with batch 32, i.e. 8.
    samples_per_insert_tolerance_rate: slack of Reverb's rate limiter, as a
      fraction of min_replay_size * samples_per_insert (Acme's DQN uses 0.1);
      never less than three batches.
    rate_limiter_timeout_ms: how long one sampling attempt may wait on an
      empty or rate-limited table before control returns to Python (so a
      stopping program is never stuck inside Reverb).
    prefetch_size: batches the online dataset prepares ahead.
  """
  learner: learner_config.ScaledQLConfig
  games: Tuple[str, ...]
  num_actions: Tuple[int, ...]
  online_game: str = ''
  actor_epsilon: float = 0.01
  evaluation_epsilon: float = 0.001
  variable_update_period: int = 1000
  replay_table_name: str = 'priority_table'
  max_replay_size: int = 1_000_000
  min_replay_size: int = 20_000
  samples_per_insert: float = 8.0
  samples_per_insert_tolerance_rate: float = 0.1
  rate_limiter_timeout_ms: int = 1_000
  prefetch_size: int = 2

  def __post_init__(self):
    if not self.games:
      raise ValueError('ScaledQLBuilderConfig needs at least one game.')
    if len(self.games) != len(self.num_actions):
      raise ValueError(
          f'games and num_actions differ in length: {len(self.games)} games '
          f'{list(self.games)} but {len(self.num_actions)} action counts.')
    if len(set(self.games)) != len(self.games):
      raise ValueError(f'games contains duplicates: {list(self.games)}.')
    if self.online_game and self.online_game not in self.games:
      raise ValueError(
          f'online_game {self.online_game!r} is not one of the agent\'s games '
          f'{list(self.games)}; add it to games (it gets its own head).')

  def game_index(self, game: str) -> int:
    if game not in self.games:
      raise ValueError(f'{game!r} is not one of the agent\'s games {list(self.games)}.')
    return self.games.index(game)
