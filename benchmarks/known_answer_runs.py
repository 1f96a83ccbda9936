"""Known-answer learning runs: train one learner on a known-answer task and
measure it against the exact optimal values (environments.known_answer).

The library of `benchmarks.known_answer_learning` (its command line, which
documents the metrics) and of the known-answer tests. A run records the
task's problems with their own behaviours through the real recorder (the
seed draws the data and the initialisation), reads them back through the
RLDS loader, trains through the project's update step (or Acme's BC
learner, or the update step over a table: 'tabular'), probes 2,048 of the
data's transitions every eval_every updates, and finally plays the greedy
policy in each game.

The recorder and the loader (TensorFlow) are imported where they are used,
so that the rest (the tasks and settings, the probe's metrics, training
and play) also runs where TensorFlow is missing, on data made by
environments.known_answer.recorded_transitions (benchmarks.gpu_check).
"""

import dataclasses
import io
import json
import os
import subprocess
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from agents.scaled_ql import config as learner_config
from agents.scaled_ql import update_step as update_lib
from agents.scaled_ql.networks import make_network
from benchmarks import results as results_lib
from benchmarks.study import config as study_config
from environments import known_answer
from networks import multi_game

TASKS: Dict[str, Tuple[str, ...]] = {
    # The two games: different action counts, mirrored goals, the
    # wrong-majority chain and the rarely-taken worthless wait.
    'two_game': ('KnownAnswerChain', 'KnownAnswerRareAction'),
    'stitch': ('KnownAnswerStitch',),
    'dense': ('KnownAnswerChainDense',),
    # The demo's problem alone: the wrong-majority chain.
    'chain': ('KnownAnswerChain',),
}
# The library's defaults except the batch (256 is the TPU pod's; 32 is
# [batchrl]'s, what a CPU affords).
DEFAULTS_AT_BATCH_32 = {'batch_size': 32}
# What the known-answer dissection found these problems need, each from a
# one-change comparison on the two-game task (docs/KNOWN_ANSWER.md): 1-step
# returns (n-step returns of a wrong-majority behaviour estimate its values,
# not the optimal ones), CQL alpha 0.01 (CQL's own fixed point loses the
# optimal policy at 0.1), a target copy every 100 updates (250 left the
# values short of Q* after 3,000), and a categorical support of [-2, 2]
# matched to returns in [0, 1.4] ([-10, 10] multiplies the CQL gradient's
# leverage on the outer atoms by 5 and coarsens the atoms).
CHAIN_LEARNER = {**study_config.BASE_LEARNER, 'n_step': 1, 'cql_alpha': 0.01,
                 'target_update_period': 100, 'v_min': -2.0, 'v_max': 2.0}
VARIANTS: Dict[str, Optional[Dict[str, Any]]] = {
    'defaults': DEFAULTS_AT_BATCH_32,
    'study': study_config.BASE_LEARNER,
    'chain': CHAIN_LEARNER,
    'chain_no_cql': {**CHAIN_LEARNER, 'cql_alpha': 0.0},
    'chain_no_dr3': {**CHAIN_LEARNER, 'dr3_coefficient': 0.0},
    'chain_mse': {**CHAIN_LEARNER, 'value_loss': 'mse'},
    'chain_hl_gauss': {**CHAIN_LEARNER, 'value_loss': 'hl_gauss'},
    'tabular': study_config.BASE_LEARNER,
    'bc': CHAIN_LEARNER,
}
TRANSITIONS_PER_GAME = 20_000
PROBE_SIZE = 2048
SOLVED_GREEDY, SOLVED_Q_ERROR = 0.95, 0.05

