"""Atari 2600 games as dm_env environments, with the DQN Replay protocol.

Drives ale_py.ALEInterface directly (gym's ALE registration does not work with
acme's gym 0.23) and reproduces Dopamine's `AtariPreprocessing`, which is what
produced the DQN Replay / RL Unplugged Atari data:

  * sticky actions: ALE repeats the previous action with probability 0.25;
  * frame skip 4, observation = pixel-wise max of the last two grayscale
    frames, resized to 84x84 with area interpolation (cv2.INTER_AREA);
  * the agent sees the last 4 such frames stacked, oldest first, zeros before
    the episode's first frame (as the offline loader pads);
  * an episode ends at game over (a true terminal, discount 0) or after
    108,000 frames (a truncation, discount 1); losing a life does not end it;
  * the minimal action set by default (what DQN Replay recorded).

Rewards: `TimeStep.reward` is the RAW change in game score over the 4 frames,
so evaluation sums it into the game score. Learning uses `clip_reward(reward)`
(sign clipping to [-1, 1]); the recorder stores that clipped value in the RL
Unplugged `reward` field, like the published data.
"""

import dataclasses
from typing import Any, NamedTuple, Optional, Tuple

from ale_py import ALEInterface
from ale_py import roms
import dm_env
from dm_env import specs
import numpy as np
import threadpoolctl

from environments import games

OBSERVATION_SIZE = 84
_ATARI_SCREEN_SHAPE = (210, 160)


@dataclasses.dataclass(frozen=True)
class AtariConfig:
  """How to build an Atari environment; defaults are the DQN Replay protocol.

  Attributes:
    game: game name, RL Unplugged CamelCase ('MsPacman') or ALE id
      ('ms_pacman').
    mode: ALE game mode (None: the game's default). Modes and difficulties are
      the game variants online fine-tuning adapts to.
    difficulty: ALE difficulty switch (None: the game's default).
    seed: seeds ALE's RNG (sticky actions and the games' own randomness).
    sticky_action_probability: probability that ALE repeats the previous
      action instead of the chosen one (0.25, Machado et al. 2018).
    frame_skip: emulator frames per agent step.
    frame_stack: frames stacked into one observation.
    max_episode_frames: emulator frames after which an episode is truncated
      (108,000 = 30 minutes of play at 60 Hz).
    full_action_space: use all 18 ALE actions instead of the minimal set.
  """
  game: str
  mode: Optional[int] = None
  difficulty: Optional[int] = None
  seed: int = 0
  sticky_action_probability: float = 0.25
  frame_skip: int = 4
  frame_stack: int = 4
  max_episode_frames: int = 108_000
  full_action_space: bool = False


def clip_reward(reward):
  """The learning reward: the raw score change clipped to [-1, 1]."""
  return np.clip(reward, -1.0, 1.0).astype(np.float32)


def _area_resize_matrix(size_in: int, size_out: int) -> np.ndarray:
  """[size_out, size_in] weights of area interpolation along one axis.

  Output pixel i averages the input interval [i * s, (i + 1) * s) with
  s = size_in / size_out, weighting each input pixel by its overlap; this is
  what cv2.INTER_AREA does when shrinking, written as a matrix so that
  `rows @ image @ cols.T` resizes without OpenCV.
  """
  scale = size_in / size_out
  edges_out = np.arange(size_out + 1) * scale
  starts = np.arange(size_in)
  overlap = (np.minimum(edges_out[1:, None], starts[None, :] + 1) -
             np.maximum(edges_out[:-1, None], starts[None, :]))
  return (np.clip(overlap, 0.0, None) / scale).astype(np.float32)


_RESIZE_ROWS = _area_resize_matrix(_ATARI_SCREEN_SHAPE[0], OBSERVATION_SIZE)
_RESIZE_COLS_T = _area_resize_matrix(_ATARI_SCREEN_SHAPE[1],
                                     OBSERVATION_SIZE).T.copy()


