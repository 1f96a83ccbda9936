"""The comparison table of agents and their data (the demo prints it)."""

from launchers.programs import results


def _table(scores, iqm):
  return {'games': [{'game': game, 'mean_score': score,
                     'data_mean_score': data}
                    for game, score, data in scores],
          'human_normalized': {'iqm': iqm}}


def test_agents_side_by_side_bold_above_the_data():
  text = results.format_comparison({
      'Scaled QL': _table([('Pong', -1.0, -4.0), ('Breakout', 0.0, 2.5)],
                          0.25),
      'BC': _table([('Pong', -5.0, -4.0), ('Breakout', 3.0, 2.5)], 0.3),
  })
  assert text.splitlines() == [
      '| game | data mean score | Scaled QL | BC |',
      '|---|---:|---:|---:|',
      '| Pong | -4.0 | **-1.0** | -5.0 |',
      '| Breakout | 2.5 | 0.0 | **3.0** |',
      '| human-normalised IQM | | 0.250 | 0.300 |',
  ]
