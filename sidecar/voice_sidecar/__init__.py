"""Local voice backend of private-assistant."""

__version__ = "0.1.0"
