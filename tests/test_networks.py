"""Networks: sizes, head selection, masking, normalisation, embeddings."""

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.scaled_ql import actions
from networks import conv
from networks import multi_game
from networks import param_counts
from networks import resnet

NUM_ACTIONS = (3, 6, 4)


@pytest.fixture(autouse=True, scope="module")
def float32_matmuls():
  # GPUs run float32 matmuls in TF32 (~1e-3 relative): too coarse to compare.
  with jax.default_matmul_precision("float32"):
    yield


def _observation(batch, seed=0):
  return np.random.default_rng(seed).integers(
      0, 256, size=(batch, 84, 84, 4), dtype=np.uint8)


@pytest.fixture(scope="module")
def tiny():
  network = multi_game.make_multi_game_q_network(NUM_ACTIONS, "resnet_tiny")
  return network, network.init(jax.random.PRNGKey(0))


def test_largest_network_is_within_ten_percent_of_80m():
  total, _, _ = param_counts.count("resnet101")
  assert abs(total - 80e6) / 80e6 < 0.10, total


def test_nature_dqn_parameter_count_by_hand():
  _, shared, _ = param_counts.count("nature_dqn")
  convs = (8 * 8 * 4 * 32 + 32) + (4 * 4 * 32 * 64 + 64) + (3 * 3 * 64 * 64 +
                                                             64)
  fully_connected = 7 * 7 * 64 * 512 + 512
  assert shared == convs + fully_connected


def test_sizes_grow():
  shared = [param_counts.count(name)[1] for name in resnet.RESNET_SIZES]
  assert shared == sorted(shared)


def test_heads_are_selected_by_game_id(tiny):
  network, params = tiny
  game_id = np.array([0, 2, 1, 2, 0], np.int32)
  observation = _observation(len(game_id))
  logits = network.apply(params, observation, game_id).q_logits
  features, _ = network.embed(params, observation)
  w, b = np.asarray(params["heads"]["w"]), np.asarray(params["heads"]["b"])
  for i, game in enumerate(game_id):
    expected = np.asarray(features[i]) @ w[game] + b[game]
    np.testing.assert_allclose(logits[i].reshape(-1), expected, rtol=1e-5,
                               atol=1e-5)


def test_one_example_gets_the_same_head_as_in_a_batch(tiny):
  # A batch of one takes its own head directly (MultiGameHeads), larger
  # batches the one-hot matmul: both are the example's head.
  network, params = tiny
  game_id = np.array([0, 2, 1], np.int32)
  observation = _observation(len(game_id))
  batched = network.apply(params, observation, game_id)
  for i in range(len(game_id)):
    single = network.apply(params, observation[i:i + 1], game_id[i:i + 1])
    np.testing.assert_allclose(single.q_logits[0], batched.q_logits[i],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(single.q_values[0] ==
                                  multi_game.INVALID_ACTION_VALUE,
                                  batched.q_values[i] ==
                                  multi_game.INVALID_ACTION_VALUE)


def test_invalid_actions_are_masked(tiny):
  network, params = tiny
  game_id = np.array([0, 1, 2], np.int32)
  output = network.apply(params, _observation(3), game_id)
  assert output.q_logits.shape == (3, 6, 51)
  assert output.q_values.shape == (3, 6)
  for i, game in enumerate(game_id):
    n = NUM_ACTIONS[game]
    assert np.all(np.asarray(output.q_values[i, n:]) ==
                  multi_game.INVALID_ACTION_VALUE)
    assert np.all(np.abs(np.asarray(output.q_values[i, :n])) <= 10.0)
  valid = np.asarray(network.valid_actions(jnp.asarray(game_id)))
  np.testing.assert_array_equal(valid.sum(-1), [3, 6, 4])


def test_features_have_unit_norm(tiny):
  network, params = tiny
  output = network.apply(params, _observation(4), np.zeros(4, np.int32))
  np.testing.assert_allclose(np.linalg.norm(output.features, axis=-1), 1.0,
                             rtol=1e-5)
  assert np.all(np.asarray(output.feature_norm) > 0)


def test_features_that_are_exactly_zero_have_finite_gradients(tiny):
  # A state the torso maps to zero (met at initialisation on a known-answer
  # chain) must not turn every gradient NaN through the norm's derivative.
  network, params = tiny
  silent = jax.tree_util.tree_map(lambda x: x, params)
  silent["projection"] = jax.tree_util.tree_map(jnp.zeros_like,
                                                params["projection"])
  game_id = np.zeros(4, np.int32)

  def total_q(p):
    return jnp.sum(network.apply(p, _observation(4), game_id).q_values
                   [:, :NUM_ACTIONS[0]])

  output = network.apply(silent, _observation(4), game_id)
  np.testing.assert_array_equal(output.feature_norm, 0.0)
  np.testing.assert_array_equal(output.features, 0.0)
  gradients = jax.grad(total_q)(silent)
  for path, leaf in jax.tree_util.tree_leaves_with_path(gradients):
    assert np.all(np.isfinite(leaf)), jax.tree_util.keystr(path)
  # Off zero, the gradient still flows into the projection.
  assert np.any(np.asarray(gradients["projection"]["w"]) != 0)


def test_spatial_embeddings_by_hand():
  x = np.random.default_rng(1).normal(size=(2, 3, 4, 5)).astype(np.float32)
  embed = hk.without_apply_rng(hk.transform(
      lambda x: resnet.SpatialLearnedEmbeddings(7)(x)))
  params = embed.init(jax.random.PRNGKey(0), x)
  kernel = np.asarray(params["spatial_learned_embeddings"]["kernel"])
  assert kernel.shape == (3, 4, 5, 7)
  expected = np.zeros((2, 5, 7))
  for h in range(3):
    for w in range(4):
      expected += x[:, h, w, :, None] * kernel[None, h, w]
  np.testing.assert_allclose(embed.apply(params, x), expected.reshape(2, 35),
                             rtol=1e-5, atol=1e-5)


def test_group_norm_normalises_groups_in_float32():
  x = np.random.default_rng(2).normal(3.0, 2.0, size=(2, 5, 5, 8))
  norm = hk.without_apply_rng(hk.transform(
      lambda x: resnet.GroupNorm(4)(x)))
  params = norm.init(jax.random.PRNGKey(0), x.astype(np.float32))
  groups = x.reshape(2, 5, 5, 4, 2)
  expected = (groups - groups.mean(axis=(1, 2, 4), keepdims=True)) / np.sqrt(
      groups.var(axis=(1, 2, 4), keepdims=True) + 1e-5)
  out = norm.apply(params, x.astype(np.float32))
  np.testing.assert_allclose(out, expected.reshape(x.shape), atol=1e-4)
  out_bf16 = norm.apply(params, jnp.asarray(x, jnp.bfloat16))
  assert out_bf16.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(out_bf16, np.float32),
                             expected.reshape(x.shape), atol=5e-2)


