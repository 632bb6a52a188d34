"""Mattes: a stored mask shaped into the matte an export writes (grown or shrunk, holes filled,
islands removed, steadied over frames, soft edges, feathered), computed by one module for the
export job and the matte endpoint's preview, so both write the same bytes."""
