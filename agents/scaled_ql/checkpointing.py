"""Atomic checkpoints of the learner's full state, with a compatibility check.

A checkpoint is one `.npz` file in the checkpoint directory,
`checkpoint-<step>.npz`, holding every array leaf of the learner state
(parameters, target parameters, optimiser state, step counter, random key)
plus a JSON description of the run that wrote it (network size, games, their
action counts, ...). Files are written to a temporary name in the same
directory, flushed to disk and renamed into place, so a checkpoint either
exists whole or not at all, however the writer dies.

Restoring takes the state structure from the live learner (`template`), not
from the file, so nothing but arrays is ever unpickled, and a checkpoint whose
description or array shapes do not match the run is refused with a message
that says what differs. A checkpoint that does not read back (truncated or
corrupted on disk after it was written) is skipped for the newest one that
does: it is renamed `damaged-checkpoint-<step>.npz` (kept for inspection, out
of the listing) and the skip is logged with its reason.

Pure NumPy/JAX: no acme, TensorFlow or Reverb.
"""

import json
import os
import re
import tempfile
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import logging
import jax
import numpy as np

_FILE_PATTERN = re.compile(r'^checkpoint-(\d+)\.npz$')
_DESCRIPTION_KEY = '__description__'
FORMAT_VERSION = 1


class CheckpointMismatchError(ValueError):
  """A checkpoint was written by a run this one cannot continue."""


class DamagedCheckpointError(CheckpointMismatchError):
  """A checkpoint file does not read back (truncated, corrupted)."""


DAMAGED_PREFIX = 'damaged-'


def _read(path: str, arrays: bool):
  """(header, leaves or None) of checkpoint `path`.

  Raises:
    CheckpointMismatchError: not a checkpoint of this format.
    DamagedCheckpointError: the file does not read back.
  """
  try:
    with np.load(path) as data:
      header = _header(path, data)
      leaves = ([data[f'leaf_{i:05d}'] for i in range(header['num_leaves'])]
                if arrays else None)
    if arrays:
      # NumPy reads each array's exact length, so the zip's CRC-32 of a
      # member is never checked: check every member's.
      with zipfile.ZipFile(path) as archive:
        corrupted = archive.testzip()
      if corrupted is not None:
        raise zipfile.BadZipFile(f'CRC-32 mismatch in {corrupted}')
  except CheckpointMismatchError:
    raise
  except Exception as e:  # zipfile, zlib, json, KeyError, EOFError ...
    raise DamagedCheckpointError(
        f'{path} does not read back ({type(e).__name__}: {e})') from e
  return header, leaves


def _header(path: str, data) -> Dict[str, Any]:
  if _DESCRIPTION_KEY not in data:
    raise CheckpointMismatchError(
        f'{path} is not a Scaled Q-Learning checkpoint (no description).')
  header = json.loads(bytes(data[_DESCRIPTION_KEY]).decode('utf-8'))
  if header.get('format_version') != FORMAT_VERSION:
    raise CheckpointMismatchError(
        f'{path} has checkpoint format version '
        f'{header.get("format_version")!r}; this code reads version '
        f'{FORMAT_VERSION} only.')
  return header


def differences(saved: Dict[str, Any], expected: Dict[str, Any],
                keys: Optional[Sequence[str]] = None) -> List[str]:
  """'key: checkpoint has X, this run has Y' for each key (default: all keys
  of either) whose values differ. The one wording of every compatibility
  message."""
  if keys is None:
    keys = sorted(set(saved) | set(expected))
  return [f'{key}: checkpoint has {saved.get(key)!r}, this run has '
          f'{expected.get(key)!r}' for key in keys
          if saved.get(key) != expected.get(key)]


def list_checkpoints(directory: str) -> List[Tuple[int, str]]:
  """(step, path) of every complete checkpoint in `directory`, oldest first.

  An absent directory has none.
  """
  if not os.path.isdir(directory):
    return []
  found = []
  for name in os.listdir(directory):
    match = _FILE_PATTERN.match(name)
    if match:
      found.append((int(match.group(1)), os.path.join(directory, name)))
  return sorted(found)


def latest_checkpoint(directory: str) -> Optional[Tuple[int, str]]:
  """(step, path) of the newest checkpoint in `directory`, or None."""
  checkpoints = list_checkpoints(directory)
  return checkpoints[-1] if checkpoints else None


