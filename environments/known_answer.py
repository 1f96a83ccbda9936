"""Known-answer test environments: chains drawn as Atari-shaped frames.

These are NOT Atari games. They are small deterministic MDPs whose optimal
Q-values are computed exactly (`optimal_q_values`), drawn as uint8
[84, 84, 4] frame stacks like `environments.atari`, so that the recorder,
the RLDS files, the loader with its n-step folding, the programs and the
evaluator run on them unchanged, and a learner's values and greedy actions
can be checked against the truth.

Every problem is a chain of `num_cells` cells with a rewarded goal at one
end. Actions: 0 moves left, 1 moves right (a move into a wall stays), and,
in 3-action problems, 2 waits (stays put, reward 0: a worthless action).
Entering the goal ends the episode (a true terminal) with reward 1; 'dense'
problems add 0.1 x (distance to the goal before - after) on every other
step. So every reward lies within [-1, 1], where the loader clips rewards as
the Atari protocol does: clipping never changes these problems, and Q* is
that of the rewards the learner sees.
Episodes start in a cell drawn uniformly from `start_cells` and are
truncated (discount 1, the loader bootstraps) after `max_episode_steps`.

The frame draws the chain as a row of blocks: the agent's block white
(255), the goal's grey (128), the rest black, so the cell is a function of
the newest frame (`cell_of_frame`). As in the Atari environment, the
stack holds the last 4 frames, oldest first, zeros before the episode's
first frame.

The problems (PROBLEMS), each with the behaviour that records its data
(`behaviour_factory`, a recorder PolicyFactory):
  KnownAnswerChain: 2 actions, goal right; the behaviour moves away from
    the goal 70% of the time (imitation goes the wrong way).
  KnownAnswerChainDense: the same with dense rewards.
  KnownAnswerRareAction: 3 actions, goal LEFT (mirrored), the behaviour
    waits 1% of the time, moves away 69%: plain Q-learning can over-estimate
    the worthless, rarely-taken wait.
  KnownAnswerStitch: 2 actions, goal right, episodes start in cell 0 or the
    middle; from cell 0 the behaviour walks right to the middle and always
    turns back there, from the middle it walks to the goal (80% right): the
    data hold start-to-middle and middle-to-goal pieces and never a whole
    start-to-goal trajectory.
KnownAnswerChain and KnownAnswerRareAction together are the two-game
problem: different action counts and mirrored goals through the multi-game
heads.

Gamma: the optimal action gap of a chain is Q*(s) x (1 - gamma^2), ~2% at
the loader's default 0.99, where an argmax over learned values is decided
by noise; RESOLVABLE_DISCOUNT (0.9) makes it ~19%.
"""

import dataclasses
from typing import Dict, Optional, Tuple

import dm_env
from dm_env import specs
import numpy as np

from environments import seeding

FRAME_SIZE = 84
FRAME_STACK = 4
LEFT, RIGHT, WAIT = 0, 1, 2
ACTION_NAMES = ('left', 'right', 'wait')
GOAL_REWARD = 1.0
DENSE_STEP_REWARD = 0.1
# A discount whose action gaps (1 - gamma^2 of the value) an argmax over
# learned values resolves.
RESOLVABLE_DISCOUNT = 0.9
_AGENT_SHADE, _GOAL_SHADE = 255, 128
# Rows of the frame the chain's blocks occupy.
_BLOCK_ROWS = slice(32, 52)


