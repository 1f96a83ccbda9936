"""How the Launchpad programs end when SIGTERM comes a given time after start.

    python -m benchmarks.stop_sweep --program pretrain \\
        --dataset demo_output/dataset --games Breakout,MsPacman --delays 4 8 15
    python -m benchmarks.stop_sweep --program finetune \\
        --checkpoint demo_output/run/checkpoints/checkpoint-0000016000.npz \\
        --delays 4 8 25

For each delay: starts the launcher (`launchers.pretrain` with a nature_dqn
network, or `launchers.finetune_online` on Breakout with 2 actors) under
--launch-type in a fresh work dir, sends SIGTERM after the delay, and prints
the exit status (0: clean; -9: Launchpad killed the runtime; -15: the
launcher ended by the signal before Launchpad started), how long the stop
took, and the node groups Launchpad reported as not terminating in time.
Each run's output is kept in <workdir>/delay_<D>.log.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time


def _command(args, workdir):
  if args.program == 'pretrain':
    flags = ['launchers.pretrain', f'--games={args.games}',
             f'--dataset={args.dataset}', '--checkpoints=all',
             '--network_size=nature_dqn', '--batch_size=8',
             '--num_steps=1000000', '--checkpoint_every_steps=50',
             '--eval_every_steps=1000000']
  else:
    flags = ['launchers.finetune_online', f'--checkpoint={args.checkpoint}',
             '--game=Breakout', '--mode=4', '--difficulty=1', '--batch_size=8',
             '--min_replay_size=100', '--samples_per_insert=4',
             '--num_actors=2', '--actor_max_episode_frames=800',
             '--num_env_steps=1000000']
  return [sys.executable, '-m', *flags, '--eval_max_episode_frames=400',
          f'--workdir={workdir}', f'--lp_launch_type={args.launch_type}']


def _stop_after(args, delay: float):
  """(exit status, seconds from SIGTERM to exit, groups killed)."""
  run_dir = os.path.join(args.workdir, f'run_{delay:g}')
  shutil.rmtree(run_dir, ignore_errors=True)
  log_path = os.path.join(args.workdir, f'delay_{delay:g}.log')
  with open(log_path, 'w') as log:
    process = subprocess.Popen(_command(args, run_dir), stdout=log,
                               stderr=subprocess.STDOUT)
    time.sleep(delay)
    process.send_signal(signal.SIGTERM)
    stopped_at = time.time()
    returncode = process.wait()
    stop_seconds = time.time() - stopped_at
  with open(log_path, errors='replace') as log:
    killed = re.findall(r'did not terminate in time: (\[[^\]]*\])', log.read())
  return returncode, stop_seconds, killed[0] if killed else ''


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--program', choices=['pretrain', 'finetune'],
                      required=True)
  parser.add_argument('--dataset', help='pretrain: launchers.make_dataset dir')
  parser.add_argument('--games', default='Breakout,MsPacman',
                      help='pretrain: games of the dataset')
  parser.add_argument('--checkpoint', help='finetune: a pre-training checkpoint '
                      'that knows Breakout')
  parser.add_argument('--delays', type=float, nargs='+',
                      default=[4, 6, 8, 12, 16, 25])
  parser.add_argument('--launch-type', default='local_mp',
                      choices=['local_mt', 'local_mp'])
  parser.add_argument('--workdir', default='/tmp/stop_sweep')
  args = parser.parse_args()
  if args.program == 'pretrain' and not args.dataset:
    parser.error('--program pretrain needs --dataset')
  if args.program == 'finetune' and not args.checkpoint:
    parser.error('--program finetune needs --checkpoint')
  os.makedirs(args.workdir, exist_ok=True)

  print(f'{args.program} under {args.launch_type}, SIGTERM after each delay')
  print('| delay s | exit status | stop took s | not terminated in time |')
  print('|---:|---:|---:|---|')
  for delay in args.delays:
    returncode, stop_seconds, killed = _stop_after(args, delay)
    print(f'| {delay:g} | {returncode} | {stop_seconds:.1f} | {killed} |',
          flush=True)


if __name__ == '__main__':
  main()