@dataclasses.dataclass(frozen=True)
class RunSpec:
  task: str
  variant: str
  seed: int
  overrides: Tuple[Tuple[str, Any], ...] = ()
  num_updates: int = 3000
  eval_every: int = 250
  discount: float = known_answer.RESOLVABLE_DISCOUNT
  episodes: int = 20

  @property
  def name(self) -> str:
    extra = ''.join(f'-{key}={value}' for key, value in self.overrides)
    return (f'{self.task}-{self.variant}{extra}-g{self.discount}-'
            f'u{self.num_updates}-s{self.seed}')

  def learner(self) -> learner_config.ScaledQLConfig:
    if self.variant not in VARIANTS:
      raise ValueError(f'variant={self.variant!r}; valid: {list(VARIANTS)}.')
    return learner_config.ScaledQLConfig(**{
        **VARIANTS[self.variant], **dict(self.overrides),
        'discount': self.discount})


def record_task(data_dir: str, task: str, seed: int) -> str:
  """Records the task's problems (seeded) once; returns the directory."""
  from atari_data import recorder  # TensorFlow: module docstring.
  directory = os.path.join(data_dir, f'{task}-s{seed}')
  missing = [game for game in TASKS[task]
             if not os.path.isdir(os.path.join(directory, game))]
  if missing:
    recorder.record(recorder.RecorderConfig(
        output_dir=directory, games=tuple(missing), num_checkpoints=1,
        steps_per_checkpoint=TRANSITIONS_PER_GAME, seed=seed),
        known_answer.behaviour_factory)
  return directory


def cells_of_observations(chains, observation: np.ndarray,
                          game_id: np.ndarray) -> np.ndarray:
  """The agent's cell in the newest frame of each [B, 84, 84, 4] stack."""
  return np.asarray([known_answer.cell_of_frame(chains[g], frame[..., -1])
                     for frame, g in zip(observation, game_id)])


class Probe:
  """A fixed set of the data's transitions and the truth about them."""

  def __init__(self, source: str, games: Sequence[str], discount: float,
               seed: int):
    """PROBE_SIZE transitions of the recording in `source`, drawn by the
    loader."""
    from atari_data import loader as loader_lib  # TensorFlow.
    batches = loader_lib.make_multigame_iterator(loader_lib.LoaderConfig(
        games=games, source=source, discount=discount, n_step=1,
        batch_size=PROBE_SIZE, seed=seed + 1000, repeat=False))
    batch = next(batches)
    batches.close()
    self._set_truth(batch, games, discount)

  @classmethod
  def from_batch(cls, batch, games: Sequence[str], discount: float
                 ) -> 'Probe':
    """The probe of a batch's transitions (observation, action and
    game_id are read)."""
    probe = cls.__new__(cls)
    probe._set_truth(batch, games, discount)
    return probe

  def _set_truth(self, batch, games: Sequence[str], discount: float):
    self.chains = [known_answer.problem(game) for game in games]
    self.games = tuple(games)
    self.observation = batch.observation
    self.game_id = batch.game_id
    self.action = batch.action
    self.cell = cells_of_observations(self.chains, batch.observation,
                                      batch.game_id)
    max_actions = max(chain.num_actions for chain in self.chains)
    self.q_star = np.full((len(self.cell), max_actions), np.nan)
    self.optimal = np.zeros(len(self.cell), np.int64)
    for g, chain in enumerate(self.chains):
      rows = self.game_id == g
      q_star = known_answer.optimal_q_values(chain, discount)
      self.q_star[rows, :chain.num_actions] = q_star[self.cell[rows]]
      self.optimal[rows] = known_answer.optimal_actions(chain)[self.cell[rows]]

  def measure(self, q_values: np.ndarray, values: bool = True
              ) -> Dict[str, Any]:
    """Metrics (module docstring) of [B, A_max] Q-values (padded actions
    at INVALID_ACTION_VALUE), overall and per game."""
    valid = ~np.isnan(self.q_star)
    greedy = np.argmax(np.where(valid, q_values, -np.inf), axis=1)
    rows = np.arange(len(greedy))
    result = {}
    for label, mask in [('all', np.ones(len(greedy), bool))] + [
        (game, self.game_id == g) for g, game in enumerate(self.games)]:
      metrics = {'greedy_optimal': float(np.mean(
          greedy[mask] == self.optimal[mask]))}
      if values:
        q, q_star = q_values[mask], self.q_star[mask]
        action = self.action[mask]
        metrics.update({
            'q_error': float(np.mean(np.abs(q[rows[:len(q)], action] -
                                            q_star[rows[:len(q)], action]))),
            'v_error': float(np.mean(np.abs(
                np.max(np.where(valid[mask], q, -np.inf), axis=1) -
                np.nanmax(q_star, axis=1)))),
            'q_max': float(np.max(np.where(valid[mask], q, -np.inf))),
        })
        if q_star.shape[1] > known_answer.WAIT and not np.all(
            np.isnan(q_star[:, known_answer.WAIT])):
          has_wait = ~np.isnan(q_star[:, known_answer.WAIT])
          metrics['wait_excess'] = float(np.mean(
              q[has_wait, known_answer.WAIT] -
              q_star[has_wait, known_answer.WAIT]))
      result[label] = metrics
    return result


