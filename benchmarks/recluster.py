"""Re-clustering, the first map and the Segments heatmap on an existing workspace (issue 14).

    python benchmarks/recluster.py --json            # the 200k page-benchmark shop (a copy)
    python benchmarks/recluster.py --db PATH --runs 3

Works on a copy of --db (default: the cached shop of ``benchmarks/pages.py --users 200000``),
so the original is never written. Times, in one fresh process, wall and CPU seconds
(``time.process_time``: every thread of this process) and the load average:
  recluster_first  K-Means with a fixed k = 6 (reads the profile columns, encodes them)
  recluster_again  the same again (the encoded matrix is kept between runs; target <= 2 s)
  map_matrix       the map's scaled matrix after a run (the run's matrix is reused)
  map_pca_N        a PCA map of N shoppers: projection, hover columns, Plotly figure JSON
  heatmap_stored / heatmap_computed   the Segments page's heatmap read back vs recomputed
The machine is shared: compare CPU seconds when the load average is high.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _report import add_json_flag, emit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = Path.home() / ".cache" / "shopper-lens" / "bench-pages-200000" / "ws" / "shopper_lens.duckdb"


def timed(name: str, fn: Callable[[], Any], out: dict[str, Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    out[f"{name}_s"] = round(time.perf_counter() - wall, 3)
    out[f"{name}_cpu_s"] = round(time.process_time() - cpu, 3)
    print(f"{name:<18} wall {out[f'{name}_s']:7.2f} s | CPU {out[f'{name}_cpu_s']:7.2f} s | "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    return result


def figure_json(ws: Any, run_id: str, users: Any, xy: Any) -> int:
    import numpy as np
    import plotly.express as px

    from analytics.segments.views import HOVER_FEATURES, map_frame

    frame = map_frame(ws, run_id, np.asarray(users), np.asarray(xy))
    hover = {"user_id": True, **{f: True for f in HOVER_FEATURES}, "x": False, "y": False}
    fig = px.scatter(frame, x="x", y="y", color="segment_name", custom_data=["user_id"],
                     hover_data=hover, render_mode="webgl")
    return len(fig.to_json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--runs", type=int, default=2, help="re-clusters after the first")
    add_json_flag(parser)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from analytics.embedding import embed
    from analytics.segments import SegmentSpec, run_segmentation
    from analytics.segments.views import _computed_heatmap, heatmap, scaled_matrix
    from analytics.workspace import Workspace

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "shopper_lens.duckdb"
        shutil.copyfile(args.db, db)
        with Workspace(db) as ws:
            with ws.cursor() as cur:
                out["users"] = int(cur.execute("SELECT count(*) FROM profiles").fetchall()[0][0])
            run = timed("recluster_first", lambda: run_segmentation(ws, SegmentSpec(k=6)), out)
            for _ in range(args.runs):
                run = timed("recluster_again", lambda: run_segmentation(ws, SegmentSpec(k=6)), out)
                out.setdefault("recluster_again_all_cpu_s", []).append(out["recluster_again_cpu_s"])
            users, X = timed("map_matrix", lambda: scaled_matrix(ws, tuple(run.features)), out)
            for n in (20_000, 50_000):
                def draw(n: int = n) -> int:
                    found = embed(X, "pca", max_points=n)
                    return figure_json(ws, run.run_id, users[found.rows], found.xy)
                out[f"map_pca_{n}_json_bytes"] = timed(f"map_pca_{n}", draw, out)
            names = {s.segment_id: s.name for s in run.segments}
            timed("heatmap_stored", lambda: heatmap(ws, run.run_id), out)
            timed("heatmap_computed", lambda: _computed_heatmap(ws, run.run_id, names), out)
    out["load_average"] = round(os.getloadavg()[0], 1)
    emit(out, args)


if __name__ == "__main__":
    main()
