"""HTTP-FLV playback: the viewer (viewer.py) and its FLV tag parser (tags.py)."""
