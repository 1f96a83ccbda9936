r"""The known answer on the data's own states: each action's value there,
measured by emulator rollouts, and the study's learners ranked against it.

A learner of an object players' study agrees with the player on a third of
the data's states (launchers.diagnose), but agreement with the player is a
proxy: it says nothing of how much each action is worth, and the player
need not be the best. This command measures it. It replays the recording
(atari_data.replay) to `num_states` states drawn from the learned-from tier,
and at each one takes every action once and lets a continuation policy play
on (atari_data.rollouts): the mean discounted clipped return of
`num_rollouts` rollouts of `horizon` steps is the action's value under that
continuation, at the learners' discount. Two continuations:

  player     the object player without lapses: Q of the better policy the
             data hold evidence for;
  behaviour  the recorded tier's own behaviour (lapses included): Q of the
             data's behaviour, what evaluating it would learn.

Per game it reports how often the player's action is the best one, what it
is worth over a uniformly chosen one, the gap between the two best actions,
and the rollouts' noise; with --rank, each study run's final checkpoint is
scored on the same states: how much value its greedy actions give up
against the best action ("regret"), beside the player's, the recorded
actions' and a uniform choice's, and how well its Q-differences between
actions correlate with the measured ones. --rank_step scores each run's
checkpoint of that update instead (a run keeps several; the runs without one
are left out), so the rankings can be followed through training. A run
ranked before whose work folder is gone keeps its earlier ranking, so runs
made on different machines add up in one file.

  python -m benchmarks.study.action_values --study=object_player_lapses_v1
  python -m benchmarks.study.action_values --study=object_player_lapses_v1 \
      --rank
  python -m benchmarks.study.action_values --study=object_player_lapses_v1 \
      --rank --rank_step=18000

Writes <results_dir>/<study>/action_values/<continuation>_<Game>.json per
game (atomic; a game whose file is present is skipped, so an interrupted
measurement resumes game by game) and, with --rank,
<continuation>_rankings.json (<continuation>_rankings_step_<step>.json with
--rank_step); prints a table for each.
"""

import json
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import app
from absl import flags
import numpy as np

from atari_data import object_players
from atari_data import replay
from atari_data import rollouts
from benchmarks.study import config as study_config
from benchmarks.study import data
from benchmarks.study import results as results_lib
from benchmarks.study import runs
from environments import factory
from launchers.programs import atomic_files
from launchers.programs import checkpoint_diagnosis
from launchers.programs import checkpoint_loading
from launchers.programs import endings
from launchers.programs import field_checks

CONTINUATIONS = ('player', 'behaviour')

# 200 steps at 0.99 leave 0.99^200 = 13% of the weight unmeasured, most of it
# on a future that one action rarely changes; a point in Pong is decided
# within about 100 steps of the paddle missing.
DEFAULT_HORIZON = 200


def sample_positions(num_checkpoints: int, replay_steps: int, num_states: int,
                     seed: int) -> List[List[int]]:
  """Per checkpoint of a range, the sorted positions (replayed steps from the
  checkpoint's start) of `num_states` states drawn uniformly without
  replacement from the first `replay_steps` steps of each."""
  total = num_checkpoints * replay_steps
  if not 1 <= num_states <= total:
    raise ValueError(f'num_states={num_states}; it must be in [1, {total}] '
                     f'({num_checkpoints} checkpoints x {replay_steps} '
                     'replayed steps).')
  chosen = np.sort(np.random.default_rng(seed).choice(total, num_states,
                                                      replace=False))
  return [[int(p) - c * replay_steps for p in chosen
           if c * replay_steps <= p < (c + 1) * replay_steps]
          for c in range(num_checkpoints)]


