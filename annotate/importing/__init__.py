"""Reading and checking import files: four formats, five kinds of record. Pure Python, no database.

``readers`` turns a JSONL, JSON, CSV or Parquet file into ``(position, value)`` pairs,
``records`` checks one value against a kind and normalises it, and ``files`` runs the
two over a whole file, collecting the problems that reject it. The services in
``annotate.services.imports`` write what these yield.
"""
