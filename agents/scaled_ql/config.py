"""Hyperparameters of the Scaled Q-Learning agent.

Sources, in order of authority (see shared/PAPER_FACTS.md):
  [paper]   Kumar et al., ICLR 2023, what public copies let us confirm.
  [rlbc]    Kumar et al., "Should I run offline RL or BC?" (ICLR 2022), the
            same group's discrete CQL + DR3 on Atari.
  [batchrl] Agarwal et al. 2020, google-research/batch_rl, fixed_replay
            configs/c51.gin (offline C51 on DQN-Replay).
  [hlgauss] Farebrother et al. 2024, "Stop Regressing: Training Value
            Functions via Classification for Scalable Deep RL" (HL-Gauss).
  [d3rlpy]  d3rlpy 2.8.1's DiscreteCQL (d3rlpy/algos/qlearning/cql.py and
            torch/dqn_impl.py): a DoubleDQN with a Huber TD loss.
  [tpu]     The paper's remark that a per-core batch above 4 did not fit on
            64/128-core TPU v3 for large ResNets.
  [choice]  NOT FOUND in any source; our choice, with the reason.
"""

import dataclasses

# value_loss -> the network's value head (networks.multi_game.VALUE_HEADS).
VALUE_HEAD_OF_LOSS = {
    "categorical": "categorical",
    "hl_gauss": "histogram",
    "huber": "scalar",
    "mse": "scalar",
}
VALUE_LOSSES = tuple(VALUE_HEAD_OF_LOSS)


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
    value_loss: the TD backup's loss and the Q head it needs, one of
      VALUE_LOSSES (agents.scaled_ql.losses):
      'categorical': C51 cross-entropy to the projected target distribution
        [paper: Scaled QL uses C51 and compares it with MSE backups];
      'hl_gauss': cross-entropy to a Gaussian histogram (sigma =
        hl_gauss_sigma_ratio bin widths) of the scalar target over num_atoms
        equal bins of [v_min, v_max] [hlgauss];
      'huber': scalar Q head, Huber (delta 1) TD error, as [d3rlpy];
      'mse': scalar Q head, 0.5 * squared TD error [paper's MSE ablation].
      CQL acts on the Q-values (expected values of categorical heads) and DR3
      on the features in every case. Default 'categorical' [paper].
    hl_gauss_sigma_ratio: HL-Gauss sigma / bin width. [hlgauss] recommends
      0.75 (mass spread over about 6 bins); used by 'hl_gauss' only.
    double_q: choose the bootstrap action at s_{t+k} greedily under the
      online network (Double DQN, van Hasselt et al. 2016) instead of the
      target network; its value still comes from the target network.
      [batchrl] C51 uses the target network: False. d3rlpy's DiscreteCQL is
      a DoubleDQN [d3rlpy]: True reproduces it with value_loss='huber'.
    num_atoms: categorical support size (atoms for 'categorical', bins for
      'hl_gauss'). [paper] names C51; 51 from [batchrl].
    v_min, v_max: categorical support range. [batchrl] vmax = 10,
      vmin = -vmax.
    cql_alpha: weight of the discrete CQL regulariser. [rlbc] 0.1 on Atari
      (not confirmed for Scaled QL).
    dr3_coefficient: weight of the DR3 term, the mean |dot product| of
      consecutive states' features (the magnitude, as in the authors'
      Dopamine implementation). [rlbc] 0.03. The dot product is taken
      between the online network's normalised shared features of s_t and
      s_{t+k} (the inputs of the game heads), so it is their |cosine
      similarity| [choice: the paper normalises these features and applies
      DR3; where exactly DR3 sits is NOT FOUND].
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
    frozen_torso: train the per-game heads only; the torso, its spatial
      embeddings and the feature projection keep their initial values (the
      pre-trained ones when a run starts from a checkpoint). [choice] False;
      True measures how much a pre-trained representation carries on its
      own (the paper's fine-tuning compares representations, frozen-torso
      settings NOT FOUND).
    compute_dtype: 'float32' or 'bfloat16'. Parameters, optimiser state and
      loss arithmetic stay float32; 'bfloat16' runs the network in bf16
      (for accelerators) [choice].
  """
  network_size: str = "resnet_tiny"
  feature_dim: int = 512
  value_loss: str = "categorical"
  hl_gauss_sigma_ratio: float = 0.75
  double_q: bool = False
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
  frozen_torso: bool = False
  compute_dtype: str = "float32"

  def __post_init__(self):
    if self.value_loss not in VALUE_LOSSES:
      raise ValueError(f"value_loss={self.value_loss!r}; valid: "
                       f"{VALUE_LOSSES}")
    if self.hl_gauss_sigma_ratio <= 0:
      raise ValueError(f"hl_gauss_sigma_ratio={self.hl_gauss_sigma_ratio}; "
                       "it must be > 0")

  @property
  def value_head(self) -> str:
    """The network's value head for value_loss (VALUE_HEAD_OF_LOSS)."""
    return VALUE_HEAD_OF_LOSS[self.value_loss]
