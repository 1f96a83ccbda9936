r"""The pilot that chooses a study's behaviour: can the data be learned from,
and beaten?

  python -m benchmarks.study.pilot --games=Pong,Breakout,Boxing \
      --behaviour=object_player --num_checkpoints=5 \
      --steps_per_checkpoint=10000 --bc_checkpoints=1,2 --bc_steps=3000

Records the behaviour twice with the recorder (seed 0 to learn from, seed 1
held out: other episodes of the same policies), epsilon falling linearly
from --epsilon_first at checkpoint 0 to --epsilon_last at the last, and
uniform random play beside it. Reports, per game and checkpoint:

* the behaviour's mean game score and its complete episodes, against random
  play's (is a tier clearly above random and clearly below the best?);
* the quantiles of the data's discounted returns (the support's range);
* for each of --bc_checkpoints: Acme's BC trained on that checkpoint of the
  first recording, through the offline program, and its cross-entropy and
  accuracy on the same checkpoint of the held-out recording, against the
  uniform policy's log(actions) and the behaviour's own entropy (epsilon-
  greedy over a deterministic player puts 1 - epsilon + epsilon / A on one
  action: no policy predicts its actions better). Do the frames predict the
  behaviour's actions?
* for object players (--behaviour=object_player), the data's own evidence
  for the player's action at every checkpoint but the noiseless one
  (benchmarks.study.data_evidence: the discounted return after the
  player's action minus after the others, 95% interval over episodes). Does
  each step of the improvement show in the returns that follow?

Writes the figures to --output as JSON (atomically) and prints a table.
Everything is resumable: recordings and BC runs already done are reused.
"""

import dataclasses
import math
import os
from typing import Dict

from absl import app
from absl import flags
import jax
import numpy as np

from agents.scaled_ql import config as learner_config
from atari_data import loader
from atari_data import policies
from atari_data import recorder
from benchmarks.study import config as study_config
from benchmarks.study import data
from benchmarks.study import data_evidence
from builders import bc
from environments import games as games_lib
from launchers.programs import atomic_files
from launchers.programs import checkpoint_loading
from launchers.programs import config_flags
from launchers.programs import dataset_scores
from launchers.programs import offline_program
from launchers.programs import pretrain_experiment

_GAMES = flags.DEFINE_list('games', ['Pong', 'Breakout', 'Boxing'],
                           'Games to pilot.')
_BEHAVIOUR = flags.DEFINE_enum('behaviour', 'object_player',
                               sorted(policies.SCHEDULES),
                               'The player noisy play follows, and its noise.')
_BEHAVIOUR_SETTINGS = flags.DEFINE_multi_string(
    'behaviour_setting', [], 'name=value: a further field of the '
    "behaviour's schedule (e.g. mean_lapse_steps=8 for "
    'object_player_lapses); repeatable.')
_EPSILON_FIRST = flags.DEFINE_float('epsilon_first', 1.0,
                                    'Epsilon at checkpoint 0.')
_EPSILON_LAST = flags.DEFINE_float('epsilon_last', 0.0,
                                   'Epsilon at the last checkpoint.')
_NUM_CHECKPOINTS = flags.DEFINE_integer('num_checkpoints', 5,
                                        'Checkpoints (epsilons) per game.')
_STEPS = flags.DEFINE_integer('steps_per_checkpoint', 10_000,
                              'Transitions per checkpoint and recording.')
_RANDOM_EPISODES = flags.DEFINE_integer(
    'random_episodes', 20, 'Episodes of uniform random play per game.')
_MAX_EPISODE_FRAMES = flags.DEFINE_integer(
    'max_episode_frames', 18_000, 'Episode cap (as the study\'s).')
_BC_CHECKPOINTS = flags.DEFINE_list(
    'bc_checkpoints', ['1'], 'Checkpoints whose actions BC learns and '
    'predicts on held-out episodes.')
_BC_STEPS = flags.DEFINE_integer('bc_steps', 3000, 'BC updates per run.')
_HELDOUT = flags.DEFINE_integer(
    'heldout_transitions', 4096, 'Held-out transitions scored per run.')
_DISCOUNT = flags.DEFINE_float('discount', 0.99,
                               'Discount of the returns reported.')
_ROOT = flags.DEFINE_string('root', '/tmp/study_pilot',
                            'Recordings and BC work directories.')
_OUTPUT = flags.DEFINE_string('output', None, 'JSON file of the figures.',
                              required=True)


