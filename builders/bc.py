"""Behaviour cloning with Acme's own BC learner, on this project's network.

The baseline the paper beats: a multi-game policy trained by maximum
likelihood on the dataset's actions. It reuses everything of Scaled QL but
the learning rule, so a comparison isolates offline RL from imitation:

* the network is the same multi-game network (torso, projection, feature
  normalisation, one head per game) with a 'scalar' head, one output per
  action, read as the policy's logits (padded actions of a smaller game are
  INVALID_ACTION_VALUE, so they get no probability);
* the learner is `acme.agents.jax.bc.BCLearner` with Acme's `logp` loss
  (negative log-likelihood of the data's action), the optimiser of
  agents.scaled_ql.update_step (global-norm clipping, Adam) and the RLDS
  loader's batches;
* actors and evaluators act greedily on the logits (the policy's mode),
  epsilon-greedy with the same epsilons as Scaled QL's, through
  ScaledQLBuilder.make_policy.

Settings come from the same ScaledQLConfig: network_size, feature_dim,
compute_dtype, learning_rate, adam_eps, max_gradient_norm and batch_size
(the value-learning fields are not used). Offline only: BC has no online
fine-tuning here.
"""

from typing import Any, Iterator, Optional

from acme import types as acme_types
from acme.agents.jax import bc
from acme.jax import networks as acme_networks
from acme.utils import counting
from acme.utils import loggers
import jax
import jax.numpy as jnp

from agents.scaled_ql import networks as scaled_ql_networks
from agents.scaled_ql import types as agent_types
from agents.scaled_ql import update_step
from builders import builder as builder_lib
from networks import multi_game


def to_demonstrations(
    batches: Iterator[agent_types.MultiGameTransition]
) -> Iterator[acme_types.Transition]:
  """The loader's batches as the (observation, action) pairs BC reads.

  The observation carries the game id next to the frames, so the network
  picks each example's head; the next observation is left out (BC never
  reads it, and it would double the bytes moved per step).
  """
  for batch in batches:
    yield acme_types.Transition(
        observation=(batch.observation, batch.game_id), action=batch.action,
        reward=batch.reward, discount=batch.discount, next_observation=())


def log_probability(logits: jax.Array, action: jax.Array) -> jax.Array:
  """log pi(action | s) under softmax(logits); [B, A], [B] -> [B]."""
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  return jnp.take_along_axis(log_probs, action[:, None].astype(jnp.int32),
                             axis=-1)[:, 0]


def make_policy_network(
    network: multi_game.MultiGameQNetwork) -> acme_networks.FeedForwardNetwork:
  """`network` in the (init, apply(params, obs, is_training, key)) form
  that Acme's BC learner expects; apply returns the policy logits."""

  def apply(params, observation, is_training=False, key=None):
    del is_training, key
    frames, game_id = observation
    return network.apply(params, frames, game_id).q_values

  return acme_networks.FeedForwardNetwork(init=network.init, apply=apply)


class MultiGameBCBuilder(builder_lib.ScaledQLBuilder):
  """Builds the BC network and Acme's BC learner for the offline program."""

  def make_networks(self) -> multi_game.MultiGameQNetwork:
    config = self.config.learner
    return multi_game.make_multi_game_q_network(
        num_actions=self.config.num_actions, torso_name=config.network_size,
        feature_dim=config.feature_dim,
        compute_dtype=scaled_ql_networks.COMPUTE_DTYPES[config.compute_dtype],
        value_head='scalar')

  def make_learner(
      self,
      random_key: jax.Array,
      networks: multi_game.MultiGameQNetwork,
      dataset: Iterator[agent_types.MultiGameTransition],
      replay_client: Optional[Any] = None,
      counter: Optional[counting.Counter] = None,
  ) -> bc.BCLearner:
    """Acme's BCLearner; it counts `steps` on `counter` as Acme's layouts
    expect (callers pass it prefixed, e.g. Counter(parent, 'learner'))."""
    if replay_client is not None:
      raise ValueError('MultiGameBCBuilder is offline only: it learns from '
                       'a dataset, not from a replay table.')
    learner = bc.BCLearner(
        network=make_policy_network(networks), random_key=random_key,
        loss_fn=bc.logp(log_probability),
        optimizer=update_step.make_optimizer(self.config.learner),
        demonstrations=to_demonstrations(dataset), num_sgd_steps_per_step=1,
        logger=self._logger_fn() or loggers.NoOpLogger(),
        counter=counter or counting.Counter())
    # BCLearner starts its step count as a Python int and its jitted step
    # returns an int32 array: start with the latter, so that a fresh
    # learner's state has the structure and dtypes of every saved one (the
    # checkpointer restores into a fresh learner's state).
    learner.restore(learner.save()._replace(steps=jnp.zeros((), jnp.int32)))
    return learner
