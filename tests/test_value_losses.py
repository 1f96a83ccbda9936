"""The value_loss choices (C51, HL-Gauss, Huber, MSE) against hand
computations, through the network and the update step, and in checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from agents.scaled_ql import checkpointing
from agents.scaled_ql import losses
from agents.scaled_ql import update_step as update_lib
from agents.scaled_ql.config import VALUE_LOSSES, ScaledQLConfig
from agents.scaled_ql.networks import make_network
from networks import multi_game

# Two examples, three action slots; the second example's game has two actions.
Q_TM1 = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], np.float32)
ACTION = np.array([1, 0], np.int32)
REWARD = np.array([0.5, -1.0], np.float32)
DISCOUNT = np.array([0.9, 0.5], np.float32)
TARGET_Q_T = np.array([[2.0, 4.0, 1.0], [1.0, 0.0, 9.0]], np.float32)
VALID = np.array([[True, True, True], [True, True, False]])
# Online Q-values at s_t for Double DQN: they pick action 0 and action 1 (the
# 100 is a padded action and must not win).
ONLINE_Q_T = np.array([[5.0, 0.0, 0.0], [0.0, 1.0, 100.0]], np.float32)


@pytest.fixture(autouse=True, scope="module")
def float32_matmuls():
  # GPUs run float32 matmuls in TF32 (~1e-3 relative): too coarse to compare.
  with jax.default_matmul_precision("float32"):
    yield


def _scalar_td(loss, selector=None):
  return np.asarray(losses.scalar_td_loss(
      Q_TM1, ACTION, REWARD, DISCOUNT, TARGET_Q_T, VALID, loss, selector))


def test_scalar_td_loss_by_hand():
  # Target network's greedy actions: 1 (q 4.0) and 0 (q 1.0; 9.0 is padded).
  # Targets 0.5 + 0.9 * 4 = 4.1 and -1 + 0.5 * 1 = -0.5; TD errors 2.1, -0.5.
  np.testing.assert_allclose(_scalar_td("huber"), [2.1 - 0.5, 0.5 * 0.25],
                             rtol=1e-6)
  np.testing.assert_allclose(_scalar_td("mse"), [0.5 * 2.1**2, 0.5 * 0.25],
                             rtol=1e-6)
  # Double DQN: actions 0 and 1 -> targets 2.3 and -1.0; TD 0.3 and -1.0
  # (|-1| is not < 1: the linear branch, 1 - 0.5).
  np.testing.assert_allclose(_scalar_td("huber", ONLINE_Q_T),
                             [0.5 * 0.09, 0.5], rtol=1e-5)
  np.testing.assert_allclose(_scalar_td("mse", ONLINE_Q_T),
                             [0.5 * 0.09, 0.5], rtol=1e-5)


def test_scalar_td_loss_rejects_an_unknown_loss():
  with pytest.raises(ValueError, match="loss='l1'.*huber"):
    _scalar_td("l1")


def test_scalar_td_gradient_flows_into_q_tm1_only():
  grad_q, grad_target = jax.grad(
      lambda q, t: jnp.sum(losses.scalar_td_loss(
          q, ACTION, REWARD, DISCOUNT, t, VALID, "huber")), argnums=(0, 1))(
              Q_TM1, TARGET_Q_T)
  np.testing.assert_array_equal(grad_target, 0.0)
  # d huber / d q = -clip(td, -1, 1) at the taken action: -1 and +0.5.
  np.testing.assert_allclose(grad_q, [[0, -1.0, 0], [0.5, 0, 0]], rtol=1e-6)


def test_huber_with_cql_is_d3rlpy_discrete_cql():
  """d3rlpy 2.8.1 DiscreteCQL: mean Huber(y - Q(s, a)) with the DoubleDQN
  target y, plus alpha * mean(logsumexp_a Q(s, a) - Q(s, a_data))."""
  alpha = 1.0
  q = Q_TM1[:1].repeat(2, 0)  # All actions valid for both, as in d3rlpy.
  valid = np.ones_like(VALID)
  greedy = ONLINE_Q_T[:, :2].argmax(-1)
  y = REWARD + DISCOUNT * TARGET_Q_T[np.arange(2), greedy]
  diff = y - q[np.arange(2), ACTION]
  huber = np.where(np.abs(diff) < 1, 0.5 * diff**2, np.abs(diff) - 0.5)
  logsumexp = np.log(np.exp(q.astype(np.float64)).sum(-1))
  expected = huber.mean() + alpha * np.mean(logsumexp - q[np.arange(2),
                                                          ACTION])
  selector = ONLINE_Q_T.copy()
  selector[:, 2] = -1.0  # No padded actions here.
  total, metrics = losses.scaled_ql_loss(
      logits_tm1=q[..., None], features_tm1=np.zeros((2, 4), np.float32),
      features_t=None, target_logits_t=TARGET_Q_T[..., None],
      action_tm1=ACTION, reward=REWARD, discount=DISCOUNT,
      valid_actions=valid, support=None, cql_alpha=alpha,
      dr3_coefficient=0.0, value_loss="huber", selector_q_t=selector)
  np.testing.assert_allclose(total, expected, rtol=1e-6)
  assert "dr3_loss" not in metrics
  with pytest.raises(ValueError, match="dr3_coefficient=0.03 needs"):
    losses.scaled_ql_loss(
        logits_tm1=q[..., None], features_tm1=np.zeros((2, 4), np.float32),
        features_t=None, target_logits_t=TARGET_Q_T[..., None],
        action_tm1=ACTION, reward=REWARD, discount=DISCOUNT,
        valid_actions=valid, support=None, cql_alpha=alpha,
        dr3_coefficient=0.03, value_loss="huber")


def test_hl_gauss_histogram_matches_scipy_normal_cdf():
  edges = np.linspace(-10, 10, 52)
  sigma = 0.75 * (edges[1] - edges[0])
  target = np.array([-10.0, -3.3, 0.0, 0.2, 9.9, 10.0])
  cdf = stats.norm.cdf(edges[None, :], loc=target[:, None], scale=sigma)
  expected = np.diff(cdf, axis=1) / (cdf[:, -1:] - cdf[:, :1])
  got = np.asarray(losses.hl_gauss_histogram(
      target.astype(np.float32), edges.astype(np.float32), sigma))
  np.testing.assert_allclose(got, expected, atol=2e-6)
  np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-6)
  # Inside the range the histogram's mean over bin centres is the target.
  centres = (edges[:-1] + edges[1:]) / 2
  np.testing.assert_allclose((got @ centres)[1:4], target[1:4], atol=1e-3)


def test_hl_gauss_td_loss_by_hand():
  rng = np.random.default_rng(0)
  num_bins, v_min, v_max = 11, -5.0, 5.0
  edges = np.linspace(v_min, v_max, num_bins + 1)
  centres = (edges[:-1] + edges[1:]) / 2
  logits_tm1 = rng.normal(size=(2, 3, num_bins)).astype(np.float32)
  target_logits_t = 3 * rng.normal(size=(2, 3, num_bins)).astype(np.float32)
  # A reward of 9 pushes the first target past v_max: it is clipped to 5.
  reward = np.array([9.0, -0.3], np.float32)

  softmax = lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)
  expected = []
  for b in range(2):
    q_t = softmax(target_logits_t[b].astype(np.float64)) @ centres
    greedy = np.argmax(np.where(VALID[b], q_t, -np.inf))
    target = np.clip(reward[b] + DISCOUNT[b] * q_t[greedy], v_min, v_max)
    cdf = stats.norm.cdf(edges, loc=target, scale=0.75 * 10 / num_bins)
    probs = np.diff(cdf) / (cdf[-1] - cdf[0])
    log_p = np.log(softmax(logits_tm1[b, ACTION[b]].astype(np.float64)))
    expected.append(-np.sum(probs * log_p))
  got = losses.hl_gauss_td_loss(
      logits_tm1, ACTION, reward, DISCOUNT, target_logits_t, VALID,
      centres.astype(np.float32), 0.75)
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_value_heads_and_supports():
  categorical = multi_game.value_support("categorical", 5, -2.0, 2.0)
  np.testing.assert_allclose(categorical, [-2, -1, 0, 1, 2])
  np.testing.assert_allclose(multi_game.value_support("histogram", 4, -2.0,
                                                      2.0),
                             [-1.5, -0.5, 0.5, 1.5])
  assert multi_game.value_support("scalar", 51, -10.0, 10.0) is None
  with pytest.raises(ValueError, match="value_head 'quantile'"):
    multi_game.value_support("quantile", 51, -10.0, 10.0)

  network = make_network(ScaledQLConfig(network_size="nature_dqn",
                                        feature_dim=16, value_loss="mse"),
                         (3, 5))
  params = network.init(jax.random.PRNGKey(0))
  assert params["heads"]["w"].shape == (2, 16, 5)
  observation = np.random.default_rng(0).integers(0, 256, (2, 84, 84, 4),
                                                  np.uint8)
  out = network.apply(params, observation, np.array([0, 1], np.int32))
  assert out.q_logits.shape == (2, 5, 1)
  np.testing.assert_array_equal(out.q_values[1], out.q_logits[1, :, 0])
  np.testing.assert_array_equal(out.q_values[0, :3], out.q_logits[0, :3, 0])
  np.testing.assert_array_equal(out.q_values[0, 3:],
                                multi_game.INVALID_ACTION_VALUE)


def test_config_rejects_unknown_value_loss():
  with pytest.raises(ValueError, match="value_loss='c51'; valid"):
    ScaledQLConfig(value_loss="c51")
  with pytest.raises(ValueError, match="hl_gauss_sigma_ratio=0"):
    ScaledQLConfig(hl_gauss_sigma_ratio=0)
  assert ScaledQLConfig().value_loss == "categorical"


def test_a_checkpoint_of_one_value_loss_is_refused_by_another():
  saved = checkpointing.network_description(ScaledQLConfig(value_loss="huber"))
  assert saved["value_loss"] == "huber"
  assert checkpointing.network_differences(
      saved, ScaledQLConfig(value_loss="huber")) == []
  assert checkpointing.network_differences(saved, ScaledQLConfig()) == [
      "value_loss: checkpoint has 'huber', this run has 'categorical'"]


NUM_ACTIONS = (3, 5)


def _batch(batch_size, seed=0, terminal=False):
  rng = np.random.default_rng(seed)
  game_id = rng.integers(0, len(NUM_ACTIONS), batch_size).astype(np.int32)
  frames = lambda: rng.integers(0, 256, (batch_size, 84, 84, 4), np.uint8)
  discount = np.where(rng.uniform(size=batch_size) < 0.8, 0.99, 0.0)
  return update_lib.MultiGameTransition(
      observation=frames(),
      action=(rng.integers(0, 5, batch_size) %
              np.asarray(NUM_ACTIONS)[game_id]).astype(np.int32),
      reward=rng.uniform(-1, 1, batch_size).astype(np.float32),
      discount=(0 * discount if terminal else discount).astype(np.float32),
      next_observation=frames(),
      game_id=game_id)


def _tiny(**kwargs):
  return ScaledQLConfig(network_size="nature_dqn", feature_dim=32,
                        num_atoms=11, batch_size=8, **kwargs)


def _hl_gauss_entropy(target, config):
  """Mean entropy of the HL-Gauss histograms of `target`: the cross-entropy's
  floor."""
  edges = np.linspace(config.v_min, config.v_max, config.num_atoms + 1)
  sigma = config.hl_gauss_sigma_ratio * (edges[1] - edges[0])
  cdf = stats.norm.cdf(edges[None], loc=target[:, None], scale=sigma)
  probs = np.diff(cdf, axis=1) / (cdf[:, -1:] - cdf[:, :1])
  return -np.mean(np.sum(probs * np.log(np.maximum(probs, 1e-30)), -1))


@pytest.mark.parametrize("value_loss", VALUE_LOSSES)
def test_updates_fit_a_fixed_batch(value_loss):
  """Terminal transitions, so the target is the reward: the loss falls
  towards its floor (0, or the target histogram's entropy for HL-Gauss)."""
  config = _tiny(value_loss=value_loss)
  network = make_network(config, NUM_ACTIONS)
  update = jax.jit(update_lib.make_update_step(network, config))
  state = update_lib.make_initial_state(network, config,
                                        jax.random.PRNGKey(0))
  batch = _batch(8, terminal=True)
  td = []
  for _ in range(60):
    state, metrics = update(state, batch)
    td.append(float(metrics["td_loss"]))
  floor = (_hl_gauss_entropy(batch.reward, config)
           if value_loss == "hl_gauss" else 0.0)
  assert td[-1] - floor < 0.5 * (td[0] - floor), (value_loss, floor, td[0],
                                                  td[-1])


@pytest.mark.parametrize("dr3_coefficient", [0.0, 0.03])
def test_double_q_huber_update_is_d3rlpy_discrete_cql(dr3_coefficient):
  """The update's loss equals a NumPy DiscreteCQL loss built from the
  network's outputs, with target parameters unlike the online ones."""
  config = _tiny(value_loss="huber", double_q=True, cql_alpha=1.0,
                 dr3_coefficient=dr3_coefficient)
  network = make_network(config, NUM_ACTIONS)
  state = update_lib.make_initial_state(network, config,
                                        jax.random.PRNGKey(0))
  state = state._replace(target_params=network.init(jax.random.PRNGKey(7)))
  batch = _batch(8, seed=3)
  _, metrics = jax.jit(update_lib.make_update_step(network, config))(state,
                                                                    batch)

  apply = lambda params, obs: network.apply(params, obs, batch.game_id)
  q_tm1 = np.asarray(apply(state.params, batch.observation).q_values,
                     np.float64)
  online_t = apply(state.params, batch.next_observation)
  q_online_t = np.asarray(online_t.q_values, np.float64)  # Padded: -1e9.
  q_target_t = np.asarray(apply(state.target_params,
                                batch.next_observation).q_values, np.float64)
  rows = np.arange(8)
  y = batch.reward + batch.discount * q_target_t[rows,
                                                 q_online_t.argmax(-1)]
  diff = y - q_tm1[rows, batch.action]
  huber = np.where(np.abs(diff) < 1, 0.5 * diff**2, np.abs(diff) - 0.5)
  valid = np.arange(5)[None] < np.asarray(NUM_ACTIONS)[batch.game_id][:, None]
  logsumexp = np.log(np.where(valid, np.exp(q_tm1), 0).sum(-1))
  cql = logsumexp - q_tm1[rows, batch.action]
  np.testing.assert_allclose(metrics["td_loss"], huber.mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics["cql_loss"], cql.mean(), rtol=1e-5)
  expected = huber.mean() + cql.mean()
  if dr3_coefficient:
    features_tm1 = np.asarray(apply(state.params, batch.observation).features)
    dr3 = np.mean(np.abs(np.sum(features_tm1 * np.asarray(online_t.features),
                                -1)))
    np.testing.assert_allclose(metrics["dr3_loss"], dr3, rtol=1e-5)
    expected += dr3_coefficient * dr3
  np.testing.assert_allclose(metrics["total_loss"], expected, rtol=1e-5)
