"""Diagnostics of a checkpoint on its own dataset's states.

The library behind `python -m launchers.diagnose` (and the demo's last table).
"""

import jax
import numpy as np

from agents.scaled_ql import checkpointing
from agents.scaled_ql import diagnostics
from atari_data import loader
from launchers.programs import checkpoint_loading


def _loader_config(games, dataset, checkpoints, num_states=1024, seed=0,
                   data_dir=None) -> loader.LoaderConfig:
  return loader.LoaderConfig(
      games=games, source=dataset, data_dir=data_dir, checkpoints=checkpoints,
      batch_size=num_states, seed=seed)


def check_input(path: str, dataset: str, checkpoints: str = 'all',
                data_dir=None):
  """Raises a clear error unless `path` is a checkpoint and `dataset` has
  its games' selected checkpoints; reads no arrays and no episodes."""
  games = checkpointing.read_description(path)['games']
  loader.resolve_sources(_loader_config(games, dataset, checkpoints,
                                        data_dir=data_dir))


def diagnose_checkpoint(path: str, dataset: str, checkpoints: str = 'all',
                        num_states: int = 1024, seed: int = 0,
                        data_dir=None):
  """(loaded checkpoint, per-game diagnostics) on `num_states` dataset states."""
  checkpoint = checkpoint_loading.load_checkpoint(path)
  games = checkpoint.builder.config.games
  iterator = loader.make_multigame_iterator(_loader_config(
      games, dataset, checkpoints, num_states, seed, data_dir))
  batch = jax.tree_util.tree_map(np.asarray, next(iterator))
  return checkpoint, diagnostics.representation_diagnostics(
      checkpoint.builder.make_networks(), checkpoint.params, batch, games,
      seed=seed)


def format_diagnostics(results) -> str:
  """A Markdown table of representation_diagnostics' results."""
  lines = ['| game | states | within-game cosine | greedy action share | '
           'Q std over states | action gap | Q(a_data) - mean Q |',
           '|---|---:|---:|---:|---:|---:|---:|']
  for game, row in results.items():
    lines.append(
        f"| {game} | {row['num_states']} | {row['within_game_cosine']:.4f} | "
        f"{row['greedy_action_share']:.2f} | {row['q_state_std']:.4f} | "
        f"{row['action_gap']:.4f} | {row['data_action_advantage']:+.4f} |")
  return '\n'.join(lines)
