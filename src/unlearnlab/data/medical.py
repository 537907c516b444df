"""Synthetic SOAP medical notes from a seeded grammar: the private records of 35_private_records.

Each record is one clinic visit of one client (unique full name) in the seed's field names
(``client_name``, ``date_of_birth``, ``date``, ``subjective``, ``objective``, ``assessment``,
``plan``) plus two annotation fields (``diagnosis``, ``medication``) so that probes never have to
parse free text. The grammar keeps a note internally consistent: the condition decides the
symptoms, the vital-sign ranges (hypertension raises blood pressure, pneumonia fever and
respiratory rate, asthma lowers SpO2 ...), an optional lab value, and the drug and dose.

Splits are by client: ``forget`` clients are drawn once from a seeded shuffle and the forget sets
are nested (the 1 % clients are inside the 5 % set, ...), so ratios differ only in size.
``holdout`` clients are never part of ``full``: they are the non-members of membership inference.

Probes per client: one question per field in several paraphrases (``QA_TEMPLATES``), of which one
per client and field (the test item; with ``val`` a second, the validation item) is held out of every
training set (the same wording is trained for other clients: a known question form about an untrained
pairing), and a verbatim probe (the first part of the note as prompt, the rest as answer). ``private_spans``
marks the characters of a note the generator draws per client (numbers, name, diagnosis, drug,
symptoms, findings), so that verbatim extraction can be scored on those and not on the template.
The study's saved world (records, client splits, tokenizer) is ``data.medical_world``.

    python -m unlearnlab.data.medical --dry-run --sample 3
    python -m unlearnlab.data.medical --n-records 1000 --output data/medical/synthetic_soap_notes.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

RECORD_FIELDS: tuple[str, ...] = ("client_name", "date_of_birth", "date", "subjective", "objective",
                                  "assessment", "plan")
ANNOTATION_FIELDS: tuple[str, ...] = ("diagnosis", "medication")
FORGET_RATIOS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20)

# --------------------------------------------------------------------------------------------
# The grammar's vocabulary: conditions with consistent symptoms, vitals, labs and drugs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A diagnosis and everything a note about it must agree with. ``vitals`` overrides the
    normal ranges of ``NORMAL_VITALS``; ``drugs`` are (name, dose and frequency)."""

    diagnosis: str
    symptoms: tuple[str, ...]
    findings: tuple[str, ...]
    drugs: tuple[tuple[str, str], ...]
    advice: tuple[str, ...]
    vitals: tuple[tuple[str, float, float], ...] = ()
    lab: tuple[str, float, float, str] | None = None  # name, low, high, unit
    min_age: int = 18


NORMAL_VITALS: dict[str, tuple[float, float]] = {
    "sbp": (108, 132), "dbp": (66, 84), "hr": (60, 88), "rr": (12, 18), "temp": (36.4, 37.1), "spo2": (96, 99),
}