def _visit_checkpoint(dataset: str, game: str, checkpoint: int,
                      wanted: Sequence[int],
                      on_state) -> Dict[int, Tuple[int, int]]:
  """visit_positions for one checkpoint: position -> (recorded action,
  player's action)."""
  remaining = set(wanted)
  visited = {}  # (episode index, step) -> position
  replayed = 0

  def visit(index, step, timestep, environment, previous_action):
    nonlocal replayed
    position, replayed = replayed, replayed + 1
    if position in remaining:
      remaining.discard(position)
      visited[(index, step)] = position
      on_state(checkpoint, position, timestep, environment, previous_action)

  actions = {}
  for index, episode in enumerate(replay.replay_with_reference_actions(
      dataset, game, checkpoint, visit=visit)):
    for (visited_index, step), position in visited.items():
      if visited_index == index:
        actions[position] = (int(episode['action'][step]),
                             int(episode['reference_action'][step]))
    if not remaining:
      return actions
  raise ValueError(f'{game} checkpoint {checkpoint} of {dataset} ends before '
                   f'replayed step {min(remaining)}.')


def visit_positions(dataset: str, game: str, checkpoint_range,
                    positions: Sequence[Sequence[int]],
                    on_state) -> Dict[Tuple[int, int], Tuple[int, int]]:
  """Replays each checkpoint of `checkpoint_range` up to its last position
  in `positions` (sample_positions' layout) and calls
  on_state(checkpoint, position, timestep, environment, previous_action) at
  each one (replay.Visit's last three).

  Returns:
    (checkpoint, position) -> (the recorded action there, the object
    player's action there).

  Raises:
    ValueError: a checkpoint's recording ends before one of its positions.
  """
  start, _ = checkpoint_range
  actions = {}
  for offset, wanted in enumerate(positions):
    if wanted:
      for position, pair in _visit_checkpoint(dataset, game, start + offset,
                                              wanted, on_state).items():
        actions[(start + offset, position)] = pair
  return actions


def _share_of_best(values: np.ndarray, actions: np.ndarray) -> np.ndarray:
  """Per state, 1 / (number of best actions) if `actions` is among them,
  else 0: ties share the credit."""
  best = values == values.max(axis=1, keepdims=True)
  return best[np.arange(len(actions)), actions] / best.sum(axis=1)


def _regret(values: np.ndarray, actions: np.ndarray) -> np.ndarray:
  return values.max(axis=1) - values[np.arange(len(actions)), actions]


def _bootstrap_mean(per_state: np.ndarray, num_resamples: int,
                    seed: int) -> Dict[str, float]:
  """The mean over states and its 95% percentile-bootstrap interval."""
  rng = np.random.default_rng(seed)
  means = per_state[rng.integers(len(per_state), size=(num_resamples,
                                                       len(per_state)))]
  low, high = np.percentile(means.mean(axis=1), [2.5, 97.5])
  return {'mean': float(per_state.mean()), 'low': float(low),
          'high': float(high)}


def summarise_values(values: np.ndarray, player: np.ndarray,
                     recorded: np.ndarray, num_resamples: int = 2000,
                     seed: int = 0) -> Dict[str, Any]:
  """What the measured values say of the actions, over the states.

  Args:
    values: [states, actions, rollouts] rollout returns.
    player: [states] the object player's action at each state.
    recorded: [states] the data's action at each state.
    num_resamples: bootstrap resamples of the states.
    seed: seeds the resampling.

  Returns:
    {'states', 'player_best_share' (the player's action has the highest
    mean value; ties share), 'player_advantage' (its value minus the mean
    over actions), 'player_regret' and 'recorded_regret' (the best action's
    value minus the player's / the recorded action's), 'uniform_regret' (of
    a uniformly chosen action), 'action_gap' (best minus second best), each
    {'mean', 'low', 'high'} over states; 'rollout_std' (a single
    rollout's standard deviation, mean over states and actions) and
    'difference_standard_error' (of a state's mean value of another action
    minus the player's, from the rollouts' paired differences; mean over
    states and actions)}. The regrets and the gap of estimated values are
    biased up by the noise (a maximum of noisy means); the standard error
    says by how much at most.
  """
  values = np.asarray(values, np.float64)
  if values.ndim != 3 or values.shape[1] < 2 or values.shape[2] < 2:
    raise ValueError(f'values of shape {values.shape}: summarise_values needs '
                     '[states, actions >= 2, rollouts >= 2].')
  player, recorded = np.asarray(player), np.asarray(recorded)
  num_states, num_actions, num_rollouts = values.shape
  means = values.mean(axis=2)
  rows = np.arange(num_states)
  ordered = np.sort(means, axis=1)
  per_state = {
      'player_best_share': _share_of_best(means, player),
      'player_advantage': means[rows, player] - means.mean(axis=1),
      'player_regret': _regret(means, player),
      'recorded_regret': _regret(means, recorded),
      'uniform_regret': means.max(axis=1) - means.mean(axis=1),
      'action_gap': ordered[:, -1] - ordered[:, -2],
  }
  others = np.ones((num_states, num_actions), bool)
  others[rows, player] = False
  differences = values - values[rows, player][:, None, :]
  standard_errors = differences.std(axis=2, ddof=1) / np.sqrt(num_rollouts)
  return {
      'states': num_states,
      **{name: _bootstrap_mean(x, num_resamples, seed)
         for name, x in per_state.items()},
      'rollout_std': float(values.std(axis=2, ddof=1).mean()),
      'difference_standard_error': float(standard_errors[others].mean()),
  }


