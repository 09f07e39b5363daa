"""Competence records: roster + course requirements + gradebook -> status per employee."""