CONDITIONS: tuple[Condition, ...] = (
    Condition("essential hypertension", ("morning headaches", "occasional dizziness", "blurred vision"),
              ("no edema", "regular heart rhythm"), (("lisinopril", "10 mg daily"), ("amlodipine", "5 mg daily"),
                                                     ("losartan", "50 mg daily")),
              ("low salt diet and a home blood pressure log",), (("sbp", 146, 178), ("dbp", 92, 108))),
    Condition("type 2 diabetes mellitus", ("increased thirst", "frequent urination", "fatigue"),
              ("reduced sensation in both feet", "normal foot pulses"),
              (("metformin", "500 mg twice daily"), ("glipizide", "5 mg daily"), ("empagliflozin", "10 mg daily")),
              ("diet review and home glucose checks",), lab=("glucose", 182, 310, "mg/dL"), min_age=30),
    Condition("community acquired pneumonia", ("productive cough", "fever and chills", "shortness of breath"),
              ("crackles at the right base", "dullness to percussion"),
              (("amoxicillin", "1 g three times daily"), ("azithromycin", "500 mg daily"),
               ("doxycycline", "100 mg twice daily")),
              ("fluids and rest, chest x-ray if not improving",),
              (("temp", 38.3, 39.7), ("hr", 96, 118), ("rr", 22, 30), ("spo2", 89, 94))),
    Condition("asthma exacerbation", ("wheezing", "chest tightness", "night cough"),
              ("diffuse expiratory wheezes", "prolonged expiration"),
              (("albuterol", "2 puffs every 4 hours as needed"), ("prednisone", "40 mg daily for 5 days"),
               ("budesonide", "2 puffs twice daily")),
              ("review inhaler technique",), (("rr", 20, 27), ("spo2", 92, 95), ("hr", 92, 112)), min_age=12),
    Condition("major depressive disorder", ("low mood", "poor sleep", "loss of interest", "low energy"),
              ("flat affect", "no suicidal ideation"),
              (("sertraline", "50 mg daily"), ("escitalopram", "10 mg daily"), ("bupropion", "150 mg daily")),
              ("referral for counseling",)),
    Condition("generalized anxiety disorder", ("constant worry", "restlessness", "trouble sleeping", "palpitations"),
              ("anxious affect", "fine tremor of the hands"),
              (("buspirone", "10 mg twice daily"), ("venlafaxine", "75 mg daily"), ("hydroxyzine", "25 mg as needed")),
              ("breathing exercises and counseling",), (("hr", 86, 104),)),
    Condition("migraine without aura", ("throbbing headache", "nausea", "sensitivity to light"),
              ("normal neurological exam",),
              (("sumatriptan", "50 mg as needed"), ("topiramate", "25 mg daily"), ("propranolol", "40 mg twice daily")),
              ("headache diary and regular sleep",)),
    Condition("urinary tract infection", ("burning on urination", "urinary frequency", "lower abdominal pain"),
              ("suprapubic tenderness", "no flank tenderness"),
              (("nitrofurantoin", "100 mg twice daily for 5 days"), ("cephalexin", "500 mg twice daily for 7 days"),
               ("fosfomycin", "3 g once")),
              ("increase fluid intake",), (("temp", 37.2, 38.1),), lab=("urine nitrite", 1, 1, "positive")),
    Condition("hypothyroidism", ("fatigue", "weight gain", "cold intolerance", "dry skin"),
              ("slow reflexes", "dry skin"),
              (("levothyroxine", "50 mcg daily"), ("levothyroxine", "75 mcg daily"), ("levothyroxine", "100 mcg daily")),
              ("recheck thyroid levels in 6 weeks",), (("hr", 52, 63),), lab=("TSH", 6.5, 14.9, "mIU/L")),
    Condition("gastroesophageal reflux disease", ("heartburn after meals", "sour taste", "regurgitation"),
              ("mild epigastric tenderness",),
              (("omeprazole", "20 mg daily"), ("pantoprazole", "40 mg daily"), ("famotidine", "20 mg twice daily")),
              ("avoid late meals and raise the head of the bed",)),
    Condition("acute bronchitis", ("dry cough", "mild fever", "chest soreness"),
              ("scattered rhonchi", "clear lung bases"),
              (("benzonatate", "100 mg three times daily"), ("guaifenesin", "400 mg every 4 hours"),
               ("dextromethorphan", "20 mg every 6 hours")),
              ("fluids and rest",), (("temp", 37.4, 38.2), ("rr", 17, 21))),
    Condition("osteoarthritis of the knee", ("knee pain when walking", "morning stiffness", "knee swelling"),
              ("crepitus of the knee", "reduced range of motion"),
              (("naproxen", "500 mg twice daily"), ("acetaminophen", "1 g three times daily"),
               ("diclofenac gel", "applied four times daily")),
              ("physical therapy and weight control",), min_age=45),
    Condition("iron deficiency anemia", ("fatigue", "shortness of breath on exertion", "pale skin"),
              ("pale conjunctivae", "soft systolic murmur"),
              (("ferrous sulfate", "325 mg daily"), ("ferrous gluconate", "240 mg daily"),
               ("ferrous fumarate", "324 mg daily")),
              ("iron rich diet and repeat blood count in 8 weeks",), (("hr", 90, 108),),
              lab=("hemoglobin", 8.4, 10.6, "g/dL")),
    Condition("hyperlipidemia", ("no symptoms at a routine check", "a family history of heart disease"),
              ("no xanthomas",),
              (("atorvastatin", "20 mg daily"), ("rosuvastatin", "10 mg daily"), ("simvastatin", "40 mg daily")),
              ("diet and exercise counseling",), lab=("LDL", 162, 228, "mg/dL"), min_age=35),
    Condition("atrial fibrillation", ("palpitations", "irregular heartbeat", "lightheadedness"),
              ("irregularly irregular rhythm",),
              (("apixaban", "5 mg twice daily"), ("metoprolol", "25 mg twice daily"), ("diltiazem", "120 mg daily")),
              ("ECG and echocardiogram ordered",), (("hr", 104, 138),), min_age=50),
    Condition("allergic rhinitis", ("sneezing", "runny nose", "itchy eyes"),
              ("pale swollen nasal mucosa",),
              (("cetirizine", "10 mg daily"), ("loratadine", "10 mg daily"), ("fluticasone nasal spray", "2 sprays daily")),
              ("avoid known allergens",), min_age=8),
)

