"""Command-line flags generated from configuration dataclasses.

Every scalar field of a dataclass (int, float, str, bool, their Optional
forms, and tuples of str) becomes an absl flag of the same name, with the
field's default and, as help, the field's entry in the class docstring's
"Attributes:" section. A new config field thus becomes a flag of every
command line that uses its class, with no more code. Fields holding other
dataclasses (e.g. PretrainExperiment.learner) are skipped: define flags for
their class as well.
"""

import dataclasses
import re
import sys
import typing
from typing import Any, Dict, Mapping, Optional, Sequence

from absl import flags

from launchers.programs import field_checks

_ENTRY = re.compile(r'^(\s*)([a-z_][a-z0-9_]*(?:, [a-z_][a-z0-9_]*)*): (.*)$')


def attribute_docs(cls) -> Dict[str, str]:
  """field -> its text in `cls`'s docstring "Attributes:" section (entries
  naming several fields, 'v_min, v_max: ...', give each the same text)."""
  doc = cls.__doc__ or ''
  if 'Attributes:' not in doc:
    return {}
  lines = doc.split('Attributes:', 1)[1].splitlines()
  entries = [(len(m.group(1)), i) for i, m in
             ((i, _ENTRY.match(line)) for i, line in enumerate(lines)) if m]
  if not entries:
    return {}
  indent = min(width for width, _ in entries)
  docs, names, text = {}, None, []

  def finish():
    if names:
      for name in names:
        docs[name] = ' '.join(text)

  for line in lines:
    match = _ENTRY.match(line)
    if match and len(match.group(1)) == indent:
      finish()
      names, text = match.group(2).split(', '), [match.group(3).strip()]
    elif names and line.strip():
      text.append(line.strip())
  finish()
  return docs


def _flag_kind(annotation):
  """(absl DEFINE function, converter to the field's type) or None."""
  if typing.get_origin(annotation) is typing.Union:
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(arguments) != 1:
      return None
    annotation = arguments[0]
  if typing.get_origin(annotation) is tuple:
    if typing.get_args(annotation) == (str, Ellipsis):
      return flags.DEFINE_list, lambda value: (
          None if value is None else tuple(value))
    return None
  return {
      bool: (flags.DEFINE_bool, None),
      int: (flags.DEFINE_integer, None),
      float: (flags.DEFINE_float, None),
      str: (flags.DEFINE_string, None),
  }.get(annotation)


def calling_module_name(depth: int = 2) -> str:
  """The module `depth` frames up, named as absl names flag modules."""
  name = sys._getframe(depth).f_globals['__name__']  # pylint: disable=protected-access
  return sys.argv[0] if name == '__main__' else name


def define_flags(cls, defaults: Optional[Mapping[str, Any]] = None,
                 exclude: Sequence[str] = (),
                 flag_values: flags.FlagValues = flags.FLAGS,
                 module_name: Optional[str] = None
                 ) -> Dict[str, flags.FlagHolder]:
  """Defines a flag for every scalar field of dataclass `cls`.

  Args:
    cls: the dataclass.
    defaults: field -> the command line's default, for fields whose
      dataclass default does not suit it or that have none (stated in the
      command line that uses them).
    exclude: fields that get no flag.
    flag_values: where the flags are defined.
    module_name: the module the flags belong to (its --help lists them);
      default: the caller's.

  Returns:
    field -> its flag holder.

  The flags belong to the calling module, so its --help lists them, and
  each has the validator of its field's rule (field_checks), so a bad value
  ends the program at flag parsing.
  """
  module_name = module_name or calling_module_name()
  defaults = dict(defaults or {})
  unknown = set(defaults) - {f.name for f in dataclasses.fields(cls)}
  if unknown:
    raise ValueError(f'{cls.__name__} has no fields {sorted(unknown)}.')
  hints = typing.get_type_hints(cls)
  docs = attribute_docs(cls)
  holders = {}
  for field in dataclasses.fields(cls):
    kind = _flag_kind(hints[field.name])
    if field.name in exclude or kind is None:
      continue
    if field.name in defaults:
      default = defaults[field.name]
    elif field.default is not dataclasses.MISSING:
      default = field.default
    else:
      default = None
    if isinstance(default, tuple):
      default = list(default)
    holders[field.name] = kind[0](
        field.name, default, docs.get(field.name, field.name),
        flag_values=flag_values, module_name=module_name)
  field_checks.register_validators(holders, flag_values)
  return holders


def flag_values(cls, holders: Mapping[str, flags.FlagHolder]
                ) -> Dict[str, Any]:
  """field -> the value of its flag, converted to the field's type."""
  hints = typing.get_type_hints(cls)
  values = {}
  for name, holder in holders.items():
    convert = _flag_kind(hints[name])[1]
    values[name] = convert(holder.value) if convert else holder.value
  return values


def given_on_command_line(holders: Mapping[str, flags.FlagHolder]
                          ) -> Dict[str, Any]:
  """The flags of `holders` that the command line set explicitly."""
  return {name: holder.value for name, holder in holders.items()
          if holder.present}


def parse_assignments(assignments: Sequence[str], defaults: Any,
                      flag: str) -> tuple:
  """['name=value', ...] -> (('name', value), ...) for fields of the
  dataclass instance `defaults`, each value of its field's type (booleans
  'true' or 'false'); unknown fields and bad values are refused with a
  ValueError naming `flag`, the assignment and what is valid."""
  fields = sorted(field.name for field in dataclasses.fields(defaults))
  parsed = []
  for assignment in assignments:
    name, separator, text = assignment.partition('=')
    if not separator or name not in fields:
      raise ValueError(
          f'{flag} {assignment!r}: expected field=value with a '
          f'{type(defaults).__name__} field, one of {fields}.')
    kind = type(getattr(defaults, name))
    if kind is bool:
      if text not in ('true', 'false'):
        raise ValueError(f'{flag} {assignment!r}: {name} is true or false.')
      value = text == 'true'
    else:
      try:
        value = kind(text)
      except ValueError:
        raise ValueError(f'{flag} {assignment!r}: {name} takes a '
                         f'{kind.__name__}, got {text!r}.') from None
    parsed.append((name, value))
  return tuple(parsed)
