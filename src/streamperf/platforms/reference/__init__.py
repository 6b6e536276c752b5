"""The bundled reference platform: the seed's API served by aiohttp over SQLite, its own
nginx-rtmp, and the adapter that starts it for a run."""
