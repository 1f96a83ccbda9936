"""Loss terms against independent computations: NumPy loops and rlax."""

import jax
import numpy as np
import pytest

from agents.scaled_ql import losses
from networks.multi_game import expected_values

B, A, N = 16, 6, 51
SUPPORT = np.linspace(-10.0, 10.0, N).astype(np.float32)


@pytest.fixture(autouse=True, scope="module")
def float32_matmuls():
  # GPUs run float32 matmuls in TF32 (~1e-3 relative): too coarse to compare.
  with jax.default_matmul_precision("float32"):
    yield


@pytest.fixture
def rlax():
  """rlax, the independent reference; its tests skip where it is missing."""
  return pytest.importorskip("rlax")


def _numpy_project(atoms, probs, support):
  """Bellemare et al. 2017, Algorithm 1, one atom at a time."""
  support = support.astype(np.float64)
  v_min, delta = support[0], support[1] - support[0]
  out = np.zeros((atoms.shape[0], support.shape[0]), np.float64)
  for b in range(atoms.shape[0]):
    for z, p in zip(atoms[b], probs[b]):
      pos = np.clip((z - v_min) / delta, 0, len(support) - 1)
      lower, upper = int(np.floor(pos)), int(np.ceil(pos))
      if lower == upper:
        out[b, lower] += p
      else:
        out[b, lower] += p * (upper - pos)
        out[b, upper] += p * (pos - lower)
  return out


def _softmax(x):
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _random_inputs(seed):
  rng = np.random.default_rng(seed)
  return dict(
      logits_tm1=rng.normal(size=(B, A, N)).astype(np.float32) * 2,
      action_tm1=rng.integers(0, A, size=B).astype(np.int32),
      # Rewards beyond the support exercise the clipping.
      reward=rng.uniform(-15, 15, size=B).astype(np.float32),
      discount=(rng.uniform(size=B) < 0.8).astype(np.float32) * 0.97,
      target_logits_t=rng.normal(size=(B, A, N)).astype(np.float32) * 2,
  )


def _projection_inputs():
  rng = np.random.default_rng(0)
  atoms = (rng.uniform(-14, 14, size=(B, N)) +
           rng.normal(size=(B, 1))).astype(np.float32)
  # Some atoms exactly on the support, where floor == ceil.
  atoms[0] = SUPPORT
  probs = _softmax(rng.normal(size=(B, N))).astype(np.float32)
  return atoms, probs


def test_projection_matches_numpy():
  atoms, probs = _projection_inputs()
  ours = np.asarray(losses.categorical_l2_project(atoms, probs, SUPPORT))
  # float32 atom positions near the top of the support round at ~5e-6.
  np.testing.assert_allclose(ours, _numpy_project(atoms, probs, SUPPORT),
                             atol=2e-5)
  np.testing.assert_allclose(ours.sum(-1), 1.0, atol=1e-5)


