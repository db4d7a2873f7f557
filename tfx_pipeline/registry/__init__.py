"""Model management: the pushed versions with what made them and why (versions.py), and their labels, moved
safely between versions (labels.py)."""
