"""Predicted lifetime value: BG/NBD + Gamma-Gamma fits, validation and stored per-shopper values."""

from analytics.predict.clv import BGNBDParams, GammaGammaParams, PredictionError
from analytics.predict.lifetime import DEFAULT_HORIZON_DAYS, PredictionReport, predict

__all__ = ["DEFAULT_HORIZON_DAYS", "BGNBDParams", "GammaGammaParams", "PredictionError",
           "PredictionReport", "predict"]
