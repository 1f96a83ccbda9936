"""What the study compares: one dataset, the methods, seeds and budgets.

Everything that defines a run lives here, so a result file (which stores
these settings) can be traced back to the code that made it. Changing a
setting of the study changes its `name` (a new study), never the meaning of
results already committed.

The dataset, chosen from a pilot (docs/STUDY.md): MsPacman, Qbert and
Asterix, whose lookahead planner scores rise steadily as its epsilon falls
(3-episode pilot, epsilon 1.0 / 0.75 / 0.5 / 0.25 / 0.0: MsPacman 223 / 333
/ 937 / 1957 / 2577, Qbert 133 / 408 / 517 / 617 / ..., Asterix 333 / 400 /
367 / 850 / 1400), unlike Seaquest (40 / 167 / 100 / 107 / 133) and
SpaceInvaders (248 / 110 / 350 / 217 / 565), and whose rewards are dense
enough to learn from in a CPU budget. Ten behaviour checkpoints per game,
epsilon 0.6 falling to 0 (as DQN-Replay's checkpoints improve along a run);
the methods learn from the first 20% (checkpoints 0-1), the paper's
"low quality" data.
"""

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

from agents.scaled_ql import config as learner_config
from atari_data import policies
from builders import config as builder_config


@dataclasses.dataclass(frozen=True)
class StudyDataset:
  """The recorded behaviour data (atari_data.recorder, lookahead policy).

  Attributes:
    games: the games, in head order.
    num_checkpoints: behaviour checkpoints per game, of rising quality.
    steps_per_checkpoint: transitions per checkpoint.
    behaviour: the player noisy play follows and its noise
      (atari_data.policies.SCHEDULES: 'lookahead', the planner on emulator
      rollouts; 'object_player', players that act on what the screen shows;
      'object_player_lapses', the same players with lapses of attention).
    epsilon_first, epsilon_last: the behaviour's epsilon at the first and
      last checkpoint (linear in between; for lapses, the share of steps
      spent in them).
    behaviour_settings: further fields of the behaviour's schedule, as
      (name, value) pairs (e.g. ('mean_lapse_steps', 16.0)); none: its
      defaults.
    learn_from: the checkpoints the methods learn from ('first 20%').
    random_episodes: episodes of uniform random play per game recorded
      beside the data, the floor the low-quality data must clear.
    max_episode_frames: episode cap of the recording (and the evaluation).
    seed: the recorder's seed.
  """
  games: Tuple[str, ...] = ('MsPacman', 'Qbert', 'Asterix')
  num_checkpoints: int = 10
  steps_per_checkpoint: int = 10_000
  behaviour: str = 'lookahead'
  epsilon_first: float = 0.6
  epsilon_last: float = 0.0
  learn_from: str = 'first 20%'
  random_episodes: int = 20
  max_episode_frames: int = 18_000
  seed: int = 0
  behaviour_settings: Tuple[Tuple[str, Any], ...] = ()

  def __post_init__(self):
    if self.behaviour not in policies.SCHEDULES:
      raise ValueError(f'behaviour={self.behaviour!r}; valid behaviours: '
                       f'{sorted(policies.SCHEDULES)}.')
    fields = {f.name for f in dataclasses.fields(
        policies.SCHEDULES[self.behaviour])}
    unknown = sorted(set(dict(self.behaviour_settings)) - fields)
    if unknown:
      raise ValueError(f'behaviour_settings {unknown} are not fields of '
                       f'{self.behaviour!r}; its fields: {sorted(fields)}.')

  def schedule(self) -> policies.EpsilonSchedule:
    """The PolicyFactory that records (and replays) the data."""
    return policies.SCHEDULES[self.behaviour](
        epsilon_first=self.epsilon_first, epsilon_last=self.epsilon_last,
        **dict(self.behaviour_settings))

  @property
  def plays_object_player(self) -> bool:
    """Whether the behaviour follows an object player, whose recordings
    replay with the player's action at every state (atari_data.replay)."""
    return issubclass(policies.SCHEDULES[self.behaviour],
                      policies.ObjectPlayerSchedule)


@dataclasses.dataclass(frozen=True)
class Method:
  """One method of the study.

  Attributes:
    name: short name (the results folder).
    agent: 'scaled_ql' (this project's learner, with `learner` overrides of
      the study's base settings) or 'bc' (Acme's BC learner on the same
      torso, with per-game policy heads).
    description: what it tests, for the report.
    learner: ScaledQLConfig fields that differ from the study's base.
    init_from: a method of the study's `pretraining` study whose run with
      the same seed initialises this one from its final checkpoint (shared
      torso and projection carried over, fresh heads for games it never saw:
      agents.scaled_ql.transfer); None: from scratch.
  """
  name: str
  agent: str
  description: str
  learner: Tuple[Tuple[str, Any], ...] = ()
  init_from: Optional[str] = None


