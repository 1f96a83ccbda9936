"""How benchmarks.program_throughput reads the programs' output (no programs
run)."""

import pytest

from benchmarks import program_throughput as bench


def _line(clock: str, source: str, message: str) -> str:
  return f'I1202 {clock} 139914322634432 {source}] {message}\n'


def _progress(clock: str, step: int, total: int = 800) -> str:
  return _line(clock, 'run_logs.py:70',
               f'learner step {step}/{total} ({100 * step // total}%) 9.0 '
               'steps/s ETA 0m30s total_loss=3.5 q_mean=-2.5')


def _actor(clock: str, actor: int, episode: int, steps: int, total: int) -> str:
  return _line(clock, 'online_program.py:189',
               f'actor {actor} episode {episode}: return 1.0, {steps} steps '
               f'(35 steps/s); {total} actor steps, 58 learner steps in all')


def test_learner_rate_is_steps_over_time_between_first_and_last_progress_line():
  text = (_line('03:16:22.000000', 'finetune_experiment.py:191', 'initialised')
          + _progress('03:17:07.500000', 79) + _progress('03:17:17.500000', 166)
          + _progress('03:17:27.000000', 250))
  log = bench.parse_program_log(text)
  assert log.learner == [(3 * 3600 + 17 * 60 + 7.5, 79),
                         (3 * 3600 + 17 * 60 + 17.5, 166),
                         (3 * 3600 + 17 * 60 + 27.0, 250)]
  rate = bench.rate_over(log.learner)
  assert rate['per_second'] == pytest.approx((250 - 79) / 19.5)
  assert rate['seconds'] == pytest.approx(19.5)
  assert rate['count'] == 171 and rate['points'] == 3


def test_lines_after_text_without_a_newline_are_read():
  # Launchpad's countdown ends without a newline before the next record.
  text = ('Waiting for workers to stop for 117s.' + _progress('03:17:07.0', 10)
          + 'Waiting for workers to stop for 116s.'
          + _progress('03:17:17.0', 30))
  assert [step for _, step in bench.parse_program_log(text).learner] == [10, 30]


def test_times_past_midnight_continue_from_the_day_before():
  text = _progress('23:59:55.000000', 100) + _progress('00:00:05.000000', 200)
  log = bench.parse_program_log(text)
  assert log.learner[1][0] - log.learner[0][0] == pytest.approx(10.0)
  assert bench.rate_over(log.learner)['per_second'] == pytest.approx(10.0)


def test_slightly_out_of_order_lines_stay_on_the_same_day():
  text = _progress('03:00:10.000200', 100) + _actor('03:00:10.000100', 0, 1,
                                                     500, 500)
  log = bench.parse_program_log(text)
  assert log.actor_episodes[0].seconds == pytest.approx(3 * 3600 + 10.0001)


def test_insert_rate_counts_actor_episodes_inside_the_learner_window():
  text = (_actor('03:16:33.0', 0, 1, 500, 500)      # Before the window.
          + _progress('03:17:00.0', 50)
          + _actor('03:17:04.0', 0, 2, 500, 1000)
          + _actor('03:17:10.0', 1, 1, 400, 1400)
          + _line('03:17:12.0', 'evaluator.py:158',
                  'evaluation at learner step 60: Breakout mean return 0.0 '
                  'over 1 episodes (human-normalised -0.059)')
          + _actor('03:17:24.0', 0, 3, 500, 1900)
          + _progress('03:17:30.0', 200)
          + _actor('03:17:40.0', 1, 2, 400, 2300))  # After it.
  rates = bench.program_rates(bench.parse_program_log(text))
  assert rates['learner']['per_second'] == pytest.approx(150 / 30)
  assert rates['inserts']['per_second'] == pytest.approx((1900 - 1000) / 20)
  assert [e['actor_id'] for e in rates['actor_episodes']] == [0, 1, 0]
  assert rates['actor_episodes'][1]['steps'] == 400
  assert rates['actor_episodes'][1]['steps_per_second'] == 35
  assert rates['evaluated_games'] == 1


def test_too_few_points_give_no_rate():
  assert bench.rate_over([]) is None
  assert bench.rate_over([(1.0, 10)]) is None
  assert bench.rate_over([(1.0, 10), (1.0, 20)]) is None
  one_line = bench.program_rates(bench.parse_program_log(
      _progress('03:00:00.0', 5)))
  assert one_line['learner'] is None and one_line['inserts'] is None


def test_the_bound_is_the_side_nearer_its_free_rate():
  assert bench.limiter_bound(0.95, 0.40) == 'learner'
  assert bench.limiter_bound(0.50, 0.98) == 'actors'
  assert bench.limiter_bound(0.95, None) == 'learner'
  assert bench.limiter_bound(0.50, None).startswith('not known')


def test_table_marks_missing_figures():
  table = bench.format_table([
      dict(what='bare update', steps_per_s=12.345, ratio=1.0, of='itself',
           load_before='1.00/0.50/0.25', load_after='1.50/0.60/0.30'),
      dict(what='inserts', steps_per_s=None, ratio=None, of='',
           load_before='1.50/0.60/0.30', load_after='2.00/0.70/0.35')])
  lines = table.splitlines()
  assert lines[2] == ('| bare update | 12.3 | 1.00 | itself | 1.00/0.50/0.25 '
                      '| 1.50/0.60/0.30 |')
  assert lines[3].startswith('| inserts | - | - |')
