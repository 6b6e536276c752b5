"""Media formats more than one protocol carries: FLV audio/video payloads
(flv_media.py: RTMP and HTTP-FLV), MPEG-TS (mpegts.py: HLS) and fragmented MP4
(fmp4.py: DASH, and HLS with fMP4 segments)."""
