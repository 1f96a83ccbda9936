"""The GPU check (scripts/gpu_check.sh, benchmarks.gpu_check) and the GPU
install's TensorFlow and JAX settings.

The tests that need TensorFlow (the recorder and loader against the NumPy
transitions, tf_data) skip without it, so the rest also run in the GPU
check itself, on a machine without TensorFlow.
"""

import collections
import hashlib
import importlib
import json
import os
import subprocess
import sys
from unittest import mock

import jax
import numpy as np
import pytest

from benchmarks import gpu_check
from benchmarks import known_answer_runs
from environments import known_answer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DISCOUNT = known_answer.RESOLVABLE_DISCOUNT


def _rows(observation, action, reward, discount, next_observation):
  """The transitions as sortable rows (frames hashed), so that two sets
  can be compared whatever their order."""
  return sorted(
      (hashlib.sha1(o.tobytes() + n.tobytes()).hexdigest(), int(a),
       float(r), float(d))
      for o, a, r, d, n in zip(observation, action, reward, discount,
                               next_observation))


@pytest.mark.parametrize('game', ['KnownAnswerStitch',
                                  'KnownAnswerRareAction'])
def test_numpy_transitions_equal_the_recorder_and_loader(game, tmp_path):
  """The GPU check's data (no TensorFlow) are the transitions the real
  recorder writes and the loader reads back, for the same seed: the same
  multiset, truncations, terminals and the cut last episode included."""
  pytest.importorskip('tensorflow')
  from atari_data import loader
  from atari_data import recorder
  steps, seed = 300, 3
  recorder.record(recorder.RecorderConfig(
      output_dir=str(tmp_path), games=(game,), num_checkpoints=1,
      steps_per_checkpoint=steps, seed=seed), known_answer.behaviour_factory)
  batches = loader.make_multigame_iterator(loader.LoaderConfig(
      games=(game,), source=str(tmp_path), discount=DISCOUNT, n_step=1,
      batch_size=steps, repeat=False))
  loaded = next(batches)  # Every transition once.
  batches.close()
  ours = known_answer.recorded_transitions(game, steps, seed, DISCOUNT)
  assert _rows(**ours) == _rows(
      loaded.observation, loaded.action, loaded.reward, loaded.discount,
      loaded.next_observation)
  assert 0.0 in ours['discount'] and DISCOUNT in ours['discount']
  # Another seed is other data.
  other = known_answer.recorded_transitions(game, steps, seed + 1, DISCOUNT)
  assert _rows(**other) != _rows(**ours)


def test_numpy_transitions_refuse_an_empty_recording():
  with pytest.raises(ValueError, match='num_transitions=0'):
    known_answer.recorded_transitions('KnownAnswerChain', 0, 0, DISCOUNT)


@pytest.fixture(scope='module')
def two_game_data():
  """1,024 transitions of each game of the two-game task (the probe's
  2,048 in all)."""
  return [known_answer.recorded_transitions(game, 1024, 0, DISCOUNT)
          for game in known_answer_runs.TASKS['two_game']]


def test_uniform_batches_draw_rows_of_their_game(two_game_data):
  batches = gpu_check.UniformBatches(two_game_data, 64, seed=0)
  batch = next(batches)
  assert batch.observation.shape == (64, 84, 84, 4)
  assert set(batch.game_id) == {0, 1}
  for row in range(64):
    game = two_game_data[batch.game_id[row]]
    matches = np.flatnonzero(
        (game['action'] == batch.action[row]) &
        (game['discount'] == batch.discount[row]) &
        (game['reward'] == batch.reward[row]))
    assert any(np.array_equal(game['observation'][i], batch.observation[row])
               and np.array_equal(game['next_observation'][i],
                                  batch.next_observation[row])
               for i in matches)
  assert not np.array_equal(next(batches).action, batch.action)


def test_probe_batch_is_split_evenly_without_repeats(two_game_data):
  batch = gpu_check.probe_batch(two_game_data, seed=0)
  assert len(batch.action) == known_answer_runs.PROBE_SIZE
  assert collections.Counter(batch.game_id.tolist()) == {0: 1024, 1: 1024}
  probe = known_answer_runs.Probe.from_batch(
      batch, known_answer_runs.TASKS['two_game'], DISCOUNT)
  # Q* itself is measured as solved.
  metrics = probe.measure(np.nan_to_num(probe.q_star, nan=-1e9))
  assert metrics['all']['greedy_optimal'] == 1.0
  assert metrics['all']['q_error'] == 0.0


