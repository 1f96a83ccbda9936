r"""The GPU check's Python steps: known-answer learning, the per-op profile
and the summary (scripts/gpu_check.sh runs them beside the core's tests
and benchmarks.learner_throughput).

    python -m benchmarks.gpu_check --output_dir=OUT --steps=known_answer
    python -m benchmarks.gpu_check --output_dir=OUT --steps=profile
    python -m benchmarks.gpu_check --output_dir=OUT --steps=summary \
        --step_log=STEPS.tsv

known_answer: the known-answer task (benchmarks.known_answer_runs, the
  'chain' settings) trained on this machine's default device. Its data are
  made here in NumPy (environments.known_answer.recorded_transitions: the
  transitions the TensorFlow recorder and loader would give), sampled
  uniformly with replacement (the loader draws without replacement within
  a pass), and probed on 2,048 of them against Q*. Writes known_answer.json:
  per seed the updates and seconds to the first probe at which every game
  is solved (greedy >= 95% optimal, |Q - Q*| < 0.05), counted from the
  first update, its compilation included, with a probe every --eval_every
  updates.
profile: the update step of benchmarks.learner_throughput (same network,
  batch, dtype and games, donated state) traced by the JAX profiler over
  --profile_updates updates; writes the per-op table (profile_<size>.txt:
  device time per update of each HLO op, its class, kernel launches, the
  JAX operation it came from) and the trace (profile_<size>.xplane.pb.gz,
  for TensorBoard's or XProf's profile plugin).
summary: summary.json: versions, devices, each step's exit status and
  seconds (--step_log, written by the shell script) and the headline
  figures of the other files.

Imports JAX, Haiku, Optax, chex, NumPy, dm_env and ale_py (through the
known-answer settings), not TensorFlow, Reverb, Launchpad or Acme.
"""

import collections
import dataclasses
import glob
import gzip
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
import warnings
from typing import Any, Dict, List, Optional, Sequence

from absl import app
from absl import flags
import jax
import numpy as np

from agents.scaled_ql.config import ScaledQLConfig
from agents.scaled_ql.networks import make_network
from agents.scaled_ql.types import MultiGameTransition
from agents.scaled_ql import update_step as update_lib
from benchmarks import known_answer_runs
from benchmarks import learner_throughput
from benchmarks import results as results_lib
from benchmarks import xla_cpu_profile
from environments import known_answer

STEPS = ('known_answer', 'profile', 'summary')
# The files the steps write, and those of the shell script's other steps
# (the summary reads them): at most 8 in all, the device tool's limit.
KNOWN_ANSWER_FILE = 'known_answer.json'
SUMMARY_FILE = 'summary.json'
THROUGHPUT_FILES = ('throughput_resnet101.json', 'throughput_small.json')
TESTS_FILE = 'tests.txt'
# Rows of the per-op table (the rest are summed in its last row).
TABLE_ROWS = 60
# A trace larger than this stays out of the output (the tool returns files
# of up to 16 MiB).
MAX_TRACE_BYTES = 15 * 2**20


# --- Known-answer learning on NumPy data. ---


class UniformBatches:
  """MultiGameTransition batches drawn uniformly, with replacement: a game
  per row (equal weights, as the loader's default), then a transition of
  it."""

  def __init__(self, data: Sequence[Dict[str, np.ndarray]], batch_size: int,
               seed: int):
    self._data = data
    self._batch_size = batch_size
    self._rng = np.random.default_rng(seed)

  def __iter__(self):
    return self

  def __next__(self) -> MultiGameTransition:
    game_id = self._rng.integers(len(self._data), size=self._batch_size)
    fields = {name: np.empty((self._batch_size,) + value.shape[1:],
                             value.dtype)
              for name, value in self._data[0].items()}
    for g, game in enumerate(self._data):
      rows = np.flatnonzero(game_id == g)
      picks = self._rng.integers(len(game['action']), size=len(rows))
      for name, value in game.items():
        fields[name][rows] = value[picks]
    return MultiGameTransition(game_id=game_id.astype(np.int32), **fields)


