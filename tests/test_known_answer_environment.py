"""The known-answer chains: dynamics, frames, exact values, and the
pipeline's parts (factory, names, references, recorder, loader) on them."""

import numpy as np
import pytest

from atari_data import loader
from atari_data import recorder
from benchmarks import cql_fixed_point
from environments import atari_scores
from environments import factory
from environments import games
from environments import known_answer

CHAIN = known_answer.problem('KnownAnswerChain')
RARE = known_answer.problem('KnownAnswerRareAction')


def test_optimal_values_are_powers_of_the_discount_by_hand():
  # Sparse chain, goal at cell 7: moving right from cell c reaches the goal
  # after 7 - c steps, so Q*(c, right) = gamma^(6 - c) and Q*(c, left) =
  # gamma * V*(max(c - 1, 0)).
  gamma = 0.9
  q = known_answer.optimal_q_values(CHAIN, gamma)
  for cell in range(7):
    assert q[cell, known_answer.RIGHT] == pytest.approx(gamma**(6 - cell))
    assert q[cell, known_answer.LEFT] == pytest.approx(
        gamma * gamma**(6 - max(cell - 1, 0)))
  assert np.all(q[7] == 0.0)
  # Mirrored goal (cell 0) with a wait: Q*(c, wait) = gamma * V*(c).
  q = known_answer.optimal_q_values(RARE, gamma)
  for cell in range(1, 8):
    assert q[cell, known_answer.LEFT] == pytest.approx(gamma**(cell - 1))
    assert q[cell, known_answer.WAIT] == pytest.approx(gamma * gamma**(cell - 1))


def test_dense_rewards_add_the_distance_shaping():
  dense = known_answer.problem('KnownAnswerChainDense')
  assert dense.transition(6, known_answer.RIGHT) == (7, 1.0, True)
  assert dense.transition(5, known_answer.RIGHT) == (6, 0.1, False)
  assert dense.transition(3, known_answer.LEFT) == (2, -0.1, False)
  assert dense.transition(0, known_answer.LEFT) == (0, 0.0, False)
  q = known_answer.optimal_q_values(dense, 0.9)
  assert q[6, known_answer.RIGHT] == pytest.approx(1.0)
  assert q[5, known_answer.RIGHT] == pytest.approx(0.1 + 0.9 * 1.0)


@pytest.mark.parametrize('name', list(known_answer.PROBLEMS))
def test_every_reward_is_within_the_loaders_clip(name):
  # The loader clips rewards to [-1, 1] (Atari's protocol); a reward outside
  # would make the learner's problem another than the one Q* solves.
  chain = known_answer.problem(name)
  rewards = [chain.transition(cell, action)[1]
             for cell in range(chain.num_cells) if cell != chain.goal_cell
             for action in range(chain.num_actions)]
  assert -1.0 <= min(rewards) and max(rewards) <= 1.0, rewards


def test_environment_plays_the_chain_with_atari_shaped_frames():
  environment = factory.make_environment('KnownAnswerChain', seed=3)
  timestep = environment.reset()
  assert timestep.observation.shape == (84, 84, 4)
  assert timestep.observation.dtype == np.uint8
  assert not timestep.observation[..., :3].any()  # Zeros before the start.
  start = environment.cell
  assert start in CHAIN.start_cells
  assert known_answer.cell_of_frame(CHAIN, timestep.observation[..., -1]) == start
  total, steps = 0.0, 0
  while not timestep.last():
    timestep = environment.step(known_answer.RIGHT)
    total += timestep.reward
    steps += 1
  assert steps == 7 - start and total == 1.0 and timestep.discount == 0.0
  assert known_answer.cell_of_frame(CHAIN, timestep.observation[..., -1]) == 7


def test_episodes_are_truncated_with_discount_one():
  environment = factory.make_environment('KnownAnswerChain', seed=0,
                                         max_episode_frames=4 * 5)
  timestep, steps = environment.reset(), 0
  while not timestep.last():
    timestep = environment.step(known_answer.LEFT)
    steps += 1
  assert steps == 5 and timestep.discount == 1.0


def test_bad_action_mode_and_name_are_refused_clearly():
  environment = factory.make_environment('KnownAnswerChain')
  environment.reset()
  with pytest.raises(ValueError, match=r'action=2; valid: 0..1 \(left, right\)'):
    environment.step(2)
  with pytest.raises(ValueError, match='no modes or difficulties'):
    factory.make_environment('KnownAnswerChain', mode=1)
  with pytest.raises(ValueError, match='Unknown known-answer problem'):
    known_answer.problem('KnownAnswerNope')


