"""Bad input is refused before anything is launched: one line naming the
flag, the value and what is valid, exit status 1, no traceback (issue 12's
table, validation rows)."""

import dataclasses
import os
import subprocess
import sys

from absl import flags
import numpy as np
import pytest

from agents.scaled_ql import config as learner_config
from atari_data import loader
from builders import config as builder_config
from environments import games as games_lib
from environments import known_answer
from launchers.programs import config_flags
from launchers.programs import field_checks
from launchers.programs import finetune_experiment
from launchers.programs import pretrain_experiment
from networks import torsos
from tests_support import TINY_LEARNER
from tests_support import tiny_experiment

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(module, *flags_, cwd=REPO_ROOT):
  return subprocess.run([sys.executable, '-m', module, *flags_],
                        capture_output=True, text=True, cwd=cwd, timeout=300)


def _assert_refused(process, *messages):
  assert process.returncode == 1, process.stdout + process.stderr
  assert 'Traceback' not in process.stderr, process.stderr[-3000:]
  for message in messages:
    assert message in process.stderr, process.stderr[-3000:]


_PRETRAIN_DEFAULTS = {'games': ('Pong',), 'dataset': 'x', 'checkpoints': 'all',
                      'num_steps': 10, 'workdir': '/tmp/w'}


def _parse(cls, *argv, defaults=None):
  """Parses argv with the flags generated from `cls` on fresh FlagValues."""
  values = flags.FlagValues()
  config_flags.define_flags(cls, defaults, flag_values=values)
  values(['prog', *argv])
  return values


@pytest.mark.parametrize('argv, message', [
    (['--num_steps=0'], 'flag --num_steps=0: must be an integer >= 1'),
    (['--eval_episodes=0'], 'flag --eval_episodes=0: must be an integer >= 1'),
    (['--checkpoints=first 200%'], 'a fraction is a percentage in (0, 100]'),
    (['--games=Pong,Breakot'], "Did you mean one of ['Breakout'"),
])
def test_pretraining_flags_are_checked_at_parsing(argv, message):
  with pytest.raises(flags.IllegalFlagValueError) as raised:
    _parse(pretrain_experiment.PretrainExperiment, *argv,
           defaults=_PRETRAIN_DEFAULTS)
  assert message in str(raised.value)


def test_unknown_network_size_lists_the_valid_ones():
  with pytest.raises(flags.IllegalFlagValueError) as raised:
    _parse(learner_config.ScaledQLConfig, '--network_size=huge')
  assert 'flag --network_size=huge: must be one of ' + ', '.join(
      torsos.TORSO_NAMES) in str(raised.value)


def test_negative_batch_size_is_refused_at_parsing():
  with pytest.raises(flags.IllegalFlagValueError,
                     match='flag --batch_size=-32: must be an integer >= 1'):
    _parse(learner_config.ScaledQLConfig, '--batch_size=-32')


def test_a_game_far_from_every_name_prints_the_list_not_a_call():
  problem = field_checks.problem('games', ['Zelda'])
  assert 'all_games()' not in problem
  assert 'Valid: ' in problem
  for game in ('Breakout', 'MsPacman', 'Pong', 'SpaceInvaders'):
    assert game in problem
  atari_names, known_answer_names = problem.split('Valid: ')[1].split(
      '. (Known-answer test problems: ')
  assert len(atari_names.split(', ')) == len(games_lib.all_games())
  assert known_answer_names.rstrip('.)').split(', ') == list(
      known_answer.PROBLEMS)


def test_good_values_pass_every_rule():
  for config in (learner_config.ScaledQLConfig(), TINY_LEARNER,
                 builder_config.OnlineSettings(),
                 tiny_experiment('x', '/tmp/w'),
                 finetune_experiment.FinetuneExperiment(game='Pong',
                                                        workdir='/tmp/w')):
    field_checks.check_fields(config)  # Raises on a bad default.


def test_library_callers_get_the_same_refusal(tiny_atari_dataset, tmp_path):
  with pytest.raises(ValueError, match=r'num_steps=0: must be an integer >= 1'):
    tiny_experiment(tiny_atari_dataset, tmp_path, num_steps=0).validate()
  with pytest.raises(ValueError, match=r"network_size='huge': must be one of"):
    tiny_experiment(tiny_atari_dataset, tmp_path, learner=dataclasses.replace(
        TINY_LEARNER, network_size='huge')).validate()


def test_fraction_messages_say_what_is_wrong():
  with pytest.raises(ValueError) as too_large:
    loader.select_checkpoints('first 200%', 5)
  assert 'larger fraction' not in str(too_large.value)
  assert '(0, 100]' in str(too_large.value)
  with pytest.raises(ValueError, match='Choose a fraction of at least 20%'):
    loader.select_checkpoints('first 10%', 5)
  with pytest.raises(ValueError, match=r'beyond the 5 checkpoints'):
    loader.select_checkpoints('3:9', 5)
  assert loader.select_checkpoints('first 100%', 5) == (0, 5)
  assert loader.select_checkpoints('last 40%', 5) == (3, 5)


def test_a_dataset_that_is_a_file_is_called_a_file(tmp_path):
  path = tmp_path / 'dataset.txt'
  path.write_text('not a dataset')
  with pytest.raises(NotADirectoryError, match=f'Dataset {path} is a file'):
    loader.resolve_sources(loader.LoaderConfig(games=['Pong'],
                                               source=str(path)))


