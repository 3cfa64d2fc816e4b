"""grader: a Git-driven, Kaggle-style grading system for Jupyter notebooks."""

__version__ = "0.1.0"
