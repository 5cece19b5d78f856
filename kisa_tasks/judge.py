"""One answer judge for rollouts, imports, the GRPO task reward and evaluation.

``rules_verdict`` is deterministic and cheap: an answer is correct when it
names an accepted answer (or alias) as a whole mention, as the whole answer
or inside prose, and neither lists several candidates, hedges between them
nor negates the mention. Both sides are normalised first (case, diacritics,
punctuation, Greek letters, number words, leading articles, honorific
titles), so "César" is "Cesar", "twelve" is "12" and "Sir Alexander
Fleming" is "Alexander Fleming"; mentions are whole-word token runs, so
"vitamin A" never matches "vitamin B" and "type 1 diabetes" never "type 2".

``Judge`` puts the rules first and, given a gateway, asks an LLM only about
what the rules call wrong, except candidate lists and hedges, which stay
wrong: an LLM must not overturn "A or B or C". The LLM's "correct" counts
only if it also refuses a decoy (``probed_llm_judge``); a failed call leaves
the answer unjudged (``failure``), never silently correct.

In prose of several sentences with a stated conclusion ("Weighing the
sources, I conclude ...", "The answer is ..."), only what the conclusion names
is answered; a name joined by a hyphen to another capitalised name
("Sjogren-Larsson") or said in a parenthesised aside after a sentence is not
a mention.

The rules were tuned on labelled splits of ``tests/fixtures/judge/`` and each
split was measured blind once before (``benchmarks/judge_verdicts.py``).
Known limit: prose without a conclusion marker that names the answer in
passing while stating another one ("Sotalol prolongs the QT interval ... the
drug that causes pulmonary fibrosis is amiodarone") is accepted.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kisa_tasks.extract.sentences import sentence_spans

if TYPE_CHECKING:
    from kisa_tasks.llm.sync import LLMGateway

# --- normalisation ---------------------------------------------------------

# "\u03b3" is "gamma": the letter's Unicode name ("LAMDA" spelled as people do).
_GREEK = {
    chr(c): unicodedata.name(chr(c)).rsplit(" ", 1)[-1].lower().replace("lamda", "lambda")
    for c in range(0x3B1, 0x3CA)
}
_UNITS = {
    w: n
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    w: 10 * n
    for n, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)
}
_ARTICLES = frozenset({"a", "an", "the"})
# Dropped before a name: "Sir Alexander Fleming" is "Alexander Fleming".
_TITLES = frozenset(
    {"sir", "dame", "lord", "dr", "prof", "professor", "mr", "mrs", "ms", "mx", "rev"}
)
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Token:
    """A normalised word and where it stands in the folded text."""

    word: str
    start: int
    end: int
    capital: bool = False  # written with a capital: a name's part
    parenthesised: bool = False


def fold(text: str) -> str:
    """Diacritics dropped (NFKD, combining marks removed), Greek letters
    spelled out, curly apostrophes straightened; case and length of words kept.

    >>> fold("C\\u00e9sar, IFN-\\u03b3, 5 \\u00b5g, Beh\\u00e7et\\u2019s")
    "Cesar, IFN- gamma , 5  mu g, Behcet's"
    """
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        name = _GREEK.get(ch.lower())
        out.append(f" {name} " if name else ch)
    return "".join(out).replace("\u2019", "'").replace("\u2018", "'")


def _number(words: Sequence[str], i: int) -> tuple[int, int] | None:
    """(value, next index) of the number words at ``words[i]``: "forty six",
    "two hundred and six"; None when none starts there."""
    n = len(words)

    def below_hundred(k: int) -> tuple[int, int] | None:
        if k < n and words[k] in _UNITS:
            return _UNITS[words[k]], k + 1
        if k < n and words[k] in _TENS:
            value = _TENS[words[k]]
            if k + 1 < n and words[k + 1] in _UNITS and 1 <= _UNITS[words[k + 1]] <= 9:
                return value + _UNITS[words[k + 1]], k + 2
            return value, k + 1
        return None

    first = below_hundred(i)
    if first is None:
        return None
    value, j = first
    second = below_hundred(j) if 10 <= value <= 99 else None
    if second is not None and 10 <= second[0] <= 99:  # a year: "nineteen eighty" is 1980
        return value * 100 + second[0], second[1]
    if j < n and words[j] == "hundred" and 1 <= value <= 99:
        value, j = value * 100, j + 1
        k = j + 1 if j < n and words[j] == "and" else j
        rest = below_hundred(k)
        if rest is not None and rest[0] > 0:
            value, j = value + rest[0], rest[1]
    return value, j


def tokens(text: str) -> list[Token]:
    """The normalised words of ``text`` (already folded), with positions.

    Possessive "'s" dropped, honorific titles before a name dropped, "st"
    read as "saint", number words as digits.

    >>> [t.word for t in tokens(fold("Sir William Osler's forty-six St. Behçet"))]
    ['william', 'osler', '46', 'saint', 'behcet']
    """
    raw = [m for m in _WORD.finditer(text)]
    lower_only = not any(c.isupper() for c in text)
    depth, paren = 0, []
    cursor = 0
    for m in raw:  # which words stand inside parentheses
        chunk = text[cursor : m.start()]
        depth = max(0, depth + chunk.count("(") - chunk.count(")"))
        paren.append(depth > 0)
        cursor = m.start()
    kept: list[Token] = []
    for i, m in enumerate(raw):
        word = m.group()
        folded = word.casefold()
        if folded == "s" and m.start() > 0 and text[m.start() - 1] == "'":
            continue  # possessive: "Behcet's disease" is "Behcet disease"
        following = raw[i + 1].group() if i + 1 < len(raw) else ""
        if (
            folded in _TITLES
            and not (len(word) > 1 and word.isupper())  # "MS" is multiple sclerosis
            and following.isalpha()
            and (following[0].isupper() or lower_only)
        ):
            continue
        if folded == "st":
            folded = "saint"
        kept.append(Token(folded, m.start(), m.end(), word[0].isupper(), paren[i]))
    words = [t.word for t in kept]
    out: list[Token] = []
    i = 0
    while i < len(kept):
        number = _number(words, i)
        if number is None:
            out.append(kept[i])
            i += 1
            continue
        value, j = number
        first, last = kept[i], kept[j - 1]
        out.append(Token(str(value), first.start, last.end, False, first.parenthesised))
        i = j
    return out


def normalise(text: str) -> str:
    """The answer as compared: words only, leading article dropped.

    >>> normalise("The Moby-Dick"), normalise("trisomy twenty-one"), normalise("Dr. Thomas Hodgkin")
    ('moby dick', 'trisomy 21', 'thomas hodgkin')
    """
    return " ".join(_strip_article([t.word for t in tokens(fold(text))]))


def _strip_article(words: list[str]) -> list[str]:
    return words[1:] if len(words) > 1 and words[0] in _ARTICLES else words


# --- the rules -------------------------------------------------------------


@dataclass(frozen=True)
class RuleVerdict:
    """The rules' verdict and the rule that decided it: "exact", "prefix",
    "mention" (correct); "list", "hedge", "negated", "claims_other" (the
    conclusion names another), "no_mention" (wrong)."""

    correct: bool
    rule: str


# Words that cannot open a candidate named after a separator: after ", which",
# ", is", ", not", ", located on" the text goes on about the mention.
_NON_ITEM = frozenset(
    """a an the is are was were be been being has have had do does did it its this that
    these those which who whom whose what where when i we you he she they his her their
    not no never although though because since as while whereas if so thus therefore
    hence but yet given with without by for from in on at to of into than then also can
    could may might will would should must here there like unlike after before during
    despite including via per about against among between within through over under upon
    such except instead rather both either neither all any some most other another""".split()
)
_HEDGE_WORDS = r"(?:possibly|perhaps|maybe|probably|potentially)"
_HEDGES = [
    re.compile(p, re.I)
    for p in (
        rf"\b(?:or|and)\s+{_HEDGE_WORDS}\b",
        r"[,;(]\s*(?:possibly|perhaps|maybe)\s+(?!because\b)\w",
        r"\balternatively\b|\b(?:another|an)\s+alternative\s+(?:answer|candidate)\b",
        r"\b(?:could|might|may|can)\s+also\s+be\b",
        r"\bother\s+(?:option|possibility|candidate|choice)s?\b",
        r"\bnot\s+(?:sure|certain)\b|\bunsure\b",
        r"\bor\s+else\b",
        rf"\b{_HEDGE_WORDS}\b[^.\n]*\b{_HEDGE_WORDS}\b",
        r"\bwhether\b[^.\n]*\bor\b",
        r"\beither\b[^.\n]*\bor\b",
        r"\b(?:is|are|seems|remains)\s+(?:also\s+)?(?:possible|plausible|conceivable)\b",
        r"\b(?:is|are)\s+also\s+likely\b",
        r"\b(?:cannot|can't|could\s+not|not)\s+be\s+(?:ruled\s+out|excluded)\b",
        r"\b(?:it|this)\s+(?:might|may|could)\s+be\b[^.\n]*\b(?:might|may|could)\s+be\b",
        r"\bor\s+(?:it|this|that)\s+(?:might|may|could|is)\b",
        r"\b(?:also|or)\s+consider\b|\bconsider\s+also\b",
    )
]
_NEGATION_BEFORE = re.compile(
    r"(?:\b(?:not|never|neither|nor|unlike|rather\s+than|instead\s+of|other\s+than|except|excluding"
    r"|confused\s+with|mistaken\s+for"
    r"|exclude[sd]?|rul(?:e|es|ed|ing)\s+out)\b(?:\s+(?:a|an|the))?|\bno|\bnon-?)\s*$",
    re.I,
)
_NEGATION_AFTER = re.compile(
    r"^\s*(?:-\s*(?:negative|free|independent|like|induced)\b"
    r"|\s(?:is|was|are|were|seems|appears)\s+(?:(?!not\b)\w+\s+){0,2}?"
    r"(?:not\s+(?:a|an|the|it|correct|right|likely|responsible|involved|implicated|relevant)"
    r"|unlikely|excluded|ruled\s+out|incorrect|wrong|contraindicated|unrelated"
    r"|irrelevant|rejected|less\s+likely)\b"
    r"|\s(?:(?:does|do|did)\s+not|doesn't|don't|didn't)\s+"
    r"(?:fit|match|apply|meet|satisfy|correspond|(?:cause|explain|account\s+for|produce)"
    r"\s+(?:this|that|these|those|it|them|here))\b)",
    re.I,
)
_CONJUNCTION = r"(?:and/or|or|and|nor|versus|vs)\b\.?"
_SEPARATOR_AFTER = re.compile(rf"^\s*(?:(,|;)\s*(?:{_CONJUNCTION})?|/|{_CONJUNCTION})", re.I)
_SEPARATOR_BEFORE = re.compile(rf"(?:(,|;)|(?:,\s*)?(?:/|\b{_CONJUNCTION}))\s*$", re.I)
_CLAUSE_END = re.compile(r"[.;:!?]\s|[.;:!?]$|\bbut\b|\n", re.I)


def _bare(text: str) -> str:
    """Emphasis, quotes and brackets removed: "**Heparin** (x)" reads "Heparin x"."""
    return re.sub(r"[*_\"`()\[\]]", " ", text)


def _item_like(words: Sequence[str], *, led_by_article: bool) -> bool:
    """Whether the words after a separator could be another candidate."""
    if not words or len(words) > 4 or led_by_article:
        return False
    return not any(w.casefold() in _NON_ITEM for w in words)


def _words_of(text: str) -> list[str]:
    return re.findall(r"[^\W_][\w\-']*", text)


def _names_any(piece: str, forms: Sequence[Sequence[str]]) -> bool:
    words = [t.word for t in tokens(piece)]
    return any(words[i : i + len(f)] == list(f) for f in forms for i in range(len(words)))


def _listed(text: str, start: int, end: int, forms: Sequence[Sequence[str]] = ()) -> bool:
    """Whether the mention at text[start:end] is one candidate of a list:
    "A or B", "A, B and C", "A/B", "A vs. B", "**A**, **B**". A comma, a
    semicolon or ", and" counts only before a short noun phrase that ends
    there ("CFTR, SCN5A, KCNQ1"), not before an apposition or a clause
    ("dabigatran, an oral inhibitor"; "CFTR, encodes a channel"; "**A**; **B**
    is less likely"). A neighbour that names an accepted answer too ("sildenafil
    or Viagra") is the same answer, not another candidate."""
    neighbours: list[str] = []
    after = _bare(text[end:])
    sep = _SEPARATOR_AFTER.match(after)
    if sep:
        piece = re.split(r"[,;.:!?]|\s(?:or|and|nor)\s", after[sep.end() :], maxsplit=1)[0]
        words = [w for w in _words_of(piece) if not re.fullmatch(_HEDGE_WORDS, w, re.I)]
        led = bool(words) and words[0].casefold() in _ARTICLES
        conjunction = sep.group(0).strip(" ,;").casefold()
        if sep.group(1) is None or conjunction not in {"", "and"}:  # "or", "/", "vs"
            named = words[1:] if led else words
            if named and named[0].casefold() not in _NON_ITEM:
                neighbours.append(piece)
        elif _item_like(words, led_by_article=led):
            neighbours.append(piece)
    before = _bare(text[:start])
    sep = _SEPARATOR_BEFORE.search(before)
    if sep:
        head = before[: sep.start()]
        piece = re.split(r"[,;.:!?]|\s(?:or|and|nor|either|both|are|is|was|were)\s", head)[-1]
        words = _words_of(piece)
        if sep.group(1) is None:  # a conjunction or "/"
            if words and words[-1].casefold() not in _NON_ITEM:
                neighbours.append(piece)
        elif _item_like(words, led_by_article=bool(words) and words[0].casefold() in _ARTICLES):
            neighbours.append(piece)
    return any(not _names_any(piece, forms) for piece in neighbours)


_ENUMERATOR = re.compile(r"(?:^|\s)\(?\d{1,2}[.)](?=\s)|^\s*[-*\u2022](?=\s)", re.M)
_HEADINGS = frozenset({"answer", "final answer", "the answer", "summary", "conclusion"})


def _enumerated(text: str, start: int, end: int) -> bool:
    """Whether the mention is one of several short items on lines of their
    own, after enumerators or as sentences of their own: "- Heparin\\n-
    Warfarin", "1. aspirin 2. heparin", "Aspirin. Warfarin. Heparin."."""
    items: list[tuple[int, int]] = []
    offset = 0
    for line in re.split(r"(?<=[.!?])(?=\s+[A-Z*])|(?<=\n)", text):
        cuts = [m.end() for m in _ENUMERATOR.finditer(line)]
        bounds = [0, *cuts, len(line)] if cuts else [0, len(line)]
        for a, b in itertools.pairwise(bounds):
            piece = _bare(line[a:b]).strip()
            piece = _ENUMERATOR.sub(" ", piece).strip()
            if not piece or piece.endswith(":") or piece.casefold() in _HEADINGS:
                continue
            words = _words_of(piece)
            if words and _item_like(words, led_by_article=words[0].casefold() in _ARTICLES):
                items.append((offset + a, offset + b))
        offset += len(line)
    return len(items) >= 2 and any(a <= start and end <= b for a, b in items)


def _negated(text: str, start: int, end: int) -> bool:
    """Whether the mention is denied: "not heparin", "rather than heparin",
    "heparin is ruled out", "HER2-negative"; not "not X but heparin"."""
    clause = _CLAUSE_END.split(_bare(text[:start]).replace(",", ", "))[-1]
    before = clause.split(",")[-1]
    if _NEGATION_BEFORE.search(before.rstrip(" *_")):
        return True
    after = text[end:].lstrip("*_")
    return bool(_NEGATION_AFTER.match(after)) or bool(_NEGATION_AFTER.match(" " + after))


def _forms(accepted: Sequence[str]) -> tuple[list[list[str]], list[list[str]]]:
    """(mention forms, whole-answer-only forms) of the accepted answers.

    A form is an answer's words with the leading article dropped; "The
    Archers - Radio Soap" also gives its head "The Archers". An answer of 4+
    words also gives its 2+ word prefixes, matched only as the whole answer or
    a whole bold span ("Jim Douglas" for "jim douglas race car driver")."""
    forms: list[list[str]] = []
    prefixes: list[list[str]] = []
    for answer in accepted:
        heads = [answer, re.split(r"\s+[-\u2013\u2014:]\s+|\s*\(", answer, maxsplit=1)[0]]
        for text in heads:
            words = _strip_article([t.word for t in tokens(fold(text))])
            if words and words not in forms:
                forms.append(words)
        words = _strip_article([t.word for t in tokens(fold(answer))])
        if len(words) >= 4:
            prefixes.extend(words[:k] for k in range(2, len(words)))
    return forms, prefixes


def _find(text: str, seq: Sequence[Token], form: Sequence[str]) -> list[tuple[int, int]]:
    """Character spans of ``text`` where ``form`` occurs as whole words; a
    two-word name also with one capitalised middle name ("Frederick Grant
    Banting"), never a hyphenated one ("Sjogren-Larsson syndrome")."""
    words = [t.word for t in seq]
    n, k = len(words), len(form)
    spans = [
        (seq[i].start, seq[i + k - 1].end) for i in range(n - k + 1) if words[i : i + k] == form
    ]
    if k == 2 and all(w.isalpha() for w in form):
        for i in range(n - 2):
            middle = seq[i + 1]
            if (
                words[i] == form[0]
                and words[i + 2] == form[1]
                and middle.capital
                and text[seq[i].end : middle.start].isspace()
                and middle.word.isalpha()
                and middle.word not in _NON_ITEM
            ):
                spans.append((seq[i].start, seq[i + 2].end))
    return spans


# A sentence that states the conclusion: in prose the answer is what it names.
_CONCLUSION = re.compile(
    r"\b(?:i\s+conclude|in\s+conclusion|to\s+conclude|therefore|thus|hence|overall"
    r"|in\s+summary|to\s+summari[sz]e|all\s+in\s+all|based\s+on|weighing"
    r"|(?:the|my|final)\s+answer\s*(?:is|would\s+be|could\s+be|:)|answer\s*:)",
    re.I,
)
_LINE = re.compile(r"[^\n]+")


def _conclusion(text: str) -> tuple[int, int] | None:
    """The span of the last sentence that states a conclusion ("Weighing
    the sources, I conclude ...", "The answer is ..."), in prose of two or
    more sentences; None when there is none."""
    sentences = [
        (line.start() + a, line.start() + b)
        for line in _LINE.finditer(text)
        for a, b in sentence_spans(line.group())
    ]
    if len(sentences) < 2:
        return None
    stated = [(a, b) for a, b in sentences if _CONCLUSION.search(text[a:b])]
    return stated[-1] if stated else None


def _part_of_a_longer_name(text: str, start: int, end: int) -> bool:
    """The name "Sjogren" in "Sjogren-Larsson syndrome": a hyphen joins it to another
    capitalised name, so it names something else."""
    after = re.match(r"-[A-Z][a-z]", text[end:])
    before = re.search(r"[A-Za-z][a-z]*[a-z]-$", text[:start])
    return bool(after) or bool(before and before.group(0)[0].isupper())


def _aside(text: str, start: int) -> bool:
    """Inside a parenthesis opened after a sentence's end: "Vitamin K.
    (Protamine is used for warfarin.)" says protamine on the side."""
    opened = text.rfind("(", 0, start)
    return (
        opened > 0
        and text.rfind(")", opened, start) < 0
        and bool(re.search(r"[.!?]\s*$", text[:opened]))
    )


def _maximal(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans not inside a longer one: "Penicillin G, ..." is judged as
    "Penicillin G", not again as "Penicillin"."""
    unique = sorted(set(spans))
    return [
        (a, b)
        for a, b in unique
        if not any(c <= a and b <= d and (c, d) != (a, b) for c, d in unique)
    ]


def rules_verdict(given: str, accepted: Sequence[str]) -> RuleVerdict:
    """The rules' verdict on ``given`` against the accepted answers.

    >>> rules_verdict("**Aspirin** or **Warfarin** or **Heparin**", ["Heparin"])
    RuleVerdict(correct=False, rule='list')
    >>> rules_verdict("The drug is dabigatran, an oral thrombin inhibitor.", ["dabigatran"])
    RuleVerdict(correct=True, rule='mention')
    >>> rules_verdict("Cesar Milstein", ["César Milstein"]), rules_verdict("twelve", ["12"])
    (RuleVerdict(correct=True, rule='exact'), RuleVerdict(correct=True, rule='exact'))
    >>> rules_verdict("It is not heparin but warfarin.", ["heparin"])
    RuleVerdict(correct=False, rule='negated')
    >>> rules_verdict("Vitamin A", ["vitamin B"])
    RuleVerdict(correct=False, rule='no_mention')
    """
    text = fold(given)
    seq = tokens(text)
    words = _strip_article([t.word for t in seq])
    forms, prefixes = _forms(accepted)
    if not words:
        return RuleVerdict(False, "no_mention")
    if words in forms:
        return RuleVerdict(True, "exact")
    if words in prefixes:
        return RuleVerdict(True, "prefix")
    spans: list[tuple[int, int]] = []
    unbracketed = [t for t in seq if not t.parenthesised]
    for form in forms:
        if all(w in _NON_ITEM for w in form):
            continue  # "A" matches only as the whole answer, never the article
        spans += _find(text, seq, form) + _find(text, unbracketed, form)
    for bold in re.finditer(r"\*\*(.+?)\*\*", text):
        if _strip_article([t.word for t in tokens(bold.group(1))]) in prefixes:
            spans.append((bold.start(1), bold.end(1)))
    spans = [
        (a, b)
        for a, b in _maximal(spans)
        if not _part_of_a_longer_name(text, a, b) and not _aside(text, a)
    ]
    if not spans:
        return RuleVerdict(False, "no_mention")
    if any(h.search(text) for h in _HEDGES):
        return RuleVerdict(False, "hedge")
    stated = _conclusion(text)
    if stated is not None:
        # Prose with a conclusion: only what the conclusion names is answered.
        spans = [(a, b) for a, b in spans if stated[0] <= a and b <= stated[1]]
        if not spans:
            return RuleVerdict(False, "claims_other")
    listed = negated = False
    for start, end in spans:
        if _negated(text, start, end):
            negated = True
        elif _listed(text, start, end, forms) or _enumerated(text, start, end):
            listed = True
        else:
            return RuleVerdict(True, "mention")
    return RuleVerdict(False, "list" if listed or not negated else "negated")


# --- the LLM judge ---------------------------------------------------------

JUDGE_PROMPT = (
    "You check answers to medical research questions. Decide whether the candidate "
    "answer names the same entity as the reference answer (synonyms, abbreviations and "
    "extra explanation are fine; a different or more general entity is not). A list of "
    "candidates or a hedge between several answers is incorrect, even when one of them "
    "is the reference; so is an answer that denies the reference. Reply with JSON, "
    'reason first: {"reason": "<one sentence>", "verdict": "correct" or "incorrect"}.'
)
# Reason before verdict: a model decoding the schema in order reasons first.
JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {"type": "string", "maxLength": 300},
        "verdict": {"type": "string", "enum": ["correct", "incorrect"]},
    },
    "required": ["reason", "verdict"],
    "additionalProperties": False,
}


def llm_judge(gateway: LLMGateway, question: str, accepted: Sequence[str], given: str) -> bool:
    """The model's verdict, read from its JSON enum only (never a letter in
    the text: "vitamin A" is no verdict); raises ``LLMError`` when it cannot be had."""
    from kisa_tasks.llm.client import Sampling

    content = (
        f"Question: {question}\nReference answer: {' / '.join(accepted)}\nCandidate answer: {given}"
    )
    result = gateway.complete(
        [{"role": "system", "content": JUDGE_PROMPT}, {"role": "user", "content": content}],
        sampling=Sampling(temperature=0.0, max_tokens=200),
        schema=JUDGE_SCHEMA,
    )
    verdict = (result.data or {}).get("verdict")  # validated against JUDGE_SCHEMA
    return bool(verdict == "correct")


def probed_llm_judge(
    gateway: LLMGateway, question: str, accepted: Sequence[str], given: str, decoy: str | None
) -> tuple[bool, str | None]:
    """The LLM verdict, trusted only if the judge also refuses a decoy (an
    entity the question names, never its answer): a weak model that calls
    everything correct (SmolLM2-135M does) must not fill the dataset with
    wrong answers. (correct, why the verdict was not trusted)."""
    if not llm_judge(gateway, question, accepted, given):
        return False, None
    if decoy is not None and llm_judge(gateway, question, accepted, decoy):
        return False, f"judge_unreliable: it also accepted the decoy {decoy!r}"
    return True, None


def decoy(question: str, accepted: Sequence[str], named: Sequence[str]) -> str | None:
    """The first of ``named`` (a QA item's clue neighbours, ``QAItem.named``)
    that the question writes and that is no accepted answer: what an LLM
    judge must refuse for its verdicts to be trusted."""
    words = f" {normalise(question)} "
    return next(
        (
            v
            for v in named
            if normalise(v)
            and f" {normalise(v)} " in words
            and not rules_verdict(v, accepted).correct
        ),
        None,
    )


# --- the judge -------------------------------------------------------------

# Rejections no LLM may overturn: a candidate list or a hedge is never an answer.
FINAL_RULES = frozenset({"list", "hedge"})


@dataclass(frozen=True)
class Verdict:
    """A judged answer: who decided ("rules" or "llm"), by which rule, and
    why it could not be judged (``failure``: judge_failed / judge_unreliable)."""

    correct: bool
    judge: str
    rule: str
    failure: str | None = None


class Judge:
    """The rules, then (with a gateway) the LLM for what the rules reject,
    except lists and hedges.

    >>> Judge().verdict("Which drug?", ["heparin"], "It is heparin.")
    Verdict(correct=True, judge='rules', rule='mention', failure=None)
    """

    def __init__(self, gateway: LLMGateway | None = None) -> None:
        self.gateway = gateway

    @property
    def name(self) -> str:
        return "rules" if self.gateway is None else "llm"

    def verdict(
        self, question: str, accepted: Sequence[str], given: str, decoy: str | None = None
    ) -> Verdict:
        rules = rules_verdict(given, accepted)
        if rules.correct or self.gateway is None or rules.rule in FINAL_RULES:
            return Verdict(rules.correct, "rules", rules.rule)
        from kisa_tasks.llm.client import LLMError

        try:
            correct, unreliable = probed_llm_judge(self.gateway, question, accepted, given, decoy)
        except LLMError as exc:
            return Verdict(False, "llm", rules.rule, f"judge_failed: {exc}")
        return Verdict(correct, "llm", "llm" if correct else rules.rule, unreliable)
