"""What the command lines share: learner flags, launch-type help, output.

The learner flags are generated once from ScaledQLConfig (config_flags), so
`launchers.pretrain` and `launchers.finetune_online` take the same ones with
the same defaults. The command lines' defaults that differ from the
library's are stated here, in COMMAND_LINE_LEARNER_DEFAULTS.
"""

from typing import Any, Dict, Mapping, Optional

from absl import app
from absl import flags
from absl import logging

from agents.scaled_ql import checkpointing
from agents.scaled_ql import config as learner_config
from agents.scaled_ql import host_memory
from launchers.programs import config_flags
from launchers.programs import endings
from launchers.programs import field_checks
from launchers.programs import quiet_output

# ScaledQLConfig's batch_size, 256, is the paper's TPU global batch; the
# command lines run on CPUs and take [batchrl]'s 32.
COMMAND_LINE_LEARNER_DEFAULTS = {'batch_size': 32}


def define_learner_flags(defaults: Optional[Mapping[str, Any]] = None
                         ) -> Dict[str, flags.FlagHolder]:
  """A flag per ScaledQLConfig field, with COMMAND_LINE_LEARNER_DEFAULTS and
  then `defaults` (a command line's own) applied; call it from the command
  line's module (its --help lists them)."""
  return config_flags.define_flags(
      learner_config.ScaledQLConfig,
      {**COMMAND_LINE_LEARNER_DEFAULTS, **(defaults or {})},
      module_name=config_flags.calling_module_name())


def learner_flag_arguments(holders: Mapping[str, flags.FlagHolder]):
  """The learner flags' values as arguments for another command line."""
  return [f'--{name}={holder.value}' for name, holder in holders.items()]


def learner_from_flags(holders: Mapping[str, flags.FlagHolder],
                       checkpoint: Optional[str] = None
                       ) -> learner_config.ScaledQLConfig:
  """The ScaledQLConfig the learner flags ask for.

  With `checkpoint`, network flags (checkpointing.NETWORK_FIELDS) not given
  on the command line take the checkpoint's values, so that only a network
  asked for explicitly can differ from it (and is then refused).
  """
  values: Dict[str, Any] = config_flags.flag_values(
      learner_config.ScaledQLConfig, holders)
  if checkpoint:
    settings = checkpointing.network_settings(
        checkpointing.read_description(checkpoint))
    given = config_flags.given_on_command_line(holders)
    values.update({field: value for field, value in settings.items()
                   if field not in given})
  return learner_config.ScaledQLConfig(**values)


_VERBOSE = flags.DEFINE_bool(
    'verbose', False,
    "Show third-party deprecation warnings and Launchpad's start-up lines, "
    "which are hidden by default (as is absl's -v 1 or higher).")


def show_launch_type_flag():
  """Lists Launchpad's --lp_launch_type (and --lp_termination_notice_secs)
  in the calling command line's --help."""
  import launchpad  # pylint: disable=g-import-not-at-top,unused-import
  module_name = config_flags.calling_module_name()
  for name in ('lp_launch_type', 'lp_termination_notice_secs'):
    flags.FLAGS.register_key_flag_for_module(module_name, flags.FLAGS[name])
  flags.register_validator(
      'lp_launch_type', lambda value: value in LAUNCH_TYPES,
      f'the programs run under {" or ".join(LAUNCH_TYPES)} (this machine)')
  field_checks.register_validators(['lp_termination_notice_secs'])


# The Launchpad launch types of the project's programs: this machine's.
LAUNCH_TYPES = ('local_mt', 'local_mp')


def start(argv):
  """What every main() does first: refuses positional arguments, lets
  XLA:CPU reuse its freed buffers (host_memory), makes a stop signal end
  the command cleanly (endings) and applies --verbose / -v to what the
  program prints."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  try:
    host_memory.reuse_freed_memory()
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  endings.install_stop_signals()
  quiet_output.set_verbose(_VERBOSE.value or
                           logging.get_verbosity() > logging.INFO)
