"""The backtest and the drift figures: the prediction log read back (layer 6, beside evaluation).

- ``records``: the record table as numpy columns, and a record as its ``Prediction``;
- ``matching``: which records each strategy matches, column-wise (equal to the samplers);
- ``replay``: the limits walk (budgets, per-source limits, the batch cap) in time order;
- ``engine``: :func:`~winnow.backtest.engine.backtest`, the replay and the actual figures;
- ``source``: reading a project's records of a window from the platform's log;
- ``service``: parsing and running a backtest (the route, the CLI and the web share it);
- ``drift``: predictions, classes, confidences and objects per image over time;
- ``routes``: ``POST /v1/projects/{project}/backtest``.

It reads the configuration and the samplers (``activelearning``, layer 4) and
the platform's log (layer 5); the web UI and the CLI, above, call it.
"""