def make_tabular_network(games: Sequence[str], value_head: str,
                         num_atoms: int, v_min: float, v_max: float
                         ) -> multi_game.MultiGameQNetwork:
  """The update step's network interface over a table of head outputs.

  The features are the one-hot cell decoded from the newest frame (no
  parameters), and the heads are a per-game table [cells, A, N] (zeros at
  the start: uniform atoms, Q = 0), so nothing generalises between states:
  the update converges to the loss's own fixed point on the data.
  """
  chains = [known_answer.problem(game) for game in games]
  num_cells = chains[0].num_cells
  num_actions = tuple(chain.num_actions for chain in chains)
  support = multi_game.value_support(value_head, num_atoms, v_min, v_max)
  outputs = 1 if support is None else num_atoms
  width = known_answer.FRAME_SIZE // num_cells
  row = (known_answer._BLOCK_ROWS.start + known_answer._BLOCK_ROWS.stop) // 2
  centres = jnp.arange(num_cells) * width + width // 2

  def init(rng):
    del rng
    return {multi_game.HEADS_MODULE: {'table': jnp.zeros(
        (len(games), num_cells, max(num_actions), outputs), jnp.float32)}}

  def embed(params, observation):
    del params
    newest = jnp.asarray(observation)[:, row, :, -1][:, centres]
    one_hot = (newest == 255).astype(jnp.float32)
    return one_hot, jnp.ones(one_hot.shape[0])

  def head_logits(params, features, game_id):
    table = params[multi_game.HEADS_MODULE]['table'][game_id]
    return jnp.einsum('bc,bcan->ban', features, table)

  network = multi_game.MultiGameQNetwork(init, None, embed, head_logits,
                                         num_actions, support)

  def apply(params, observation, game_id):
    features, norm = embed(params, observation)
    logits = head_logits(params, features, game_id)
    q_values = jnp.where(network.valid_actions(game_id),
                         network.values(logits),
                         multi_game.INVALID_ACTION_VALUE)
    return multi_game.QNetworkOutput(logits, q_values, features, norm)

  return network._replace(apply=apply)


class _ValueLearner:
  """The project's update step on the loader's batches."""

  def __init__(self, network, config, batches, seed):
    self._batches = batches
    compiled = update_lib.compile_update_step(
        update_lib.make_update_step(network, config), donate_state=True)
    self._compiled = compiled
    self._state = compiled.put_state(update_lib.make_initial_state(
        network, config, jax.random.PRNGKey(seed)))
    self.metrics = {}

  def step(self):
    self._state, metrics = self._compiled.update(
        self._state, self._compiled.put_batch(next(self._batches)))
    self.metrics = metrics

  def params(self):
    return self._state.params


class _BCLearner:
  """Acme's BC learner (builders.bc) on the loader's batches."""

  def __init__(self, network, config, games, batches, seed):
    from builders import bc  # Acme: only this variant needs it.
    from builders import config as builder_config
    builder = bc.MultiGameBCBuilder(builder_config.ScaledQLBuilderConfig(
        learner=config, games=tuple(games),
        num_actions=tuple(network.num_actions)))
    self._learner = builder.make_learner(jax.random.PRNGKey(seed), network,
                                         batches)
    self.metrics = {}

  def step(self):
    self._learner.step()

  def params(self):
    return self._learner.get_variables(['policy'])[0]


