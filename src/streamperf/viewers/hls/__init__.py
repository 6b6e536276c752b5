"""HLS playback: the viewer (viewer.py), what it does with each answer's bytes
(bodies.py), m3u8 parsing and reload timing (playlist.py), a master playlist as a
ladder and its audio track (ladder.py); reloads wait on the shared viewers/reload_grid.py."""
