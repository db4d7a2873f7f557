"""Reports of a run for people: one self-contained HTML file (html.py), from ML Metadata and the run's artifacts
(content.py), with inline SVG charts (svg.py)."""
