"""The study's recorded data and the reference scores it defines.

The data are recorded once per machine (the recorder is seeded, so a second
machine records the same episodes) under <root>/data/<Game>, with uniform
random play beside them under <root>/random/<Game>; every method of the
study reads the same files.
"""

import json
import os
from typing import Dict, List, Optional, Tuple

from absl import app
from absl import logging

from atari_data import loader
from atari_data import policies
from atari_data import recorder
from benchmarks.study import config as study_config
from benchmarks.study import results as results_lib
from benchmarks.study import runs
from environments import atari_scores
from launchers.programs import atomic_files
from launchers.programs import dataset_scores
from launchers.programs import endings


def data_dir(root: str) -> str:
  return os.path.join(root, 'data')


def random_dir(root: str) -> str:
  return os.path.join(root, 'random')


def _missing(directory: str, games) -> list:
  return [game for game in games
          if not os.path.isdir(os.path.join(directory, game))]


def fingerprint(root: str, games) -> Dict[str, str]:
  """'data/<Game>' and 'random/<Game>' under `root` -> the game's
  `recorder.dataset_digest` (its episodes, not its timings)."""
  return {f'{os.path.basename(directory)}/{game}':
              recorder.dataset_digest(directory, game)
          for directory in (data_dir(root), random_dir(root))
          for game in games}


def check_fingerprint(root: str, games, path: str) -> None:
  """Raises ValueError unless the data under `root` are, byte for byte, the
  ones fingerprinted at `path` (those the committed results learned from);
  where `path` does not exist yet, writes the data's fingerprint there."""
  found = fingerprint(root, games)
  if not os.path.exists(path):
    atomic_files.write_json_atomically(path, found)
    return
  with open(path) as f:
    expected = json.load(f)
  differing = [f'{name}: recorded {found[name][:12]}..., committed '
               f'{expected[name][:12]}...' for name in found
               if expected.get(name) != found[name]]
  if differing:
    raise ValueError(
        f'The data under {root} are not those the committed results learned '
        f'from ({path}): ' + '; '.join(differing) + '. The recorder, the '
        'behaviour or the environment changed; record the study under a new '
        'name rather than mixing runs on different data.')


def ensure_dataset(dataset: study_config.StudyDataset, root: str,
                   fingerprint_path: Optional[str] = None) -> str:
  """Records what is missing of `dataset` under `root`, a game per core at
  once; returns the data directory. Each game is written atomically, so an
  interrupted recording leaves no partial game behind and is resumed game by
  game. With `fingerprint_path`, data recorded now must be the bytes
  fingerprinted there (`check_fingerprint`); the first recording writes it.
  """
  missing = _missing(data_dir(root), dataset.games)
  missing_random = _missing(random_dir(root), dataset.games)
  if missing:
    logging.info('Recording the study data of %s into %s ...', missing,
                 data_dir(root))
    stats = recorder.record(
        recorder.RecorderConfig(
            output_dir=data_dir(root), games=tuple(missing),
            num_checkpoints=dataset.num_checkpoints,
            steps_per_checkpoint=dataset.steps_per_checkpoint,
            seed=dataset.seed, max_episode_frames=dataset.max_episode_frames),
        policy_factory=dataset.schedule(), processes=os.cpu_count())
    for game, checkpoints in stats.items():
      print(f'{game}: mean game score per checkpoint: ' + ', '.join(
          f'{c.mean_complete_game_score or c.mean_game_score:.0f}'
          for c in checkpoints), flush=True)
  if missing_random:
    record_random_play(random_dir(root), missing_random,
                       dataset.random_episodes, dataset.seed + 1,
                       dataset.max_episode_frames)
  # Fails clearly on a half-written or foreign directory.
  loader.resolve_sources(loader.LoaderConfig(
      games=dataset.games, source=data_dir(root), checkpoints='all'))
  if fingerprint_path is not None and (
      missing or missing_random or not os.path.exists(fingerprint_path)):
    check_fingerprint(root, dataset.games, fingerprint_path)
  return data_dir(root)


def ensure_study_data(study: study_config.Study, root: str,
                      results_dir: str) -> str:
  """`ensure_dataset` for an offline `study` where the runner's flags put
  it: its data root under --root, held to the fingerprint kept beside its
  results in --results_dir. Returns the data directory."""
  return ensure_dataset(
      study.dataset, runs.data_root(root, study),
      results_lib.data_fingerprint_path(results_dir, study.name))


def object_player_data(study, root: str, results_dir: str, checkpoints: str
                       ) -> Tuple[str, List[loader.GameSource]]:
  """For the command lines that replay a study's recording (data_evidence,
  action_values): its data directory (ensure_study_data) and each game's
  source for `checkpoints` (as launchers.pretrain's --checkpoints).

  Raises:
    app.UsageError: `study` does not learn from object players' data.
  A bad `checkpoints` ends the command as bad input (endings.bad_input).
  """
  if isinstance(study, study_config.OnlineStudy) or (
      not study.dataset.plays_object_player):
    raise app.UsageError(f'Study {study.name} does not learn from object '
                         "players' data (only those replay).")
  directory = ensure_study_data(study, root, results_dir)
  with endings.bad_input():
    sources = loader.resolve_sources(loader.LoaderConfig(
        games=study.dataset.games, source=directory, checkpoints=checkpoints))
  return directory, sources


def record_random_play(output_dir: str, games, episodes: int, seed: int,
                       max_episode_frames: int, mode=None, difficulty=None):
  """Records `episodes` of uniform random play of each game (one checkpoint
  per game under `output_dir`), the floor of a game's scores."""
  recorder.record(
      recorder.RecorderConfig(
          output_dir=output_dir, games=tuple(games), num_checkpoints=1,
          episodes_per_checkpoint=episodes, steps_per_checkpoint=None,
          seed=seed, max_episode_frames=max_episode_frames, mode=mode,
          difficulty=difficulty),
      policy_factory=policies.uniform_random_factory,
      processes=os.cpu_count())


def reference_scores(dataset: study_config.StudyDataset,
                     root: str) -> Dict[str, Dict[str, float]]:
  """Per game: the learned-from data's mean score (the bar to beat), the
  best checkpoint's (a ceiling), the whole dataset's, uniform random play's
  under the same protocol, and the published human score."""
  learned = dataset_scores.dataset_mean_scores(
      data_dir(root), dataset.games, dataset.learn_from)
  everything = dataset_scores.dataset_mean_scores(
      data_dir(root), dataset.games, 'all')
  randoms = dataset_scores.dataset_mean_scores(
      random_dir(root), dataset.games, 'all')
  return {
      game: {
          'data_score': learned[game],
          'best_score': float(max(score for score, _ in
                                 dataset_scores.checkpoint_scores(
                                     data_dir(root), game))),
          'all_data_score': everything[game],
          'random_score': randoms[game],
          'human_score': atari_scores.reference_scores(game).human,
      } for game in dataset.games
  }
