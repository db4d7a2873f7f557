"""Evaluation: the TFMA EvalConfig with the blessing thresholds, and the argmax-based metrics it computes."""
