"""Reads. Keyword-only functions named ``<entity>_<what>``; pages, the API and services render or use their results.

One module per thing read: ``comparisons`` and ``judgments`` (the annotator's task and
history), ``imports``, ``snapshots`` and ``exports`` (jobs and their results), ``votes``
(a project's judgments as NumPy arrays, the one query every quality figure starts from),
``agreement``, ``quality`` and ``ranking`` (figures over those votes), ``pairs`` (the
pairs a filter set keeps) and ``pages`` (the quality page's annotator picker and charts).
The arithmetic lives in ``annotate.aggregation``; selectors turn rows into its arrays
and shape its results. Selectors import models, the aggregation package and each other,
never services or views.
"""
