"""Diagnostics of a checkpoint on its own dataset's states.

The library behind `python -m launchers.diagnose` (and the demo's last table).
"""

import os
from typing import Any, Dict

import jax
import jax.numpy as jnp
import numpy as np

from agents.scaled_ql import checkpointing
from agents.scaled_ql import diagnostics
from atari_data import loader
from atari_data import object_players
from atari_data import replay
from launchers.programs import checkpoint_loading
from launchers.programs import evaluator as evaluator_lib


# States per forward pass of the reference-state probe: bounds its memory.
_FORWARD_BATCH = 256

# Steps of the data's return behind each probed state: gamma^1000 at 0.99 is
# 4e-5, so the return is the data's full discounted return-to-go.
DEFAULT_RETURN_HORIZON = 1000


def _loader_config(games, dataset, checkpoints, num_states=1024, seed=0,
                   data_dir=None, **loading) -> loader.LoaderConfig:
  """The probed states' LoaderConfig; `loading` sets further fields (n_step,
  discount), LoaderConfig's defaults otherwise."""
  return loader.LoaderConfig(
      games=games, source=dataset, data_dir=data_dir, checkpoints=checkpoints,
      batch_size=num_states, seed=seed, **loading)


def check_input(path: str, dataset: str, checkpoints: str = 'all',
                data_dir=None, reference_states: int = 0):
  """Raises a clear error unless `path` is a checkpoint and `dataset` has
  its games' selected checkpoints (and, for reference states, was recorded
  by launchers.make_dataset); reads no arrays and no episodes."""
  games = checkpointing.read_description(path)['games']
  loader.resolve_sources(_loader_config(games, dataset, checkpoints,
                                        data_dir=data_dir))
  if reference_states:
    for game in filter(object_players.has_player, games):
      replay.recorder_config(os.path.join(dataset, game))


def diagnose_checkpoint(path: str, dataset: str, checkpoints: str = 'all',
                        num_states: int = 1024, seed: int = 0,
                        data_dir=None,
                        return_horizon: int = DEFAULT_RETURN_HORIZON,
                        reference_states: int = 0):
  """(loaded checkpoint, per-game diagnostics) on `num_states` dataset states:
  diagnostics.representation_diagnostics' and, under 'data_returns',
  diagnostics.data_return_calibration's over `return_horizon` steps at the
  learner's discount; with `reference_states`, also
  reference_player_on_data's under 'data_reference_player'."""
  checkpoint = checkpoint_loading.load_checkpoint(path)
  games = checkpoint.builder.config.games
  config = _loader_config(
      games, dataset, checkpoints, num_states, seed, data_dir,
      n_step=return_horizon,
      discount=checkpoint.builder.config.learner.discount)
  iterator = loader.make_multigame_iterator(config)
  batch = jax.tree_util.tree_map(np.asarray, next(iterator))
  networks = checkpoint.builder.make_networks()
  output = diagnostics.network_output(networks, checkpoint.params, batch)
  results = diagnostics.representation_diagnostics(
      output, networks.num_actions, batch, games, seed=seed)
  calibration = diagnostics.data_return_calibration(output.q_values, batch,
                                                    games)
  for game, row in calibration.items():
    results[game]['data_returns'] = {'horizon': return_horizon, **row}
  if reference_states:
    ranges = {source.game: source.checkpoint_range
              for source in loader.resolve_sources(config)}
    for game, row in reference_player_on_data(
        checkpoint, dataset, ranges, reference_states, seed).items():
      results[game]['data_reference_player'] = row
  return checkpoint, results


def q_values_at(checkpoint: checkpoint_loading.LoadedCheckpoint, game: str,
                observations: np.ndarray) -> np.ndarray:
  """[N, the game's actions] Q-values of the checkpoint's network at
  `observations` ([N, 84, 84, 4] frame stacks of `game`), in batches."""
  config = checkpoint.builder.config
  if game not in config.games:
    raise ValueError(f'{checkpoint.path} was trained on {list(config.games)}, '
                     f'not {game}.')
  apply = jax.jit(checkpoint.builder.make_networks().apply)
  game_id = jnp.full([_FORWARD_BATCH], config.game_index(game), jnp.int32)
  num_actions = config.num_actions[config.games.index(game)]
  return np.concatenate([
      np.asarray(apply(checkpoint.params, chunk,
                       game_id[:len(chunk)]).q_values)[:, :num_actions]
      for chunk in np.array_split(
          observations, range(_FORWARD_BATCH, len(observations),
                              _FORWARD_BATCH))])


