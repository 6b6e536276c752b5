"""The seed tool's platform API (DESIGN.md section 8): its client, its fans' journey, its
conventions and values (conventions.py, which the options table reads), and its adapter."""
