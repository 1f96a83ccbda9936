"""One place that turns a game name into an environment.

Atari names (either spelling) give `environments.atari`'s ALE games under
the DQN Replay protocol; the names of `environments.known_answer.PROBLEMS`
give its known-answer chains, which have no modes, difficulties or sticky
actions (they are deterministic by construction, so that their optimal
values are exact). Every recorder, program and evaluator builds its games
here, so a known-answer problem runs through all of them unchanged.
"""

from typing import Optional

import dm_env

from environments import atari
from environments import known_answer

# An ALE agent step is 4 emulator frames; episode caps given in frames mean
# the same number of steps for a known-answer chain.
FRAMES_PER_STEP = 4


def make_environment(game: str,
                     mode: Optional[int] = None,
                     difficulty: Optional[int] = None,
                     seed: int = 0,
                     sticky_action_probability: float = 0.25,
                     full_action_space: bool = False,
                     max_episode_frames: int = 108_000) -> dm_env.Environment:
  """`game` as a dm_env environment with uint8 [84, 84, 4] observations.

  Arguments as in `atari.make_atari_environment`. For a known-answer
  problem the episode is capped at the smaller of its own step limit and
  max_episode_frames / FRAMES_PER_STEP steps; sticky actions and
  full_action_space do not apply, and a mode or difficulty is refused.
  """
  if known_answer.is_known_answer(game):
    if mode is not None or difficulty is not None:
      raise ValueError(f'{game} is a known-answer problem: it has no modes '
                       f'or difficulties (got mode={mode}, '
                       f'difficulty={difficulty}).')
    return known_answer.ChainEnvironment(
        known_answer.problem(game), seed=seed,
        max_episode_steps=max(max_episode_frames // FRAMES_PER_STEP, 1))
  return atari.make_atari_environment(
      game, mode=mode, difficulty=difficulty, seed=seed,
      sticky_action_probability=sticky_action_probability,
      full_action_space=full_action_space,
      max_episode_frames=max_episode_frames)
