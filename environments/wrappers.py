"""dm_env wrappers for learning from the Atari environment.

`AtariEnvironment` reports the raw score change as its reward, which
evaluation needs; online learners learn from the clipped reward, like the
DQN Replay data (`clipped_reward` in the RL Unplugged schema).
"""

import dm_env

from environments import atari


class ClippedRewardEnvironment(dm_env.Environment):
  """Passes everything through but clips rewards to [-1, 1]."""

  def __init__(self, environment: dm_env.Environment):
    self._environment = environment

  def _clipped(self, timestep: dm_env.TimeStep) -> dm_env.TimeStep:
    if timestep.reward is None:  # First timestep of an episode.
      return timestep
    return timestep._replace(reward=atari.clip_reward(timestep.reward))

  def reset(self) -> dm_env.TimeStep:
    return self._clipped(self._environment.reset())

  def step(self, action) -> dm_env.TimeStep:
    return self._clipped(self._environment.step(action))

  def observation_spec(self):
    return self._environment.observation_spec()

  def action_spec(self):
    return self._environment.action_spec()

  def reward_spec(self):
    return self._environment.reward_spec().replace(name='clipped_reward')

  def discount_spec(self):
    return self._environment.discount_spec()

  def close(self):
    self._environment.close()

  @property
  def environment(self) -> dm_env.Environment:
    return self._environment
