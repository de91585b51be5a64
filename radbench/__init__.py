"""radbench: reproduce and re-test the RadImageNet transfer-learning benchmark."""

__version__ = "0.1.0"
