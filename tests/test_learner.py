"""The update step and the learner: learning, checkpoints, devices, purity."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.scaled_ql import update_step as update_lib
from agents.scaled_ql.config import ScaledQLConfig
from agents.scaled_ql.learning import ScaledQLLearner
from agents.scaled_ql.networks import make_network
from agents.scaled_ql.types import MultiGameTransition

NUM_ACTIONS = (3, 5)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True, scope="module")
def float32_matmuls():
  # GPUs run float32 matmuls in TF32 (~1e-3 relative): too coarse to compare.
  with jax.default_matmul_precision("float32"):
    yield


def make_batch(batch_size, seed=0):
  rng = np.random.default_rng(seed)
  game_id = rng.integers(0, len(NUM_ACTIONS), batch_size).astype(np.int32)
  frames = lambda: rng.integers(0, 256, (batch_size, 84, 84, 4), np.uint8)
  return MultiGameTransition(
      observation=frames(),
      action=(rng.integers(0, 5, batch_size) %
              np.asarray(NUM_ACTIONS)[game_id]).astype(np.int32),
      reward=rng.uniform(-1, 1, batch_size).astype(np.float32),
      discount=np.where(rng.uniform(size=batch_size) < 0.9, 0.99,
                        0.0).astype(np.float32),
      next_observation=frames(),
      game_id=game_id)


class RecordingLogger:

  def __init__(self):
    self.records = []

  def write(self, data):
    self.records.append(data)


def make_learner(config, batch, seed=0, logger=None):
  network = make_network(config, NUM_ACTIONS)
  return ScaledQLLearner(network, config, iter(lambda: batch, None),
                         jax.random.PRNGKey(seed), logger=logger)


def test_pure_core_imports_no_acme_tf_reverb_launchpad_rlax():
  code = textwrap.dedent("""
      import sys
      import agents.scaled_ql.learning, agents.scaled_ql.update_step
      import agents.scaled_ql.losses, agents.scaled_ql.actions
      import networks.multi_game, networks.param_counts
      banned = ("acme", "tensorflow", "reverb", "launchpad", "rlax")
      print([m for m in sys.modules if m.split(".")[0] in banned])
  """)
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                       capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_fixed_batch_is_fitted():
  """Terminal transitions: the target is the reward's two-atom projection,
  whose entropy (<= log 2) is the TD loss's floor, far below log 51."""
  config = ScaledQLConfig(batch_size=8)
  batch = make_batch(8)._replace(discount=np.zeros(8, np.float32))
  logger = RecordingLogger()
  learner = make_learner(config, batch, logger=logger)
  learner.run(num_steps=200)
  td = [r["td_loss"] for r in logger.records]
  assert logger.records[-1]["learner_steps"] == 200
  assert td[-1] < 0.2 * td[0] and td[-1] < np.log(2), (td[0], td[-1])
  expected_keys = {"total_loss", "td_loss", "cql_loss", "dr3_loss", "feature_cosine", "q_mean",
                   "q_max", "feature_norm", "grad_norm", "learner_steps"}
  assert set(logger.records[-1]) == expected_keys
  assert all(np.isfinite(v) for v in logger.records[-1].values())


def test_save_restore_gives_a_bitwise_identical_next_update():
  config = ScaledQLConfig(batch_size=8, target_update_period=3)
  learner = make_learner(config, make_batch(8))
  for _ in range(2):
    learner.step()
  checkpoint = learner.save()
  learner.step()
  after_first = learner.save()

  restored = make_learner(config, make_batch(8), seed=123)
  restored.restore(checkpoint)
  restored.step()
  after_restore = restored.save()
  for a, b in zip(jax.tree_util.tree_leaves(after_first),
                  jax.tree_util.tree_leaves(after_restore)):
    np.testing.assert_array_equal(a, b)
  assert int(after_restore.steps) == 3


def test_target_network_is_copied_every_period():
  config = ScaledQLConfig(batch_size=4, target_update_period=2)
  learner = make_learner(config, make_batch(4))
  initial = learner.save().target_params
  leaves = lambda tree: jax.tree_util.tree_leaves(tree)
  learner.step()
  state = learner.save()
  for a, b in zip(leaves(state.target_params), leaves(initial)):
    np.testing.assert_array_equal(a, b)
  learner.step()
  state = learner.save()
  for a, b in zip(leaves(state.target_params), leaves(state.params)):
    np.testing.assert_array_equal(a, b)
  policy, = learner.get_variables(["policy"])
  for a, b in zip(leaves(policy), leaves(state.params)):
    np.testing.assert_array_equal(a, b)


def test_bfloat16_compute_keeps_float32_parameters():
  config = ScaledQLConfig(batch_size=4, compute_dtype="bfloat16")
  logger = RecordingLogger()
  learner = make_learner(config, make_batch(4), logger=logger)
  learner.step()
  state = learner.save()
  assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(state.params)
         } == {np.dtype(np.float32)}
  reference = RecordingLogger()
  make_learner(ScaledQLConfig(batch_size=4), make_batch(4),
               logger=reference).step()
  np.testing.assert_allclose(logger.records[0]["td_loss"],
                             reference.records[0]["td_loss"], rtol=1e-2)


