"""The learner's progress line shows the loss terms the learner logs."""

from absl import logging

from launchers.programs import run_logs


def test_progress_metrics_are_the_logged_loss_terms():
  row = {'learner_steps': 5, 'td_loss': 1.0, 'cql_loss': 2.0,
         'dr3_loss': 3.0, 'total_loss': 6.0, 'q_mean': 0.5,
         'grad_norm': 0.1}
  assert run_logs.progress_metrics(row) == (
      'total_loss', 'cql_loss', 'dr3_loss', 'td_loss', 'q_mean')
  assert run_logs.progress_metrics({'learner_steps': 1}) == ()
  # Acme's BC learner logs a plain 'loss'.
  assert run_logs.progress_metrics({'loss': 1.2, 'gradient_norm': 3.0}) == (
      'loss',)


def test_progress_line_shows_cql(monkeypatch):
  lines = []
  monkeypatch.setattr(logging, 'info',
                      lambda message, *args: lines.append(message % args))
  logger = run_logs.ProgressLogger(total_steps=10, every_seconds=0.0)
  logger.write({'learner_steps': 0, 'cql_loss': 0.25})
  logger.write({'learner_steps': 10, 'cql_loss': 0.125, 'td_loss': 2.0,
                'total_loss': 2.125})
  assert len(lines) == 1
  assert lines[0].startswith('learner step 10/10 (100%)')
  assert lines[0].endswith('total_loss=2.125 cql_loss=0.125 td_loss=2')
