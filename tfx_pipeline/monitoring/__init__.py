"""Operating the served model: its request logs read back, drift and skew on live text, feedback labels, and the
decision to retrain."""