def test_names_actions_and_references_go_through_the_atari_helpers():
  assert games.canonical_name('KnownAnswerRareAction') == 'KnownAnswerRareAction'
  assert games.num_actions('KnownAnswerRareAction') == 3
  assert games.action_set('KnownAnswerChain') == (0, 1)
  reference = atari_scores.reference_scores('KnownAnswerChain')
  assert reference.human == pytest.approx(1.0)  # The optimal return.
  assert 0.0 < reference.random < 1.0
  assert atari_scores.human_normalized_score(
      'KnownAnswerChain', reference.random) == pytest.approx(0.0)


def test_exact_random_return_matches_monte_carlo_play():
  rng = np.random.default_rng(0)
  environment = known_answer.ChainEnvironment(CHAIN, seed=1)
  returns = []
  for _ in range(4000):
    timestep, total = environment.reset(), 0.0
    while not timestep.last():
      timestep = environment.step(int(rng.integers(2)))
      total += timestep.reward
    returns.append(total)
  exact = known_answer.reference_returns('KnownAnswerChain')[0]
  assert np.mean(returns) == pytest.approx(exact, abs=4 * np.std(returns) /
                                           np.sqrt(len(returns)))


def test_stitching_behaviour_never_walks_from_the_start_to_the_goal():
  stitch = known_answer.problem('KnownAnswerStitch')
  environment = known_answer.ChainEnvironment(stitch, seed=0)
  behaviour = known_answer.behaviour_factory('KnownAnswerStitch', 0, 1, None, 0)
  reached = {0: 0, stitch.stitch_turn_cell: 0}
  for _ in range(300):
    timestep = environment.reset()
    while not timestep.last():
      timestep = environment.step(behaviour.select_action(timestep,
                                                          environment))
    reached[environment.start_cell] += environment.cell == stitch.goal_cell
  assert reached[0] == 0
  assert reached[stitch.stitch_turn_cell] > 100


def test_cql_fixed_point_is_q_star_without_cql_and_solves_its_backup():
  behaviour = known_answer.behaviour_policy(CHAIN)
  np.testing.assert_allclose(
      cql_fixed_point.cql_fixed_point(CHAIN, behaviour, 0.0, 0.9),
      known_answer.optimal_q_values(CHAIN, 0.9), atol=1e-8)
  alpha, gamma = 0.1, 0.9
  q = cql_fixed_point.cql_fixed_point(CHAIN, behaviour, alpha, gamma)
  # By hand at the cell next to the goal: Q(6, right) = 1 - alpha *
  # (pi(right) / 0.3 - 1), pi = softmax(Q(6, .)).
  pi = np.exp(q[6]) / np.exp(q[6]).sum()
  assert q[6, 1] == pytest.approx(1.0 - alpha * (pi[1] / 0.3 - 1.0), abs=1e-8)
  assert q[6, 0] == pytest.approx(gamma * q[5].max() -
                                  alpha * (pi[0] / 0.7 - 1.0), abs=1e-8)
  # At alpha 0.1 the wrong-majority chain's far cells prefer the majority.
  assert cql_fixed_point.optimal_fraction(CHAIN, q) < 1.0
  assert cql_fixed_point.optimal_fraction(
      CHAIN, cql_fixed_point.cql_fixed_point(CHAIN, behaviour, 0.01, gamma)) == 1.0


def test_recorded_chain_reads_back_through_the_loader(tmp_path):
  recorder.record(recorder.RecorderConfig(
      output_dir=str(tmp_path), games=('KnownAnswerChain', 'KnownAnswerRareAction'),
      num_checkpoints=1, steps_per_checkpoint=600, seed=0),
      known_answer.behaviour_factory)
  batch = next(loader.make_multigame_iterator(loader.LoaderConfig(
      games=['KnownAnswerChain', 'KnownAnswerRareAction'], source=str(tmp_path),
      discount=0.9, batch_size=256, seed=0)))
  for i in range(256):
    chain = [CHAIN, RARE][batch.game_id[i]]
    cell = known_answer.cell_of_frame(chain, batch.observation[i, ..., -1])
    next_cell, reward, terminal = chain.transition(cell, int(batch.action[i]))
    assert batch.reward[i] == pytest.approx(reward)
    assert batch.discount[i] == pytest.approx(0.0 if terminal else 0.9)
    assert known_answer.cell_of_frame(
        chain, batch.next_observation[i, ..., -1]) == next_cell
  # The behaviour's action frequencies: 30% toward the goal.
  toward = [CHAIN, RARE][0].toward_action
  share = np.mean(batch.action[batch.game_id == 0] == toward)
  assert 0.15 < share < 0.45
