r"""The main job on a small embedded default: record, pre-train, evaluate,
compare with behaviour cloning.

0. First, a problem with a known answer (environments.known_answer): a
   chain drawn in Atari-shaped frames whose data come from a behaviour that
   walks away from the rewarded end 70% of the time. Scaled QL (with the
   settings the known-answer benchmark found, benchmarks.known_answer_runs.
   CHAIN_LEARNER) and BC are pre-trained on it through the same program and
   evaluated; their returns are printed beside the data's and the optimal
   return: offline RL should reach the optimum, imitation should not.
1. Records low-quality play of a few real Atari games as an RLDS dataset in
   the RL Unplugged schema (reused when already there): two behaviour
   checkpoints, uniformly random play and 80%-random epsilon-greedy lookahead
   play, like the poor early checkpoints of a DQN run.
2. Pre-trains one multi-game Scaled Q-Learning agent (small ResNet, CQL + C51
   + DR3, one head per game) on all of it, as a Launchpad program (local_mt)
   with a learner, an evaluator and a counter.
3. Evaluates the final checkpoint on the real games and prints, per game,
   the agent's mean score next to the data's mean score, human-normalised
   scores and their mean/median/IQM, and where the learning-curve plots are.
4. Pre-trains Acme's behaviour cloning on the same data, network, steps and
   batch, evaluates it the same way and prints Scaled QL, BC and the data
   side by side: the comparison of the study (docs/STUDY.md) in miniature,
   one seed, so it shows the claim rather than settles it.

Re-running reuses the dataset and resumes (or skips) training.

  python -m launchers.demo                  # as `make demo`
  python -m launchers.demo --output_dir=/tmp/demo --num_steps=2000
"""

import os
import subprocess
import sys
import time
from typing import List, Optional

from absl import flags
from absl import logging

from agents.scaled_ql import checkpointing
from atari_data import loader
from atari_data import policies
from atari_data import recorder
from benchmarks import known_answer_runs
from environments import known_answer
from launchers.programs import checkpoint_diagnosis
from launchers.programs import command_line
from launchers.programs import endings
from launchers.programs import field_checks
from launchers.programs import results

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_OUTPUT_DIR = flags.DEFINE_string(
    'output_dir', os.path.join(_REPO_ROOT, 'demo_output'),
    'Dataset, checkpoints, logs, results and plots.')
_GAMES = flags.DEFINE_list('games', ['Breakout', 'SpaceInvaders', 'MsPacman'],
                           'Games to record and pre-train on.')
_STEPS_PER_CHECKPOINT = flags.DEFINE_integer(
    'steps_per_checkpoint', 10_000, 'Recorded agent steps per behaviour checkpoint.')
# 7,000 steps: recording, Scaled QL, BC and their evaluations fit in the
# demo's 20 minutes on a 2-core machine, with a margin (README, "The demo").
_NUM_STEPS = flags.DEFINE_integer('num_steps', 7_000,
                                  'Learner steps (of each agent).')
# 1,200 steps: on this chain alone the greedy policy was optimal in every
# state from update 800-900 on in 5 of 5 seeds, and |Q - Q*| < 0.05 from
# 1,000-1,300 (docs/KNOWN_ANSWER.md, the 'chain' task).
_KNOWN_ANSWER_STEPS = flags.DEFINE_integer(
    'known_answer_steps', 1200,
    'Learner steps of each agent on the known-answer chain (0 skips it).')
_COMPARE_BC = flags.DEFINE_bool(
    'compare_bc', True, "Also pre-train Acme's BC on the same data and "
    'budget and print it beside Scaled QL and the data.')
# The learner flags of launchers.pretrain, passed on to it. n-step 10 and
# Adam epsilon 1e-8 instead of the paper's 1 and Dopamine's 3.125e-4: within
# a CPU budget, only these made values and greedy actions state-dependent
# (docs/DEMO_SETTINGS.md has the measurements). CQL alpha 0.01 instead of
# the library's 0.1: on the known-answer chains, with this [-10, 10]
# support, alpha 0.1 lost the optimal policy in every setting tried and 0.01
# kept it (docs/KNOWN_ANSWER.md).
_LEARNER = command_line.define_learner_flags(
    {'n_step': 10, 'target_update_period': 250, 'adam_eps': 1e-8,
     'cql_alpha': 0.01})
_SEED = flags.DEFINE_integer(
    'seed', 0, 'Seeds the learner (parameters, data order) and the in-training '
    'evaluator; the recorded dataset and the final evaluation keep theirs.')