def test_tfds_name_is_not_taken_for_a_folder_of_that_name(tmp_path,
                                                          monkeypatch):
  # A TFDS data_dir holds rlu_atari_checkpoints_ordered/<config>/...; run
  # from inside it, the name must still mean the TFDS dataset.
  os.makedirs(tmp_path / 'rlu_atari_checkpoints_ordered' / 'Pong_run_1')
  monkeypatch.chdir(tmp_path)
  with pytest.raises(ValueError) as raised:
    loader.resolve_sources(loader.LoaderConfig(
        games=['Pong'], source='rlu_atari_checkpoints_ordered',
        data_dir=str(tmp_path)))
  assert 'absent from the dataset directory' not in str(raised.value)
  assert 'rlu_atari_checkpoints_ordered/Pong_run_1' in str(raised.value)


def test_a_recorded_dataset_is_a_directory_whatever_its_name(
    tiny_atari_dataset, tmp_path, monkeypatch):
  named_like_tfds = tmp_path / 'rlu_atari'
  os.symlink(tiny_atari_dataset, named_like_tfds)
  monkeypatch.chdir(tmp_path)
  sources = loader.resolve_sources(loader.LoaderConfig(
      games=['Pong'], source='rlu_atari'))
  assert sources[0].description.startswith(os.path.join('rlu_atari', 'Pong'))


def test_finetuning_budget_below_the_replay_minimum_is_refused(tmp_path):
  experiment = finetune_experiment.FinetuneExperiment(
      game='Pong', workdir=str(tmp_path), learner=TINY_LEARNER,
      num_env_steps=1000)
  with pytest.raises(ValueError, match=r'num_env_steps=1000 leaves the '
                     r'learner nothing to learn from(.|\n)*min_replay_size=1600'):
    experiment.validate()


def test_pretrain_command_line_refuses_zero_steps_before_launching():
  _assert_refused(_run('launchers.pretrain', '--num_steps=0', '--dataset=x'),
                  'flag --num_steps=0: must be an integer >= 1')


def test_launchpad_termination_notice_is_checked_before_launching():
  _assert_refused(_run('launchers.pretrain', '--lp_termination_notice_secs=0',
                       '--dataset=x'),
                  'flag --lp_termination_notice_secs=0: must be an integer '
                  '>= 1')


def test_pretrain_command_line_refuses_a_dataset_file_in_one_line(tmp_path):
  path = tmp_path / 'data.bin'
  path.write_bytes(b'\0')
  process = _run('launchers.pretrain', f'--dataset={path}',
                 f'--workdir={tmp_path / "w"}')
  _assert_refused(process, f'error: Dataset {path} is a file')
  assert len(process.stderr.strip().splitlines()) == 1, process.stderr


def test_pretrain_command_line_suggests_a_game_without_a_traceback():
  _assert_refused(_run('launchers.pretrain', '--games=Breakot', '--dataset=x'),
                  "Did you mean one of ['Breakout'")


def test_finetune_command_line_refuses_bad_batch_and_budget(tmp_path):
  _assert_refused(_run('launchers.finetune_online', '--game=Pong',
                       '--batch_size=-32', f'--workdir={tmp_path}'),
                  'flag --batch_size=-32: must be an integer >= 1')
  _assert_refused(_run('launchers.finetune_online', '--game=Pong',
                       '--num_env_steps=0', f'--workdir={tmp_path}'),
                  'flag --num_env_steps=0: must be an integer >= 1')
  _assert_refused(_run('launchers.finetune_online', '--game=Pong',
                       '--num_env_steps=100', f'--workdir={tmp_path}'),
                  'error: num_env_steps=100 leaves the learner nothing')
  assert not os.path.exists(tmp_path / 'checkpoints')


def test_evaluate_refuses_zero_episodes_and_keeps_earlier_results(tmp_path):
  results = tmp_path / 'evaluation' / 'results.json'
  results.parent.mkdir()
  results.write_text('{"games": []}')
  _assert_refused(_run('launchers.evaluate', '--episodes=0',
                       f'--workdir={tmp_path}'),
                  'flag --episodes=0: must be an integer >= 1')
  assert results.read_text() == '{"games": []}'


def test_evaluate_refuses_a_file_that_is_not_a_checkpoint(tmp_path):
  np.savez(tmp_path / 'fake.npz', x=np.zeros(1))
  process = _run('launchers.evaluate', f'--checkpoint={tmp_path / "fake.npz"}')
  _assert_refused(process, 'error: ', 'is not a Scaled Q-Learning checkpoint')


def test_make_dataset_refuses_before_recording_anything(tiny_atari_dataset,
                                                        tmp_path):
  _assert_refused(_run('launchers.make_dataset', '--games=Pong', '--mode=999',
                       f'--output_dir={tmp_path}'),
                  'error: Mode 999 is not valid for Pong; valid modes: [0, 1]')
  assert os.listdir(tmp_path) == []
  # Freeway (new) would be recorded first, then Pong (there) refused.
  before = sorted(os.listdir(tiny_atari_dataset))
  _assert_refused(_run('launchers.make_dataset', '--games=Freeway,Pong',
                       f'--output_dir={tiny_atari_dataset}'),
                  f'error: {tiny_atari_dataset}/Pong exists; pass --overwrite')
  assert sorted(os.listdir(tiny_atari_dataset)) == before


def test_paths_of_the_wrong_kind_are_named_for_what_they_are(tmp_path):
  a_file = tmp_path / 'file'
  a_file.write_text('')
  _assert_refused(_run('launchers.evaluate', f'--checkpoint={tmp_path}'),
                  f'error: Checkpoint {tmp_path} is a directory; give a '
                  'checkpoint-<step>.npz file')
  _assert_refused(_run('launchers.make_dataset', f'--output_dir={a_file}'),
                  f'flag --output_dir={a_file}: {a_file} is a file; the '
                  'output is a directory')
  _assert_refused(_run('launchers.pretrain', '--dataset=x',
                       f'--workdir={a_file}'),
                  f'flag --workdir={a_file}: {a_file} is a file; a work '
                  'directory is a directory')
