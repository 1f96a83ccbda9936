"""The Scaled Q-Learning builder: the agent's parts for Acme's layouts.

One builder serves offline pre-training and online fine-tuning:

* offline, `make_learner` is given an iterator of `MultiGameTransition`
  batches from the RLDS loader (atari_data), and no Reverb is involved;
* online, `make_replay_tables`, `make_adder`, `make_dataset_iterator` and
  `make_actor` give Acme's Reverb transition replay and actors, and the
  learner is the same one, fed from Reverb.

Built from Acme 0.4.0's `ActorLearnerBuilder` interface and its parts (the
generic actor and actor core, `VariableClient`, `NStepTransitionAdder`,
counters); `make_networks` and `make_policy` follow the names Acme's later
versions use.
"""

from typing import Callable, Iterator, List, Optional

from acme import adders
from acme import core
from acme import specs
from acme.adders import reverb as adders_reverb
from acme.agents.jax import actor_core as actor_core_lib
from acme.agents.jax import actors
from acme.agents.jax import builders
from acme.jax import variable_utils
from acme.utils import counting
from acme.utils import loggers
import jax
import jax.numpy as jnp
import numpy as np
import reverb
from reverb import rate_limiters

from agents.scaled_ql import actions
from agents.scaled_ql import networks as networks_lib
from agents.scaled_ql import types as agent_types
from atari_data import tf_data
from builders import config as builder_config
from builders import learner as learner_lib
from networks import multi_game

LoggerFactory = Callable[[], Optional[loggers.Logger]]
# (params, random key, observation uint8 [B, 84, 84, 4]) -> action int32 [B].
Policy = Callable[[multi_game.Params, jax.Array, jax.Array], jax.Array]


