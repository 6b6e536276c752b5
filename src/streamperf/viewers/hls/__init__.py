"""HLS playback: the viewer (viewer.py), what it does with each answer's bytes
(bodies.py), m3u8 parsing (playlist.py) and the shared reload grid (reload_grid.py)."""
