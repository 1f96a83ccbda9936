"""The program library behind the command lines: one concept per module.

Entry points:
  offline_program.run(PretrainExperiment, launch_type)  offline pre-training
  finetune_experiment.run(FinetuneExperiment, launch_type)  online fine-tuning
  online_program.make_program(builder, ...)  the online program of any Acme
                                             builder
  results.evaluate_checkpoint(path, ...)     final evaluation, tables, plots
  checkpoint_diagnosis.diagnose_checkpoint(path, dataset)  what a network
                                                           learned
See docs/ARCHITECTURE.md for the modules and how a program runs and stops.
"""