def rank_against_values(q_values: np.ndarray, values: np.ndarray,
                        player: np.ndarray, num_resamples: int = 2000,
                        seed: int = 0) -> Dict[str, Any]:
  """A learner's Q-values against the measured values on the same states.

  Args:
    q_values: [states, actions] the learner's.
    values: [states, actions, rollouts] rollout returns.
    player: [states] the object player's action.
    num_resamples, seed: as summarise_values.

  Returns:
    {'greedy_regret' (the best action's measured value minus the greedy
    action's; {'mean', 'low', 'high'} over states), 'greedy_best_share'
    (the greedy action is the measured best; ties share),
    'greedy_player_agreement', 'difference_correlation' (Pearson, over
    states and actions, of Q(s, a) - mean_a Q(s, .) against the same of
    the measured values: does the learner order actions within a state as
    they are worth), 'learner_gap' and 'measured_gap' (mean over states of
    the greedy action's margin over the runner-up, in the learner's values
    and in the measured ones)}.
  """
  q_values = np.asarray(q_values, np.float64)
  means = np.asarray(values, np.float64).mean(axis=2)
  if q_values.shape != means.shape:
    raise ValueError(f'Q-values of shape {q_values.shape} against measured '
                     f'values of {means.shape}: one row per state and one '
                     'column per action in both.')
  greedy = q_values.argmax(axis=1)
  centred_q = q_values - q_values.mean(axis=1, keepdims=True)
  centred_v = means - means.mean(axis=1, keepdims=True)
  if centred_q.std() == 0 or centred_v.std() == 0:
    correlation = None
  else:
    correlation = float(np.corrcoef(centred_q.ravel(), centred_v.ravel())[0, 1])

  def margin(x):
    ordered = np.sort(x, axis=1)
    return float((ordered[:, -1] - ordered[:, -2]).mean())

  return {
      'greedy_regret': _bootstrap_mean(_regret(means, greedy), num_resamples,
                                       seed),
      'greedy_best_share': float(_share_of_best(means, greedy).mean()),
      'greedy_player_agreement': float(np.mean(greedy == np.asarray(player))),
      'difference_correlation': correlation,
      'learner_gap': margin(q_values), 'measured_gap': margin(means),
  }


