"""Named torsos: the sizes a config can ask for."""

import haiku as hk

from networks import nature_dqn
from networks import resnet

TORSO_NAMES = ("nature_dqn",) + tuple(resnet.RESNET_SIZES)


def make_torso(name: str) -> hk.Module:
  """A torso module by name; must be called inside hk.transform."""
  if name == "nature_dqn":
    return nature_dqn.NatureDQNTorso(name="torso")
  if name in resnet.RESNET_SIZES:
    return resnet.ResNetTorso(resnet.RESNET_SIZES[name], name="torso")
  raise ValueError(f"Unknown torso {name!r}; known: {TORSO_NAMES}")
