"""Workflows: the composition root where tuning, export, tracking and views meet.

``search`` (start a run, run its trials, score and export the best model, attach
the report), ``export`` (bundle a tracked trial), ``reproduce`` (re-run a trial)
and ``housekeeping`` (``rm``, ``gc``). Only these modules and the CLI import
both tuning and export.
"""