def measure_game(dataset: str, game: str, checkpoint_range,
                 num_checkpoints: int, schedule, continuation: str,
                 num_states: int, num_rollouts: int, horizon: int,
                 discount: float, replay_steps: int,
                 seed: int) -> Dict[str, Any]:
  """Rollout values at `num_states` data states of `game` (module
  docstring). Returns {'states': [{'checkpoint', 'position', 'recorded',
  'player', 'values': [actions][rollouts]}], 'seconds'}."""
  if continuation not in CONTINUATIONS:
    raise ValueError(f'continuation={continuation!r}; valid: {CONTINUATIONS}.')
  start, stop = checkpoint_range
  positions = sample_positions(stop - start, replay_steps, num_states, seed)
  player = object_players.ObjectPlayer(game)
  recorded = replay.recorder_config(os.path.join(dataset, game))
  rollout_environment = factory.make_environment(
      game, mode=recorded['mode'], difficulty=recorded['difficulty'],
      sticky_action_probability=recorded['sticky_action_probability'],
      max_episode_frames=recorded['max_episode_frames'])
  states = []
  started = time.time()

  def measure(checkpoint, position, timestep, environment, previous_action):
    del timestep
    if continuation == 'player':
      def make(k):
        del k
        return player
    else:
      def make(k):
        # Lapses seeded per state and rollout, shared by its actions.
        rollout_seed = int(np.random.SeedSequence(
            [seed, checkpoint, position, k]).generate_state(1)[0])
        return schedule(game, checkpoint, num_checkpoints, rollout_environment,
                        rollout_seed)
    values = rollouts.action_values(
        rollout_environment, environment.clone_state(), previous_action, make,
        num_rollouts, horizon, discount)
    states.append({'checkpoint': checkpoint, 'position': position,
                   'values': np.round(values, 6).tolist()})
    if len(states) % 10 == 0 or len(states) == num_states:
      print(f'  {game}: {len(states)} / {num_states} states '
            f'({time.time() - started:.0f} s)', flush=True)

  actions = visit_positions(dataset, game, checkpoint_range, positions,
                            measure)
  for state in states:
    state['recorded'], state['player'] = actions[(state['checkpoint'],
                                                  state['position'])]
  return {'states': states, 'seconds': time.time() - started}


def observations_at(dataset: str, game: str, checkpoint_range,
                    states: Sequence[Dict[str, Any]]) -> np.ndarray:
  """[N, 84, 84, 4] the frame stacks of measured `states`, in their order,
  replayed again from the recording."""
  start, stop = checkpoint_range
  positions = [sorted(s['position'] for s in states
                      if s['checkpoint'] == checkpoint)
               for checkpoint in range(start, stop)]
  stacks = {}

  def keep(checkpoint, position, timestep, environment, previous_action):
    del environment, previous_action
    stacks[(checkpoint, position)] = timestep.observation

  visit_positions(dataset, game, checkpoint_range, positions, keep)
  return np.stack([stacks[(s['checkpoint'], s['position'])] for s in states])


def _values(measured: Dict[str, Any]):
  states = measured['states']
  return (np.array([s['values'] for s in states]),
          np.array([s['player'] for s in states]),
          np.array([s['recorded'] for s in states]))


def _interval(e: Dict[str, float], spec: str = '.3f') -> str:
  return f"{e['mean']:{spec}} [{e['low']:{spec}}, {e['high']:{spec}}]"


def format_summaries(summaries: Dict[str, Dict[str, Any]]) -> str:
  """A Markdown table of summarise_values' results, one row per game."""
  lines = ["| game | states | player's action best | its advantage over a "
           'uniform one | regret: player / recorded / uniform | gap, best to '
           'second | rollout std | difference s.e. |',
           '|---|---:|---|---|---|---|---:|---:|']
  for game, s in summaries.items():
    lines.append(
        f"| {game} | {s['states']} | {_interval(s['player_best_share'])} | "
        f"{_interval(s['player_advantage'], '+.4f')} | "
        f"{s['player_regret']['mean']:.4f} / "
        f"{s['recorded_regret']['mean']:.4f} / "
        f"{s['uniform_regret']['mean']:.4f} | {_interval(s['action_gap'], '.4f')} "
        f"| {s['rollout_std']:.3f} | {s['difference_standard_error']:.4f} |")
  return '\n'.join(lines)


def recorded_with(path: str, settings: Dict[str, Any], made_with: str,
                  redo: str) -> Optional[Dict[str, Any]]:
  """The JSON file at `path` (None if there is none), refused (ValueError)
  if it was made with other settings than `settings`; `made_with` and `redo`
  word the refusal."""
  if not os.path.exists(path):
    return None
  with open(path) as f:
    recorded = json.load(f)
  if recorded['settings'] != settings:
    raise ValueError(f'{path} {made_with} {recorded["settings"]}, not '
                     f'{settings}: move it away to {redo} again.')
  return recorded


