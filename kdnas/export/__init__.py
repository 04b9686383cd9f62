"""Shipping a trained model: TorchScript, ONNX checked against onnxruntime, and a model card."""

from kdnas.export.card import git_revision, write_model_card
from kdnas.export.formats import ExportedModel, export_model, onnx_bytes, ort_session

__all__ = ["ExportedModel", "export_model", "git_revision", "onnx_bytes", "ort_session", "write_model_card"]
