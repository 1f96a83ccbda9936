r"""Checks that Launchpad and Reverb work together and stop cleanly.

Runs launchers.programs.reverb_roundtrip (a Reverb server, a producer, a
consumer that checks every item and stops the program) under
--lp_launch_type; exit status 0 means the stack works and stops cleanly.

  python -m launchers.stack_check --lp_launch_type=local_mt
  python -m launchers.stack_check --lp_launch_type=local_mp --report=/tmp/r.json
"""

from absl import flags

from launchers.programs import command_line
from launchers.programs import endings
from launchers.programs import field_checks
from launchers.programs import reverb_roundtrip
from launchers.programs import stop

_NUM_ITEMS = flags.DEFINE_integer('num_items', 200, 'Items to send through Reverb.')
_REPORT = flags.DEFINE_string(
    'report', None, 'Where the consumer writes its JSON report (optional).')
field_checks.register_validators(['num_items'])


def main(argv):
  command_line.start(argv)
  stop.launch(reverb_roundtrip.make_program(_NUM_ITEMS.value,
                                            _REPORT.value or ''))


if __name__ == '__main__':
  stop.use_termination_notice_default()
  command_line.show_launch_type_flag()
  endings.run(main)
