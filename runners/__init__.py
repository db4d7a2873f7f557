"""Runners bind a config to create_pipeline and hand the result to an orchestrator."""
