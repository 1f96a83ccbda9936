"""What offline fine-tuning carries over, and that it is all that differs.

A run initialised from a pre-trained checkpoint must compute the
pre-trained features exactly, give the new game the head a run from scratch
would start with, and share everything else with that run from scratch:
data order, settings, evaluation.
"""

import dataclasses

import jax
import numpy as np

from atari_data import loader
from benchmarks.study import config as study_config
from benchmarks.study import offline
from launchers.programs import checkpoint_loading
from tests_support import tiny_experiment


def _initial_parameters(experiment):
  return jax.device_get(
      experiment.make_learner_runner().get_variables(['policy'])[0])


def test_fine_tuning_starts_with_the_pretrained_features_and_a_fresh_head(
    tiny_atari_dataset, pong_checkpoint, tmp_path):
  scratch = tiny_experiment(tiny_atari_dataset, tmp_path / 'scratch',
                            games=('Breakout',), seed=3)
  pretrained = dataclasses.replace(scratch, workdir=str(tmp_path / 'init'),
                                   init_checkpoint=pong_checkpoint)
  loaded = checkpoint_loading.load_checkpoint(pong_checkpoint)
  fine_tuning = _initial_parameters(pretrained)
  from_scratch = _initial_parameters(scratch)

  # The features of the pre-training data, through the fine-tuning network,
  # are the pre-trained network's.
  states = next(loader.make_multigame_iterator(loader.LoaderConfig(
      games=('Pong',), source=tiny_atari_dataset, batch_size=64))).observation
  network = pretrained.make_builder().make_networks()
  pretrained_network = loaded.builder.make_networks()
  features, norms = network.embed(fine_tuning, states)
  expected, expected_norms = pretrained_network.embed(loaded.params, states)
  np.testing.assert_array_equal(np.asarray(features), np.asarray(expected))
  np.testing.assert_array_equal(np.asarray(norms), np.asarray(expected_norms))
  # ... and not those of the fresh network.
  fresh_features, _ = network.embed(from_scratch, states)
  assert np.abs(np.asarray(fresh_features) - np.asarray(expected)).max() > 1e-3

  # The new game's head is the head the run from scratch starts with.
  for name in fine_tuning['heads']:
    np.testing.assert_array_equal(fine_tuning['heads'][name],
                                  from_scratch['heads'][name])


def test_the_two_runs_see_the_same_batches(tiny_atari_dataset,
                                           pong_checkpoint, tmp_path):
  scratch = tiny_experiment(tiny_atari_dataset, tmp_path / 'scratch',
                            games=('Breakout',), seed=3)
  pretrained = dataclasses.replace(scratch, workdir=str(tmp_path / 'init'),
                                   init_checkpoint=pong_checkpoint)
  for a, b in zip(*(iter(e.make_dataset_iterator()) for e in
                    (scratch, pretrained))):
    for field in a._fields:
      np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    break


def test_the_study_runs_differ_only_in_their_initial_parameters(tmp_path):
  study = study_config.FINETUNING
  experiments = {
      method.name: offline.make_experiment(study, method, 1, str(tmp_path),
                                       init_from=(str(tmp_path / 'c.npz') if
                                                  method.init_from else None))
      for method in study.methods}
  as_dict = {name: dataclasses.asdict(e) for name, e in experiments.items()}

  def differences(a, b):
    return sorted(k for k in as_dict[a] if as_dict[a][k] != as_dict[b][k])

  assert differences('pretrained', 'scratch') == ['init_checkpoint',
                                                  'workdir']
  assert differences('frozen', 'pretrained') == ['learner', 'workdir']
  assert dataclasses.replace(experiments['frozen'].learner,
                             frozen_torso=False) == (
                                 experiments['pretrained'].learner)