def reference_player_on_data(checkpoint: checkpoint_loading.LoadedCheckpoint,
                             dataset: str, checkpoint_ranges,
                             states_per_game: int,
                             seed: int = 0) -> Dict[str, Dict[str, Any]]:
  """The greedy policy against the object player on the data's own states.

  For every game with an object player, replays the recording
  (atari_data.replay) to learn the player's action at `states_per_game`
  data states of its checkpoint range (`checkpoint_ranges`: game ->
  (start, stop)), and compares the network's greedy actions and values there
  (diagnostics.reference_action_agreement). The data's epsilon-greedy
  actions agree with the player at a known rate, 'data_agreement'; a learner
  that finds the improvement the data hold agrees more often.

  Returns {game: {'player', 'states', 'data_agreement',
  **reference_action_agreement(...)}}.
  """
  results = {}
  for game in checkpoint.builder.config.games:
    if not object_players.has_player(game):
      continue
    sample = replay.sample_reference_states(
        dataset, game, checkpoint_ranges[game], states_per_game, seed)
    q_values = q_values_at(checkpoint, game, sample['observation'])
    results[game] = {
        'player': object_players.ObjectPlayer(game).description,
        'states': states_per_game,
        'data_agreement': float(np.mean(
            sample['action'] == sample['reference_action'])),
        **diagnostics.reference_action_agreement(
            q_values, q_values.argmax(axis=1), sample['reference_action'])}
  return results


def play_diagnostics(checkpoint: checkpoint_loading.LoadedCheckpoint,
                     episodes_per_game: int, max_episode_frames: int,
                     seed: int = 0) -> Dict[str, Dict[str, Any]]:
  """Plays `episodes_per_game` episodes of every game with the checkpoint's
  evaluation policy (the evaluation protocol, as scored) and compares the
  Q-values of the actions it took with the discounted returns that followed.

  Where the game has an object player (atari_data.object_players), it also
  asks that player for its action at every played state and compares
  (diagnostics.reference_action_agreement).

  Returns {game: {'episode_returns', 'episode_steps',
  'played_action_histogram', **diagnostics.value_calibration(...),
  and for games with an object player 'reference_player': {'player',
  **diagnostics.reference_action_agreement(...)}}}.
  """
  builder = checkpoint.builder
  networks = builder.make_networks()
  apply = jax.jit(networks.apply)
  environment_factory = evaluator_lib.make_evaluation_environment_factory(
      max_episode_frames)
  results = {}
  for game_number, game in enumerate(builder.config.games):
    game_id = jnp.array([builder.config.game_index(game)], jnp.int32)
    policy = jax.jit(builder.make_policy(networks, game, evaluation=True))
    environment = environment_factory(game, seed + game_number)
    reference_player = _reference_player(game)
    key = jax.random.PRNGKey(seed + game_number)
    chosen_q, rewards, returns = [], [], []
    all_q, taken, reference = [], [], []
    num_actions = builder.config.num_actions[game_number]
    played = np.zeros(num_actions, np.int64)
    for _ in range(episodes_per_game):
      timestep = environment.reset()
      episode_q, episode_rewards = [], []
      while not timestep.last():
        observation = timestep.observation[None]
        key, policy_key = jax.random.split(key)
        action = int(policy(checkpoint.params, policy_key, observation)[0])
        # The heads are padded to the largest action set: this game's only.
        q_values = np.asarray(apply(checkpoint.params, observation,
                                    game_id).q_values[0, :num_actions])
        episode_q.append(float(q_values[action]))
        played[action] += 1
        if reference_player is not None:
          all_q.append(q_values)
          taken.append(action)
          reference.append(
              reference_player.select_action(timestep, environment))
        timestep = environment.step(action)
        episode_rewards.append(float(timestep.reward))
      chosen_q.append(np.array(episode_q))
      rewards.append(np.array(episode_rewards))
      returns.append(float(np.sum(episode_rewards)))
    results[game] = {
        'episode_returns': returns,
        'episode_steps': [len(episode) for episode in rewards],
        'played_action_histogram': played.tolist(),
        **diagnostics.value_calibration(
            chosen_q, rewards, builder.config.learner.discount)}
    if reference_player is not None:
      results[game]['reference_player'] = {
          'player': reference_player.description,
          **diagnostics.reference_action_agreement(
              np.stack(all_q), np.array(taken), np.array(reference))}
  return results


