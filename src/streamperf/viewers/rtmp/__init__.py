"""RTMP playback: the viewer (viewer.py), its chunk-stream parser (chunks.py), AMF0 (amf.py)."""
