"""One learner over several JAX processes (issue 27), on localhost with 2
learner processes of 1 CPU device each (gloo collectives).

The update of 2 processes equals the 1-process update of the same global
batch; the loader's shards are disjoint and cover the selection; the
pre-training program with 2 learner processes trains, checkpoints, resumes
and stops cleanly, and killing one learner process ends it with a clear
error. Nothing here computes with JAX at import: the workers of
tests/programs/multi_process_update.py import it after joining.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import portpicker
import pytest

from agents.scaled_ql import multi_process
from agents.scaled_ql.config import ScaledQLConfig
from agents.scaled_ql.types import MultiGameTransition
from launchers.programs import endings
from tests.test_learner import NUM_ACTIONS
from tests.test_learner import make_batch
from tests_support import TINY_LEARNER
from tests_support import checkpoint_steps
from tests_support import csv_rows

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPDATE_WORKER = os.path.join('tests', 'programs', 'multi_process_update.py')
GLOBAL_BATCH = 8
# The tiny network; a target update within the steps compared.
CONFIG = ScaledQLConfig(network_size='nature_dqn', feature_dim=32,
                        num_atoms=11, batch_size=GLOBAL_BATCH,
                        target_update_period=2)
NUM_STEPS = 4
# One CPU device per process, whatever the calling environment sets; this
# module importable (it imports tests_support).
WORKER_ENV = {**{k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'},
              'JAX_PLATFORMS': 'cpu',
              'PYTHONPATH': os.pathsep.join(
                  [REPO_ROOT, os.path.join(REPO_ROOT, 'tests')] +
                  os.environ.get('PYTHONPATH', '').split(os.pathsep))}


class RecordingLogger:

  def __init__(self):
    self.records = []

  def write(self, data):
    self.records.append(dict(data))


def global_batch(step: int) -> MultiGameTransition:
  """The global batch of update `step`: test_learner's random batch."""
  return make_batch(GLOBAL_BATCH, seed=step)


def local_rows(step: int, process_id: int,
               num_processes: int) -> MultiGameTransition:
  """Process `process_id`'s rows of global_batch(step): its contiguous
  block, as the global array's batch sharding lays them out."""
  rows = GLOBAL_BATCH // num_processes
  return MultiGameTransition(*(
      field[process_id * rows:(process_id + 1) * rows]
      for field in global_batch(step)))


def _start_workers(num_processes, output_dir):
  port = portpicker.pick_unused_port()
  return [subprocess.Popen(
      ['nice', '-n', '19', sys.executable, UPDATE_WORKER, str(port),
       str(num_processes), str(process_id), str(NUM_STEPS),
       os.path.join(output_dir, f'process_{process_id}.npz')],
      cwd=REPO_ROOT, env=WORKER_ENV, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)
          for process_id in range(num_processes)]


def _finish(workers, timeout=300):
  outputs = []
  for worker in workers:
    try:
      outputs.append(worker.communicate(timeout=timeout)[0])
    except subprocess.TimeoutExpired:
      for other in workers:
        other.kill()
      raise
  for worker, output in zip(workers, outputs):
    assert worker.returncode == 0, output[-5000:]