def probe_batch(data: Sequence[Dict[str, np.ndarray]], seed: int
                ) -> MultiGameTransition:
  """PROBE_SIZE of the data's transitions, without replacement, split
  evenly over the games (their first fields only: observation, action,
  game_id are what a Probe reads)."""
  rng = np.random.default_rng(seed + 1000)
  per_game = np.array_split(np.arange(known_answer_runs.PROBE_SIZE),
                            len(data))
  parts = []
  for g, (game, rows) in enumerate(zip(data, per_game)):
    picks = rng.choice(len(game['action']), size=len(rows), replace=False)
    parts.append({name: value[picks] for name, value in game.items()})
    parts[-1]['game_id'] = np.full(len(rows), g, np.int32)
  return MultiGameTransition(**{
      name: np.concatenate([part[name] for part in parts])
      for name in MultiGameTransition._fields})


class _TimedLearner:
  """A known_answer_runs learner whose first update (compilation included)
  is timed to its end."""

  def __init__(self, learner):
    self._learner = learner
    self.first_update_seconds = None

  @property
  def metrics(self):
    return self._learner.metrics

  def params(self):
    return self._learner.params()

  def step(self):
    if self.first_update_seconds is not None:
      self._learner.step()
      return
    start = time.perf_counter()
    self._learner.step()
    jax.block_until_ready(self._learner.params())
    self.first_update_seconds = time.perf_counter() - start


def known_answer_run(task: str, seed: int, transitions_per_game: int,
                     num_updates: int, eval_every: int, episodes: int
                     ) -> Dict[str, Any]:
  """One known-answer run (module docstring) on the default device."""
  spec = known_answer_runs.RunSpec(task, 'chain', seed,
                                   num_updates=num_updates,
                                   eval_every=eval_every, episodes=episodes)
  config = spec.learner()
  if config.n_step != 1:
    raise ValueError(f'{spec.name}: n_step={config.n_step}; the NumPy '
                     'data are 1-step transitions.')
  games = known_answer_runs.TASKS[task]
  start = time.perf_counter()
  data = [known_answer.recorded_transitions(game, transitions_per_game, seed,
                                            config.discount)
          for game in games]
  data_seconds = time.perf_counter() - start
  probe = known_answer_runs.Probe.from_batch(probe_batch(data, seed), games,
                                             config.discount)
  network = make_network(config, [known_answer.problem(game).num_actions
                                  for game in games])
  learner = _TimedLearner(known_answer_runs._ValueLearner(  # pylint: disable=protected-access
      network, config, UniformBatches(data, config.batch_size, seed), seed))
  q_values = jax.jit(lambda p, o, g: network.apply(p, o, g).q_values)
  curve, solved_at = known_answer_runs.train_and_probe(
      spec.name, learner, q_values, probe, num_updates, eval_every)
  del data
  returns = known_answer_runs.play(network, learner.params(), games, episodes,
                                   seed=seed + 2000)
  solved_point = next((p for p in curve if p['update'] == solved_at), None)
  return {
      'name': spec.name, 'task': task, 'seed': seed, 'games': list(games),
      'learner': dataclasses.asdict(config),
      'device': str(jax.devices()[0].device_kind),
      'transitions_per_game': transitions_per_game,
      'data_seconds': data_seconds,
      'first_update_seconds': learner.first_update_seconds,
      'solved_at': solved_at,
      'seconds_to_solved': solved_point['seconds'] if solved_point else None,
      'train_seconds': curve[-1]['seconds'],
      'updates_per_s': num_updates / curve[-1]['seconds'],
      'final': curve[-1]['all'],
      'returns': {game: float(np.mean(r)) for game, r in returns.items()},
      'optimal_returns': {game: known_answer.reference_returns(game)[1]
                          for game in games},
      'curve': curve,
  }