# The settings all Scaled QL variants share: the library's ScaledQLConfig
# defaults, with the CPU demo's choices where the demo's diagnostics (not
# evaluation scores) found the defaults unable to learn at this budget:
# 10-step returns, Adam epsilon 1e-8, a target update every 250 steps (see
# docs/STUDY.md and the README's demo section), batch 32 ([batchrl]).
BASE_LEARNER = dict(network_size='resnet_tiny', batch_size=32, n_step=10,
                    adam_eps=1e-8, target_update_period=250)

METHODS: Tuple[Method, ...] = (
    Method('scaled_ql', 'scaled_ql',
           'Scaled Q-Learning: C51 + CQL + DR3, ResNet with spatial '
           'embeddings and normalised features, one head per game'),
    Method('bc', 'bc', "Behaviour cloning, Acme's BC learner, same torso"),
    Method('no_cql', 'scaled_ql', 'Scaled QL without CQL (alpha 0)',
           (('cql_alpha', 0.0),)),
    Method('no_dr3', 'scaled_ql', 'Scaled QL without DR3',
           (('dr3_coefficient', 0.0),)),
    Method('mse', 'scaled_ql', 'Scaled QL with a scalar head and MSE TD '
           'loss instead of C51', (('value_loss', 'mse'),)),
    Method('hl_gauss', 'scaled_ql', 'Scaled QL with the HL-Gauss histogram '
           'loss instead of C51', (('value_loss', 'hl_gauss'),)),
    Method('nature_dqn', 'scaled_ql', 'Scaled QL with the Nature-DQN torso '
           'instead of the ResNet', (('network_size', 'nature_dqn'),)),
    # The one change the first runs' diagnostics point to (docs/STUDY.md),
    # chosen before its results: the base's 10-step returns on data whose
    # actions are mostly random estimate the behaviour's Q, whose action
    # gaps are small; 3-step returns bootstrap from max Q sooner.
    Method('scaled_ql_n3', 'scaled_ql', 'Scaled QL with 3-step instead of '
           '10-step returns', (('n_step', 3),)),
)


@dataclasses.dataclass(frozen=True)
class Study:
  """The whole study.

  Attributes:
    name: identifies the study in every result file.
    dataset: the data every method learns from.
    methods: the methods compared.
    seeds: learner seeds (parameters, data order, evaluation environments).
    num_steps: learner updates per run (the same for every method).
    eval_every_steps, curve_episodes: the learning curve's evaluation.
    final_episodes: evaluation episodes per game at the end (sticky actions).
    focus: the method the report compares with the data and with every
      other method.
    pretraining: the study whose runs the methods' `init_from` name.
    work_subdir: this study's folder (data and runs) under the runner's
      --root; '' for the first study, whose data sit at the root itself.
    data_subdir: the folder under --root of the data it learns from, where
      that is another study's recording of the same `dataset` (so it is not
      recorded twice); None: its own work_subdir.
    baselines: (study, method) pairs of other studies whose runs the report
      shows beside this study's methods, labelled '<study>/<method>' (the
      runs a change is judged against, measured once, not run again); they
      must share this study's games and reference scores.
    base_learner: the ScaledQLConfig fields every method of the study
      shares, before its own `learner` overrides.
  """
  name: str = 'small_scale_v1'
  dataset: StudyDataset = StudyDataset()
  methods: Tuple[Method, ...] = METHODS
  seeds: Tuple[int, ...] = (0, 1, 2)
  num_steps: int = 20_000
  eval_every_steps: int = 5_000
  curve_episodes: int = 2
  final_episodes: int = 10
  focus: str = 'scaled_ql'
  pretraining: Optional[str] = None
  work_subdir: str = ''
  data_subdir: Optional[str] = None
  baselines: Tuple[Tuple[str, str], ...] = ()
  base_learner: Tuple[Tuple[str, Any], ...] = tuple(BASE_LEARNER.items())

  def __post_init__(self):
    names = [method.name for method in self.methods]
    if self.focus not in names:
      raise ValueError(f'Study {self.name}: focus {self.focus!r} is not one '
                       f'of its methods {names}.')
    if any(method.init_from for method in self.methods) and (
        not self.pretraining):
      raise ValueError(f'Study {self.name} initialises methods from '
                       'another study\'s runs but names no `pretraining`.')

  def method(self, name: str) -> Method:
    for method in self.methods:
      if method.name == name:
        return method
    raise ValueError(f'Unknown method {name!r}; methods of study '
                     f'{self.name}: {[m.name for m in self.methods]}.')

  def learner_config(self, method: Method) -> learner_config.ScaledQLConfig:
    return learner_config.ScaledQLConfig(**{**dict(self.base_learner),
                                            **dict(method.learner)})

  def settings(self, method: Method, seed: int) -> Dict[str, Any]:
    """What a result file records about how it was made."""
    return {
        'method': dataclasses.asdict(method),
        'learner': dataclasses.asdict(self.learner_config(method)),
        'dataset': dataclasses.asdict(self.dataset),
        'num_steps': self.num_steps, 'seed': seed,
        'eval_every_steps': self.eval_every_steps,
        'curve_episodes': self.curve_episodes,
        'final_episodes': self.final_episodes,
    }


