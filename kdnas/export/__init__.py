"""Shipping a trained model: TorchScript, ONNX checked against onnxruntime, and a model card."""

from kdnas.export.card import git_revision, write_model_card
from kdnas.export.formats import ExportedModel, export_model, ort_latency_ms

__all__ = ["ExportedModel", "export_model", "git_revision", "ort_latency_ms", "write_model_card"]