_EVAL_EPISODES = flags.DEFINE_integer('eval_episodes', 5,
                                      'Final evaluation episodes per game.')
_EVAL_MAX_FRAMES = flags.DEFINE_integer(
    'eval_max_episode_frames', 18_000,
    'Evaluation episode cap (18,000 frames = 5 minutes of play; the full '
    'protocol is 108,000).')
field_checks.register_validators(['games', 'output_dir', 'steps_per_checkpoint',
                                  'num_steps', 'known_answer_steps',
                                  'eval_episodes', 'eval_max_episode_frames'])

# Low-quality behaviour: checkpoint 0 plays uniformly at random, checkpoint 1
# takes the lookahead planner's action 20% of the time.
DEMO_BEHAVIOUR = policies.LookaheadSchedule(epsilon_first=1.0, epsilon_last=0.8)
NUM_BEHAVIOUR_CHECKPOINTS = 2


def ensure_dataset(dataset_dir: str, games, steps_per_checkpoint: int,
                   policy_factory=DEMO_BEHAVIOUR,
                   num_checkpoints: int = NUM_BEHAVIOUR_CHECKPOINTS):
  """Records the games that are not in `dataset_dir` yet."""
  missing = [game for game in games
             if not os.path.isdir(os.path.join(dataset_dir, game))]
  if missing:
    logging.info('Recording %s into %s ...', missing, dataset_dir)
    recorder.record(
        recorder.RecorderConfig(
            output_dir=dataset_dir, games=missing,
            num_checkpoints=num_checkpoints,
            steps_per_checkpoint=steps_per_checkpoint, seed=0),
        policy_factory=policy_factory)
  else:
    logging.info('Reusing the dataset in %s.', dataset_dir)
  # Fails clearly on a half-written or foreign directory.
  loader.resolve_sources(loader.LoaderConfig(games=games, source=dataset_dir))


# The in-training evaluation's episode cap: short, so that rounds stay cheap.
EVAL_MAX_EPISODE_FRAMES = 4500


def cadence_arguments(num_steps: int, eval_every_steps: Optional[int] = None
                      ) -> List[str]:
  """launchers.pretrain's flags of the demo's evaluation and checkpoint
  cadence for a run of `num_steps`: an evaluation round of 1 episode per
  game (capped at EVAL_MAX_EPISODE_FRAMES) every quarter of the steps (or
  every `eval_every_steps`), a checkpoint every eighth."""
  return [f'--eval_every_steps={eval_every_steps or max(num_steps // 4, 1)}',
          f'--checkpoint_every_steps={max(num_steps // 8, 1)}',
          '--eval_episodes=1',
          f'--eval_max_episode_frames={EVAL_MAX_EPISODE_FRAMES}']


def pretrain(dataset_dir: str, workdir: str, agent: str, games: List[str],
             num_steps: int, learner_arguments: List[str]):
  """Runs the Launchpad pre-training program of `agent` as its own process;
  a run that does not complete ends the demo with its exit status (its last
  line says why and how to resume)."""
  command = [
      sys.executable, '-m', 'launchers.pretrain', '--lp_launch_type=local_mt',
      f'--agent={agent}', f'--games={",".join(games)}',
      f'--dataset={dataset_dir}', '--checkpoints=all',
      f'--num_steps={num_steps}', *learner_arguments, f'--seed={_SEED.value}',
      *cadence_arguments(num_steps), f'--workdir={workdir}'] + (
          ['--verbose'] if flags.FLAGS.verbose else [])
  logging.info('Pre-training: %s', ' '.join(command))
  status = subprocess.run(command, check=False, cwd=_REPO_ROOT).returncode
  if status != endings.COMPLETED:
    sys.exit(status)


# The known-answer part: the wrong-majority chain, its recording (the
# benchmark's size) and the agents compared on it.
KNOWN_ANSWER_GAME = 'KnownAnswerChain'
KNOWN_ANSWER_EPISODES = 20


