"""The triage wording model (queues.triage.model): the shipped file and its training data,
features and decisions that do not depend on the process, the reason it gives and where it
points, the text it reads, the file format, and how its hit joins the lexicon's in
`queues.triage.triage`. The ingest path and `switchboard triage evaluate` are in
test_triage_model_ingest.py; speed is measured by bench/triage.py, never here."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from queues.models import Article, ArticleKind
from queues.triage import model as model_module
from queues.triage import reasons, remember, triage
from queues.triage.hits import CATEGORIES, CATEGORY_LABELS, Span, TriageHit
from queues.triage.marks import article_marks
from queues.triage.marks import reasons as page_reasons
from queues.triage.model import (
    MAX_CHARS,
    MODEL_ENTRY,
    MODEL_PATH,
    FeatureSettings,
    ModelError,
    WordingModel,
    data_digest,
    features,
    own_text,
    read_model,
    wording_model,
    write_model,
)

ROOT = Path(__file__).resolve().parents[3]
EVALUATION_SET = ROOT / "tests" / "data" / "triage"

# Written for this test, in the four languages: serious reports in indirect wording that no
# lexicon entry names, and everyday reports a volunteer handles (some with alarming words).
# Not taken from any data set.
MUST_FLAG = [
    (
        "worried",
        "She told me to be careful on my way home from the gym because the car park is very dark.",
    ),
    (
        "",
        "A man in the drawing group keeps telling my 12 year old that she is very mature for "
        "her age and asked her to keep their chats a secret from us. He wants to meet her at "
        "the park.",
    ),
    (
        "Abschied",
        "Ich wollte mich nur verabschieden. Meine Sachen habe ich verschenkt, bald bin ich für "
        "niemanden mehr eine Last.",
    ),
    (
        "Hilfe",
        "Er schreibt mir jeden Tag, dass er weiß, wann ich von der Arbeit komme, und dass ich "
        "mich besser umschauen soll.",
    ),
    (
        "aidez-moi",
        "Il a publié mon adresse et des photos de ma maison dans le forum, et des gens disent "
        "qu'ils vont passer me voir ce soir.",
    ),
    (
        "ayuda",
        "Un hombre del foro vende pastillas y armas por mensaje privado, manda las fotos de los "
        "precios a chicos del colegio.",
    ),
    ("", "He said people like me don't last long around here and that he knows my shift times."),
]
MUST_NOT_FLAG = [
    ("password", "Hello, I cannot log in since the update. Could you reset my password?"),
    ("edit", "Another editor keeps reverting my edits on the article about the river."),
    # The default report of tests/unit/queues/builders.make_mail: on-site, everyday.
    ("Someone keeps messaging me", "Hello, a user keeps sending me rude messages. What can I do?"),
    ("Spoiler", "Bitte entfernt die Spoiler aus dem Artikel über die neue Staffel, danke."),
    ("catégorie", "Bonjour, comment je change la catégorie de ma photo du port ? Merci."),
    ("suscripción", "Hola, quiero cancelar la suscripción al boletín semanal. Gracias."),
    (
        "no me siento amenazada",
        "Hola, un usuario comenta mis fotos con chistes tontos. No me siento amenazada, solo "
        "quiero que paren.",
    ),
]
REASON = re.compile(
    r'^(?P<label>[a-z -]+): "(?P<quote>[^"]*)" \(wording model, score (?P<score>[01]\.\d\d)\)$'
)


@pytest.fixture(scope="module")
def shipped() -> WordingModel:
    model = wording_model()
    assert model is not None, "no model file: run `make triage-model`"
    return model


def tiny_model(
    bias: float = 0.0,
    threshold: float = 0.5,
    words: tuple[str, ...] = (),
    weight: float = 5.0,
    categories: tuple[str, ...] = ("threat", "self_harm"),
) -> WordingModel:
    """A small real model: every weight zero but the buckets of `words` (their unigram and
    character n-grams), which weigh `weight` toward serious and toward the first category."""
    settings = FeatureSettings(hash_bits=12)
    serious = np.zeros(1 << settings.hash_bits, dtype=np.float32)
    kinds = np.zeros((len(categories), 1 << 8), dtype=np.float32)  # coarser: 8 bits
    for word in words:
        index, _ = features("", word, settings)
        serious[index] = weight
        kinds[0, index >> 4] = 1.0
    header = {
        "features": settings.as_json(),
        "threshold": threshold,
        "bias": bias,
        "categories": list(categories),
        "category_bias": [0.0, 0.5][: len(categories)],
        "category_bits": 8,
    }
    return WordingModel(header, serious, kinds)


@pytest.fixture
def use_model() -> Iterator[list[WordingModel | None]]:
    """Put a model of the test's in place of the shipped one (a real model object, read by
    the real code path), and the shipped one back afterwards."""
    loaded = model_module._LOADED
    saved = list(loaded)
    yield loaded
    loaded[:] = saved


# --- the shipped file ---------------------------------------------------------------------


def test_the_shipped_model_matches_its_training_data(shipped: WordingModel) -> None:
    training = shipped.header["training"]
    files = sorted({p for pattern in training["sources"] for p in ROOT.glob(pattern)})
    names = [p.relative_to(ROOT).as_posix() for p in files]
    stale = "the training data changed since the model was trained: run `make triage-model`"
    assert names == training["files"], stale
    assert data_digest(files, ROOT) == training["sha256"], stale
    # Never the evaluation set: it measures triage once, at the end.
    assert all(path.parent != EVALUATION_SET for path in files)
    assert training["reports"] == training["serious"] + training["everyday"]


def test_the_header_records_settings_threshold_and_cross_validation(
    shipped: WordingModel,
) -> None:
    header = shipped.header
    assert FeatureSettings.from_json(header["features"]) == shipped.settings
    assert shipped.settings.word_ngrams == (1, 2) and shipped.settings.char_ngrams == (3, 6)
    assert shipped.settings.max_chars == MAX_CHARS
    assert 0 < shipped.threshold < 1
    assert set(shipped.category_names) <= set(CATEGORIES) and len(shipped.category_names) >= 6
    cv = header["cv"]
    chosen = cv[cv["threshold_from"]]
    assert cv["threshold_from"] == "batch_held_out"
    assert chosen["threshold"] == shipped.threshold
    # The threshold was chosen for this recall of the lexicon and the model together, on
    # batches the model did not see and the lexicon was not tuned on.
    assert chosen["combined_outside_dev"]["overall"]["recall"] >= cv["target_recall"] >= 0.97
    assert MODEL_PATH.stat().st_size < 2_000_000  # compact enough for the wheel


def test_examples_it_must_flag_and_must_not(shipped: WordingModel) -> None:
    for subject, body in MUST_FLAG:
        found = shipped.assess(subject, body)
        assert found.flagged, (found, body)
    for subject, body in MUST_NOT_FLAG:
        found = shipped.assess(subject, body)
        assert not found.flagged, (found, body)


def test_the_kind_of_risk_it_names(shipped: WordingModel) -> None:
    assert shipped.assess(*MUST_FLAG[1]).category == "child_safety"
    assert shipped.assess(*MUST_FLAG[2]).category == "self_harm"


# --- deterministic ------------------------------------------------------------------------


def test_inference_is_deterministic_across_calls_and_processes(shipped: WordingModel) -> None:
    subject, body = MUST_FLAG[0]
    first = shipped.probability(subject, body)
    assert shipped.probability(subject, body) == first
    assert shipped.hit(subject, body) == shipped.hit(subject, body)
    # A fresh interpreter with another string-hash seed: no bucket may depend on hash().
    code = (
        "import sys; from queues.triage.model import wording_model; "
        "print(repr(wording_model().probability(sys.argv[1], sys.argv[2])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, subject, body],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    ).stdout
    assert float(out) == first


def test_features_fold_case_accents_and_spacing() -> None:
    settings = FeatureSettings()
    index, value = features("", "Ich  fühle mich BEDROHT.", settings)
    again, same = features("", "ich fuhle mich bedroht", settings)
    assert np.array_equal(index, again) and np.array_equal(value, same)
    assert np.all(np.diff(index) > 0)  # distinct, sorted
    # Each family (words, characters) is a unit vector: a long report does not score higher
    # for being long. (A word and a character n-gram may share a bucket; rarely.)
    assert float(np.sum(value**2)) == pytest.approx(2.0, abs=0.05)
    longer = features("", "Ich fühle mich bedroht. " * 50, settings)[1]
    assert float(np.sum(longer**2)) == pytest.approx(2.0, abs=0.05)


def test_an_empty_report_has_no_features_and_scores_its_bias() -> None:
    index, value = features("", "", FeatureSettings())
    assert len(index) == len(value) == 0
    model = tiny_model(bias=-1.0)
    assert model.probability("", "") == pytest.approx(1 / (1 + np.e))
    assert model.hit("", "   ") is None


# --- the text it reads --------------------------------------------------------------------


def test_quoted_lines_are_blanked_and_offsets_kept() -> None:
    body = "Thanks, that helps.\n> I will come to your house\n  > and hurt you\nBye"
    blank = own_text(body)
    assert len(blank) == len(body)
    assert "house" not in blank and "hurt" not in blank
    assert blank.startswith("Thanks, that helps.\n") and blank.endswith("\nBye")
    model = tiny_model(words=("house", "hurt"), bias=-1.0)
    assert not model.assess("Re: ticket", body).flagged
    assert model.assess("Re: ticket", body.replace(">", "")).flagged


def test_only_the_first_max_chars_of_the_body_are_read() -> None:
    line = "Please reset my password, the link in the mail does not work for me.\n"
    filler = line * (MAX_CHARS // len(line) + 10)
    model = tiny_model(words=("zebra",), bias=-1.0)
    assert model.assess("", "zebra\n" + filler).flagged
    assert not model.assess("", filler + "zebra\n").flagged
    assert model.probability("", filler + "zebra\n") == model.probability("", filler)
    # Quoted lines do not count toward the cap.
    quoted = "> " + line
    assert model.assess("", quoted * 400 + "zebra\n").flagged


def test_a_subject_with_our_ticket_tag_is_not_read() -> None:
    # A reply in one of our threads: "Re: [Ticket#N] We have received your message: ...".
    model = tiny_model(words=("zebra",), bias=-1.0)
    assert model.assess("zebra at the door", "Thanks.").flagged
    for tagged in ("Re: [Ticket#20261204000001] zebra", "AW: [Vorgang# 20261204000001] zebra"):
        assert not model.assess(tagged, "Thanks.").flagged
        assert model.probability(tagged, "Thanks.") == model.probability("", "Thanks.")
    assert model.assess("order 2026120400000123: zebra", "").flagged  # not our tag
    hit = model.hit("Re: [Ticket#20261204000001] hello", "The zebra came back.")
    assert hit is not None and hit.spans == (Span("body", 0, 19),)


# --- the hit, its reason and its offsets ----------------------------------------------------


def test_the_hit_quotes_the_sentence_that_weighed_most() -> None:
    model = tiny_model(words=("zebra",), bias=-2.0)
    body = "Hello team.\n\nYesterday the zebra came to my door again. It was late.\nThanks"
    hit = model.hit("My report", body)
    assert hit is not None
    assert (hit.signal, hit.language, hit.entry, hit.category) == (
        "model",
        "",
        MODEL_ENTRY,
        "threat",
    )
    assert hit.spans == (Span("body", 13, 54),)
    assert body[13:54] == "Yesterday the zebra came to my door again"
    assert hit.excerpt == "…Yesterday the zebra came to my door again.…"
    assert hit.score == round(model.probability("My report", body), 2)


def test_the_sentence_may_be_the_subject() -> None:
    model = tiny_model(words=("zebra",))
    hit = model.hit("the zebra is back", "Nothing else to say here.")
    assert hit is not None and hit.spans == (Span("subject", 0, 17),)


def test_a_report_whose_every_sentence_weighs_against_still_gets_its_quote() -> None:
    """Flagged by the bias alone, every word weighing toward everyday: the quote is one of
    its sentences (a sentence number without words once won and crashed ingest)."""
    model = tiny_model(words=("hello", "again"), weight=-1.0, bias=6.0)
    body = "\n\n\nHello again.\n\nHello again and again."
    hit = model.hit("", body)
    assert hit is not None and len(hit.spans) == 1
    span = hit.spans[0]
    assert span.field == "body" and body[span.start : span.end].startswith("Hello again")


def test_the_reason_names_the_model_and_its_score_and_the_page_can_read_it(
    shipped: WordingModel,
) -> None:
    subject, body = MUST_FLAG[0]
    hit = shipped.hit(subject, body)
    assert hit is not None and hit.score is not None
    (text,) = reasons([hit])
    parsed = REASON.match(text)
    assert parsed is not None, text
    assert parsed.group("label") == CATEGORY_LABELS[hit.category]
    assert float(parsed.group("score")) == hit.score >= shipped.threshold
    for span in hit.spans:
        words = (body if span.field == "body" else subject)[span.start : span.end]
        assert words and words in parsed.group("quote")
    # The ticket page takes the reason apart and marks the words in the message.
    article = Article(id=5, kind=ArticleKind.INCOMING, subject=subject, body_text=body)
    marks = article_marks([article])
    (shown,) = page_reasons([text], marks)
    assert (shown.how, shown.ref, shown.articles) == (
        "wording model",
        f"score {hit.score:.2f}",
        (5,),
    )
    assert any(part.marked for part in shown.quote)
    assert any(part.marked for part in marks[5].body)


def test_the_message_marks_the_lexicon_words_where_both_fire(
    use_model: list[WordingModel | None],
) -> None:
    use_model[:] = [tiny_model(bias=20)]  # flags everything
    both = Article(id=1, kind=ArticleKind.INCOMING, subject="Help", body_text=THREAT)
    alone = Article(id=2, kind=ArticleKind.INCOMING, subject="", body_text=ORDINARY)
    marks = article_marks([both, alone])
    assert {hit.signal for hit in marks[1].hits} >= {"model", "phrase"}
    # Where the lexicon fires, its words are marked, not the model's whole sentence.
    marked = [part.text for part in marks[1].body if part.marked]
    assert marked and all(len(words) < len(THREAT) - 4 for words in marked)
    # Where the model alone fires, its sentence is marked.
    assert [part.text for part in marks[2].body if part.marked] == [ORDINARY.rstrip("?")]
    assert article_marks([alone], model=False) == {}


def test_a_model_hit_has_a_score_and_no_language() -> None:
    with pytest.raises(ValueError, match="score and no language"):
        TriageHit("threat", "en", MODEL_ENTRY, signal="model", score=0.9)
    with pytest.raises(ValueError, match="score and no language"):
        TriageHit("threat", "", MODEL_ENTRY, signal="model")
    with pytest.raises(ValueError, match="language code"):
        TriageHit("threat", "", "kill-you", signal="phrase")
    hit = TriageHit("self_harm", "", MODEL_ENTRY, "model", "…goodbye…", (), 0.5)
    assert hit.reason() == 'self-harm or suicide risk: "…goodbye…" (wording model, score 0.50)'


# --- joined with the lexicon ----------------------------------------------------------------

THREAT = "He wrote: I will kill you."  # the lexicon's
ORDINARY = "Hello, how do I change the language of the site?"


def test_a_report_is_serious_when_either_fires(use_model: list[WordingModel | None]) -> None:
    lexicon = triage("Help", THREAT, model=False)
    assert lexicon and all(hit.signal != "model" for hit in lexicon)
    use_model[:] = [tiny_model(bias=-20)]  # never flags
    assert triage("Help", THREAT) == lexicon
    assert triage("Help", ORDINARY) == []
    use_model[:] = [tiny_model(bias=20)]  # always flags
    (only,) = triage("Help", ORDINARY)
    assert (only.signal, only.category) == ("model", "self_harm")  # by the categories' bias
    both = triage("Help", THREAT)
    assert both[:-1] == lexicon and both[-1].signal == "model"  # the model's last
    assert triage("Help", ORDINARY, model=False) == []
    use_model[:] = [None]  # no model file shipped: the lexicon alone
    assert triage("Help", THREAT) == lexicon and triage("Help", ORDINARY) == []


def test_hits_worked_out_ahead_keep_the_model_hit(use_model: list[WordingModel | None]) -> None:
    use_model[:] = [tiny_model(bias=20)]
    ahead = triage("Help", THREAT)
    use_model[:] = [tiny_model(bias=-20)]  # what this process would say: not used
    remember("Help", THREAT, ahead)
    assert triage("Help", THREAT) == ahead
    remember("Help", THREAT, ahead)
    assert triage("Help", THREAT, model=False) == ahead[:-1]


# --- the file -----------------------------------------------------------------------------


def test_the_file_round_trips_and_the_same_model_gives_the_same_bytes(tmp_path: Path) -> None:
    model = tiny_model(words=("zebra", "giraffe"), bias=-0.5)
    header = {k: v for k, v in model.header.items()}
    first = write_model(tmp_path / "a.bin", header, model.serious, model.categories)
    second = write_model(tmp_path / "b.bin", header, model.serious, model.categories)
    assert first == second
    back = read_model(tmp_path / "a.bin")
    assert np.array_equal(back.serious, model.serious)
    assert np.array_equal(back.categories, model.categories)
    assert back.probability("", "a zebra") == model.probability("", "a zebra")
    assert back.header["format"] == 1


def test_a_broken_file_is_refused(tmp_path: Path) -> None:
    model = tiny_model()
    data = write_model(tmp_path / "m.bin", dict(model.header), model.serious, model.categories)
    for name, content, message in (
        ("magic.bin", b"PK" + data[2:], "not a triage model file"),
        ("short.bin", data[:-10], "truncated"),
        ("long.bin", data + b"\0\0", "bytes after the weights"),
    ):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelError, match=message):
            read_model(tmp_path / name)
    three = {**model.header["features"], "word_ngrams": [1, 3]}
    with pytest.raises(ModelError, match="one or two words"):
        WordingModel({**model.header, "features": three}, model.serious, model.categories)
    with pytest.raises(ModelError, match="unknown categories"):
        WordingModel(
            {**model.header, "categories": ["nope", "threat"]}, model.serious, model.categories
        )


def test_importing_triage_loads_no_model() -> None:
    code = (
        "import sys, queues.triage, queues.ingest; "
        "print('queues.triage.model' in sys.modules, 'numpy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout.split()
    assert out == ["False", "False"]
