"""The prediction log: a pixel-free record of every prediction served.

- ``record``: the Arrow/Parquet schema (``SCHEMA``) and the buffered ``Entry``;
- ``writer``: ``PredictionLog``, the node side (memory buffer, open Arrow stream
  segments, closed Parquet segments, crash recovery);
- ``shipping``: ``Shipper`` and the ``SegmentSink`` protocol (the platform's
  clients implement it), at least once and stored once by name;
- ``query``: ``RecordStore``, ``read_records`` and ``query``: DuckDB over the
  segments through ``pyarrow.dataset``, local folder or S3.

Layer 4 (beside ``models`` and ``activelearning``, importing neither): the
server, the stream runner and the platform all use it. Platform-side storage
(blob keys, retention, the routes) lives in ``winnow.platform.predictions``.
"""