def _reference_player(game: str):
  """The game's object player (the noiseless behaviour of the study's
  data), or None for a game without one."""
  if not object_players.has_player(game):
    return None
  return object_players.ObjectPlayer(game)


def format_play_diagnostics(results) -> str:
  """A Markdown table of play_diagnostics' results."""
  lines = ['| game | episodes | mean return | mean steps | Q of actions '
           'taken | discounted return that followed | over-estimation |',
           '|---|---:|---:|---:|---:|---:|---:|']
  for game, row in results.items():
    lines.append(
        f"| {game} | {len(row['episode_returns'])} | "
        f"{np.mean(row['episode_returns']):.2f} | "
        f"{np.mean(row['episode_steps']):.0f} | {row['mean_predicted']:.3f} | "
        f"{row['mean_realised']:.3f} | {row['overestimation']:+.3f} |")
  compared = {game: row['reference_player'] for game, row in results.items()
              if 'reference_player' in row}
  if compared:
    lines += ['', '| game | reference player | its action | states | '
              'share the policy took it | its Q - max Q | actions taken '
              'there |', '|---|---|---:|---:|---:|---:|---|']
    for game, row in compared.items():
      for action, by_action in row['by_reference_action'].items():
        lines.append(
            f"| {game} | {row['player']} | {action} | {by_action['states']} "
            f"| {by_action['agreement']:.3f} | "
            f"{by_action['reference_q_gap']:+.4f} | "
            f"{by_action['taken_histogram']} |")
  return '\n'.join(lines)


def format_diagnostics(results) -> str:
  """A Markdown table of representation_diagnostics' results."""
  lines = ['| game | states | within-game cosine | greedy action share | '
           'Q std over states | action gap | Q(a_data) - mean Q | '
           'data share of greedy action |',
           '|---|---:|---:|---:|---:|---:|---:|---:|']
  for game, row in results.items():
    lines.append(
        f"| {game} | {row['num_states']} | {row['within_game_cosine']:.4f} | "
        f"{row['greedy_action_share']:.2f} | {row['q_state_std']:.4f} | "
        f"{row['action_gap']:.4f} | {row['data_action_advantage']:+.4f} | "
        f"{row['greedy_action_data_share']:.3f} |")
  lines += ['', '| game | states | Q(s, a_data) | discounted return that '
            'followed in the data | over-estimation | correlation over '
            'states |', '|---|---:|---:|---:|---:|---:|']
  for game, row in results.items():
    calibration = row['data_returns']
    correlation = calibration['correlation']
    lines.append(
        f"| {game} | {calibration['states']} | "
        f"{calibration['mean_predicted']:.3f} | "
        f"{calibration['mean_realised']:.3f} | "
        f"{calibration['overestimation']:+.3f} | "
        f"{'-' if correlation is None else f'{correlation:+.3f}'} |")
  compared = {game: row['data_reference_player']
              for game, row in results.items()
              if 'data_reference_player' in row}
  if compared:
    lines += ['', '| game | reference player | data states | the data took '
              "its action | greedy action is its action | its action's Q "
              '- max Q | share of other actions valued below it |',
              '|---|---|---:|---:|---:|---:|---:|']
    for game, row in compared.items():
      lines.append(
          f"| {game} | {row['player']} | {row['states']} | "
          f"{row['data_agreement']:.3f} | {row['agreement']:.3f} | "
          f"{row['reference_q_gap']:+.4f} | "
          f"{row['reference_above_share']:.3f} |")
  return '\n'.join(lines)
