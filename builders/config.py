"""Configuration of the Scaled Q-Learning builder (the agent's Acme parts).

The learner's settings live in `agents.scaled_ql.config.ScaledQLConfig`.
`OnlineSettings` holds what only online fine-tuning needs (actors, Reverb
replay, the replay dataset), once, for the builder and for every program
that runs it; `ScaledQLBuilderConfig` adds the game list the heads stand
for. The paper gives none of the online settings (shared/PAPER_FACTS.md B5:
NOT FOUND). Sources of the defaults:
  [dopamine] Dopamine's DQN / data-efficient Rainbow (Atari 100k) gin
             configs, the agents the DQN-Replay data were collected with.
  [acme]     Acme 0.4.0's JAX DQN config.
  [choice]   our choice, with the reason.
"""

import dataclasses
from typing import Tuple

from agents.scaled_ql import config as learner_config


@dataclasses.dataclass(frozen=True)
class OnlineSettings:
  """Attributes:

    actor_epsilon: exploration of the online actors. [dopamine] 0.01.
    evaluation_epsilon: exploration of evaluators. [dopamine] 0.001.
    variable_update_period: actor steps between parameter fetches from the
      learner. [choice] 100: Acme's DQN uses 1,000 [acme], a twentieth of
      the paper's 20k-step fine-tuning budget; 100 keeps the actors at most
      a few learner updates behind at the cost of one small RPC per 100
      steps.
    replay_table_name: Reverb table of online transitions.
    max_replay_size: replay capacity in transitions. [dopamine] 1M.
    min_replay_size: transitions before learning starts. [dopamine] 1,600,
      the data-efficient (Atari 100k) setting: the usual 20k would be the
      paper's whole 20k-step fine-tuning budget.
    samples_per_insert: learner samples per inserted transition; Dopamine
      updates every 4 steps with batch 32, i.e. 8. [dopamine]
    samples_per_insert_tolerance_rate: slack of Reverb's rate limiter, as a
      fraction of min_replay_size * samples_per_insert. [acme] 0.1; never
      less than three batches (ScaledQLBuilder.make_replay_tables).
    rate_limiter_timeout_ms: how long one sampling attempt may wait on an
      empty or rate-limited table before control returns to Python (so a
      stopping program is never stuck inside Reverb). [choice] 1,000.
    prefetch_size: batches the online dataset prepares ahead. [choice] 2.
  """
  actor_epsilon: float = 0.01
  evaluation_epsilon: float = 0.001
  variable_update_period: int = 100
  replay_table_name: str = 'priority_table'
  max_replay_size: int = 1_000_000
  min_replay_size: int = 1_600
  samples_per_insert: float = 8.0
  samples_per_insert_tolerance_rate: float = 0.1
  rate_limiter_timeout_ms: int = 1_000
  prefetch_size: int = 2


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
    online: actors, replay and replay dataset of online fine-tuning.
  """
  learner: learner_config.ScaledQLConfig
  games: Tuple[str, ...]
  num_actions: Tuple[int, ...]
  online_game: str = ''
  online: OnlineSettings = OnlineSettings()

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
