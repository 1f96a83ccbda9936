r"""Does the learner converge to known right answers? Known-answer learning.

    python -m benchmarks.known_answer_learning                 # the table
    python -m benchmarks.known_answer_learning --tasks=two_game \
        --variants=study --set cql_alpha=0.01 --seeds=0,1     # one change

Each run records a task's problems with their own behaviours through the
real recorder (environments.known_answer; the seed draws the data and the
initialisation), reads them back through the RLDS loader with its n-step
folding, trains one learner through the project's update step (or Acme's BC
learner), and every --eval_every updates measures on 2,048 of the data's
transitions, whose cells are decoded from their frames:
  greedy_optimal: fraction whose greedy action is the optimal one;
  q_error: mean |Q(s, a) - Q*(s, a)| over the data's (s, a);
  v_error: mean |max_a Q(s, a) - V*(s)|;
  wait_excess: mean Q(s, wait) - Q*(s, wait) where a wait action exists
    (positive: over-estimated);
  q_max: the largest Q over the probe's valid actions.
`solved_at` is the first evaluation with greedy_optimal >= 0.95 and
q_error < 0.05 in every game of the task. At the end the greedy policy
plays --episodes episodes of each game (the evaluator's scoring: summed
rewards), against the exact returns of optimal and uniform random play and
the data's own.

Variants: the library's ScaledQLConfig defaults (at batch 32), the study's
settings (benchmarks.study.config.BASE_LEARNER) and its ablations, Acme's
BC, and 'tabular': the same update step with the network replaced by a
table of head outputs per (game, cell), which separates what the loss
converges to from what the network learns. --set overrides learner fields
of every variant (the dissection's one change at a time); the overrides
name the run.

One JSON per run in --output_dir/runs (skipped when present, written
atomically), then the table (results.md) and the value-error curves
(value_error.png) over every run there.
"""

import os

from absl import app
from absl import flags
# TensorFlow's first import must come before absl's app.run: made inside
# main (known_answer_runs imports the recorder and loader lazily, so that
# the GPU check runs without TensorFlow), TF 2.8's tf.data then failed at
# the loader's first iterator with InvalidArgumentError "Unable to find
# FunctionDef for __inference_Dataset_flat_map_read_one_file".
from atari_data import loader  # pylint: disable=unused-import

from agents.scaled_ql import config as learner_config
from agents.scaled_ql import host_memory
from benchmarks import results as results_lib
from benchmarks.known_answer_runs import (RunSpec, TASKS, VARIANTS, run,
                                          write_report)
from environments import known_answer
from launchers.programs import config_flags

_TASKS = flags.DEFINE_list('tasks', ['two_game'], f'Of {list(TASKS)}.')
_VARIANTS = flags.DEFINE_list('variants', list(VARIANTS), f'Of {list(VARIANTS)}.')
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2', '3', '4'], 'Seeds.')
_SETS = flags.DEFINE_multi_string(
    'set', [], 'learner field=value applied to every variant (repeatable).')
_NUM_UPDATES = flags.DEFINE_integer('num_updates', 3000, 'Updates per run.')
_EVAL_EVERY = flags.DEFINE_integer('eval_every', 250, 'Updates between probes.')
_DISCOUNT = flags.DEFINE_float('discount', known_answer.RESOLVABLE_DISCOUNT,
                               'Gamma of the loader and of Q*.')
_EPISODES = flags.DEFINE_integer('episodes', 20, 'Final episodes per game.')
_OUTPUT_DIR = flags.DEFINE_string(
    'output_dir', 'docs/known_answer', 'runs/, data/, results.md, the plot.')
_REPORT_ONLY = flags.DEFINE_bool('report_only', False, 'Only the report.')


def main(argv):
  del argv
  host_memory.reuse_freed_memory()
  output_dir = _OUTPUT_DIR.value
  if not _REPORT_ONLY.value:
    for name in _TASKS.value + _VARIANTS.value:
      if name not in TASKS and name not in VARIANTS:
        raise app.UsageError(f'{name!r} is neither a task {list(TASKS)} nor '
                             f'a variant {list(VARIANTS)}.')
    overrides = config_flags.parse_assignments(
        _SETS.value, learner_config.ScaledQLConfig(), '--set')
    for task in _TASKS.value:
      for variant in _VARIANTS.value:
        for seed in _SEEDS.value:
          spec = RunSpec(task, variant, int(seed), overrides,
                         _NUM_UPDATES.value, _EVAL_EVERY.value,
                         _DISCOUNT.value, _EPISODES.value)
          path = os.path.join(output_dir, 'runs', spec.name + '.json')
          if os.path.exists(path):
            continue
          results_lib.write_json_atomically(
              path, run(spec, os.path.join(output_dir, 'data')))
  write_report(output_dir)


if __name__ == '__main__':
  app.run(main)