STUDY = Study()

# Does pre-training help offline fine-tuning on games the backbone never saw?
# The small_scale_v1 Scaled QL runs (seed k seeds fine-tuning seed k) against
# the same network from scratch and against their torso frozen, on a small
# dataset of two new games recorded the same way (the first 20%: 10,000
# transitions per game), with the same base settings, updates and evaluation.
FINETUNING_DATASET = StudyDataset(games=('Alien', 'WizardOfWor'),
                                  steps_per_checkpoint=5_000)


def finetuning_methods(pretraining: str) -> Tuple[Method, ...]:
  """Offline fine-tuning from the Scaled QL runs of study `pretraining`,
  from scratch, and with the pre-trained torso frozen."""
  return (
      Method('pretrained', 'scaled_ql', f'Fine-tuned from the {pretraining} '
             'Scaled QL run of the same seed: its torso and projection, new '
             'heads', init_from='scaled_ql'),
      Method('scratch', 'scaled_ql', 'The same network and settings, '
             'initialised from scratch'),
      Method('frozen', 'scaled_ql', 'The pre-trained torso and projection '
             'frozen: only the new heads train',
             (('frozen_torso', True),), init_from='scaled_ql'),
  )


FINETUNING = Study(name='offline_finetuning_v1', dataset=FINETUNING_DATASET,
                   methods=finetuning_methods(STUDY.name), num_steps=10_000,
                   eval_every_steps=2_500, focus='pretrained',
                   pretraining=STUDY.name, work_subdir='offline_finetuning_v1')

# The one change the offline fine-tuning study's diagnostics point to
# (docs/STUDY.md): its frozen backbone barely tells a new game's states
# apart, so the same Scaled QL pre-training on the same data with twice
# the updates, whose runs then initialise the same fine-tuning (on
# offline_finetuning_v1's data; its from-scratch runs are the baseline, the
# same network, settings and updates from scratch).
LONG_PRETRAINING = Study(name='small_scale_long_v1', methods=METHODS[:1],
                         num_steps=40_000, eval_every_steps=10_000,
                         work_subdir='small_scale_long_v1', data_subdir='',
                         baselines=((STUDY.name, 'scaled_ql'),))
LONG_FINETUNING = Study(
    name='offline_finetuning_long_v1', dataset=FINETUNING_DATASET,
    methods=tuple(method for method in finetuning_methods(
        LONG_PRETRAINING.name) if method.name != 'scratch'),
    num_steps=FINETUNING.num_steps,
    eval_every_steps=FINETUNING.eval_every_steps, focus='pretrained',
    pretraining=LONG_PRETRAINING.name,
    work_subdir='offline_finetuning_long_v1',
    data_subdir=FINETUNING.work_subdir,
    baselines=tuple((FINETUNING.name, method.name)
                    for method in FINETUNING.methods))


@dataclasses.dataclass(frozen=True)
class GameVariant:
  """An ALE mode/difficulty of a game (None: the game's default)."""
  game: str
  mode: Optional[int] = None
  difficulty: Optional[int] = None

  @property
  def label(self) -> str:
    """The variant's name in result files and reports."""
    parts = [self.game]
    if self.mode is not None:
      parts.append(f'mode {self.mode}')
    if self.difficulty is not None:
      parts.append(f'difficulty {self.difficulty}')
    return ' '.join(parts)


