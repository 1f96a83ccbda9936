"""Flags generated from configuration dataclasses: names, types, defaults, help."""

import dataclasses
from typing import Optional, Tuple

from absl import flags
import pytest

from agents.scaled_ql import config as learner_config
from launchers.programs import config_flags


@dataclasses.dataclass(frozen=True)
class _Config:
  """Attributes:

    games: games to play,
      in head order.
    steps: learner steps.
    rate, decay: optimiser settings.
    mode: an ALE mode; None: the game's.
    verbose: print more.
    nested: not a flag.
  """
  games: Tuple[str, ...]
  steps: int = 10
  rate: float = 0.5
  decay: float = 0.9
  mode: Optional[int] = None
  verbose: bool = False
  nested: learner_config.ScaledQLConfig = learner_config.ScaledQLConfig()


def test_attribute_docs_read_every_entry_and_its_continuation():
  docs = config_flags.attribute_docs(_Config)
  assert docs['games'] == 'games to play, in head order.'
  assert docs['rate'] == docs['decay'] == 'optimiser settings.'
  assert docs['mode'] == "an ALE mode; None: the game's."


def test_every_scalar_field_is_a_flag_with_its_default_and_type():
  values = flags.FlagValues()
  holders = config_flags.define_flags(_Config, defaults={'games': ('Pong',)},
                                      flag_values=values)
  assert sorted(holders) == ['decay', 'games', 'mode', 'rate', 'steps',
                             'verbose']
  values(['prog', '--steps=7', '--games=Pong,Breakout', '--mode=4'])
  parsed = config_flags.flag_values(_Config, holders)
  assert parsed == {'games': ('Pong', 'Breakout'), 'steps': 7, 'rate': 0.5,
                    'decay': 0.9, 'mode': 4, 'verbose': False}
  assert config_flags.given_on_command_line(holders) == {
      'steps': 7, 'games': ['Pong', 'Breakout'], 'mode': 4}
  assert values['rate'].help == 'optimiser settings.'
  with pytest.raises(flags.IllegalFlagValueError):
    values['steps'].parse('many')


def test_each_learner_config_field_becomes_a_flag():
  values = flags.FlagValues()
  holders = config_flags.define_flags(learner_config.ScaledQLConfig,
                                      flag_values=values)
  fields = {field.name for field in
            dataclasses.fields(learner_config.ScaledQLConfig)}
  assert set(holders) == fields
  values(['prog'])
  assert learner_config.ScaledQLConfig(**config_flags.flag_values(
      learner_config.ScaledQLConfig, holders)) == learner_config.ScaledQLConfig()


def test_a_default_for_a_field_that_does_not_exist_is_refused():
  with pytest.raises(ValueError, match=r"_Config has no fields \['step'\]"):
    config_flags.define_flags(_Config, defaults={'step': 3},
                              flag_values=flags.FlagValues())
