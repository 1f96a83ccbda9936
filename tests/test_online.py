"""Online programs: Acme's DistributedLayout with our builder, the online
fine-tuning program (Scaled QL from a pre-trained checkpoint, Acme's DQN),
their stops, and bad input. Real games, real Reverb, real Launchpad."""

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time

from acme import specs
from acme.tf import savers
from acme.utils import counting
import jax
import numpy as np
import pytest
import reverb

from agents.scaled_ql import checkpointing
from launchers.programs import checkpoint_loading
from launchers.programs import endings
from launchers.programs import finetune_experiment
from tests_support import TINY_LEARNER
from tests_support import checkpoint_steps
from tests_support import csv_rows
from tests_support import tiny_experiment

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def pretrained_checkpoint(tiny_atari_dataset, tmp_path_factory) -> str:
  """A Pong + Breakout checkpoint of the tiny network (2 pre-training steps)."""
  workdir = tmp_path_factory.mktemp('pretrained')
  runner = tiny_experiment(tiny_atari_dataset, workdir,
                           num_steps=2).make_learner_runner()
  runner.train(should_stop=lambda: False)
  return checkpointing.latest_checkpoint(os.path.join(workdir, 'checkpoints'))[1]


def _finetune(checkpoint, workdir, **overrides):
  settings = dict(game='Breakout', mode=4, difficulty=1, checkpoint=checkpoint,
                  learner=TINY_LEARNER, workdir=str(workdir))
  settings.update(overrides)
  return finetune_experiment.FinetuneExperiment(**settings)


def _finetune_command(checkpoint, workdir, *flags):
  return [sys.executable, '-m', 'launchers.finetune_online',
          f'--checkpoint={checkpoint}', '--game=Breakout', '--mode=4',
          '--difficulty=1', '--batch_size=8', '--min_replay_size=100',
          '--samples_per_insert=4', '--num_actors=2',
          '--actor_max_episode_frames=800', '--eval_max_episode_frames=400',
          f'--workdir={workdir}', *flags]


def _assert_clean_exit(process_returncode, output, status=0):
  assert process_returncode == status, output[-5000:]
  assert 'Killing entire runtime' not in output
  assert 'Traceback' not in output, output[-5000:]
  assert 'Replay drained' in output


