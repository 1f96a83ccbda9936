"""A Launchpad + Reverb round trip that stops by itself: the stack check.

A three-node Launchpad program: a Reverb server, a producer that writes
`num_items` numbered items into a FIFO table, and a consumer that reads them
back through a `reverb.TrajectoryDataset` (the path a learner uses), checks
every item, writes a JSON report and stops the program. Every node exits on
its own, so the program ends with status 0:

* no call blocks without a timeout: the consumer's dataset gives up after
  RATE_LIMITER_TIMEOUT_MS when the table is empty and checks for the stop
  again; the producer's table is large enough that inserts never wait;
* the loops poll the one stop check of the programs (stop.stop_check).
"""

import os
from typing import Dict, List

from absl import logging
import launchpad as lp
import numpy as np
import reverb
import tensorflow as tf

from launchers.programs import atomic_files
from launchers.programs import stop

TABLE = 'items'
PAYLOAD_SIZE = 16
# How long one read may wait on an empty table before the consumer looks at
# the stop check again. Short enough to stop well inside the termination
# notice.
RATE_LIMITER_TIMEOUT_MS = 500
# The producer waits for the server to confirm its items every so often, with
# a deadline, so the writer's buffers stay small and no flush waits forever.
FLUSH_EVERY_ITEMS = 16
FLUSH_TIMEOUT_MS = 5_000


def payload_of(index: int) -> np.ndarray:
  """The payload the producer attaches to item `index`."""
  return np.arange(PAYLOAD_SIZE, dtype=np.float32) + np.float32(index)


def make_tables(num_items: int) -> List[reverb.Table]:
  signature = {
      'index': tf.TensorSpec([1], tf.int64),
      'payload': tf.TensorSpec([1, PAYLOAD_SIZE], tf.float32),
  }
  # max_size >= num_items: the producer's inserts never block on a full queue.
  return [reverb.Table.queue(TABLE, max_size=num_items, signature=signature)]


class Producer:
  """Writes items 0..num_items-1 into the table, then returns."""

  def __init__(self, client: reverb.Client, num_items: int):
    self._client = client
    self._num_items = num_items

  def run(self) -> None:
    should_stop = stop.stop_check()
    with self._client.trajectory_writer(num_keep_alive_refs=1) as writer:
      for index in range(self._num_items):
        if should_stop():
          return
        writer.append({'index': np.int64(index), 'payload': payload_of(index)})
        writer.create_item(
            TABLE, priority=1.0,
            trajectory={key: column[-1:] for key, column in writer.history.items()})
        if (index + 1) % FLUSH_EVERY_ITEMS == 0:
          writer.flush(timeout_ms=FLUSH_TIMEOUT_MS)
      writer.flush(timeout_ms=FLUSH_TIMEOUT_MS)
    logging.info('Producer wrote %d items.', self._num_items)


class Consumer:
  """Reads every item back, checks it, reports, and stops the program."""

  def __init__(self, client: reverb.Client, num_items: int, report_path: str):
    self._client = client
    self._num_items = num_items
    self._report_path = report_path

  def _read_available(self) -> List[Dict[str, np.ndarray]]:
    dataset = reverb.TrajectoryDataset.from_table_signature(
        server_address=self._client.server_address,
        table=TABLE,
        max_in_flight_samples_per_worker=8,
        rate_limiter_timeout_ms=RATE_LIMITER_TIMEOUT_MS)
    # The dataset ends when the table stays empty for the timeout.
    return [sample.data for sample in dataset.as_numpy_iterator()]

  def run(self) -> None:
    should_stop = stop.stop_check()
    received: Dict[int, np.ndarray] = {}
    duplicates = 0
    while len(received) < self._num_items and not should_stop():
      for data in self._read_available():
        index = int(data['index'][0])
        duplicates += index in received
        received[index] = data['payload'][0]
    report = {
        'expected_items': self._num_items,
        'received_items': len(received),
        'duplicates': duplicates,
        'indices_match': sorted(received) == list(range(self._num_items)),
        'payloads_match': all(
            np.array_equal(payload, payload_of(index))
            for index, payload in received.items()),
        'pid': os.getpid(),
    }
    logging.info('Consumer report: %s', report)
    if self._report_path:
      atomic_files.write_json_atomically(self._report_path, report)
    lp.stop()


def make_program(num_items: int, report_path: str) -> lp.Program:
  program = lp.Program('stack_check')
  with program.group('replay'):
    replay = program.add_node(lp.ReverbNode(lambda: make_tables(num_items)))
  with program.group('producer'):
    program.add_node(lp.CourierNode(Producer, replay, num_items))
  with program.group('consumer'):
    program.add_node(lp.CourierNode(Consumer, replay, num_items, report_path))
  return program
