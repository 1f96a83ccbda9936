"""The agents the offline program can train, by name.

Each is an Acme builder over the same multi-game network and data, so one
program, one checkpoint format and one evaluator serve all of them; a
checkpoint's description names its agent, and loading rebuilds that agent.
"""

from typing import Callable, Dict

from builders import bc
from builders import builder as builder_lib
from builders import config as builder_config

AGENT_BUILDERS: Dict[str, Callable[..., builder_lib.ScaledQLBuilder]] = {
    # Scaled Q-Learning: C51 (or another value_loss) + CQL + DR3.
    'scaled_ql': builder_lib.ScaledQLBuilder,
    # Behaviour cloning with Acme's BC learner (offline only).
    'bc': bc.MultiGameBCBuilder,
}
AGENTS = tuple(AGENT_BUILDERS)


def check_agent(agent: str) -> str:
  if agent not in AGENT_BUILDERS:
    raise ValueError(f'agent={agent!r}; valid: {", ".join(AGENTS)}.')
  return agent


def make_builder(agent: str, config: builder_config.ScaledQLBuilderConfig,
                 logger_fn=lambda: None) -> builder_lib.ScaledQLBuilder:
  return AGENT_BUILDERS[check_agent(agent)](config, logger_fn=logger_fn)