def test_two_devices_match_one_device():
  """Runs in a subprocess with two virtual CPU devices."""
  code = textwrap.dedent("""
      import json, jax, numpy as np
      from agents.scaled_ql import update_step as update_lib
      from agents.scaled_ql.config import ScaledQLConfig
      from agents.scaled_ql.networks import make_network
      from tests.test_learner import NUM_ACTIONS, make_batch
      assert jax.local_device_count() == 2
      config = ScaledQLConfig(batch_size=8, target_update_period=2)
      network = make_network(config, NUM_ACTIONS)
      step = update_lib.make_update_step(network, config)
      results = []
      for devices in (jax.devices()[:1], jax.devices()):
        compiled = update_lib.compile_update_step(step, devices)
        state = compiled.put_state(update_lib.make_initial_state(
            network, config, jax.random.PRNGKey(0)))
        for i in range(3):
          state, metrics = compiled.update(
              state, compiled.put_batch(make_batch(8, seed=i)))
        results.append((jax.device_get(state), jax.device_get(metrics)))
      (state_1, metrics_1), (state_2, metrics_2) = results
      diffs = [float(np.max(np.abs(a - b))) for a, b in zip(
          jax.tree_util.tree_leaves(state_1.params),
          jax.tree_util.tree_leaves(state_2.params))]
      print(json.dumps({
          "param_diff": max(diffs),
          "metrics_1": {k: float(v) for k, v in metrics_1.items()},
          "metrics_2": {k: float(v) for k, v in metrics_2.items()},
          "sharded": str(compiled.put_batch(make_batch(8)).observation.sharding),
      }))
  """)
  env = dict(os.environ,
             XLA_FLAGS="--xla_force_host_platform_device_count=2",
             JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
                       capture_output=True, text=True)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result["param_diff"] < 1e-6, result
  for key, value in result["metrics_1"].items():
    np.testing.assert_allclose(result["metrics_2"][key], value, rtol=1e-5,
                               atol=1e-6, err_msg=key)
  assert "batch" in result["sharded"], result["sharded"]


def test_update_step_is_a_pure_function():
  config = ScaledQLConfig(batch_size=4)
  network = make_network(config, NUM_ACTIONS)
  update = jax.jit(update_lib.make_update_step(network, config))
  state = update_lib.make_initial_state(network, config, jax.random.PRNGKey(0))
  batch = jax.tree_util.tree_map(jnp.asarray, make_batch(4))
  first, metrics_first = update(state, batch)
  second, metrics_second = update(state, batch)
  for a, b in zip(jax.tree_util.tree_leaves((first, metrics_first)),
                  jax.tree_util.tree_leaves((second, metrics_second))):
    np.testing.assert_array_equal(a, b)


def test_frozen_torso_trains_the_heads_only():
  """Shared layers keep their values bit for bit; the heads take the step
  Adam gives them when everything trains (first step, clipping inactive,
  so that the two optimisers see the same head gradients)."""
  config = ScaledQLConfig(batch_size=8, network_size="nature_dqn",
                          feature_dim=32, num_atoms=11,
                          max_gradient_norm=1e9)
  batch = make_batch(8)
  frozen = make_learner(dataclasses.replace(config, frozen_torso=True), batch)
  trained = make_learner(config, batch)
  initial = frozen.save().params
  frozen.step()
  trained.step()
  after_frozen, after_trained = frozen.save().params, trained.save().params
  assert set(initial) > {"heads"}
  for module in initial:
    for name in initial[module]:
      if module == "heads":
        assert not np.array_equal(after_frozen[module][name],
                                  initial[module][name])
        np.testing.assert_allclose(after_frozen[module][name],
                                   after_trained[module][name], atol=1e-7)
      else:
        np.testing.assert_array_equal(after_frozen[module][name],
                                      initial[module][name])
        assert not np.array_equal(after_trained[module][name],
                                  initial[module][name])
  for _ in range(3):
    frozen.step()
  for module in initial:
    if module != "heads":
      for name in initial[module]:
        np.testing.assert_array_equal(frozen.save().params[module][name],
                                      initial[module][name])


def test_a_non_finite_update_raises_and_is_not_applied():
  config = ScaledQLConfig(batch_size=8)
  good = make_batch(8)
  poisoned = good._replace(reward=np.full(8, np.nan, np.float32))
  batches = iter([good, poisoned])
  logger = RecordingLogger()
  learner = ScaledQLLearner(make_network(config, NUM_ACTIONS), config, batches,
                            jax.random.PRNGKey(0), logger=logger)
  learner.step()
  before = learner.save()
  with pytest.raises(FloatingPointError, match=r"Learner step 2: .*total_loss"):
    learner.step()
  after = learner.save()
  assert int(after.steps) == 1 and len(logger.records) == 1
  for a, b in zip(jax.tree_util.tree_leaves(before),
                  jax.tree_util.tree_leaves(after)):
    np.testing.assert_array_equal(a, b)
