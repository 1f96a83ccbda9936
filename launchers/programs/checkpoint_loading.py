"""A checkpoint as an agent: its builder and parameters, rebuilt from the file.

The agent and its network are rebuilt from the checkpoint's own description
(agent, games, action counts, network settings), so a checkpoint is
evaluated, diagnosed or fine-tuned without knowing the run that wrote it.
"""

import dataclasses
import os
from typing import Any, List, Optional, Sequence

import jax

from agents.scaled_ql import checkpointing
from agents.scaled_ql import config as learner_config
from builders import agents
from builders import builder as builder_lib
from builders import config as builder_config
from environments import games as games_lib
from launchers.programs import evaluator as evaluator_lib


class CheckpointVariableSource:
  """Serves the parameters of a checkpoint as a learner would."""

  def __init__(self, params):
    self._params = params

  def get_variables(self, names: Sequence[str]) -> List[Any]:
    return [self._params for _ in names]


@dataclasses.dataclass(frozen=True)
class LoadedCheckpoint:
  path: str
  step: int
  builder: builder_lib.ScaledQLBuilder
  params: Any


def checkpoint_path(workdir: Optional[str], checkpoint: Optional[str]) -> str:
  """`checkpoint` if given, else the newest checkpoint of run `workdir` that
  reads back (a damaged newer one is skipped, with a warning).

  Raises:
    ValueError: neither is given, or `workdir` has no readable checkpoint.
  """
  if checkpoint:
    return checkpoint
  if not workdir:
    raise ValueError('Give --workdir or --checkpoint.')
  newest = checkpointing.newest_readable(os.path.join(workdir, 'checkpoints'))
  if newest is None:
    raise ValueError(f'No readable checkpoint in {workdir}/checkpoints.')
  return newest[1]


def load_checkpoint(path: str) -> LoadedCheckpoint:
  """The builder and online parameters of checkpoint `path`.

  Raises:
    CheckpointMismatchError: a game's action set today differs from the one
      the checkpoint was trained with (e.g. a full vs minimal action set).
  """
  description = checkpointing.read_description(path)
  games = tuple(description['games'])
  num_actions = tuple(description['num_actions'])
  for game, trained in zip(games, num_actions):
    available = len(games_lib.action_set(game))
    if available != trained:
      raise checkpointing.CheckpointMismatchError(
          f'{path} was trained with {trained} actions for {game}, but the '
          f'environment offers {available}: the action spaces do not match.')
  config = learner_config.ScaledQLConfig(
      **checkpointing.network_settings(description))
  builder = agents.make_builder(
      checkpointing.agent_of(description), builder_config.ScaledQLBuilderConfig(
          learner=config, games=games, num_actions=num_actions))
  # A learner of the checkpoint's agent, never stepped, gives the state's
  # structure and then serves the restored policy parameters.
  learner = builder.make_learner(random_key=jax.random.PRNGKey(0),
                                 networks=builder.make_networks(),
                                 dataset=iter(()))
  checkpointer = checkpointing.Checkpointer(os.path.dirname(path), description)
  step, state = checkpointer.restore(template=learner.save(), path=path)
  learner.restore(state)
  return LoadedCheckpoint(path, step, builder,
                          learner.get_variables(['policy'])[0])


def make_evaluator(loaded: LoadedCheckpoint, episodes_per_game: int,
                   max_episode_frames: int, seed: int
                   ) -> evaluator_lib.Evaluator:
  """An in-process evaluator of every game of `loaded`, under the evaluation
  protocol with episodes capped at `max_episode_frames`."""
  return evaluator_lib.Evaluator(
      actor_factory=evaluator_lib.scaled_ql_actor_factory(
          loaded.builder, CheckpointVariableSource(loaded.params)),
      games=loaded.builder.config.games, episodes_per_game=episodes_per_game,
      environment_factory=evaluator_lib.make_evaluation_environment_factory(
          max_episode_frames),
      seed=seed)