def earlier_rankings(path: str, settings: Dict[str, Any]) -> Dict[str, Any]:
  """The rankings file at `path` ({} if there is none), refused if it ranked
  against values measured with other settings than `settings`."""
  return recorded_with(path, settings, 'ranked against values measured with',
                       'rank') or {}


def merged_rankings(previous: Dict[str, Any], settings: Dict[str, Any],
                    steps: Dict[str, int],
                    rankings: Dict[str, Dict[str, Dict[str, Any]]]
                    ) -> Tuple[Dict[str, Any], List[str]]:
  """A rankings file with the runs ranked now added to an earlier one.

  A run's work folder (its checkpoints) may be gone while its ranking still
  holds, so a run the earlier file holds and this ranking does not find is
  kept; a run ranked now replaces its earlier entry.

  Args:
    previous: earlier_rankings' result.
    settings: the settings the values were measured with.
    steps, rankings: this ranking's, by run name.

  Returns:
    (the file to write, the names of the runs kept from `previous`).
  """
  kept = [name for name in previous.get('runs', {}) if name not in rankings]
  # A run ranked again keeps its place in the earlier file's order.
  return {
      'settings': settings,
      'steps': {**previous.get('steps', {}), **steps},
      'runs': {**previous.get('runs', {}), **rankings},
  }, kept


def format_rankings(rankings: Dict[str, Dict[str, Dict[str, Any]]]) -> str:
  """A Markdown table of rank_against_values' results, a row per run and
  game."""
  lines = ['| run | game | greedy regret [95%] | greedy is best | agrees with '
           'the player | correlation of Q-differences | gap: learner / '
           'measured |', '|---|---|---|---:|---:|---:|---|']
  for run, by_game in rankings.items():
    for game, r in by_game.items():
      correlation = ('-' if r['difference_correlation'] is None else
                     f"{r['difference_correlation']:+.3f}")
      lines.append(
          f"| {run} | {game} | {_interval(r['greedy_regret'], '.4f')} | "
          f"{r['greedy_best_share']:.3f} | "
          f"{r['greedy_player_agreement']:.3f} | {correlation} | "
          f"{r['learner_gap']:.4f} / {r['measured_gap']:.4f} |")
  return '\n'.join(lines)


def _define_flags():
  holders = dict(
      study_name=flags.DEFINE_enum(
          'study', 'object_player_lapses_v1', sorted(study_config.STUDIES),
          "An offline study of object players' data."),
      continuation=flags.DEFINE_enum(
          'continuation', 'player', list(CONTINUATIONS),
          'The policy after the measured action (module docstring).'),
      num_states=flags.DEFINE_integer(
          'num_states', 100, 'Data states measured per game.'),
      num_rollouts=flags.DEFINE_integer(
          'num_rollouts', 8, 'Rollouts per state and action.'),
      horizon=flags.DEFINE_integer(
          'horizon', DEFAULT_HORIZON, 'Agent steps per rollout.'),
      replay_steps=flags.DEFINE_integer(
          'replay_steps', replay.DEFAULT_REPLAY_STEPS,
          "Replayed steps from each checkpoint's start that states are "
          'drawn from.'),
      rank=flags.DEFINE_bool(
          'rank', False, "Also score every run of the study whose work "
          'directory holds a checkpoint against the measured values.'),
      rank_step=flags.DEFINE_integer(
          'rank_step', None, "With --rank, score each run's checkpoint of "
          'this update step instead of its newest readable one.'),
      seed=flags.DEFINE_integer(
          'seed', 0, 'Seeds the states drawn, the lapses and the bootstrap.'),
      **runs.define_location_flags())
  field_checks.register_validators(['num_states', 'num_rollouts', 'horizon',
                                    'replay_steps', 'rank_step'])
  return holders


def _settings(study, continuation, num_states, num_rollouts, horizon,
              replay_steps, seed, discount) -> Dict[str, Any]:
  return {'study': study.name, 'continuation': continuation,
          'checkpoints': study.dataset.learn_from, 'num_states': num_states,
          'num_rollouts': num_rollouts, 'horizon': horizon,
          'replay_steps': replay_steps, 'seed': seed, 'discount': discount}