@dataclasses.dataclass(frozen=True)
class ChainProblem:
  """One known-answer chain and the behaviour that records its data.

  Attributes:
    name: the game name the pipeline uses (PROBLEMS' key).
    num_actions: 2 (left, right) or 3 (left, right, wait).
    goal_right: the rewarded goal is the right end (else the left end).
    dense: add DENSE_STEP_REWARD x (distance before - after) on every step
      but the goal's.
    start_cells: cells an episode starts in, uniformly; never the goal.
    behaviour_toward: the behaviour's probability of moving toward the goal.
    behaviour_wait: its probability of waiting (3-action problems).
    stitch_turn_cell: if set, episodes that start left of this cell are
      played by a behaviour that walks toward it (behaviour_toward) and
      always turns back on reaching it, so they never get past it; episodes
      that start at or beyond it use the plain behaviour.
    num_cells: cells in the chain, goal included.
    max_episode_steps: steps after which an episode is truncated.
  """
  name: str
  num_actions: int
  goal_right: bool
  dense: bool
  start_cells: Tuple[int, ...]
  behaviour_toward: float
  behaviour_wait: float = 0.0
  stitch_turn_cell: Optional[int] = None
  num_cells: int = 8
  max_episode_steps: int = 20

  def __post_init__(self):
    if self.num_actions not in (2, 3):
      raise ValueError(f'num_actions={self.num_actions}; valid: 2, 3.')
    if self.goal_cell in self.start_cells:
      raise ValueError(f'start_cells {self.start_cells} include the goal '
                       f'cell {self.goal_cell}.')
    if self.behaviour_wait and self.num_actions < 3:
      raise ValueError('behaviour_wait needs the wait action (3 actions).')

  @property
  def goal_cell(self) -> int:
    return self.num_cells - 1 if self.goal_right else 0

  @property
  def toward_action(self) -> int:
    return RIGHT if self.goal_right else LEFT

  @property
  def away_action(self) -> int:
    return LEFT if self.goal_right else RIGHT

  def distance(self, cell: int) -> int:
    return abs(self.goal_cell - cell)

  def transition(self, cell: int, action: int) -> Tuple[int, float, bool]:
    """(next cell, reward, terminal) of `action` in `cell` (not the goal)."""
    if not 0 <= action < self.num_actions:
      raise ValueError(f'action={action}; valid: 0..{self.num_actions - 1} '
                       f'({", ".join(ACTION_NAMES[:self.num_actions])}).')
    step = {LEFT: -1, RIGHT: 1, WAIT: 0}[action]
    next_cell = int(np.clip(cell + step, 0, self.num_cells - 1))
    reward = (DENSE_STEP_REWARD * (self.distance(cell) -
                                   self.distance(next_cell))
              if self.dense else 0.0)
    terminal = next_cell == self.goal_cell
    # The goal step pays GOAL_REWARD alone (module docstring: within the
    # loader's reward clip).
    return next_cell, (GOAL_REWARD if terminal else reward), terminal


_MIDDLE = 4
PROBLEMS: Dict[str, ChainProblem] = {
    problem.name: problem for problem in (
        ChainProblem('KnownAnswerChain', num_actions=2, goal_right=True,
                     dense=False, start_cells=tuple(range(7)),
                     behaviour_toward=0.3),
        ChainProblem('KnownAnswerChainDense', num_actions=2, goal_right=True,
                     dense=True, start_cells=tuple(range(7)),
                     behaviour_toward=0.3),
        ChainProblem('KnownAnswerRareAction', num_actions=3,
                     goal_right=False, dense=False,
                     start_cells=tuple(range(1, 8)), behaviour_toward=0.3,
                     behaviour_wait=0.01),
        ChainProblem('KnownAnswerStitch', num_actions=2, goal_right=True,
                     dense=False, start_cells=(0, _MIDDLE),
                     behaviour_toward=0.8, stitch_turn_cell=_MIDDLE),
    )
}


def is_known_answer(game: str) -> bool:
  return game in PROBLEMS


def problem(game: str) -> ChainProblem:
  """The problem called `game`; a clear error for any other name."""
  if game not in PROBLEMS:
    raise ValueError(f'Unknown known-answer problem {game!r}; valid: '
                     f'{", ".join(PROBLEMS)}.')
  return PROBLEMS[game]


def backup(chain: ChainProblem, next_values: np.ndarray,
           discount: float) -> np.ndarray:
  """[cells, actions]: reward + discount * next_values[next cell] of every
  (cell, action), with nothing after entering the goal; the goal's own row
  (never a decision state) is 0."""
  result = np.zeros((chain.num_cells, chain.num_actions))
  for cell in range(chain.num_cells):
    if cell == chain.goal_cell:
      continue
    for action in range(chain.num_actions):
      next_cell, reward, terminal = chain.transition(cell, action)
      result[cell, action] = reward + (0.0 if terminal else
                                       discount * next_values[next_cell])
  return result


