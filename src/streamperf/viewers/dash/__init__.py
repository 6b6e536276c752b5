"""DASH playback: the viewer (viewer.py), one adaptation set played (track.py), what it
does with a segment's bytes (bodies.py), MPD parsing (mpd.py), where and when segments are
(timeline.py) and the server clock (clock.py)."""