def test_projection_matches_rlax(rlax):
  atoms, probs = _projection_inputs()
  ours = losses.categorical_l2_project(atoms, probs, SUPPORT)
  theirs = jax.vmap(rlax.categorical_l2_project, (0, 0, None))(
      atoms, probs, SUPPORT)
  np.testing.assert_allclose(ours, theirs, atol=2e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_td_loss_matches_rlax_categorical_q_learning(seed, rlax):
  x = _random_inputs(seed)
  all_valid = np.ones((B, A), bool)
  ours = losses.categorical_td_loss(
      x["logits_tm1"], x["action_tm1"], x["reward"], x["discount"],
      x["target_logits_t"], all_valid, SUPPORT)
  theirs = jax.vmap(rlax.categorical_q_learning,
                    (None, 0, 0, 0, 0, None, 0))(
                        SUPPORT, x["logits_tm1"], x["action_tm1"], x["reward"],
                        x["discount"], SUPPORT, x["target_logits_t"])
  np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_td_loss_matches_numpy_with_action_mask():
  x = _random_inputs(3)
  rng = np.random.default_rng(3)
  num_valid = rng.integers(1, A + 1, size=B)
  valid = np.arange(A)[None, :] < num_valid[:, None]
  x["action_tm1"] = (x["action_tm1"] % num_valid).astype(np.int32)
  # Make an invalid action the best under the target so masking matters.
  x["target_logits_t"][:, -1, -1] += 50.0
  ours = losses.categorical_td_loss(
      x["logits_tm1"], x["action_tm1"], x["reward"], x["discount"],
      x["target_logits_t"], valid, SUPPORT)

  expected = []
  for b in range(B):
    probs_t = _softmax(x["target_logits_t"][b].astype(np.float64))
    q_t = probs_t @ SUPPORT
    best = np.argmax(np.where(valid[b], q_t, -np.inf))
    target_atoms = x["reward"][b] + x["discount"][b] * SUPPORT
    target = _numpy_project(target_atoms[None], probs_t[best][None],
                            SUPPORT)[0]
    logits = x["logits_tm1"][b, x["action_tm1"][b]].astype(np.float64)
    log_probs = logits - np.log(np.sum(np.exp(logits - logits.max()))) - logits.max()
    expected.append(-np.sum(target * log_probs))
  np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_td_loss_does_not_differentiate_the_target():
  x = _random_inputs(4)
  valid = np.ones((B, A), bool)
  grad = jax.grad(lambda t: losses.categorical_td_loss(
      x["logits_tm1"], x["action_tm1"], x["reward"], x["discount"], t, valid,
      SUPPORT).sum())(x["target_logits_t"])
  assert np.all(np.asarray(grad) == 0)


def test_cql_matches_numpy_logsumexp_over_valid_actions():
  rng = np.random.default_rng(5)
  q = rng.normal(size=(B, A)).astype(np.float32) * 3
  num_valid = rng.integers(1, A + 1, size=B)
  valid = np.arange(A)[None, :] < num_valid[:, None]
  action = (rng.integers(0, A, size=B) % num_valid).astype(np.int32)
  ours = losses.cql_regulariser(q, action, valid)
  expected = [
      np.log(np.sum(np.exp(q[b, :num_valid[b]].astype(np.float64)))) -
      q[b, action[b]] for b in range(B)
  ]
  np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
  # Padded actions get no gradient.
  grad = jax.grad(lambda q: losses.cql_regulariser(q, action, valid).sum())(q)
  assert np.all(np.asarray(grad)[~valid] == 0)


def test_dr3_is_the_absolute_feature_dot_product():
  f_tm1 = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]], np.float32)
  f_t = np.array([[4.0, -5.0, 6.0], [2.0, 2.0, 7.0]], np.float32)
  # 1*4 - 2*5 + 3*6 = 12;  |0.5*2 - 1*2 + 0| = |-1| = 1.
  np.testing.assert_allclose(losses.dr3_regulariser(f_tm1, f_t), [12.0, 1.0])
  grad_tm1, grad_t = jax.grad(
      lambda a, b: losses.dr3_regulariser(a, b).sum(), argnums=(0, 1))(f_tm1,
                                                                       f_t)
  # d|x.y|/dx = sign(x.y) y: a negative dot product is pushed up toward 0.
  np.testing.assert_allclose(grad_tm1, [f_t[0], -f_t[1]])
  np.testing.assert_allclose(grad_t, [f_tm1[0], -f_tm1[1]])


def test_expected_q_and_masked_greedy():
  logits = np.full((1, 3, 3), -1e4, np.float32)
  support = np.array([-1.0, 0.0, 2.0], np.float32)
  logits[0, 0, 2] = 0.0  # Q = 2
  logits[0, 1, 1] = 0.0  # Q = 0
  logits[0, 2, 0] = 0.0  # Q = -1
  q = expected_values(logits, support)
  np.testing.assert_allclose(q, [[2.0, 0.0, -1.0]], atol=1e-6)
  valid = np.array([[False, True, True]])
  assert int(losses.masked_greedy_action(q, valid)[0]) == 1


def test_total_loss_combines_the_terms():
  x = _random_inputs(6)
  rng = np.random.default_rng(6)
  f_tm1 = rng.normal(size=(B, 8)).astype(np.float32)
  f_t = rng.normal(size=(B, 8)).astype(np.float32)
  valid = np.ones((B, A), bool)
  total, metrics = losses.scaled_ql_loss(
      x["logits_tm1"], f_tm1, f_t, x["target_logits_t"], x["action_tm1"],
      x["reward"], x["discount"], valid, SUPPORT, cql_alpha=0.5,
      dr3_coefficient=0.03)
  q = _softmax(x["logits_tm1"].astype(np.float64)) @ SUPPORT
  np.testing.assert_allclose(metrics["q_mean"], q.mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics["q_max"], q.max(), rtol=1e-5)
  np.testing.assert_allclose(
      metrics["dr3_loss"], np.mean(np.abs(np.sum(f_tm1 * f_t, -1))), rtol=1e-5)
  np.testing.assert_allclose(
      total, metrics["td_loss"] + 0.5 * metrics["cql_loss"] +
      0.03 * metrics["dr3_loss"], rtol=1e-6)
  assert float(total) == float(metrics["total_loss"])