def newest_readable(directory: str) -> Optional[Tuple[int, str]]:
  """(step, path) of the newest checkpoint in `directory` whose header reads
  back (others are logged and left in place), or None. Reads no arrays."""
  for step, path in reversed(list_checkpoints(directory)):
    try:
      _read(path, arrays=False)
    except DamagedCheckpointError as e:
      logging.warning('Skipping checkpoint %s: %s', path, e)
      continue
    return step, path
  return None


def read_description(path: str) -> Dict[str, Any]:
  """The description of the run that wrote checkpoint `path` (no arrays read).

  Lets a tool rebuild the network a checkpoint belongs to from the file alone.

  Raises:
    FileNotFoundError: no file at `path`.
    IsADirectoryError: `path` is a directory.
    CheckpointMismatchError: the file is not a Scaled Q-Learning checkpoint.
  """
  if os.path.isdir(path):
    raise IsADirectoryError(
        f'Checkpoint {path} is a directory; give a checkpoint-<step>.npz file '
        'written by launchers.pretrain (in <workdir>/checkpoints), or the '
        'run\'s --workdir where a command takes one.')
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'Checkpoint {path} does not exist; give a checkpoint-<step>.npz file '
        'written by launchers.pretrain (in <workdir>/checkpoints).')
  try:
    return _read(path, arrays=False)[0]['description']
  except DamagedCheckpointError as e:  # Not an .npz (or a damaged one).
    raise CheckpointMismatchError(
        f'{path} is not a Scaled Q-Learning checkpoint ({e.__cause__}).'
    ) from e


# The ScaledQLConfig fields that shape the network's parameters and outputs:
# a checkpoint can seed or resume only a run that has the same ones.
NETWORK_FIELDS = ('network_size', 'feature_dim', 'num_atoms', 'v_min', 'v_max',
                  'value_loss')


def network_description(config) -> Dict[str, Any]:
  """The NETWORK_FIELDS of a ScaledQLConfig, for a checkpoint description."""
  return {field: getattr(config, field) for field in NETWORK_FIELDS}


def network_differences(description: Dict[str, Any], config) -> List[str]:
  """`differences` of the NETWORK_FIELDS of a checkpoint's description and
  a ScaledQLConfig."""
  return differences(description, network_description(config), NETWORK_FIELDS)


def agent_of(description: Dict[str, Any]) -> str:
  """The agent (builders.agents) that wrote a checkpoint's description.

  Raises:
    CheckpointMismatchError: the checkpoint predates the field.
  """
  if 'agent' not in description:
    raise CheckpointMismatchError(
        'The checkpoint does not record its agent: it was written before '
        'agents other than Scaled QL existed.')
  return description['agent']


def check_network(path: str, config, purpose: str,
                  agent: str = 'scaled_ql') -> Dict[str, Any]:
  """Raises CheckpointMismatchError unless checkpoint `path` was written by
  `agent` with the network of ScaledQLConfig `config`; returns the
  checkpoint's description.

  `purpose` completes the message, e.g. 'cannot seed this network'.
  """
  description = read_description(path)
  found = (differences(description, {'agent': agent}, ('agent',)) +
           network_differences(description, config))
  if found:
    raise CheckpointMismatchError(
        f'{path} {purpose}:\n  ' + '\n  '.join(found) + '\nLeave the '
        'network settings unset to take the checkpoint\'s.')
  return description


def network_settings(description: Dict[str, Any]) -> Dict[str, Any]:
  """The NETWORK_FIELDS of a checkpoint's description, as ScaledQLConfig
  keyword arguments.

  Raises:
    CheckpointMismatchError: the checkpoint predates one of the fields.
  """
  missing = [field for field in NETWORK_FIELDS if field not in description]
  if missing:
    raise CheckpointMismatchError(
        f'The checkpoint does not record {missing}: it was written before '
        'these network settings existed.')
  return {field: description[field] for field in NETWORK_FIELDS}


