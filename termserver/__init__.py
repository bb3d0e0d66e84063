"""termserver: the terminology server for KL's Fælles Faglige Begreber (FFB)."""

__version__ = "0.1.0"