@dataclasses.dataclass(frozen=True)
class OnlineStudy:
  """Online fine-tuning (Reverb replay, actors, launchers.finetune_online's
  program) on game variants the pre-training data never had.

  Attributes:
    name, methods, seeds, focus, pretraining, work_subdir, base_learner: as
      in Study.
    variants: the game variants, each a program of its own in every run.
    num_env_steps: environment steps per variant and run.
    eval_every_steps: learner steps between the curve's evaluations.
    curve_episodes: episodes per evaluation of the curve.
    final_episodes: evaluation episodes of the final parameters.
    max_episode_frames: episode cap of the actors and the evaluations.
    random_episodes: episodes of uniform random play per variant, the
      floor every method is measured from.
    launch_type: the Launchpad launch type of the runs.
    online: actors' exploration and the Reverb replay
      (builders.config.OnlineSettings, where the defaults and their sources
      are).
  """
  name: str
  variants: Tuple[GameVariant, ...]
  methods: Tuple[Method, ...]
  pretraining: str
  seeds: Tuple[int, ...] = (0, 1, 2)
  num_env_steps: int = 20_000
  eval_every_steps: int = 1_000
  curve_episodes: int = 2
  final_episodes: int = 10
  max_episode_frames: int = 18_000
  random_episodes: int = 20
  focus: str = 'pretrained'
  work_subdir: str = ''
  launch_type: str = 'local_mt'
  online: builder_config.OnlineSettings = builder_config.OnlineSettings()
  base_learner: Tuple[Tuple[str, Any], ...] = tuple(BASE_LEARNER.items())

  method = Study.method
  learner_config = Study.learner_config

  @property
  def games(self) -> Tuple[str, ...]:
    return tuple(variant.label for variant in self.variants)

  def settings(self, method: Method, seed: int) -> Dict[str, Any]:
    """What a result file records about how it was made."""
    return {
        'method': dataclasses.asdict(method),
        'learner': dataclasses.asdict(self.learner_config(method)),
        'variants': [dataclasses.asdict(v) for v in self.variants],
        'num_env_steps': self.num_env_steps, 'seed': seed,
        'eval_every_steps': self.eval_every_steps,
        'curve_episodes': self.curve_episodes,
        'final_episodes': self.final_episodes,
        'max_episode_frames': self.max_episode_frames,
        'launch_type': self.launch_type,
        'online': dataclasses.asdict(self.online),
    }


# Does pre-training help online fine-tuning on new variants of its games?
# The paper's budget of 20k online steps, on the ALE variants the
# small_scale_v1 games have (Asterix has none): a MsPacman mode and Qbert's
# other difficulty, from the Scaled QL runs vs from scratch.
ONLINE_FINETUNING = OnlineStudy(
    name='online_finetuning_v1',
    variants=(GameVariant('MsPacman', mode=1),
              GameVariant('Qbert', difficulty=1)),
    methods=(
        Method('pretrained', 'scaled_ql', 'Fine-tuned online from the '
               'small_scale_v1 Scaled QL run of the same seed (all its '
               'parameters; the variant\'s game head trains on)',
               init_from='scaled_ql'),
        Method('scratch', 'scaled_ql', 'The same learner and settings, '
               'online from scratch (one head)'),
    ),
    pretraining=STUDY.name, work_subdir='online_finetuning_v1')

# The paper's question again, on data a learner can beat (docs/STUDY.md,
# "The second study"): players that act on what the screen shows, chosen
# from a pilot (benchmarks.study.pilot; docs/study/pilot/), epsilon 0.5
# falling to 0 over five checkpoints of 100,000 transitions; the methods
# learn from checkpoint 0 (epsilon 0.5, the first 20%), which the pilot
# found clearly above random play and below the best checkpoint in every
# game, with actions the frames predict.
OBJECT_PLAYERS_DATASET = StudyDataset(
    games=('Breakout', 'Boxing', 'Freeway'), num_checkpoints=5,
    steps_per_checkpoint=100_000, behaviour='object_player',
    epsilon_first=0.5, epsilon_last=0.0)
# The settings the known-answer problems justify (docs/KNOWN_ANSWER.md,
# section 4; benchmarks.known_answer_runs.CHAIN_LEARNER): CQL alpha 0.01,
# 1-step returns from a behaviour far from optimal, a target update every
# 100 steps; the support from the pilot's returns: the discounted returns
# of the data at epsilon 0.5 have 1st percentiles 0 / -2.4 / 0 and 99th
# 3.4 / 3.8 / 1.4 in Breakout / Boxing / Freeway (every checkpoint's within
# -3.0 and 4.1), so [-5, 5] covers them with a margin, where the library's
# [-10, 10] is twice as wide and CQL's pessimism grows with the width.
KNOWN_ANSWER_LEARNER = {**BASE_LEARNER, 'n_step': 1, 'cql_alpha': 0.01,
                        'target_update_period': 100, 'v_min': -5.0,
                        'v_max': 5.0}
