"""Pages and htmx endpoints. Each view parses, calls one service or selector, and renders.

One module per page family: ``tasks`` (the annotator's task, submit, skip, undo, history),
``imports``, ``quality``, ``snapshots`` (and their exports), ``projects`` (creation and
members) and ``account`` (the API token). Forms live in ``annotate.forms``. Views import
services, selectors, forms and ``annotate.access``; nothing imports views but the URLconfs.
"""
