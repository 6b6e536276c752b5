"""Report: what the judge said, shown: charts, the HTML report (Jinja2 templates), tiles,
the terminal table, the run's artifacts and the live view. Shows; never recomputes."""