def optimal_q_values(chain: ChainProblem, discount: float,
                     tolerance: float = 1e-12) -> np.ndarray:
  """Q*[cell, action] by value iteration, to `tolerance` (exact up to it).

  The goal cell is terminal: its row is 0 (never a decision state).
  Truncation is not part of the MDP: the loader bootstraps through it, so
  Q* is the infinite-horizon discounted optimum.
  """
  if not 0.0 <= discount < 1.0:
    raise ValueError(f'discount={discount}; valid: 0 <= discount < 1.')
  q = np.zeros((chain.num_cells, chain.num_actions))
  while True:
    new_q = backup(chain, q.max(axis=1), discount)
    if np.max(np.abs(new_q - q)) < tolerance:
      return new_q
    q = new_q


def optimal_actions(chain: ChainProblem) -> np.ndarray:
  """The unique optimal action of every cell (toward the goal); -1 at the
  goal. Unique for every discount in (0, 1): moving toward the goal is the
  only action that shortens the distance."""
  actions = np.full(chain.num_cells, chain.toward_action)
  actions[chain.goal_cell] = -1
  return actions


def expected_return(chain: ChainProblem, policy: np.ndarray,
                    max_steps: Optional[int] = None) -> float:
  """Exact expected undiscounted episode return of a stationary policy.

  Args:
    chain: the problem.
    policy: [num_cells, num_actions] action probabilities per cell.
    max_steps: episode cap (default chain.max_episode_steps).

  Returns:
    The expectation over start cells and actions of the summed rewards of
    an episode of at most max_steps steps, as the evaluator scores it.
  """
  max_steps = chain.max_episode_steps if max_steps is None else max_steps
  policy = np.asarray(policy, np.float64)
  if policy.shape != (chain.num_cells, chain.num_actions):
    raise ValueError(f'policy shape {policy.shape}; expected '
                     f'{(chain.num_cells, chain.num_actions)}.')
  # to_go[cell]: expected return of the remaining steps from `cell`.
  to_go = np.zeros(chain.num_cells)
  for _ in range(max_steps):
    to_go = np.sum(policy * backup(chain, to_go, 1.0), axis=1)
  return float(np.mean(to_go[list(chain.start_cells)]))


def greedy_policy(q_values: np.ndarray) -> np.ndarray:
  """[cells, actions] one-hot policy of the first maximising action."""
  policy = np.zeros_like(q_values, dtype=np.float64)
  policy[np.arange(len(q_values)), np.argmax(q_values, axis=1)] = 1.0
  return policy


def uniform_policy(chain: ChainProblem) -> np.ndarray:
  return np.full((chain.num_cells, chain.num_actions), 1.0 / chain.num_actions)


def reference_returns(game: str) -> Tuple[float, float]:
  """(uniform random play's, the optimal policy's) exact expected return."""
  chain = problem(game)
  optimal = np.zeros((chain.num_cells, chain.num_actions))
  optimal[np.arange(chain.num_cells), chain.toward_action] = 1.0
  return (expected_return(chain, uniform_policy(chain)),
          expected_return(chain, optimal))


def render_frame(chain: ChainProblem, cell: int) -> np.ndarray:
  """The [84, 84] uint8 frame of the agent in `cell`."""
  frame = np.zeros((FRAME_SIZE, FRAME_SIZE), np.uint8)
  width = FRAME_SIZE // chain.num_cells
  for shade, at in ((_GOAL_SHADE, chain.goal_cell), (_AGENT_SHADE, cell)):
    frame[_BLOCK_ROWS, at * width + 1:(at + 1) * width - 1] = shade
  return frame


