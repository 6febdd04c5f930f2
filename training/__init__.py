"""Training, evaluation and export of the organ models."""