# --- The per-op profile. ---


_INSTRUCTION = re.compile(r'^\s*(?:ROOT )?%?([\w.\-]+) = (.*)$')
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_TARGET = re.compile(r'custom_call_target="([^"]*)"')
_FUSION_KIND = re.compile(r'kind=(k\w+)')
_HLO_OP_IN_TEXT = re.compile(r'hlo_op=([^,#\s]+)')


def hlo_instructions(hlo_text: str) -> Dict[str, Dict[str, str]]:
  """Instruction name -> {'op': opcode (and custom-call target or fusion
  kind), 'class', 'source': the JAX operation in its metadata}."""
  result = {}
  for line in hlo_text.splitlines():
    match = _INSTRUCTION.match(line)
    if not match:
      continue
    name, rest = match.groups()
    opcode = xla_cpu_profile._opcode(rest)  # pylint: disable=protected-access
    target = _TARGET.search(rest)
    kind = _FUSION_KIND.search(rest) if opcode == 'fusion' else None
    source = _OP_NAME.search(rest)
    source = source.group(1) if source else ''
    op = opcode + (f' {target.group(1)}' if target else '') + (
        f' {kind.group(1)}' if kind else '')
    result[name] = {'op': op, 'class': op_class(op, source, rest),
                    'source': source}
  return result


def op_class(op: str, source: str, text: str) -> str:
  """conv, matmul, optimizer, collective, copy or elementwise, from the
  op, its custom-call target and the JAX operation it came from."""
  lowered = (op + ' ' + source).lower()
  # Not 'conv' alone: convert_element_type is no convolution.
  if any(word in lowered for word in ('convolution', 'conv_general',
                                      '$conv')):
    return 'conv'
  if any(word in lowered for word in ('gemm', 'matmul', 'dot', 'cublas')):
    return 'matmul'
  if 'optax' in text:
    return 'optimizer'
  if any(word in lowered for word in ('all-reduce', 'all-gather',
                                      'reduce-scatter', 'collective')):
    return 'collective'
  if any(word in lowered for word in ('copy', 'transpose', 'memcpy')):
    return 'copy'
  return 'elementwise'


def _stats(event) -> Dict[str, Any]:
  with warnings.catch_warnings():
    # jaxlib 0.11's stats type warns on every access (no __module__).
    warnings.simplefilter('ignore', DeprecationWarning)
    return {key: value for key, value in event.stats}


def op_times(profile, module_prefix: str = 'jit_update'
             ) -> Dict[str, Dict[str, Any]]:
  """HLO op -> {'ns': summed duration, 'count', 'kernels': Counter of the
  kernel (event) names} over a jax.profiler.ProfileData.

  The device planes' events where there are any (GPU: kernels, each named
  by the HLO op that launched it), else the host's (XLA:CPU: one event per
  op, summed over threads, so above the wall time when ops run in
  parallel). Events of other modules (e.g. the input copies) are left out.
  """
  devices = [plane for plane in profile.planes
             if plane.name.startswith('/device:') and
             not plane.name.startswith('/device:CUSTOM')]
  planes = devices or [plane for plane in profile.planes
                       if plane.name.startswith('/host:')]
  times = collections.defaultdict(
      lambda: {'ns': 0.0, 'count': 0, 'kernels': collections.Counter()})
  for plane in planes:
    for line in plane.lines:
      for event in line.events:
        stats = _stats(event)
        op = stats.get('hlo_op')
        if op is None:  # The op may only be in the launch's annotation.
          for value in stats.values():
            found = _HLO_OP_IN_TEXT.search(str(value))
            if found:
              op = found.group(1)
              break
        if op is None and not devices:
          continue
        module = str(stats.get('hlo_module', module_prefix))
        if not module.startswith(module_prefix):
          continue
        entry = times[op or event.name]
        entry['ns'] += event.duration_ns
        entry['count'] += 1
        entry['kernels'][event.name] += 1
  return dict(times)


