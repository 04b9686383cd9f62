"""Studies: config, Optuna storage and sampler, the search loop, trial records."""

from kdnas.study.config import StudyConfig, load_study_config

__all__ = ["StudyConfig", "load_study_config"]