def known_answer_part(steps: int) -> str:
  """Records the chain, pre-trains Scaled QL and BC on it, and returns the
  comparison to print (the chain's returns: 1 for reaching the goal)."""
  directory = os.path.join(_OUTPUT_DIR.value, 'known_answer')
  dataset_dir = os.path.join(directory, 'dataset')
  ensure_dataset(dataset_dir, [KNOWN_ANSWER_GAME],
                 known_answer_runs.TRANSITIONS_PER_GAME,
                 policy_factory=known_answer.behaviour_factory,
                 num_checkpoints=1)
  learner_arguments = [f'--{name}={value}' for name, value in {
      **known_answer_runs.CHAIN_LEARNER,
      'discount': known_answer.RESOLVABLE_DISCOUNT}.items()]
  tables = {}
  for name, agent in (('Scaled QL', 'scaled_ql'), ('BC', 'bc')):
    workdir = os.path.join(directory, agent)
    pretrain(dataset_dir, workdir, agent, [KNOWN_ANSWER_GAME], steps,
             learner_arguments)
    latest = checkpointing.latest_checkpoint(
        os.path.join(workdir, 'checkpoints'))
    tables[name] = results.evaluate_checkpoint(
        latest[1], KNOWN_ANSWER_EPISODES, max_episode_frames=400, seed=12345,
        dataset=dataset_dir, checkpoints='all', workdir=workdir)
  random_return, optimal_return = known_answer.reference_returns(
      KNOWN_ANSWER_GAME)
  return (
      f'A known answer first: {KNOWN_ANSWER_GAME}, 8 cells, reward 1 at the '
      'right end; the data walk away from it 70% of the time. Mean return '
      f'over {KNOWN_ANSWER_EPISODES} episodes after {steps} learner steps '
      f'(optimal {optimal_return:.2f}, uniform random {random_return:.2f}; '
      'the "human-normalised" IQM is the fraction of the way from random to '
      'optimal play):\n' + results.format_comparison(tables))


def main(argv):
  command_line.start(argv)
  timings = {}
  known_answer_comparison = None
  if _KNOWN_ANSWER_STEPS.value:
    start = time.time()
    known_answer_comparison = known_answer_part(_KNOWN_ANSWER_STEPS.value)
    timings['known answer'] = time.time() - start
    print()
    print(known_answer_comparison)
  dataset_dir = os.path.join(_OUTPUT_DIR.value, 'dataset')
  workdirs = {'Scaled QL': os.path.join(_OUTPUT_DIR.value, 'run')}
  if _COMPARE_BC.value:
    workdirs['BC'] = os.path.join(_OUTPUT_DIR.value, 'run_bc')
  start = time.time()
  ensure_dataset(dataset_dir, _GAMES.value, _STEPS_PER_CHECKPOINT.value)
  timings['record'] = time.time() - start
  tables = {}
  for name, workdir in workdirs.items():
    start = time.time()
    pretrain(dataset_dir, workdir, 'scaled_ql' if name == 'Scaled QL'
             else 'bc', _GAMES.value, _NUM_STEPS.value,
             command_line.learner_flag_arguments(_LEARNER))
    timings[f'pre-train {name}'] = time.time() - start
    start = time.time()
    latest = checkpointing.latest_checkpoint(
        os.path.join(workdir, 'checkpoints'))
    tables[name] = results.evaluate_checkpoint(
        latest[1], _EVAL_EPISODES.value, _EVAL_MAX_FRAMES.value, seed=12345,
        dataset=dataset_dir, checkpoints='all', workdir=workdir)
    timings[f'evaluate {name}'] = time.time() - start
  table = tables['Scaled QL']
  _, representation = checkpoint_diagnosis.diagnose_checkpoint(
      table['checkpoint'], dataset_dir)
  if known_answer_comparison:
    print()
    print(known_answer_comparison)
  print()
  print(f'Scaled Q-Learning demo: {len(_GAMES.value)} games, learner step '
        f'{table["learner_step"]}, evaluation episodes capped at '
        f'{_EVAL_MAX_FRAMES.value} frames.')
  print(results.format_table(table))
  print()
  print('What the network learned, on 1024 dataset states '
        '(launchers.diagnose):')
  print(checkpoint_diagnosis.format_diagnostics(representation))
  if len(tables) > 1:
    print()
    print(f'Scaled QL, BC and the data they learned from ({_EVAL_EPISODES.value}'
          ' episodes per game, one seed: docs/STUDY.md has the multi-seed '
          'study):')
    print(results.format_comparison(tables))
  print()
  for name, agent_table in tables.items():
    for plot in agent_table['plots']:
      print(f'plot ({name}): {plot}')
    print(f'results ({name}): '
          f'{os.path.join(workdirs[name], "evaluation", "results.md")}')
  print('time: ' + ', '.join(f'{phase} {seconds / 60:.1f} min'
                             for phase, seconds in timings.items()))


if __name__ == '__main__':
  endings.run(main)
