"""The preference-data formats Concord writes and reads back, each format's render beside its parse.

``hh`` holds HH-RLHF transcripts (written by the export, read by the HH import and in TRL
standard prompts), ``trl`` TRL's standard and conversational columns, ``columns`` the export
schemas' columns and the stat columns that the import accepts back. Each Python render has its
PostgreSQL mirror next to it (the export's COPY path); tests compare the two byte for byte.
Schemas are named by their ``annotate.models.ExportSchema`` values. The package is Django-free,
so that ``annotate.importing`` (also Django-free) can read with it.
"""