def main(argv, study_name, continuation, num_states, num_rollouts, horizon,
         replay_steps, rank, rank_step, seed, root, results_dir):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if rank_step.value is not None and not rank.value:
    raise app.UsageError(f'--rank_step={rank_step.value} ranks checkpoints: '
                         'give it with --rank.')
  study = study_config.study_named(study_name.value)
  directory, sources = data.object_player_data(
      study, root.value, results_dir.value, study.dataset.learn_from)
  discount = study.learner_config(study.method(study.focus)).discount
  settings = _settings(study, continuation.value, num_states.value,
                       num_rollouts.value, horizon.value, replay_steps.value,
                       seed.value, discount)
  output_dir = os.path.join(results_dir.value, study.name,
                            results_lib.ACTION_VALUES_SUBDIR)
  paths = {source.game: os.path.join(output_dir,
                                     f'{continuation.value}_{source.game}.json')
           for source in sources}
  suffix = '' if rank_step.value is None else f'_step_{rank_step.value}'
  rankings_path = os.path.join(output_dir,
                               f'{continuation.value}_rankings{suffix}.json')
  # Files of other settings are refused before any rollout.
  try:
    measured = {game: recorded_with(path, settings, 'was measured with',
                                    'measure')
                for game, path in paths.items()}
    previous = earlier_rankings(rankings_path, settings) if rank.value else {}
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  summaries = {}
  for source in sources:
    path = paths[source.game]
    if measured[source.game] is not None:
      print(f'{path} exists; {source.game} is not measured again.')
    else:
      print(f'Measuring {source.game} ({num_states.value} states x '
            f'{num_rollouts.value} rollouts x {horizon.value} steps per '
            'action) ...', flush=True)
      game = measure_game(
          directory, source.game, source.checkpoint_range,
          study.dataset.num_checkpoints, study.dataset.schedule(),
          continuation.value, num_states.value, num_rollouts.value,
          horizon.value, discount, replay_steps.value, seed.value)
      values, player, recorded = _values(game)
      measured[source.game] = {
          'settings': settings,
          'summary': summarise_values(values, player, recorded, seed=seed.value),
          'code_version': runs.code_version(), **game}
      atomic_files.write_json_atomically(path, measured[source.game])
      print(f'{source.game}: {game["seconds"]:.0f} s -> {path}', flush=True)
    summaries[source.game] = measured[source.game]['summary']
  print(format_summaries(summaries))
  if rank.value:
    _rank_runs(study, directory, sources, measured, settings, previous,
               root.value, rank_step.value, rankings_path, seed.value)


def _rank_runs(study, directory, sources, measured, settings, previous, root,
               step, path, seed):
  """rank_against_values for every run of `study` with a checkpoint (of
  update `step`, or its newest), added to `previous`, the rankings already
  at `path`."""
  observations = {
      source.game: observations_at(directory, source.game,
                                   source.checkpoint_range,
                                   measured[source.game]['states'])
      for source in sources}
  rankings, steps = {}, {}
  for method in study.methods:
    for run_seed in study.seeds:
      found = runs.run_checkpoint(
          runs.workdir(root, study, method.name, run_seed), step)
      if found is None:
        continue
      checkpoint = checkpoint_loading.load_checkpoint(found)
      name = f'{method.name} seed {run_seed}'
      steps[name] = checkpoint.step
      rankings[name] = {}
      for source in sources:
        values, player, _ = _values(measured[source.game])
        rankings[name][source.game] = rank_against_values(
            checkpoint_diagnosis.q_values_at(checkpoint, source.game,
                                             observations[source.game]),
            values, player, seed=seed)
      print(f'{name} (step {checkpoint.step}) ranked.', flush=True)
  ranked, kept = merged_rankings(previous, settings, steps, rankings)
  if kept:
    print(f'Kept from {path} (no checkpoint here to rank again): '
          f'{", ".join(kept)}.')
  print(format_rankings(ranked['runs']))
  atomic_files.write_json_atomically(path, ranked)
  print(path)


if __name__ == '__main__':
  _flags = _define_flags()
  endings.run(lambda argv: main(argv, **_flags))