# 0.99 ** 460 < 0.01: later rewards change a discounted return by < 1%.
RETURN_HORIZON = 460

# Bootstrap resamples of the episodes behind each evidence interval.
EVIDENCE_RESAMPLES = 2000


def _schedule() -> policies.EpsilonSchedule:
  schedule = policies.SCHEDULES[_BEHAVIOUR.value]
  try:
    settings = config_flags.parse_assignments(
        _BEHAVIOUR_SETTINGS.value, schedule(), '--behaviour_setting')
  except ValueError as error:
    raise app.UsageError(str(error)) from None
  return schedule(epsilon_first=_EPSILON_FIRST.value,
                  epsilon_last=_EPSILON_LAST.value, **dict(settings))


def _record(output_dir: str, seed: int) -> str:
  games = [game for game in _GAMES.value
           if not os.path.isdir(recorder.dataset_dir(output_dir, game))]
  if games:
    recorder.record(recorder.RecorderConfig(
        output_dir=output_dir, games=tuple(games),
        num_checkpoints=_NUM_CHECKPOINTS.value,
        steps_per_checkpoint=_STEPS.value, seed=seed,
        max_episode_frames=_MAX_EPISODE_FRAMES.value), _schedule())
  return output_dir


def _train_bc(source: str,
              checkpoint: int) -> checkpoint_loading.LoadedCheckpoint:
  workdir = os.path.join(_ROOT.value, f'bc_checkpoint_{checkpoint}')
  experiment = pretrain_experiment.PretrainExperiment(
      games=tuple(_GAMES.value), dataset=source,
      checkpoints=f'{checkpoint}:{checkpoint + 1}',
      learner=learner_config.ScaledQLConfig(**study_config.BASE_LEARNER),
      agent='bc', num_steps=_BC_STEPS.value, workdir=workdir,
      checkpoint_every_steps=_BC_STEPS.value,
      eval_every_steps=_BC_STEPS.value, eval_episodes=1,
      eval_max_episode_frames=_MAX_EPISODE_FRAMES.value)
  offline_program.run(experiment, launch_type='single_process')
  return checkpoint_loading.load_checkpoint(
      checkpoint_loading.checkpoint_path(workdir, None))


def heldout_prediction(loaded: checkpoint_loading.LoadedCheckpoint,
                       source: str, checkpoint: int) -> Dict[str, Dict]:
  """BC's cross-entropy and accuracy on `checkpoint` of `source`, per game."""
  games = loaded.builder.config.games
  batches = loader.make_multigame_iterator(loader.LoaderConfig(
      games=games, source=source, checkpoints=f'{checkpoint}:{checkpoint + 1}',
      n_step=1, batch_size=_HELDOUT.value, seed=1, repeat=False))
  batch = next(batches)
  batches.close()
  logits = jax.jit(loaded.builder.make_networks().apply)(
      loaded.params, batch.observation, batch.game_id).q_values
  log_likelihood = np.asarray(bc.log_probability(logits, batch.action))
  greedy = np.argmax(np.asarray(logits), axis=1)
  return {game: {
      'transitions': int(np.sum(batch.game_id == g)),
      'cross_entropy': float(-np.mean(log_likelihood[batch.game_id == g])),
      'accuracy': float(np.mean((greedy == batch.action)[batch.game_id == g])),
  } for g, game in enumerate(games)}


def discounted_returns(source: str, games, checkpoint: int) -> Dict[str, Dict]:
  """Quantiles of the data's discounted returns of clipped rewards, per game
  (from a sample of states: the loader's n-step reward over
  RETURN_HORIZON steps, where the discount's weight has fallen below 1%):
  the range a categorical support must cover."""
  batches = loader.make_multigame_iterator(loader.LoaderConfig(
      games=tuple(games), source=source,
      checkpoints=f'{checkpoint}:{checkpoint + 1}', n_step=RETURN_HORIZON,
      discount=_DISCOUNT.value, batch_size=_HELDOUT.value, seed=2,
      repeat=False))
  batch = next(batches)
  batches.close()
  return {game: dict(zip(
      ('min', 'p1', 'median', 'p99', 'max'),
      map(float, np.quantile(batch.reward[batch.game_id == g],
                             [0, 0.01, 0.5, 0.99, 1]))))
          for g, game in enumerate(games)}