def test_two_processes_update_as_one_process_on_the_global_batch(tmp_path):
  workers = _start_workers(2, str(tmp_path))
  # The reference, meanwhile: one process, one device, the whole batch.
  code = textwrap.dedent(f"""
      import jax, numpy as np
      from agents.scaled_ql.learning import ScaledQLLearner
      from agents.scaled_ql.networks import make_network
      from tests.test_multi_process_learner import (
          CONFIG, NUM_ACTIONS, NUM_STEPS, RecordingLogger, global_batch)
      logger = RecordingLogger()
      learner = ScaledQLLearner(
          make_network(CONFIG, NUM_ACTIONS), CONFIG,
          (global_batch(step) for step in range(NUM_STEPS)),
          jax.random.PRNGKey(0), logger=logger)
      initial = jax.tree_util.tree_leaves(learner.save().params)
      learner.run(NUM_STEPS)
      state = learner.save()
      arrays = {{f'params_{{i}}': leaf for i, leaf in
                enumerate(jax.tree_util.tree_leaves(state.params))}}
      arrays.update({{f'initial_{{i}}': leaf for i, leaf in
                     enumerate(initial)}})
      arrays.update({{f'target_{{i}}': leaf for i, leaf in
                     enumerate(jax.tree_util.tree_leaves(state.target_params))}})
      for key in logger.records[0]:
        arrays[f'metric_{{key}}'] = np.asarray([r[key] for r in logger.records])
      np.savez({str(tmp_path / 'reference.npz')!r}, **arrays)
      """)
  reference_run = subprocess.run(
      ['nice', '-n', '19', sys.executable, '-c', code], cwd=REPO_ROOT,
      env=WORKER_ENV, capture_output=True, text=True, timeout=300)
  _finish(workers)
  assert reference_run.returncode == 0, reference_run.stderr[-5000:]
  reference = np.load(tmp_path / 'reference.npz')
  first, second = (np.load(tmp_path / f'process_{i}.npz') for i in range(2))
  assert int(first['process_count']) == 2
  assert int(first['steps']) == int(second['steps']) == NUM_STEPS
  # Identical on both processes, bit for bit (process 1 was given another
  # random key: its initial parameters are process 0's).
  assert sorted(first.files) == sorted(second.files)
  for key in first.files:
    np.testing.assert_array_equal(first[key], second[key], err_msg=key)
  # The 1-process update, up to the all-reduce's summation order; the
  # updates moved the parameters by far more than the tolerance.
  compared = [k for k in reference.files if not k.startswith('initial_')]
  assert set(compared) <= set(first.files)
  assert any(k.startswith('target_') for k in compared)
  moved = max(float(np.max(np.abs(reference[k] - reference[
      k.replace('params_', 'initial_')]))) for k in compared
              if k.startswith('params_'))
  assert moved > 1e-4, moved
  for key in compared:
    tolerance = (dict(rtol=1e-4, atol=1e-5) if key.startswith('metric_')
                 else dict(rtol=0, atol=1e-5))
    np.testing.assert_allclose(first[key], reference[key], err_msg=key,
                               **tolerance)
  assert reference['metric_learner_steps'].tolist() == [1, 2, 3, 4]


def test_all_reduced_bytes_are_the_gradient_and_dr3_observations():
  """The compiled 2-device update all-reduces the gradient (every
  parameter, float32), a few batch-sized or scalar metrics and, with DR3,
  the uint8 observations of the whole global batch: the torso's
  concatenation [s_tm1; s_t] of two batch-sharded arrays is resharded
  (found by this count; 2 x B x 84 x 84 x 4 bytes). Counted independently
  from the parameters' and observations' shapes."""
  code = textwrap.dedent("""
      import dataclasses, json, jax
      from agents.scaled_ql import multi_process, update_step as update_lib
      from agents.scaled_ql.networks import make_network
      from tests.test_multi_process_learner import (CONFIG, NUM_ACTIONS,
                                                    global_batch)
      results = {}
      for dr3 in (0.0, 0.03):
        config = dataclasses.replace(CONFIG, dr3_coefficient=dr3)
        network = make_network(config, NUM_ACTIONS)
        compiled = update_lib.compile_update_step(
            update_lib.make_update_step(network, config))
        state = compiled.put_state(update_lib.make_initial_state(
            network, config, jax.random.PRNGKey(0)))
        hlo = compiled.update.lower(
            state, compiled.put_batch(global_batch(0))).compile().as_text()
        results[str(dr3)] = {
            'all_reduced': multi_process.all_reduced_bytes(hlo),
            'param_bytes': sum(leaf.size * leaf.dtype.itemsize for leaf in
                               jax.tree_util.tree_leaves(state.params)),
            'devices': compiled.num_devices}
      print(json.dumps(results))
      """)
  run = subprocess.run(
      ['nice', '-n', '19', sys.executable, '-c', code], cwd=REPO_ROOT,
      env={**WORKER_ENV,
           'XLA_FLAGS': '--xla_force_host_platform_device_count=2'},
      capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-5000:]
  results = json.loads(run.stdout.strip().splitlines()[-1])
  observations = 2 * GLOBAL_BATCH * 84 * 84 * 4
  # Small extras: scalar metrics, per-row values of the C51 projection.
  extras = 4 * (64 + 4 * GLOBAL_BATCH * CONFIG.num_atoms)
  for dr3, expected in (('0.0', 0), ('0.03', observations)):
    result = results[dr3]
    assert result['devices'] == 2
    floor = result['param_bytes'] + expected
    assert floor <= result['all_reduced'] <= floor + extras, (dr3, result)