def op_table(times: Dict[str, Dict[str, Any]],
             instructions: Dict[str, Dict[str, str]], updates: int,
             wall_seconds: float, title: str) -> str:
  """The per-op table as text: the TABLE_ROWS heaviest ops, the rest in
  one row, then the totals per class."""
  total_ns = sum(entry['ns'] for entry in times.values()) or 1.0
  rows = sorted(times.items(), key=lambda item: -item[1]['ns'])
  lines = [title,
           f'{updates} updates traced; wall {1e3 * wall_seconds / updates:.2f}'
           f' ms per update; op time {total_ns / 1e6 / updates:.2f} ms per '
           'update (device time on a GPU, summed over threads on a CPU)',
           '',
           f'{"rank":>4} {"ms/upd":>8} {"share":>6} {"calls/upd":>9} '
           f'{"class":<11} {"hlo op":<40} {"op":<36} source (JAX op)']
  by_class = collections.Counter()
  for rank, (name, entry) in enumerate(rows, 1):
    details = instructions.get(name, {'op': '?', 'class': 'unknown',
                                      'source': ''})
    by_class[details['class']] += entry['ns']
    if rank <= TABLE_ROWS:
      kernel = entry['kernels'].most_common(1)[0][0]
      source = details['source'] or (f'kernel {kernel}' if kernel != name
                                     else '')
      lines.append(
          f'{rank:>4} {entry["ns"] / 1e6 / updates:>8.3f} '
          f'{entry["ns"] / total_ns:>6.1%} {entry["count"] / updates:>9.1f} '
          f'{details["class"]:<11} {name[:40]:<40} {details["op"][:36]:<36} '
          f'{source[-100:]}')
  rest = rows[TABLE_ROWS:]
  if rest:
    rest_ns = sum(entry['ns'] for _, entry in rest)
    lines.append(f'{"rest":>4} {rest_ns / 1e6 / updates:>8.3f} '
                 f'{rest_ns / total_ns:>6.1%} ({len(rest)} more ops)')
  lines += ['', 'per class: ' + ', '.join(
      f'{name} {ns / 1e6 / updates:.2f} ms ({ns / total_ns:.0%})'
      for name, ns in by_class.most_common())]
  return '\n'.join(lines) + '\n'


def profile_update(output_dir: str, size: str, batch_size: int, dtype: str,
                   num_games: int, updates: int,
                   num_actions: int = 18) -> Dict[str, Any]:
  """Traces the update step (module docstring); returns what it wrote."""
  if not hasattr(jax.profiler, 'ProfileData'):
    raise RuntimeError(f'jax {jax.__version__} has no jax.profiler.'
                       'ProfileData, which the per-op table reads (the GPU '
                       "machine's jax 0.11 has it; the project's 0.4.30 not).")
  config = ScaledQLConfig(network_size=size, batch_size=batch_size,
                          compute_dtype=dtype)
  network = make_network(config, [num_actions] * num_games)
  # As learner_throughput.measure builds it, so that its compilation is
  # the same (and a persistent compilation cache can serve it).
  compiled = update_lib.compile_update_step(
      update_lib.make_update_step(network, config), donate_state=True)
  state = compiled.put_state(
      update_lib.make_initial_state(network, config, jax.random.PRNGKey(0)))
  batch = compiled.put_batch(learner_throughput._synthetic_batch(  # pylint: disable=protected-access
      batch_size, num_games, num_actions))
  start = time.perf_counter()
  executable = compiled.update.lower(state, batch).compile()
  compile_seconds = time.perf_counter() - start
  state, metrics = executable(state, batch)  # Warm-up.
  jax.block_until_ready((state, metrics))
  with tempfile.TemporaryDirectory() as directory:
    with jax.profiler.trace(directory):
      start = time.perf_counter()
      for _ in range(updates):
        state, metrics = executable(state, batch)
      jax.block_until_ready((state, metrics))
      wall = time.perf_counter() - start
    trace, = glob.glob(f'{directory}/**/*.xplane.pb', recursive=True)
    profile = jax.profiler.ProfileData.from_file(trace)
    base = os.path.join(output_dir, f'profile_{size}')
    with open(trace, 'rb') as source, gzip.open(base + '.xplane.pb.gz',
                                                'wb') as target:
      shutil.copyfileobj(source, target)
  trace_file = base + '.xplane.pb.gz'
  if os.path.getsize(trace_file) > MAX_TRACE_BYTES:
    os.remove(trace_file)
    trace_file = None
  device = jax.devices()[0]
  times = op_times(profile)
  title = (f'{size}, batch {batch_size}, {dtype}, {num_games} games x '
           f'{num_actions} actions, on {device.device_kind} '
           f'({jax.default_backend()}), jax {jax.__version__}; compile '
           f'{compile_seconds:.1f} s; loss finite: '
           f'{bool(np.isfinite(float(metrics["total_loss"])))}')
  with open(base + '.txt', 'w') as f:
    f.write(op_table(times, hlo_instructions(executable.as_text()), updates,
                     wall, title))
  print(title, flush=True)
  return {'table': base + '.txt', 'trace': trace_file, 'ops': len(times),
          'compile_s': compile_seconds, 'ms_per_update': 1e3 * wall / updates}


