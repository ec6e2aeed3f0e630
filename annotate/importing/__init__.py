"""Reading and checking import files: five formats, six kinds of record. Pure Python, no database.

``readers`` picks the reader of a file's format (``json_reader``, ``csv_reader``,
``parquet_reader``, ``hf_dataset_reader``), which turns it into ``(position, value)`` pairs
(``source``); ``kinds`` is the table of kinds and their fields, ``checker`` checks one field
and ``records`` one value against a kind, normalising it; ``files`` runs the two over a whole
file, collecting the problems that reject it. The services in ``annotate.services.imports``
write what these yield.
"""