def test_all_reduced_bytes_reads_hlo_shapes():
  hlo = textwrap.dedent("""
      %a = f32[3,4]{1,0} all-reduce(f32[3,4]{1,0} %x), replica_groups={}
      %b = (f32[10]{0}, bf16[2,2]{1,0}, s32[]) all-reduce(%y, %z, %w)
      %c = f32[7]{0} all-reduce-start(f32[7]{0} %v)
      %d = f32[7]{0} all-reduce-done(f32[7]{0} %c)
      %e = f32[100]{0} add(f32[100]{0} %p, f32[100]{0} %q)
      """)
  assert multi_process.all_reduced_bytes(hlo) == (12 * 4 + 10 * 4 + 4 * 2 +
                                                  4 + 7 * 4)


@pytest.mark.parametrize('settings, message', [
    (dict(num_processes=0), 'num_processes must be >= 1, got 0'),
    (dict(num_processes=2, process_id=2, coordinator_address='localhost:1'),
     'process_id=2 is not in 0..1'),
    (dict(num_processes=2, process_id=0), "coordinator_address=None is not"),
    (dict(num_processes=2, coordinator_address='localhost'),
     "coordinator_address='localhost' is not \"host:port\""),
    (dict(num_processes=2, coordinator_address='h:70000'),
     "coordinator_address='h:70000' is not"),
])
def test_bad_process_settings_fail_clearly(settings, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    multi_process.ProcessSettings(**settings)


def test_one_process_settings_need_no_address():
  settings = multi_process.ProcessSettings()
  assert settings.is_chief and settings.coordinator_address is None
  multi_process.initialize(settings)  # A no-op: no jax.distributed.


def test_episode_shards_partition_any_layout():
  from atari_data import loader
  for num_shards in (1, 2, 3, 5):
    for num_files in (1, 2, 7):
      counts = np.zeros(num_shards, int)
      for file_index in range(num_files):
        for record_index in range(11):
          owners = [shard for shard in range(num_shards) if
                    loader.episode_in_shard(
                        file_index, record_index, shard, num_shards)]
          assert len(owners) == 1
          counts[owners[0]] += 1
      # One episode per file at most between two shards.
      assert counts.max() - counts.min() <= num_files


def _episode_keys(loader, config, source):
  """Identities of the episodes a one-pass loader of `config` reads."""
  import dataclasses as dc
  config = dc.replace(config, repeat=False, episode_shuffle_buffer=1)
  keys = []
  for episode in loader.decoded_episodes(source, config,
                                         seed=0).as_numpy_iterator():
    keys.append((len(episode['action']), episode['frames'].tobytes(),
                 episode['action'].tobytes(), episode['reward'].tobytes()))
  return keys


def test_data_shards_are_disjoint_and_cover_the_selection(tiny_atari_dataset):
  from atari_data import loader
  config = loader.LoaderConfig(games=('Pong', 'Breakout'),
                               source=tiny_atari_dataset, checkpoints='all')
  for source in loader.resolve_sources(config):
    everything = _episode_keys(loader, config, source)
    assert len(everything) >= 2, source
    assert len(set(everything)) == len(everything)
    for num_shards in (2, 3):
      shards = [_episode_keys(loader, loader.LoaderConfig(
          **{**config.__dict__, 'num_shards': num_shards,
             'shard_index': index}), source) for index in range(num_shards)]
      if num_shards == 2:
        assert all(shards), [len(shard) for shard in shards]
      union = [key for shard in shards for key in shard]
      assert len(union) == len(set(union)), 'an episode in two shards'
      assert set(union) == set(everything), 'the shards miss episodes'


def test_one_shard_reads_as_before_and_bad_shards_fail(
    tiny_atari_dataset):
  from atari_data import loader
  base = dict(games=('Pong',), source=tiny_atari_dataset, checkpoints='all',
              batch_size=4, episode_pool_size=1)
  unsharded = next(loader.MultiGameSampler(loader.LoaderConfig(**base)))
  explicit = next(loader.MultiGameSampler(loader.LoaderConfig(
      **base, num_shards=1, shard_index=0)))
  for a, b in zip(unsharded, explicit):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError, match=re.escape(
      'shard_index=2 is not in 0..1 (num_shards=2)')):
    loader.resolve_sources(loader.LoaderConfig(**base, num_shards=2,
                                               shard_index=2))
  with pytest.raises(ValueError, match='num_shards must be >= 1, got 0'):
    loader.resolve_sources(loader.LoaderConfig(**base, num_shards=0))


