"""Retraining the winners of a study fully, with and without distillation, and shipping them."""

from kdnas.retrain.rank import RankAgreement, rank_agreement
from kdnas.retrain.records import retrain_results
from kdnas.retrain.run import RunResult, export_run, train_run

__all__ = ["RankAgreement", "RunResult", "export_run", "rank_agreement", "retrain_results", "train_run"]
