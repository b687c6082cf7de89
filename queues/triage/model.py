"""The wording model: a small linear classifier beside the lexicon, for indirect wording.

The lexicon (queues.triage.engine) catches what its entries and window rules name; the
wording model catches serious reports written in ways no entry anticipates (fear, warnings,
farewells, an adult and a child, meetings, pictures, selling, turning up at a door, an
address posted). It is a linear model over hashed features of the folded text
(queues.triage.fold, so case and accents do not matter):

- word unigrams and bigrams;
- character n-grams of 3 to 6 characters over the words joined by single spaces (they
  reach inflections, compounds and misspellings, in all four languages at once).

Each family's distinct buckets count once, scaled by one over the square root of their
number (an L2-normalised binary vector per family), so a long report does not score higher
for being long. The probability that a report is serious is sigmoid(weights · x + bias);
the weights are a logistic regression's plus a complement naive Bayes' log-likelihood
ratios, Platt-scaled (tools/train_triage.py says why). A second set of rows, a multinomial
over the serious categories trained on serious reports only, over coarser buckets (the top
`category_bits` bits), names the kind of risk.

The model is trained offline by tools/train_triage.py (`make triage-model`, scikit-learn
in the `train` extra) and shipped as one file, queues/triage/model/wording.bin: a JSON
header (hash size, n-gram settings, categories, the threshold and the cross-validation
figures it was chosen from, the digest of the training data) followed by the weights as
little-endian float16. Inference needs numpy only; nothing here imports scikit-learn.

What is read: the subject and the first MAX_CHARS characters of the body's own text.
Quoted lines (starting with ">") are blanked out, not removed, so offsets stay those of
the body, and do not count toward the cap: in a follow-up they are mostly our own
acknowledgement. A subject with our ticket tag is not read either: it is the thread's, in
our words. So the work per message is bounded and linear in its size.

The model is loaded on first use (`wording_model()`), never at import: `import
queues.triage` does not even import this module.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from queues.triage.document import SEPARATOR, Document
from queues.triage.fold import fold
from queues.triage.hits import CATEGORIES, TriageHit

MODEL_PATH: Final = Path(__file__).resolve().parent / "model" / "wording.bin"
MAGIC: Final = b"SWITCHBOARD-TRIAGE-MODEL\n"
FORMAT: Final = 1
MAX_CHARS: Final = 20_000  # characters of the body's own text read per message
_QUOTED: Final = re.compile(r"(?m)^[ \t]*>.*$")
# Our ticket tag in a subject ("[Ticket#20261122000042]", any prefix; queues.numbers): the
# subject of a reply in one of our threads, in our words ("We have received your message").
_OUR_TAG: Final = re.compile(r"[\[#]\s*\d{14}(?!\d)")
_WORD: Final = re.compile(rb"[a-z0-9]+")

# Hashing: 64-bit keys, spread by Fibonacci hashing (Knuth) into 2**bits buckets. Each
# family has a salt so the same key in two families lands in different buckets.
_PRIME: Final = np.uint64(1_000_003)
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_SALT_UNIGRAM: Final = np.uint64(0x243F6A8885A308D3)
_SALT_BIGRAM: Final = np.uint64(0x13198A2E03707344)
_SALT_CHAR: Final = (np.uint64(0xA4093822299F31D0), np.uint64(0x082EFA98EC4E6C89))

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]


class ModelError(ValueError):
    """A model file that cannot be read (wrong magic, format, or sizes)."""


@dataclass(frozen=True)
class FeatureSettings:
    """How a text becomes features (recorded in the model file's header)."""

    hash_bits: int = 18
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (3, 6)
    word_weight: float = 1.0
    char_weight: float = 1.0
    max_chars: int = MAX_CHARS

    def as_json(self) -> dict[str, Any]:
        return {
            "hash_bits": self.hash_bits,
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams),
            "word_weight": self.word_weight,
            "char_weight": self.char_weight,
            "max_chars": self.max_chars,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSettings:
        low, high = data["word_ngrams"]
        char_low, char_high = data["char_ngrams"]
        return cls(
            hash_bits=int(data["hash_bits"]),
            word_ngrams=(int(low), int(high)),
            char_ngrams=(int(char_low), int(char_high)),
            word_weight=float(data["word_weight"]),
            char_weight=float(data["char_weight"]),
            max_chars=int(data["max_chars"]),
        )


# --- the text the model reads -------------------------------------------------------------


def own_text(body: str, max_chars: int = MAX_CHARS) -> str:
    """`body` with quoted lines blanked (same length, so offsets hold) and cut after
    `max_chars` characters of its own text."""
    if ">" in body:
        body = _QUOTED.sub(lambda m: " " * len(m.group()), body)
    if len(body) <= max_chars:
        return body
    # Quoted lines are blank now: only the others count toward the cap.
    own = 0
    at = 0
    for line in body.splitlines(keepends=True):
        if line.strip():
            own += len(line)
            if own > max_chars:
                return body[: at + len(line) - (own - max_chars)]
        at += len(line)
    return body


def own_subject(subject: str, max_chars: int = MAX_CHARS) -> str:
    """The subject as the model reads it: none when it carries our ticket tag (a reply in
    one of our threads: its subject is the thread's, in our acknowledgement's words, and
    was judged when the thread began), else its first `max_chars` characters."""
    return "" if _OUR_TAG.search(subject) else subject[:max_chars]


def model_text(subject: str, body: str, max_chars: int = MAX_CHARS) -> str:
    """What the model reads: the subject, a blank line, the body's own text."""
    return own_subject(subject, max_chars) + SEPARATOR + own_text(body, max_chars)


# --- features -----------------------------------------------------------------------------


def _mix(keys: npt.NDArray[np.uint64], salt: np.uint64, bits: int) -> Int64Array:
    """Buckets of 64-bit keys (numpy's uint64 arithmetic wraps, which is what we want)."""
    with np.errstate(over="ignore"):
        mixed = (keys ^ salt) * _GOLDEN
    return (mixed >> np.uint64(64 - bits)).astype(np.int64)


def word_keys(words: list[bytes]) -> npt.NDArray[np.uint64]:
    """A 32-bit key per word (CRC-32: stable across processes, unlike hash())."""
    return np.fromiter((zlib.crc32(w) for w in words), dtype=np.uint64, count=len(words))


def word_buckets(keys: npt.NDArray[np.uint64], settings: FeatureSettings) -> list[Int64Array]:
    """Buckets of the word n-grams starting at each word, one array per n (unigrams first;
    the array of n has len(keys) - n + 1 entries, in word order)."""
    low, high = settings.word_ngrams
    out: list[Int64Array] = []
    if low <= 1 <= high:
        out.append(_mix(keys, _SALT_UNIGRAM, settings.hash_bits))
    if low <= 2 <= high:
        with np.errstate(over="ignore"):
            pairs = keys[:-1] * _PRIME + keys[1:] if len(keys) > 1 else keys[:0]
        out.append(_mix(pairs, _SALT_BIGRAM, settings.hash_bits))
    return out


def char_buckets(joined: bytes, settings: FeatureSettings) -> list[Int64Array]:
    """Buckets of the character n-grams of `joined` (the words between single spaces), one
    array per n; entry i of the array of n is the n-gram starting at byte i."""
    data = np.frombuffer(joined, dtype=np.uint8).astype(np.uint64)
    low, high = settings.char_ngrams
    out: list[Int64Array] = []
    size = len(data)
    key = data.copy()  # key of the n-gram starting at i, grown one character at a time
    with np.errstate(over="ignore"):
        for n in range(2, high + 1):
            if size < n:
                break
            key = key[: size - n + 1] * _PRIME + data[n - 1 :]
            if n >= low:
                salt = _SALT_CHAR[0] + np.uint64(n) * _SALT_CHAR[1]
                out.append(_mix(key, salt, settings.hash_bits))
    return out


def _joined(words: list[bytes]) -> bytes:
    return b" " + b" ".join(words) + b" "


def vector(text_data: bytes, settings: FeatureSettings) -> tuple[Int64Array, FloatArray]:
    """The sparse feature vector of folded text: (bucket indices, values), indices distinct."""
    words = text_data.split()
    word_parts = word_buckets(word_keys(words), settings)
    char_parts = char_buckets(_joined(words), settings)
    indices: list[Int64Array] = []
    values: list[FloatArray] = []
    for parts, weight in ((word_parts, settings.word_weight), (char_parts, settings.char_weight)):
        if not parts:
            continue
        distinct = np.unique(np.concatenate(parts))
        if len(distinct):
            indices.append(distinct)
            scale = weight / math.sqrt(len(distinct))
            values.append(np.full(len(distinct), scale, dtype=np.float32))
    if not indices:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    # A word bucket and a character bucket may coincide: add their values.
    distinct, inverse = np.unique(np.concatenate(indices), return_inverse=True)
    summed = np.zeros(len(distinct), dtype=np.float32)
    np.add.at(summed, inverse, np.concatenate(values))
    return distinct, summed


def features(subject: str, body: str, settings: FeatureSettings) -> tuple[Int64Array, FloatArray]:
    """The feature vector of a report (training and inference use this one function)."""
    return vector(fold(model_text(subject, body, settings.max_chars)).data, settings)


# --- the model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    """What the model says of one report."""

    probability: float  # that it is serious
    category: str  # the most likely serious category
    flagged: bool  # probability >= the model's threshold


class WordingModel:
    """The weights and settings of a model file (see the module docstring)."""

    def __init__(
        self,
        header: dict[str, Any],
        serious: FloatArray,
        categories: FloatArray,
    ) -> None:
        self.header = header
        self.settings = FeatureSettings.from_json(header["features"])
        self.threshold = float(header["threshold"])
        self.bias = float(header["bias"])
        self.category_names: tuple[str, ...] = tuple(header["categories"])
        self.category_bias = np.asarray(header["category_bias"], dtype=np.float32)
        self.serious = serious
        self.categories = categories
        # The category rows use coarser buckets: the top category_bits bits of a bucket.
        self.category_bits = int(header.get("category_bits", self.settings.hash_bits))
        self.category_shift = self.settings.hash_bits - self.category_bits
        low, high = self.settings.word_ngrams
        if not 1 <= low <= high <= 2:
            raise ModelError("word n-grams are of one or two words (word_buckets)")
        size = 1 << self.settings.hash_bits
        rows = (len(self.category_names), 1 << self.category_bits)
        if serious.shape != (size,) or categories.shape != rows or self.category_shift < 0:
            raise ModelError("weights do not match the header's sizes")
        unknown = [c for c in self.category_names if c not in CATEGORIES]
        if unknown:
            raise ModelError(f"unknown categories {unknown}")

    # ---- scoring

    def probability(self, subject: str, body: str) -> float:
        """The probability that the report is serious."""
        index, value = features(subject, body, self.settings)
        return _sigmoid(_score(self.serious[index], value) + self.bias)

    def assess(self, subject: str, body: str) -> Assessment:
        index, value = features(subject, body, self.settings)
        probability = _sigmoid(_score(self.serious[index], value) + self.bias)
        coarse = index >> self.category_shift
        scores = [
            _score(row[coarse], value) + float(bias)
            for row, bias in zip(self.categories, self.category_bias, strict=True)
        ]
        category = self.category_names[scores.index(max(scores))]
        return Assessment(probability, category, probability >= self.threshold)

    # ---- the hit, with the sentence that weighed most

    def hit(self, subject: str, body: str) -> TriageHit | None:
        """The model's hit when it flags the report, else None. Its excerpt and spans are
        the sentence whose words added most to the score."""
        found = self.assess(subject, body)
        if not found.flagged:
            return None
        limit = self.settings.max_chars
        doc = Document(own_subject(subject, limit), own_text(body, limit))
        ranges = self._strongest_sentence(doc)
        return TriageHit(
            category=found.category,
            language="",
            entry=MODEL_ENTRY,
            signal="model",
            excerpt=_quote(doc, *ranges[0]) if ranges else "",
            spans=doc.spans(ranges) if ranges else (),
            score=round(found.probability, 2),
        )

    def _strongest_sentence(self, doc: Document) -> list[tuple[int, int]]:
        """The sentence whose words weigh most toward serious, as [(start, end)] indices of
        doc.text from its first word to its last ([] for a text without words).

        A sentence weighs what its own distinct word and character n-grams add to the
        report's score (each bucket's weight times its value in the report); an n-gram
        belongs to the sentence of the word it starts in, so a sentence said twice weighs
        as much as said once."""
        spans = [(m.start(), m.end()) for m in _WORD.finditer(doc.data)]
        if not spans:
            return []
        words = [doc.data[a:b] for a, b in spans]
        settings = self.settings
        sentence = np.fromiter((doc.sentence_of(a) for a, _ in spans), np.int64, len(spans))
        # Where each word starts in the joined text (b" " + words joined by b" ").
        lengths = np.fromiter((len(w) + 1 for w in words), np.int64, len(words))
        joined_starts = np.concatenate(([1], 1 + np.cumsum(lengths)[:-1]))
        size = 1 << settings.hash_bits
        keys: list[Int64Array] = []  # (sentence, family, bucket) as one number
        scales: list[float] = []
        families = (
            (word_buckets(word_keys(words), settings), settings.word_weight, False),
            (char_buckets(_joined(words), settings), settings.char_weight, True),
        )
        for family, (parts, weight, char) in enumerate(families):
            distinct = len(np.unique(np.concatenate(parts))) if parts else 0
            scales.append(weight / math.sqrt(distinct) if distinct else 0.0)
            for buckets in parts:
                if char:
                    # An n-gram starting on the space before a word belongs to that word.
                    at = np.arange(len(buckets)) + 1
                    owner = np.searchsorted(joined_starts, at, side="right") - 1
                else:
                    owner = np.arange(len(buckets))
                keys.append((sentence[owner] * 2 + family) * size + buckets)
        distinct_keys = np.unique(np.concatenate(keys))
        bucket = distinct_keys % size
        family_of = (distinct_keys // size) % 2
        weights = self.serious[bucket].astype(np.float64) * np.asarray(scales)[family_of]
        per_sentence = np.bincount(distinct_keys // (2 * size), weights=weights)
        # Only sentences that have words: bincount also counts the numbers in between as
        # sentences weighing 0, which would win when every real sentence weighs below 0.
        present = np.unique(sentence)
        best = int(present[int(np.argmax(per_sentence[present]))])
        members = np.flatnonzero(sentence == best)
        start, end = spans[int(members[0])][0], spans[int(members[-1])][1]
        return [doc.original(start, end)]


MODEL_ENTRY: Final = "wording-model"
MAX_QUOTE: Final = 200  # characters of the sentence quoted in a reason
_SPACE: Final = re.compile(r"\s+")
_CLOSING: Final = ".!?…:;,\"'”’»)]"


def _quote(doc: Document, start: int, end: int) -> str:
    """The sentence doc.text[start:end] on one line, "…" where the field goes on; a long
    sentence is shown by its start and its end."""
    lo, hi = (
        (0, doc.body_at - len(SEPARATOR)) if start < doc.body_at else (doc.body_at, len(doc.text))
    )
    while end < hi and doc.text[end] in _CLOSING:  # the sentence's own punctuation
        end += 1
    sentence = _SPACE.sub(" ", doc.text[start:end]).strip()
    if len(sentence) > MAX_QUOTE:
        sentence = (
            sentence[: MAX_QUOTE * 2 // 3].rstrip() + " … " + sentence[-MAX_QUOTE // 3 :].lstrip()
        )
    before = "…" if doc.text[lo:start].strip() else ""
    after = "…" if doc.text[end:hi].strip() else ""
    return before + sentence + after


def _score(weights: FloatArray, values: FloatArray) -> float:
    """The dot product, the same in every process: float32 products are exact in float64,
    and math.fsum adds them exactly (a BLAS dot may add in an order that depends on how
    the arrays are aligned in memory, which changes the last bits)."""
    products = weights.astype(np.float64) * values.astype(np.float64)
    return math.fsum(products.tolist())


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# --- the file -----------------------------------------------------------------------------


def write_model(
    path: Path,
    header: dict[str, Any],
    serious: FloatArray,
    categories: FloatArray,
) -> bytes:
    """Write a model file; returns its bytes. The same inputs give the same bytes."""
    serious16 = np.asarray(serious, dtype="<f2")
    categories16 = np.asarray(categories, dtype="<f2")
    header = {
        **header,
        "format": FORMAT,
        "arrays": [
            {"name": "serious", "dtype": "<f2", "shape": list(serious16.shape)},
            {"name": "categories", "dtype": "<f2", "shape": list(categories16.shape)},
        ],
    }
    encoded = json.dumps(header, indent=1, sort_keys=True, ensure_ascii=False).encode()
    data = MAGIC + struct.pack("<I", len(encoded)) + encoded
    data += serious16.tobytes() + categories16.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def read_model(path: Path = MODEL_PATH) -> WordingModel:
    """Read a model file (ModelError when it is not one)."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise ModelError(f"{path}: not a triage model file")
    at = len(MAGIC)
    (length,) = struct.unpack_from("<I", data, at)
    at += 4
    header = json.loads(data[at : at + length])
    at += length
    if header.get("format") != FORMAT:
        raise ModelError(f"{path}: format {header.get('format')!r}, expected {FORMAT}")
    arrays: dict[str, FloatArray] = {}
    for spec in header["arrays"]:
        count = math.prod(spec["shape"])
        size = count * np.dtype(spec["dtype"]).itemsize
        if at + size > len(data):
            raise ModelError(f"{path}: truncated")
        raw = np.frombuffer(data, dtype=spec["dtype"], count=count, offset=at)
        arrays[spec["name"]] = raw.astype(np.float32).reshape(spec["shape"])
        at += size
    if at != len(data):
        raise ModelError(f"{path}: {len(data) - at} bytes after the weights")
    return WordingModel(header, arrays["serious"], arrays["categories"])


def data_digest(paths: Iterable[Path], root: Path) -> str:
    """SHA-256 over the training files: each one's path relative to `root` and its bytes,
    in sorted order (a file added, removed or changed changes it)."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        name = path.relative_to(root).as_posix().encode()
        content = path.read_bytes()
        digest.update(struct.pack("<I", len(name)) + name)
        digest.update(struct.pack("<Q", len(content)) + content)
    return digest.hexdigest()


# --- the shipped model, loaded once per process on first use -------------------------------

_LOCK = threading.Lock()
_LOADED: list[WordingModel | None] = []


def wording_model() -> WordingModel | None:
    """The shipped model (read once per process), or None when no model file is shipped."""
    if not _LOADED:
        with _LOCK:
            if not _LOADED:
                _LOADED.append(read_model() if MODEL_PATH.exists() else None)
    return _LOADED[0]


def model_hits(subject: str, body: str) -> list[TriageHit]:
    """The shipped model's hit in a report, as a list (empty: not flagged, or no model)."""
    model = wording_model()
    if model is None:
        return []
    hit = model.hit(subject, body)
    return [] if hit is None else [hit]