class ScaledQLBuilder(builders.ActorLearnerBuilder):
  """Builds Scaled Q-Learning's learner, actors and replay for Acme."""

  def __init__(self, config: builder_config.ScaledQLBuilderConfig,
               logger_fn: LoggerFactory = lambda: None):
    self._config = config
    self._logger_fn = logger_fn

  @property
  def config(self) -> builder_config.ScaledQLBuilderConfig:
    return self._config

  def make_networks(self) -> multi_game.MultiGameQNetwork:
    """The multi-game network: one head per game of the config."""
    return networks_lib.make_network(self._config.learner,
                                     self._config.num_actions)

  def make_policy(self, networks: multi_game.MultiGameQNetwork,
                  game: Optional[str] = None,
                  evaluation: bool = False) -> Policy:
    """Epsilon-greedy policy on `game`'s head (the online game by default).

    An actor plays one game, so its policy is bound to that game's head.
    """
    game = game or self._config.online_game
    if not game:
      raise ValueError('make_policy needs a game: pass one or set '
                       'ScaledQLBuilderConfig.online_game.')
    game_index = self._config.game_index(game)
    epsilon = (self._config.online.evaluation_epsilon if evaluation
               else self._config.online.actor_epsilon)
    multi_game_policy = actions.make_epsilon_greedy_policy(networks)

    def policy(params, key, observation):
      game_id = jnp.full((observation.shape[0],), game_index, jnp.int32)
      return multi_game_policy(params, key, observation, game_id, epsilon)

    return policy

  # Online fine-tuning: Reverb replay of n-step transitions.

  def make_replay_tables(
      self, environment_spec: specs.EnvironmentSpec) -> List[reverb.Table]:
    online = self._config.online
    # How far sampling may run ahead of or behind samples_per_insert. A
    # learner step takes a whole batch at once and the dataset keeps two more
    # in flight, so anything below three batches would stall actors and
    # learner against each other (a deadlock when they share a thread, as in
    # Acme's LocalLayout).
    error_buffer = max(
        online.min_replay_size * online.samples_per_insert *
        online.samples_per_insert_tolerance_rate,
        3 * self._config.learner.batch_size)
    limiter = rate_limiters.SampleToInsertRatio(
        min_size_to_sample=online.min_replay_size,
        samples_per_insert=online.samples_per_insert,
        error_buffer=error_buffer)
    return [reverb.Table(
        name=online.replay_table_name,
        sampler=reverb.selectors.Uniform(),
        remover=reverb.selectors.Fifo(),
        max_size=online.max_replay_size,
        rate_limiter=limiter,
        signature=adders_reverb.NStepTransitionAdder.signature(environment_spec))]

  def make_adder(self, replay_client: reverb.Client) -> adders.Adder:
    learner = self._config.learner
    return adders_reverb.NStepTransitionAdder(
        priority_fns={self._config.online.replay_table_name: None},
        client=replay_client, n_step=learner.n_step, discount=learner.discount)

  def make_dataset_iterator(
      self, replay_client: reverb.Client
  ) -> Iterator[agent_types.MultiGameTransition]:
    """Batches of the online game's transitions, as the learner takes them.

    Each sampling attempt gives up after `rate_limiter_timeout_ms` when the
    table is empty or rate-limited and is then retried, so the thread that
    waits returns to Python regularly and a stopping program (Launchpad's stop
    handlers, Acme's runtime terminator) can always interrupt it.
    """
    config = self._config
    batch_size = config.learner.batch_size
    game_index = config.game_index(config.online_game)
    discount = np.float32(config.learner.discount)

    def batches():
      while True:
        dataset = reverb.TrajectoryDataset.from_table_signature(
            server_address=replay_client.server_address,
            table=config.online.replay_table_name,
            max_in_flight_samples_per_worker=2 * batch_size,
            rate_limiter_timeout_ms=config.online.rate_limiter_timeout_ms)
        dataset = dataset.batch(batch_size, drop_remainder=True).prefetch(
            config.online.prefetch_size).with_options(
                tf_data.pipeline_options())
        for sample in dataset.as_numpy_iterator():
          yield transitions_from_replay(sample.data, game_index, discount)

    return batches()

  def make_actor(
      self,
      random_key: jax.Array,
      policy_network: Policy,
      adder: Optional[adders.Adder] = None,
      variable_source: Optional[core.VariableSource] = None,
  ) -> core.Actor:
    if variable_source is None:
      raise ValueError('make_actor needs a variable_source (the learner) to '
                       'fetch the policy parameters from.')
    variable_client = variable_utils.VariableClient(
        variable_source, 'policy', device='cpu',
        update_period=self._config.online.variable_update_period)
    return actors.GenericActor(
        actor=actor_core_lib.batched_feed_forward_to_actor_core(policy_network),
        random_key=random_key, variable_client=variable_client, adder=adder,
        backend='cpu')

  # Both settings.

  def make_learner(
      self,
      random_key: jax.Array,
      networks: multi_game.MultiGameQNetwork,
      dataset: Iterator[agent_types.MultiGameTransition],
      replay_client: Optional[reverb.Client] = None,
      counter: Optional[counting.Counter] = None,
  ) -> learner_lib.ScaledQLAcmeLearner:
    """The learner, fed by `dataset` (the RLDS loader or Reverb).

    `replay_client` is unused: sampling is uniform, so there are no
    priorities to update. As in Acme, `counter` comes prefixed by the caller
    (Acme's layouts pass `Counter(program_counter, 'learner')`), and the
    learner counts `steps` on it.
    """
    del replay_client
    return learner_lib.ScaledQLAcmeLearner(
        counter=counter or counting.Counter(),
        networks=networks, config=self._config.learner, iterator=dataset,
        random_key=random_key, logger=self._logger_fn())


def transitions_from_replay(transition, game_index: int,
                            discount: np.float32) -> agent_types.MultiGameTransition:
  """Acme's n-step transitions -> the learner's batch.

  Acme's NStepTransitionAdder stores discount = gamma^(k-1) * prod(d_i), one
  gamma short (Acme's learners apply it), while MultiGameTransition carries
  the full gamma^k * prod(d_i). Rewards are already the n-step discounted sum.
  """
  batch_size = transition.action.shape[0]
  return agent_types.MultiGameTransition(
      observation=transition.observation,
      action=transition.action.astype(np.int32),
      reward=transition.reward.astype(np.float32),
      discount=(discount * transition.discount).astype(np.float32),
      next_observation=transition.next_observation,
      game_id=np.full((batch_size,), game_index, np.int32))