def test_known_answer_run_reports_time_and_updates(capsys, monkeypatch):
  # A smaller probe: 2,048 forward passes per probe take seconds on a CPU.
  monkeypatch.setattr(known_answer_runs, 'PROBE_SIZE', 64)
  result = gpu_check.known_answer_run('chain', seed=0,
                                      transitions_per_game=256,
                                      num_updates=3, eval_every=2, episodes=1)
  assert [point['update'] for point in result['curve']] == [0, 2, 3]
  assert result['first_update_seconds'] > 0
  assert result['train_seconds'] >= result['first_update_seconds']
  assert set(result['returns']) == {'KnownAnswerChain'}
  assert result['learner']['cql_alpha'] == 0.01  # The chain settings.
  # Not solved in 3 updates; the solved fields say so.
  assert result['solved_at'] is None and result['seconds_to_solved'] is None
  json.dumps(result)
  assert 'chain-chain-g0.9-u3-s0 update 3' in capsys.readouterr().out


class _Event:

  def __init__(self, name, duration_ns, **stats):
    self.name, self.duration_ns = name, duration_ns
    self.stats = list(stats.items())


def _plane(name, *events):
  line = mock.Mock(events=list(events))
  line.name = 'Stream #1'
  plane = mock.Mock(lines=[line])
  plane.name = name
  return plane


def test_op_times_read_gpu_kernels_by_their_hlo_op():
  profile = mock.Mock(planes=[
      _plane('/host:CPU', _Event('fusion.1', 999, hlo_op='fusion.1',
                                 hlo_module='jit_update')),
      _plane('/device:GPU:0',
             _Event('sm90_gemm', 300, hlo_op='custom-call.2',
                    hlo_module='jit_update'),
             _Event('sm90_gemm_splitk', 100, hlo_op='custom-call.2',
                    hlo_module='jit_update'),
             _Event('loop_fusion', 50, kernel_annotation=(
                 'fusion.7:#hlo_op=fusion.7,hlo_module=jit_update#')),
             _Event('copy', 20, hlo_op='copy.1', hlo_module='jit_put')),
  ])
  times = gpu_check.op_times(profile)
  assert set(times) == {'custom-call.2', 'fusion.7'}  # Device, this module.
  assert times['custom-call.2']['ns'] == 400
  assert times['custom-call.2']['count'] == 2
  assert times['fusion.7']['kernels'] == {'loop_fusion': 1}


HLO = '''HloModule jit_update, entry_computation_layout={()}

ENTRY %main.1 (p0: bf16[8,84,84,4]) -> f32[] {
  %custom-call.2 = (bf16[8,42,42,64]{3,2,1,0}, u8[0]{0}) custom-call(bf16[8,84,84,4]{3,2,1,0} %p0, bf16[3,3,4,64]{3,2,1,0} %w), window={size=3x3}, custom_call_target="__cudnn$convForward", metadata={op_name="jit(update)/jvp(Torso)/conv_general_dilated"}
  %fusion.7 = f32[512]{0} fusion(f32[512]{0} %a, f32[512]{0} %b), kind=kLoop, calls=%fused_computation.7, metadata={op_name="jit(update)/add" source_file="/x/optax/_src/transform.py"}
  %wrapped_convert.3 = bf16[512]{0} fusion(f32[512]{0} %fusion.7), kind=kLoop, calls=%wrapped.3, metadata={op_name="jit(update)/jvp()/convert_element_type"}
  ROOT %fusion.9 = f32[] fusion(f32[512]{0} %fusion.7), kind=kInput, calls=%fused.9, metadata={op_name="jit(update)/reduce_sum"}
}
'''


def test_hlo_instructions_name_ops_and_classes():
  instructions = gpu_check.hlo_instructions(HLO)
  assert instructions['custom-call.2']['op'] == (
      'custom-call __cudnn$convForward')
  assert instructions['custom-call.2']['class'] == 'conv'
  assert instructions['fusion.7']['op'] == 'fusion kLoop'
  assert instructions['fusion.7']['class'] == 'optimizer'
  assert instructions['fusion.9']['class'] == 'elementwise'
  assert instructions['wrapped_convert.3']['class'] == 'elementwise'
  table = gpu_check.op_table(
      {'custom-call.2': {'ns': 3e6, 'count': 2,
                         'kernels': collections.Counter({'gemm': 2})},
       'fusion.7': {'ns': 1e6, 'count': 1,
                    'kernels': collections.Counter({'loop': 1})}},
      instructions, updates=2, wall_seconds=0.01, title='title')
  lines = table.splitlines()
  assert lines[0] == 'title'
  assert '5.00 ms per update' in lines[1] and '2.00 ms per update' in lines[1]
  assert lines[4].split()[:6] == ['1', '1.500', '75.0%', '1.0', 'conv',
                                  'custom-call.2']
  assert 'per class: conv 1.50 ms (75%), optimizer 0.50 ms (25%)' in table


@pytest.mark.skipif(not hasattr(jax.profiler, 'ProfileData'),
                    reason='jax.profiler.ProfileData (jax 0.11 has it)')
