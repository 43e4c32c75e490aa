"""Typed, versioned result documents: every file one saekit step writes and another reads.

| document | file | written by |
| --- | --- | --- |
| StoreMetadata | the store's HDF5 attributes | `saekit capture` |
| LatentSummaries | summaries.json + arrays.npz | the summary pass (`name`, dashboard) |
| NamesDocument | names.json | `saekit name` |
| AuditDocument | audit.json | `saekit audit` |
| ArtifactsDocument | artifacts.json | `saekit artifacts` |
| SteeringDocument | steer.json | `saekit steer` |
| AlignDocument | align.json (+ map.npz) | `saekit align`, quickstart |
| EvaluationDocument | eval.json | `saekit eval`, quickstart |
| CompareDocument | compare.json | `saekit compare` |
| MetricsRecord / MetricsLog | metrics.jsonl (one record a line) | `saekit train` |
| SweepDocument | sweep.json | `saekit train --sweep` |
| ExplainRunDocument | run.json | `saekit explain` |

Each is a frozen dataclass (see saekit.results.document for save / load and versioning);
docs/formats.md describes every field and a test keeps it in step with the classes.
"""
from saekit.results.alignment import AlignDocument
from saekit.results.artifacts import ArtifactsDocument
from saekit.results.audit import AuditDocument
from saekit.results.compare import CompareDocument
from saekit.results.document import Document
from saekit.results.evaluation import EvaluationDocument, Metric
from saekit.results.explain_run import ExplainRunDocument
from saekit.results.fingerprint import dataset_fingerprint, fingerprint, sae_fingerprint, store_fingerprint
from saekit.results.metrics_log import MetricsLog, MetricsRecord
from saekit.results.names import NamesDocument
from saekit.results.refs import DatasetRef, SaeRef, StoreRef
from saekit.results.steering import SteeringDocument
from saekit.results.store_meta import StoreMetadata
from saekit.results.summaries import LatentSummaries
from saekit.results.sweep import SweepDocument

DOCUMENTS: tuple[type, ...] = (StoreMetadata, LatentSummaries, NamesDocument, AuditDocument, ArtifactsDocument,
                               SteeringDocument, EvaluationDocument, AlignDocument, CompareDocument, MetricsRecord,
                               SweepDocument, ExplainRunDocument)

__all__ = ["AlignDocument", "ArtifactsDocument", "AuditDocument", "CompareDocument", "DOCUMENTS", "DatasetRef", "Document",
           "EvaluationDocument", "ExplainRunDocument", "LatentSummaries", "Metric", "MetricsLog", "MetricsRecord",
           "NamesDocument", "SweepDocument", "SaeRef", "SteeringDocument", "StoreMetadata", "StoreRef",
           "dataset_fingerprint", "fingerprint", "sae_fingerprint", "store_fingerprint"]
