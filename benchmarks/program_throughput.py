r"""Do the Launchpad programs run at the learner's speed? Steps/s and ratios.

  python -m benchmarks.program_throughput                  # ~8 min, 2 cores
  python -m benchmarks.program_throughput --dataset=demo_output/dataset
  python -m benchmarks.program_throughput --cases=finetune,actor \
      --checkpoint=demo_output/run/checkpoints/checkpoint-0000012000.npz

Cases (--cases), each program or measurement in its own fresh process, with
the load average before and after it (the machine's cores are shared):

  pretrain        `launchers.pretrain` under --program_launch_type (default
                  local_mt, as launchers.demo runs it): learner fed by the
                  RLDS loader, for half the demo's --num_steps
                  (--pretrain_steps) at the demo's checkpoint and evaluation
                  cadence in learner steps, its evaluator node playing
                  beside it on the same cores (a round every quarter of the
                  demo's steps; --pretrain_eval_every_steps): the evaluator
                  takes the share of the window it takes in the demo.
                  Compared with the bare
                  update (`benchmarks.learner_throughput`: synthetic batch
                  already in memory) of the same network, batch, games and
                  (padded) actions, measured in its own process just before
                  (once per setting; the other cases reuse it).
  single_process  the same learner with `--single_process` (no Launchpad);
                  evaluation only before and after its window, since in one
                  process an evaluation round pauses training.
  finetune        `launchers.finetune_online` (Reverb replay, actors,
                  learner, evaluator) from the pretrain case's final
                  checkpoint (or --checkpoint): the learner against the bare
                  update at its settings, the actors' insert rate into
                  replay, and which of the two bounds the other through the
                  samples-per-insert rate limiter.
  actor           one actor's environment steps/s in a fresh process: the
                  fine-tuning actors' environment (Atari with the DQN Replay
                  preprocessing, clipped rewards) stepped with uniformly
                  random actions, against the same environment driven by the
                  fine-tuning program's actor (builder.make_actor, its
                  epsilon-greedy policy; the checkpoint's parameters when
                  there is one, else a new network's) without a replay adder.

What is measured is what launchers.demo runs: the demo's flags, imported
from it, choose it, with the demo's defaults: --games, the learner flags
(--network_size, --batch_size, --n_step, ...) and --seed. (The demo's other
flags are accepted, as an imported module's flags are, and do nothing here.)
Without --dataset, a dataset of the games is recorded first with
`launchers.make_dataset` (uniformly random play, the demo's two behaviour
checkpoints; the loader's cost per transition does not depend on the play).

Rates come from the programs' own absl output, read from their logs after
they exit, using the lines' own timestamps: the learner's progress lines
(launchers.programs.run_logs.ProgressLogger, 'learner step N/M ...', one
about every 10 s; the first comes 10 s after the first update, so
compilation is outside the window) and the actors' episode lines
(launchers.programs.online_program, '...; K actor steps, ...' with the
program counter's total). Learner steps/s is (last step - first step) /
(last time - first time) over the progress lines; the insert rate is the
growth of the actor-steps total over the actor episodes that end inside the
learner's window (the CSV logs have no time column, so they cannot be cut
to that window, and actors run free before the learner samples).
Programs end by themselves at their step budget; a program still running
after --case_timeout_s gets SIGTERM (the project's clean stop). Prints a
Markdown table and writes --json atomically (default
docs/benchmarks/program_throughput.json).
"""

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import app
from absl import flags
import jax
import numpy as np

from agents.scaled_ql import checkpointing
from agents.scaled_ql import config as learner_config
from benchmarks import results as results_lib
from builders import config as builder_config
from environments import games as games_lib
from launchers.programs import checkpoint_loading
from launchers.programs import command_line
from launchers.programs import config_flags
from launchers.programs import episodes
from launchers.programs import finetune_experiment

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_JSON = os.path.join(_REPO_ROOT, 'docs', 'benchmarks',
                            'program_throughput.json')
CASES = ('pretrain', 'single_process', 'finetune', 'actor')
# Program throughput / bare throughput the programs should reach.
TARGET_RATIO = 0.9
# The single-process case's evaluation rounds (before and after its window)
# need not be long.
SINGLE_PROCESS_EVAL_FRAMES = 400
# After SIGTERM, how long a program gets before its process group is killed:
# longer than the programs' termination notice
# (launchers.programs.stop.TERMINATION_NOTICE_SECONDS).
_STOP_WAIT_SECONDS = 180