def play(network, params, games: Sequence[str], episodes: int,
         seed: int) -> Dict[str, List[float]]:
  """Greedy episodes of each game through its dm_env environment."""
  q_values = jax.jit(lambda p, o, g: network.apply(p, o, g).q_values)
  returns = {}
  for game_id, game in enumerate(games):
    environment = known_answer.ChainEnvironment(known_answer.problem(game),
                                                seed=seed)
    returns[game] = []
    for _ in range(episodes):
      timestep, total = environment.reset(), 0.0
      while not timestep.last():
        q = q_values(params, timestep.observation[None],
                     jnp.asarray([game_id], jnp.int32))
        timestep = environment.step(int(jnp.argmax(q[0])))
        total += float(timestep.reward)
      returns[game].append(total)
  return returns


def data_returns(source: str, games: Sequence[str]) -> Dict[str, float]:
  """Each game's mean return over the recording's complete episodes (as
  launchers.programs.dataset_scores; the last episode, cut by the step
  budget, is left out)."""
  result = {}
  for game in games:
    with open(os.path.join(source, game, 'metadata.json')) as f:
      checkpoint, = json.load(f)['checkpoints']
    result[game] = float(checkpoint['mean_complete_game_score'])
  return result


def train_and_probe(name: str, learner, q_values, probe: Probe,
                    num_updates: int, eval_every: int, values: bool = True
                    ) -> Tuple[List[Dict[str, Any]], Optional[int]]:
  """Trains `learner` for num_updates updates, probing its Q-values every
  eval_every updates and after the last.

  Args:
    name: printed at the start of each probe's line.
    learner: has step() and params() (_ValueLearner, _BCLearner) and the
      last update's `metrics`.
    q_values: jitted (params, observation, game_id) -> [B, A_max] values.
    probe: the transitions measured.
    num_updates, eval_every: as RunSpec's.
    values: measure the values too (not BC's: it has none).

  Returns:
    (the curve: one point per probe, with the seconds since the first
    update; solved_at: the first probe's update count at which every game
    is solved, or None).
  """
  curve, solved_at, start = [], None, time.time()
  for update in range(num_updates + 1):
    if update % eval_every == 0 or update == num_updates:
      q = np.asarray(q_values(learner.params(), probe.observation,
                              probe.game_id))
      point = {'update': update, 'seconds': time.time() - start,
               **probe.measure(q, values=values),
               'losses': {k: float(v) for k, v in learner.metrics.items()}}
      curve.append(point)
      per_game = [point[game] for game in probe.games]
      if solved_at is None and all(
          m['greedy_optimal'] >= SOLVED_GREEDY and
          m.get('q_error', 0.0) < SOLVED_Q_ERROR for m in per_game):
        solved_at = update
      print(f'{name} update {update}: ' + ', '.join(
          f'{k} {v:.3f}' for k, v in point['all'].items()), flush=True)
    if update < num_updates:
      learner.step()
  return curve, solved_at


