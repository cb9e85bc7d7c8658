"""Start the dashboard: ``streamlit run app.py`` with what the first page needs already loaded.

``python serve.py [streamlit run options]`` (what ``shopper-lens app`` runs). A plain
``streamlit run`` imports pandas, plotly and the analytics modules when the first visitor's
first page runs, and plotly builds its validators for the first chart: about a second of that
page on two cores. Here the server pays it before it listens, so the first page does not.
With the map warm-up on (SHOPPER_LENS_MAP_WARMUP), umap-learn and scikit-learn are imported
here too, so the warm-up thread only loads the compiled kernels.

Only libraries and ``analytics`` are imported: the page helpers (``pages/_*.py``) declare
Streamlit caches, which must be created inside the running server.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def preload() -> None:
    """Import what the first page run imports, and draw Home's chart to build plotly's validators."""
    import duckdb  # noqa: F401
    import pandas as pd
    import plotly.express as px
    import streamlit  # noqa: F401 (its import registers its plotly theme, before the chart below)

    import analytics.auth
    import analytics.bundle
    import analytics.jobs
    import analytics.labels
    import analytics.overview
    import analytics.profiles
    import analytics.settings
    import analytics.stored
    import analytics.versions  # noqa: F401

    frame = pd.DataFrame({"day": pd.to_datetime(["2024-01-01"]), "events": [1], "kind": ["view"]})
    px.area(frame, x="day", y="events", color="kind").to_json()  # as Home draws its activity
    if analytics.settings.get("SHOPPER_LENS_MAP_WARMUP"):
        from analytics import embedding

        embedding.load_umap()


def main() -> None:
    from analytics.errors import ShopperLensError

    try:
        preload()
    except ShopperLensError as e:  # an invalid setting: say so, as the CLI does, and do not start
        print(f"{e.title}: {e}", file=sys.stderr)
        sys.exit(2)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