def test_builder_runs_in_acme_distributed_layout_and_stops_cleanly(tmp_path):
  """Acme's DistributedLayout (StepsLimiter, CheckpointingRunner, Acme actor
  loops) with our builder, real Pong actors and Reverb; the replay drain and
  the redelivered stop are what let it end without Launchpad's kill."""
  workdir = str(tmp_path)
  process = subprocess.run(
      [sys.executable, os.path.join('tests', 'programs',
                                    'acme_distributed_layout.py'),
       workdir, '800'],
      capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
  output = process.stdout + process.stderr
  _assert_clean_exit(process.returncode, output)
  assert 'StepsLimiter: Max steps of 800 was reached, terminating' in output
  # The counts Acme's counter node saved when the stop reached it. (The
  # actors' log lines come only at episode ends, so their "Learner Steps" can
  # be far behind the stop.)
  counts = _restored_acme_counts(workdir)
  assert counts['actor_steps'] >= 800
  # Reverb's SampleToInsertRatio (samples per insert 4, min size 100, error
  # buffer max(100 x 4 x 0.1, 3 x batch 8) = 40) admits an insert only while
  # samples >= 4 x (inserts - 100) - 40, so the learner (batch 8) kept pace
  # with the actors. Half of that bound leaves room for the counts each node
  # holds back for up to a second before passing them on.
  kept_pace = (4 * (counts['actor_steps'] - 100) - 40) / 8
  assert counts['learner_steps'] >= kept_pace / 2, counts
  assert os.path.isdir(os.path.join(workdir, 'checkpoints', 'learner'))


def _restored_acme_counts(workdir):
  """The program counter's counts, restored by Acme's own Checkpointer (which
  reads WORKDIR/checkpoints/counter)."""
  counter = counting.Counter()
  savers.Checkpointer(objects_to_save={'counter': counter}, directory=workdir,
                      subdirectory='counter', add_uid=False)
  return counter.get_counts()


@pytest.mark.parametrize('launch_type', ['local_mt', 'local_mp'])
def test_finetuning_program_trains_evaluates_and_stops_by_itself(
    launch_type, pretrained_checkpoint, tmp_path):
  # (700 - 100) environment steps x 4 samples per insert / batch 8 = 300.
  process = subprocess.run(
      _finetune_command(pretrained_checkpoint, tmp_path,
                        f'--lp_launch_type={launch_type}',
                        '--num_env_steps=700', '--checkpoint_every_steps=100',
                        '--eval_every_steps=100'),
      capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
  output = process.stdout + process.stderr
  _assert_clean_exit(process.returncode, output)
  assert 'Learner initialised from' in output
  assert 'Learner reached 300 steps; stopping the program.' in output
  assert checkpoint_steps(str(tmp_path))[-1] == 300
  learner_rows = csv_rows(str(tmp_path), 'learner')
  assert learner_rows and float(learner_rows[-1]['td_loss']) > 0
  actor_rows = csv_rows(str(tmp_path), 'actor_0') + csv_rows(str(tmp_path),
                                                               'actor_1')
  assert actor_rows and all(int(r['episode_length']) > 0 for r in actor_rows)
  evaluations = csv_rows(str(tmp_path), 'evaluator')
  assert evaluations and {row['game'] for row in evaluations} == {'Breakout'}


def test_sigterm_stops_the_finetuning_program_cleanly(pretrained_checkpoint,
                                                      tmp_path):
  process = subprocess.Popen(
      _finetune_command(pretrained_checkpoint, tmp_path,
                        '--lp_launch_type=local_mt', '--num_env_steps=10000000',
                        '--checkpoint_every_steps=20',
                        '--eval_every_steps=1000000'),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)
  deadline = time.time() + 900  # A bound for a broken run only.
  while not checkpoint_steps(str(tmp_path)) and time.time() < deadline:
    time.sleep(0.5)
  process.send_signal(signal.SIGTERM)
  output, _ = process.communicate(timeout=600)
  _assert_clean_exit(process.returncode, output, endings.STOPPED)
  steps = checkpoint_steps(str(tmp_path))
  assert steps[-1] >= 20
  assert f'Checkpoint at learner step {steps[-1]}' in output


def test_sigterm_during_start_up_under_local_mp_stops_cleanly(
    pretrained_checkpoint, tmp_path):
  """A stop while the node processes still start (imports, checkpoint
  restore, first compilation): every node sees it once its start-up ends,
  none waits on a node that never served, and Launchpad kills nothing."""
  process = subprocess.Popen(
      _finetune_command(pretrained_checkpoint, tmp_path,
                        '--lp_launch_type=local_mp',
                        '--num_env_steps=10000000'),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)
  start_up, started = [], set()
  for line in process.stdout:
    start_up.append(line)
    started.update(re.findall(r'Node (\S+): pid \d+\.', line))
    # Every node process has been started: the stop finds them importing,
    # building their datasets and restoring the checkpoint, however long
    # that takes on this machine.
    if len(started) == 6:  # replay, counter, learner, 2 actors, evaluator.
      break
  process.send_signal(signal.SIGTERM)
  output, _ = process.communicate(timeout=600)
  output = ''.join(start_up) + output
  assert process.returncode == endings.STOPPED, output[-5000:]
  assert 'Killing entire runtime' not in output
  assert 'Traceback' not in output, output[-5000:]
  assert 'Learner reached' not in output


def test_acme_dqn_builder_runs_through_make_program(tmp_path):
  """Acme's own JAX DQN (builder, learner, actor) in our online program."""
  process = subprocess.run(
      [sys.executable, os.path.join('tests', 'programs', 'dqn_online.py'),
       str(tmp_path), '200'],
      capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
  output = process.stdout + process.stderr
  _assert_clean_exit(process.returncode, output)
  assert 'Learner reached 200 steps; stopping the program.' in output
  assert checkpoint_steps(str(tmp_path))[-1] == 200
  assert csv_rows(str(tmp_path), 'actor_0')
  assert {row['game'] for row in csv_rows(str(tmp_path), 'evaluator')} == {'Pong'}


def test_finetuning_learner_starts_from_the_checkpoint_parameters(
    pretrained_checkpoint, tmp_path):
  experiment = _finetune(pretrained_checkpoint, tmp_path)
  experiment.validate()
  builder = experiment.make_builder()
  # The checkpoint's heads, the online game's head for the actors.
  assert builder.config.games == ('Pong', 'Breakout')
  assert builder.config.online_game == 'Breakout'
  spec = specs.make_environment_spec(experiment.actor_environment(0))
  server = reverb.Server(builder.make_replay_tables(spec), port=None)
  try:
    runner = experiment.make_learner_runner(
        reverb.Client(f'localhost:{server.port}'))
    state = runner.learner.save()
    loaded = checkpoint_loading.load_checkpoint(pretrained_checkpoint)
    for name, tree in (('online', state.params), ('target', state.target_params)):
      leaves = jax.tree_util.tree_leaves(tree)
      expected = jax.tree_util.tree_leaves(loaded.params)
      assert len(leaves) == len(expected), name
      for a, b in zip(leaves, expected):
        assert a.dtype == b.dtype and np.array_equal(a, b), name  # Bitwise.
    # A fresh optimiser: no step taken, Adam's moments and count all zero.
    assert int(state.steps) == 0 and runner.completed_steps() == 0
    assert all(not np.any(leaf)
               for leaf in jax.tree_util.tree_leaves(state.opt_state))

    # A restarted run resumes its own latest checkpoint, not the pre-trained.
    resumed_state = state._replace(
        params=jax.tree_util.tree_map(lambda x: x + 1, state.params),
        steps=np.int32(7))
    checkpointing.Checkpointer(
        experiment.program_config().checkpoint_dir,
        experiment.checkpoint_description()).save(7, resumed_state)
    runner = experiment.make_learner_runner(
        reverb.Client(f'localhost:{server.port}'))
    assert runner.completed_steps() == 7
    for a, b in zip(jax.tree_util.tree_leaves(runner.learner.save().params),
                    jax.tree_util.tree_leaves(resumed_state.params)):
      assert np.array_equal(a, b)
    # Another variant of the game in the same workdir is refused.
    with pytest.raises(checkpointing.CheckpointMismatchError,
                       match='mode: checkpoint has 4, this run has 8'):
      _finetune(pretrained_checkpoint, tmp_path, mode=8).validate()
  finally:
    server.stop()


def test_from_scratch_the_agent_has_one_head(tmp_path):
  experiment = _finetune(None, tmp_path, game='freeway', mode=None,
                         difficulty=None)
  experiment.validate()
  config = experiment.make_builder().config
  assert config.games == ('Freeway',) and config.num_actions == (3,)
  # The paper's 20k interaction steps, at batch 8 and 8 samples per insert.
  assert experiment.num_learner_steps == (20_000 - 1_600) * 8 // 8


def test_bad_input_is_refused_with_clear_errors(pretrained_checkpoint, tmp_path):
  with pytest.raises(ValueError, match="Unknown Atari game 'Pongg'.*Did you mean"):
    _finetune(pretrained_checkpoint, tmp_path, game='Pongg')
  with pytest.raises(ValueError, match=r"Freeway is not one of the games .* "
                                       r"trained on: \['Pong', 'Breakout'\]"):
    _finetune(pretrained_checkpoint, tmp_path, game='Freeway').validate()
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match="different network(.|\n)*network_size: checkpoint "
                           "has 'nature_dqn', this run has 'resnet_tiny'"):
    _finetune(pretrained_checkpoint, tmp_path, learner=dataclasses.replace(
        TINY_LEARNER, network_size='resnet_tiny')).validate()
  not_a_checkpoint = str(tmp_path / 'other.npz')
  np.savez(not_a_checkpoint, weights=np.zeros(3))
  with pytest.raises(checkpointing.CheckpointMismatchError,
                     match='not a Scaled Q-Learning checkpoint'):
    _finetune(not_a_checkpoint, tmp_path).validate()
  with pytest.raises(FileNotFoundError, match='does not exist'):
    _finetune(str(tmp_path / 'missing.npz'), tmp_path).validate()
  with pytest.raises(ValueError, match=r'Mode 7 is not valid for Breakout; '
                                       r'valid modes: \[0, 4, 8'):
    _finetune(pretrained_checkpoint, tmp_path, mode=7).validate()


def test_command_line_reports_bad_input(pretrained_checkpoint, tmp_path):
  for flags, message in (
      (['--game=Freeway'], "Freeway is not one of the games"),
      (['--game=Breakout', '--network_size=resnet_tiny'],
       "network_size: checkpoint has 'nature_dqn', this run has 'resnet_tiny'")):
    process = subprocess.run(
        [sys.executable, '-m', 'launchers.finetune_online',
         f'--checkpoint={pretrained_checkpoint}', f'--workdir={tmp_path}',
         *flags], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert process.returncode != 0
    assert message in process.stderr, process.stderr[-3000:]