# --- Reading the programs' output (pure). ---

# An absl log line's prefix: level, MMDD, time of day, thread, file:line.
# Not anchored to the start of a line: Launchpad's 'Waiting for workers to
# stop...' messages end without a newline.
_ABSL_RECORD = re.compile(
    r'[IWEF]\d{4} (\d\d):(\d\d):(\d\d(?:\.\d+)?) +\d+ [^\s\]]+:\d+\] (.*)')
_PROGRESS = re.compile(r'learner step (\d+)/\d+ ')
_ACTOR_EPISODE = re.compile(
    r'actor (\d+) episode \d+: return \S+, (\d+) steps \((\d+) steps/s\); '
    r'(\d+) actor steps')
_EVALUATION = re.compile(r'evaluation at learner step (\d+): (\S+) mean return')
_DAY_SECONDS = 24 * 3600


@dataclasses.dataclass(frozen=True)
class ActorEpisode:
  seconds: float
  actor_id: int
  steps: int
  steps_per_second: int
  total_actor_steps: int


@dataclasses.dataclass
class ProgramLog:
  """What a program's output says, with times in seconds from the midnight
  before its first absl line.

  Attributes:
    learner: (seconds, learner step) of each progress line.
    actor_episodes: each actor episode line.
    evaluations: (seconds, learner step, game) of each evaluated game.
  """
  learner: List[Tuple[float, int]] = dataclasses.field(default_factory=list)
  actor_episodes: List[ActorEpisode] = dataclasses.field(default_factory=list)
  evaluations: List[Tuple[float, int, str]] = dataclasses.field(
      default_factory=list)


def parse_program_log(text: str) -> ProgramLog:
  """The progress, actor-episode and evaluation lines of a program's output.

  absl lines carry the time of day only: a time more than 12 hours before
  the previous line's is taken to be on the next day (threads' lines can be
  written a little out of order, never by hours).
  """
  log = ProgramLog()
  day_offset, previous = 0.0, None
  for record in _ABSL_RECORD.finditer(text):
    hours, minutes, seconds, message = record.groups()
    clock = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if previous is not None and (clock + day_offset <
                                 previous - _DAY_SECONDS / 2):
      day_offset += _DAY_SECONDS
    now = previous = clock + day_offset
    if match := _PROGRESS.match(message):
      log.learner.append((now, int(match.group(1))))
    elif match := _ACTOR_EPISODE.match(message):
      log.actor_episodes.append(ActorEpisode(
          now, int(match.group(1)), int(match.group(2)), int(match.group(3)),
          int(match.group(4))))
    elif match := _EVALUATION.match(message):
      log.evaluations.append((now, int(match.group(1)), match.group(2)))
  return log


def rate_over(points: Sequence[Tuple[float, int]]
              ) -> Optional[Dict[str, float]]:
  """Growth per second of a count sampled at (seconds, count) points,
  between the earliest and the latest point; None with fewer than two
  points or no time between them."""
  if len(points) < 2:
    return None
  times = [t for t, _ in points]
  counts = [c for _, c in points]
  seconds = max(times) - min(times)
  if seconds <= 0:
    return None
  return {'per_second': (max(counts) - min(counts)) / seconds,
          'seconds': seconds, 'count': max(counts) - min(counts),
          'points': len(points)}


def program_rates(log: ProgramLog) -> Dict[str, Any]:
  """The learner's steps/s over its progress lines; the actors' insert rate
  (environment steps/s of all actors) over the episodes that end inside
  that window; the evaluated games inside it."""
  learner = rate_over(log.learner)
  result = {'learner': learner, 'inserts': None, 'evaluated_games': 0}
  if learner is not None:
    start, end = log.learner[0][0], log.learner[-1][0]
    inside = [e for e in log.actor_episodes if start <= e.seconds <= end]
    result['inserts'] = rate_over([(e.seconds, e.total_actor_steps)
                                   for e in inside])
    result['actor_episodes'] = [dataclasses.asdict(e) for e in inside]
    result['evaluated_games'] = sum(start <= t <= end
                                    for t, _, _ in log.evaluations)
  return result


