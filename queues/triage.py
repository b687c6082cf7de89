"""Safety triage: flag reports that show serious risk so they go to the specialist-safety queue.

One job: given a message's subject and body, return the lexicon entries that matched, grouped
in six categories (threat of harm, self-harm/suicide, child safety, illegal acts, contact outside
the site, published personal data), for English, German, French and Spanish. Each hit records
the *lexicon entry* that matched, never the user's text, and renders as a short reason that
staff see on the ticket (DESIGN.md, "Decide": "safety triage with recorded reasons").

Limits, on purpose:

- Keyword triage is a safety net, not a classifier. It reads no context beyond a few words,
  does not know who is speaking or whether a phrase is quoted, negated or a joke, and it errs
  toward flagging: a false alarm costs a specialist a minute, a miss can cost far more.
  Guard patterns remove only well-known harmless idioms ("it won't kill you to ...",
  "shoot you an email", "backlog grooming", "career suicide", "je m'appelle ...").
- Only the Latin script is matched. Text is folded to ASCII (NFKD compatibility
  decomposition, which covers NFKC's folding of ligatures, full-width and styled letters;
  accents dropped; ß->ss, œ->oe, æ->ae, ø->o, ł->l; then ASCII lower case, which equals
  casefold for everything that survives). Umlauts match both ways (töten = toten = toeten).
  Other scripts, leetspeak ("k1ll"), spaced-out letters and misspellings are not covered.
- Words may be separated by any run of whitespace, punctuation or line breaks; every entry
  matches whole words only ("skill" never matches "kill", "therapist" never "rapist").
- Everything is compiled once, at import: one pattern per lexicon entry, plus its *anchors*,
  the words every match must contain (derived from the pattern: "kill" for "kill you").
  A message is split into words once; only entries whose anchors occur are tried, and only
  at the few word positions where a match can start. Patterns have bounded gaps and
  possessive word runs, so matching is linear; a 1 MB body takes a few tens of ms.

The lexicon lives in `_LEXICON` below. Pattern syntax: a regular expression over the folded
text (lower-case ASCII words separated by spaces), written with accents for readability;
a space means "one or more separators", " ?" an optional separator, `~N` up to N arbitrary
words, `<NAME>` a macro from `_MACROS`. Every entry's term must be a phrase its own pattern
matches (the tests check this).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate, islice
from typing import Final

__all__ = [
    "CATEGORIES",
    "CATEGORY_LABELS",
    "LANGUAGES",
    "TriageHit",
    "reasons",
    "remember",
    "triage",
]

CATEGORIES: Final = (
    "threat",
    "self_harm",
    "child_safety",
    "illegal",
    "offsite_contact",
    "personal_data",
)
LANGUAGES: Final = ("en", "de", "fr", "es")
CATEGORY_LABELS: Final[dict[str, str]] = {
    "threat": "threat of harm",
    "self_harm": "self-harm or suicide risk",
    "child_safety": "child safety",
    "illegal": "illegal act",
    "offsite_contact": "contact outside the site",
    "personal_data": "personal data published",
}


@dataclass(frozen=True, slots=True)
class TriageHit:
    """One lexicon entry that matched: its category, its language and the entry itself."""

    category: str
    language: str
    term: str

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown triage category {self.category!r}")
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown triage language {self.language!r}")

    def reason(self) -> str:
        """A short human-readable reason, e.g. ``threat of harm (en: 'kill you')``."""
        return f"{CATEGORY_LABELS[self.category]} ({self.language}: '{self.term}')"


def reasons(hits: Iterable[TriageHit]) -> list[str]:
    """The reason strings of `hits`, in order, without repeats."""
    return list(dict.fromkeys(hit.reason() for hit in hits))


# --------------------------------------------------------------------------------------------
# Lexicon
# --------------------------------------------------------------------------------------------

_MACROS: Final[dict[str, str]] = {
    # ---- English
    "<YOU>": (
        "(?:you|u|ya|y all|you all|you guys|your (?:family|kids|children|wife|husband|mom|mum|"
        "mother|dad|father|sister|brother|son|daughter|parents|girlfriend|boyfriend|partner|"
        "dog|cat|baby))"
    ),
    "<OBJ>": "(?:you|u|ya|<OBJ3>)",
    "<OBJ3>": (
        "(?:him|her|us|me|my (?:family|kids|children|wife|husband|mom|mum|mother|dad|"
        "father|sister|brother|son|daughter|parents|girlfriend|boyfriend|partner|dog|cat|baby))"
    ),
    "<SUBJ>": ("(?:i|he|she|they|we|someone|somebody|guy|man|woman|person|ex|harasser|stalker)"),
    "<WILL>": (
        "(?:will|ll|shall|would|d|wants? to|wanted to|wanna|tried to|tries to|try to|"
        "threaten(?:s|ed)? to|promised to|plans? to|(?:is |s |are |re |am |m |was |were )?"
        "(?:going to|gonna|about to|trying to|planning to|coming to))"
    ),
    "<HARM>": "(?:kill|murder|stab|shoot|rape|<HARM2>)",
    "<HARM2>": (
        "(?:strangle|choke|hurt|harm|beat up|attack|burn|kidnap|hunt down|slit|punch|assault|"
        "suffocate|poison|behead|torture|come after|come for)"
    ),
    "<KIN_EN>": (
        "(?:daughter|son|child|children|kid|kids|niece|nephew|stepdaughter|stepson|grandchild|"
        "granddaughter|grandson|little sister|little brother|younger sister|younger brother|"
        "baby sister|baby brother)"
    ),
    "<AGE_EN>": (
        "(?:[1-9]|1[0-7]|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
        "fifteen|sixteen|seventeen)"
    ),
    "<UNITS_EN>": (
        "(?:minutes?|mins?|hours?|hrs?|seconds?|secs?|days?|weeks?|months?|steps?|tickets?|"
        "messages?|e ?mails?|items?|times?|pages?|lines?|percent|pct|points?|feet|ft|inches|cm|"
        "mm|m|km|miles?|kg|lbs?|pounds?|euros?|dollars?|usd|eur|gbp|gb|mb|kb|tb|k|x|am|pm|th|"
        "st|nd|rd|o clock|of|out|people|users?|members?|foot|behind|ahead|late|early|"
        "short|over|more|less|away|down|up|levels?|floors?|characters?|chars|files?|degrees?|"
        "tabs?|windows?|calls?|attempts?|tries|versions?|releases?|copies|accounts?|devices?|"
        "seats?|licen[cs]es?|percentage|plus|and a half)"
    ),
    "<NOTPERSON_EN>": (
        "(?:issues?|bugs?|changes?|updates?|versions?|releases?|problems?|fix|fixes|things?|"
        "details?|points?|inconveniences?|typos?|errors?|glitch|glitches|concerns?|questions?|"
        "corrections?|edits?|tweaks?|adjustments?|improvements?|differences?|delays?|one|ones|"
        "note|notes|league|key|chord|scale|role|part|parts|injury|injuries|surgery|incidents?|"
        "mistakes?|upgrades?|patch|patches|revisions?|setbacks?|annoyances?|nuisance|matter|"
        "amount|cosmetic|visual|ui|ux|security|performance|regressions?|refactors?|cleanup|"
        "features?|requests?|remarks?|comments?|suggestions?|nit|nitpick|formatting|layout|"
        "display|text|wording|spelling|grammar|documentation|docs?|hiccups?|outages?|"
        "disruptions?|degradation|impact|risks?|effects?|side|variations?|modifications?|bump|"
        "increases?|decreases?|discrepanc(?:y|ies)|offen[cs]es?|crimes?|accidents?|scratch|"
        "damage|repairs?|step|steps|case|degree|extent|way|amendments?|bugfix|hotfix|"
        "concern|annoying|but|problem|inconsistenc(?:y|ies)|slowdown|lag|caveat|gripe|quibble|"
        "complaint|point release|version bump|browser|upgrade)"
    ),
    "<PLACES_EN>": (
        "(?:home|house|place|door|doorstep|front door|flat|apartment|building|work|workplace|"
        "office|job|school|college|university|uni|campus|class|classroom|gym|car|street|"
        "neighbou?rhood|window|garden|yard|driveway|church|parents|parents house|kids school)"
        "(?! (?:hours|e ?mail|address|account|phone|number|computer|pc|laptop|network|printer|"
        "wifi|party|meeting|server|directory|folder|page|screen)(?= ))"
    ),
    "<PEOPLE_EN>": (
        "(?:family|parents|mother|mom|mum|father|dad|wife|husband|partner|boss|employer|"
        "manager|colleagues|coworkers|co workers|workplace|work|job|school|teachers?|principal|"
        "friends|neighbou?rs|sister|brother|kids|children|son|daughter|landlord|grandmother|"
        "grandfather|grandparents|relatives|in laws|family members|university|church|"
        "girlfriend|boyfriend|fianc[ée]e?|therapist|doctor|clients|customers|students)"
    ),
    "<EN_AUX>": (
        "(?:have|ve|had|d|will|ll|also|just|already|then|immediately|finally|eventually|should|"
        "could|can|would|did|never|even|recently|personally|did not|didn t|haven t|have not|"
        "had to|need to|needed to|want to|wanted to|tried to|am going to|m going to|plan to|"
        "am|m|was|were|been|first|later|quickly|once|twice|actually|have been|ve been|"
        "am now|m now|hereby)"
    ),
    "<CONTACT_EN>": (
        "(?:(?:contacted|contacts|contacting|reached out to|reaches out to|visited|visits|"
        "visiting|threatened|threatens|threatening|harassed|harasses|harassing|approached|"
        "approaches|approaching|tracked down|went after|goes after|stalking|stalked)|"
        "(?:he|she|they|someone|somebody|ex|guy|man|woman|person|harasser|stalker|user|"
        "account|people|troll|trolls|who) (?:\\w+ )?(?:messaged|messages|called|calls|"
        "phoned|phones|rang|rings|texted|texts|(?:e mail|email)(?:ed|s)|wrote to|writes to|"
        "dmed|dm d|dms|sent ~2to|sends ~2to|found)) (?:my|our) (?:\\w+ )?<PEOPLE_EN>"
    ),
    "<PDATA_EN>": (
        "(?:(?:full|home|real|private|personal|new|current|old|exact|work|legal|entire|actual|"
        "complete|whole|cell|mobile|phone|home phone|private phone) ){0,2}"
        "(?:address|addresses|phone number|phone numbers|number|location|whereabouts|"
        "workplace|employer|name|birth name|dead ?name|social security number|social security|"
        "ssn|id|id card|identity card|passport|driver s license|drivers license|license plate|"
        "licence plate|number plate|bank details|bank account|credit card|medical records|"
        "medical history|school|date of birth|birthday|data|details|info|information|"
        "kids names|children s names|house|place of work|ip address|contact details|"
        "contact info)"
    ),
    "<POST_EN>": (
        "(?:posted|posting|posts|published|publishing|publishes|leaked|leaking|leaks|shared|"
        "sharing|shares|spread|spreading|spreads|exposed|exposing|exposes|revealed|revealing|"
        "reveals|uploaded|uploading|tweeted|tweeting|broadcast|broadcasted|broadcasting|"
        "plastered|plastering|dumped|dumping|dropped|released|releasing|circulated|"
        "circulating|disclosed|disclosing|put up|put out|put online|puts up|listed|doxx?ed) "
        "~3(?:my|our|her|his|their) <PDATA_EN>"
    ),
    # ---- German
    "<ADV_DE>": (
        "(?:noch|doch|echt|wirklich|eigenhändig|persönlich|einfach|gleich|sofort|heute|morgen|"
        "bald|irgendwann|dann|auch|alle|schon|jetzt|sicher|garantiert|eines tages|langsam|"
        "nachts|alle beide|selbst|selber)"
    ),
    "<KIND_DE>": (
        "(?:tochter|sohn|kind|enkelin|enkel|nichte|neffe|schwester|bruder|stieftochter|"
        "stiefsohn|schülerin|schüler|mädchen|junge|kleine|kleiner)"
    ),
    "<KIND_DE2>": (
        "(?:tochter|sohn|sohnes|kind|kindern|kindes|nichte|neffen|enkelin|enkel|enkels|"
        "schülerin|schülers|schüler|mädchens|mädchen|jungen|minderjährigen|stieftochter|"
        "stiefsohn|stiefsohns)"
    ),
    "<AGE_DE>": (
        "(?:[1-9]|1[0-7]|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|dreizehn|vierzehn|"
        "fünfzehn|sechzehn|siebzehn)"
    ),
    "<UNITS_DE>": (
        "(?:minuten|minute|min|stunden|stunde|std|sekunden|sekunde|sek|tage|tagen|tag|wochen|"
        "woche|monate|monaten|monat|mal|uhr|prozent|euro|eur|mb|gb|kb|zeichen|seiten|tickets|"
        "nachrichten|e ?mails|punkte|meter|km|kg|stück|x|von|aus|in|im|am|um|bis|oder|mehr|"
        "weniger|zu|jahre zu|jahre lang|jahren)"
    ),
    "<ORTE_DE>": (
        "(?:haustür|tür|wohnungstür|wohnung|haus|arbeit|arbeitsstelle|arbeitsplatz|schule|uni|"
        "universität|büro|firma|zuhause|hause|fenster|auto|garten|hof|eingang|kita|"
        "kindergarten)"
    ),
    "<LEUTE_DE>": (
        "(?:familie|eltern|mutter|vater|mama|papa|frau|mann|ehemann|ehefrau|partner|partnerin|"
        "freund|freundin|chef|chefin|arbeitgeber|arbeitgeberin|vorgesetzten|vorgesetzte|"
        "kollegen|kolleginnen|kollegin|nachbarn|freunde|kinder|tochter|sohn|schwester|bruder|"
        "großeltern|oma|opa|verwandten|schule|lehrer|lehrerin|firma|arbeit|vermieter)"
    ),
    "<DATEN_DE>": (
        "(?:adresse|anschrift|privatadresse|wohnadresse|heimadresse|wohnort|telefonnummer|"
        "handynummer|nummer|privatnummer|festnetznummer|daten|personendaten|kontaktdaten|"
        "ausweis|personalausweis|ausweisdaten|reisepass|arbeitgeber|arbeitsstelle|"
        "arbeitsplatz|klarnamen|namen|kennzeichen|autokennzeichen|bankdaten|kontodaten|iban|"
        "geburtsdatum|standort)"
    ),
    "<VERÖFF_DE>": (
        "(?:veröffentlicht|gepostet|geleakt|verbreitet|online gestellt|ins netz gestellt|"
        "ins internet gestellt|publik gemacht|öffentlich gemacht|preisgegeben|gestreut|"
        "geteilt|weitergegeben)"
    ),
    # ---- French
    "<AGE_FR>": (
        "(?:[1-9]|1[0-7]|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize|"
        "dix sept)"
    ),
    "<ENFANT_FR>": (
        "(?:fille|fils|enfant|nièce|neveu|petite fille|petit fils|sœur|frère|belle fille|"
        "beau fils|élève|ado|gamin|gamine|petite|petit)"
    ),
    "<ENFANT_FR2>": (
        "(?:fille|fils|enfant|enfants|nièce|neveu|élève|petite fille|petit fils|belle fille|"
        "beau fils|adolescente?|ado|mineure?s?|gamine?|collégienne?|fillette)"
    ),
    "<PROCHES_FR>": (
        "(?:famille|parents|mère|père|maman|papa|mari|femme|époux|épouse|conjointe?|"
        "compagnon|compagne|copain|copine|patron|patronne|employeur|chef|manager|responsable|"
        "collègues|voisins|amis|enfants|sœur|frère|proches|entourage|grands parents|école|"
        "travail|boulot|entreprise|lycée|collège|fille|fils)"
    ),
    "<PDATA_FR>": (
        "(?:adresse|adresses|numéro de (?:téléphone|portable|tel|mobile|fixe|sécurité sociale)|"
        "téléphone|portable|coordonnées|identité|vrai nom|nom complet|nom de famille|"
        "données personnelles|informations personnelles|infos perso\\w*|lieu de travail|"
        "domicile|carte d identité|passeport|plaque d immatriculation|iban|"
        "coordonnées bancaires|date de naissance|photos de (?:ma|mon) (?:maison|domicile))"
    ),
    "<PUBLIE_FR>": (
        "(?:publié|publiée|publie|publient|publiait|posté|postée|poste|postent|partagé|"
        "partagée|partage|partagent|diffusé|diffusée|diffuse|diffusent|divulgué|divulguée|"
        "divulgue|révélé|révélée|révèle|balancé|balance|affiché|affiche|mis en ligne|"
        "mise en ligne|met en ligne|fait fuiter|fait fuité|leaké|exposé|exposée|expose|donné|"
        "dévoilé|dévoile) ~3(?:mon|ma|mes|son|sa|ses|notre|nos|leur|leurs) <PDATA_FR>"
    ),
    "<CONTACTE_FR>": (
        "(?:contacté|contacte|contactait|contactent|appelé|appelle|appelait|appellent|"
        "téléphoné|téléphone|téléphonait|écrit|écrivait|écrivent|harcelé|harcèle|harcelait|"
        "harcèlent|menacé|menace|menaçait|menacent|envoyé des \\w+|envoie des \\w+|"
        "rendu visite|débarqué chez) (?:à )?(?:ma|mon|mes|notre|nos) <PROCHES_FR>"
    ),
    # ---- Spanish
    "<AGE_ES>": (
        "(?:[1-9]|1[0-7]|cinco|seis|siete|ocho|nueve|diez|once|doce|trece|catorce|quince|"
        "dieciséis|diecisiete)"
    ),
    "<NIÑO_ES>": (
        "(?:hija|hijo|niña|niño|nieta|nieto|sobrina|sobrino|hermana|hermano|hermanita|"
        "hermanito|chica|chico|alumna|alumno|estudiante|muchacha|muchacho|hijastra|hijastro|"
        "menor|adolescente|chiquilla|chiquillo|nena|nene|cría|crío)"
    ),
    "<LUGAR_ES>": (
        "(?:casa|hogar|domicilio|trabajo|oficina|escuela|colegio|instituto|universidad|"
        "facultad|puerta|portal|edificio|piso|departamento|apartamento|gimnasio|barrio|calle|"
        "ventana)"
    ),
    "<FAMILIA_ES>": (
        "(?:familia|padres|madre|padre|mamá|papá|esposo|esposa|marido|mujer|pareja|novio|"
        "novia|jefe|jefa|empleador|empresa|compañeros|compañeras|vecinos|amigos|amigas|hijos|"
        "hija|hijo|hermana|hermano|abuela|abuelo|familiares|trabajo|colegio|escuela|"
        "universidad)"
    ),
    "<PDATA_ES>": (
        "(?:dirección|direcciones|domicilio|número de (?:teléfono|móvil|celular)|"
        "número(?! de (?:pedido|cliente|ticket|factura|referencia|serie|cuenta|caso)(?= ))|"
        "teléfono|móvil|celular|datos personales|información personal|datos|nombre completo|"
        "nombre real|dni|documento de identidad|pasaporte|lugar de trabajo|matrícula|cédula|"
        "ubicación|cuenta bancaria|fotos de mi casa)"
    ),
    "<PUBLICA_ES>": (
        "(?:publicó|publicaron|publica|publican|publicando|publicado|compartió|compartieron|"
        "comparte|comparten|compartido|difundió|difundieron|difunde|difunden|difundido|filtró|"
        "filtraron|filtra|filtran|filtrado|divulgó|divulgaron|divulga|divulgado|subió|"
        "subieron|sube|suben|subido|expuso|expusieron|expone|exponen|reveló|revelaron|revela|"
        "revelado|colgó|colgaron|colgado|puso|pusieron) "
        "~3(?:mi|mis|su|sus|nuestra|nuestro|nuestros|nuestras) <PDATA_ES>"
    ),
}

_Entry = str | tuple[str, str]

_LEXICON: Final[dict[str, dict[str, tuple[_Entry, ...]]]] = {
    "threat": {
        "en": (
            ("kill you", "kill(?:s|ed|ing)? <YOU>"),
            ("murder you", "murder(?:s|ed|ing)? <YOU>"),
            ("stab you", "stab(?:s|bed|bing)? <YOU>"),
            ("shoot you", "(?:shoot(?:s|ing)?|shot) <YOU>"),
            ("rape", "rap(?:e|es|ed|ing|ist|ists)"),
            # "kill you" and the like have entries of their own.
            ("he will hurt me", "<SUBJ> <WILL> ~1(?:<HARM> <OBJ3>|<HARM2> (?:you|u|ya))"),
            (
                "threatened to kill",
                "threat(?:en|ens|ened|ening)? (?:me |us )?(?:to|that (?:he|she|they) "
                "(?:would|will|d|ll)) ~1(?:kill|murder|hurt|harm|rape|stab|shoot|beat|attack|"
                "burn|kidnap|strangle|come after|hunt)",
            ),
            (
                "death threat",
                "death threat(?:s|ened)?|threat(?:s|ened)? (?:of|with) (?:death|violence|"
                "murder|rape)|rape threats?|bomb threats?|threatened (?:me |us )?with a "
                "(?:knife|gun|weapon)",
            ),
            (
                "i know where you live",
                "(?:i|we) ~2know (?:exactly )?where (?:you|u|ya|your \\w+) (?:live|lives|work|"
                "works|sleep|sleeps|are|study|go to school|park)",
            ),
            (
                "knows where i live",
                "know(?:s|ing)? (?:exactly )?where (?:i|we|my \\w+) (?:live|lives|work|works|"
                "sleep|go to school|study)",
            ),
            ("watch your back", "watch (?:your|ur) back"),
            (
                "you'll regret this",
                "(?:you|u) (?:ll|will|are going to|re going to|re gonna|gonna) (?:regret|pay for)"
                " (?:this|it|that)|make (?:you|u) (?:pay|suffer|regret)|(?:you|u) (?:ll|will|"
                "are going to|re going to|re gonna) be sorry",
            ),
            (
                "you're dead",
                "(?:you|u) (?:re|are|r) (?:a )?dead(?: (?:man|woman|meat))?(?! (?:right|wrong|"
                "on|serious|certain|set|tired|sure|to me|inside)(?= ))|(?:you|u) (?:deserve|"
                "deserves) to (?:die|be (?:raped|killed|shot|hurt))|(?:i|we) (?:ll|will) "
                "(?:end|destroy|ruin) (?:you|u|your life)",
            ),
            ("stalking", "(?:cyber ?)?stalk(?:s|ed|ing|er|ers)?"),
            (
                "weapon",
                "weapons?|firearms?|(?:has|had|have|owns|own|got|bought|carries|carried|"
                "carrying|with|brought|pulled|pulls|pointed|points|showed|shows|waved|waving|"
                "holding|held) (?:a|an|his|her|their|the) (?:gun|guns|knife|knives|rifle|pistol|"
                "shotgun|handgun|machete|blade|axe|crossbow)",
            ),
            (
                "beat you up",
                "beat (?:<OBJ>|them) up|beat (?:the )?(?:shit|crap|hell|living daylights|life) "
                "out of (?:<OBJ>|them)",
            ),
            (
                "hunt you down",
                "hunt (?:<OBJ>|them) down|(?:i m|we re|i am|we are|i ll|we ll|i will|we will|"
                "he s|she s|they re|is|are) (?:coming|come) (?:after|for) (?:you|u|ya|me)",
            ),
            (
                "burn your house",
                "burn (?:down )?(?:your|my|his|her|their|our) (?:house|home|car|place|flat|"
                "apartment)",
            ),
            ("acid attack", "acid attacks?|(?:throw|throwing|threw) acid"),
            (
                "tracker on my car",
                "(?:gps )?trackers? (?:on|in|under) (?:my|our|her|his) (?:car|bag|bike|phone|"
                "coat)|air ?tags? (?:on|in|under) (?:my|our|her|his)|(?:tracking|tracked) "
                "(?:my|her|his) (?:location|phone|car|movements)",
            ),
            ("kidnap", "kidnap(?:s|ped|ping|per|pers)?|abduct(?:s|ed|ing|ion)?"),
        ),
        "de": (
            (
                "bringe dich um",
                "bring(?:e|t|en|st)? (?:ich |er |sie |wir |die |der |man )?(?:dich|euch|dir|ihn|"
                "deine \\w+|deinen \\w+) (?:<ADV_DE> ){0,3}um(?! (?:[0-9]+|zu|halb|viertel|"
                "mitternacht|ein|eins|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|"
                "zwölf)(?= ))",
            ),
            (
                "dich umbringen",
                "(?:dich|euch|ihn|dir|deine \\w+|deinen \\w+) ~3(?:umbringen|"
                "umzubringen|töten|zu töten|ermorden|abstechen|abzustechen|abknallen|"
                "abzuknallen|erschießen|zu erschießen|erschlagen|erwürgen|kaltmachen|"
                "kaltzumachen|vergewaltigen|verprügeln|zusammenschlagen|abschlachten|"
                "aufschlitzen|massakrieren|anzünden|fertigmachen|plattmachen)|sie "
                "(?:<ADV_DE> ){0,3}(?:umbringen|umzubringen|ermorden|abstechen|abknallen|"
                "vergewaltigen|erwürgen|abschlachten)",
            ),
            (
                "töte dich",
                "(?:töte|töten|tötet) (?:dich|euch|ihn)|(?:ich|wir|er) (?:ermorde|ermordet|"
                "ersteche|ersticht|erschieße|erschießt) (?:dich|euch|ihn|sie)",
            ),
            (
                "ich weiß, wo du wohnst",
                "wei(?:ß|s)t? ~1wo (?:du|ihr|deine \\w+) (?:wohnst|wohnt|wohnen|lebst|lebt|"
                "arbeitest|arbeitet|schläfst|schlaft|zur schule gehst|bist)|kenne (?:deine|eure)"
                " (?:adresse|anschrift|wohnung)",
            ),
            (
                "weiß, wo ich wohne",
                "wei(?:ß|s)t? ~1wo (?:ich|wir|meine \\w+) (?:wohne|wohnen|wohnt|lebe|leben|"
                "arbeite|arbeiten|zur schule gehe)|kennt (?:meine|unsere) (?:adresse|anschrift|"
                "privatadresse|wohnadresse)",
            ),
            (
                "er will mich umbringen",
                "(?:er|sie|der|die|jemand|man|ihr|mein ex|dieser|diese) (?:will|wollte|wird|"
                "würde|droht|drohte|versucht|versuchte|hat gedroht|hat versucht) ~2(?:mich|mir|"
                "uns) (?:<ADV_DE> ){0,3}(?:umbringen|umzubringen|töten|zu töten|abstechen|"
                "abzustechen|erschießen|zu erschießen|vergewaltigen|zu vergewaltigen|"
                "(?:etwas|was) (?:antun|anzutun))",
            ),
            (
                "morddrohung",
                "(?:mord|todes|vergewaltigungs|gewalt)drohung(?:en)?|droh(?:t|te|ten|en|ung|"
                "ungen)? (?:mir |mich |uns )?(?:mit (?:dem tod|mord|gewalt|einer waffe|einem "
                "messer|vergewaltigung|schlägen|prügel)|(?:mich|uns) (?:umzubringen|zu töten|"
                "zu vergewaltigen|zu schlagen|zu verprügeln|abzustechen|zu erschießen))",
            ),
            (
                "bedroht mich",
                "bedroh(?:t|te|ten|en) (?:mich|uns|meine \\w+|meinen \\w+|meinem \\w+|"
                "mein \\w+)|(?:mich|uns|ich|wir) ~3bedroht",
            ),
            ("stalkt mich", "stalkt|gestalkt|stalken|stalkte|stalkerin"),
            (
                "waffe",
                "waffen?|schusswaffen?|(?:mit|hat|habe|hatte|trägt|zog|zeigte|besitzt) (?:ein|"
                "eine|einem|einer|seinem|seiner|ihrem|ihrer|dem|der|die|das|seine|ihre) "
                "(?:pistole|knarre|messer|gewehr|machete|axt|baseballschläger|schusswaffe|"
                "waffe)",
            ),
            ("vergewaltigen", "vergewaltig(?:en|t|te|ten|ung|ungen|er)"),
            (
                "du wirst es bereuen",
                "(?:du|ihr) (?:wirst|werdet) ~2(?:bereuen|büßen)|das wirst du (?:\\w+ )?"
                "(?:bereuen|büßen)|(?:du bist|ihr seid) (?:so gut wie |bald |schon )?tot|"
                "pass (?:bloß|lieber|besser) auf|ich mach (?:dich|euch) (?:kalt|platt|kaputt)",
            ),
            ("entführen", "entführ(?:en|t|te|ung)"),
            (
                "dein haus anzünden",
                "(?:dein|euer|deine) (?:haus|auto|wohnung) ~2(?:anzünden|abfackeln|in brand)|"
                "(?:zünde|fackle|fackel) (?:dein|euer|deine) (?:haus|auto|wohnung)",
            ),
        ),
        "fr": (
            (
                "je vais te tuer",
                "(?:te|t|vous) (?:tuer|buter|crever|égorger|massacrer|défoncer|frapper|violer|"
                "flinguer|abattre|étrangler|brûler|poignarder|tabasser|casser la gueule|"
                "faire la peau|saigner|trucider|zigouiller|achever|faire du mal|"
                "planter un couteau|mettre une balle|tirer dessus|exploser la tête|défigurer|"
                "séquestrer|kidnapper)",
            ),
            (
                "je te tue",
                "(?:je|j|on|il|elle|ils|elles|nous) (?:te|t|vous) (?:tue|tuerai|tuera|tuerons|"
                "tueront|bute|buterai|butera|crève|creverai|égorge|égorgerai|massacre|"
                "massacrerai|défonce|défoncerai|viole|violerai|ferai la peau|fera la peau|"
                "brûlerai|frapperai|étrangle|étranglerai|pourrirai la vie)|(?:je|j|on|il|elle) "
                "(?:te|t) (?:retrouverai|retrouvera|trouverai|trouvera|aurai|aura)",
            ),
            (
                "il va me tuer",
                "(?:il|elle|ils|elles|qui|mon ex|ce type|cet homme|cette femme|cette personne|"
                "ce mec|ce gars|cet individu) ~2(?:menace de|menacé de|menaçait de|menacent de|"
                "va|vont|veut|veulent|voulait|voulaient|a essayé de|a tenté de|allait|compte|"
                "comptent|a juré de|jure de|promet de|a promis de) ~1(?:me|m|nous|ma \\w+|"
                "mon \\w+|mes \\w+) (?:tuer|buter|crever|égorger|massacrer|défoncer|frapper|"
                "violer|flinguer|abattre|étrangler|brûler|poignarder|tabasser|"
                "casser la gueule|faire la peau|faire du mal|enlever|kidnapper|séquestrer|"
                "retrouver)",
            ),
            (
                "menace de mort",
                "menaces? de mort|menacée?s? de mort|menaces? de viol|menaces? physiques",
            ),
            (
                "je sais où tu habites",
                "sai[st] ~1où (?:tu|vous|t) (?:habites|habitez|habite|vis|vivez|travailles|"
                "travaillez|dors|dormez|es|êtes|bosses)|connai[st] (?:ton|votre|ta) (?:adresse|"
                "domicile|maison)|(?:sait|savent|connaît|connaissent) ~1où (?:j|je|nous) "
                "(?:habite|habitons|vis|vivons|travaille|travaillons)|(?:sait|connaît|"
                "connaissent|savent) (?:mon|notre) adresse",
            ),
            (
                "tu vas le regretter",
                "(?:tu|vous) (?:vas|allez) (?:le |la )?regretter|tu (?:le )?regretteras|vous "
                "(?:le )?regretterez|tu (?:me )?le paieras|tu vas (?:me )?le payer|(?:t es|"
                "tu es|vous êtes) (?:un homme |une femme |déjà )?morte?s?(?! de (?:rire|"
                "fatigue|peur|faim|honte)(?= ))|fais gaffe à toi|gare à toi",
            ),
            (
                "il me traque",
                "(?:me|m|nous|la|le|l) (?:traque|traquait|traquent|traquaient|a traquée?|"
                "ont traquée?)|traqueur|traqueuse|harcèlement obsessionnel|stalkée?|stalke|"
                "stalkait",
            ),
            (
                "une arme",
                "(?:une|son|sa|un|avec une|avec un|a une|a un|sortir une|sorti une|sorti un|"
                "sortait une|sortait un) (?:arme|armes|pistolet|revolver|fusil|couteau|flingue|"
                "machette|hache|batte|arme à feu|cutter)",
            ),
            (
                "te violer",
                "(?:te|t|vous|me|m|la|l|nous) (?:a |ont |avait |va |vais |veut |voulait )?"
                "viol(?:er|é|ée|és|ées|era|erai|ait)|viols?|violeurs?",
            ),
        ),
        "es": (
            (
                "te voy a matar",
                "(?:te|os) (?:voy|vamos|va|van|iba|íbamos|iban|vas) a (?:matar|apuñalar|"
                "acuchillar|violar|quemar|golpear|pegar|romper la cara|partir la cara|reventar|"
                "hacer daño|destrozar|arruinar|disparar|pegar un tiro|dar una paliza|degollar|"
                "ahorcar|estrangular|secuestrar|rajar|cortar el cuello)",
            ),
            (
                "lo voy a matar",
                "(?:lo|la|los|las|le|les) (?:voy|vamos|va|van|iba|iban) a (?:matar|apuñalar|"
                "acuchillar|violar|degollar|ahorcar|estrangular|secuestrar|asesinar)",
            ),
            (
                "matarte",
                "(?:matar|apuñalar|acuchillar|violar|quemar|golpear|reventar|ahorcar|estrangular"
                "|degollar|asesinar|secuestrar|destrozar|rajar)(?:te|os)|(?:pegarte|meterte) "
                "(?:un tiro|una paliza|una bala|un balazo)|(?:partirte|romperte) (?:la cara|"
                "el cuello|la crisma|las piernas)|hacerte daño",
            ),
            (
                "te mato",
                "te (?:mato|mataré|mataremos|matamos|matará|violo|violaré|reviento|apuñalo|"
                "apuñalaré|rajo|degüello|parto la cara|rompo la cara|parto la madre|"
                "rompo la madre|reviento la cabeza)",
            ),
            (
                "me quiere matar",
                "(?:quiere|quieren|quería|querían|amenaza con|amenazó con|amenazaron con|"
                "amenazaba con|va a|van a|iba a|intentó|intentaron|trató de|trataron de|juró|"
                "prometió) ~1(?:matar|violar|apuñalar|secuestrar|golpear|pegar|hacer daño|"
                "quemar|acuchillar|ahorcar|estrangular|asesinar|disparar)(?:me|nos|la|lo|te|"
                "os|le|les)|(?:me|nos) (?:quiere|quieren|quería|querían|intenta|intentó|trata de|"
                "trató de) (?:matar|violar|apuñalar|secuestrar|golpear|pegar|hacer daño|quemar|"
                "asesinar)|(?:me|nos) (?:va|van|iba|iban) a (?:matar|violar|apuñalar|secuestrar|"
                "golpear|pegar|hacer daño|quemar|asesinar)",
            ),
            (
                "amenazas de muerte",
                "amenazas? de muerte|amenazad[oa]s? de muerte|amenaz\\w* (?:de|con) (?:matar\\w*|"
                "violar\\w*|hacer\\w* daño|golpear\\w*|pegar\\w*|quemar\\w*|apuñalar\\w*|"
                "secuestrar\\w*|agredir\\w*|atacar\\w*)",
            ),
            (
                "sé dónde vives",
                "(?:sé|sabemos|conozco|conocemos) ~1dónde (?:vives|vive|trabajas|trabaja|"
                "estudias|duermes|viven|vivís|vive tu \\w+)|(?:sé|conozco|tengo) tu "
                "(?:dirección|domicilio)|(?:sabe|saben|conoce|conocen|descubrió|descubrieron|"
                "averiguó|averiguaron) ~1dónde (?:vivo|trabajo|estudio|vivimos|duermo)|(?:sabe|"
                "saben|conoce|conocen) mi (?:dirección|domicilio)",
            ),
            (
                "te vas a arrepentir",
                "te (?:vas a|va a) arrepentir|te arrepentirás|os arrepentiréis|(?:me las|me la)"
                " vas a pagar|vas a pagarla|lo vas a pagar caro|te las vas a ver conmigo|"
                "(?:estás|eres hombre|eres mujer) muert[oa](?! de (?:risa|miedo|cansancio|"
                "hambre|sueño|frío|calor|envidia|vergüenza)(?= ))",
            ),
            (
                "me acecha",
                "(?:me|nos|la|lo) (?:acecha|acechaba|vigila|vigilaba|espía|espiaba)|"
                "acech(?:ar|a|an|aba|ando|ó|o)|acosador obsesivo|stalkeando|stalkea|stalkeo",
            ),
            (
                "un arma",
                "(?:un|una|su|con un|con una|tiene un|tiene una|lleva un|lleva una|sacó un|"
                "sacó una|me apuntó con un|me apuntó con una) (?:arma|pistola|cuchillo|navaja|"
                "revólver|escopeta|rifle|machete|fusil)|armas? de fuego",
            ),
            (
                "violación",
                "(?:te|me|la|os|nos) (?:va a |van a |voy a |quiere |quería |intentó )?"
                "viol(?:ar|ó|a|aron|ado|ada|aré|ará|aba)|violación|violaciones|violador|"
                "violadores",
            ),
            (
                "secuestrarte",
                "secuestr(?:arte|arla|arlo|arnos|arme|aré|ará)|(?:te|la|lo|me|nos) "
                "(?:va a |van a |voy a )?secuestr(?:ar|ó|a|aron|aré|ará|aba)",
            ),
        ),
    },
    "self_harm": {
        "en": (
            ("suicide", "suicid(?:e|es|al|ality|ally)"),
            (
                "kill myself",
                "(?:kill|killing|kills|killed|end|ending|off|offing|hang|hanging|hanged|drown|"
                "drowning|poison|poisoning|shoot|shooting|shot) (?:myself|my self|herself|"
                "himself|themselves|themself|ourselves)",
            ),
            (
                "hurt myself",
                "(?:hurt|hurting|hurts|harm|harming|harms|harmed|cut|cutting|cuts|burn|burning|"
                "burned|burnt|starve|starving|starved|punish|punishing) (?:myself|my self|"
                "herself|himself|themselves|themself)",
            ),
            (
                "self-harm",
                "self ?(?:harm|harming|harmed|injury|injuries|injuring|mutilation|mutilating)",
            ),
            (
                "end my life",
                "(?:end|ending|ended|take|taking|took) (?:my|her|his|their) (?:own )?(?:life|lives)"
                "(?! back(?= ))|(?:end|ending) (?:it|things|everything) all",
            ),
            (
                "i want to die",
                "(?:i|me) ~2(?:want|wanna|wanted|wish|ready|plan|planning|deserve|need) (?:to )?"
                "(?:die|be dead)|(?:wish|wished) (?:i|i d) (?:was|were|had been) (?:dead|"
                "never born|never been born)|better off dead|rather be dead|(?:don t|do not|"
                "dont|no longer|not|never) (?:want|wanna|wish) to (?:live|be alive|exist|"
                "wake up|go on|be here anymore)|(?:nothing|no one|nobody) (?:left )?to live "
                "for|no (?:reason|point) (?:to|in) (?:live|living|go on|going on)|"
                "not worth living|(?:can t|cannot|cant) go on (?:like this|anymore|any more|"
                "living)",
            ),
            (
                "overdose",
                "overdos(?:e|es|ed|ing)|(?:took|swallowed|take|taking) (?:all|a bunch|a handful|"
                "too many|lots|a lot) (?:of )?(?:my |the |these )?(?:pills|tablets|meds|"
                "medication|sleeping pills)",
            ),
            (
                "kill yourself",
                "kill (?:yourself|urself|your self|yourselves)|kys|(?:go|should|just|please|pls)"
                " (?:hang|shoot|off|end|drown) (?:yourself|urself)|(?:nobody|no one|noone) "
                "(?:would|will) (?:miss|care about) (?:you|u) (?:if|when)|drink bleach|"
                "(?:you|u) should (?:just )?die",
            ),
        ),
        "de": (
            ("suizid", "suizid\\w*|selbstmord\\w*|freitod|selbsttötung\\w*"),
            (
                "mich umbringen",
                "(?:mich|mir|sich) (?:<ADV_DE> ){0,3}(?:umbringen|umzubringen|töten|zu töten|"
                "erhängen|aufhängen|aufzuhängen|vergiften|erschießen|das leben (?:zu )?nehmen|"
                "(?:etwas|was) (?:antun|anzutun))",
            ),
            (
                "bringe mich um",
                "bringe? (?:ich )?mich (?:<ADV_DE> ){0,3}um(?! (?:[0-9]+|zu|halb|viertel)(?= ))",
            ),
            (
                "will sterben",
                "(?:will|möchte|möchte lieber|würde (?:gerne?|lieber)|wäre (?:gerne?|lieber)|"
                "wünschte ich wäre|wünsche mir ich wäre|wünschte mir ich wäre|"
                "sehne mich danach zu) (?:einfach |nur |endlich |nicht mehr |auch )?"
                "(?:sterben|tot sein|tot|nicht mehr leben|nicht mehr aufwachen)|(?:will|möchte|"
                "kann) nicht mehr leben|(?:keinen sinn|keinen grund|keine lust) mehr (?:zu |am )?"
                "leben|lebensmüde|todessehnsucht|sterbenswunsch",
            ),
            (
                "mein leben beenden",
                "(?:mein|meinem|sein|seinem|ihr|ihrem) leben (?:ein ende (?:zu )?setzen|"
                "ein ende|beenden|zu beenden)",
            ),
            (
                "ritzen",
                "ritz(?:e|en|t|te|ten) (?:mich|sich)|ritzen|geritzt|selbstverletz\\w*|"
                "(?:mich|sich) selbst (?:zu )?verletzen|mir selbst weh ?(?:zu )?tun|svv",
            ),
            (
                "überdosis",
                "überdosis|(?:alle|viele|eine packung|zu viele) (?:meine )?(?:tabletten|pillen|"
                "schlaftabletten) ~2(?:genommen|geschluckt|nehmen|schlucken)",
            ),
            (
                "bring dich selbst um",
                "(?:bring|töte) (?:dich|euch) (?:doch )?selbst(?: um)?|(?:häng|erhäng) dich "
                "(?:doch )?auf|geh (?:doch |mal |einfach )?sterben|spring (?:doch )?(?:von "
                "(?:der|einer) brücke|vor (?:den|einen) zug|aus dem fenster)|du solltest "
                "(?:dich umbringen|sterben|tot sein)",
            ),
        ),
        "fr": (
            ("suicide", "suicid(?:e|es|er|aire|aires|é|ée|és|ées|ant|ez|erai|erais|erait)"),
            (
                "je vais me tuer",
                "(?:je|j) ~3(?:me|m) (?:tuer|tue|tuerai|tuerais|pendre|pends|pendrai|suicider|"
                "suiciderai|foutre en l air|fous en l air|ouvrir les veines|ouvre les veines|"
                "faire du mal|scarifier|scarifie|mutiler|mutile|empoisonner|flinguer|"
                "jeter sous un train|jeter d un pont|jeter par la fenêtre|jeter du haut|"
                "tirer une balle)",
            ),
            (
                "se tuer",
                "(?:se|s) (?:tuer|suicider|pendre|scarifier|mutiler|ouvrir les veines|"
                "foutre en l air|jeter sous un train|jeter d un pont|jeter par la fenêtre)",
            ),
            (
                "mettre fin à mes jours",
                "(?:mettre|mis|met|mets|mettrai) fin à (?:mes|ses|leurs|tes) jours|(?:mettre|"
                "mis|met|mets|mettrai) fin à (?:ma|sa|ta) vie|(?:je veux|j ai envie d|je vais|"
                "envie d|je voudrais|je préfère) en finir|en finir avec (?:la|ma|sa) vie",
            ),
            (
                "envie de mourir",
                "(?:envie de|je veux|je voudrais|je vais|je préfère|je préférerais|je souhaite|"
                "j aimerais) (?:juste |simplement |vraiment )?(?:mourir|crever|"
                "disparaître pour toujours|ne plus me réveiller|être morte?)|(?:plus|pas) "
                "(?:envie|la force) de vivre|(?:ne )?(?:veux|voulais) plus vivre|marre de "
                "(?:la|cette|ma) vie|ma vie ne vaut (?:plus )?rien|mieux (?:vaut|vaudrait) que "
                "je (?:meure|disparaisse)",
            ),
            (
                "automutilation",
                "automutil\\w*|auto mutilation|scarifi\\w*|(?:je me|me) coupe (?:les bras|"
                "les poignets|les veines)|me couper (?:les bras|les poignets|les veines)",
            ),
            ("se faire du mal", "(?:me|se) faire du mal"),
            (
                "va te tuer",
                "va te (?:tuer|pendre|suicider|foutre en l air|jeter)|(?:tue|pends|suicide) toi|"
                "tu devrais te (?:tuer|suicider|pendre|foutre en l air)|(?:crève|crevez) "
                "(?:sale|connard|connasse|salope|pute)",
            ),
        ),
        "es": (
            (
                "suicidarme",
                "suicid(?:io|ios|arme|arse|arte|ar|ado|ada|a|as|o|ó|aron|ando|aría|arías|arnos)",
            ),
            (
                "me quiero morir",
                "(?:me quiero|quiero|quisiera|me gustaría|tengo ganas de|ganas de|deseo|"
                "prefiero|solo quiero|sólo quiero|me voy a) (?:morir|morirme|estar muert[oa]|"
                "desaparecer para siempre|dejar de vivir|no despertar)|no quiero (?:seguir )?"
                "(?:vivir|viviendo|estar viv[oa]|despertar)|(?:quitarme|quitarse|me quito|"
                "me quitaré) la vida|(?:acabar|terminar) con (?:mi|su) vida|no vale la pena "
                "vivir|no tengo (?:ganas|razones|motivos) (?:de|para) vivir",
            ),
            (
                "quiero matarme",
                "(?:voy a|quiero|pienso|pensando en|pensé en|pensado en|ganas de|intenté|"
                "intentó|me voy a) (?:matarme|suicidarme|quitarme la vida|colgarme|ahorcarme|"
                "cortarme las venas|tirarme (?:por|de|desde|a las vías|al tren|delante)|"
                "envenenarme)|(?:me voy a|me quiero) matar",
            ),
            (
                "autolesiones",
                "autolesi\\w*|auto ?lesion\\w*|(?:hacerme|me hago|me hice|hacerse|se hace|"
                "me haga) daño|cortarme|me corto|me corté|cortarse|lastimarme|me lastimo|"
                "me lastimé|autoagresi\\w*|mutilarme|quemarme",
            ),
            (
                "mátate",
                "mátate|suicídate|ahórcate|tírate (?:de un puente|por la ventana|a las vías)|"
                "muérete(?! de(?= ))|deberías (?:matarte|suicidarte|morirte)|ojalá te mueras",
            ),
        ),
    },
    "child_safety": {
        "en": (
            ("a minor", "(?:a|an) minor(?! <NOTPERSON_EN>(?= ))|minors"),
            (
                "underage",
                "under ?aged?|under (?:the age of )?(?:1[0-8]|eighteen|sixteen|thirteen)"
                "(?! <UNITS_EN>(?= ))|age of consent",
            ),
            (
                "child abuse material",
                "child (?:porn|pornography|sex abuse|sexual abuse|abuse|abuse material|"
                "abuse images?|exploitation|sexual exploitation|molest\\w*|predators?|grooming|"
                "trafficking)|csam|csem|kiddie porn|(?:online|sexual) predators?|"
                "(?:paedo|pedo)(?:s|phile|philes|philia|philic)?|"
                "sexual(?:ly)? (?:abus\\w*|exploit\\w*) (?:a|of a|of) (?:child|children|minor|"
                "minors|kids?|teen|teens)",
            ),
            ("grooming", "groom(?:ing|ed|s|er|ers)"),
            (
                "i am 14",
                "(?:i m|im|i am|i ve just turned|i just turned|i turned|i ll be|i will be|he s|"
                "he is|she s|she is|they re|they are|he was|she was|i was|who is|who s|who was|"
                "aged|age|ages|<KIN_EN> (?:is|was|s|who is|who s)) (?:only |just |barely |"
                "still |now )?<AGE_EN>(?= )(?: (?:years?|yrs?|y o|yo)(?: old| of age)?)?+"
                "(?! <UNITS_EN>(?= ))",
            ),
            (
                "14 year old girl",
                "<AGE_EN>(?= ) (?:years?|yrs?) old (?:girl|boy|kid|child|<KIN_EN>|student|teen|"
                "teenager|victim|minor|cousin|pupil)",
            ),
            (
                "nude photos of my daughter",
                "(?:nude|nudes|naked|explicit|sexual|sexuali[sz]ed|intimate|indecent|"
                "inappropriate|topless|sexy|dirty|revealing|compromising) ~3(?:of|from) (?:my|"
                "our|a|her|his|their|the|this) (?:\\w+ )?(?:<KIN_EN>|little girl|little boy|girl|"
                "boy|minor|student|pupil|schoolgirl|schoolboy|teen|teenager|child|kid)",
            ),
            (
                "asked my son for photos",
                "(?:asked|asking|asks|begged|begging|pressured|pressuring) (?:my|our|his|her) "
                "(?:\\w+ )?<KIN_EN> (?:for|to send|to show|to take|to meet|to come|to keep "
                "(?:it|this) (?:a )?secret)",
            ),
            (
                "groomed my daughter",
                "(?:pressured|pressuring|pressures|coerced|coercing|manipulated|manipulating|"
                "groomed|grooming|blackmailed|blackmailing|blackmails|threatened|threatening|"
                "threatens|sextorted|sextorting|sexted|sexting|harassed|harassing|harasses|"
                "lured|luring|exploited|exploiting|targeted|targeting|solicited|soliciting|"
                "molested|abused|sent nudes to|sends nudes to|sending nudes to) (?:my|our|his|"
                "her) (?:\\w+ )?<KIN_EN>",
            ),
            (
                "sexting a minor",
                "sext(?:ing|ed|s)? (?:with )?(?:a |my |our |his |her )?(?:minor|child|kid|"
                "<KIN_EN>|teen|teenager|student|schoolgirl|schoolboy)",
            ),
        ),
        "de": (
            ("minderjährig", "minderjährig\\w*"),
            (
                "kinderpornografie",
                "kinderporn\\w*|kipo|missbrauchsdarstellung\\w*|missbrauchsabbildung\\w*|"
                "kindesmissbrauch\\w*|(?:sexuellen? |sexueller )?missbrauch (?:von|an) (?:kindern|"
                "minderjährigen|einem kind|meiner tochter|meinem sohn)|pädophil\\w*|"
                "pädokriminell\\w*|pädosexuell\\w*|cybergrooming|kinderschänder\\w*",
            ),
            (
                "ich bin 14",
                "(?:ich bin|bin|er ist|sie ist|<KIND_DE> ist|<KIND_DE> wird|<KIND_DE> wurde|"
                "ich werde|bin erst) (?:erst |gerade |gerade mal |gerade erst |noch |knapp |"
                "fast |jetzt )?<AGE_DE>(?= )(?: jahre(?: alt)?)?+(?! <UNITS_DE>(?= ))",
            ),
            (
                "14-jährige",
                "<AGE_DE> jährig(?:e|er|en|es|em)?(?! (?:jubiläum|bestehen|firmenjubiläum|"
                "dienstjubiläum|erfahrung|garantie|laufzeit|vertrag|partnerschaft|"
                "zusammenarbeit|betriebszugehörigkeit|mitgliedschaft|geschichte|tradition|"
                "erfolg|kundenbeziehung|kooperation|nutzung|entwicklung|forschung|praxis|"
                "tätigkeit|berufserfahrung)(?= ))",
            ),
            (
                "nacktbilder meiner tochter",
                "(?:nackt\\w*|intim\\w*|sexuell\\w*|anzüglich\\w*|freizügig\\w*|explizit\\w*|"
                "pornografisch\\w*|pornographisch\\w*|erotisch\\w*) ~3(?:von )?(?:(?:meiner|"
                "meinem|seiner|seinem|ihrer|ihrem|einer|einem|unserer|unserem|der|dem|des|"
                "eines|meines) (?:\\w+ )?<KIND_DE2>|kindern|minderjährigen)",
            ),
            (
                "belästigt meine tochter",
                "(?:belästig|bedräng|erpress|bedroh|manipulier|überred|nötig|sextortier)\\w* "
                "~2(?:meine|meiner|meinen|unsere|unserer|unseren|unser|mein) (?:\\w+ )?"
                "<KIND_DE>|(?:fordert|forderte|verlangt|verlangte|will|wollte|bat|bittet|drängt|"
                "drängte) ~3(?:nacktbilder|nacktfotos|nacktvideos|bilder|fotos|videos|nudes) "
                "~3(?:von )?(?:meiner|meinem|unserer|unserem) (?:\\w+ )?<KIND_DE2>",
            ),
        ),
        "fr": (
            (
                "une mineure",
                "(?:un|une|des|les|aux|d un|d une|enfants?|personnes?|adolescente?s?|fille|"
                "garçon|victime) mineure?s?|(?:elle|il|qui|fille|fils|enfant|je) (?:est|était|"
                "suis|étais|sont|étaient) (?:encore |toujours |seulement )?mineure?s?",
            ),
            (
                "pédopornographie",
                "pédopornograph\\w*|pédo ?porno\\w*|pornographie (?:infantile|juvénile|"
                "enfantine)|pédocriminel\\w*|pédophil\\w*|abus sexuels? sur (?:mineure?s?|"
                "enfants?|ma fille|mon fils)|pédopiégeage|prédateurs? sexuels?|"
                "exploitation sexuelle (?:d|des) (?:enfants?|mineure?s?)|atteinte sexuelle sur "
                "mineur\\w*|corruption de mineur\\w*",
            ),
            (
                "j'ai 14 ans",
                "(?:j ai|il a|elle a|<ENFANT_FR> a|âgée? de|âgés de|âgées de|(?:fille|garçon|"
                "gamine?|enfant|ado|adolescente?|élève|collégienne?|mineure?|gosse|petite|"
                "nièce|neveu|jeune) de) (?:seulement |juste |à peine |tout juste )?<AGE_FR>(?= ) "
                "ans(?! (?:d|de|que|depuis|dans|plus tard|après|avant|auparavant|déjà)(?= ))",
            ),
            (
                "photos nues de ma fille",
                "(?:nue?s?|intimes?|dénudée?s?|sexuelles?|explicites?|obscènes?|"
                "déshabillée?s?|sexy|coquines?|pornographiques?|érotiques?) ~3(?:de|d) (?:ma|mon|"
                "sa|son|notre|leur|une|un|des) (?:\\w+ )?<ENFANT_FR2>",
            ),
            (
                "harcèle ma fille",
                "(?:harcèl\\w*|harcel\\w*|menac\\w*|manipul\\w*|drague\\w*|fait chanter|"
                "faisait chanter|sextorqu\\w*|fait du chantage à|pressionn\\w*) ~2(?:à )?(?:ma|"
                "mon|notre|nos|mes) (?:\\w+ )?(?:fille|fils|enfant|enfants|nièce|neveu|"
                "petite fille|petit fils|belle fille|beau fils)|(?:demand\\w*|réclam\\w*|"
                "exig\\w*) ~2(?:des )?(?:photos|images|vidéos|nudes|selfies|photo) ~3(?:à )?"
                "(?:ma|mon|notre) (?:\\w+ )?(?:fille|fils|enfant|nièce|neveu)",
            ),
        ),
        "es": (
            (
                "menor de edad",
                "menor(?:es)? de edad|(?:soy|eres|ella es|él es|es una|es un|hija es|hijo es|"
                "niña es|niño es|que es) menor(?! (?:que|a|al|de|en)(?= ))|(?:un|una|a|con|"
                "los|las|unos|unas|varios|varias) menor(?:es)?(?! (?:importancia|medida|grado|"
                "cantidad|número|tamaño|precio|costo|coste|valor|riesgo|impacto|problemas?|"
                "cambios?|error|errores|detalles?|que|a|al|de|versión|actualización|prioridad|"
                "escala|parte|tiempo|nivel|rendimiento|velocidad|frecuencia|consumo|uso|calidad|"
                "capacidad|duración|peso|distancia|ajustes?|mejoras?|incidencias?|fallos?|"
                "inconvenientes?|diferencias?|retraso|porcentaje|cosas?|modificaciones|"
                "modificación|correcciones|corrección)(?= ))",
            ),
            (
                "tengo 14 años",
                "(?:tengo|tenía|cumplí|cumplo|cumpliré|<NIÑO_ES> (?:tiene|tenía|cumplió|cumple|"
                "de)|(?:ella|él) (?:tiene|tenía|cumplió|cumple)) (?:solo |sólo |apenas |recién |"
                "tan solo |ya )?<AGE_ES>(?= ) años(?! (?:de|en|trabajando|usando|con|como|que|"
                "y medio|más|menos)(?= ))",
            ),
            (
                "pornografía infantil",
                "pornografía infantil|porno infantil|abuso sexual infantil|abusos? sexuales? "
                "(?:a|de|contra|hacia) (?:menores|niños|niñas|un menor|una menor|mi hija|"
                "mi hijo)|pedófil[oa]s?|pedofilia|pederast\\w*|explotación sexual (?:infantil|"
                "de menores)|material de abuso sexual|ciberacoso sexual infantil|"
                "depredador(?:es)? sexual(?:es)?|corrupción de menores",
            ),
            (
                "fotos íntimas de mi hija",
                "(?:(?:fotos?|imágenes?|vídeos?|videos?|fotografías?) (?:íntim[oa]s?|"
                "desnud[oa]s?|sexuales?|explícit[oa]s?|eróticas?|comprometedoras?|sin ropa|"
                "en ropa interior)|desnudos|nudes|packs?) ~2(?:de|a) (?:mi|su|nuestra|nuestro|"
                "una|un|la|el) (?:\\w+ )?(?:hija|hijo|niña|niño|sobrina|sobrino|nieta|nieto|"
                "hijastra|hijastro|menor|alumna|alumno|nena|nene)",
            ),
            (
                "chantajea a mi hija",
                "(?:chantaje\\w*|chantajea\\w*|extorsion\\w*|amenaz\\w*|acos\\w*|manipul\\w*|"
                "presion\\w*|sextorsion\\w*|engañ\\w*|seduc\\w*) ~2(?:a )?(?:mi|nuestra|nuestro|"
                "su) (?:\\w+ )?<NIÑO_ES>|(?:pidió|pide|pedía|pidiendo|exigió|exige|exigía|"
                "exigiendo|pedirle|exigirle) ~3(?:fotos|imágenes|vídeos|videos|desnudos|nudes|"
                "packs?|fotografías) ~3(?:a )?(?:mi|nuestra|nuestro|su) (?:\\w+ )?<NIÑO_ES>",
            ),
        ),
    },
    "illegal": {
        "en": (
            ("sextortion", "sextort(?:ion|ing|ed|s)?|sex ?tortion"),
            ("blackmail", "black ?mail(?:s|ed|ing|er|ers)?"),
            ("extortion", "extort(?:s|ed|ing|ion|ionist|ionists)?"),
            (
                "revenge porn",
                "revenge porn(?:ography)?|image based (?:sexual )?abuse|non ?consensual(?:ly)?",
            ),
            (
                "intimate images",
                "(?:intimate|explicit|nude|naked|topless|sexual|compromising|sexy|racy|dirty) "
                "~1(?:images?|photos?|pictures?|pics?|videos?|vids?|selfies?|content|material|"
                "footage|recordings?|snaps?)|sex (?:tapes?|videos?)|nudes",
            ),
            (
                "threatened to leak",
                "threat(?:en|ens|ened|ening)? (?:me |us )?to (?:leak|share|post|publish|send|"
                "release|expose|spread|show|upload|distribute|forward|make public)",
            ),
            (
                "photos without my consent",
                "(?:photos?|pictures?|pics?|images?|videos?|recordings?|footage|nudes) "
                "~4without (?:my |her |his |their |our )?(?:consent|permission|knowledge|"
                "agreement)",
            ),
            (
                "hacked my account",
                "hack(?:ed|ing|s)? (?:into )?(?:my|our|her|his|their) ~1(?:accounts?|e ?mail|mail"
                "|mailbox|inbox|phone|computer|laptop|pc|instagram|facebook|twitter|tiktok|"
                "snapchat|icloud|google|gmail|discord|profile|whatsapp|webcam|camera|router|"
                "wifi|cloud|devices?|telegram|onlyfans|linkedin|reddit|youtube|steam|bank)|"
                "(?:accounts?|e ?mail|mailbox|phone|computer|profile|instagram|facebook|snapchat|"
                "icloud|gmail|whatsapp|twitter|tiktok) (?:was|has been|got|have been|were|is|"
                "s been|had been|is being) (?:\\w+ )?(?:hacked|compromised|taken over|"
                "broken into|hijacked)|(?:accounts?|e ?mail|profile|instagram|facebook|snapchat|"
                "icloud|gmail|whatsapp|twitter|tiktok|phone) hacked|(?:i|we) (?:was|were|ve been|"
                "have been|got|get|keep getting) hacked|(?:hijack|hijacked|hijacking|broke into|"
                "break into|breaking into|stole|stolen|steal) (?:my|our|her|his) (?:\\w+ )?"
                "(?:accounts?|"
                "e ?mail|passwords?|identity|profile|instagram|facebook|icloud)",
            ),
            ("swatting", "swat(?:ted|ting)|swatted|(?:sent|send|called) (?:a )?swat team"),
            (
                "hidden camera",
                "(?:hidden|spy|secret) (?:cameras?|cams?)|spycams?|upskirt\\w*|creepshots?|"
                "voyeur\\w*|secretly (?:filmed|recorded|photographed)",
            ),
            (
                "deepfake",
                "deep ?fakes?|deep ?faked|deep ?nudes?|(?:fake|faked|photoshopped|morphed|"
                "ai generated) (?:nudes|porn|naked \\w+|nude \\w+)",
            ),
            (
                "stalkerware",
                "stalkerware|spyware (?:on|in) (?:my|her|his)|(?:installed|install|put) (?:a )?"
                "(?:spyware|tracker|tracking app|keylogger)",
            ),
            (
                "sexual assault",
                "sexual(?:ly)? (?:assault\\w*|abus\\w*)|molest(?:s|ed|ing|er|ers|ation)?",
            ),
            ("identity theft", "identity theft|stole my identity|stealing my identity"),
            ("ransom", "ransoms?|ransomed|pay (?:me )?(?:or|otherwise) (?:i|i ll|i will)"),
            ("sex trafficking", "(?:human|sex) trafficking|trafficked"),
        ),
        "de": (
            ("erpressung", "erpress\\w*"),
            ("racheporno", "racheporn\\w*|rache ?pornos?"),
            (
                "nacktbilder",
                "nackt(?:bild|bilder|foto|fotos|video|videos|aufnahme|aufnahmen|selfie|selfies)|"
                "intime (?:bilder|fotos|videos|aufnahmen|inhalte)|intimbilder|sexvideos?|"
                "sexfotos?|sexbilder",
            ),
            (
                "gehackt",
                "gehackt(?:e|en|er|em)?|hack\\w* (?:meinen|meine|mein|meinem) (?:\\w+ )?"
                "(?:account|konto|profil|e ?mail|handy|computer|laptop|rechner|instagram|"
                "facebook|snapchat|whatsapp)|(?:account|konto|profil|handy|postfach) "
                "~3(?:übernommen|geknackt|kompromittiert)",
            ),
            (
                "bilder ohne einwilligung",
                "(?:bilder|fotos|videos|aufnahmen|bild|foto|video) ~4ohne (?:meine |mein |ihre |"
                "ihr |seine |sein )?(?:einwilligung|zustimmung|einverständnis|erlaubnis|wissen)",
            ),
            (
                "heimlich gefilmt",
                "heimlich (?:gefilmt|fotografiert|aufgenommen)|versteckte kameras?|"
                "versteckten kameras?",
            ),
            (
                "droht zu veröffentlichen",
                "droh\\w* ~4(?:zu veröffentlichen|zu verbreiten|zu verschicken|zu posten|"
                "online zu stellen|ins netz zu stellen|weiterzuleiten)",
            ),
            ("identitätsdiebstahl", "identitätsdiebstahl|identitätsmissbrauch"),
            ("lösegeld", "lösegeld\\w*"),
        ),
        "fr": (
            ("sextorsion", "sextors\\w*"),
            (
                "chantage",
                "chantage\\w*|(?:me|m|nous|la|le|les|l|te|t) (?:fait|font|faisait|faisaient|"
                "faire|a fait|ont fait) chanter",
            ),
            ("extorsion", "extorsions?|extorqu\\w*"),
            (
                "pornodivulgation",
                "porno ?divulgation|porno ?vengeance|vengeance pornographique|diffusion "
                "(?:non consentie|sans (?:mon|son|leur) consentement)",
            ),
            (
                "photos intimes",
                "(?:photos?|images?|vidéos?|selfies?|clichés?|contenus?) (?:intimes?|nues?|"
                "dénudées?|sexuelles?|pornographiques?|explicites?|coquines?|compromettantes?|"
                "érotiques?)|sextapes?",
            ),
            (
                "menace de publier",
                "menac\\w* de (?:publier|diffuser|partager|envoyer|poster|montrer|divulguer|"
                "balancer|leaker|mettre en ligne|tout publier|tout balancer|tout envoyer)",
            ),
            (
                "photos sans mon consentement",
                "(?:photos?|images?|vidéos?|enregistrements?) ~4sans (?:mon|son|leur|notre) "
                "(?:consentement|accord|autorisation)",
            ),
            (
                "compte piraté",
                "(?:piraté|pirater|piratait|hacké|hacker|a piraté|ont piraté|a hacké) (?:mon|ma|"
                "mes|son|sa|ses) (?:\\w+ )?(?:compte|comptes|messagerie|mail|email|boîte|"
                "téléphone|portable|ordinateur|pc|profil|instagram|facebook|snapchat|icloud|"
                "whatsapp)|(?:compte|comptes|messagerie|boîte mail|boîte|téléphone|portable|"
                "ordinateur|profil|instagram|facebook|snapchat) ~3(?:piraté|piratée|piratés|"
                "hacké|hackée|compromis|usurpé)",
            ),
            (
                "usurpation d'identité",
                "usurpation d identité|usurpe mon identité|usurpé mon identité|vol d identité",
            ),
            (
                "caméra cachée",
                "caméras? cachées?|filmée? (?:à mon insu|sans (?:mon|son) consentement|"
                "en cachette)|photographiée? à mon insu|voyeurisme",
            ),
        ),
        "es": (
            ("chantaje", "chantaj\\w*"),
            (
                "extorsión",
                "extorsion(?:es|ar|a|an|ó|aron|ando|ado|ada|ador|adores)|extorsión",
            ),
            (
                "porno venganza",
                "porno ?venganza|pornografía de venganza|porno de venganza|difusión "
                "(?:no consentida|sin consentimiento)",
            ),
            (
                "fotos íntimas",
                "(?:fotos?|imágenes?|vídeos?|videos?|fotografías?|contenido|material) "
                "(?:íntim[oa]s?|desnud[oa]s?|sexuales?|explícit[oa]s?|eróticas?|eróticos?|"
                "pornográfic[oa]s?|comprometedoras?)|packs? (?:íntimos?|de fotos)|desnudos",
            ),
            (
                "hackeó mi cuenta",
                "(?:hacke\\w*|jacke\\w*|pirate\\w*|robó|robaron|robado|accedió|accedieron|"
                "vulneró|vulneraron) ~2(?:mi|mis|su|sus) (?:\\w+ )?(?:cuenta|cuentas|correo|"
                "email|teléfono|móvil|celular|ordenador|computadora|perfil|instagram|facebook|"
                "whatsapp|icloud|contraseña|contraseñas)|(?:cuenta|cuentas|correo|perfil|"
                "teléfono|móvil|celular|whatsapp|instagram|facebook) ~3(?:hackead[oa]s?|"
                "pirateada|pirateado|hackearon|robada|robado|comprometid[oa]|jaquead[oa])",
            ),
            (
                "cámara oculta",
                "cámaras? ocultas?|grabad[oa] sin (?:mi|su) (?:consentimiento|permiso|"
                "conocimiento)",
            ),
            (
                "fotos sin mi consentimiento",
                "(?:fotos?|vídeos?|videos?|imágenes?) ~4sin (?:mi|su) (?:consentimiento|permiso|"
                "autorización)",
            ),
            (
                "amenaza con publicar",
                "amenaz\\w* con (?:publicar|difundir|compartir|subir|mandar|enviar|enseñar|"
                "mostrar|filtrar|pasar|divulgar|colgar)\\w*",
            ),
            (
                "suplantación de identidad",
                "suplantación de (?:identidad|personalidad)|usurpación de identidad|"
                "robo de identidad|suplanta mi identidad|suplantando mi identidad",
            ),
        ),
    },
    "offsite_contact": {
        "en": (
            (
                "showed up at my home",
                "(?:showed|shows|show|showing|turned|turns|turning) up (?:at|outside|to|near|"
                "in front of) (?:my|our|her|his|their) (?:\\w+ )?<PLACES_EN>|(?:came|comes|"
                "coming|come) (?:to|round to|over to|by) (?:my|our|her|his|their) (?:\\w+ )?"
                "<PLACES_EN>|(?:waited|waiting|waits|lurking|lurked|lurks|loitering|loitered|"
                "hanging around|hung around|parked|parks|parking|standing|stood|sat|sitting|"
                "appeared|appears) (?:for me )?(?:at|outside|near|in front of|by|around|"
                "across from) (?:my|our|her|his|their) (?:\\w+ )?<PLACES_EN>",
            ),
            (
                "outside my house",
                "(?:outside|in front of) (?:my|our) (?:\\w+ )?(?:home|house|flat|apartment|door|"
                "front door|building|window|bedroom window|school|workplace|office building)"
                "(?! (?:network|directory|folder|hours|page|screen)(?= ))",
            ),
            ("contacted my family", "<CONTACT_EN>"),
            (
                "keeps calling me",
                "(?:keeps|keep|kept|constantly|repeatedly|still|started|starts|won t stop|"
                "will not stop|wont stop|doesn t stop|does not stop|never stops|continues|"
                "continued) (?:calling|phoning|ringing|texting|e ?mailing|following|visiting|"
                "turning up|showing up|coming) (?:me|my|us|at|to|on)",
            ),
            (
                "he phoned me",
                "(?:he|she|they|someone|somebody|ex|guy|man|woman|person|harasser|stalker|troll|"
                "stranger|caller|number) (?:\\w+ ){0,2}(?:phoned|rang|texted|sms d|smsed|"
                "whatsapped|facetimed|voicemailed) (?:me|us)|"
                "(?:called|calls|calling|phones|phoning|rings|ringing|texts|texting) (?:me|us) "
                "(?:at home|at work|on my (?:\\w+ )?(?:phone|mobile|cell|landline|number)|"
                "in the middle of the night|at night|every day|every night|all day|all night|"
                "nonstop|non stop|repeatedly|constantly|again and again|over and over|from "
                "(?:a |an )?(?:private|unknown|blocked|different|withheld|hidden) numbers?|"
                "\\w+ times)|(?:anonymous|threatening|silent|harassing|abusive|obscene|nuisance|"
                "prank) (?:phone )?calls|(?:got|found|has|had|obtained|gotten) (?:hold of )?my "
                "(?:phone number|mobile number|cell number|number|private number|home phone)",
            ),
            (
                "followed me home",
                "follow(?:ed|s|ing)? (?:me|us|my (?:\\w+ )?<KIN_EN>|my (?:wife|husband|partner|"
                "girlfriend|boyfriend)) (?:home|everywhere|around town|all the way \\w+|on foot|"
                "by car|in (?:his|her|their|a) car|around the (?:city|shop|store|mall|"
                "supermarket|street|neighbou?rhood|park|campus)|(?:to|from|into|out of|after) "
                "(?!(?:twitter|instagram|tiktok|facebook|youtube|reddit|x|discord|twitch|"
                "snapchat|linkedin|telegram|my (?:new|other|alt|second) account|another "
                "(?:platform|site|account|server))(?= ))\\w+)|(?:is|s|are|re|was|were|been|"
                "keeps|kept|started) following me(?! (?:on|across|around|online|back|from "
                "account)(?= ))",
            ),
            (
                "photo of my front door",
                "(?:photos?|pictures?|pics?|videos?|footage) (?:of|from outside) (?:my|our) "
                "(?:\\w+ )?(?:house|home|front door|door|car|street|building|flat|apartment|"
                "workplace|office|school|window)",
            ),
            (
                "knocked on my door",
                "knock(?:ed|s|ing)? on (?:my|our) (?:\\w+ )?(?:door|window)|(?:rang|rings|"
                "ringing) (?:my|our) (?:door ?bell|bell)|left ~3(?:at|on|outside) (?:my|our) "
                "(?:\\w+ )?(?:door|doorstep|porch|windscreen|windshield)",
            ),
            (
                "sent letters to my home",
                "(?:sent|mailed|delivered|left|dropped off|sends|mails) ~3to (?:my|our) "
                "(?:home|house|door|doorstep|home address|flat|apartment|workplace)"
                "(?! (?:e ?mail|inbox|account|computer|pc|laptop|printer)(?= ))",
            ),
        ),
        "de": (
            (
                "stand vor meiner tür",
                "(?:stand|steht|standen|stehen|wartete|wartet|warteten|lauerte|lauert|"
                "lauerten|tauchte|taucht|tauchten|klingelte|klingelt|klopfte|klopft) "
                "~4(?:vor|an|bei) (?:meiner|meinem|mir|unserer|unserem) (?:\\w+ )?<ORTE_DE>|"
                "(?:kam|kommt|kamen|erschien|erscheint|erschienen) ~4(?:zu mir|zu meiner|"
                "zu meinem|an meine|an meinen|vor meine|vor meinen|in meine|in meinen|"
                "zu uns) ~1(?:<ORTE_DE>|nach hause)|vor (?:meiner|unserer) (?:haustür|"
                "wohnungstür|tür)",
            ),
            (
                "vor meiner haustür aufgetaucht",
                "(?:vor|an|bei|zu|in) (?:meiner|meinem|mir|unserer|unserem|meine|meinen) "
                "(?:\\w+ )?<ORTE_DE> ~3(?:aufgetaucht|aufgelauert|gewartet|gestanden|erschienen|"
                "vorbeigekommen|gekommen|geklingelt|geklopft|herumgelungert|rumgelungert|"
                "aufgekreuzt)|(?:lauert|lauerte|lauerten) (?:mir|uns) ~3auf|aufgelauert",
            ),
            (
                "hat meine familie kontaktiert",
                "(?:hat|haben|hatte|hatten|er|sie|man|jemand|auch|sogar) ~2(?:meine|meinen|"
                "meinem|meiner|unsere|unseren|unserem|unserer) (?:\\w+ )?<LEUTE_DE> "
                "~3(?:kontaktiert|angerufen|angeschrieben|angesprochen|besucht|bedroht|"
                "belästigt|aufgesucht|benachrichtigt|gemailt)|(?:kontaktierte|kontaktiert|rief|"
                "ruft|schrieb|schreibt|besuchte|besucht|bedrohte|bedroht|belästigte|belästigt|"
                "suchte|sucht) ~2(?:meine|meinen|meinem|meiner|unsere|unseren|unserem|unserer) "
                "(?:\\w+ )?<LEUTE_DE>",
            ),
            (
                "ruft mich ständig an",
                "(?:ruft|rief|riefen) (?:mich|uns) ~2(?:ständig|dauernd|andauernd|nachts|"
                "immer wieder|jeden tag|täglich|mehrmals|pausenlos|unentwegt|"
                "mitten in der nacht|auf der arbeit|zu hause|zuhause|auf meinem handy|anonym|"
                "mit unterdrückter nummer) ~2an|(?:anonyme|ständige|nächtliche|bedrohliche|"
                "belästigende|dauernde|unzählige|wiederholte) anrufe|telefonterror",
            ),
            (
                "folgt mir nach hause",
                "(?:folgt|folgte|folgten|verfolgt|verfolgte|verfolgten) (?:mir|mich|uns) "
                "~3(?:nach hause|bis nach hause|bis zur|bis zum|bis vor|zur arbeit|zur schule|"
                "auf der straße|überall hin|auf schritt und tritt|mit dem auto|durch die stadt|"
                "heim)|(?:ist|sind|war) (?:mir|uns) ~3(?:nach hause|bis nach hause|heim|"
                "bis zur arbeit|bis zur schule) gefolgt",
            ),
        ),
        "fr": (
            (
                "devant chez moi",
                "(?:devant|en bas de|à la sortie de|autour de) (?:chez (?:moi|nous)|ma (?:porte|"
                "maison|fenêtre)|mon (?:domicile|immeuble|appartement|appart|travail|lycée|"
                "collège|école|boulot)|mon lieu de travail|l école de (?:ma|mon) (?:fille|fils))",
            ),
            (
                "venu chez moi",
                "(?:venu|venue|venus|venues|débarqué|débarquée|débarque|débarquent|présenté|"
                "présentée|pointé|pointée|pointe|pointait|rôde|rôdait|rôdé|attendu|attendue|"
                "attendait|attend|guettait|guette|guetté|apparu|apparue|sonné|sonnait|frappé|"
                "frappait) ~3(?:chez (?:moi|nous|mes parents)|à mon (?:travail|bureau|boulot|"
                "domicile|école|lycée|collège|appartement)|à l école|sur mon lieu de travail|"
                "à ma porte|devant (?:chez moi|ma porte|mon domicile|mon travail|l école))",
            ),
            ("a contacté ma famille", "<CONTACTE_FR>"),
            (
                "m'appelle sans arrêt",
                "(?:m(?<!je\\x20m)|me) (?:appelle|appelait|appellent|téléphone|téléphonait|harcèle|"
                "harcelait|envoie des (?:sms|messages|textos)) ~3(?:sans arrêt|tout le temps|"
                "jour et nuit|tous les jours|constamment|en pleine nuit|au téléphone|sur mon "
                "(?:téléphone|portable|fixe)|à la maison|au travail|chez moi|plusieurs fois|"
                "en numéro masqué|en masqué|la nuit)|(?:il|elle|ils|elles) m a (?:appelée?|"
                "téléphoné)|(?:appels|coups de fil) (?:anonymes|masqués|répétés|incessants|"
                "menaçants|malveillants|nocturnes)|harcèlement téléphonique",
            ),
            (
                "m'a suivie jusque chez moi",
                "(?:m|me|nous) (?:a |ont |avait |avaient )?suivie?s? (?:jusqu\\w*|chez (?:moi|"
                "nous)|dans la rue|en voiture|partout|à la maison|dans le métro|dans le bus|"
                "depuis (?:l école|le travail|le lycée|la gare|chez moi))|(?:il|elle|ils|on|"
                "quelqu un|un homme|un inconnu) me sui[st] (?:partout|jusqu\\w*|dans la rue|"
                "en voiture|à la sortie|chez|depuis)",
            ),
        ),
        "es": (
            (
                "se presentó en mi casa",
                "(?:se presentó|se presentaron|se presenta|se presentan|apareció|aparecieron|"
                "aparece|aparecen|vino|vinieron|viene|vienen|me esperaba|me esperaban|me espera|"
                "me esperó|me esperaron|merodea|merodeaba|ronda|rondaba|rondando|merodeando|"
                "estaba esperando|está esperando|llamó a la puerta|tocó el timbre) ~2(?:en|a|"
                "hasta|afuera de|fuera de|frente a|delante de|cerca de|en la puerta de|"
                "a la puerta de|a la salida de) (?:mi|nuestra|nuestro) (?:\\w+ )?<LUGAR_ES>",
            ),
            (
                "frente a mi casa",
                "(?:frente a|afuera de|delante de|en la puerta de|a la puerta de|fuera de|"
                "enfrente de) (?:mi|nuestra|nuestro) (?:casa|domicilio|edificio|portal|puerta|"
                "piso|departamento|apartamento|ventana)|(?:frente a|afuera de|delante de|"
                "en la puerta de|a la puerta de|a la salida de|enfrente de) (?:mi|nuestro|"
                "nuestra) (?:trabajo|oficina|escuela|colegio|instituto|universidad|facultad)|"
                "a la salida del (?:colegio|trabajo|instituto)",
            ),
            (
                "contactó a mi familia",
                "(?:contactó|contactaron|contacta|contactan|llamó|llamaron|llama|llaman|"
                "escribió|escribieron|escribe|escriben|amenazó|amenazaron|amenaza|amenazan|"
                "acosó|acosaron|acosa|acosan|visitó|visitaron|le escribió|les escribió|"
                "envió mensajes|mandó mensajes|mandó fotos|envió fotos) ~1(?:a )?(?:mi|mis|"
                "nuestra|nuestro|nuestros|nuestras) <FAMILIA_ES>",
            ),
            (
                "me llama a todas horas",
                "me (?:llama|llamaba|llamó|llamaron|llaman|manda sms|envía sms|sigue llamando|"
                "acosa|acosaba|acosó) ~2(?:a todas horas|"
                "todos los días|todo el día|sin parar|constantemente|de madrugada|por la noche|"
                "al (?:móvil|celular|teléfono|fijo)|por teléfono|a mi (?:móvil|celular|teléfono|"
                "casa|trabajo|fijo)|a casa|al trabajo|cada día|cada hora|una y otra vez|"
                "continuamente|muchas veces|\\w+ veces|desde números? (?:desconocidos?|ocultos?|"
                "privados?))|llamadas (?:anónimas|amenazantes|constantes|de madrugada|"
                "a todas horas|desde números? ocultos?)",
            ),
            (
                "me siguió hasta mi casa",
                "(?:me|nos) (?:sigue|siguió|seguía|siguieron|persigue|persiguió|perseguía|"
                "persiguen|vigila|vigilaba|espía|espiaba|acecha|acechaba) ~2(?:hasta|"
                "por la calle|en la calle|a casa|al trabajo|al colegio|a todas partes|"
                "por todas partes|en su coche|en coche|en el metro|en el autobús|"
                "desde el trabajo|desde casa|desde el colegio|de cerca|a la salida)",
            ),
        ),
    },
    "personal_data": {
        "en": (
            ("doxxing", "d[o0]xx?(?:ed|ing|es|er|ers)?"),
            ("posted my address", "<POST_EN>"),
            (
                "my address was posted",
                "(?:my|our|her|his|their) <PDATA_EN> (?:was|were|has been|have been|had been|is|"
                "are|got|is being|are being|being|s been|ended up|is now|are now|is all|are all)"
                " (?:\\w+ )?(?:posted|published|leaked|shared|spread|exposed|revealed|uploaded|"
                "online|everywhere|out there|circulating|doxx?ed|public|made public|"
                "put online|posted online|all over)",
            ),
            (
                "found out where i live",
                "found (?:out )?(?:where (?:i|we|my \\w+) (?:live|lives|work|works|go to school|"
                "study)|my (?:home )?address|my (?:real|full|legal) name|my (?:workplace|"
                "employer))",
            ),
            (
                "shared my location",
                "(?:shared|sharing|posted|posting|published|leaked|leaking|broadcast|"
                "broadcasting) (?:my|her|his) (?:live |real time |current |exact |gps )?"
                "location",
            ),
        ),
        "de": (
            ("gedoxxt", "gedoxx?t|doxx?(?:t|te|ten|en)"),
            (
                "hat meine adresse veröffentlicht",
                "(?:meine|meinen|meinem|ihre|seine|unsere) (?:\\w+ )?<DATEN_DE> ~6<VERÖFF_DE>|"
                "(?:veröffentlicht|veröffentlichte|postet|postete|leakt|leakte|verbreitet|"
                "verbreitete|teilt|teilte|stellt|stellte) ~2(?:meine|meinen|meinem|ihre|seine|"
                "unsere) (?:\\w+ )?<DATEN_DE>",
            ),
            (
                "meine adresse ist im netz",
                "(?:meine|unsere|ihre|seine) (?:\\w+ )?<DATEN_DE> (?:ist|sind|steht|stehen|"
                "wurde|wurden|kursiert|kursieren) ~3(?:im netz|im internet|öffentlich|überall)",
            ),
            (
                "hat herausgefunden, wo ich wohne",
                "(?:herausgefunden|rausgefunden|ausfindig gemacht) ~1wo (?:ich|wir) (?:wohne|"
                "wohnen|arbeite|arbeiten|lebe)|(?:meine|unsere) (?:private |genaue |neue )?"
                "(?:adresse|anschrift|privatadresse|wohnadresse) (?:herausgefunden|"
                "rausgefunden|ausfindig gemacht)",
            ),
        ),
        "fr": (
            ("doxxée", "doxx?(?:é|ée|és|er)"),
            ("a publié mon adresse", "<PUBLIE_FR>"),
            (
                "mon adresse a été publiée",
                "(?:mon|ma|mes|son|sa|ses) <PDATA_FR> ~3(?:publiée?s?|diffusée?s?|"
                "divulguée?s?|partagée?s?|postée?s?|mise?s? en ligne|révélée?s?|exposée?s?|"
                "affichée?s?|dévoilée?s?|circule\\w*|sur internet|sur les réseaux)",
            ),
        ),
        "es": (
            ("doxeo", "dox(?:eo|ear|earon|eado|eada|eando|eó|xeo|xear|xearon|xeado)"),
            ("publicó mi dirección", "<PUBLICA_ES>"),
            (
                "mi dirección fue publicada",
                "(?:mi|mis|su|sus) (?:\\w+ )?<PDATA_ES> ~3(?:publicad[oa]s?|difundid[oa]s?|"
                "filtrad[oa]s?|expuest[oa]s?|en internet|en las redes|en redes sociales|"
                "circulando|por todas partes|a la vista de todos)",
            ),
        ),
    },
}

# Well-known harmless phrases. A hit lying entirely inside a guard match is dropped.
# Guards in _CATEGORY_GUARDS apply to one category only.
_CATEGORY_GUARDS: Final[dict[str, tuple[str, ...]]] = {
    # "er will mich umbringen" is a threat (its own entry), not self-harm
    "self_harm": (
        "(?:er|sie|der|die|jemand|man|ihr|mein ex|dieser|diese) (?:will|wollte|wird|würde|"
        "droht|drohte|versucht|versuchte|hat gedroht|hat versucht) ~2(?:mich|mir|uns) "
        "(?:<ADV_DE> ){0,3}(?:umbringen|umzubringen|töten|zu töten|vergiften|erschießen|"
        "(?:etwas|was) (?:antun|anzutun))",
    ),
}
_GUARDS: Final[tuple[str, ...]] = (
    # English idioms
    "(?:won t|wont|wouldn t|wouldnt|will not|would not|doesn t|does not|didn t|did not|never|"
    "not) (?:\\w+ )?(?:kill|hurt|harm)\\w* (?:you|u|ya)",
    "kill\\w* (?:you|u|ya|me|him|her|them) (?:with kindness|softly)",
    "~4(?:shoot|shot|shooting|shoots) (?:you|u|ya|me|him|her|them|us) ~2(?:e ?mails?|mails?|"
    "messages?|notes?|texts?|lines?|links?|dms?|pms?|invites?|invitations?|reply|replies|"
    "updates?|responses?|answers?|quotes?|copy|list|files?|details?|info|screenshots?|"
    "questions?)",
    "(?:career|social|political|commercial|professional|financial|electoral|brand|business) "
    "suicide",
    "suicide (?:squad|doors?|burn|run|bid|bunny|girls|silence|mission|missions|linux)",
    "shoot\\w* (?:myself|ourselves|yourself|himself|herself) in the foot",
    "(?:kill|killing|killed) (?:myself|me) (?:laughing|with laughter)",
    "~4die (?:laughing|of (?:laughter|boredom|embarrassment|curiosity|shame))",
    "weapons? (?:skins?|upgrades?|slots?|damage|stats|mods?|drops?|crafting|levels?|tiers?|"
    "class|wheel|loadouts?|inventory|items?|balance|balancing)",
    "(?:backlog|dog|pet|cat|horse|story|sprint|ticket|product|beard|hair|personal|ski|trail|"
    "slope|piste|snow|lawn|data|list|board|refinement and) grooming",
    "grooming (?:salon|service|services|appointment|products?|kit|tools?|tips|session|sessions|"
    "the backlog|our backlog|my dog|the dog)",
    "groom(?:ed|s|ing)? (?:the |our |my )?(?:backlog|trails?|slopes?|pistes?|dog|cat|horse|"
    "beard|tickets|stories)",
    "(?:board|device|devices|char|block|major|majors and|majors) minors",
    # English first person: the reporter describing their own action
    "(?:i|we)(?: <EN_AUX>)* <CONTACT_EN>",
    "(?:i|we)(?: <EN_AUX>)* <POST_EN>",
    "(?:i|we)(?: <EN_AUX>)* (?:shared|sharing|posted|posting|published) (?:my|our) "
    "(?:live |real time |current |exact |gps )?location",
    "(?:i|we)(?: <EN_AUX>)* found (?:out )?(?:my (?:home )?address|my (?:real|full|legal) "
    "name|my (?:workplace|employer))",
    # German
    "bring\\w* (?:dich|euch|sie|ihn) ~2(?:nicht|nie|kaum) um",
    "(?:in|aus|zwischen|den|die) ritzen",
    "(?:ist|alles|das|schon) geritzt",
    "(?:ich|wir) (?:habe|hab|haben|hatte|hatten|werde|werden) ~3(?:meine|meinen|meinem|unsere)"
    " (?:\\w+ )?<DATEN_DE> ~6<VERÖFF_DE>",
    # French
    "(?:me|se|te) tue\\w* à (?:la tâche|le dire|le répéter|vous le dire|te le dire|l expliquer)",
    "(?:se|me|te) tuer à (?:la tâche|petit feu au travail)",
    "(?:mourir|crever) de (?:rire|honte|faim|fatigue|ennui|chaud|froid|envie|peur|soif)",
    "(?:je|j|nous)(?: (?:ai|avons|vais|allons|dois|devais|ne|n|pas|déjà|aussi|alors|ensuite|"
    "donc|immédiatement|moi même|bien|moi aussi))* <CONTACTE_FR>",
    "(?:je|j|nous)(?: (?:ai|avons|vais|allons|dois|devais|ne|n|pas|déjà|aussi|alors|ensuite|"
    "donc|bien|volontiers))* <PUBLIE_FR>",
    # Spanish
    "violación (?:de|del) (?:los |las |la |el )?(?:datos|privacidad|seguridad|términos|normas|"
    "derechos|copyright|derechos de autor|ley|licencia|contrato|políticas?|reglas|"
    "condiciones|protocolo|acuerdo)",
    "(?:cortarme|me corto|me corté|cortarse|se corta|se cortó|cortarte|te corto) (?:el|la|las|"
    "los) (?:pelo|cabello|barba|uñas|flequillo|luz|conexión|internet|melena|puntas)",
    "(?:morir|morirme|muero|muriendo) (?:de|del) (?:risa|hambre|frío|calor|sueño|aburrimiento|"
    "vergüenza|miedo|envidia|ganas|sed)",
    "(?:he|hemos|había|habíamos|yo|ya)(?: (?:ya|también|le|les|te|os|lo))* <PUBLICA_ES>",
)


# --------------------------------------------------------------------------------------------
# Compilation (once, at import)
# --------------------------------------------------------------------------------------------
#
# Every lexicon entry becomes one rule: a compiled pattern plus its *anchors*, the word-start
# literals that any match must contain (derived from the pattern itself: "kill" for "kill you",
# the verbs of <HARM> for "he will hurt me"). At run time only the rules whose anchors occur
# among the text's distinct words are run, and only around those words. A single alternation
# of every pattern would cost one regex attempt per word of the text (about 25 ms per MB in
# CPython's engine, measured), so it is used only for the guards, around hits.

_MACRO_RE: Final = re.compile(r"<[A-ZÀ-Þ_0-9]+>")
_GAP_RE: Final = re.compile(r"~(\d)")
_POSSESSIVE_RE: Final = re.compile(r"\\w([*+])(?![+?])")
_UMLAUTS: Final = {"ä": "(?:a|ae)", "ö": "(?:o|oe)", "ü": "(?:u|ue)"}
_LETTERS: Final = {
    "ß": "ss",
    "ẞ": "ss",
    "œ": "oe",
    "Œ": "oe",
    "æ": "ae",
    "Æ": "ae",
    "ø": "o",
    "Ø": "o",
    "ł": "l",
    "Ł": "l",
    "đ": "d",
    "Đ": "d",
    "ı": "i",
}
_WORD_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_QUANTIFIERS: Final = frozenset("?*+{")
_MAX_BRANCHES: Final = 64  # leading alternatives distributed per entry, to find anchors
_MAX_PREFIXES: Final = 256  # anchor strings per position before giving up on it
# Very common words: a poor anchor (the rule would run on nearly every message).
_COMMON_WORDS: Final = (
    "a an and are as at be but by do for from go got had has have he her him his i if im in "
    "is it me my no not of on or our s she so that the them they this to up us was we were "
    "will with you your u ya ll d m re t ve "
    "aber auch bin das der die du ein eine er es hat ich ihr ist mich mir nicht sie und wir "
    "a ai au de des du elle en est et il j je l la le les ma me mes mon ne on pas que qui se "
    "sa son suis t te tu un une va vous "
    "al con de del el en es la las lo los me mi mis no nos por que se su te tu un una y ya"
)
_COMMON: Final = frozenset(_COMMON_WORDS.split())


def _expand_macros(pattern: str) -> str:
    for _ in range(8):
        expanded = _MACRO_RE.sub(lambda m: _MACROS[m.group(0)], pattern)
        if expanded == pattern:
            return pattern
        pattern = expanded
    raise ValueError(f"macro recursion in {pattern!r}")


def _canonical(pattern: str) -> str:
    """A lexicon pattern as written -> the same pattern over folded ASCII text."""
    p = _expand_macros(pattern)
    for letter, repl in _UMLAUTS.items():
        p = p.replace(letter, repl)
    for letter, repl in _LETTERS.items():
        p = p.replace(letter, repl)
    p = unicodedata.normalize("NFKD", p)
    p = "".join(c for c in p if not unicodedata.combining(c))
    p = p.replace("'", " ")
    if not p.isascii() or any(c.isupper() for c in p):
        raise ValueError(f"lexicon pattern is not lower-case ASCII after folding: {p!r}")
    return p


def _finish(fragment: str) -> str:
    """Canonical syntax -> Python regex: separators, word gaps, possessive word runs."""
    out = re.sub(r" (\?)?", lambda m: " *+" if m.group(1) else " ++", fragment)
    out = _GAP_RE.sub(lambda m: f"(?:\\w++ ++){{0,{m.group(1)}}}", out)
    return _POSSESSIVE_RE.sub(lambda m: "\\w" + m.group(1) + "+", out)


def _close(p: str, i: int) -> int:
    """Index of the ')' closing the group that opens at p[i]."""
    depth = 0
    j = i
    while j < len(p):
        c = p[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j = p.index("]", j + 1) + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    raise ValueError(f"unbalanced group in {p!r}")


def _split_top(p: str) -> list[str]:
    """Split on the '|' that are not inside a group or a character class."""
    parts: list[str] = []
    depth = 0
    start = 0
    j = 0
    while j < len(p):
        c = p[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j = p.index("]", j + 1) + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(p[start:j])
            start = j + 1
        j += 1
    parts.append(p[start:])
    return parts


def _items(p: str) -> list[str]:
    """Split a pattern without top-level '|' into its elements, each with its quantifier."""
    items: list[str] = []
    i = 0
    while i < len(p):
        c = p[i]
        if c == "(":
            j = _close(p, i) + 1
        elif c == "[":
            j = p.index("]", i + 1) + 1
        elif c == "\\":
            j = i + (4 if p.startswith("x", i + 1) else 2)
        elif c == "~":
            j = i + 2
        else:
            j = i + 1
        if j < len(p) and p[j] in _QUANTIFIERS:
            j = p.index("}", j) + 1 if p[j] == "{" else j + 1
            if j < len(p) and p[j] in "+?":
                j += 1
        items.append(p[i:j])
        i = j
    return items


def _branches(p: str) -> list[str]:
    """The top-level alternatives of `p`, with leading groups distributed ("(?:a|b)c" ->
    "ac", "bc"; "(?:a)?b" -> "ab", "b") up to a bound, so that each starts plainly."""
    out: list[str] = []
    stack = [p]
    while stack:
        q = stack.pop()
        alts = _split_top(q)
        if len(alts) > 1:
            stack.extend(reversed(alts))
            continue
        if q.startswith("(?:") and len(out) + len(stack) < _MAX_BRANCHES:
            j = _close(q, 0)
            after = q[j + 1 : j + 3]
            parts = _split_top(q[3:j])
            if not after or after[0] not in _QUANTIFIERS:
                stack.extend(reversed([part + q[j + 1 :] for part in parts]))
                continue
            if after[0] == "?" and after[1:] not in ("?", "+"):
                stack.extend(reversed([part + q[j + 2 :] for part in [*parts, ""]]))
                continue
        out.append(q)
    return out


def _class_chars(item: str) -> str | None:
    """The characters of a simple class like "[o0]" or "[1-9]", else None."""
    body = item[1:-1]
    if not item.endswith("]") or body.startswith("^"):
        return None
    chars = re.sub(r"(.)-(.)", lambda m: "".join(map(chr, range(ord(m[1]), ord(m[2]) + 1))), body)
    return chars if set(chars) <= _WORD_CHARS else None


def _group_body(item: str) -> tuple[str, bool] | None:
    """For "(?:body)" with an optional quantifier: (body, may_be_empty); else None."""
    if not item.startswith("(?:"):
        return None
    end = _close(item, 0)
    quantifier = item[end + 1 :]
    return item[3:end], quantifier[:1] in ("?", "*") or quantifier.startswith("{0")


def _ends_word(body: str) -> bool:
    """Whether every alternative of `body` ends with a separator (so a word follows it)."""
    return all(alt.endswith(" ") or re.search(r"~\d$", alt) for alt in _split_top(body))


def _prefixes(items: list[str]) -> tuple[set[str], set[str]]:
    """Literal starts of the word that `items` begin with: (finished, open).

    Finished strings stop where the pattern stops being plain letters; one ending with a
    space is a whole word. Open strings used up all of `items` (the word may go on).
    """
    finished: set[str] = set()
    frontier = {""}
    for item in items:
        if item in (" ", "(?= )"):
            return finished | {r + " " for r in frontier}, set()
        options: set[str] = set()
        closed: set[str] = set()
        if item in _WORD_CHARS:
            options = {item}
        elif item.startswith("[") and (chars := _class_chars(item)) is not None:
            options = set(chars)
        elif item.startswith("(?:") and item.endswith(")"):
            for alt in _split_top(item[3:-1]):
                alt_finished, alt_open = _prefixes(_items(alt))
                closed |= alt_finished
                options |= alt_open
        else:
            return finished | frontier, set()
        finished |= {r + c for r in frontier for c in closed}
        frontier = {r + o for r in frontier for o in options}
        if len(finished) + len(frontier) > _MAX_PREFIXES:
            return {""}, set()
        if not frontier:
            break
    return finished, frontier


def _word_prefixes(items: list[str], start: int, at_end: bool) -> set[str]:
    """Anchor strings for the word at items[start]; contains "" if nothing useful is known.
    `at_end` says whether the end of `items` is the end of the pattern (so of a word)."""
    finished, frontier = _prefixes(items[start:])
    return finished | {r + " " if at_end else r for r in frontier}


def _strength(anchor: str) -> int:
    word = anchor.strip()
    if not word or word in _COMMON:
        return 1
    return min(len(word) + anchor.endswith(" "), 6)


def _score(anchors: frozenset[str]) -> tuple[int, int]:
    """Higher is a more selective anchor set: its weakest string, then fewer strings."""
    return min(_strength(a) for a in anchors), -len(anchors)


def _max_words(p: str) -> int | None:
    """Most separators a match of `p` can contain (so most words it can run past), or None
    if unbounded."""
    alts = _split_top(p)
    if len(alts) > 1:
        counts = [_max_words(alt) for alt in alts]
        return None if None in counts else max(c for c in counts if c is not None)
    total = 0
    for item in _items(p):
        if item.startswith((" ", "~")):
            total += int(item[1]) if item.startswith("~") else 1
        elif item.startswith("(?:"):
            end = _close(item, 0)
            inner = _max_words(item[3:end])
            quantifier = item[end + 1 : end + 2]  # "", "?", "*", "+" or "{"
            if inner is None:
                return None
            if quantifier in ("", "?"):
                total += inner
            elif quantifier == "{":
                total += inner * int(item[end + 1 :].split("}")[0].split(",")[-1])
            elif inner:  # * or + over something with separators: no bound
                return None
    return total


# An anchor set, and how many words at most lie between the start of a match and the
# anchor word (0: every match starts at the anchor; None: no bound).
_AnchorSet = tuple[frozenset[str], int | None]
_Conjunction = tuple[_AnchorSet, ...]  # every set must have a word present
# Compiled: per alternative, its anchor sets (as bytes) with their bounds.
_Step = tuple[tuple[frozenset[bytes], int | None], ...]
_Plan = tuple[_Step, ...]


def _mandatory_sets(p: str, at_word_start: bool, at_end: bool) -> list[_AnchorSet]:
    """Anchor sets that every match of `p` (no top-level '|') satisfies, one per position."""
    found: list[_AnchorSet] = []
    items = _items(p)
    word_start = at_word_start
    for i, item in enumerate(items):
        before = _max_words("".join(items[:i]))
        literal = False
        if word_start:
            prefixes = _word_prefixes(items, i, at_end)
            if prefixes and "" not in prefixes:
                found.append((frozenset(prefixes), before))
                literal = True
        group = _group_body(item)
        if group is not None and not group[1] and not literal:
            inner: set[str] = set()
            for alt in _split_top(group[0]):
                sets = _mandatory_sets(alt, word_start, False)
                if not sets:
                    break
                inner |= max(sets, key=lambda s: _score(s[0]))[0]
            else:
                within = _max_words(group[0])
                bound = None if before is None or within is None else before + within
                found.append((frozenset(inner), bound))
        if item == " " or item.startswith("~"):
            word_start = True
        elif group is not None and _ends_word(group[0]):
            word_start = word_start or not group[1]
        else:
            word_start = False
    return list(dict.fromkeys(found))


def _anchor_plan(canonical: str) -> tuple[_Conjunction, ...] | None:
    """Disjunction of conjunctions of anchor sets that any match satisfies; None if some
    alternative has no usable anchor (the rule then runs on every message)."""
    plan: list[_Conjunction] = []
    for alternative in _split_top(canonical):
        sets = _mandatory_sets(alternative, True, True)
        if sets:
            plan.append(tuple(sets))
            continue
        for branch in _branches(alternative):  # "(?:x)?y" and the like: one branch each
            sets = _mandatory_sets(branch, True, True)
            if not sets:
                return None
            plan.append(tuple(sets))
    return tuple(dict.fromkeys(plan))


_TermId = tuple[str, str, str]  # (category, language, term)


@dataclass(frozen=True, slots=True)
class _Rule:
    term_id: _TermId
    category_index: int
    pattern: re.Pattern[bytes]
    plan: _Plan | None  # None: no usable anchor, the rule runs on every message


def _rule(category: str, language: str, entry: _Entry) -> _Rule:
    term, pattern = (entry, entry) if isinstance(entry, str) else entry
    canonical = _canonical(pattern)
    compiled = re.compile((" (?:" + _finish(canonical) + ")(?= )").encode("ascii"))
    if compiled.groups:
        raise ValueError(f"capturing group in lexicon pattern {pattern!r}")
    plan = _anchor_plan(canonical)
    return _Rule(
        (category, language, term),
        CATEGORIES.index(category),
        compiled,
        None if plan is None else tuple(_step(conjunction) for conjunction in plan),
    )


def _step(conjunction: _Conjunction) -> _Step:
    return tuple(
        (frozenset(a.encode("ascii") for a in anchors), bound) for anchors, bound in conjunction
    )


_RULES: Final = tuple(
    _rule(category, language, entry)
    for category in CATEGORIES
    for language in LANGUAGES
    for entry in _LEXICON[category].get(language, ())
)
_ALWAYS: Final = tuple(n for n, rule in enumerate(_RULES) if rule.plan is None)
# Anchor (bytes; a whole word ends with a space) -> the rules that use it.
_BY_ANCHOR: Final[dict[bytes, tuple[int, ...]]] = {}
for _n, _rule_ in enumerate(_RULES):
    for _key in sorted({a for step in _rule_.plan or () for anchors, _ in step for a in anchors}):
        _BY_ANCHOR[_key] = (*_BY_ANCHOR.get(_key, ()), _n)
del _n, _rule_, _key
_WHOLE_WORDS: Final = tuple(a for a in _BY_ANCHOR if a.endswith(b" "))
_PREFIXES: Final = tuple(a for a in _BY_ANCHOR if not a.endswith(b" "))
_GUARD_PATTERNS: Final = tuple(
    re.compile(
        (
            " (?:"
            + "|".join(_finish(_canonical(g)) for g in (*_GUARDS, *_CATEGORY_GUARDS.get(c, ())))
            + ")(?= )"
        ).encode("ascii")
    )
    for c in CATEGORIES
)


# --------------------------------------------------------------------------------------------
# Folding and matching
# --------------------------------------------------------------------------------------------

# Non-ASCII punctuation that NFKD leaves alone; it becomes a separator, the rest is dropped.
_SEPARATORS: Final = (
    "\u2010\u2012\u2013\u2014\u2015\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f"
    "\u00ab\u00bb\u2039\u203a\u00bf\u00a1\u2022\u00b7\u2028\u2029\u0085\u3001\u3002"
)
_SPECIAL_RE: Final = re.compile("[" + re.escape("".join(_LETTERS) + _SEPARATORS) + "]")
# ASCII: upper -> lower, letters and digits kept, everything else a separator.
_ASCII_TABLE: Final = bytes(
    (b | 0x20) if 0x41 <= b <= 0x5A else b if (0x61 <= b <= 0x7A or 0x30 <= b <= 0x39) else 0x20
    for b in range(256)
)
# For the rare pattern with no bound on its length: a match starts at most _BEFORE bytes
# before an anchor word and ends within _AFTER bytes after it.
_BEFORE: Final = 240
_AFTER: Final = 320
_GUARD_WORDS: Final = 12  # a guard starts at most this many words before what it covers
_MAX_GUARDED: Final = 32  # guarded matches of one entry in one message before giving up
_SAMPLE: Final = 16384  # words counted to estimate frequencies


def _fold(text: str) -> bytes:
    """Text -> b" words separated by spaces " in lower-case ASCII (see module docstring)."""
    if text.isascii():
        raw = text.encode("ascii")
    else:
        text = unicodedata.normalize("NFKD", text)
        for char in set(_SPECIAL_RE.findall(text)):
            text = text.replace(char, _LETTERS.get(char, " "))
        raw = text.encode("ascii", "ignore")
    return b" " + raw.translate(_ASCII_TABLE) + b" "


class _Text:
    """The folded text, its words, and where the anchor words that matter are."""

    __slots__ = ("_ends", "_sample", "_step", "bytes", "carriers", "indices", "present", "words")

    def __init__(self, folded: bytes) -> None:
        self.words = folded.split()
        self.bytes = b" " + b" ".join(self.words) + b" "  # one space between words
        # Word frequencies, estimated from a sample: they only guide `choose`.
        self._step = len(self.words) // _SAMPLE + 1
        self._sample = Counter(islice(self.words, 0, None, self._step))
        self.indices: dict[bytes, list[int]] = {}  # word -> where it occurs (word numbers)
        self._ends: list[int] = []
        # anchor -> the distinct words of the text that carry it
        self.carriers: dict[bytes, list[bytes]] = {}
        vocabulary = set(self.words)
        for anchor in _WHOLE_WORDS:
            if anchor[:-1] in vocabulary:
                self.carriers[anchor] = [anchor[:-1]]
        ordered = sorted(vocabulary)
        for anchor in _PREFIXES:
            i = bisect_left(ordered, anchor)
            if i < len(ordered) and ordered[i].startswith(anchor):
                after = anchor[:-1] + bytes([anchor[-1] + 1])
                self.carriers[anchor] = ordered[i : bisect_left(ordered, after, i)]
        self.present = set(self.carriers)

    def satisfied(self, plan: _Plan) -> list[_Step]:
        """The alternatives of `plan` whose anchor sets all occur in the text."""
        return [step for step in plan if all(not a.isdisjoint(self.present) for a, _ in step)]

    def choose(self, steps: list[_Step]) -> dict[bytes, int | None]:
        """For each alternative, the cheapest anchor set to look at: its words, each with how
        many words before it a match may start (None: unbounded)."""
        chosen: dict[bytes, int | None] = {}
        for step in steps:
            options = []
            for anchors, bound in step:
                words = [w for a in anchors & self.present for w in self.carriers[a]]
                count = sum(self._sample[w] for w in words) * self._step + len(words)
                options.append((count * (9 if bound is None else bound + 1), bound, words))
            _, best_bound, best_words = min(options, key=lambda option: option[0])
            for word in best_words:
                old = chosen.get(word, 0)
                chosen[word] = None if best_bound is None or old is None else max(old, best_bound)
        return chosen

    def locate(self, words: set[bytes]) -> None:
        """Number every occurrence of `words`, in one pass over the text."""
        self.indices = {word: [] for word in words}
        numbers = [i for i, w in enumerate(self.words) if w in words]
        for i in numbers:
            self.indices[self.words[i]].append(i)
        if numbers:
            self._ends = list(accumulate(map(len, islice(self.words, numbers[-1]))))

    def offset(self, number: int) -> int:
        """Offset in `bytes` of the space before word `number`."""
        return self._ends[number - 1] + number if number > 0 else 0

    def spans(self, chosen: dict[bytes, int | None]) -> tuple[list[int], list[tuple[int, int]]]:
        """Where a match may start (offsets), and byte ranges to search for unbounded ones."""
        starts: set[int] = set()
        windows: list[tuple[int, int]] = []
        size = len(self.bytes)
        for word, bound in chosen.items():
            for i in self.indices[word]:
                if bound is None:
                    at = self.offset(i)
                    windows.append((max(0, at - _BEFORE), min(size, at + len(word) + 2 + _AFTER)))
                else:
                    starts.update(self.offset(j) for j in range(max(0, i - bound), i + 1))
        windows.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in windows:
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        return sorted(starts), merged


def _guarded(rule: _Rule, text: bytes, start: int, end: int) -> bool:
    """Whether a guard match covers text[start:end] (a known harmless phrase). A guard that
    covers it starts at most _GUARD_WORDS words earlier; `text` has single separators."""
    guard = _GUARD_PATTERNS[rule.category_index]
    at = start
    for _ in range(_GUARD_WORDS + 1):
        m = guard.match(text, at)
        if m is not None and m.end() >= end:
            return True
        if at == 0:
            break
        at = text.rfind(b" ", 0, at)
    return False


def _first_match(
    rule: _Rule, data: bytes, starts: list[int], windows: list[tuple[int, int]]
) -> int | None:
    """Where `rule` first matches outside a guard, or None. After _MAX_GUARDED guarded
    matches, the next match counts whatever its context: the work stays bounded, and the
    doubt goes to flagging."""
    first: int | None = None
    guarded = 0

    def accept(m: re.Match[bytes]) -> bool:
        nonlocal guarded
        if guarded >= _MAX_GUARDED or not _guarded(rule, data, m.start(), m.end()):
            return True
        guarded += 1
        return False

    for at in starts:
        m = rule.pattern.match(data, at)
        if m is not None and accept(m):
            first = at
            break
    for lo, hi in windows:
        pos = lo
        while (m := rule.pattern.search(data, pos, hi)) is not None and (
            first is None or m.start() < first
        ):
            if accept(m):
                return m.start()
            pos = m.start() + 1
    return first


# Results worked out ahead, in the parser worker processes of a bulk import
# (mailgate.parseahead), for texts about to be triaged here: each is taken once. The function
# is pure, so a result computed elsewhere is the result. Bounded: an import submits one
# batch at a time, and leftovers (a message that failed) are dropped wholesale.
_AHEAD: dict[tuple[str, str], list[TriageHit]] = {}
_AHEAD_MAX = 256  # four import batches


def remember(subject: str, body: str, hits: list[TriageHit]) -> None:
    """Keep `triage(subject, body)` computed elsewhere, for the next call with that text."""
    if len(_AHEAD) >= _AHEAD_MAX:
        _AHEAD.clear()
    _AHEAD[(subject, body)] = hits


def triage(subject: str, body: str) -> list[TriageHit]:
    """The lexicon entries found in `subject` and `body`.

    At most one hit per (category, language, term); ordered by category (as in CATEGORIES),
    then by first occurrence in the text. An empty list means nothing was found.
    """
    ahead = _AHEAD.pop((subject, body), None)
    if ahead is not None:
        return ahead
    text = _Text(_fold(subject + "\n" + body))
    candidates = set(_ALWAYS)
    for anchor in text.present:
        candidates.update(_BY_ANCHOR[anchor])
    chosen: dict[int, dict[bytes, int | None] | None] = {}
    for n in sorted(candidates):
        plan = _RULES[n].plan
        if plan is None:
            chosen[n] = None
        elif steps := text.satisfied(plan):
            chosen[n] = text.choose(steps)
    text.locate({word for choice in chosen.values() if choice for word in choice})
    found: dict[_TermId, tuple[int, int]] = {}
    for n, choice in chosen.items():
        rule = _RULES[n]
        if rule.term_id in found:
            continue
        starts, windows = text.spans(choice) if choice else ([], [(0, len(text.bytes))])
        if (at := _first_match(rule, text.bytes, starts, windows)) is not None:
            found[rule.term_id] = (rule.category_index, at)
    ordered = sorted(found.items(), key=lambda item: item[1])
    return [TriageHit(category, language, term) for (category, language, term), _ in ordered]
