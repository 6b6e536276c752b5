"""Media formats more than one protocol carries: FLV audio/video payloads
(flv_media.py: RTMP and HTTP-FLV) and MPEG-TS (mpegts.py: HLS)."""