def main(argv):
  del argv
  schedule = _schedule()
  train = _record(os.path.join(_ROOT.value, 'train'), seed=0)
  heldout = _record(os.path.join(_ROOT.value, 'heldout'), seed=1)
  randoms = os.path.join(_ROOT.value, 'random')
  missing = [game for game in _GAMES.value
             if not os.path.isdir(recorder.dataset_dir(randoms, game))]
  if missing:
    data.record_random_play(randoms, missing, _RANDOM_EPISODES.value, seed=2,
                            max_episode_frames=_MAX_EPISODE_FRAMES.value)
  random_scores = dataset_scores.dataset_mean_scores(randoms, _GAMES.value,
                                                     'all')
  report: Dict[str, Dict] = {}
  for game in _GAMES.value:
    num_actions = len(games_lib.action_set(game))
    report[game] = {'num_actions': num_actions,
                    'random_score': random_scores[game], 'checkpoints': []}
    for k, (score, episodes) in enumerate(
        dataset_scores.checkpoint_scores(train, game)):
      epsilon = schedule.epsilon(k, _NUM_CHECKPOINTS.value)
      report[game]['checkpoints'].append({
          'checkpoint': k, 'epsilon': epsilon, 'mean_score': score,
          'episodes': episodes,
          'behaviour_entropy': schedule.action_entropy(epsilon,
                                                       num_actions),
          'uniform_cross_entropy': math.log(num_actions)})
  for checkpoint in range(_NUM_CHECKPOINTS.value):
    for game, quantiles in discounted_returns(train, _GAMES.value,
                                              checkpoint).items():
      report[game]['checkpoints'][checkpoint]['discounted_return'] = quantiles
  if isinstance(schedule, policies.ObjectPlayerSchedule):
    for game in _GAMES.value:
      for row in report[game]['checkpoints']:
        if 0.0 < row['epsilon'] < 1.0:  # Else nothing to compare.
          row['player_advantage'] = data_evidence.game_evidence(
              train, game, (row['checkpoint'], row['checkpoint'] + 1),
              _DISCOUNT.value, EVIDENCE_RESAMPLES, seed=0, behaviour=schedule)
  for checkpoint in map(int, _BC_CHECKPOINTS.value):
    prediction = heldout_prediction(_train_bc(train, checkpoint), heldout,
                                    checkpoint)
    for game, figures in prediction.items():
      report[game]['checkpoints'][checkpoint]['bc_heldout'] = figures
  atomic_files.write_json_atomically(_OUTPUT.value, {
      'behaviour': _BEHAVIOUR.value,
      'schedule': dataclasses.asdict(schedule), 'games': report,
      'steps_per_checkpoint': _STEPS.value, 'bc_steps': _BC_STEPS.value,
      'discount': _DISCOUNT.value})
  print(markdown_table(report))


def _advantage(row: Dict, key) -> str:
  """The row's player_advantage (or its part `key`), formatted; '-' where
  absent."""
  evidence = row.get('player_advantage')
  if evidence is not None and key is not None:
    evidence = evidence.get(key)
  if evidence is None:
    return '-'
  return data_evidence.format_advantage(evidence, '+.3f')


def markdown_table(report: Dict[str, Dict]) -> str:
  lines = ['| game | checkpoint | epsilon | score | episodes | random | '
           'BC held-out CE | BC accuracy | behaviour entropy | log(A) | '
           "return p1 / median / p99 | player's one-step advantage [95%] | "
           'followed the player vs deviated [95%] |',
           '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|']
  for game, figures in report.items():
    for row in figures['checkpoints']:
      bc_figures = row.get('bc_heldout')
      lines.append(
          f"| {game} | {row['checkpoint']} | {row['epsilon']:.2f} | "
          f"{row['mean_score']:.1f} | {row['episodes']} | "
          f"{figures['random_score']:.1f} | "
          + (f"{bc_figures['cross_entropy']:.3f} | {bc_figures['accuracy']:.3f}"
             if bc_figures else '- | -')
          + ' | ' + ('-' if row['behaviour_entropy'] is None else
                       f"{row['behaviour_entropy']:.3f}") + ' | '
          + f"{row['uniform_cross_entropy']:.3f} | "
          + ' / '.join(f"{row['discounted_return'][q]:.2f}"
                         for q in ('p1', 'median', 'p99'))
          + ' | ' + ' | '.join(_advantage(row, key) for key in (
              None, 'followed_against_deviated')) + ' |')
  return '\n'.join(lines)


if __name__ == '__main__':
  app.run(main)