@pytest.mark.parametrize("name", ["nature_dqn", "resnet18", "resnet50"])
def test_torso_output_shapes(name):
  network = multi_game.make_multi_game_q_network((18,), name)
  params = jax.eval_shape(network.init, jax.random.PRNGKey(0))
  output = jax.eval_shape(network.apply, params,
                          jax.ShapeDtypeStruct((2, 84, 84, 4), jnp.uint8),
                          jax.ShapeDtypeStruct((2,), jnp.int32))
  assert output.q_logits.shape == (2, 18, 51)
  assert output.features.shape == (2, 512)


def test_bfloat16_network_matches_float32(tiny):
  network, params = tiny
  bf16 = multi_game.make_multi_game_q_network(NUM_ACTIONS, "resnet_tiny",
                                              compute_dtype=jnp.bfloat16)
  game_id = np.array([0, 1], np.int32)
  ref = network.apply(params, _observation(2), game_id)
  out = bf16.apply(params, _observation(2), game_id)
  assert out.q_logits.dtype == jnp.float32
  np.testing.assert_allclose(out.features, ref.features, atol=5e-2)
  np.testing.assert_allclose(out.q_logits, ref.q_logits, atol=5e-2)


def test_epsilon_greedy(tiny):
  network, params = tiny
  policy = jax.jit(actions.make_epsilon_greedy_policy(network))
  game_id = np.array([0] * 200 + [2] * 200, np.int32)
  observation = np.repeat(_observation(1), 400, axis=0)
  greedy = policy(params, jax.random.PRNGKey(1), observation, game_id, 0.0)
  q_values = network.apply(params, observation, game_id).q_values
  np.testing.assert_array_equal(greedy, np.argmax(q_values, -1))
  random = np.asarray(
      policy(params, jax.random.PRNGKey(2), observation, game_id, 1.0))
  assert set(random[:200]) == {0, 1, 2}
  assert set(random[200:]) == {0, 1, 2, 3}


@pytest.mark.parametrize("kernel,stride,padding,size", [
    (8, 4, "VALID", 84), (4, 2, "VALID", 20), (3, 1, "VALID", 9),
    (4, 4, "SAME", 84), (3, 2, "SAME", 21), (1, 2, "SAME", 21),
    (4, 2, "SAME", 11)])
def test_stride_one_convolution_matches_lax_with_gradients(kernel, stride,
                                                           padding, size):
  """networks.conv computes lax's strided convolution (and its gradients)
  up to float rounding, through the space-to-depth rearrangement."""
  rng = np.random.default_rng(kernel * 10 + stride)
  x = rng.normal(size=(2, size, size, 8)).astype(np.float32)
  w = rng.normal(size=(kernel, kernel, 8, 16)).astype(np.float32)

  def reference(x, w):
    return jax.lax.conv_general_dilated(x, w, (stride, stride), padding,
                                        dimension_numbers=("NHWC", "HWIO",
                                                           "NHWC"))

  ours = lambda x, w: conv.conv2d(x, w, stride, padding)
  expected, reference_vjp = jax.vjp(reference, x, w)
  got, ours_vjp = jax.vjp(ours, x, w)
  assert got.shape == expected.shape
  scale = float(jnp.max(jnp.abs(expected)))
  np.testing.assert_allclose(got, expected, atol=1e-5 * scale)
  g = rng.normal(size=expected.shape).astype(np.float32)
  for got_grad, expected_grad in zip(ours_vjp(g), reference_vjp(g)):
    np.testing.assert_allclose(
        got_grad, expected_grad,
        atol=1e-5 * float(jnp.max(jnp.abs(expected_grad))))


def test_conv_module_has_hk_conv2d_parameters_and_outputs():
  x = jnp.asarray(_observation(2), jnp.float32) / 255.0
  reference = hk.transform(
      lambda x: hk.Conv2D(32, 8, stride=4, padding="VALID")(x))
  ours = hk.transform(
      lambda x: conv.Conv2D(32, 8, stride=4, padding="VALID",
                            name="conv2_d")(x))
  params = reference.init(jax.random.PRNGKey(3), x)
  ours_params = ours.init(jax.random.PRNGKey(3), x)
  jax.tree_util.tree_map(np.testing.assert_array_equal, params, ours_params)
  np.testing.assert_allclose(ours.apply(params, None, x),
                             reference.apply(params, None, x), atol=1e-5)
