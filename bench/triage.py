"""Safety triage speed: per-message time over ordinary and large messages, and what loading
costs (issue 9: below 2 ms per ordinary message, linear in size, a 1 MB body in tens of
ms; importing queues.triage must compile nothing and load no model).

    .venv/bin/python bench/triage.py [--messages N] [--seed S]

Prints: the import time of queues.triage and of the `switchboard` command (fresh
interpreters, best of 5), the first triage in a fresh process (loading the data files,
working out the anchors or reading them from the cache in var/, then the first message),
what the wording model costs on first use (numpy and the weights), then the median and
95th percentile per message over N generated reports of a few KB in four languages (one in
ten serious, with quoted replies) for the lexicon alone, the wording model alone and both
(what ingest runs), and the time for bodies of 64 KB to 1 MB (ASCII and accented text), to
show it grows linearly (the model reads at most the first 20,000 characters of a body).
Figures only; compare runs on one machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENTENCES = {
    "en": [
        "Hello support team,",
        "since the last update I cannot log in to my account and the app crashes.",
        "Someone keeps writing rude comments under my photos and calls me names.",
        "I tried to reset my password twice but the mail never arrived.",
        "Could you please check the settings of my profile?",
        "The game keeps killing my character at level 3, is that a bug?",
        "Thanks for your help, kind regards.",
    ],
    "de": [
        "Hallo liebes Support-Team,",
        "seit dem Update kann ich mich nicht mehr einloggen.",
        "Ein Nutzer beleidigt mich ständig in den Kommentaren.",
        "Viele Grüße und danke für eure Hilfe.",
    ],
    "fr": [
        "Bonjour l'équipe,",
        "depuis la mise à jour je n'arrive plus à me connecter.",
        "Un utilisateur m'insulte sous toutes mes publications.",
        "Merci d'avance, cordialement.",
    ],
    "es": [
        "Hola equipo,",
        "desde la actualización no puedo iniciar sesión.",
        "Un usuario me insulta en todos mis comentarios.",
        "Gracias de antemano, saludos.",
    ],
}


SERIOUS = {
    "en": "He wrote that he knows where I live and that I should watch my back.",
    "de": "Er schrieb, dass er weiß, wo ich wohne, und dass ich aufpassen soll.",
    "fr": "Il m'a écrit qu'il sait où j'habite et que je vais le regretter.",
    "es": "Me escribió que sabe dónde vivo y que me voy a arrepentir.",
}


def _message(rng: random.Random) -> tuple[str, str]:
    """A report of a few KB; one in ten is serious."""
    language = rng.choice(list(SENTENCES))
    lines = SENTENCES[language]
    body = [rng.choice(lines) for _ in range(rng.randint(8, 40))]
    if rng.random() < 0.1:
        body.insert(rng.randrange(len(body)), SERIOUS[language])
    quoted = ["> " + rng.choice(lines) for _ in range(rng.randint(0, 20))]
    return rng.choice(lines)[:60], "\n".join([*body, "", *quoted])


def _fresh(code: str, runs: int = 5) -> float:
    """Best wall time of `code` in a fresh interpreter (ms)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _with_cache(code: str, directory: str) -> str:
    """`code` with the anchor cache in `directory` (queues.triage.use_cache)."""
    setup = f"import pathlib, queues.triage; queues.triage.use_cache(pathlib.Path({directory!r})); "
    return setup + code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    bare = _fresh("pass")
    print(f"python startup:                 {bare:7.1f} ms")
    print(f"import queues.triage:           {_fresh('import queues.triage') - bare:7.1f} ms")
    cli = "from switchboard.cli import main"
    print(f"import switchboard.cli:         {_fresh(cli) - bare:7.1f} ms")
    first = (
        "import time; t = time.perf_counter(); from queues.triage import triage, "
        "default_lexicon, compiled; a = time.perf_counter(); default_lexicon(); "
        "b = time.perf_counter(); compiled(); c = time.perf_counter(); "
        "triage('Help', 'He wrote that he will kill me and knows where I live.'); "
        "d = time.perf_counter(); print(f'{(b-a)*1000:.1f} {(c-b)*1000:.1f} {(d-c)*1000:.1f}')"
    )
    with tempfile.TemporaryDirectory() as cache:
        for label, code in (
            ("no cache", first),
            ("cache cold", _with_cache(first, cache)),
            ("cache warm", _with_cache(first, cache)),
        ):
            out = subprocess.run(
                [sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True, text=True
            ).stdout.split()
            print(
                f"first use ({label:<10}): data files {float(out[0]):6.1f} ms,"
                f" anchors {float(out[1]):6.1f} ms, first message {float(out[2]):6.1f} ms"
            )

    model_first = (
        "import time; t = time.perf_counter(); from queues.triage.model import wording_model; "
        "a = time.perf_counter(); m = wording_model(); b = time.perf_counter(); "
        "m.hit('Help', 'He wrote that he knows which bus I take.'); c = time.perf_counter(); "
        "print(f'{(a-t)*1000:.1f} {(b-a)*1000:.1f} {(c-b)*1000:.1f}')"
    )
    out = subprocess.run(
        [sys.executable, "-c", model_first], check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    print(
        f"wording model, first use:  import (numpy) {float(out[0]):6.1f} ms,"
        f" weights {float(out[1]):6.1f} ms, first message {float(out[2]):6.1f} ms"
    )

    from queues.triage import triage
    from queues.triage.model import model_hits

    rng = random.Random(args.seed)
    messages = [_message(rng) for _ in range(args.messages)]
    for subject, body in messages[:200]:  # compile the regexes these texts need
        triage(subject, body)
    size = statistics.mean(len(b) for _, b in messages)
    print(f"\n{args.messages} ordinary messages (mean {size / 1000:.1f} KB):")
    for label, run in (
        ("lexicon alone", lambda s, b: triage(s, b, model=False)),
        ("wording model alone", model_hits),
        ("both (ingest)", triage),
    ):
        times = []
        flagged = 0
        for subject, body in messages:
            start = time.perf_counter()
            flagged += bool(run(subject, body))
            times.append(time.perf_counter() - start)
        times.sort()
        print(
            f"  {label:<20} median {statistics.median(times) * 1000:.3f} ms,"
            f" p95 {times[int(len(times) * 0.95)] * 1000:.3f} ms,"
            f" max {times[-1] * 1000:.2f} ms ({flagged} flagged)"
        )

    print("\nlarge bodies (one threat at the end; lexicon and wording model):")
    ascii_line = "The quick brown fox jumps over the lazy dog; please reset my password. "
    accented = "Très chère équipe, ça ne marche pas ; Grüße aus München, año, niño. "
    for name, line in (("ASCII", ascii_line), ("accented", accented)):
        for kb in (64, 256, 1024):
            body = line * (kb * 1024 // len(line)) + "\nI will kill you."
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                hits = triage("Log", body)
                best = min(best, time.perf_counter() - start)
            assert hits, "the threat at the end must be found"
            print(f"  {name:<9}{kb:>5} KB: {best * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
