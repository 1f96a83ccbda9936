"""One JSON file per study run: the schema, its atomic write and its check.

A run's file is written once, when the run has finished, and is what the
report reads: the report needs nothing else (no checkpoints, no datasets).
A file that exists means its run is done, so `run` skips it; a file that
fails the check below is an error, never silently replaced.

  <results_dir>/<study>/<method>/seed_<k>.json
  {
    "schema_version": 1,
    "study": name of the study definition,
    "kind": "offline" (the default when absent) or "online" (fine-tuning
            on game variants: "games" are variant labels, the reference has
            only random_score and human_score, curve points also have
            "env_steps"),
    "method": name,  "seed": k,
    "settings": everything that defines the run (method, learner, data,
                budget, evaluation), for reference,
    "games": [game, ...],
    "final": {game: {"episode_scores": [...], "mean_score": x}},
    "curve": [{"learner_steps": s, "mean_scores": {game: x}}, ...],
    "reference": {game: {"data_score": learned-from data's mean score,
                         "best_score": best behaviour checkpoint's,
                         "all_data_score": the whole dataset's,
                         "random_score": ..., "human_score": ...}},
    "run": {"wall_seconds": t,
            "load_average": {"start": [1, 5, 15 min], "end": [...]},
            "code_version": git commit, "finished_at": ISO time,
            "devices": [...]},
    "transfer": (runs initialised from another run's checkpoint only)
                {"init_checkpoint": path, "pretraining_states": n,
                 "max_feature_difference": largest |feature difference|
                 of the initial and the pre-trained network on n states of
                 the pre-training data}
  }
"""

import json
import math
import os
from typing import Any, Dict, Iterator, Mapping

from launchers.programs import atomic_files

SCHEMA_VERSION = 1
# The committed results of this repository's studies.
DEFAULT_RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   'results')
_REQUIRED = ('schema_version', 'study', 'method', 'seed', 'settings', 'games',
             'final', 'curve', 'reference', 'run')
# Reference scores per kind of run ('kind': 'offline' when absent).
REFERENCE_FIELDS = {
    'offline': ('data_score', 'best_score', 'all_data_score', 'random_score',
                'human_score'),
    'online': ('random_score', 'human_score'),
}


class ResultError(ValueError):
  """A result file that is missing fields, or holds values it must not."""


# The folders, beside a study's method folders, of its dissections
# (benchmarks.study.dissect) and of the action values measured on its data
# (benchmarks.study.action_values): diagnostics, not results; read_all skips
# them.
DISSECTION_SUBDIR = 'dissection'
ACTION_VALUES_SUBDIR = 'action_values'
NOT_RESULTS = (DISSECTION_SUBDIR, ACTION_VALUES_SUBDIR)


def result_path(results_dir: str, study: str, method: str, seed: int) -> str:
  return os.path.join(results_dir, study, method, f'seed_{seed}.json')


def data_fingerprint_path(results_dir: str, study: str) -> str:
  """Where the SHA-256 of the data `study`'s results learned from is kept
  (benchmarks.study.data.check_fingerprint)."""
  return os.path.join(results_dir, study, 'data_fingerprint.json')


def _finite(value: Any, where: str) -> float:
  if not isinstance(value, (int, float)) or isinstance(value, bool) or (
      not math.isfinite(value)):
    raise ResultError(f'{where} must be a finite number, got {value!r}.')
  return float(value)


def validate(result: Mapping[str, Any], where: str = 'result') -> None:
  """Raises ResultError unless `result` follows the schema above."""
  missing = [key for key in _REQUIRED if key not in result]
  if missing:
    raise ResultError(f'{where} lacks {missing}.')
  if result['schema_version'] != SCHEMA_VERSION:
    raise ResultError(f'{where} has schema_version '
                      f'{result["schema_version"]!r}; this code reads '
                      f'{SCHEMA_VERSION}.')
  kind = result.get('kind', 'offline')
  if kind not in REFERENCE_FIELDS:
    raise ResultError(f'{where} has kind {kind!r}; kinds: '
                      f'{sorted(REFERENCE_FIELDS)}.')
  games = list(result['games'])
  if not games:
    raise ResultError(f'{where} has no games.')
  for game in games:
    final = result['final'].get(game)
    if final is None or not final.get('episode_scores'):
      raise ResultError(f'{where} has no final episodes of {game}.')
    for score in final['episode_scores']:
      _finite(score, f'{where}: a final score of {game}')
    _finite(final['mean_score'], f'{where}: the mean score of {game}')
    reference = result['reference'].get(game)
    if reference is None:
      raise ResultError(f'{where} has no reference scores of {game}.')
    for field in REFERENCE_FIELDS[kind]:
      _finite(reference.get(field), f'{where}: {game} {field}')
  for point in result['curve']:
    _finite(point['learner_steps'], f'{where}: a curve step')
    if kind == 'online':
      _finite(point.get('env_steps'), f'{where}: a curve environment step')
    for game, score in point['mean_scores'].items():
      _finite(score, f'{where}: a curve score of {game}')


def write(results_dir: str, result: Mapping[str, Any]) -> str:
  """Validates and writes `result` atomically; returns its path."""
  validate(result)
  path = result_path(results_dir, result['study'], result['method'],
                     result['seed'])
  atomic_files.write_text_atomically(
      path, json.dumps(result, indent=1, sort_keys=True, allow_nan=False)
      + '\n')
  return path


def _reject_constant(name: str):
  raise ResultError(f'non-standard JSON constant {name}')


def read(path: str) -> Dict[str, Any]:
  """Reads and validates one result file (strict JSON: no NaN/Infinity)."""
  try:
    with open(path) as f:
      result = json.load(f, parse_constant=_reject_constant)
  except (OSError, ValueError) as error:
    raise ResultError(f'{path}: {error}') from error
  validate(result, where=path)
  return result


def read_all(results_dir: str, study: str) -> Iterator[Dict[str, Any]]:
  """Every result of `study` under `results_dir`, sorted by method and seed
  (the folders of NOT_RESULTS hold none).

  Raises:
    ResultError: a file is invalid, or says it belongs to another study.
  """
  study_dir = os.path.join(results_dir, study)
  if not os.path.isdir(study_dir):
    raise ResultError(f'No results of study {study} in {results_dir}.')
  paths = []
  for method in sorted(os.listdir(study_dir)):
    folder = os.path.join(study_dir, method)
    if os.path.isdir(folder) and method not in NOT_RESULTS:
      paths.extend(os.path.join(folder, name)
                   for name in sorted(os.listdir(folder))
                   if name.endswith('.json'))
  results = [read(path) for path in paths]
  for path, result in zip(paths, results):
    if result['study'] != study:
      raise ResultError(f'{path} is a result of study {result["study"]}, '
                        f'filed under {study}.')
  return iter(sorted(results, key=lambda r: (r['method'], r['seed'])))
