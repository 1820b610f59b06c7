"""The named states winnow records: image status, annotation kind and datapoint outcome.

String enums: each member equals (and is stored, sent and labelled as) the
same string the database rows, the JSON API and the Prometheus labels have
always used, so rows written before these enums existed read back unchanged.
This module imports nothing of the project: the collector, the delivery
worker, the metrics, the store, export and the web UI all share it.
"""

from __future__ import annotations

from enum import StrEnum


class ImageStatus(StrEnum):
    """Where a stored image is in labeling (``image.status``)."""

    UNLABELED = "unlabeled"  # as collected or uploaded; may carry a prediction
    LABELED = "labeled"  # a person saved annotations
    REVIEWED = "reviewed"  # a reviewer accepted the labels
    REJECTED = "rejected"  # not worth labeling; left out of exports by default


LABELED_STATUSES = (ImageStatus.LABELED, ImageStatus.REVIEWED)
"""The statuses whose images count as labeled (exported by default, shown as done)."""


class AnnotationKind(StrEnum):
    """Who made an annotation (``annotation.kind``)."""

    PREDICTION = "prediction"  # the model's pre-annotation, delivered with the datapoint
    HUMAN = "human"  # saved by a person in the labeling UI or over the API


class DatapointOutcome(StrEnum):
    """What became of a datapoint: ``Collector.process`` returns one, and each is a label value
    of ``winnow_datapoints{outcome=...}``.

    ``sampled``, ``delivered`` and ``failed`` are only counted (a datapoint is
    sampled on its way to another outcome; delivery happens later, in the
    delivery worker); ``disabled``, ``not_sampled`` and ``error`` are only
    returned (errors are counted by cause in ``winnow_collection_errors``).
    """

    DISABLED = "disabled"  # collection off (settings), or the project's configuration disabled
    NOT_SAMPLED = "not_sampled"  # no strategy matched and won its draw
    SAMPLED = "sampled"  # a strategy matched and its probability draw said yes
    DUPLICATE = "duplicate"  # near-duplicate of a recent image of the same source; no credit spent
    LIMITED = "limited"  # every sampled strategy had spent its budget (minutely/hourly/daily)
    BATCH_FULL = "batch_full"  # batch at max_batch_images (no credit spent), or refused for it
    DROPPED = "dropped"  # the collector's hand-off queue was full
    REFUSED = "refused"  # wrong task for the project, or the outbox was full (credit given back)
    QUEUED = "queued"  # written to the outbox
    DELIVERED = "delivered"  # registered on the platform
    FAILED = "failed"  # the platform refused it for good
    ERROR = "error"  # something failed inside collection; counted and logged once per cause


class EvaluationStatus(StrEnum):
    """Where an evaluation run is (``evaluation_job.status``)."""

    QUEUED = "queued"  # recorded, not started
    RUNNING = "running"  # predicting the images (``done`` of ``total``)
    DONE = "done"  # predictions stored, figures in ``result``
    FAILED = "failed"  # stopped; the reason in ``error``
