"""The Scaled Q-Learning builder inside Acme: replay, actors, learner, layouts."""

import builders  # noqa: F401  (compat shim before acme)

import acme
from acme import specs
from acme.jax.layouts import local_layout
import dm_env
import jax
import numpy as np
import pytest
import reverb

from agents.scaled_ql import config as learner_config
from builders import builder as builder_lib
from builders import config as builder_config
from environments import atari
from environments import wrappers

GAMMA = 0.9
N_STEP = 3


def _builder(games=('Pong', 'Breakout'), num_actions=(6, 4), online_game='Pong',
             **overrides):
  learner = learner_config.ScaledQLConfig(
      network_size='nature_dqn', feature_dim=32, num_atoms=11, batch_size=8,
      n_step=N_STEP, discount=GAMMA, target_update_period=20)
  settings = dict(min_replay_size=16, samples_per_insert=2.0,
                  samples_per_insert_tolerance_rate=1.0,
                  max_replay_size=10_000, variable_update_period=10,
                  rate_limiter_timeout_ms=200)
  settings.update(overrides)
  return builder_lib.ScaledQLBuilder(builder_config.ScaledQLBuilderConfig(
      learner=learner, games=games, num_actions=num_actions,
      online_game=online_game,
      online=builder_config.OnlineSettings(**settings)))


class _ScriptedEnvironment(dm_env.Environment):
  """Five steps with known rewards; a true terminal at the end."""

  REWARDS = [1.0, -1.0, 0.5, 1.0, 1.0]

  def __init__(self):
    self._t = 0

  def reset(self):
    self._t = 0
    return dm_env.restart(self._observation())

  def step(self, action):
    reward = np.float32(self.REWARDS[self._t])
    self._t += 1
    last = self._t == len(self.REWARDS)
    return dm_env.TimeStep(
        dm_env.StepType.LAST if last else dm_env.StepType.MID, reward,
        np.float32(0.0 if last else 1.0), self._observation())

  def _observation(self):
    return np.full((84, 84, 4), self._t, np.uint8)

  def observation_spec(self):
    return specs.Array((84, 84, 4), np.uint8)

  def action_spec(self):
    return specs.DiscreteArray(6, dtype=np.int32)

  def reward_spec(self):
    return specs.Array((), np.float32)

  def discount_spec(self):
    return specs.BoundedArray((), np.float32, 0.0, 1.0)


def _expected_transition(t, t_next):
  """Hand computation of the target's reward and discount from s_t to s_t_next."""
  rewards = _ScriptedEnvironment.REWARDS
  k = t_next - t
  reward = sum(GAMMA ** i * rewards[t + i] for i in range(k))
  terminal = t_next == len(rewards)
  return reward, 0.0 if terminal else GAMMA ** k


def test_replay_transitions_carry_the_full_n_step_discount():
  builder = _builder(min_replay_size=5, samples_per_insert=1.0,
                     samples_per_insert_tolerance_rate=100.0)
  environment = _ScriptedEnvironment()
  spec = specs.make_environment_spec(environment)
  server = reverb.Server(builder.make_replay_tables(spec), port=None)
  client = reverb.Client(f'localhost:{server.port}')
  adder = builder.make_adder(client)
  timestep = environment.reset()
  adder.add_first(timestep)
  while not timestep.last():
    timestep = environment.step(0)
    adder.add(np.int32(0), timestep)
  # Acme's n-step adder also writes the shorter transitions of the episode's
  # start (s0->s1, s0->s2), then n-step ones, then shorter ones to the end.
  expected_pairs = {(0, 1), (0, 2), (0, 3), (1, 4), (2, 5), (3, 5), (4, 5)}
  seen = {}
  iterator = builder.make_dataset_iterator(client)
  while set(seen) != expected_pairs:
    batch = next(iterator)
    for i in range(batch.action.shape[0]):
      pair = (int(batch.observation[i, 0, 0, 0]),
              int(batch.next_observation[i, 0, 0, 0]))
      assert pair in expected_pairs, pair
      seen[pair] = (batch.reward[i], batch.discount[i], int(batch.game_id[i]))
  for (t, t_next), (reward, discount, game_id) in seen.items():
    expected_reward, expected_discount = _expected_transition(t, t_next)
    np.testing.assert_allclose(reward, expected_reward, rtol=1e-6)
    np.testing.assert_allclose(discount, expected_discount, rtol=1e-6)
    assert game_id == 0  # Pong is game 0 of the agent.
  server.stop()


def test_policy_plays_the_game_head_and_only_its_actions():
  builder = _builder(online_game='Breakout')
  networks = builder.make_networks()
  params = networks.init(jax.random.PRNGKey(0))
  policy = jax.jit(builder.make_policy(networks))
  observation = np.random.default_rng(0).integers(0, 255, (64, 84, 84, 4), np.uint8)
  greedy = np.asarray(policy(params, jax.random.PRNGKey(1), observation))
  q_values = networks.apply(params, observation, np.full(64, 1, np.int32)).q_values
  # Greedy actions (epsilon 0.01: nearly all) are Breakout head's argmax.
  assert np.mean(greedy == np.argmax(q_values, axis=-1)) > 0.9
  assert greedy.max() < 4  # Breakout has 4 actions, Pong 6.


def test_unknown_online_game_is_refused():
  with pytest.raises(ValueError, match="online_game 'Freeway' is not one of"):
    _builder(online_game='Freeway')


def test_online_fine_tuning_under_acme_local_layout(tmp_path):
  """Real Pong, Reverb replay, Acme actor and LocalLayout, our learner."""
  builder = _builder()
  environment = wrappers.ClippedRewardEnvironment(
      atari.make_atari_environment('Pong', seed=3))
  networks = builder.make_networks()
  agent = local_layout.LocalLayout(
      seed=0, environment_spec=specs.make_environment_spec(environment),
      builder=builder, networks=networks,
      policy_network=builder.make_policy(networks),
      workdir=str(tmp_path), min_replay_size=builder.config.online.min_replay_size,
      samples_per_insert=builder.config.online.samples_per_insert,
      batch_size=builder.config.learner.batch_size, checkpoint=True)
  initial = jax.device_get(agent._learner.get_variables(['policy'])[0])
  acme.EnvironmentLoop(environment, agent).run(num_steps=200)
  learner_steps = agent._learner.save().steps
  # LocalLayout steps the learner samples_per_insert / batch_size times per
  # actor step once min_replay_size observations are in.
  assert learner_steps >= (200 - 16) * 2.0 / 8 - 2
  trained = jax.device_get(agent._learner.get_variables(['policy'])[0])
  changed = jax.tree_util.tree_map(lambda a, b: not np.array_equal(a, b),
                                   initial, trained)
  assert any(jax.tree_util.tree_leaves(changed))
