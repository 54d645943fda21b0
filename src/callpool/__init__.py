"""callpool: self-hosted call tracking with Dynamic Number Insertion."""

__version__ = "0.1.0"
