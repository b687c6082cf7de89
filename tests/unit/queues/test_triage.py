"""Safety triage (queues.triage): categories, reasons with the report's words, folding, speed
limits, and ordinary mail that must not trigger. The data files' own examples are checked in
test_triage_lexicon.py; window rules and contexts in test_triage_rules.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from queues import triage as triage_module
from queues.triage import (
    CATEGORIES,
    LANGUAGES,
    Lexicon,
    Span,
    TriageHit,
    compiled,
    default_lexicon,
    reasons,
    signal_reason,
)
from queues.triage.document import Document
from queues.triage.engine import Compiled
from queues.triage.evaluation import read_reports
from queues.triage.patterns import is_common


def triage(subject: str, body: str, lexicon: Lexicon | None = None) -> list[TriageHit]:
    """The lexicon's hits alone: these tests are about the lexicon and its engine (the
    wording model beside it has its own tests, test_triage_model*.py)."""
    return triage_module.triage(subject, body, lexicon, model=False)


def categories(subject: str, body: str = "") -> set[str]:
    return {hit.category for hit in triage(subject, body)}


def entries(subject: str, body: str = "") -> list[str]:
    return [hit.entry for hit in triage(subject, body)]


# --------------------------------------------------------------------------------------------
# Positives: each category in each language, written as reports are written.
# Every example must raise exactly its own category, through that language's lexicon.
# --------------------------------------------------------------------------------------------

POSITIVES: dict[tuple[str, str], list[str]] = {
    ("threat", "en"): [
        'Hi,\nthis user sent me a DM saying "I\'m going to KILL YOU" after I blocked him.',
        "He wrote: I know where you live, and\nyou'd better watch your back.",
        "She keeps threatening to stab me. Please help, I'm scared.",
    ],
    ("threat", "de"): [
        "Hallo, der Nutzer schrieb mir: Ich bringe dich um, wenn du mich noch mal meldest!",
        "Er hat geschrieben „Ich weiß, wo du wohnst“ und dass er mich abstechen will.",
        "Seit Tagen bekomme ich Morddrohungen von diesem Account.",
    ],
    ("threat", "fr"): [
        "Bonjour, il m'a écrit « je vais te tuer » sous ma dernière vidéo.",
        "Il m'écrit « je sais où tu habites », et qu'il va me buter.",
        "Je reçois des menaces de mort depuis une semaine.",
    ],
    ("threat", "es"): [
        "Hola, este usuario me escribió: ¡Te voy a matar, zorra!",
        "Me mandó un mensaje: «Sé dónde vives». Tengo mucho miedo.",
        "Recibo amenazas de muerte desde que publiqué el vídeo.",
    ],
    ("self_harm", "en"): [
        "I can't take the comments anymore. Honestly I want to die.",
        "My friend posted that she is going to kill herself tonight, please do something.",
        "I've been self-harming again since the pile-on started.",
    ],
    ("self_harm", "de"): [
        "Ich kann nicht mehr. Ich will mich einfach umbringen.",
        "Meine Schwester ritzt sich wieder, seit die Nachrichten angefangen haben.",
        "Ich habe Suizidgedanken wegen dieser Kommentare.",
    ],
    ("self_harm", "fr"): [
        "Je n'en peux plus, j'ai envie de me suicider.",
        "Mon fils a écrit qu'il voulait mettre fin à ses jours.",
        "Depuis ces messages, j'ai recommencé à me faire du mal.",
    ],
    ("self_harm", "es"): [
        "Ya no aguanto más, me quiero suicidar.",
        "Mi amiga dice que quiere suicidarse por los comentarios.",
        "He vuelto a autolesionarme desde que empezó el acoso.",
    ],
    ("child_safety", "en"): [
        "Please help. I am 14 and a man keeps messaging me.",
        "A man asked my son for pictures and told him to keep it a secret.",
        "He is grooming kids in the group chat.",
    ],
    ("child_safety", "de"): [
        "Ich bin 13 Jahre alt und ein Erwachsener schreibt mir ständig.",
        "Der Account ist minderjährig, bitte prüfen Sie das.",
        "Meine Tochter ist 12 und ein Erwachsener schreibt ihr.",
    ],
    ("child_safety", "fr"): [
        "Bonjour, j'ai 14 ans et un adulte m'envoie des messages bizarres.",
        "Un adulte a demandé des photos à ma fille de 12 ans.",
        "Il s'agit clairement de pédopornographie.",
    ],
    ("child_safety", "es"): [
        "Hola, tengo 13 años y un señor me escribe cosas raras.",
        "La víctima es menor de edad.",
        "Un adulto le pide fotos a mi hija de 12 años.",
    ],
    ("illegal", "en"): [
        "Someone is trying to blackmail me, they want money.",
        "My ex threatened to leak my intimate photos if I don't pay.",
        "Somebody hacked my Instagram account and changed the password.",
    ],
    ("illegal", "de"): [
        "Ich werde von jemandem erpresst, er will Geld von mir.",
        "Mein Instagram-Account wurde gehackt.",
        "Er hat intime Fotos von mir im Netz verbreitet.",
    ],
    ("illegal", "fr"): [
        "Je suis victime de sextorsion depuis hier.",
        "Il me fait chanter avec des photos intimes.",
        "Mon compte Instagram a été piraté.",
    ],
    ("illegal", "es"): [
        "Me están chantajeando con unas fotos íntimas.",
        "Alguien hackeó mi cuenta de Instagram.",
        "Es un caso de porno venganza, necesito ayuda.",
    ],
    ("offsite_contact", "en"): [
        "Yesterday he showed up at my house and waited by my car.",
        "She contacted my employer and told lies about me.",
        "He followed me home from work last night.",
    ],
    ("offsite_contact", "de"): [
        "Gestern stand er plötzlich vor meiner Haustür.",
        "Er ruft mich ständig mitten in der Nacht an.",
        "Sie ist mir bis nach Hause gefolgt.",
    ],
    ("offsite_contact", "fr"): [
        "Hier il est venu chez moi sans prévenir.",
        "Il a contacté mon employeur pour me nuire.",
        "Il m'appelle sans arrêt, même la nuit.",
    ],
    ("offsite_contact", "es"): [
        "Ayer se presentó en mi casa sin avisar.",
        "Contactó a mi familia para contarles mentiras.",
        "Me llama a todas horas desde números ocultos.",
    ],
    ("personal_data", "en"): [
        "They posted my home address in the comments.",
        "I was doxxed last night on a forum.",
        "My phone number has been leaked everywhere.",
    ],
    ("personal_data", "de"): [
        "Jemand hat meine Adresse auf Twitter veröffentlicht.",
        "Meine Telefonnummer wurde im Internet verbreitet.",
        "Ich wurde gedoxxt.",
    ],
    ("personal_data", "fr"): [
        "Il a publié mon adresse sur un forum.",
        "Mon numéro de téléphone a été diffusé sur internet.",
        "Quelqu'un a divulgué mes informations personnelles.",
    ],
    ("personal_data", "es"): [
        "Publicaron mi dirección en un foro.",
        "Mi número de teléfono fue filtrado en internet.",
        "Difundió mis datos personales en varios grupos.",
    ],
}


SERIOUS = [c for c in CATEGORIES if c != "at_risk"]


def _positive_cases() -> list[tuple[str, str, str]]:
    return [(c, lang, text) for (c, lang), texts in POSITIVES.items() for text in texts]


def test_every_category_and_language_has_examples() -> None:
    for category in SERIOUS:
        for language in LANGUAGES:
            assert len(POSITIVES[(category, language)]) >= 2, (category, language)


@pytest.mark.parametrize(("category", "language", "text"), _positive_cases())
def test_report_raises_its_category_in_its_language(
    category: str, language: str, text: str
) -> None:
    hits = triage("Report", text)
    assert category in {hit.category for hit in hits}
    assert language in {hit.language for hit in hits if hit.category == category}


# --------------------------------------------------------------------------------------------
# Reasons: the report's own words, offsets into the message, the signal
# --------------------------------------------------------------------------------------------


def test_reason_quotes_the_report_not_the_lexicon() -> None:
    body = "Hello,\nyesterday he wrote that he will come to my house tonight. Please help."
    hits = [h for h in triage("Help", body) if h.category == "offsite_contact"]
    assert hits
    hit = hits[0]
    assert "will come to my house" not in hit.entry  # the entry id is not the report
    assert "come to my house" in hit.excerpt
    assert hit.reason().startswith('contact outside the site: "')
    assert "come to my house" in hit.reason()
    assert hit.reason().endswith(f"(phrase en/{hit.entry})")


def test_spans_point_at_the_matched_words_in_the_body() -> None:
    body = "Hi team,\n\nHe said: I WILL KILL YOU.\nRegards"
    (hit,) = triage("Question", body)
    (span,) = hit.spans
    assert span.field == "body"
    assert body[span.start : span.end] == "KILL YOU"


def test_spans_in_the_subject() -> None:
    (hit,) = triage("he will kill you", "see subject")
    assert hit.spans == (Span("subject", 8, 16),)


def test_spans_survive_accents_eszett_and_invisible_characters() -> None:
    body = "Grüße aus der Straße! Ich weiß, wo du wohnst.\u200b Bitte helfen."
    hit = next(h for h in triage("", body) if h.category == "threat")
    (span,) = hit.spans
    assert body[span.start : span.end] == "weiß, wo du wohnst"
    decomposed = "Er schrieb: ich werde dich to\u0308ten!"
    hit = next(h for h in triage("", decomposed) if h.category == "threat")
    assert decomposed[hit.spans[0].start : hit.spans[0].end].endswith("to\u0308ten")


def test_excerpt_is_short_one_line_and_marks_cuts() -> None:
    body = ("This is a long introduction about nothing in particular. " * 5) + (
        "Then he wrote\n> I know where you live\nand more text follows here. " * 3
    )
    hit = next(h for h in triage("", body) if h.category == "threat")
    assert "\n" not in hit.excerpt and ">" not in hit.excerpt
    assert hit.excerpt.startswith("…") and hit.excerpt.endswith("…")
    assert "I know where you live" in hit.excerpt
    assert len(hit.excerpt) < 120


def test_window_rule_reason_shows_each_piece() -> None:
    body = (
        "There is a grown man in the gaming group, and the chat is full of memes about the "
        "game, the weekend and school lunches. He keeps writing to my daughter, she is "
        "twelve. He asked her to add him on Snapchat."
    )
    hit = next(h for h in triage("", body) if h.signal == "rule")
    assert hit.category == "child_safety" and hit.entry == "adult-child-asks"
    assert len(hit.spans) == 3  # adult, child, what is asked
    for span in hit.spans:
        assert body[span.start : span.end] in hit.excerpt
    assert "grown man" in hit.excerpt and " … " in hit.excerpt
    assert "(rule en/adult-child-asks)" in hit.reason()


def test_fear_is_named_as_the_reporters_own_words() -> None:
    hits = triage("", "He keeps writing to me. I am scared for my life.")
    fear = [h for h in hits if h.signal == "fear"]
    assert fear and fear[0].category == "at_risk"
    assert fear[0].reason().startswith('the reporter says they are at risk: "')
    assert "(own words en/" in fear[0].reason()
    assert categories("", "Ich habe Angst.") == {"at_risk"}


def test_signals_from_outside_the_text() -> None:
    assert "safety address" in signal_reason("safety-address")
    assert "at-risk box" in signal_reason("at-risk-box")
    with pytest.raises(ValueError):
        signal_reason("something-else")


def test_reasons_keep_order_and_drop_repeats() -> None:
    a = TriageHit("threat", "en", "kill-you", excerpt="I will kill you")
    b = TriageHit("illegal", "en", "blackmail", excerpt="blackmail")
    assert reasons([a, b, a]) == [a.reason(), b.reason()]
    assert reasons([]) == []
    assert all(isinstance(r, str) for r in reasons(triage("", "I will kill you")))


def test_hit_is_a_frozen_value_and_rejects_unknown_category_language_or_signal() -> None:
    hit = TriageHit("threat", "en", "kill-you")
    assert hit == TriageHit("threat", "en", "kill-you")
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.entry = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        TriageHit("spam", "en", "x")
    with pytest.raises(ValueError):
        TriageHit("threat", "EN!", "x")
    with pytest.raises(ValueError):
        TriageHit("threat", "en", "x", signal="guess")


# --------------------------------------------------------------------------------------------
# Several categories, order, de-duplication, subject
# --------------------------------------------------------------------------------------------


def test_one_report_can_raise_several_categories_in_a_stable_order() -> None:
    body = (
        "He posted my address online, then he showed up at my house.\n"
        "He said he will kill me. I am 15.\n"
        "Now he is blackmailing me and I want to die."
    )
    hits = triage("Help", body)
    order = [CATEGORIES.index(h.category) for h in hits]
    assert order == sorted(order)
    assert {h.category for h in hits} >= {
        "threat",
        "self_harm",
        "child_safety",
        "illegal",
        "offsite_contact",
        "personal_data",
    }
    assert triage("Help", body) == hits


def test_repeated_phrases_give_one_hit_per_entry() -> None:
    hits = triage("kill you", "I will kill you. I WILL KILL YOU.\nkill\nyou!!! kill you")
    assert [h.entry for h in hits] == ["kill-you"]
    assert hits[0].spans[0].field == "subject"


def test_hits_within_a_category_follow_the_text() -> None:
    hits = [h for h in triage("", "He has a gun. Later he said: I know where you live.")]
    assert [h.entry for h in hits if h.signal == "phrase"][:2] == [
        "weapon",
        "i-know-where-you-live",
    ]


BRIEF_EXAMPLES = [
    ("I know where you live", "threat"),
    ("he is stalking me", "threat"),
    ("he has a knife", "threat"),
    ("sextortion of a minor", "child_safety"),
    ("sextortion of a minor", "illegal"),
    ("I am 14", "child_safety"),
    ("she is 16 in the photo", "child_safety"),
    ("they shared revenge porn of me", "illegal"),
    ("he got me swatted", "illegal"),
    ("he showed up at my school", "offsite_contact"),
    ("he contacted my family", "offsite_contact"),
    ("he phoned me at work", "offsite_contact"),
    ("someone followed me to work", "offsite_contact"),
    ("he posted my address", "personal_data"),
    ("Er will mich umbringen!", "threat"),
    ("ich bringe dich um", "threat"),
    ("töte dich", "threat"),
    ("je vais te buter", "threat"),
    ("te voy a matar", "threat"),
    ("me quiero suicidar", "self_harm"),
    ("pienso en suicidarme", "self_harm"),
    ("ich ritze mich", "self_harm"),
    ("elle veut se faire du mal", "self_harm"),
    ("ich werde dich finden und umbringen", "threat"),
    ("he sent a photo of my front door", "offsite_contact"),
]


@pytest.mark.parametrize(("text", "category"), BRIEF_EXAMPLES)
def test_named_examples(text: str, category: str) -> None:
    assert category in categories("", text)


def test_who_is_speaking_decides_between_threat_and_self_harm_in_german() -> None:
    assert categories("", "Er will mich umbringen.") == {"threat"}
    assert categories("", "Ich will mich umbringen.") == {"self_harm"}


def test_subject_alone_is_enough() -> None:
    assert categories("Ich bringe dich um", "") == {"threat"}
    assert categories("URGENT: she is 13 years old", "") == {"child_safety"}


def test_empty_input() -> None:
    assert triage("", "") == []


# --------------------------------------------------------------------------------------------
# Folding: case, accents, umlaut spellings, Unicode forms, separators
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ich werde dich töten",
        "ich werde dich toten",
        "ich werde dich toeten",
        "ICH WERDE DICH TÖTEN",
        "ich werde dich to\u0308ten",  # decomposed umlaut
        "ich werde dich ｔöｔｅｎ",  # full-width letters
        "ich werde\n\ndich\t\t--- töten",
    ],
)
def test_german_umlauts_case_and_forms(text: str) -> None:
    assert categories("", text) == {"threat"}


@pytest.mark.parametrize(
    "text", ["es menor de edad", "es ménor de edad", "ES MENOR DE EDAD", "es menor\nde\nedad"]
)
def test_spanish_accents_are_ignored(text: str) -> None:
    assert categories("", text) == {"child_safety"}


def test_eszett_and_ligatures() -> None:
    assert categories("", "Ich weiß, wo du wohnst.") == {"threat"}
    assert categories("", "ICH WEISS, WO DU WOHNST.") == {"threat"}
    assert "threat" in categories(
        "", "il a publié les coordonnées de ma sœur ; il sait où tu habites"
    )


def test_curly_apostrophes_and_quotes() -> None:
    assert categories("", "“I’ll kill you,” he wrote.") == {"threat"}
    assert categories("", "Il m’a dit « je vais t’égorger »") == {"threat"}
    assert categories("", "¿Sabes qué? Te voy a matar.") == {"threat"}


def test_zero_width_and_soft_hyphen_do_not_hide_words() -> None:
    assert categories("", "I will ki\u200bll you") == {"threat"}
    assert categories("", "sex\u00adtortion") == {"illegal"}


def test_punctuation_and_line_breaks_between_words() -> None:
    assert categories("", "I...will...KILL...\r\n> you") == {"threat"}
    assert categories("", "posted\n\nmy\n\n\naddress") == {"personal_data"}


def test_whole_words_only() -> None:
    assert triage("", "I improved my skills; killyou.com; skillful you") == []
    assert triage("", "My therapist helped; the grapes were fine.") == []
    assert categories("", "He is a rapist.") == {"threat"}
    assert triage("", "paradox; the docx file; pedometer readings") == []


# --------------------------------------------------------------------------------------------
# Negatives: ordinary help-desk mail must not trigger
# --------------------------------------------------------------------------------------------

NEGATIVES_EN = [
    "How do I kill a process that hangs on startup?",
    "This bug kills me, every time I open the app it crashes.",
    "The deadline is killing me, can you extend it?",
    "Shoot me an email when the fix is deployed.",
    "I'll shoot you an email with the logs tomorrow.",
    "I'm dying to know when the new version is out!",
    "Ha, I'll die laughing if that works.",
    "It wouldn't kill you to answer my ticket faster.",
    "Someone insults me in comments.",
    "Thanks, all is calm now.",
    "That would be career suicide for the product.",
    "We did some backlog grooming in the sprint meeting.",
    "This is a minor issue, just a typo in the footer.",
    "Version 2.1 is a minor release with minor changes.",
    "I'm 5 minutes late for the call, sorry. She is 2 hours ahead of us.",
    "My laptop is 9 years old and the app is slow.",
    "I have shared my screen and I've sent my details to my manager.",
    "I contacted my employer about the outage and called my mom.",
    "He followed me on Twitter and then on Instagram.",
    "Please send the invoice to my email address.",
    "Can you kill the job and restart the server? Kill -9 works too.",
    "The shooting schedule for the video is attached.",
    "Is there a dark mode? My eyes are dying.",
    "Can you help me delete my account? I want to die... of boredom waiting, lol.",
    "The game has a new weapon skin that doesn't load.",
    "I will kill two birds with one stone and update both tickets.",
    "Our team will attack this bug first thing tomorrow.",
    "My daughter uses the app too, how do I add her to my family plan?",
    "I updated my address and phone number in my profile settings.",
    "Please reset my password, I think I forgot it.",
    "I found my address is wrong in the profile, and I shared my location with the app.",
    "Your agent phoned me yesterday and rang me again today, thanks!",
    "The comedi driver sets num board minors in the struct.",
    "I am 1 of the admins; I'm 2 weeks into the trial; he is 6 foot tall.",
]

NEGATIVES_DE = [
    "Hallo, ich kann mich seit gestern nicht mehr einloggen.",
    "Dieser Bug bringt mich noch um, bitte beheben!",
    "Ich bringe dich morgen zur Schule, um 8 Uhr.",
    "Rufen Sie mich gerne an, meine Nummer steht in der Signatur.",
    "Bei mir zu Hause funktioniert das WLAN nicht.",
    "Ich konnte den Fehler nachstellen. Das Problem verfolgt mich seit Wochen.",
    "Wir feiern das 10-jährige Jubiläum unserer Firma.",
    "Ich bin 10 Minuten zu spät, sorry. Der Server ist 12 Jahre alt.",
    "Die Krümel stecken in den Ritzen der Tastatur. Alles ist geritzt.",
    "Mit freundlichen Grüßen, Ihr Support-Team",
]

NEGATIVES_FR = [
    "Bonjour, je m'appelle Marie et je n'arrive pas à me connecter.",
    "Comment tuer le processus qui bloque l'application ?",
    "Chez moi, ça ne marche pas avec Firefox.",
    "C'est une mise à jour mineure, avec des changements mineurs.",
    "J'ai 10 ans d'expérience dans le support.",
    "Il y a 10 ans, j'ai créé mon compte.",
    "Je suis mort de rire en lisant votre réponse.",
    "Je vous retrouverai à la réunion de demain.",
    "Merci de me supprimer de la liste de diffusion.",
    "J'ai mis à jour mon adresse dans mon profil.",
]

NEGATIVES_ES = [
    "Hola, me llamo Ana y no puedo entrar en mi cuenta.",
    "Cuando entro a mi cuenta, la página se queda en blanco.",
    "Es un problema menor, un cambio de menor importancia.",
    "Tengo 10 años de experiencia con este programa.",
    "Mi portátil tiene 9 años y va lento.",
    "Me muero de risa con este error.",
    "Hay que matar el proceso y reiniciar.",
    "Voy a cortarme el pelo mañana, respondo luego.",
    "Quiero matar el proceso, pero no sé cómo.",
    "Es una violación de la privacidad de los datos según el RGPD.",
    "Te voy a enviar los registros por correo.",
]


@pytest.mark.parametrize("text", NEGATIVES_EN + NEGATIVES_DE + NEGATIVES_FR + NEGATIVES_ES)
def test_ordinary_mail_does_not_trigger(text: str) -> None:
    assert triage("Question", text) == []


def test_a_benign_help_desk_thread_does_not_trigger() -> None:
    body = """Hello support team,

