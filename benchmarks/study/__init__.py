"""The Scaled Q-Learning study: methods x seeds on one recorded dataset.

`python -m benchmarks.study.run` runs what is missing, `python -m
benchmarks.study.report` turns the committed results into tables and plots.
"""
