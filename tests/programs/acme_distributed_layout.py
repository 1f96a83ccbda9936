"""Our builder inside Acme's own DistributedLayout, under local_mt.

Acme builds the program (Reverb replay, counter + StepsLimiter, learner in
its CheckpointingRunner, actors in its EnvironmentLoop); this script only
supplies the factories: real Pong actors, the tiny network, a real Reverb
server. Acme's StepsLimiter stops it after MAX_ACTOR_STEPS actor steps.

By default the layout is launchers.programs.acme_layouts.CleanStopDistributedLayout
(Acme's, with a replay drain and stop redelivery); with LAYOUT=acme it is Acme's
class unchanged, which Launchpad kills at the stop (see that module).
Usage: python tests/programs/acme_distributed_layout.py WORKDIR MAX_ACTOR_STEPS [LAYOUT]
"""

import builders  # noqa: F401  (compat shim before acme)

from absl import app
from acme.jax.layouts import distributed_layout
import launchpad as lp

from agents.scaled_ql import config as learner_config
from builders import builder as builder_lib
from builders import config as builder_config
from environments import atari
from environments import wrappers
from launchers.programs import acme_layouts


def main(argv):
  workdir, max_actor_steps = argv[1], int(argv[2])
  layout_class = (distributed_layout.DistributedLayout
                  if argv[3:] == ['acme'] else
                  acme_layouts.CleanStopDistributedLayout)
  builder = builder_lib.ScaledQLBuilder(builder_config.ScaledQLBuilderConfig(
      learner=learner_config.ScaledQLConfig(
          network_size='nature_dqn', feature_dim=32, num_atoms=11,
          batch_size=8),
      games=('Pong', 'Breakout'), num_actions=(6, 4),
      online_game='Pong', online=builder_config.OnlineSettings(
          min_replay_size=100, samples_per_insert=4.0,
          max_replay_size=10_000, variable_update_period=50,
          rate_limiter_timeout_ms=200)))

  def environment_factory(seed):
    return wrappers.ClippedRewardEnvironment(atari.make_atari_environment(
        'Pong', seed=int(seed) % (2**31), max_episode_frames=800))

  layout = layout_class(
      seed=0, environment_factory=environment_factory,
      network_factory=lambda spec: builder.make_networks(),
      builder=builder, policy_network=builder.make_policy, num_actors=2,
      max_number_of_steps=max_actor_steps,
      checkpointing_config=distributed_layout.CheckpointingConfig(
          directory=workdir, add_uid=False))
  lp.launch(layout.build(), launch_type='local_mt', serialize_py_nodes=False)


if __name__ == '__main__':
  app.run(main)
