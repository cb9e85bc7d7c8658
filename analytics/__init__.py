"""Shopper Lens core: ingestion, profiles, segments, journeys, recommendations and uplift.

Pure Python over DuckDB; importable with no Streamlit installed (notebooks, the CLI, jobs).
"""

__version__ = "0.1.0"
