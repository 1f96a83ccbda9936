"""Atomic learner checkpoints: round trip, pruning, refusal of mismatches."""

import json
import os

import numpy as np
import pytest

from agents.scaled_ql import checkpointing

DESCRIPTION = {'network_size': 'resnet_tiny', 'games': ['Pong', 'Breakout'],
               'num_actions': [6, 4]}


def _state(seed=0):
  rng = np.random.default_rng(seed)
  return {'params': {'w': rng.normal(size=(3, 4)).astype(np.float32),
                     'b': np.zeros(4, np.float32)},
          'step': np.int32(7), 'key': np.array([1, 2], np.uint32)}


def test_round_trip_is_bitwise_and_keeps_structure(tmp_path):
  checkpointer = checkpointing.Checkpointer(str(tmp_path), DESCRIPTION)
  state = _state()
  checkpointer.save(1000, state)
  step, restored = checkpointer.restore(template=_state(seed=1))
  assert step == 1000
  assert restored['params']['w'].tobytes() == state['params']['w'].tobytes()
  assert restored['step'] == 7 and restored['key'].dtype == np.uint32


def test_latest_wins_and_old_ones_are_pruned(tmp_path):
  checkpointer = checkpointing.Checkpointer(str(tmp_path), DESCRIPTION, max_to_keep=2)
  for step in (10, 20, 30):
    checkpointer.save(step, _state(seed=step))
  assert [step for step, _ in checkpointer.checkpoints()] == [20, 30]
  step, restored = checkpointer.restore(template=_state())
  assert step == 30
  np.testing.assert_array_equal(restored['params']['w'], _state(seed=30)['params']['w'])


def test_unfinished_write_is_invisible(tmp_path):
  checkpointer = checkpointing.Checkpointer(str(tmp_path), DESCRIPTION)
  # What a writer killed mid-save leaves behind: a temporary file only.
  (tmp_path / '.incomplete-abc.npz').write_bytes(b'partial')
  assert checkpointer.latest() is None
  with pytest.raises(FileNotFoundError, match='No checkpoint'):
    checkpointer.restore(template=_state())
  assert not [n for n in os.listdir(tmp_path) if n.startswith('checkpoint-')]


def test_checkpoint_of_another_game_set_is_refused(tmp_path):
  checkpointing.Checkpointer(str(tmp_path), DESCRIPTION).save(5, _state())
  other = dict(DESCRIPTION, games=['Pong', 'Freeway'], num_actions=[6, 3])
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match=r"games: checkpoint has \['Pong', 'Breakout'\]"):
    checkpointing.Checkpointer(str(tmp_path), other).restore(template=_state())


def test_checkpoint_with_other_shapes_is_refused(tmp_path):
  checkpointing.Checkpointer(str(tmp_path), DESCRIPTION).save(5, _state())
  template = _state()
  template['params']['w'] = np.zeros((3, 8), np.float32)
  with pytest.raises(checkpointing.CheckpointMismatchError, match=r'expects float32\[3, 8\]'):
    checkpointing.Checkpointer(str(tmp_path), DESCRIPTION).restore(template=template)


def test_checkpoint_of_another_format_version_is_refused(tmp_path):
  checkpointer = checkpointing.Checkpointer(str(tmp_path), DESCRIPTION)
  path = checkpointer.save(3, _state())
  with np.load(path) as data:
    arrays = dict(data)
  header = json.loads(bytes(arrays['__description__']).decode())
  header['format_version'] = checkpointing.FORMAT_VERSION + 1
  arrays['__description__'] = np.frombuffer(json.dumps(header).encode(),
                                            np.uint8)
  np.savez(path, **arrays)
  message = (f'format version {checkpointing.FORMAT_VERSION + 1}; this code '
             f'reads version {checkpointing.FORMAT_VERSION} only')
  with pytest.raises(checkpointing.CheckpointMismatchError, match=message):
    checkpointer.check_compatible()
  with pytest.raises(checkpointing.CheckpointMismatchError, match=message):
    checkpointing.read_description(path)
  with pytest.raises(checkpointing.CheckpointMismatchError, match=message):
    checkpointer.restore(template=_state())