def resize_frame(frame: np.ndarray) -> np.ndarray:
  """Area-resizes a [210, 160] uint8 frame to [84, 84] uint8."""
  # Float32, columns first: matches cv2.resize(INTER_AREA) on all but ~3e-5
  # of the pixels of real frames, and those differ by one gray level.
  resized = _RESIZE_ROWS @ (frame.astype(np.float32) @ _RESIZE_COLS_T)
  return np.rint(resized).astype(np.uint8)


class _Snapshot(NamedTuple):
  """Everything `restore_state` needs to continue exactly from a step."""
  ale_state: Any
  stack: np.ndarray
  screens: np.ndarray
  episode_over: bool


def _resize_on_one_blas_thread():
  """Limits this process's BLAS to one thread, for `resize_frame`'s two
  small matrix products: on them OpenBLAS's second thread costs more than
  it saves (0.19 ms a frame with two threads, 0.11 ms with one, alone on the
  2-core machine; 0.63 ms with two while another process held a core), and
  it takes the core a second recorder or the learner needs. JAX computes
  with its own threads, not BLAS's, so the learner keeps them."""
  threadpoolctl.threadpool_limits(limits=1, user_api='blas')


class AtariEnvironment(dm_env.Environment):
  """One Atari game with DQN Replay preprocessing; see the module docstring.

  Building one limits its process's BLAS to one thread
  (`_resize_on_one_blas_thread`).
  """

  def __init__(self, config: AtariConfig):
    _resize_on_one_blas_thread()
    self._config = config
    self._game = games.canonical_name(config.game)
    if config.frame_skip < 2:
      raise ValueError('frame_skip must be >= 2: observations max-pool the '
                       f'last two frames of a step, got {config.frame_skip}.')
    self._ale = ALEInterface()
    self._ale.setInt('random_seed', int(config.seed) % (2**31))
    self._ale.setFloat('repeat_action_probability',
                       float(config.sticky_action_probability))
    self._ale.loadROM(roms.get_rom_path(games.rom_id(self._game)))
    self._select_variant(config.mode, config.difficulty)
    self._action_set = games.action_set(self._game, config.full_action_space)
    # screens[0] and screens[1] are the last two raw frames of a step.
    self._screens = np.zeros((2,) + _ATARI_SCREEN_SHAPE, np.uint8)
    self._stack = np.zeros(
        (OBSERVATION_SIZE, OBSERVATION_SIZE, config.frame_stack), np.uint8)
    self._episode_over = True

  def _select_variant(self, mode: Optional[int], difficulty: Optional[int]):
    if mode is not None:
      modes = [int(m) for m in self._ale.getAvailableModes()]
      if mode not in modes:
        raise ValueError(f'Mode {mode} is not valid for {self._game}; '
                         f'valid modes: {modes}.')
      self._ale.setMode(mode)
    if difficulty is not None:
      difficulties = [int(d) for d in self._ale.getAvailableDifficulties()]
      if difficulty not in difficulties:
        raise ValueError(f'Difficulty {difficulty} is not valid for '
                         f'{self._game}; valid difficulties: {difficulties}.')
      self._ale.setDifficulty(difficulty)
    self._ale.reset_game()

  @property
  def game(self) -> str:
    """Canonical (CamelCase) game name."""
    return self._game

  @property
  def config(self) -> AtariConfig:
    return self._config

  @property
  def num_actions(self) -> int:
    return len(self._action_set)

  def lives(self) -> int:
    return self._ale.lives()

  def ram(self) -> np.ndarray:
    """The console's 128 bytes of RAM now (for players that act on the
    objects the screen shows, atari_data.object_players)."""
    return self._ale.getRAM()

  def _push_frame(self):
    """Appends the max-pool of the last two screens to the frame stack."""
    self._stack[..., :-1] = self._stack[..., 1:]
    self._stack[..., -1] = resize_frame(self._screens.max(axis=0))

  def reset(self) -> dm_env.TimeStep:
    self._ale.reset_game()
    self._stack[:] = 0
    self._ale.getScreenGrayscale(self._screens[0])
    self._screens[1] = 0
    self._push_frame()
    self._episode_over = False
    return dm_env.restart(self._stack.copy())

  def step(self, action) -> dm_env.TimeStep:
    if self._episode_over:
      return self.reset()
    ale_action = self._action_set[int(action)]
    reward = 0.0
    skip = self._config.frame_skip
    game_over = False
    for frame in range(skip):
      reward += self._ale.act(ale_action)
      game_over = self._ale.game_over(with_truncation=False)
      if game_over:
        # As Dopamine: the terminal observation pools the screens already
        # fetched, not the game-over screen.
        break
      if frame >= skip - 2:
        self._ale.getScreenGrayscale(self._screens[frame - (skip - 2)])
    self._push_frame()
    observation = self._stack.copy()
    reward = np.float32(reward)
    if game_over:
      self._episode_over = True
      # dm_env.termination's discount is a Python float (float64); keep the
      # float32 of discount_spec, which Reverb signatures enforce.
      return dm_env.TimeStep(dm_env.StepType.LAST, reward, np.float32(0.0),
                             observation)
    if self._ale.getEpisodeFrameNumber() >= self._config.max_episode_frames:
      self._episode_over = True
      return dm_env.truncation(reward, observation, np.float32(1.0))
    return dm_env.transition(reward, observation, np.float32(1.0))

  def simulate_step(self, action) -> Tuple[float, bool]:
    """Plays `action` for frame_skip frames without building observations.

    For lookahead planners between `clone_state` and `restore_state`: about
    twice as fast as `step`. Returns the raw reward and whether the game is
    over; the frame stack is left stale.
    """
    ale_action = self._action_set[int(action)]
    reward = 0.0
    for _ in range(self._config.frame_skip):
      reward += self._ale.act(ale_action)
      if self._ale.game_over(with_truncation=False):
        return reward, True
    return reward, False

  def clone_state(self, include_rng: bool = True) -> _Snapshot:
    """Snapshot (emulator, frame stack) for lookahead planning.

    With `include_rng` (the default) the snapshot holds the emulator's RNG
    too, so restoring it replays the same sticky actions: the exact future
    a replay or a planner's common comparison needs. Without it, restoring
    leaves the RNG where it is, so repeated rollouts from one snapshot draw
    fresh sticky actions: samples of the stochastic future. Neither holds
    the action that sticky actions repeat (ALE's last applied action):
    restoring leaves it as the steps since the snapshot set it
    (atari_data.rollouts sets it back).
    """
    return _Snapshot(self._ale.cloneState(include_rng=include_rng),
                     self._stack.copy(), self._screens.copy(),
                     self._episode_over)

  def restore_state(self, snapshot: _Snapshot):
    self._ale.restoreState(snapshot.ale_state)
    self._stack[:] = snapshot.stack
    self._screens[:] = snapshot.screens
    self._episode_over = snapshot.episode_over

  def observation_spec(self) -> specs.BoundedArray:
    return specs.BoundedArray(
        shape=self._stack.shape, dtype=np.uint8, minimum=0, maximum=255,
        name='observation')

  def action_spec(self) -> specs.DiscreteArray:
    return specs.DiscreteArray(
        num_values=len(self._action_set), dtype=np.int32, name='action')

  def reward_spec(self) -> specs.Array:
    return specs.Array(shape=(), dtype=np.float32, name='raw_reward')

  def discount_spec(self) -> specs.BoundedArray:
    return specs.BoundedArray(
        shape=(), dtype=np.float32, minimum=0.0, maximum=1.0, name='discount')


def make_atari_environment(game: str,
                           mode: Optional[int] = None,
                           difficulty: Optional[int] = None,
                           seed: int = 0,
                           sticky_action_probability: float = 0.25,
                           full_action_space: bool = False,
                           max_episode_frames: int = 108_000
                           ) -> AtariEnvironment:
  """Builds `game` with the DQN Replay protocol; see `AtariConfig`.

  Observations are uint8 [84, 84, 4]; `TimeStep.reward` is the raw score
  change (use `clip_reward` for learning).
  """
  return AtariEnvironment(AtariConfig(
      game=game, mode=mode, difficulty=difficulty, seed=seed,
      sticky_action_probability=sticky_action_probability,
      full_action_space=full_action_space,
      max_episode_frames=max_episode_frames))
