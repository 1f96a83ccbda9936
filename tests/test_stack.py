"""The DeepMind RL stack installs, imports, and its pieces run together."""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('module', [
    'acme', 'acme.jax.layouts.distributed_layout', 'acme.jax.layouts.local_layout',
    'acme.agents.jax.actors', 'acme.jax.variable_utils', 'launchpad', 'reverb',
    'tensorflow', 'tensorflow_datasets', 'rlds', 'jax', 'haiku', 'optax', 'rlax',
    'chex', 'dm_env', 'ale_py',
])
def test_package_imports(module):
  import builders  # noqa: F401  (Acme needs the JAX compatibility shim first.)
  assert importlib.import_module(module) is not None


def test_pinned_versions_are_installed():
  from importlib import metadata
  lock = os.path.join(REPO_ROOT, 'requirements', 'lock-py310.txt')
  with open(lock) as f:
    pins = dict(line.strip().split('==') for line in f if '==' in line)
  for name in ('dm-acme', 'dm-launchpad', 'dm-reverb', 'tensorflow-cpu', 'jax', 'numpy'):
    assert metadata.version(name) == pins[name], name
  assert sys.version_info[:2] == (3, 10)


def test_ale_pong_loads_from_bundled_roms_and_steps():
  import ale_py
  import ale_py.roms
  ale = ale_py.ALEInterface()
  ale.setInt('random_seed', 0)
  ale.loadROM(ale_py.roms.get_rom_path('pong'))
  # Pong's minimal action set: NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, LEFTFIRE.
  assert len(ale.getMinimalActionSet()) == 6
  first = ale.getScreenGrayscale().copy()
  assert first.shape == (210, 160)
  for _ in range(200):
    ale.act(ale.getMinimalActionSet()[2])
  assert ale.getEpisodeFrameNumber() == 200
  assert not np.array_equal(first, ale.getScreenGrayscale())


def _run_python(code: str) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, '-c', code], capture_output=True,
                        text=True, cwd=REPO_ROOT, timeout=300)


def test_acme_jax_utils_needs_the_compat_shim():
  # Without the shim, Acme 0.4.0's JAX modules cannot even be imported.
  result = _run_python('import acme.jax.utils')
  assert result.returncode != 0
  assert "has no attribute 'xla'" in result.stderr


def test_compat_shim_makes_acme_handle_jax_arrays():
  result = _run_python(
      'import builders\n'
      'import jax.numpy as jnp, numpy as np\n'
      'from acme.jax import utils\n'
      'from acme.adders.reverb import utils as adder_utils\n'
      'fetched = utils.fetch_devicearray({"w": jnp.ones((2, 3))})\n'
      'assert type(fetched["w"]) is np.ndarray, type(fetched["w"])\n'
      'zeros = adder_utils.zeros_like(jnp.ones(4, jnp.int32))\n'
      'assert zeros.shape == (4,) and int(zeros.sum()) == 0\n'
      'print("ok")\n')
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip() == 'ok'


@pytest.mark.parametrize('launch_type', ['local_mt', 'local_mp'])
def test_launchpad_reverb_program_runs_and_stops_cleanly(launch_type, tmp_path):
  report_path = tmp_path / 'report.json'
  process = subprocess.run(
      [sys.executable, '-m', 'launchers.stack_check',
       f'--lp_launch_type={launch_type}', '--num_items=300',
       f'--report={report_path}'],
      capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
  output = process.stdout + process.stderr
  assert process.returncode == 0, output[-5000:]
  assert 'Killing entire runtime' not in output
  assert 'did not terminate in time' not in output
  report = json.loads(report_path.read_text())
  assert report == {
      'expected_items': 300, 'received_items': 300, 'duplicates': 0,
      'indices_match': True, 'payloads_match': True, 'pid': report['pid']}