# --- The summary. ---


def _versions() -> Dict[str, Optional[str]]:
  from importlib import metadata
  versions = {'python': platform.python_version()}
  for name in ('jax', 'jaxlib', 'numpy', 'scipy', 'optax', 'chex',
               'dm-haiku', 'jmp', 'dm-env', 'ale-py', 'pytest'):
    try:
      versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      versions[name] = None
  return versions


def _read_json(path: str):
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _tests_line(path: str) -> Optional[str]:
  """pytest's closing line ('N passed, ... in S s'), if it got there."""
  if not os.path.exists(path):
    return None
  with open(path) as f:
    lines = [line.strip() for line in f if line.strip()]
  closing = [line for line in lines if re.search(r'\d+ (passed|failed)', line)
             and ' in ' in line]
  return closing[-1].strip('= ') if closing else None


def summary(output_dir: str, step_log: Optional[str]) -> Dict[str, Any]:
  """summary.json's content (module docstring)."""
  steps = []
  if step_log and os.path.exists(step_log):
    with open(step_log) as f:
      for line in f:
        name, status, seconds = line.rstrip('\n').split('\t')
        steps.append({'step': name, 'exit_status': status,
                      'seconds': float(seconds)})
  throughput = []
  for name in THROUGHPUT_FILES:
    for row in _read_json(os.path.join(output_dir, name)) or []:
      throughput.append({key: row.get(key) for key in (
          'size', 'batch_size', 'dtype', 'num_games', 'updates_per_s',
          'samples_per_s', 'runs', 'peak_memory_gib', 'compile_s', 'mfu',
          'gflops_per_update', 'error')})
  known = _read_json(os.path.join(output_dir, KNOWN_ANSWER_FILE)) or []
  return {
      'versions': _versions(),
      'devices': [f'{d.platform}: {d.device_kind}' for d in jax.devices()],
      'steps': steps,
      'tests': _tests_line(os.path.join(output_dir, TESTS_FILE)),
      'throughput': throughput,
      'known_answer': [{key: run.get(key) for key in (
          'name', 'solved_at', 'seconds_to_solved', 'first_update_seconds',
          'train_seconds', 'updates_per_s', 'returns')} for run in known],
  }