def cell_of_frame(chain: ChainProblem, frame: np.ndarray) -> int:
  """The agent's cell drawn in an [84, 84] frame (render_frame's inverse)."""
  width = FRAME_SIZE // chain.num_cells
  row = frame[(_BLOCK_ROWS.start + _BLOCK_ROWS.stop) // 2]
  centres = row[np.arange(chain.num_cells) * width + width // 2]
  cells = np.flatnonzero(centres == _AGENT_SHADE)
  if len(cells) != 1:
    raise ValueError(f'{chain.name}: the frame shows no agent block '
                     f'(block shades {centres.tolist()}).')
  return int(cells[0])


class ChainEnvironment(dm_env.Environment):
  """A known-answer chain as a dm_env environment with Atari-shaped frames.

  `TimeStep.reward` is the problem's reward (already within [-1, 1], so
  clipping leaves it unchanged); the discount is 0 on entering the goal and
  1 otherwise, including the truncation after max_episode_steps.
  """

  def __init__(self, chain: ChainProblem, seed: int = 0,
               max_episode_steps: Optional[int] = None):
    self._chain = chain
    self._rng = np.random.default_rng(seed)
    self._max_steps = (chain.max_episode_steps if max_episode_steps is None
                       else min(max_episode_steps, chain.max_episode_steps))
    if self._max_steps < 1:
      raise ValueError(f'max_episode_steps={max_episode_steps}; must be >= 1.')
    self._stack = np.zeros((FRAME_SIZE, FRAME_SIZE, FRAME_STACK), np.uint8)
    self._cell = chain.start_cells[0]
    self._start_cell = self._cell
    self._steps = 0
    self._episode_over = True

  @property
  def game(self) -> str:
    return self._chain.name

  @property
  def chain(self) -> ChainProblem:
    return self._chain

  @property
  def num_actions(self) -> int:
    return self._chain.num_actions

  @property
  def cell(self) -> int:
    """The agent's cell now."""
    return self._cell

  @property
  def start_cell(self) -> int:
    """The cell the current episode started in."""
    return self._start_cell

  def _push_frame(self):
    self._stack[..., :-1] = self._stack[..., 1:]
    self._stack[..., -1] = render_frame(self._chain, self._cell)

  def reset(self) -> dm_env.TimeStep:
    self._cell = int(self._rng.choice(self._chain.start_cells))
    self._start_cell = self._cell
    self._steps = 0
    self._stack[:] = 0
    self._push_frame()
    self._episode_over = False
    return dm_env.restart(self._stack.copy())

  def step(self, action) -> dm_env.TimeStep:
    if self._episode_over:
      return self.reset()
    self._cell, reward, terminal = self._chain.transition(self._cell,
                                                          int(action))
    self._steps += 1
    self._push_frame()
    observation = self._stack.copy()
    reward = np.float32(reward)
    if terminal:
      self._episode_over = True
      return dm_env.TimeStep(dm_env.StepType.LAST, reward, np.float32(0.0),
                             observation)
    if self._steps >= self._max_steps:
      self._episode_over = True
      return dm_env.truncation(reward, observation, np.float32(1.0))
    return dm_env.transition(reward, observation, np.float32(1.0))

  def observation_spec(self) -> specs.BoundedArray:
    return specs.BoundedArray(shape=self._stack.shape, dtype=np.uint8,
                              minimum=0, maximum=255, name='observation')

  def action_spec(self) -> specs.DiscreteArray:
    return specs.DiscreteArray(num_values=self._chain.num_actions,
                               dtype=np.int32, name='action')

  def reward_spec(self) -> specs.Array:
    return specs.Array(shape=(), dtype=np.float32, name='raw_reward')

  def discount_spec(self) -> specs.BoundedArray:
    return specs.BoundedArray(shape=(), dtype=np.float32, minimum=0.0,
                              maximum=1.0, name='discount')


def behaviour_policy(chain: ChainProblem) -> np.ndarray:
  """[num_cells, num_actions] action probabilities of the chain's behaviour.

  Exact for problems without stitch_turn_cell; a stitching behaviour
  depends on where its episode started, so it has no stationary policy.
  """
  if chain.stitch_turn_cell is not None:
    raise ValueError(f'{chain.name}: its behaviour depends on the episode\'s '
                     'start cell; it has no stationary policy.')
  policy = np.zeros((chain.num_cells, chain.num_actions))
  policy[:, chain.toward_action] = chain.behaviour_toward
  policy[:, chain.away_action] = (1.0 - chain.behaviour_toward -
                                  chain.behaviour_wait)
  if chain.num_actions > WAIT:
    policy[:, WAIT] = chain.behaviour_wait
  return policy


class ChainBehaviour:
  """The behaviour that records a problem's data (see ChainProblem)."""

  def __init__(self, chain: ChainProblem, seed: int):
    self._chain = chain
    self._rng = np.random.default_rng(seed)
    toward = 100 * chain.behaviour_toward
    self.description = (f'{toward:.0f}% toward the goal, '
                        f'{100 * chain.behaviour_wait:.0f}% wait' +
                        (f', turning back at cell {chain.stitch_turn_cell} '
                         'in episodes that start before it'
                         if chain.stitch_turn_cell is not None else ''))

  def select_action(self, timestep, environment: ChainEnvironment) -> int:
    del timestep
    chain = self._chain
    turn = chain.stitch_turn_cell
    if (turn is not None and environment.start_cell < turn and
        environment.cell >= turn):
      return chain.away_action
    draw = self._rng.random()
    if draw < chain.behaviour_wait:
      return WAIT
    if draw < chain.behaviour_wait + chain.behaviour_toward:
      return chain.toward_action
    return chain.away_action


def behaviour_factory(game, checkpoint, num_checkpoints, environment, seed):
  """A recorder PolicyFactory: each problem's own behaviour, every
  checkpoint."""
  del checkpoint, num_checkpoints, environment
  return ChainBehaviour(problem(game), seed)


def recorded_transitions(game: str, num_transitions: int, seed: int,
                         discount: float, checkpoint: int = 0
                         ) -> Dict[str, np.ndarray]:
  """The 1-step transitions that recording `game` and loading it give, in
  NumPy alone (no TensorFlow: e.g. on a GPU machine without it).

  Plays the problem's behaviour for `num_transitions` steps as
  atari_data.recorder records checkpoint `checkpoint` of a recording seeded
  `seed` with steps_per_checkpoint=num_transitions (the same seeds, episodes
  and cut last episode), and folds them as the loader does at n_step=1:
  reward clipped to [-1, 1], discount 0 on entering the goal and `discount`
  otherwise (a truncation bootstraps). tests/test_gpu_check.py checks that
  the two paths give the same transitions.

  Returns:
    observation, next_observation: uint8 [N, 84, 84, 4]; action int32 [N];
    reward, discount float32 [N]; in the order played.
  """
  chain = problem(game)
  if num_transitions < 1:
    raise ValueError(f'num_transitions={num_transitions}; must be >= 1.')
  env_seed, policy_seed = seeding.recording_seeds(seed, game, checkpoint)
  environment = ChainEnvironment(chain, seed=env_seed)
  behaviour = ChainBehaviour(chain, policy_seed)
  stacks = (num_transitions, FRAME_SIZE, FRAME_SIZE, FRAME_STACK)
  result = {
      'observation': np.empty(stacks, np.uint8),
      'action': np.empty(num_transitions, np.int32),
      'reward': np.empty(num_transitions, np.float32),
      'discount': np.empty(num_transitions, np.float32),
      'next_observation': np.empty(stacks, np.uint8),
  }
  timestep = environment.reset()
  for t in range(num_transitions):
    action = behaviour.select_action(timestep, environment)
    next_timestep = environment.step(action)
    result['observation'][t] = timestep.observation
    result['action'][t] = action
    result['reward'][t] = np.clip(next_timestep.reward, -1.0, 1.0)
    terminal = next_timestep.last() and next_timestep.discount == 0.0
    result['discount'][t] = 0.0 if terminal else discount
    result['next_observation'][t] = next_timestep.observation
    timestep = (environment.reset() if next_timestep.last() else
                next_timestep)
  return result
