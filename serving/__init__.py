"""A TensorFlow Serving-protocol model server for any SavedModel.

The package deliberately imports nothing from the project's pipeline or
trainer, so it can serve models produced by anything that writes SavedModels.
"""

__version__ = "0.1.0"
