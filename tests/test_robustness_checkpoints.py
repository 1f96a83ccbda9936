"""Resume survives a damaged checkpoint; results files are strict JSON and
never replaced by invalid ones (issue 12: truncated latest checkpoint,
evaluate --episodes=0 writing NaN)."""

import json
import logging
import os
import zipfile

import numpy as np
import pytest

from agents.scaled_ql import checkpointing
from benchmarks import results as results_lib
from launchers.programs import atomic_files
from launchers.programs import checkpoint_loading
from tests_support import checkpoint_steps
from tests_support import tiny_experiment

DESCRIPTION = {'network_size': 'nature_dqn', 'games': ['Pong']}


def _state(seed):
  rng = np.random.default_rng(seed)
  return {'w': rng.normal(size=(64, 64)).astype(np.float32),
          'step': np.int32(seed)}


def _truncate(path):
  size = os.path.getsize(path)
  with open(path, 'r+b') as f:
    f.truncate(size // 2)


def _corrupt_an_array(path):
  """Flips bytes inside the stored data of leaf 0 (the zip's CRC catches it)."""
  with zipfile.ZipFile(path) as archive:
    start = archive.getinfo('leaf_00000.npy').header_offset
  with open(path, 'r+b') as f:
    # The member's data follow its 30-byte local header, whose last two
    # fields are the lengths of the name and the extra field that follow.
    f.seek(start + 26)
    name_length, extra_length = np.frombuffer(f.read(4), '<u2')
    offset = start + 30 + int(name_length) + int(extra_length) + 200
    f.seek(offset)
    original = f.read(16)
    f.seek(offset)
    f.write(bytes(b ^ 0xFF for b in original))


@pytest.mark.parametrize('damage', [_truncate, _corrupt_an_array])
def test_the_newest_checkpoint_that_reads_back_is_restored(damage, tmp_path,
                                                           caplog):
  checkpointer = checkpointing.Checkpointer(str(tmp_path), DESCRIPTION)
  for step in (10, 20, 30):
    checkpointer.save(step, _state(step))
  damaged = checkpointer.latest()[1]
  damage(damaged)
  with caplog.at_level(logging.WARNING):
    step, path, state = checkpointer.restore_newest(template=_state(0))
  assert step == 20 and path.endswith('checkpoint-0000000020.npz')
  np.testing.assert_array_equal(state['w'], _state(20)['w'])
  # The damaged file is kept aside, named, out of the listing.
  aside = os.path.join(tmp_path, 'damaged-checkpoint-0000000030.npz')
  assert os.path.isfile(aside) and not os.path.exists(damaged)
  assert [s for s, _ in checkpointer.checkpoints()] == [10, 20]
  assert f'Skipped checkpoint {damaged}' in caplog.text
  assert 'does not read back' in caplog.text


def test_validation_and_tools_skip_a_truncated_checkpoint(tmp_path, caplog):
  directory = tmp_path / 'checkpoints'
  checkpointer = checkpointing.Checkpointer(str(directory), DESCRIPTION)
  for step in (10, 20):
    checkpointer.save(step, _state(step))
  _truncate(checkpointer.latest()[1])
  with caplog.at_level(logging.WARNING):
    checkpointer.check_compatible()  # No BadZipFile.
    assert checkpoint_loading.checkpoint_path(str(tmp_path), None).endswith(
        'checkpoint-0000000010.npz')
  assert 'Skipping checkpoint' in caplog.text and 'BadZipFile' in caplog.text


def test_an_incompatible_checkpoint_is_refused_not_skipped(tmp_path):
  checkpointing.Checkpointer(str(tmp_path), DESCRIPTION).save(10, _state(10))
  other = checkpointing.Checkpointer(str(tmp_path), {**DESCRIPTION,
                                                     'games': ['Breakout']})
  with pytest.raises(checkpointing.CheckpointMismatchError, match='games'):
    other.restore_newest(template=_state(0))
  assert os.path.isfile(os.path.join(tmp_path, 'checkpoint-0000000010.npz'))


def test_a_run_resumes_from_the_checkpoint_before_a_truncated_one(
    tiny_atari_dataset, tmp_path):
  first = tiny_experiment(tiny_atari_dataset, tmp_path, num_steps=20)
  first.make_learner_runner().train(should_stop=lambda: False)
  assert checkpoint_steps(str(tmp_path)) == [10, 20]
  _truncate(os.path.join(tmp_path, 'checkpoints', 'checkpoint-0000000020.npz'))
  again = tiny_experiment(tiny_atari_dataset, tmp_path, num_steps=30)
  again.validate()
  runner = again.make_learner_runner()
  assert runner.completed_steps() == 10
  runner.train(should_stop=lambda: False)
  assert checkpoint_steps(str(tmp_path)) == [10, 20, 30]


def test_results_that_are_not_strict_json_leave_the_old_file(tmp_path):
  path = tmp_path / 'results.json'
  atomic_files.write_json_atomically(str(path), {'mean': 1.5})
  with pytest.raises(ValueError, match='not strict JSON'):
    atomic_files.write_json_atomically(str(path), {'mean': float('nan')})
  assert json.loads(path.read_text()) == {'mean': 1.5}
  assert os.listdir(tmp_path) == ['results.json']  # No temporary file left.


def test_benchmark_results_that_are_not_json_leave_the_old_file(tmp_path):
  path = tmp_path / 'results.json'
  results_lib.write_json_atomically(str(path), {'mean': 1.5})
  with pytest.raises(TypeError, match='not JSON serializable'):
    results_lib.write_json_atomically(str(path), {'mean': object()})
  assert json.loads(path.read_text()) == {'mean': 1.5}
  results_lib.write_text_atomically(str(tmp_path / 'results.md'), '| a |\n')
  assert (tmp_path / 'results.md').read_text() == '| a |\n'
  assert sorted(os.listdir(tmp_path)) == ['results.json', 'results.md']