def run(spec: RunSpec, data_dir: str) -> Dict[str, Any]:
  """One run (module docstring); returns its JSON-ready result."""
  from atari_data import loader as loader_lib  # TensorFlow.
  games = TASKS[spec.task]
  config = spec.learner()
  source = record_task(data_dir, spec.task, spec.seed)
  probe = Probe(source, games, spec.discount, spec.seed)
  batches = loader_lib.make_multigame_iterator(loader_lib.LoaderConfig(
      games=games, source=source, n_step=config.n_step,
      discount=config.discount, batch_size=config.batch_size, seed=spec.seed,
      keep_decoded_episodes=True))
  num_actions = [known_answer.problem(game).num_actions for game in games]
  is_bc = spec.variant == 'bc'
  if spec.variant == 'tabular':
    network = make_tabular_network(games, config.value_head, config.num_atoms,
                                   config.v_min, config.v_max)
  elif is_bc:
    network = multi_game.make_multi_game_q_network(
        num_actions=num_actions, torso_name=config.network_size,
        feature_dim=config.feature_dim, value_head='scalar')
  else:
    network = make_network(config, num_actions)
  learner = (_BCLearner(network, config, games, batches, spec.seed) if is_bc
             else _ValueLearner(network, config, batches, spec.seed))
  q_values = jax.jit(lambda p, o, g: network.apply(p, o, g).q_values)
  start = time.time()
  curve, solved_at = train_and_probe(spec.name, learner, q_values, probe,
                                     spec.num_updates, spec.eval_every,
                                     values=not is_bc)
  batches.close()
  returns = play(network, learner.params(), games, spec.episodes,
                 seed=spec.seed + 2000)
  references = {game: known_answer.reference_returns(game) for game in games}
  return {
      'spec': dataclasses.asdict(spec), 'name': spec.name,
      'learner': dataclasses.asdict(config), 'games': list(games),
      'curve': curve, 'solved_at': solved_at,
      'returns': {game: float(np.mean(r)) for game, r in returns.items()},
      'episodes': spec.episodes,
      'data_returns': data_returns(source, games),
      'random_returns': {g: r[0] for g, r in references.items()},
      'optimal_returns': {g: r[1] for g, r in references.items()},
      'seconds': time.time() - start,
      'commit': _commit(),
  }


def _commit() -> str:
  """The code's git commit (with '+' if the tree has changes), or ''."""
  try:
    commit = subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True,
                            text=True, check=True).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain', '--', '*.py'],
                           capture_output=True, text=True).stdout.strip()
    return commit + ('+' if dirty else '')
  except (OSError, subprocess.CalledProcessError):
    return ''


def load_runs(runs_dir: str) -> List[Dict[str, Any]]:
  if not os.path.isdir(runs_dir):
    return []
  runs = []
  for name in sorted(os.listdir(runs_dir)):
    if name.endswith('.json'):
      with open(os.path.join(runs_dir, name)) as f:
        runs.append(json.load(f))
  return runs


def _group(run_result) -> str:
  spec = run_result['spec']
  extra = ''.join(f' {k}={v}' for k, v in spec['overrides'])
  return (f"{spec['task']} | {spec['variant']}{extra} | "
          f"gamma {spec['discount']} | {spec['num_updates']}")


