"""The log format: TensorBoard event files, written and read, without TensorFlow.

Owns: `tags` (every tag a sweep writes, and the plan it records), `crc` (masked CRC-32C),
`tfrecord` (the TFRecord codec: a record's framing, encoded and decoded, and streaming record
batches that tolerate damage and a file still being written), `writer` (scalar event files, as
TensorFlow's summary ops lay them out), `files` (one event file's scalars as columns) and `table`
(the runs of a log directory as one `ScalarTable`, or a pandas frame).

Writing and reading share only `tfrecord`'s framing and `tags`.

May import: `tb_lrfinder.core`, numpy, `tensorboard`'s protos (pandas only in `read_frame`).
Never TensorFlow or Keras, never the analysis.
"""