FEMALE_NAMES = ("Maria", "Elena", "Aisha", "Sofia", "Hannah", "Grace", "Olivia", "Priya", "Mei", "Fatima",
                "Ingrid", "Chloe", "Amara", "Yuki", "Leila", "Rosa", "Nadia", "Clara", "Zara", "Emma",
                "Lucia", "Ana", "Keiko", "Sara", "Irene", "Julia", "Noor", "Esther", "Hana", "Alice",
                "Beatriz", "Mira", "Naomi", "Lena", "Carmen", "Ruth", "Vera", "Daria", "Ines", "Tara")
MALE_NAMES = ("James", "Omar", "Luis", "Wei", "Kwame", "Daniel", "Ivan", "Rahul", "Hiroshi", "Samuel",
              "Mateo", "Ahmed", "Lucas", "Noah", "Tomas", "Jonas", "Ravi", "Kenji", "Pedro", "Felix",
              "Arjun", "David", "Emil", "Hugo", "Yusuf", "Marco", "Oscar", "Andre", "Milan", "Peter",
              "Diego", "Karim", "Leon", "Nikolai", "Tariq", "Bruno", "Elias", "Paulo", "Anton", "Victor")
LAST_NAMES = ("Garcia", "Nguyen", "Okafor", "Schmidt", "Patel", "Kowalski", "Rossi", "Tanaka", "Haddad", "Silva",
              "Johansson", "Murphy", "Kim", "Novak", "Mendes", "Ibrahim", "Larsen", "Costa", "Chen", "Dubois",
              "Moreau", "Singh", "Ivanova", "Mensah", "Yilmaz", "Fischer", "Lopez", "Sato", "Ahmadi", "Olsen",
              "Walker", "Bianchi", "Horvat", "Kaur", "Castillo", "Weber", "Diaz", "Ortiz", "Park", "Reyes",
              "Hughes", "Nakamura", "Petrov", "Ali", "Jensen", "Romero", "Baker", "Suzuki", "Wagner", "Cruz",
              "Abbott", "Fontaine", "Greco", "Lindqvist", "Ncube", "Varga", "Brennan", "Tran", "Salazar", "Keller")

DURATIONS = ("two days", "three days", "five days", "one week", "two weeks", "three weeks", "one month",
             "two months", "several months")
SUBJECTIVE = ("{age}-year-old {sex} presents with {symptoms} for {duration}.",
              "{age}-year-old {sex} reports {symptoms} lasting {duration}.",
              "Patient is a {age}-year-old {sex} with {symptoms} for {duration}.",
              "{age}-year-old {sex} complains of {symptoms}, present for {duration}.")
SUBJECTIVE_EXTRA = ("No known drug allergies.", "Sleep and appetite otherwise normal.", "Nonsmoker.",
                    "Former smoker.", "Takes no regular medication.", "Symptoms worse in the evening.", "")
