"""The active learning configuration: its models (``models``) and its validation (``validation``).

Callers import from here: ``from winnow.activelearning.config import validate_config``.
"""

from winnow.activelearning.config.conditions import ObjectCondition
from winnow.activelearning.config.models import (
    BATCH_PREFIX_MAX,
    REFERENCE_STRATEGY_TYPES,
    STRATEGY_TYPES,
    TAG_PATTERN,
    TAG_RULE,
    ActiveLearningConfig,
    BatchingStrategy,
    ClassesBasedStrategy,
    CloseToThresholdStrategy,
    DedupConfig,
    DetectionsNumberBasedStrategy,
    DisagreementStrategy,
    Limit,
    RandomStrategy,
    RecreationInterval,
    ShadowConfig,
    Strategy,
    UncertaintyStrategy,
    config_json_schema,
)
from winnow.activelearning.config.validation import validate_config

__all__ = [
    "BATCH_PREFIX_MAX",
    "REFERENCE_STRATEGY_TYPES",
    "STRATEGY_TYPES",
    "TAG_PATTERN",
    "TAG_RULE",
    "ActiveLearningConfig",
    "BatchingStrategy",
    "ClassesBasedStrategy",
    "CloseToThresholdStrategy",
    "DedupConfig",
    "DetectionsNumberBasedStrategy",
    "DisagreementStrategy",
    "Limit",
    "ObjectCondition",
    "RandomStrategy",
    "RecreationInterval",
    "ShadowConfig",
    "Strategy",
    "UncertaintyStrategy",
    "config_json_schema",
    "validate_config",
]