def limiter_bound(learner_fraction: float,
                  actor_fraction: Optional[float]) -> str:
  """Which side of the samples-per-insert rate limiter bounds the other.

  The limiter holds learner steps at inserts * samples_per_insert /
  batch_size, so both run at the slower one's pace and the other waits: the
  side nearer its own free rate (learner: program / bare update; actors:
  inserts / (actors x one free actor's rate)) is the bound.
  """
  if actor_fraction is None:
    if learner_fraction >= TARGET_RATIO:
      return 'learner'
    return 'not known: run the actor case for the actors\' free rate'
  return 'learner' if learner_fraction >= actor_fraction else 'actors'


# --- Running the cases. ---


def _load() -> str:
  return '/'.join(f'{x:.2f}' for x in os.getloadavg())


def _run_logged(command: List[str], log_path: str, timeout_s: float) -> int:
  """Runs `command` from the repository root with its output in `log_path`;
  its exit status. Past `timeout_s`, or if this process is interrupted, it
  is stopped with SIGTERM, and its process group killed if it is still
  there _STOP_WAIT_SECONDS later: nothing is left running."""
  print(f'  $ {" ".join(command)}  > {log_path}', flush=True)
  with open(log_path, 'w') as log:
    process = subprocess.Popen(command, cwd=_REPO_ROOT, stdout=log,
                               stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
      return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
      print(f'  still running after {timeout_s:.0f} s: SIGTERM', flush=True)
      return _stop(process)
    finally:
      if process.poll() is None:
        _stop(process)


def _stop(process: subprocess.Popen) -> int:
  process.send_signal(signal.SIGTERM)
  try:
    return process.wait(timeout=_STOP_WAIT_SECONDS)
  except subprocess.TimeoutExpired:
    os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def _log_tail(log_path: str, lines: int = 15) -> str:
  with open(log_path, errors='replace') as log:
    return ''.join(log.readlines()[-lines:])


def _python_module(module: str, *arguments: str) -> List[str]:
  return [sys.executable, '-m', module, *arguments]


class Benchmark:
  """The cases of one invocation: shared settings, run directory, results."""

  def __init__(self, options: Dict[str, Any], run_dir: str):
    self.options = options
    self.run_dir = run_dir
    self.learner_flags = {
        field.name: flags.FLAGS[field.name]
        for field in dataclasses.fields(learner_config.ScaledQLConfig)}
    self.learner = learner_config.ScaledQLConfig(**config_flags.flag_values(
        learner_config.ScaledQLConfig, self.learner_flags))
    self.games = list(flags.FLAGS.games)
    self.seed = flags.FLAGS.seed
    self.rows: List[Dict[str, Any]] = []
    self.results: Dict[str, Any] = {}
    self._bare: Dict[Tuple, Dict[str, Any]] = {}
    self._insert_row: Optional[Dict[str, Any]] = None
    self.checkpoint = options['checkpoint']

  def learner_arguments(self, exclude: Sequence[str] = ()) -> List[str]:
    return command_line.learner_flag_arguments(
        {name: flag for name, flag in self.learner_flags.items()
         if name not in exclude})

  def row(self, what: str, steps_per_s: Optional[float],
          ratio: Optional[float], of: str, load_before: str, load_after: str):
    self.rows.append(dict(what=what, steps_per_s=steps_per_s, ratio=ratio,
                          of=of, load_before=load_before,
                          load_after=load_after))

  def program(self, name: str, command: List[str]) -> Dict[str, Any]:
    """Runs one program to its end; its rates, or its failure."""
    log_path = os.path.join(self.run_dir, f'{name}.log')
    load_before = _load()
    started = time.time()
    returncode = _run_logged(command, log_path, self.options['case_timeout_s'])
    result = {'command': command, 'returncode': returncode,
              'wall_s': time.time() - started, 'load_before': load_before,
              'load_after': _load()}
    with open(log_path, errors='replace') as log:
      result.update(program_rates(parse_program_log(log.read())))
    if returncode != 0 or result['learner'] is None:
      result['error'] = (f'exit status {returncode}' if returncode != 0 else
                         'fewer than two learner progress lines: raise the '
                         'step budget') + '; the log ends:\n' + _log_tail(
                             log_path)
      print(result['error'], flush=True)
    return result

  # -- The bare update. --

  def bare_update(self, network: Dict[str, Any], num_games: int,
                  num_actions: int) -> Dict[str, Any]:
    """benchmarks.learner_throughput's updates/s (its own process) for a
    network (ScaledQLConfig network fields), `num_games` heads padded to
    `num_actions`, at this run's batch and update mathematics; measured once
    per setting."""
    config = dataclasses.replace(self.learner, **network)
    key = (config, num_games, num_actions)
    if key in self._bare:
      return self._bare[key]
    # learner_throughput measures the library defaults of these.
    library = type(config)()
    different = {name: getattr(config, name)
                 for name in ('feature_dim', 'num_atoms', 'frozen_torso')
                 if getattr(config, name) != getattr(library, name)}
    if different:
      result = {'error': f'{different}: benchmarks.learner_throughput '
                'measures only the library defaults of these'}
      print(result['error'], flush=True)
      self._bare[key] = result
      return result
    json_path = os.path.join(self.run_dir, f'bare_{len(self._bare)}.json')
    command = _python_module(
        'benchmarks.learner_throughput', '--sizes', config.network_size,
        '--batch-sizes', str(config.batch_size), '--num-games',
        str(num_games), '--num-actions', str(num_actions), '--dtype',
        config.compute_dtype, '--value-loss', config.value_loss,
        '--cql-alpha', str(config.cql_alpha), '--dr3-coefficient',
        str(config.dr3_coefficient), '--runs', str(self.options['bare_runs']),
        '--seconds-per-run', str(self.options['bare_seconds_per_run']),
        '--json', json_path, *(['--double-q'] if config.double_q else []))
    load_before = _load()
    returncode = _run_logged(command, json_path + '.log',
                             self.options['case_timeout_s'])
    if returncode != 0 or not os.path.exists(json_path):
      result = {'error': f'exit status {returncode}; the log ends:\n' +
                _log_tail(json_path + '.log')}
      print(result['error'], flush=True)
    else:
      with open(json_path) as f:
        result = json.load(f)[0]
    result.update(command=command, load_before=load_before,
                  load_after=_load())
    self._bare[key] = result
    self.results.setdefault('bare_updates', []).append(result)
    self.row(f'bare update: {config.network_size}, batch {config.batch_size}, '
             f'{num_games} games x {num_actions} actions',
             result.get('updates_per_s'),
             None if 'error' in result else 1.0, 'itself', load_before,
             result['load_after'])
    return result

  def _pretrain_bare(self):
    return self.bare_update(
        {}, len(self.games),
        max(len(games_lib.action_set(game)) for game in self.games))

  # -- The cases. --

  def dataset(self) -> str:
    if self.options['dataset']:
      return self.options['dataset']
    # Imported by _define_flags already.
    from launchers import demo  # pylint: disable=g-import-not-at-top
    dataset_dir = os.path.join(self.run_dir, 'dataset')
    started = time.time()
    returncode = _run_logged(_python_module(
        'launchers.make_dataset', f'--games={",".join(self.games)}',
        '--behaviour=random',
        f'--num_checkpoints={demo.NUM_BEHAVIOUR_CHECKPOINTS}',
        f'--steps_per_checkpoint={self.options["record_steps_per_checkpoint"]}',
        f'--output_dir={dataset_dir}', f'--seed={self.seed}'),
        os.path.join(self.run_dir, 'make_dataset.log'),
        self.options['case_timeout_s'])
    if returncode != 0:
      raise RuntimeError('launchers.make_dataset failed; its log ends:\n' +
                         _log_tail(os.path.join(self.run_dir,
                                                'make_dataset.log')))
    print(f'  recorded {dataset_dir} in {time.time() - started:.0f} s',
          flush=True)
    self.options['dataset'] = dataset_dir
    return dataset_dir

  def _pretrain_command(self, workdir: str, num_steps: int,
                        extra: List[str]) -> List[str]:
    return _python_module(
        'launchers.pretrain', f'--games={",".join(self.games)}',
        f'--dataset={self.dataset()}', '--checkpoints=all',
        f'--num_steps={num_steps}', *self.learner_arguments(),
        f'--seed={self.seed}', f'--workdir={workdir}',
        *extra)

  def pretrain(self):
    """The demo's pre-training program for the first half of the demo's
    steps (default), with the demo's evaluation and checkpoint cadence in
    learner steps (launchers.demo.cadence_arguments of the demo's
    --num_steps), so that the evaluator plays as large a share of the window
    as in the demo: the round at step 0 (start-up) and one inside it."""
    demo_steps = flags.FLAGS.num_steps
    num_steps = self.options['pretrain_steps'] or max(demo_steps // 2, 1)
    workdir = os.path.join(self.run_dir, 'pretrain')
    launch_type = self.options['program_launch_type']
    # Imported by _define_flags already.
    from launchers import demo  # pylint: disable=g-import-not-at-top
    command = self._pretrain_command(workdir, num_steps, [
        f'--lp_launch_type={launch_type}',
        *demo.cadence_arguments(demo_steps,
                                self.options['pretrain_eval_every_steps'])])
    bare = self._pretrain_bare()
    result = self.program('pretrain', command)
    self._learner_row(f'pre-training program ({launch_type}) learner', result,
                      bare)
    if 'error' not in result and not self.checkpoint:
      latest = checkpointing.latest_checkpoint(
          os.path.join(workdir, 'checkpoints'))
      self.checkpoint = latest[1] if latest else None
    self.results['pretrain'] = result

  def single_process(self):
    num_steps = self.options['single_process_steps']
    command = self._pretrain_command(
        os.path.join(self.run_dir, 'single_process'), num_steps, [
            '--single_process', f'--eval_every_steps={num_steps}',
            '--eval_episodes=1',
            f'--checkpoint_every_steps={max(num_steps // 8, 1)}',
            f'--eval_max_episode_frames={SINGLE_PROCESS_EVAL_FRAMES}'])
    bare = self._pretrain_bare()
    result = self.program('single_process', command)
    self._learner_row('pre-training learner, single process', result, bare)
    self.results['single_process'] = result

  def _learner_row(self, what: str, result: Dict[str, Any],
                   bare: Dict[str, Any]):
    rate = result['learner']['per_second'] if result['learner'] else None
    bare_rate = bare.get('updates_per_s')
    ratio = rate / bare_rate if rate is not None and bare_rate else None
    result['ratio_to_bare'] = ratio
    if result.get('evaluated_games'):
      what += (f' ({result["evaluated_games"]} game evaluations ended in '
               'the window)')
    self.row(what, rate, ratio, 'bare update', result['load_before'],
             result['load_after'])

  def finetune(self):
    checkpoint = self.checkpoint
    if not checkpoint:
      self.results['finetune'] = {
          'error': 'no checkpoint: the pretrain case wrote none'}
      print(self.results['finetune']['error'], flush=True)
      return
    description = checkpointing.read_description(checkpoint)
    bare = self.bare_update(checkpointing.network_settings(description),
                            len(description['games']),
                            max(description['num_actions']))
    online = builder_config.OnlineSettings()
    num_actors = self.options['num_actors']
    # The demo's in-training evaluation cap (imported by _define_flags).
    from launchers import demo  # pylint: disable=g-import-not-at-top
    result = self.program('finetune', _python_module(
        'launchers.finetune_online', f'--checkpoint={checkpoint}',
        f'--game={self.options["finetune_game"]}',
        f'--workdir={os.path.join(self.run_dir, "finetune")}',
        f'--num_env_steps={self.options["finetune_env_steps"]}',
        f'--num_actors={num_actors}',
        '--actor_max_episode_frames='
        f'{self.options["actor_max_episode_frames"]}',
        f'--eval_max_episode_frames={demo.EVAL_MAX_EPISODE_FRAMES}',
        f'--seed={self.seed}',
        f'--lp_launch_type={self.options["program_launch_type"]}',
        *self.learner_arguments(exclude=checkpointing.NETWORK_FIELDS)))
    self._learner_row('fine-tuning program learner', result, bare)
    inserts = result['inserts']
    insert_rate = inserts['per_second'] if inserts else None
    if insert_rate is None and 'error' not in result:
      result['error'] = ('fewer than two actor episodes ended in the '
                         "learner's window: lower --actor_max_episode_frames "
                         'or raise --finetune_env_steps')
    result['samples_per_insert'] = online.samples_per_insert
    if insert_rate is not None:
      result['learner_steps_per_s_inserts_allow'] = (
          insert_rate * online.samples_per_insert / self.learner.batch_size)
    self.results['finetune'] = result
    self.row(f'fine-tuning program inserts, {num_actors} actor(s)',
             insert_rate, None, 'actors x free actor', result['load_before'],
             result['load_after'])
    self._insert_row = self.rows[-1]

  def actor(self):
    case = dict(game=self.options['finetune_game'],
                checkpoint=self.checkpoint,
                learner=dataclasses.asdict(self.learner), seed=self.seed,
                max_episode_frames=self.options['actor_max_episode_frames'],
                seconds=self.options['actor_seconds'])
    log_path = os.path.join(self.run_dir, 'actor.log')
    load_before = _load()
    returncode = _run_logged(
        _python_module('benchmarks.program_throughput',
                       f'--measure_actor={json.dumps(case)}'),
        log_path, self.options['case_timeout_s'])
    with open(log_path, errors='replace') as log:
      lines = [line for line in log.read().splitlines()
               if line.startswith('{')]
    if returncode != 0 or not lines:
      result = {'error': f'exit status {returncode}; the log ends:\n' +
                _log_tail(log_path)}
      print(result['error'], flush=True)
    else:
      result = json.loads(lines[-1])
    result.update(case=case, load_before=load_before, load_after=_load())
    self.results['actor'] = result
    bare = result.get('bare_emulator', {}).get('steps_per_s')
    policy = result.get('policy_actor', {}).get('steps_per_s')
    self.row(f'{case["game"]}: emulator + preprocessing, random actions',
             bare, 1.0 if bare else None, 'itself', load_before,
             result['load_after'])
    self.row(f'{case["game"]}: the fine-tuning actor with its policy',
             policy, policy / bare if policy and bare else None,
             'random actions', load_before, result['load_after'])

  def limiter_summary(self) -> Optional[str]:
    """The fine-tuning case's bound, once its figures are in."""
    finetune = self.results.get('finetune')
    if not finetune or finetune.get('ratio_to_bare') is None:
      return None
    inserts = finetune['inserts']['per_second'] if finetune['inserts'] else None
    free = self.results.get('actor', {}).get('policy_actor', {}).get(
        'steps_per_s')
    actor_fraction = (inserts / (self.options['num_actors'] * free)
                      if inserts and free else None)
    finetune['actor_fraction_of_free'] = actor_fraction
    self._insert_row['ratio'] = actor_fraction
    finetune['bound'] = limiter_bound(finetune['ratio_to_bare'],
                                      actor_fraction)
    allow = finetune.get('learner_steps_per_s_inserts_allow')
    return (
        'Fine-tuning: learner at '
        f'{finetune["ratio_to_bare"]:.2f} of its bare update; actors at '
        + (f'{actor_fraction:.2f}' if actor_fraction is not None else '?')
        + ' of their free rate (the actor case); the inserts allow '
        + (f'{allow:.1f}' if allow is not None else '?')
        + f' learner steps/s (samples_per_insert '
        f'{finetune["samples_per_insert"]:g}, batch {self.learner.batch_size}'
        f'). Bound: {finetune["bound"]}.')


def _measure_actor(case: Dict[str, Any]) -> Dict[str, Any]:
  """In a fresh process: env steps/s with random actions, then with the
  fine-tuning program's actor (whole episodes, until `seconds` each)."""
  checkpoint = case['checkpoint']
  learner = learner_config.ScaledQLConfig(**(
      checkpointing.network_settings(checkpointing.read_description(checkpoint))
      if checkpoint else case['learner']))
  experiment = finetune_experiment.FinetuneExperiment(
      game=case['game'], workdir=tempfile.gettempdir(), learner=learner,
      checkpoint=checkpoint,
      actor_max_episode_frames=case['max_episode_frames'], seed=case['seed'])
  environment = experiment.actor_environment(case['seed'])

  rng = np.random.default_rng(case['seed'])
  num_actions = environment.action_spec().num_values
  steps, episodes_played, timestep = 0, 0, environment.reset()
  start = time.perf_counter()
  while True:
    timestep = environment.step(rng.integers(num_actions))
    steps += 1
    if timestep.last():
      episodes_played += 1
      if time.perf_counter() - start >= case['seconds']:
        break
      timestep = environment.reset()
  seconds = time.perf_counter() - start
  bare = {'steps': steps, 'episodes': episodes_played, 'seconds': seconds,
          'steps_per_s': steps / seconds}

  builder = experiment.make_builder()
  networks = builder.make_networks()
  params = (checkpoint_loading.load_checkpoint(checkpoint).params if checkpoint
            else networks.init(jax.random.PRNGKey(case['seed'])))
  actor = builder.make_actor(
      jax.random.PRNGKey(case['seed']), builder.make_policy(networks),
      adder=None,
      variable_source=checkpoint_loading.CheckpointVariableSource(params))
  never = lambda: False
  # The first episode compiles the policy.
  episodes.run_episode(environment, actor, never, update_actor=True)
  steps, episodes_played = 0, 0
  start = time.perf_counter()
  while time.perf_counter() - start < case['seconds']:
    steps += episodes.run_episode(environment, actor, never,
                                  update_actor=True).steps
    episodes_played += 1
  seconds = time.perf_counter() - start
  return {'bare_emulator': bare,
          'policy_actor': {'steps': steps, 'episodes': episodes_played,
                           'seconds': seconds, 'steps_per_s': steps / seconds},
          'heads': len(builder.config.games),
          'network_size': learner.network_size,
          'params': 'checkpoint' if checkpoint else 'new network'}


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
  """The rows as a Markdown table."""
  lines = ['| what | steps/s | ratio | of | load avg before | load avg after |',
           '|---|---:|---:|---|---|---|']
  for row in rows:
    rate = (f'{row["steps_per_s"]:.1f}' if row['steps_per_s'] is not None
            else '-')
    ratio = f'{row["ratio"]:.2f}' if row['ratio'] is not None else '-'
    lines.append(f'| {row["what"]} | {rate} | {ratio} | {row["of"]} | '
                 f'{row["load_before"]} | {row["load_after"]} |')
  return '\n'.join(lines)


def _define_flags():
  """The benchmark's own flags, and the demo's (imported here, as it
  defines them) as key flags of this command line; defined only when it
  runs, so that importing this module (the tests do) defines none."""
  from launchers import demo  # pylint: disable=g-import-not-at-top,unused-import
  learner_fields = dataclasses.fields(learner_config.ScaledQLConfig)
  for name in (['games', 'seed', 'num_steps'] +
               [field.name for field in learner_fields]):
    flags.declare_key_flag(name)
  return dict(
      cases=flags.DEFINE_list('cases', list(CASES),
                              f'Cases to run, of {CASES}.'),
      dataset=flags.DEFINE_string(
          'dataset', None, 'A dataset of the games written by '
          'launchers.make_dataset (e.g. demo_output/dataset); default: record '
          'one into the run directory.'),
      record_steps_per_checkpoint=flags.DEFINE_integer(
          'record_steps_per_checkpoint', 2500,
          'Without --dataset: recorded steps per behaviour checkpoint.',
          lower_bound=1),
      checkpoint=flags.DEFINE_string(
          'checkpoint', None, 'A pre-training checkpoint that knows the '
          'fine-tuning game, for finetune and actor; default: the pretrain '
          "case's final one (actor without either: a new network)."),
      pretrain_steps=flags.DEFINE_integer(
          'pretrain_steps', None, 'Learner steps of the pretrain case '
          "(default: half the demo's --num_steps).",
          lower_bound=1),
      pretrain_eval_every_steps=flags.DEFINE_integer(
          'pretrain_eval_every_steps', None, 'Learner steps between the '
          "pretrain program's evaluation rounds (default: the demo's, a "
          "quarter of the demo's --num_steps; a value of --pretrain_steps "
          'or more plays only the round at step 0, during start-up and '
          'compilation).',
          lower_bound=1),
      single_process_steps=flags.DEFINE_integer(
          'single_process_steps', 400,
          'Learner steps of the single_process case.', lower_bound=1),
      program_launch_type=flags.DEFINE_enum(
          'program_launch_type', 'local_mt', ['local_mt', 'local_mp'],
          'Launchpad launch type of the pretrain and finetune programs.'),
      finetune_game=flags.DEFINE_string(
          'finetune_game', None, 'Game of finetune and actor (default: the '
          'first of --games).'),
      finetune_env_steps=flags.DEFINE_integer(
          'finetune_env_steps', 4800,
          'Environment steps of the finetune program (the learner gets '
          '(steps - min_replay_size) * samples_per_insert / batch_size: 800 '
          'at the defaults).', lower_bound=1),
      num_actors=flags.DEFINE_integer(
          'num_actors', finetune_experiment.FinetuneExperiment.num_actors,
          'Actors of the finetune program.', lower_bound=1),
      actor_max_episode_frames=flags.DEFINE_integer(
          'actor_max_episode_frames', 2000,
          'Episode cap of the actors (finetune and actor cases): short, so '
          "that several episodes end inside the learner's window.",
          lower_bound=1),
      actor_seconds=flags.DEFINE_float(
          'actor_seconds', 20.0, 'actor case: seconds of whole episodes per '
          'measurement.', lower_bound=0.0),
      bare_runs=flags.DEFINE_integer(
          'bare_runs', 5, 'Bare update: timed runs (the median is used).',
          lower_bound=1),
      bare_seconds_per_run=flags.DEFINE_float(
          'bare_seconds_per_run', 2.0, 'Bare update: seconds per timed run.',
          lower_bound=0.0),
      case_timeout_s=flags.DEFINE_float(
          'case_timeout_s', 900.0, 'A program still running after this gets '
          'SIGTERM.', lower_bound=1.0),
      run_dir=flags.DEFINE_string(
          'run_dir', None, 'Dataset, work directories and logs, kept; '
          'default: a temporary directory, removed at the end.'),
      json_path=flags.DEFINE_string('json', DEFAULT_JSON,
                                    'Where the results go (atomically).'),
      measure_actor=flags.DEFINE_string('measure_actor', None, 'Internal.'),
  )


def main(argv, **holders):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  options = {name: holder.value for name, holder in holders.items()}
  if options['measure_actor']:
    print(json.dumps(_measure_actor(json.loads(options['measure_actor']))))
    return
  unknown = sorted(set(options['cases']) - set(CASES))
  if unknown:
    raise app.UsageError(f'--cases: unknown {unknown}; valid: {CASES}.')
  cases = [case for case in CASES if case in options['cases']]
  if options['dataset'] and not os.path.isdir(options['dataset']):
    raise app.UsageError(f'--dataset={options["dataset"]}: no such directory '
                         '(a directory written by launchers.make_dataset).')
  try:
    options['finetune_game'] = games_lib.canonical_name(
        options['finetune_game'] or flags.FLAGS.games[0])
  except ValueError as error:
    raise app.UsageError(f'--finetune_game: {error}')
  if ('finetune' in cases and 'pretrain' not in cases and
      not options['checkpoint']):
    raise app.UsageError('The finetune case needs a checkpoint: pass '
                         '--checkpoint or run the pretrain case with it.')
  run_dir = options['run_dir'] or tempfile.mkdtemp(prefix='program_throughput_')
  os.makedirs(run_dir, exist_ok=True)
  benchmark = Benchmark(options, run_dir)
  print(f'{len(benchmark.games)} games {benchmark.games}, '
        f'{benchmark.learner.network_size}, batch '
        f'{benchmark.learner.batch_size}, cases {cases}, run directory '
        f'{run_dir}, load average {_load()} ({os.cpu_count()} cores)',
        flush=True)
  started = time.time()
  try:
    for case in cases:
      print(f'{case} ...', flush=True)
      getattr(benchmark, case)()
  finally:
    if not options['run_dir']:
      shutil.rmtree(run_dir, ignore_errors=True)
  summary = benchmark.limiter_summary()
  print()
  print(f'Steps/s; ratio to the row named in "of" (programs: target >= '
        f'{TARGET_RATIO}); load average 1/5/15 min.')
  print(format_table(benchmark.rows))
  if summary:
    print(summary)
  print(f'{(time.time() - started) / 60:.1f} min in all')
  results_lib.write_json_atomically(options['json_path'], {
      'cases': cases, 'games': benchmark.games,
      'run_dir': options['run_dir'],  # None: removed, with its checkpoints.
      'learner': dataclasses.asdict(benchmark.learner),
      'checkpoint': benchmark.checkpoint, 'rows': benchmark.rows,
      'limiter_summary': summary, 'results': benchmark.results,
      'cpu_count': os.cpu_count(), 'wall_s': time.time() - started})
  print(f'results: {options["json_path"]}')


if __name__ == '__main__':
  _holders = _define_flags()
  app.run(lambda argv: main(argv, **_holders))
