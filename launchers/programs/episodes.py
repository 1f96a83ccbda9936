"""The one episode loop of the programs' actors and evaluators."""

from typing import Callable, NamedTuple, Optional

from acme import core
import dm_env


class EpisodeResult(NamedTuple):
  episode_return: float
  steps: int


def run_episode(environment: dm_env.Environment, actor: core.Actor,
                should_stop: Callable[[], bool],
                update_actor: bool = False) -> Optional[EpisodeResult]:
  """Plays one episode; None if `should_stop()` turns true during it.

  Acme's EnvironmentLoop.run_episode without its counter and with a stop
  check before every action (the first action fetches the parameters).
  `update_actor` calls `actor.update()` after every step, as Acme's loop
  does for learning actors (periodic parameter fetches), also only while
  `should_stop()` is false: a remote call left in flight when the learner's
  server goes away never returns, and the process then hangs at exit
  joining the thread that made it (measured with Acme's DQN actor).
  """
  timestep = environment.reset()
  actor.observe_first(timestep)
  episode_return = 0.0
  steps = 0
  while not timestep.last():
    if should_stop():
      return None
    action = actor.select_action(timestep.observation)
    timestep = environment.step(action)
    actor.observe(action, next_timestep=timestep)
    episode_return += float(timestep.reward)
    steps += 1
    if update_actor:
      # update() may ask the learner for parameters: never after the stop
      # (the first select_action may have waited past it).
      if should_stop():
        return None
      actor.update()
  return EpisodeResult(episode_return, steps)