def test_profile_update_writes_the_table(tmp_path):
  written = gpu_check.profile_update(str(tmp_path), 'resnet_tiny', 2,
                                     'float32', 1, updates=1)
  with open(written['table']) as f:
    table = f.read()
  assert written['ops'] > 0 and 'per class: ' in table
  assert os.path.exists(tmp_path / 'profile_resnet_tiny.xplane.pb.gz')


def test_summary_reads_the_other_files(tmp_path):
  (tmp_path / gpu_check.THROUGHPUT_FILES[0]).write_text(json.dumps([
      {'size': 'resnet101', 'batch_size': 256, 'updates_per_s': 20.6,
       'extra': 1}]))
  (tmp_path / gpu_check.KNOWN_ANSWER_FILE).write_text(json.dumps([
      {'name': 'run', 'solved_at': 1750, 'seconds_to_solved': 9.5}]))
  (tmp_path / gpu_check.TESTS_FILE).write_text(
      '....\n========= 52 passed, 3 skipped in 80.10s =========\n')
  step_log = tmp_path / 'steps.tsv'
  step_log.write_text('tests\t0\t80.5\nprofile\t124\t150.0\n')
  result = gpu_check.summary(str(tmp_path), str(step_log))
  assert result['tests'] == '52 passed, 3 skipped in 80.10s'
  assert result['steps'][1] == {'step': 'profile', 'exit_status': '124',
                                'seconds': 150.0}
  assert result['throughput'][0]['updates_per_s'] == 20.6
  assert 'extra' not in result['throughput'][0]
  assert result['known_answer'][0]['solved_at'] == 1750
  assert result['versions']['jax'] == jax.__version__


def test_gpu_check_module_names_a_missing_output_folder(tmp_path):
  missing = str(tmp_path / 'nowhere')
  out = subprocess.run(
      [sys.executable, '-m', 'benchmarks.gpu_check', '--steps=summary',
       f'--output_dir={missing}'], cwd=REPO, capture_output=True, text=True)
  assert out.returncode == 1
  assert f"--output_dir='{missing}' is not a folder" in out.stderr


def test_gpu_check_script_refuses_bad_arguments(tmp_path):
  script = os.path.join(REPO, 'scripts', 'gpu_check.sh')
  out = subprocess.run(['bash', script], capture_output=True, text=True)
  assert out.returncode == 2
  assert 'expected one output folder, got 0' in out.stderr
  (tmp_path / 'old.json').write_text('{}')
  out = subprocess.run(['bash', script, '--cpu', str(tmp_path)],
                       capture_output=True, text=True)
  assert out.returncode == 2
  assert f"the output folder '{tmp_path}' is not empty" in out.stderr


# --- The GPU install: TensorFlow off the GPUs, JAX's CPU fallback. ---


def test_tf_data_hides_the_gpus_from_tensorflow():
  """The loader's and the replay's TensorFlow import (atari_data.tf_data)
  hides the GPUs from TensorFlow."""
  tf = pytest.importorskip('tensorflow')
  from atari_data import loader
  from atari_data import tf_data
  with mock.patch.object(tf.config, 'set_visible_devices') as hide:
    importlib.reload(tf_data)
  hide.assert_called_once_with([], 'GPU')
  assert loader.tf_data is tf_data
  assert tf.config.get_visible_devices('GPU') == []


def test_tf_data_warns_when_tensorflow_has_started(caplog):
  tf = pytest.importorskip('tensorflow')
  from atari_data import tf_data
  with mock.patch.object(tf.config, 'set_visible_devices',
                         side_effect=RuntimeError('already initialized')):
    tf_data.keep_tensorflow_off_gpus()
  assert 'TensorFlow may use the GPUs: already initialized' in caplog.text


@pytest.mark.parametrize('preset', [None, 'cuda'])
def test_jax_falls_back_to_the_cpu_without_a_gpu(preset):
  """make venv-gpu's .pth line: JAX_PLATFORMS=cpu where no NVIDIA device
  node is, unless JAX_PLATFORMS is set."""
  with open(os.path.join(REPO, 'requirements', 'jax_cuda_fallback.pth')) as f:
    line, = [line.strip() for line in f if line.startswith('import ')]
  env = {key: value for key, value in os.environ.items()
         if key != 'JAX_PLATFORMS'}
  if preset:
    env['JAX_PLATFORMS'] = preset
  out = subprocess.run(
      [sys.executable, '-c',
       line + "; print(os.environ.get('JAX_PLATFORMS', 'unset'))"],
      env=env, capture_output=True, text=True, check=True)
  gpu = any(os.path.exists(p) for p in ('/dev/nvidiactl', '/dev/nvidia0'))
  assert out.stdout.strip() == (preset or ('unset' if gpu else 'cpu'))