class Checkpointer:
  """Saves and restores learner states in one directory.

  Args:
    directory: where checkpoints live (created if missing).
    description: JSON-serialisable facts about the run that a checkpoint must
      share to be restored into it (e.g. network size, game list, number of
      actions per game, atoms). Compared key by key on restore.
    max_to_keep: the newest this many checkpoints are kept, older ones
      deleted after each save.
  """

  def __init__(self, directory: str, description: Dict[str, Any],
               max_to_keep: int = 3):
    if max_to_keep < 1:
      raise ValueError(f'max_to_keep must be >= 1, got {max_to_keep}.')
    self._directory = directory
    self._description = json.loads(json.dumps(description))  # Normalised.
    self._max_to_keep = max_to_keep
    os.makedirs(directory, exist_ok=True)

  def checkpoints(self) -> List[Tuple[int, str]]:
    """(step, path) of every complete checkpoint, oldest first."""
    return list_checkpoints(self._directory)

  def latest(self) -> Optional[Tuple[int, str]]:
    return latest_checkpoint(self._directory)

  def save(self, step: int, state: Any) -> str:
    """Writes `state` (any pytree of arrays) as the checkpoint of `step`."""
    leaves = jax.tree_util.tree_leaves(jax.device_get(state))
    arrays = {f'leaf_{i:05d}': np.asarray(leaf) for i, leaf in enumerate(leaves)}
    header = {'format_version': FORMAT_VERSION, 'step': int(step),
              'num_leaves': len(leaves), 'description': self._description}
    arrays[_DESCRIPTION_KEY] = np.frombuffer(
        json.dumps(header).encode('utf-8'), dtype=np.uint8)
    path = os.path.join(self._directory, f'checkpoint-{int(step):010d}.npz')
    with tempfile.NamedTemporaryFile(
        dir=self._directory, prefix='.incomplete-', suffix='.npz',
        delete=False) as f:
      temporary = f.name
      try:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
      except BaseException:
        f.close()
        os.remove(temporary)
        raise
    os.replace(temporary, path)
    self._prune()
    return path

  def _prune(self):
    for _, path in self.checkpoints()[:-self._max_to_keep]:
      os.remove(path)

  def check_compatible(self):
    """Raises CheckpointMismatchError if the newest checkpoint that reads
    back is from an incompatible run; does nothing when there is none.
    Reads no arrays."""
    newest = newest_readable(self._directory)
    if newest is not None:
      header, _ = _read(newest[1], arrays=False)
      self._check_description(newest[1], header['description'])

  def restore_newest(self, template: Any
                     ) -> Optional[Tuple[int, str, Any]]:
    """(step, path, state) of the newest checkpoint that reads back whole,
    or None when there is none.

    Each newer one that does not read back is renamed DAMAGED_PREFIX + its
    name, so that it is neither resumed nor counted as the latest again,
    and the skip is logged with its reason.

    Raises:
      CheckpointMismatchError: the newest readable checkpoint was written by
        an incompatible run.
    """
    for _, path in reversed(self.checkpoints()):
      try:
        step, state = self.restore(template, path)
      except DamagedCheckpointError as e:
        aside = os.path.join(self._directory,
                             DAMAGED_PREFIX + os.path.basename(path))
        os.replace(path, aside)
        logging.warning('Skipped checkpoint %s (renamed %s): %s', path, aside,
                        e)
        continue
      return step, path, state
    return None

  def restore(self, template: Any, path: Optional[str] = None) -> Tuple[int, Any]:
    """Reads a checkpoint (the latest by default) into `template`'s structure.

    Args:
      template: a state of the running learner; gives the tree structure and
        the shapes and dtypes every leaf must have.
      path: a checkpoint file; the directory's latest when None.

    Returns:
      (step, state).

    Raises:
      FileNotFoundError: no checkpoint to restore.
      CheckpointMismatchError: the checkpoint was written by an incompatible
        run (different description, number of arrays, shapes or dtypes).
      DamagedCheckpointError: the file does not read back.
    """
    if path is None:
      latest = self.latest()
      if latest is None:
        raise FileNotFoundError(f'No checkpoint in {self._directory}.')
      path = latest[1]
    header, leaves = _read(path, arrays=True)
    self._check_description(path, header['description'])
    template_leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(leaves) != len(template_leaves):
      raise CheckpointMismatchError(
          f'{path} holds {len(leaves)} arrays but this learner\'s state has '
          f'{len(template_leaves)}: it was written by a different learner.')
    for index, (saved, expected) in enumerate(zip(leaves, template_leaves)):
      expected = np.asarray(expected)
      if saved.shape != expected.shape or saved.dtype != expected.dtype:
        raise CheckpointMismatchError(
            f'{path}: array {index} is {saved.dtype}{list(saved.shape)} but '
            f'this learner expects {expected.dtype}{list(expected.shape)}.')
    return header['step'], jax.tree_util.tree_unflatten(treedef, leaves)

  def _check_description(self, path: str, saved: Dict[str, Any]):
    found = differences(saved, self._description)
    if found:
      raise CheckpointMismatchError(
          f'Checkpoint {path} was written by an incompatible run:\n  ' +
          '\n  '.join(found) +
          '\nUse a new work directory, or the settings the checkpoint was '
          'written with.')
