"""Acme's own JAX DQN builder through launchers.programs.online_program.make_program.

Real Pong (clipped rewards for learning, raw scores for the evaluator), a
tiny Haiku Q-network, Acme's DQNBuilder (prioritised Reverb replay, n-step
adder, SGDLearner, epsilon-greedy actor), under Launchpad local_mt. The
program stops itself at NUM_STEPS learner steps.
Usage: python tests/programs/dqn_online.py WORKDIR NUM_STEPS
"""

import builders  # noqa: F401  (compat shim before acme)

from absl import app
from acme.agents.jax import dqn
from acme.agents.jax.dqn import actor as dqn_actor
from acme.jax import networks as networks_lib
import haiku as hk
import jax
import jax.numpy as jnp
import launchpad as lp
import numpy as np

from environments import atari
from environments import wrappers
from launchers.programs import online_program
from launchers.programs import run_logs


def make_network(environment_spec) -> networks_lib.FeedForwardNetwork:
  """A tiny convolutional Q-network on uint8 [84, 84, 4] frames."""
  num_actions = environment_spec.actions.num_values

  def q_values(observation):
    x = observation.astype(jnp.float32) / 255.0
    x = jax.nn.relu(hk.Conv2D(8, kernel_shape=8, stride=4)(x))
    x = jax.nn.relu(hk.Conv2D(8, kernel_shape=4, stride=2)(x))
    return hk.Linear(num_actions)(hk.Flatten()(x))

  network = hk.without_apply_rng(hk.transform(q_values))
  dummy = np.zeros((1,) + environment_spec.observations.shape,
                   environment_spec.observations.dtype)
  return networks_lib.FeedForwardNetwork(
      init=lambda key: network.init(key, dummy), apply=network.apply)


def actor_environment(seed):
  return wrappers.ClippedRewardEnvironment(atari.make_atari_environment(
      'Pong', seed=seed % (2**31), max_episode_frames=800))


def evaluation_environment(seed):
  return atari.make_atari_environment('Pong', seed=seed % (2**31),
                                      max_episode_frames=400)


def main(argv):
  workdir, num_steps = argv[1], int(argv[2])
  config = dqn.DQNConfig(
      batch_size=8, min_replay_size=100, samples_per_insert=4.0,
      samples_per_insert_tolerance_rate=1.0, max_replay_size=10_000,
      prefetch_size=2, n_step=3, target_update_period=50, epsilon=0.1,
      learning_rate=1e-4)
  builder = dqn.DQNBuilder(
      config, loss_fn=dqn.PrioritizedDoubleQLearning(
          discount=config.discount,
          importance_sampling_exponent=config.importance_sampling_exponent),
      logger_fn=lambda: run_logs.make_learner_logger(workdir, num_steps))
  program = online_program.make_program(
      builder, environment_factory=actor_environment,
      network_factory=make_network, policy_factory=dqn_actor.behavior_policy,
      config=online_program.OnlineProgramConfig(
          workdir=workdir, num_steps=num_steps, num_actors=1,
          checkpoint_every_steps=100,
          checkpoint_description={'agent': 'acme.agents.jax.dqn',
                                  'game': 'Pong'},
          evaluation_game='Pong', eval_every_steps=100),
      evaluation_environment_factory=evaluation_environment,
      name='acme_dqn_online')
  lp.launch(program, launch_type='local_mt', serialize_py_nodes=False)


if __name__ == '__main__':
  app.run(main)