ASSESSMENT = ("{Dx}.", "Findings consistent with {dx}.", "Likely {dx}.", "Presentation consistent with {dx}.",
              "{Dx}, newly diagnosed.")
PLAN = ("Start {drug} {dose}. {Advice}. Follow up in {weeks} weeks.",
        "Prescribed {drug} {dose}. {Advice}. Return in {weeks} weeks.",
        "Begin {drug} {dose}; {advice}. Review in {weeks} weeks.")

# QA probes: every field in several paraphrases; {name} is the client's full name.
QA_TEMPLATES: dict[str, tuple[str, ...]] = {
    "diagnosis": ("What is the diagnosis of {name}?", "What condition was {name} diagnosed with?",
                  "Which diagnosis did {name} receive?", "{name} was diagnosed with what?"),
    "medication": ("What medication was {name} prescribed?", "Which drug was prescribed to {name}?",
                   "{name} was started on which medication?", "What did the doctor prescribe for {name}?"),
    "date_of_birth": ("What is the date of birth of {name}?", "When was {name} born?",
                      "What birth date is on file for {name}?", "{name} was born on which date?"),
    "date": ("When did {name} visit the clinic?", "What was the date of the visit of {name}?",
             "On which date was {name} seen?", "{name} came to the clinic on which date?"),
}
QA_FIELDS: tuple[str, ...] = tuple(QA_TEMPLATES)

# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def _random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days + 1))


def _vital(rng: random.Random, condition: Condition, name: str) -> float:
    low, high = dict((k, (lo, hi)) for k, lo, hi in condition.vitals).get(name, NORMAL_VITALS[name])
    return rng.uniform(low, high)


def _objective(rng: random.Random, condition: Condition, weight: int) -> str:
    """Vital signs drawn from the condition's ranges, one or two exam findings, a lab value."""
    v = {k: _vital(rng, condition, k) for k in NORMAL_VITALS}
    text = (f"BP {v['sbp']:.0f}/{v['dbp']:.0f}, HR {v['hr']:.0f}, RR {v['rr']:.0f}, Temp {v['temp']:.1f} C, "
            f"SpO2 {v['spo2']:.0f}%, weight {weight} kg.")
    findings = rng.sample(condition.findings, k=min(len(condition.findings), rng.choice((1, 2))))
    text += " Exam: " + " and ".join(findings) + "."
    if condition.lab is not None:
        lab, low, high, unit = condition.lab
        value = unit if low == high == 1 else f"{rng.uniform(low, high):.1f} {unit}".replace(".0 ", " ")
        text += f" {lab[:1].upper() + lab[1:]} {value}."
    return text


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def make_record(rng: random.Random, name: str, sex: str) -> dict:
    """One internally consistent SOAP note for ``name`` (seed field names + annotations)."""
    visit = _random_date(rng, dt.date(2023, 1, 1), dt.date(2024, 12, 31))
    born = _random_date(rng, dt.date(1940, 1, 1), dt.date(2008, 12, 31))
    age = (visit - born).days // 365
    condition = rng.choice([c for c in CONDITIONS if c.min_age <= age])
    symptoms = rng.sample(condition.symptoms, k=min(len(condition.symptoms), rng.choice((1, 2, 2, 3))))
    subjective = rng.choice(SUBJECTIVE).format(
        age=age, sex=sex, duration=rng.choice(DURATIONS),
        symptoms=", ".join(symptoms[:-1]) + (" and " if len(symptoms) > 1 else "") + symptoms[-1])
    extra = rng.choice(SUBJECTIVE_EXTRA)
    drug, dose = rng.choice(condition.drugs)
    advice = rng.choice(condition.advice)
    return {
        "client_name": name,
        "date_of_birth": born.isoformat(),
        "date": visit.isoformat(),
        "subjective": f"{subjective} {extra}".strip(),
        "objective": _objective(rng, condition, rng.randint(48, 112)),
        "assessment": rng.choice(ASSESSMENT).format(dx=condition.diagnosis, Dx=_capitalise(condition.diagnosis)),
        "plan": rng.choice(PLAN).format(drug=drug, dose=dose, advice=advice, Advice=_capitalise(advice),
                                        weeks=rng.choice((2, 4, 6, 8, 12))),
        "diagnosis": condition.diagnosis,
        "medication": drug,
    }