since the last update I cannot log in to my account. The app shows an error
("invalid token") and then crashes. I tried to reinstall it, cleared the cache and
restarted my phone, but nothing helped. My colleague has the same problem.

Could you please check this and tell me how to fix it? I can send screenshots if needed.

Kind regards,
Anna

-----Original Message-----
> Thanks for contacting us. Please send us the version number of the app.
"""
    assert triage("Login problem after update", body) == []


def test_our_acknowledgement_quoted_back_does_not_trigger() -> None:
    # The acknowledgement's "If you are in danger" section must not read as fear.
    body = (
        "Thanks.\n\n> If you are in danger\n> --------------------\n> If you or someone "
        "else is in immediate danger, call your local emergency number now (112 in Europe, "
        "911 in North America, 999 in the UK).\n> This address is not watched around the "
        "clock and cannot send help to you."
    )
    assert triage("Re: [Ticket#2026120300001] report", body) == []


# --------------------------------------------------------------------------------------------
# Size, speed limits and pathological input (speed itself: bench/triage.py)
# --------------------------------------------------------------------------------------------


def test_importing_compiles_nothing() -> None:
    import subprocess
    import sys

    code = (
        "import queues.triage as t, sys; "
        "assert not t._COMPILED and not t._DEFAULT, 'compiled at import'; "
        "assert 'queues.triage.engine' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_megabyte_body_works() -> None:
    line = "The quick brown fox jumps over the lazy dog; please reset my password. "
    body = line * (1_000_000 // len(line) + 1)
    assert len(body) >= 1_000_000
    assert triage("Long log", body) == []
    hits = triage("Long log", body + "\nBy the way: I will kill you.")
    assert [h.entry for h in hits] == ["kill-you"]
    assert hits[0].spans[0].start > 1_000_000


def test_one_megabyte_of_accented_text_works() -> None:
    line = "Très chère équipe, ça ne marche pas ; Grüße aus München, año, niño. "
    body = line * (1_000_000 // len(line) + 1)
    assert triage("", body) == []
    assert categories("", "ich weiß, wo du wohnst " + body) == {"threat"}


@pytest.mark.parametrize(
    "body",
    [
        "a" * 1_000_000,
        "a " * 500_000,
        " " * 1_000_000,
        "\n" * 500_000,
        "kill " * 200_000,
        "i am " * 200_000,
        "posted my my my " * 60_000,
        "1 " * 500_000,
        "my daughter is 12. " * 30_000,
        "he is a grown man. " * 30_000,
        '"Kill" ' * 100_000,
        "\udcff\ud800 broken surrogates \U0001f480",
    ],
)
def test_pathological_input_is_handled(body: str) -> None:
    hits = triage("", body)
    assert all(isinstance(hit, TriageHit) for hit in hits)


def test_a_guarded_idiom_repeated_without_end_is_flagged_in_the_end() -> None:
    # Guards cost work; past a bound the doubt goes to flagging.
    assert triage("", "I'll shoot you an email. " * 5) == []
    assert [h.entry for h in triage("", "I'll shoot you an email. " * 40)] == ["shoot-you"]


def test_repeated_threat_in_a_large_body() -> None:
    hits = triage("", "I will kill you. " * 60_000)
    assert [h.entry for h in hits] == ["kill-you"]


# --------------------------------------------------------------------------------------------
# Work handed over from the parser workers (mailgate.parseahead)
# --------------------------------------------------------------------------------------------


def test_remembered_result_is_taken_once() -> None:
    marker = [TriageHit("threat", "en", "kill-you", excerpt="remembered")]
    triage_module.remember("s", "b", marker)
    assert triage("s", "b") == marker
    assert triage("s", "b") == []


# --------------------------------------------------------------------------------------------
# The anchor shortcut: the same hits as searching every pattern over the whole text
# --------------------------------------------------------------------------------------------


class _Everywhere(Compiled):
    """Every pattern searched over the whole text: what the anchor shortcut must equal."""

    def _choose(self, doc: Document) -> dict[int, dict[bytes, int | None] | None]:
        return dict.fromkeys(range(len(self.matchers)))


def _sample_texts() -> list[str]:
    lexicon = default_lexicon()
    texts = [text for examples in POSITIVES.values() for text in examples]
    texts += NEGATIVES_EN + NEGATIVES_DE + NEGATIVES_FR + NEGATIVES_ES
    for language in lexicon.languages:
        for entry in language.entries:
            texts += [*entry.positive, *entry.negative]
        for positive, negative in language.examples.values():
            texts += [*positive, *negative]
    dev = Path(__file__).resolve().parents[2] / "data" / "triage" / "dev"
    for path in sorted(dev.glob("*.tsv")):
        texts += [f"{r.subject}\n\n{r.body}" for r in read_reports(path)]
    return texts


def test_anchor_shortcut_finds_exactly_what_a_full_search_finds() -> None:
    fast = compiled()
    everywhere = _Everywhere(default_lexicon())
    texts = _sample_texts()
    texts.append(" ".join(texts[:300]))  # many entries in one long text
    for text in texts:
        assert fast.scan("", text) == everywhere.scan("", text), text[:80]


def test_every_pattern_has_anchors_that_are_not_common_words() -> None:
    # A pattern without anchors would be searched over every text; one anchored only on
    # words like "my" or "in" would be tried at nearly every message.
    ready = compiled()
    assert ready.always == ()
    for matcher in ready.matchers:
        for step in matcher.plan or ():
            weak = all(is_common(word) for words, _ in step for word in words)
            assert not weak, (matcher.language, matcher.id, step)


def test_remembered_result_gets_staff_changes_on_top() -> None:
    from queues.triage.lexicon import StaffEntry

    text = "I will kill you. He will feed me to the pigs."
    worked_out = triage("s", text)  # what a parser worker hands over
    lexicon = default_lexicon().with_staff(
        [
            StaffEntry("en", "kill-you", enabled=False),
            StaffEntry(
                "en",
                "staff-1",
                enabled=True,
                category="threat",
                pattern="feed me to the pigs",
                positive=("feed me to the pigs",),
            ),
        ]
    )
    triage_module.remember("s", text, worked_out)
    from_ahead = triage("s", text, lexicon)
    assert "kill-you" not in {h.entry for h in from_ahead}
    assert "staff-1" in {h.entry for h in from_ahead}
    assert from_ahead == triage("s", text, lexicon)  # the same as computing it here
