"""Writes. Keyword-only functions named ``<entity>_<action>``; views and tasks call these."""