def _groups(runs: List[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
  groups: Dict[str, List[Dict[str, Any]]] = {}
  for result in runs:
    groups.setdefault(_group(result), []).append(result)
  return groups


def _is_variant_run(result: Dict[str, Any]) -> bool:
  """A run of a named variant as it stands (no --set changes)."""
  return not result['spec']['overrides']


def _table(runs: List[Dict[str, Any]]) -> List[str]:
  """Markdown rows: one per (task, variant, overrides, gamma, budget)."""
  lines = [
      '| task | variant | gamma | updates | seeds | solved (runs) | '
      'median updates to solve | final greedy optimal | final mean '
      '\\|Q - Q*\\| (data actions) | final wait excess | return: agent / '
      'data / random / optimal |',
      '|---|---|---|---:|---:|---:|---:|---|---|---|---|']
  mean = lambda key, rs: float(np.mean([np.mean(list(r[key].values()))
                                        for r in rs]))
  fmt = lambda values: (f'{np.mean(values):.2f} '
                        f'[{np.min(values):.2f}, {np.max(values):.2f}]')
  for group, results in sorted(_groups(runs).items()):
    finals = [r['curve'][-1]['all'] for r in results]
    solved = [r['solved_at'] for r in results if r['solved_at'] is not None]
    q_error = [f['q_error'] for f in finals if 'q_error' in f]
    wait = [f['wait_excess'] for f in finals if 'wait_excess' in f]
    lines.append(
        f"| {group} | {len(results)} | {len(solved)}/{len(results)} | "
        f"{int(np.median(solved)) if solved else '-'} | "
        f"{fmt([f['greedy_optimal'] for f in finals])} | "
        f"{fmt(q_error) if q_error else '-'} | "
        f"{fmt(wait) if wait else '-'} | "
        f"{mean('returns', results):.2f} / "
        f"{mean('data_returns', results):.2f} / "
        f"{mean('random_returns', results):.2f} / "
        f"{mean('optimal_returns', results):.2f} |")
  return lines


def report(runs: List[Dict[str, Any]]) -> str:
  """Markdown: the variants as they stand, then the one-change runs."""
  variants = [r for r in runs if _is_variant_run(r)]
  changes = [r for r in runs if not _is_variant_run(r)]
  text = ['## The variants', ''] + _table(variants)
  if changes:
    text += ['', '## One change at a time (--set)', ''] + _table(changes)
  return '\n'.join(text) + (
      '\n\nValues are over seeds: mean [min, max]; returns are means over '
      "the task's games of the mean episode return (greedy policy); BC has "
      'no values.\n')


def plot(runs: List[Dict[str, Any]], path: str):
  """Per task (a row), mean |Q - Q*| and the greedy-optimal fraction vs
  updates of the variants as they stand at the resolvable discount (mean
  over seeds, shaded from the lowest to the highest seed). Returns whether
  there was such a run to plot."""
  variants = [r for r in runs if _is_variant_run(r) and
              r['spec']['discount'] == known_answer.RESOLVABLE_DISCOUNT]
  if not variants:
    return False
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  tasks = sorted({r['spec']['task'] for r in variants})
  figure, axes = plt.subplots(len(tasks), 2, figsize=(14, 4.5 * len(tasks)),
                              squeeze=False)
  for task, (left, right) in zip(tasks, axes):
    groups = _groups([r for r in variants if r['spec']['task'] == task])
    for index, (group, results) in enumerate(sorted(groups.items())):
      label = f"{group.split(' | ')[1]} ({len(results)} seeds)"
      color = f'C{index % 10}'
      updates = [p['update'] for p in results[0]['curve']]
      for axis, key in ((left, 'q_error'), (right, 'greedy_optimal')):
        if key not in results[0]['curve'][0]['all']:
          continue
        values = np.asarray([[p['all'][key] for p in r['curve']]
                             for r in results])
        axis.plot(updates, values.mean(axis=0), label=label, color=color)
        axis.fill_between(updates, values.min(axis=0), values.max(axis=0),
                          color=color, alpha=0.15)
    left.axhline(SOLVED_Q_ERROR, color='grey', linestyle=':')
    right.axhline(SOLVED_GREEDY, color='grey', linestyle=':')
    games = ' + '.join(TASKS[task])
    left.set(xlabel='updates', ylabel='mean |Q - Q*| (data actions)',
             yscale='log', title=f'{task} ({games}): value error')
    right.set(xlabel='updates', ylabel='greedy action optimal (fraction)',
              title=f'{task}: greedy policy', ylim=(0, 1.02))
    right.legend(fontsize=7, loc='lower right')
  figure.suptitle('Known-answer tasks, gamma '
                  f'{known_answer.RESOLVABLE_DISCOUNT}')
  figure.tight_layout()
  png = io.BytesIO()
  figure.savefig(png, format='png', dpi=100)
  plt.close(figure)
  results_lib.write_bytes_atomically(path, png.getvalue())
  return True


def write_report(output_dir: str):
  runs = load_runs(os.path.join(output_dir, 'runs'))
  if not runs:
    return
  table = report(runs)
  results_lib.write_text_atomically(
      os.path.join(output_dir, 'results.md'),
      '# Known-answer learning (benchmarks.known_answer_learning)\n\n' + table)
  print(table)
  if not plot(runs, os.path.join(output_dir, 'value_error.png')):
    print('No plot: no run there is a variant as it stands (without --set '
          f'changes) at gamma {known_answer.RESOLVABLE_DISCOUNT}.')
