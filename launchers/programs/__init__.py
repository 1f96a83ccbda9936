"""The program library behind the command lines: one concept per module.

Entry points:
  offline_program.run(PretrainExperiment, launch_type)
      one offline pre-training (or offline fine-tuning) run to completion:
      'local_mt', 'local_mp' or 'single_process'; results in its workdir
  finetune_experiment.run(FinetuneExperiment, launch_type)
      one online fine-tuning run to completion
  online_program.make_program(builder, ...)
      the online Launchpad program of any Acme builder
  results.evaluate_checkpoint(path, ...)
      the final evaluation of a checkpoint: table, files, plots
  checkpoint_loading.load_checkpoint(path), make_evaluator(loaded, ...)
      a checkpoint as an agent, and its in-process evaluator
  checkpoint_diagnosis.diagnose_checkpoint(path, dataset)
      what a checkpoint's network learned
docs/ARCHITECTURE.md lists every module and explains how a program runs and
stops.
"""
