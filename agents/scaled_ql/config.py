"""Hyperparameters of the Scaled Q-Learning agent.

Sources, in order of authority (see shared/PAPER_FACTS.md):
  [paper]   Kumar et al., ICLR 2023, what public copies let us confirm.
  [rlbc]    Kumar et al., "Should I run offline RL or BC?" (ICLR 2022), the
            same group's discrete CQL + DR3 on Atari.
  [batchrl] Agarwal et al. 2020, google-research/batch_rl, fixed_replay
            configs/c51.gin (offline C51 on DQN-Replay).
  [tpu]     The paper's remark that a per-core batch above 4 did not fit on
            64/128-core TPU v3 for large ResNets.
  [choice]  NOT FOUND in any source; our choice, with the reason.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ScaledQLConfig:
  """Configuration of the learner (and the n-step/discount the loader uses).

  Attributes:
    network_size: a name from networks.torsos.TORSO_NAMES. [paper] scales up
      to ResNet-101 (~80M parameters, `resnet101`); the default is the small
      CPU size so that demos and tests run anywhere.
    feature_dim: width of the shared features fed to every game head (the
      torso output is projected to this before normalisation). [choice] 512:
      the Nature-DQN penultimate width, and it keeps 40 heads of
      18 actions x 51 atoms at ~19M parameters (the paper gives none).
    num_atoms: C51 support size. [paper] names C51; 51 from [batchrl].
    v_min, v_max: C51 support range. [batchrl] vmax = 10, vmin = -vmax.
    cql_alpha: weight of the discrete CQL regulariser. [rlbc] 0.1 on Atari
      (not confirmed for Scaled QL).
    dr3_coefficient: weight of the DR3 feature dot-product term. [rlbc] 0.03.
      The dot product is taken between the online network's normalised
      shared features of s_t and s_{t+k} (the inputs of the game heads), so
      it is their cosine similarity [choice: the paper normalises these
      features and applies DR3; where exactly DR3 sits is NOT FOUND].
    learning_rate, adam_eps: Adam settings. [batchrl] 2.5e-4 and 3.125e-4
      (Dopamine's 0.01 / 32).
    max_gradient_norm: global-norm gradient clipping. [choice] 10, the
      common setting for Q-learning with Adam (Dopamine does not clip, but
      large ResNets with a 51-way cross-entropy produce rare large steps).
    target_update_period: learner steps between copies of the online
      parameters into the target network. [batchrl] 8000 agent steps with a
      gradient step every 4 agent steps, i.e. 2000 gradient steps.
    batch_size: global batch (all devices together). [tpu] 4 per core x 64
      cores = 256; use 32 ([batchrl]) for CPU demos.
    n_step: bootstrap horizon of the loader's n-step returns. [batchrl] 1.
    discount: per-step discount gamma for the loader. [batchrl] 0.99.
    compute_dtype: 'float32' or 'bfloat16'. Parameters, optimiser state and
      loss arithmetic stay float32; 'bfloat16' runs the network in bf16
      (for accelerators) [choice].
  """
  network_size: str = "resnet_tiny"
  feature_dim: int = 512
  num_atoms: int = 51
  v_min: float = -10.0
  v_max: float = 10.0
  cql_alpha: float = 0.1
  dr3_coefficient: float = 0.03
  learning_rate: float = 2.5e-4
  adam_eps: float = 3.125e-4
  max_gradient_norm: float = 10.0
  target_update_period: int = 2000
  batch_size: int = 256
  n_step: int = 1
  discount: float = 0.99
  compute_dtype: str = "float32"
