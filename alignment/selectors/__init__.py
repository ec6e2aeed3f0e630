"""Reads of the rounds pages. Keyword-only functions named ``<entity>_<what>``; the views render their results.

``rounds`` (the timeline, a round with its runs, the running step's progress and ETA), ``figures`` (what a
round measured, picked out of ``AlignmentRound.metrics``, and the charts over rounds), ``versions`` (a
model version with its lineage, two versions' samples on the same prompts) and ``pages`` (the rounds
page's context). What a round measured is written by ``alignment.services.steps``; these only read it.
Selectors import models, ``annotate.charts`` and each other, never services or views.
"""