def test_experiment_splits_batch_and_episodes_over_processes(
    tiny_atari_dataset, tmp_path):
  from launchers.programs import offline_program
  from tests_support import tiny_experiment
  experiment = tiny_experiment(tiny_atari_dataset, tmp_path,
                               learner_processes=2)
  experiment.validate()
  config = experiment.loader_config(process_id=1)
  assert (config.batch_size, config.num_shards, config.shard_index) == (
      TINY_LEARNER.batch_size // 2, 2, 1)
  with pytest.raises(ValueError, match=re.escape(
      "learner_processes=2 needs launch type local_mp")):
    offline_program.check_launch_type(experiment, 'local_mt')
  with pytest.raises(ValueError, match=re.escape(
      'batch_size=8 is not a multiple of learner_processes=3')):
    tiny_experiment(tiny_atari_dataset, tmp_path,
                    learner_processes=3).validate()
  with pytest.raises(ValueError, match=re.escape(
      "learner_processes=2: only the scaled_ql agent")):
    tiny_experiment(tiny_atari_dataset, tmp_path, learner_processes=2,
                    agent='bc').validate()
  address = offline_program.coordinator_address(experiment)
  assert re.fullmatch(r'localhost:\d+', address), address
  assert offline_program.coordinator_address(tiny_experiment(
      tiny_atari_dataset, tmp_path)) is None


def _pretrain_command(dataset, workdir, *flags):
  return ['nice', '-n', '19', sys.executable, '-m', 'launchers.pretrain',
          '--games=Pong,Breakout', f'--dataset={dataset}', '--checkpoints=all',
          '--network_size=nature_dqn', '--feature_dim=32', '--num_atoms=11',
          '--batch_size=8', '--eval_max_episode_frames=200',
          '--lp_launch_type=local_mp', '--learner_processes=2',
          f'--workdir={workdir}', *flags]


def test_two_process_program_trains_checkpoints_and_stops_by_itself(
    tiny_atari_dataset, tmp_path):
  first = subprocess.run(
      _pretrain_command(tiny_atari_dataset, tmp_path, '--num_steps=20',
                        '--checkpoint_every_steps=10',
                        '--eval_every_steps=20'),
      capture_output=True, text=True, cwd=REPO_ROOT, env=WORKER_ENV,
      timeout=600)
  output = first.stdout + first.stderr
  assert first.returncode == 0, output[-5000:]
  assert 'Killing entire runtime' not in output
  nodes = set(re.findall(r'Node (\S+): pid \d+\.', output))
  assert nodes == {'counter/0', 'learner/0', 'learner/1', 'evaluator/0'}
  assert checkpoint_steps(str(tmp_path)) == [10, 20]
  # Process 0 alone checkpoints and logs.
  assert '[learner/0] ' in output
  assert not re.search(r'\[learner/1\].*Checkpoint at learner step', output)
  assert first.stdout.splitlines()[-1].startswith(
      'finished: learner step 20 of 20, checkpoint ')
  rows = csv_rows(str(tmp_path), 'learner')  # At most one a second.
  assert rows and float(rows[-1]['td_loss']) > 0


def test_two_processes_resume_a_checkpoint_and_stop_together_on_sigterm(
    tiny_atari_dataset, tmp_path):
  """Both processes resume at step 20 from process 0's checkpoint (here one
  of a 1-process run: the format is the same), the evaluator plays with
  learner/0's parameters, and a SIGTERM stops both at the same step."""
  from launchers.programs import offline_program
  from tests_support import tiny_experiment
  offline_program.run_single_process(tiny_experiment(
      tiny_atari_dataset, tmp_path, num_steps=20,
      eval_every_steps=1000, checkpoint_every_steps=20,
      eval_max_episode_frames=100))
  assert checkpoint_steps(str(tmp_path)) == [20]
  second = subprocess.Popen(
      _pretrain_command(tiny_atari_dataset, tmp_path, '--num_steps=1000000',
                        '--checkpoint_every_steps=5',
                        '--eval_every_steps=1000000'),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      cwd=REPO_ROOT, env=WORKER_ENV)
  def evaluated_games():
    """Games the evaluator has played with the resumed parameters (served
    by learner/0)."""
    path = os.path.join(tmp_path, 'logs', 'evaluator', 'logs.csv')
    return {row['game'] for row in (csv_rows(str(tmp_path), 'evaluator')
                                    if os.path.exists(path) else ())
            if float(row['learner_steps']) >= 20}

  deadline = time.time() + 600  # A bound for a broken run only.
  while ((checkpoint_steps(str(tmp_path))[-1] <= 20 or
          evaluated_games() != {'Pong', 'Breakout'}) and
         time.time() < deadline and second.poll() is None):
    time.sleep(0.2)
  second.send_signal(signal.SIGTERM)
  output, _ = second.communicate(timeout=300)
  assert second.returncode == endings.STOPPED, output[-5000:]
  assert 'Killing entire runtime' not in output
  for process in ('learner/0', 'learner/1'):
    assert re.search(rf'\[{process}\].*Resumed from .* at learner step 20',
                     output), output[-5000:]
  steps = checkpoint_steps(str(tmp_path))
  assert steps[-1] > 20, steps  # (older checkpoints are pruned)
  assert output.splitlines()[-1].startswith(
      f'stopped by SIGTERM: learner step {steps[-1]} of 1000000, '), (
          output[-5000:])


def _alive(pid):
  try:
    with open(f'/proc/{pid}/stat') as f:
      return f.read().split(') ')[1][0] != 'Z'
  except FileNotFoundError:
    return False


def test_killing_one_learner_process_ends_the_program_clearly(
    tiny_atari_dataset, tmp_path):
  launcher = subprocess.Popen(
      _pretrain_command(tiny_atari_dataset, tmp_path, '--num_steps=1000000',
                        '--checkpoint_every_steps=5',
                        '--eval_every_steps=1000000'),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      cwd=REPO_ROOT, env=WORKER_ENV)
  output = []
  reader = threading.Thread(target=lambda: output.extend(launcher.stdout),
                            daemon=True)
  reader.start()
  deadline = time.time() + 600  # A bound for a broken run only.
  while not checkpoint_steps(str(tmp_path)) and time.time() < deadline:
    assert launcher.poll() is None, ''.join(output)[-5000:]
    time.sleep(0.2)
  pids = {node: int(pid) for node, pid in
          re.findall(r'Node (\S+): pid (\d+)\.', ''.join(output))}
  assert sorted(pids) == ['counter/0', 'evaluator/0', 'learner/0',
                          'learner/1'], pids
  os.kill(pids['learner/1'], signal.SIGKILL)
  launcher.wait(timeout=300)
  reader.join(timeout=30)
  text = ''.join(output)
  assert launcher.returncode == endings.FAILED, text[-5000:]
  # The last line names the killed process; the other one ended too (on
  # CPU, gloo's failed all-reduce aborts it: SIGABRT), with the checkpoint
  # a fixed run resumes from.
  last = text.splitlines()[-1]
  assert last.startswith('failed (node '), last
  assert 'learner/1 (killed by SIGKILL)' in last, last
  assert 'the same command resumes from it' in last, last
  assert not [node for node, pid in pids.items() if _alive(pid)]


def test_throughput_benchmark_runs_two_processes_and_counts_bytes(tmp_path):
  """benchmarks.multi_process_throughput end to end, one timed step (its
  speed is not checked: the figure is measured alone)."""
  output = tmp_path / 'result.json'
  run = subprocess.run(
      ['nice', '-n', '19', sys.executable, '-m',
       'benchmarks.multi_process_throughput', '--processes', '2',
       '--network-size', 'nature_dqn', '--batch-size', '8', '--warmup', '0',
       '--steps', '1', '--json', str(output)],
      cwd=REPO_ROOT, env=WORKER_ENV, capture_output=True, text=True,
      timeout=300)
  assert run.returncode == 0, run.stderr[-5000:]
  (result,) = json.loads(output.read_text())['runs']
  assert (result['processes'], result['devices'], result['steps']) == (2, 2, 1)
  assert result['updates_per_second'] > 0
  observations = 2 * 8 * 84 * 84 * 4
  assert 0 <= result['all_reduced_bytes'] - (
      result['parameter_bytes'] + observations) <= 4096, result


def test_online_program_with_two_learner_processes_stops_cleanly_on_sigterm(
    tmp_path):
  """Online fine-tuning (from scratch) with 2 learner processes sampling 4
  transitions each from the replay: it trains and checkpoints, and a
  SIGTERM, which ends the replay's data while one learner may still be
  waiting for it, stops both learners at the same step."""
  launcher = subprocess.Popen(
      ['nice', '-n', '19', sys.executable, '-m', 'launchers.finetune_online',
       '--game=Breakout', '--network_size=nature_dqn', '--feature_dim=32',
       '--num_atoms=11', '--batch_size=8', '--min_replay_size=100',
       '--samples_per_insert=4', '--num_actors=1',
       '--actor_max_episode_frames=800', '--eval_max_episode_frames=200',
       '--lp_launch_type=local_mp', '--learner_processes=2',
       '--num_env_steps=10000000', '--checkpoint_every_steps=20',
       '--eval_every_steps=1000000', f'--workdir={tmp_path}'],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      cwd=REPO_ROOT, env=WORKER_ENV)
  deadline = time.time() + 600  # A bound for a broken run only.
  while (not checkpoint_steps(str(tmp_path)) and time.time() < deadline and
         launcher.poll() is None):
    time.sleep(0.2)
  launcher.send_signal(signal.SIGTERM)
  output, _ = launcher.communicate(timeout=300)
  assert launcher.returncode == endings.STOPPED, output[-5000:]
  assert 'Killing entire runtime' not in output
  assert 'Traceback' not in output, output[-5000:]
  nodes = set(re.findall(r'Node (\S+): pid \d+\.', output))
  assert {'learner/0', 'learner/1', 'actor/0', 'replay/0'} <= nodes, nodes
  steps = checkpoint_steps(str(tmp_path))
  assert steps[-1] >= 20, steps
  assert not re.search(r'\[learner/1\].*Checkpoint at learner step', output)
  assert re.search(rf'\[learner/0\].*Checkpoint at learner step {steps[-1]}',
                   output), output[-5000:]


def test_online_experiment_splits_the_batch_and_logs_on_process_0(tmp_path):
  from launchers.programs import finetune_experiment
  from launchers.programs import learner_runner
  experiment = finetune_experiment.FinetuneExperiment(
      game='Breakout', workdir=str(tmp_path), learner=TINY_LEARNER,
      learner_processes=2)
  config = experiment.program_config()
  assert (config.learner_processes, config.coordinator_address) == (2, None)
  for process_id in (0, 1):
    builder = experiment.process_builder(process_id)
    assert builder.config.learner.batch_size == TINY_LEARNER.batch_size // 2
  assert experiment.process_builder(1)._logger_fn() is None  # pylint: disable=protected-access
  with pytest.raises(ValueError, match=re.escape(
      'learner_processes=2 needs launch type local_mp')):
    learner_runner.check_launch_type(2, 'local_mt')
  with pytest.raises(ValueError, match=re.escape(
      'batch_size=8 is not a multiple of learner_processes=3')):
    finetune_experiment.FinetuneExperiment(
        game='Breakout', workdir=str(tmp_path), learner=TINY_LEARNER,
        learner_processes=3).validate()