# The object-player studies' baselines beside their Scaled QL.
OBJECT_PLAYERS_BC = Method('bc', 'bc', "Behaviour cloning, Acme's BC "
                           'learner, same torso')
OBJECT_PLAYERS_NO_CQL = Method('no_cql', 'scaled_ql',
                               'The same without CQL (alpha 0)',
                               (('cql_alpha', 0.0),))
OBJECT_PLAYERS_MSE = Method('mse', 'scaled_ql', 'The same with a scalar '
                            'head and MSE TD loss instead of C51',
                            (('value_loss', 'mse'),))
OBJECT_PLAYERS = Study(
    name='object_players_v1', dataset=OBJECT_PLAYERS_DATASET,
    methods=(
        Method('scaled_ql', 'scaled_ql',
               'Scaled QL with the known-answer settings: C51 + CQL (alpha '
               '0.01) + DR3, 1-step, target every 100, support [-5, 5]'),
        OBJECT_PLAYERS_BC, OBJECT_PLAYERS_NO_CQL, OBJECT_PLAYERS_MSE,
    ),
    # 30,000 updates: Scaled QL's learner ran 21-22 updates/s alone here, so
    # a run with its evaluations takes about 30 minutes.
    seeds=(0, 1, 2, 3, 4), num_steps=30_000, eval_every_steps=6_000,
    final_episodes=20,
    work_subdir='object_players_v1',
    base_learner=tuple(KNOWN_ANSWER_LEARNER.items()))


def _object_players_successor(name, learner, scaled_ql_description,
                               baselines):
  """object_players_v1's data, seeds and budget with another learner.

  BC is not run again (its runs are v1's: neither DR3 nor the atoms touch
  it); Scaled QL, CQL off and MSE are, each on `learner`.
  """
  return Study(
      name=name, dataset=OBJECT_PLAYERS_DATASET,
      methods=(
          Method('scaled_ql', 'scaled_ql', scaled_ql_description),
          OBJECT_PLAYERS_NO_CQL, OBJECT_PLAYERS_MSE,
      ),
      seeds=OBJECT_PLAYERS.seeds, num_steps=OBJECT_PLAYERS.num_steps,
      eval_every_steps=OBJECT_PLAYERS.eval_every_steps,
      final_episodes=OBJECT_PLAYERS.final_episodes,
      work_subdir=name, data_subdir=OBJECT_PLAYERS.work_subdir,
      baselines=baselines, base_learner=tuple(learner.items()))


# The same data and question with DR3 at 1.0 (docs/STUDY.md, "Dissection
# before more runs" and "DR3's weight, over seeds"): on the study's data at
# 0.03 the network's features collapsed (within-game cosine 0.998-0.9999,
# Q-values constant over states, one greedy action per game) and the DR3
# term sat at its bound (features of unit norm: |phi(s).phi(s')| <= 1, so the
# term is at most the coefficient, 0.03 nats against a TD cross-entropy of
# ~3.4); at 1.0 the features stayed apart in every seed dissected, and on
# the known-answer problems 1.0 kept the optimal policy in every seed
# (docs/KNOWN_ANSWER.md, section 5). Chosen from those diagnostics, not from
# evaluation scores. BC has no DR3: its runs are object_players_v1's, not
# run again.
OBJECT_PLAYERS_V2_LEARNER = {**KNOWN_ANSWER_LEARNER, 'dr3_coefficient': 1.0}
OBJECT_PLAYERS_V2 = _object_players_successor(
    'object_players_v2', OBJECT_PLAYERS_V2_LEARNER,
    'Scaled QL with the known-answer settings and DR3 at 1.0: C51 + CQL '
    '(alpha 0.01) + DR3 (1.0), 1-step, target every 100, support [-5, 5]',
    baselines=((OBJECT_PLAYERS.name, 'bc'), (OBJECT_PLAYERS.name, 'scaled_ql')))

