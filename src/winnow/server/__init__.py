"""The inference HTTP API: v1 and legacy inference routes, model routes, info, metrics."""
