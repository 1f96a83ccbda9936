r"""What an object players' dataset says about the player's action, with no
learner: how much better the return is after the player's action than after
the others, and how noisy.

The study's behaviour is epsilon-greedy over a deterministic object player,
so whether a step took the player's action is a coin flip independent of the
state (probability 1 - epsilon + epsilon / A). The mean discounted return
after steps that took it, minus the mean after steps that did not, is then an
unbiased estimate of the behaviour's one-step advantage of following the
player, averaged over the data's states: the evidence a value learner has
that the player's action is the better one. Beside it, the returns' standard
deviation says how many samples resolve it. The player's action at each
state comes from replaying the recording (atari_data.replay).

The replay also rebuilds the study's behaviour and reports what it did at
each step, so the table adds "followed (vs deviated)": over the steps where
the behaviour's coin was flipped, the return after following the player
minus after deviating from it (a random step, or the first step of a
lapse). For the players with lapses it is the unbiased measure: there,
whether a step took the player's action is not a state-independent draw
(a lapse's later steps hold their action in the states the lapse led to).

  python -m benchmarks.study.data_evidence --study=object_players_v1
  python -m benchmarks.study.data_evidence --checkpoints=2:3   # another tier

Writes <results_dir>/<study>/data_evidence_checkpoints_<start>_<stop>.json
(atomic; skipped when present) and prints a table per game, and per
player's action.
"""

import os
import time
from typing import Any, Dict, Optional, Sequence

from absl import app
from absl import flags
import numpy as np

from agents.scaled_ql import diagnostics
from atari_data import policies
from atari_data import replay
from benchmarks.study import config as study_config
from benchmarks.study import data
from benchmarks.study import runs
from launchers.programs import atomic_files
from launchers.programs import endings
from launchers.programs import field_checks


def took_action_advantage(returns: Sequence[np.ndarray],
                          took: Sequence[np.ndarray], num_resamples: int,
                          seed: int = 0) -> Dict[str, Any]:
  """Mean return after steps that took the action minus after those that
  did not, with a 95% interval from resampling whole episodes (steps of one
  episode are not independent).

  Args:
    returns: per episode, the return that followed each step.
    took: per episode, whether each step took the action (bool).
    num_resamples: bootstrap resamples of the episodes.
    seed: seeds the resampling.

  Returns:
    {'steps', 'episodes', 'took_share', 'mean_return_took',
    'mean_return_other', 'advantage', 'advantage_low', 'advantage_high',
    'return_std'}; the advantage and its interval are None when no step (or
    every step) took the action.
  """
  if len(returns) != len(took) or not returns:
    raise ValueError(f'took_action_advantage needs one return and one took '
                     f'array per episode, got {len(returns)} and {len(took)}.')
  # Per episode: (sum of returns, count) after took / other steps.
  sums = np.array([[r[t].sum(), t.sum(), r[~t].sum(), (~t).sum()]
                   for r, t in zip(map(np.asarray, returns),
                                   (np.asarray(t, bool) for t in took))],
                  np.float64)

  def difference(rows):
    totals = rows.sum(axis=0)
    if totals[1] == 0 or totals[3] == 0:
      return None
    return totals[0] / totals[1] - totals[2] / totals[3]

  all_returns = np.concatenate([np.asarray(r, np.float64) for r in returns])
  totals = sums.sum(axis=0)
  advantage = difference(sums)
  low = high = None
  if advantage is not None:
    rng = np.random.default_rng(seed)
    resampled = [difference(sums[rng.integers(len(sums), size=len(sums))])
                 for _ in range(num_resamples)]
    resampled = np.array([d for d in resampled if d is not None])
    low, high = (float(v) for v in np.percentile(resampled, [2.5, 97.5]))
  return {
      'steps': int(len(all_returns)), 'episodes': len(returns),
      'took_share': float(totals[1] / len(all_returns)),
      'mean_return_took': (float(totals[0] / totals[1]) if totals[1] else
                           None),
      'mean_return_other': (float(totals[2] / totals[3]) if totals[3] else
                            None),
      'advantage': None if advantage is None else float(advantage),
      'advantage_low': low, 'advantage_high': high,
      'return_std': float(all_returns.std()),
  }


# The behaviour's choices at which its state-independent coin was flipped
# (atari_data.policies): it followed the player, or deviated from it.
_FOLLOWED = policies.CHOICES.index(policies.FOLLOWED)
_DEVIATED = tuple(policies.CHOICES.index(c)
                  for c in (policies.RANDOM, policies.LAPSE_START))


def followed_against_deviated(returns: Sequence[np.ndarray],
                              choices: Sequence[np.ndarray],
                              num_resamples: int,
                              seed: int = 0) -> Dict[str, Any]:
  """took_action_advantage of following the player over the steps where the
  behaviour's coin was flipped (it followed the player, or began a random
  step or a lapse): the value of the player over the deviation, averaged
  over those states. Unbiased for a behaviour with lapses too, where the
  steps that took the player's action are not a state-independent draw
  (during a lapse the held action depends on nothing the state shows, but
  the states do depend on the lapse)."""
  flipped = [np.isin(c, (_FOLLOWED,) + _DEVIATED) for c in choices]
  return took_action_advantage(
      [np.asarray(r)[f] for r, f in zip(returns, flipped)],
      [np.asarray(c)[f] == _FOLLOWED for c, f in zip(choices, flipped)],
      num_resamples, seed)


