"""What the GPU daemon's jobs are given: the process's clients, the model (and the concept
detector, when the daemon has one), the batcher that owns the models' thread, and what is kept
between clicks: the frame embeddings and the keyframe states made lately."""

from __future__ import annotations

from dataclasses import dataclass, field

from roto.resources import Resources
from roto_gpu.batcher import Batcher
from roto_gpu.frame_embeddings import FrameEmbeddings
from roto_gpu.keyframe_states import RecentStates
from roto_gpu.model.detector import ConceptDetector
from roto_gpu.model.sam2_model import Sam2Model


@dataclass(frozen=True)
class Engine:
    resources: Resources
    model: Sam2Model
    batcher: Batcher
    embeddings: FrameEmbeddings
    detector: ConceptDetector | None = None
    states: RecentStates = field(default_factory=RecentStates)