def _define_flags():
  """The command line's flags: defined only when run as a program, so that
  tests import this module beside other programs' flags."""
  return dict(
      output_dir=flags.DEFINE_string('output_dir', None,
                                     'Folder for the result files.'),
      steps=flags.DEFINE_list('steps', list(STEPS), f'Of {list(STEPS)}.'),
      task=flags.DEFINE_enum('task', 'two_game', list(known_answer_runs.TASKS),
                             'Known-answer task.'),
      seeds=flags.DEFINE_list('seeds', ['0', '1', '2'], 'Known-answer seeds.'),
      transitions=flags.DEFINE_integer(
          'transitions_per_game', known_answer_runs.TRANSITIONS_PER_GAME,
          'Transitions recorded per game.',
          lower_bound=known_answer_runs.PROBE_SIZE),
      num_updates=flags.DEFINE_integer('num_updates', 3000,
                                       'Updates per known-answer run.',
                                       lower_bound=1),
      eval_every=flags.DEFINE_integer('eval_every', 50,
                                      'Updates between probes.', lower_bound=1),
      episodes=flags.DEFINE_integer('episodes', 20,
                                    'Greedy episodes per game at the end.',
                                    lower_bound=1),
      profile_size=flags.DEFINE_string('profile_size', 'resnet101',
                                       'Network profiled.'),
      profile_batch=flags.DEFINE_integer('profile_batch', 256,
                                         'Batch profiled.', lower_bound=1),
      profile_dtype=flags.DEFINE_enum('profile_dtype', 'bfloat16',
                                      ['float32', 'bfloat16'],
                                      'Compute dtype profiled.'),
      profile_games=flags.DEFINE_integer('profile_num_games', 40,
                                         'Games (heads) profiled.',
                                         lower_bound=1),
      profile_updates=flags.DEFINE_integer('profile_updates', 3,
                                           'Updates traced.', lower_bound=1),
      step_log=flags.DEFINE_string(
          'step_log', None, 'summary: tab-separated lines "step, exit status, '
          'seconds" of the shell script\'s steps.'))


def main(argv, output_dir, steps, task, seeds, transitions, num_updates,
         eval_every, episodes, profile_size, profile_batch, profile_dtype,
         profile_games, profile_updates, step_log):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}.')
  output_dir = output_dir.value
  if not output_dir:
    raise app.UsageError('--output_dir is required: the folder that '
                         'receives the result files.')
  if not os.path.isdir(output_dir):
    raise app.UsageError(f'--output_dir={output_dir!r} is not a folder.')
  unknown = sorted(set(steps.value) - set(STEPS))
  if unknown:
    raise app.UsageError(f'--steps: {unknown} unknown; valid: {list(STEPS)}.')
  seeds = [int(seed) for seed in seeds.value]
  print(f'{jax.devices()[0].device_kind} ({jax.default_backend()}), jax '
        f'{jax.__version__}, Python {platform.python_version()}', flush=True)
  if 'known_answer' in steps.value:
    runs: List[Dict[str, Any]] = []
    for seed in seeds:
      runs.append(known_answer_run(task.value, seed, transitions.value,
                                   num_updates.value, eval_every.value,
                                   episodes.value))
      run = runs[-1]
      print(f"{run['name']}: solved at {run['solved_at']} updates, "
            f"{run['seconds_to_solved']} s (first update "
            f"{run['first_update_seconds']:.1f} s); {run['updates_per_s']:.0f}"
            f" updates/s with probes; data {run['data_seconds']:.1f} s; "
            f"returns {run['returns']}", flush=True)
      # After each seed, so that a run cut short keeps the seeds done.
      results_lib.write_json_atomically(
          os.path.join(output_dir, KNOWN_ANSWER_FILE), runs)
  if 'profile' in steps.value:
    written = profile_update(output_dir, profile_size.value,
                             profile_batch.value, profile_dtype.value,
                             profile_games.value, profile_updates.value)
    print(f'profile: {written}', flush=True)
  if 'summary' in steps.value:
    results_lib.write_json_atomically(
        os.path.join(output_dir, SUMMARY_FILE),
        summary(output_dir, step_log.value))
  sys.stdout.flush()


if __name__ == '__main__':
  _flags = _define_flags()
  app.run(lambda argv: main(argv, **_flags))
