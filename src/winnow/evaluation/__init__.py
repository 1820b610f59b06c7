"""Evaluation: how good a model version is on human-labeled production images.

Pure functions over :mod:`winnow.evaluation.samples` (``detection``,
``classification``, ``matching``; ``flat`` rows and ``coco`` AP for speed), the
database reads that build the samples and the yield of each sampling rule (``query``, ``yield_``), the background
runs of a registered version (``jobs``) and the HTTP routes (``routes``).
"""
