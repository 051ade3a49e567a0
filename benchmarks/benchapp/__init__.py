"""The models every benchmark reads: narrow rows, wide rows, and a table that grows."""