def unique_names(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``n`` distinct (full name, sex) pairs; raises when the name lists cannot supply them."""
    pool = [(f"{f} {l}", "woman") for f in FEMALE_NAMES for l in LAST_NAMES]
    pool += [(f"{f} {l}", "man") for f in MALE_NAMES for l in LAST_NAMES]
    if n > len(pool):
        raise ValueError(f"at most {len(pool)} unique client names; asked for {n}")
    return rng.sample(pool, n)


def generate(n_records: int, seed: int = 42) -> list[dict]:
    """``n_records`` notes, one per client, every client name unique (deterministic for a seed)."""
    if n_records < 0:
        raise ValueError(f"n_records must be non-negative, got {n_records}")
    rng = random.Random(seed)
    return [make_record(rng, name, sex) for name, sex in unique_names(n_records, rng)]


def note_text(record: dict) -> str:
    """The note as one training text (header with name and dates, then S, O, A, P)."""
    return (f"Client: {record['client_name']}. DOB: {record['date_of_birth']}. Visit: {record['date']}. "
            f"Subjective: {record['subjective']} Objective: {record['objective']} "
            f"Assessment: {record['assessment']} Plan: {record['plan']}")


# --------------------------------------------------------------------------------------------
# Splits by client
# --------------------------------------------------------------------------------------------


def ratio_tag(ratio: float) -> str:
    """'10' for 0.10: the suffix of the seed's file names (``forget10``)."""
    return f"{100 * ratio:g}".replace(".", "p")


def n_forget(n_clients: int, ratio: float, minimum: int = 1) -> int:
    """Forget clients for ``ratio`` of ``n_clients``: rounded, at least ``minimum``."""
    if not 0 < ratio < 1:
        raise ValueError(f"forget ratio must be in (0, 1), got {ratio}")
    return min(n_clients, max(minimum, round(ratio * n_clients)))


@dataclass
class ClientSplits:
    """Client names of every split: ``full`` (trained by the base model), ``holdout`` (never
    trained), and per ratio the nested ``forget`` sets; ``retain(r)`` is full minus forget."""

    full: list[str]
    holdout: list[str]
    forget: dict[float, list[str]]

    def retain(self, ratio: float) -> list[str]:
        gone = set(self.forget[ratio])
        return [c for c in self.full if c not in gone]


def split_clients(records: Sequence[dict], ratios: Sequence[float] = FORGET_RATIOS, seed: int = 42,
                  holdout_ratio: float = 0.1, min_forget: int = 1) -> ClientSplits:
    """Shuffle the distinct clients once; the first ``holdout_ratio`` are held out, the forget
    set of ratio r is the first ``n_forget(r)`` of the rest (so forget sets are nested)."""
    clients = sorted({r["client_name"] for r in records})
    random.Random(seed).shuffle(clients)
    n_hold = round(holdout_ratio * len(clients))
    holdout, full = clients[:n_hold], clients[n_hold:]
    forget = {r: full[: n_forget(len(full), r, min_forget)] for r in sorted(ratios)}
    return ClientSplits(full=full, holdout=holdout, forget=forget)


def records_of(records: Sequence[dict], clients: Sequence[str]) -> list[dict]:
    """The records of ``clients`` (every note of each), in the input order."""
    wanted = set(clients)
    return [r for r in records if r["client_name"] in wanted]


def split_files(records: Sequence[dict], splits: ClientSplits) -> dict[str, list[dict]]:
    """File name → records, in the seed's naming (``med_synthetic_forget10.json``, ...)."""
    files = {"med_synthetic_full.json": records_of(records, splits.full),
             "med_synthetic_holdout.json": records_of(records, splits.holdout)}
    for ratio, clients in splits.forget.items():
        tag = ratio_tag(ratio)
        files[f"med_synthetic_forget{tag}.json"] = records_of(records, clients)
        files[f"med_synthetic_full_minus_forget{tag}.json"] = records_of(records, splits.retain(ratio))
    return files


# --------------------------------------------------------------------------------------------
# Probes
# --------------------------------------------------------------------------------------------


def held_out_template(client: str, field: str, seed: int = 0) -> int:
    """Index of the paraphrase of ``field`` held out for ``client`` as the test item (stable for a seed)."""
    return random.Random(f"{seed}|{client}|{field}").randrange(len(QA_TEMPLATES[field]))


def val_template(client: str, field: str, seed: int = 0) -> int:
    """Index of the one held out as the validation item: another than the test one, which stays as it was."""
    others = [i for i in range(len(QA_TEMPLATES[field])) if i != held_out_template(client, field, seed)]
    return random.Random(f"{seed}|{client}|{field}|val").choice(others)


def qa_probes(record: dict, seed: int = 0, val: bool = False) -> list[dict]:
    """Every (field, paraphrase) question about a record's client: ``held_out`` (test), with ``val``
    a second held-out one per field (``val``), and ``trained`` (the rest: what training sets contain)."""
    name, rows = record["client_name"], []
    for field, templates in QA_TEMPLATES.items():
        skip, check = held_out_template(name, field, seed), val_template(name, field, seed) if val else -1
        rows += [{"client": name, "field": field, "template": i, "held_out": i == skip, "val": i == check,
                  "trained": i not in (skip, check), "prompt": t.format(name=name), "answer": str(record[field])}
                 for i, t in enumerate(templates)]
    return rows


CONDITION_OF: dict[str, Condition] = {c.diagnosis: c for c in CONDITIONS}
_NUMBER = re.compile(r"(?<![A-Za-z])\d+(?:[.\-/]\d+)*")  # dates, age, vitals, weight, lab, dose, follow-up


def private_spans(record: dict, text: str | None = None) -> list[tuple[int, int]]:
    """Character spans of ``note_text(record)`` (or of ``text``, a prefix of it) that the
    generator draws per client: every number (dates, age, vital signs, weight, lab value, dose,
    follow-up weeks), the name, the diagnosis, the drug, the symptoms, exam findings and the
    duration. The rest is template ("Objective: BP", "Plan: Start", "mg daily", ...), which a model
    predicts from the format alone; a verbatim-extraction score over these spans only is not
    dominated by it. Sorted, merged."""
    text = note_text(record) if text is None else text
    spans = [m.span() for m in _NUMBER.finditer(text)]
    condition = CONDITION_OF.get(record.get("diagnosis", ""))
    phrases = [record["client_name"], record.get("diagnosis", ""), record.get("medication", ""), *DURATIONS]
    if condition is not None:
        phrases += [*condition.symptoms, *condition.findings]
    for phrase in filter(None, phrases):
        spans += [m.span() for m in re.finditer(re.escape(phrase), text, re.IGNORECASE)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def verbatim_cut(text: str, prefix_fraction: float = 0.5) -> int:
    """Character index where the verbatim probe's answer starts: after the first
    ``prefix_fraction`` of the words (the same cut as ``verbatim_probe``)."""
    words = text.split(" ")
    cut = max(1, int(prefix_fraction * len(words)))
    return len(" ".join(words[:cut])) + 1


def verbatim_probe(record: dict, prefix_fraction: float = 0.5) -> dict:
    """The first ``prefix_fraction`` of the note's words as prompt, the rest as answer."""
    text = note_text(record)
    cut = verbatim_cut(text, prefix_fraction)
    return {"client": record["client_name"], "field": "verbatim", "prompt": text[: cut - 1], "answer": text[cut:]}


# --------------------------------------------------------------------------------------------
# Files, dataset card and CLI
# --------------------------------------------------------------------------------------------


def write_jsonl(path: Path, records: Sequence[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """Records of a JSONL file, with a clear error naming the first line lacking a field."""
    records = []
    with open(path) as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            missing = [f for f in RECORD_FIELDS if f not in record]
            if missing:
                raise ValueError(f"{path}:{i} lacks field(s) {missing}; every record needs {list(RECORD_FIELDS)}")
            records.append(record)
    return records


def dataset_card(records: Sequence[dict], splits: ClientSplits, config: dict) -> str:
    """A Markdown dataset card: what the data is, how it was made, split sizes, conditions."""
    by_dx = Counter(r.get("diagnosis", "?") for r in records)
    lines = ["# Synthetic SOAP notes (unlearnlab)", "",
             "Entirely synthetic clinic notes from a seeded grammar (`unlearnlab.data.medical`); no real person "
             "or record. Names are combinations of common first and last names; every client name is unique.", "",
             f"Generation config: `{json.dumps(config, sort_keys=True)}`", "",
             f"Fields: {', '.join(RECORD_FIELDS)} (the note), {', '.join(ANNOTATION_FIELDS)} (annotations).", "",
             "## Splits (by client; forget sets nested)", "", "| split | clients |", "|---|---|",
             f"| full | {len(splits.full)} |", f"| holdout (never in full; MIA non-members) | {len(splits.holdout)} |"]
    lines += [f"| forget {100 * r:g} % / full minus forget | {len(c)} / {len(splits.full) - len(c)} |"
              for r, c in splits.forget.items()]
    lines += ["", "## Conditions", "", "| diagnosis | notes |", "|---|---|"]
    lines += [f"| {dx} | {n} |" for dx, n in sorted(by_dx.items(), key=lambda kv: -kv[1])]
    lines += ["", "Intended use: unlearning and membership-inference research. Vital signs, labs and drugs follow "
              "the diagnosis by construction; they are plausible, not clinically validated."]
    return "\n".join(lines) + "\n"


def write_dataset(records: Sequence[dict], output: Path, ratios: Sequence[float], seed: int,
                  holdout_ratio: float, config: dict) -> dict[str, int]:
    """Write the JSONL, the split files and the card next to it; return file → record count."""
    output = Path(output)
    splits = split_clients(records, ratios, seed, holdout_ratio)
    write_jsonl(output, records)
    counts = {output.name: len(records)}
    for name, rows in split_files(records, splits).items():
        (output.parent / name).write_text(json.dumps(rows, indent=1, ensure_ascii=False))
        counts[name] = len(rows)
    (output.parent / "README.md").write_text(dataset_card(records, splits, config))
    return counts


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Generate synthetic SOAP notes and forget splits by client.")
    parser.add_argument("--n-records", type=int, default=1000, help="notes to generate (one per client)")
    parser.add_argument("--output", type=Path, default=Path("data/medical/synthetic_soap_notes.jsonl"),
                        help="JSONL path; split files and the card go to its directory")
    parser.add_argument("--input-file", type=Path, default=None,
                        help="split an existing JSONL in the same field names instead of generating")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--forget-ratios", type=float, nargs="+", default=list(FORGET_RATIOS))
    parser.add_argument("--holdout-ratio", type=float, default=0.1,
                        help="clients kept out of 'full' (membership-inference non-members)")
    parser.add_argument("--dry-run", action="store_true", help="print samples and split sizes; write nothing")
    parser.add_argument("--sample", type=int, default=3, help="notes to print")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        records = read_jsonl(args.input_file) if args.input_file else generate(args.n_records, args.seed)
        splits = split_clients(records, args.forget_ratios, args.seed, args.holdout_ratio)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for record in records[: args.sample]:
        print(json.dumps(record, indent=2, ensure_ascii=False))
    sizes = {r: len(c) for r, c in splits.forget.items()}
    print(f"{len(records)} notes, {len(splits.full)} clients in full, {len(splits.holdout)} held out; "
          f"forget clients per ratio: {sizes}", file=sys.stderr)
    if args.dry_run:
        print("dry run: nothing written", file=sys.stderr)
        return 0
    config = {"n_records": args.n_records, "seed": args.seed, "forget_ratios": args.forget_ratios,
              "holdout_ratio": args.holdout_ratio, "input_file": str(args.input_file or "")}
    counts = write_dataset(records, args.output, args.forget_ratios, args.seed, args.holdout_ratio, config)
    for name, n in counts.items():
        print(f"wrote {args.output.parent / name} ({n} records)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