# The same data and question with 126 atoms on [-5, 5] (an atom every 0.08,
# the spacing of 51 atoms on [-2, 2]), the only change (tested). At the
# study's discount 0.99, an action that waits one step is worth gamma times
# the best (Breakout's serve: NOOP instead of FIRE), a gap of 1% of the value;
# on the two-game known-answer task at 0.99 (docs/KNOWN_ANSWER.md, section 6)
# v2's learner (51 atoms, spacing 0.2) returned what random play does (0.41
# against 0.40, 5 seeds) and 126 atoms restored it (0.93, 5 seeds; greedy
# optimal 0.59 -> 0.91). Chosen from that task, not from evaluation scores.
# Its baselines: BC (v1's runs; no atoms) and v2's Scaled QL.
OBJECT_PLAYERS_V3_LEARNER = {**OBJECT_PLAYERS_V2_LEARNER, 'num_atoms': 126}
OBJECT_PLAYERS_V3 = _object_players_successor(
    'object_players_v3', OBJECT_PLAYERS_V3_LEARNER,
    'Scaled QL with the known-answer settings at discount 0.99: C51 (126 '
    'atoms on [-5, 5]) + CQL (alpha 0.01) + DR3 (1.0), 1-step, target every '
    '100',
    baselines=((OBJECT_PLAYERS.name, 'bc'),
               (OBJECT_PLAYERS_V2.name, 'scaled_ql')))

# The paper's question on data whose mistakes persist (docs/STUDY.md, "The
# players with lapses"): the object players with lapses of attention, a share
# of 0.25 of the steps falling to 0 over five checkpoints of 100,000
# transitions, lapses of 16 steps on average. On the object players'
# epsilon-greedy data the improvement over the behaviour was many small
# one-step advantages that no value learner resolved (data_evidence: about 3%
# of the value or less), and imitating the most frequent action recovered the
# player; a lapse costs a ball or a point, and in the states lapses lead to,
# the most frequent action is the lapse's. Boxing is left out (its player
# scores 6.8 with no noise, and lapses take it to random play's level or
# below: 1.3 at a share of 0.125); Pong is in (its tracker scores -3.7 with
# no noise and -15.8 at 0.25, random play -20.5). The learner is v3's, the
# settings the known-answer problems justify, unchanged.
OBJECT_PLAYER_LAPSES_DATASET = StudyDataset(
    games=('Pong', 'Breakout', 'Freeway'), num_checkpoints=5,
    steps_per_checkpoint=100_000, behaviour='object_player_lapses',
    epsilon_first=0.25, epsilon_last=0.0,
    behaviour_settings=(('mean_lapse_steps', 16.0),))
OBJECT_PLAYER_LAPSES = Study(
    name='object_player_lapses_v1', dataset=OBJECT_PLAYER_LAPSES_DATASET,
    methods=(
        Method('scaled_ql', 'scaled_ql',
               'Scaled QL with the known-answer settings: C51 (126 atoms on '
               '[-5, 5]) + CQL (alpha 0.01) + DR3 (1.0), 1-step, target every '
               '100'),
        OBJECT_PLAYERS_BC, OBJECT_PLAYERS_NO_CQL, OBJECT_PLAYERS_MSE,
    ),
    seeds=OBJECT_PLAYERS.seeds, num_steps=OBJECT_PLAYERS.num_steps,
    eval_every_steps=OBJECT_PLAYERS.eval_every_steps,
    final_episodes=OBJECT_PLAYERS.final_episodes,
    work_subdir='object_player_lapses_v1',
    base_learner=tuple(OBJECT_PLAYERS_V3_LEARNER.items()))

STUDIES = {study.name: study
           for study in (STUDY, FINETUNING, ONLINE_FINETUNING,
                         LONG_PRETRAINING, LONG_FINETUNING, OBJECT_PLAYERS,
                         OBJECT_PLAYERS_V2, OBJECT_PLAYERS_V3,
                         OBJECT_PLAYER_LAPSES)}


def study_named(name: str):
  """The Study or OnlineStudy called `name`."""
  if name not in STUDIES:
    raise ValueError(f'Unknown study {name!r}; studies: {sorted(STUDIES)}.')
  return STUDIES[name]


def baseline_methods(study) -> List[Tuple[str, Method, 'Study']]:
  """(label, method, its study) of each of `study.baselines`; none for an
  OnlineStudy, which has no baselines."""
  if not isinstance(study, Study):
    return []
  found = []
  for other_name, method_name in study.baselines:
    other = study_named(other_name)
    if other.name == study.name:
      raise ValueError(f'Study {study.name} names itself as a baseline.')
    found.append((f'{other.name}/{method_name}', other.method(method_name),
                  other))
  return found