def game_evidence(dataset: str, game: str, checkpoint_range, discount: float,
                  num_resamples: int, seed: int,
                  behaviour: Optional[policies.PolicyFactory] = None
                  ) -> Dict[str, Any]:
  """took_action_advantage of the player's action over every replayed step of
  `game`'s checkpoints, and over the steps where the player takes each of
  its actions ('by_player_action'). With the recording's `behaviour`
  (replayed alongside, atari_data.replay), also
  'followed_against_deviated'."""
  returns, actions, reference, choices = [], [], [], []
  for checkpoint in range(*checkpoint_range):
    for episode in replay.replay_with_reference_actions(dataset, game,
                                                        checkpoint, behaviour):
      returns.append(diagnostics.discounted_returns(episode['reward'],
                                                    discount))
      actions.append(episode['action'])
      reference.append(episode['reference_action'])
      choices.append(episode.get('choice'))
  took = [a == r for a, r in zip(actions, reference)]
  by_action = {}
  for action in np.unique(np.concatenate(reference)):
    where = [r == action for r in reference]
    by_action[str(int(action))] = took_action_advantage(
        [g[w] for g, w in zip(returns, where)],
        [t[w] for t, w in zip(took, where)], num_resamples, seed)
  evidence = {'checkpoints': list(checkpoint_range),
              **took_action_advantage(returns, took, num_resamples, seed),
              'by_player_action': by_action}
  if behaviour is not None:
    evidence['followed_against_deviated'] = followed_against_deviated(
        returns, choices, num_resamples, seed)
  return evidence


def format_advantage(evidence: Dict[str, Any], spec: str = '+.4f') -> str:
  """'advantage [low, high]' of took_action_advantage's result ('-' where
  nothing was compared)."""
  if evidence['advantage'] is None:
    return '-'
  return (f"{evidence['advantage']:{spec}} [{evidence['advantage_low']:{spec}}"
          f", {evidence['advantage_high']:{spec}}]")


def format_evidence(evidence: Dict[str, Dict[str, Any]]) -> str:
  """A Markdown table: one row per game, then one per player's action."""
  lines = ["| game | player's action | steps | episodes | share that took it "
           '| mean return after it | after the others | advantage [95%] | '
           'return std |', '|---|---|---:|---:|---:|---:|---:|---|---:|']

  def row(game, label, e):
    def number(value, spec='.4f'):
      return '-' if value is None else f'{value:{spec}}'
    return (f"| {game} | {label} | {e['steps']:,} | {e['episodes']} | "
            f"{e['took_share']:.3f} | {number(e['mean_return_took'])} | "
            f"{number(e['mean_return_other'])} | {format_advantage(e)} | "
            f"{e['return_std']:.3f} |")

  for game, e in evidence.items():
    lines.append(row(game, 'any', e))
    if 'followed_against_deviated' in e:
      lines.append(row(game, 'followed (vs deviated)',
                       e['followed_against_deviated']))
    for action, by_action in e['by_player_action'].items():
      lines.append(row(game, action, by_action))
  return '\n'.join(lines)


def _define_flags():
  holders = dict(
      study_name=flags.DEFINE_enum(
          'study', 'object_players_v1', sorted(study_config.STUDIES),
          "An offline study of object players' data."),
      num_resamples=flags.DEFINE_integer(
          'num_resamples', 2000, 'Bootstrap resamples of the episodes.'),
      checkpoints=flags.DEFINE_string(
          'checkpoints', None, "Behaviour checkpoints replayed (as "
          "launchers.pretrain's --checkpoints; default: the study's "
          'learned-from tier).'),
      seed=flags.DEFINE_integer('seed', 0, 'Seeds the resampling.'),
      **runs.define_location_flags())
  field_checks.register_validators(['num_resamples', 'checkpoints'])
  return holders


def main(argv, study_name, checkpoints, num_resamples, seed, root,
         results_dir):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  study = study_config.study_named(study_name.value)
  selected = checkpoints.value or study.dataset.learn_from
  directory, sources = data.object_player_data(study, root.value,
                                               results_dir.value, selected)
  start, stop = sources[0].checkpoint_range
  path = os.path.join(results_dir.value, study.name,
                      f'data_evidence_checkpoints_{start}_{stop}.json')
  if os.path.exists(path):
    print(f'{path} exists; nothing to do.')
    return
  discount = study.learner_config(study.method(study.focus)).discount
  started = time.time()
  evidence = {}
  for source in sources:
    evidence[source.game] = game_evidence(
        directory, source.game, source.checkpoint_range, discount,
        num_resamples.value, seed.value, study.dataset.schedule())
    print(f'{source.game} replayed ({time.time() - started:.0f} s).',
          flush=True)
  print(format_evidence(evidence))
  atomic_files.write_json_atomically(path, {
      'study': study.name, 'discount': discount, 'checkpoints': selected,
      'games': evidence, 'seconds': time.time() - started})
  print(path)


if __name__ == '__main__':
  _flags = _define_flags()
  endings.run(lambda argv: main(argv, **_flags))
