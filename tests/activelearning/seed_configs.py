"""The seed's example configuration (shared/seed/active-learning.txt), as the AL tests use it."""

from __future__ import annotations

from typing import Any

# The documentation's "Example configuration". Tests copy it before changing it.
SEED_EXAMPLE: dict[str, Any] = {
    "enabled": True,
    "max_image_size": [1200, 1200],
    "jpeg_compression_level": 75,
    "persist_predictions": True,
    "sampling_strategies": [
        {"name": "default_strategy", "type": "random", "traffic_percentage": 0.1}
    ],
    "batching_strategy": {"batches_name_prefix": "al_batch", "recreation_interval": "daily"},
}
