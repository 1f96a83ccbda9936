"""What a valid value is, one rule per configuration field or flag name.

The same rule is checked in two places: on the command line, as an absl flag
validator (`register_validators`; config_flags registers them for every
generated flag), so a bad value ends the program at flag parsing, before
anything is built or launched, with absl's one line

  FATAL Flags parsing error: flag --num_steps=0: must be an integer >= 1

and by the experiments' `validate()` (`check_fields`), so library callers
get the same refusal. A name means the same thing in every dataclass and
command line that has it (e.g. `batch_size`, `num_steps`); names without a
rule take any value of their type.
"""

import dataclasses
import os
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from absl import flags

from agents.scaled_ql import config as learner_config
from agents.scaled_ql import multi_process
from atari_data import loader
from builders import agents
from environments import games as games_lib
from networks import torsos


@dataclasses.dataclass(frozen=True)
class Rule:
  """`check(value)` raises ValueError with what is wrong and what is
  valid; None (an unset optional flag) is always valid."""
  check: Callable[[Any], None]


def _predicate(is_valid: Callable[[Any], bool], valid: str) -> Rule:
  def check(value):
    if not is_valid(value):
      raise ValueError(f'must be {valid}')
  return Rule(check)


def at_least(minimum: int) -> Rule:
  return _predicate(lambda v: v >= minimum, f'an integer >= {minimum}')


def positive() -> Rule:
  return _predicate(lambda v: v > 0, 'a number > 0')


def non_negative() -> Rule:
  return _predicate(lambda v: v >= 0, 'a number >= 0')


def probability() -> Rule:
  return _predicate(lambda v: 0.0 <= v <= 1.0, 'a number in [0, 1]')


def one_of(values: Sequence[str]) -> Rule:
  return _predicate(lambda v: v in values,
                    'one of ' + ', '.join(map(str, values)))


def _check_games(names: Iterable[str]):
  for name in names:
    # The message names the game and suggests others.
    games_lib.canonical_name(name)


def a_directory(what: str) -> Rule:
  """A directory to write into: absent (it is created) or a directory."""
  def check(path):
    if os.path.exists(path) and not os.path.isdir(path):
      raise ValueError(f'{path} is a file; {what}')
  return Rule(check)


# Counts of steps, episodes, frames, items and sizes: zero of any of them is
# a run that does nothing (or divides by zero), so each must be >= 1.
_COUNTS = (
    # PretrainExperiment, FinetuneExperiment, OnlineProgramConfig
    'num_steps', 'checkpoint_every_steps', 'eval_every_steps', 'eval_episodes',
    'eval_max_episode_frames', 'episode_pool_size', 'num_env_steps',
    'num_actors', 'actor_max_episode_frames', 'learner_processes',
    # ScaledQLConfig
    'feature_dim', 'num_atoms', 'target_update_period', 'batch_size', 'n_step',
    # OnlineSettings
    'variable_update_period', 'max_replay_size', 'min_replay_size',
    'rate_limiter_timeout_ms', 'prefetch_size',
    # launchers.evaluate, diagnose, make_dataset, demo, stack_check
    'episodes', 'max_episode_frames', 'num_states', 'num_checkpoints',
    'episodes_per_checkpoint', 'steps_per_checkpoint', 'lookahead_horizon',
    'lookahead_commit_steps', 'num_items', 'return_horizon',
    # benchmarks.study.data_evidence, action_values
    'num_resamples', 'num_rollouts', 'horizon', 'replay_steps', 'rank_step',
    # Launchpad's flag, checked in the launching process (command_line)
    'lp_termination_notice_secs',
)

RULES: Mapping[str, Rule] = {
    **{name: at_least(1) for name in _COUNTS},
    # ScaledQLConfig
    'network_size': one_of(torsos.TORSO_NAMES),
    'value_loss': one_of(learner_config.VALUE_LOSSES),
    'compute_dtype': one_of(('float32', 'bfloat16')),
    'hl_gauss_sigma_ratio': positive(),
    'cql_alpha': non_negative(),
    # launchers.diagnose: 0 plays nothing, replays nothing
    'play_episodes': non_negative(),
    'reference_states': non_negative(),
    'dr3_coefficient': non_negative(),
    'learning_rate': positive(),
    'adam_eps': positive(),
    'max_gradient_norm': positive(),
    'discount': probability(),
    # OnlineSettings
    'actor_epsilon': probability(),
    'evaluation_epsilon': probability(),
    'samples_per_insert': positive(),
    'samples_per_insert_tolerance_rate': non_negative(),
    # Experiments and command lines
    'agent': one_of(agents.AGENTS),
    'games': Rule(_check_games),
    'game': Rule(games_lib.canonical_name),
    'checkpoints': Rule(loader.check_checkpoint_spec),
    'workdir': a_directory('a work directory is a directory (new, or one of '
                           'an earlier run to resume)'),
    'output_dir': a_directory('the output is a directory (new or existing)'),
    'epsilon_first': probability(),
    'epsilon_last': probability(),
    # launchers.make_dataset: a lapse includes the step it starts at
    'mean_lapse_steps': _predicate(lambda v: v >= 1, 'a number >= 1'),
    'coordinator_address': Rule(multi_process.check_coordinator_address),
}


def problem(name: str, value: Any) -> Optional[str]:
  """What is wrong with `value` for the field or flag `name` (None: valid)."""
  rule = RULES.get(name)
  if rule is None or value is None:
    return None
  try:
    rule.check(value)
  except ValueError as e:
    return str(e)
  return None


def check_fields(config) -> None:
  """Raises ValueError naming the first field of dataclass `config` whose
  value breaks its rule, the value and what is valid."""
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    found = problem(field.name, value)
    if found:
      raise ValueError(f'{field.name}={value!r}: {found}.')


def register_validators(names: Iterable[str],
                        flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Registers, for each flag of `names` that has a rule, an absl validator
  that refuses a bad value at flag parsing."""
  for name in names:
    if name not in RULES:
      continue

    def checker(value, name=name):
      found = problem(name, value)
      if found:
        raise flags.ValidationError(found)
      return True

    flags.register_validator(name, checker, flag_values=flag_values)
