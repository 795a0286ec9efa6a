"""Wording screens: statutory requests and safeguarding concerns, each hit with its reason.

These only add protection (a copy to information governance, an urgent alert, never a
rejection); they never take any away, so a false positive costs a person a read, while a miss
can cost a right or a life. They lean towards flagging, and they are a first pass: wording can
always get past them, which is why a person reads every message a restriction touches.

Each screen is a list of named rules, tried in order; the first that matches gives the reason a
person sees: what the wording does, and the words. A rule is a few branches, each a regular
expression over the folded text (lower case, one space between words, straight apostrophes)
behind a gate: cue words that any text the expression matches contains. A gate is a set
lookup, far cheaper than an expression, and most text opens few of them; an expression that
starts with one of a few words is tried only where those words begin. That keeps
`statutory_wording`, which runs on every message, cheap.

Some concerns show in no one phrase: a farewell is giving a pet away and "I won't need the
flat after this weekend", each ordinary alone. A `SignsRule` matches when signs of several
kinds appear together (and no ordinary reason for them, such as moving house), and its reason
names each sign with its words.

tests/fixtures/wording/ is a labelled corpus of messages written for the project;
tests/unit/test_wording.py holds the screens to it and checks every gate against its
expression; bench/wording.py prints the figures.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ContentHints:
    """What the words of a contact suggest, plus whether this installation already routed it."""

    statutory: bool = False
    safeguarding: bool = False
    routed_by: str | None = None  # installation id found in an X-CCR-Decision header
    # Why, in plain English with the words that matched, for the person who reads it.
    statutory_because: str | None = None
    safeguarding_because: str | None = None


@dataclass(frozen=True, slots=True)
class Branch:
    """One wording of a rule: an expression behind a cheap gate.

    The gate opens when the text has one of `words` (ASCII words) and, if `also` is not empty,
    one of `also` too; every text the expression matches must open it. When `starts` is given,
    every match begins with one of those words, so the expression is tried only where they
    begin (one that opens with a list of words is otherwise tried at almost every letter).
    tests/unit/test_wording.py checks both promises with generated matches.
    """

    words: frozenset[bytes]
    also: frozenset[bytes]
    starts: tuple[tuple[bytes, str], ...]  # (cue word, the word as written) pairs
    pattern: re.Pattern[str]

    def opens(self, words: frozenset[bytes]) -> bool:
        if self.also and self.also.isdisjoint(words):
            return False
        return not self.words.isdisjoint(words)

    def search(self, folded: str, words: frozenset[bytes]) -> re.Match[str] | None:
        if not self.starts:
            return self.pattern.search(folded)
        for cue, start in self.starts:
            if cue in words:
                for at in _word_starts(folded, start):
                    match = self.pattern.match(folded, at)
                    if match:
                        return match
        return None


def _word_starts(folded: str, word: str) -> Iterator[int]:
    """Where `word` begins a word of the folded text."""
    at = folded.find(word)
    while at >= 0:
        if at == 0 or not folded[at - 1].isalnum():
            yield at
        at = folded.find(word, at + 1)


@dataclass(frozen=True, slots=True)
class WordingRule:
    """One way of wording a statutory request or a safeguarding concern."""

    name: str
    says: str  # what the wording does, to follow "it": "asks for ... held about them"
    branches: tuple[Branch, ...]

    def search(self, folded: str, words: frozenset[bytes]) -> re.Match[str] | None:
        for branch in self.branches:
            if branch.opens(words):
                match = branch.search(folded, words)
                if match:
                    return match
        return None

    def hit(self, folded: str, words: frozenset[bytes]) -> WordingHit | None:
        match = self.search(folded, words)
        return WordingHit(self.name, self.says, _quote(match)) if match else None


@dataclass(frozen=True, slots=True)
class SignsRule:
    """A concern that no one phrase shows but signs of several kinds together do.

    Giving a pet away is ordinary mail, and so is "I won't need the flat after this weekend";
    together they read like a farewell. Each sign is a `WordingRule` whose `says` names the
    kind of sign in plain words; the rule matches when signs of at least `needs` kinds are
    seen, one of them `must` (the person at risk, say) when that is given, and none of the
    `unless` branches (an ordinary reason for the same words, such as moving house) matches.
    A hit quotes every sign seen, so a person sees why.
    """

    name: str
    says: str
    signs: tuple[WordingRule, ...]
    needs: int
    must: str = ""
    unless: tuple[Branch, ...] = ()

    @property
    def branches(self) -> tuple[Branch, ...]:
        """Every branch of every sign and of `unless`, for the gate checks."""
        return (*(b for sign in self.signs for b in sign.branches), *self.unless)

    def hit(self, folded: str, words: frozenset[bytes]) -> WordingHit | None:
        seen = [(sign, match) for sign in self.signs if (match := sign.search(folded, words))]
        if len(seen) < self.needs:
            return None
        if self.must and all(sign.name != self.must for sign, _ in seen):
            return None
        if any(b.opens(words) and b.search(folded, words) for b in self.unless):
            return None
        quoted = tuple((sign.says, _quote(match)) for sign, match in seen)
        return WordingHit(self.name, self.says, quoted[0][1], quoted)


@dataclass(frozen=True, slots=True)
class WordingHit:
    """A rule that matched, and the words it matched (for a rule of signs, each sign's)."""

    rule: str
    says: str
    words: str
    signs: tuple[tuple[str, str], ...] = ()  # (the kind of sign, its words)

    @property
    def because(self) -> str:
        if self.signs:
            return self.says + ": " + "; ".join(f"{kind} ('{words}')" for kind, words in self.signs)
        return f"{self.says} ('{self.words}')"


def _quote(match: re.Match[str]) -> str:
    return match.group(0)[:_QUOTE_LIMIT].strip()


# The words quoted in a reason: enough to see why, not the whole message.
_QUOTE_LIMIT = 80


def _when(cues: str, *pattern: str, also: str = "", starts: str = "") -> Branch:
    """A branch: its gate's cue words, then its expression (in pieces, joined)."""
    words = frozenset(word.encode("ascii") for word in cues.split())
    needed = frozenset(word.encode("ascii") for word in also.split())
    # A start word's cue is its first run of letters: "don't" is looked up as "don".
    first = tuple((re.split(r"[^a-z0-9]", w)[0].encode("ascii"), w) for w in starts.split())
    return Branch(words, needed, first, re.compile("".join(pattern)))


# "I'll shoot you an email", "hit you up with a message": the office idioms that follow.
_NOT_A_MESSAGE = r"(?! (?:an?|the) (?:quick )?(?:e-?mail|message|text|line|note|update|reply))"


def _rule(name: str, says: str, *branches: Branch) -> WordingRule:
    return WordingRule(name, says, branches)


def _any(words: str) -> str:
    """An alternation of space-separated words ('_' stands for a space inside one)."""
    return "(?:" + "|".join(w.replace("_", " ") for w in words.split()) + ")"


# A few words of filler between the parts of a phrase ("send me [a copy of] the minutes").
_GAP = r"(?: [\w'/£-]+){0,4}?"

# --- statutory: FOI, EIR, UK GDPR data rights, reviews and ICO complaints -------------------

_DOCUMENT_WORDS = (
    "minutes agenda agendas record records emails mails correspondence report reports notes "
    "document documents documentation contract contracts policy policies assessment "
    "assessments survey surveys invoice invoices business audit figures data statistics "
    "stats breakdown register budget budgets spending expenditure salaries spreadsheet "
    "spreadsheets recording recordings footage communications memo memos briefing briefings "
    "specification specifications tender tenders bid bids inspection results readings log "
    "logs transcript transcripts names list letters messages"
)
_DOCUMENT = _any(
    "minutes agendas? agenda_papers records? e-?mails correspondence reports? notes documents? "
    "documentation contracts? polic(?:y|ies) risk_assessments? assessments? surveys? invoices? "
    "business_case audit figures data statistics stats breakdown register budgets? spending "
    "expenditure salaries spreadsheets? recordings? footage communications memos? briefings? "
    "specifications? tenders? bids? inspection results readings logs? transcripts? names_of "
    "lists?_of letters_between messages_between"
)
# Documents a customer routinely asks for again about their own account: business as usual.
_ROUTINE = _any(
    "bill bills form forms letter letters certificate certificates statement statements "
    "permit permits receipt leaflet calendar licence ticket pcn invoice_for_my"
)
_DETERMINER = _any("the a any all every your those these that this its their copies_of copy_of")
_HELD_WORDS = (
    "data information informations infomation imformation informaton info details record records "
    "notes file files email emails mail mails everything anything correspondence documents what "
    "letter letters report reports referral referrals assessment assessments statement statements"
)
_HELD = (
    r"(?<!thanks for )(?<!thank you for )(?:data|informations?|infomation|imformation|informaton|"
    r"info|details|records?|notes|"
    r"files?|e?mails?|everything|anything|correspondence|documents|what|letters?|reports?|"
    r"referrals?|assessments?|statements?)(?: [\w'-]+){0,5}? "
    r"(?:about|on|regarding|concerning|relating to|mentioning|that mention|which mention|for|of) "
)
_FAMILY = "children kids son daughter family husband wife partner mum dad mother father late"

STATUTORY_RULES: tuple[WordingRule, ...] = (
    _rule(
        "names_foi",
        "names the Freedom of Information Act",
        _when("freedom", r"freedom of info"),
        _when("foi foia", r"\bfoia?\b"),
    ),
    _rule(
        "names_eir",
        "names the Environmental Information Regulations",
        _when("environmental", r"environmental information"),
        _when("eir eirs", r"\beirs?\b"),
    ),
    _rule(
        "names_subject_access",
        "names the right of access to personal data",
        _when("subject", r"subject acc?ess\b|data subject\b"),
        _when("sar sars dsar dsars", r"\bd?sars?\b"),
        _when("access", r"right of access\b", also="right"),
        _when("15", r"article 15\b", also="article"),
    ),
    _rule(
        "names_data_protection_law",
        "names data protection law",
        _when("gdpr", r"gdpr\b"),
        _when(
            "protection",
            r"data protection (?:act|law|legislation|rights?|regulations?|officer)|"
            r"rights under (?:the )?data protection",
        ),
        _when("article", r"article (?:1[5-9]|2[0-2])\b"),
        _when("rights", r"my (?:data|information) rights", also="data information"),
    ),
    _rule(
        "names_data_right",
        "names a data protection right",
        _when(
            "rectification erasure forgotten portability automated profiling",
            r"rectification\b|erasure\b|be forgotten\b|portability\b|"
            r"automated (?:decision|processing|profiling)|profiling\b",
        ),
    ),
    _rule(
        "information_commissioner",
        "mentions the Information Commissioner",
        _when("commissioner commissioners", r"information commissioner"),
        _when("ico", r"\bico\b"),
        _when(
            "watchdog regulator",
            r"(?:information|data|privacy|data protection) (?:watchdog|regulator)",
        ),
    ),
    _rule(
        "internal_review",
        "asks for a review of how an information request was answered",
        _when("internal", r"internal review", also="review"),
        _when(
            "review reviewed reviewing reviews",
            r"review(?:ed|ing|s)? (?:of )?(?:the |your )?(?:response|reply|answer|handling|"
            r"refusal)s? (?:to|of|on) (?:my|the)(?: [\w-]+){0,3}? request",
        ),
        _when(
            "held",
            r"(?:information|data|records?|e-?mails) (?:is|are|was|were|isn'?t|aren'?t|wasn'?t|"
            r"weren'?t|isnt|wasnt|arent)(?: not)? held\b",
        ),
    ),
    _rule(
        "information_withheld",
        "challenges information withheld or redacted",
        _when(
            "withhold withholds withholding withheld redact redacted redacting redactions decision",
            r"(?:withh(?:old(?:ing|s)?|eld)|redact(?:ed|ing)?)"
            r"(?: (?:in full|all|most|some|parts? of|part of))? (?:the|this|that|those|these|some|"
            r"all|information|documents?|names?|figures?|details|contract|report|emails?|parts?)\b|"
            r"redactions\b|decision (?:not )?to (?:withhold|refuse|redact)",
            starts="withhold withholds withholding withheld redact redacted redacting redactions "
            "decision",
        ),
    ),
    _rule(
        "personal_data_held",
        "asks for the personal data held about them",
        _when(
            "me myself us",
            _HELD + r"(?:me|myself|us)\b(?! (?:know|back|a call|to|on the|in the|when|if|by)\b)",
            also="about on regarding concerning to mentioning mention for of",
            starts=_HELD_WORDS,
        ),
        _when(
            _FAMILY,
            _HELD + r"my (?:" + _FAMILY.replace(" ", "|").replace("late", r"late \w+") + ")",
            also="about on regarding concerning to mentioning mention for of",
            starts=_HELD_WORDS,
        ),
    ),
    _rule(
        "own_records",
        "asks to see or have their own records",
        _when(
            "data information record records file files notes history",
            r"(?:see|copy|copies|send|sent|give|provide|access|view|have|get|want|need|like|"
            r"request|requesting|asked for)(?: me)?(?: [\w'-]+){0,3}? my (?:own |whole |full |"
            r"personal |social care |housing |case |council tax |medical |care |account )*"
            r"(?:data\b(?! (?:allowance|plan|usage|bundle)\b)|information|records?|files?|notes|"
            r"case notes|history)",
            also="my",
            starts="see copy copies send sent give provide access view have get want need like "
            "request requesting asked",
        ),
        _when(
            "recording recordings cctv footage photo photos image images video",
            r"recordings? of (?:my|me|that|the|our)(?: \w+)? (?:phone |telephone )?calls?|"
            r"(?:cctv|footage|recordings?|photos?|images?|video) of me\b",
            starts="recording recordings cctv footage photo photos image images video",
        ),
        _when(
            "looked accessed viewed read seen",
            r"(?:who|officers?|staff|people|anyone) (?:has |have )?(?:looked at|accessed|viewed|"
            r"read|seen) my (?:file|records?|data|information|details|case)",
            also="my",
            starts="who officer officers staff people anyone",
        ),
        _when(
            "shared passed given sent disclosed",
            r"(?:who|whom|which \w+) (?:have you|has the council|you have|the council has|did "
            r"you) (?:shared|passed|given|sent|disclosed)",
            also="who whom which",
            starts="who whom which",
        ),
    ),
    _rule(
        "recorded_information",
        "asks for recorded information the council holds",
        _when(
            _DOCUMENT_WORDS,
            r"(?:send|sent|provide|supply|forward|give|email|disclose|release|publish|share|see|"
            r"copy|copies|obtain|ask|asked|asking|request|requesting|like|want|need|"
            r"let me have|can i have|could i have|may i have|can i get|could i get|can i see|"
            r"could i see)(?! you\b)(?: me| over| us)?",
            _GAP,
            " ",
            _DETERMINER,
            r"(?: [\w'/-]+){0,3}? (?<!\bto )",  # "a link to report" is no report
            _DOCUMENT,
            r"\b(?! (?:on|for) how to\b| (?:number|reference|ref|form|line|button|page|link|tool|"
            r"id)\b| of (?:my|our)\b)",
            starts="send sent provide supply forward give email disclose release publish share "
            "see copy copies obtain ask asked asking request requesting like want need let can "
            "could may",
        ),
        # a copy of anything but a routine document, said with what it is about
        _when(
            "copy copies",
            r"cop(?:y|ies) of (?:the|all|any|your|those|these|each|every)"
            r"(?: (?!" + _ROUTINE + r"\b)[\w'/-]+){1,4}? (?:between|about|relating|regarding|"
            r"concerning|from|of|with|sent|on|for|that|which|used|i (?:have )?(?:made|sent|"
            r"written|wrote|submitted)|you (?:have )?(?:sent|written|wrote|hold|made|kept))\b",
            also="of",
            starts="copy copies",
        ),
    ),
    _rule(
        "council_policy",
        "asks what the council's policy or procedure is",
        _when(
            "policy policies procedure procedures criteria guidance",
            r"(?:what|which)(?: (?:is|are|was|were))? (?:the|your|the council'?s|the councils|its) "
            r"(?:current |written |official )?(?:policy|policies|procedures?|criteria|guidance)"
            r"(?: (?:is|are|was|were))? (?:on|for|about|regarding|when|towards)\b",
            also="what which",
            starts="what which",
        ),
    ),
    _rule(
        "information_request",
        "asks for information the council holds",
        _when(
            "information info",
            r"(?:request|requesting|requested|asking for|ask for|seeking|seek|disclose|release)"
            r"(?: [\w'-]+){0,3}? (?:information|info)\b(?! (?:on|about) how\b)|"
            r"information request|request for information|following information",
            starts="request requesting requested asking ask seeking seek disclose release "
            "information following",
        ),
    ),
    _rule(
        "council_figures",
        "asks for figures about the council's work",
        # "how many/much" unless it is about the sender (their account, what they may have,
        # how long their case takes) or today's price of something
        _when(
            "many much",
            r"how (?:many|much)\b"
            r"(?!(?: [\w'-]+){0,6}? (?:i|i'm|im|we|we're|my|our|me|us)\b)"
            r"(?! (?:more|longer|is|are|does|do|will|would) )"
            r"(?!(?: [\w'-]+){0,6}? (?:are there|is there|costs)\b)"
            r"(?!(?: [\w'-]+){0,6}? (?:will|would|does|do|should)(?: [\w'-]+){0,3}? "
            r"(?:cost|take)\b)",
            also="how",
        ),
        _when(
            "number figure figures amount cost costs spend value sum",
            r"(?:provide|tell me|ask for|know|disclose|give me|confirm|request(?:ing|ed)?|"
            r"what (?:was|were)) (?:\w+ ){0,2}?the (?:council'?s |councils' )?(?:total |annual |"
            r"overall |full |exact )?(?:(?:number|figures?) of|(?:amount|cost|costs|spend|value|"
            r"sum) (?:of|for|spent|paid|to|on))\b(?! (?:a|an|one|my|replacing my)\b)",
            also="of for spent paid to on",
            starts="provide tell ask know disclose give confirm request requesting requested what",
        ),
        _when(
            "total annual overall spent paid",
            r"what (?:is|are) the (?:total|annual|overall) (?:number|amount|cost|costs|spend|"
            r"value)|(?:money|amount|sum|total) (?:the council )?(?:spent|paid)",
            starts="what money amount sum total",
        ),
        _when(
            "spend spent pay paid cost",
            r"(?:what|how much) (?:did |has |have |does |do )?(?:the council|you|your \w+) "
            r"(?:spend|spent|pay|paid)\b|"
            r"(?:what|how much) (?:did|has|have) (?:the|your|this|that)(?: [\w'-]+){0,4}? cost\b",
            also="what how",
            starts="what how",
        ),
    ),
    _rule(
        "correct_records",
        "asks for their records to be corrected (rectification)",
        _when(
            "correct amend rectify right",
            r"(?:correct|amend|rectify|put right)(?: [\w'-]+){0,2}? (?:my|the) "
            r"(?:records?|file|data|personal (?:data|information)|information (?:you|the council) "
            r"(?:hold|have)|case notes|notes?(?: on my (?:file|record))?)\b",
            starts="correct amend rectify put",
        ),
        _when(
            "amended corrected rectified right",
            r"(?:my|the) (?:records?|file|data|information|notes?)(?: [\w'-]+){0,3}? (?:amended|"
            r"corrected|rectified|put right)|(?:put right|corrected|amended) (?:on|in) my "
            r"(?:records?|file)",
            starts="my the put corrected amended",
        ),
        _when(
            "lies false untrue inaccurate error errors mistake mistakes inaccuracy inaccuracies "
            "wrong",
            r"(?:lies|false (?:statements?|information|allegations?)|untrue (?:statements?|"
            r"things)|inaccurate (?:information|statements?)) about me\b|"
            r"(?:errors?|mistakes?|inaccurac(?:y|ies)|wrong information) (?:in|on) my (?:care "
            r"plan|records?|file|assessment|notes|case notes|details|data)",
            starts="lies false untrue inaccurate errors error mistakes mistake inaccuracy "
            "inaccuracies wrong",
        ),
        _when(
            "wrong inaccurate incorrect untrue false true lie lies misleading dispute",
            r"(?:(?:your|the|my) (?:records?|file|case notes|notes?)(?: about me| on me)?|"
            r"(?:information|data|records?) (?:about me|on me|you hold|you have)"
            r"(?: about me| on me)?) (?:is|are|was|were|say|says|state|states|describe|describes|"
            r"claim|claims|call|calls)(?: [\w'.,-]+){0,12}? (?:wrong|inaccurate|incorrect|untrue|"
            r"false|not true|a lie|lies|misleading|dispute)\b",
            also="record records file note notes information data",
            starts="your the my information data records record",
        ),
        _when(
            "wrong wrongly incorrect inaccurate mistake error right untrue misspelt misspelled",
            r"(?:fix|change|correct|amend|update|sort out|put right)(?: [\w'-]+){0,5}? (?:on|in) "
            r"(?:my|your|the) (?:records?|file|system|systems|database)\b[^.!?]{0,40}?\b(?:wrong|"
            r"incorrect|inaccurate|a mistake|an error|not right|untrue)\b|"
            r"(?:my|the) (?:date of birth|name|surname|gender|title|nationality) "
            r"(?:is|was|has been) (?:wrong|incorrect|recorded wrongly|spelt wrong|"
            r"spelled wrong|misspelt|misspelled) "
            r"(?:on|in) (?:my|your|the) (?:records?|file|system|systems|database|account)\b",
            starts="fix change correct amend update sort put my the",
        ),
        _when(
            "record file",
            r"(?:statement|comments?|account|version)(?: [\w'-]+){0,3}? (?:added to|put on|"
            r"placed on|included (?:in|on)) (?:the|my) (?:record|file)",
            starts="statement comments comment account version",
        ),
    ),
    _rule(
        "erase_data",
        "asks for their personal data to be deleted (erasure)",
        _when(
            "delete erase remove wipe destroy purge",
            r"(?:delete|erase|remove|wipe|destroy|purge)(?: (?:all|every|any|of|everything))*"
            r"(?: (?:my|the|your))? (?:personal )?(?:data|information|info|details|records?|"
            r"record you|everything you|me from (?:your|the|all) (?:database|systems?|records|"
            r"mailing lists?|marketing|contact lists?))\b",
            starts="delete erase remove wipe destroy purge",
        ),
        _when(
            "deleted erased removed wiped destroyed",
            r"(?:data|information|details|records?) (?:to be )?(?:deleted|erased|removed|wiped|"
            r"destroyed)",
            starts="data information details records record",
        ),
        _when(
            "system systems database records files computer computers",
            r"my (?:name|details|data|information|records?|personal \w+|number|phone number|"
            r"e-?mail(?: address)?|address)(?: and (?:my )?\w+)? (?:off|out of|from) (?:your|the|"
            r"all|all of your) (?:systems?|database|records|files|computers?)",
            also="my",
            starts="my",
        ),
    ),
    _rule(
        "restrict_or_object",
        "objects to, or asks to limit, the use of their personal data",
        _when(
            "stop cease restrict limit suspend",
            r"(?:stop|cease|restrict|limit|suspend)(?: [\w'-]+){0,2}? (?:the )?(?:processing|"
            r"using|use|sharing|holding|keeping|storing|passing on)(?: of)? "
            r"(?:my|our|that|this|the) (?:personal )?(?:data|information|details|"
            r"e-?mail address|address|phone number)",
            also="data information details email mail address phone",
            starts="stop cease restrict limit suspend",
        ),
        _when(
            "restriction",
            r"restriction of (?:the )?(?:processing|use)(?: of)?(?: (?:my|our|the))? "
            r"(?:personal )?(?:data|information|details)",
            also="processing use",
            starts="restriction",
        ),
        _when(
            "data information details",
            r"(?:do not|don'?t|dont|never) (?:share|pass(?: on)?|disclose|give(?: out)?|sell|"
            r"send) my (?:personal )?(?:data|information|details)",
            also="my",
            starts="do don dont never",
        ),
        _when(
            "passed shared given sold sent disclosed handed",
            r"(?:don'?t|do not|dont|never) (?:want|wanted|agreed?|consented?|gave (?:you )?"
            r"(?:permission|consent))(?: [\w'-]+){0,4}? my (?:personal )?"
            r"(?:data|information|details) (?:being |to be )?"
            r"(?:passed|shared|given|sold|sent|disclosed|handed)",
            also="my",
            starts="don dont do never",
        ),
        _when(
            "object objects objecting objected",
            r"object(?:s|ing|ed)? to(?: [\w'-]+){0,3}? (?:processing|using|use|sharing|share|"
            r"holding|keeping|passing|storing)(?: of)? (?:my|our)\b",
            starts="object objects objecting objected",
        ),
        _when(
            "permission consent agree want",
            r"(?:do not|don'?t|dont|never) (?:have my (?:permission|consent) to|consent to|"
            r"agree to|want you to)(?: [\w'-]+){0,2}? (?:share|sharing|use|using|process|"
            r"processing|pass|passing|hold|holding|keep|keeping|my (?:personal )?(?:data|"
            r"information|details))",
            starts="do don dont never",
        ),
        _when(
            "processed shared used passed",
            r"(?:data|information|details) (?:being|to be) (?:processed|shared|used|passed)",
            also="being be",
            starts="data information details",
        ),
        _when(
            "restricted stopped limited suspended",
            r"(?:use|processing) of my (?:personal )?(?:data|information) (?:restricted|stopped|"
            r"limited|suspended)",
            starts="use processing",
        ),
        _when(
            "marketing",
            r"(?:stop|object to|unsubscribe from|opt out of)(?: [\w'-]+){0,3}? marketing",
            starts="stop object unsubscribe opt",
        ),
    ),
    _rule(
        "data_portability",
        "asks for their data in a portable form (portability)",
        _when(
            "machine transfer port move csv portable spreadsheet",
            r"machine[- ]readable|(?:transfer|port|move) (?:all )?my (?:personal )?(?:data|"
            r"information|records)|my (?:personal |account )?data (?:in|as) (?:a )?(?:csv|"
            r"machine|portable|spreadsheet)",
            starts="machine transfer port move my",
        ),
    ),
)

# --- safeguarding: harm to self or others, threats to staff, people at risk ----------------

_PERSON = (
    r"(?:him|her|them|you|u|ya|someone|somebody|anyone|everyone|the lot of you|all of you|"
    r"one of (?:you|your \w+|them)|"
    # staff or anyone, perhaps with one word more: "the next housing officer"
    r"(?:the|that|this|your|a|any|the next|the first|every|each)(?: \w+)? (?:people|person|"
    r"man|woman|family|neighbours?|kids|children|officers?|staff|manager|bloke|guy|lad|"
    r"workers?|member of staff|councillors?|executive|director|receptionist|clerk|warden|"
    r"inspector|surveyor|one)|"
    r"his|their|your|my (?:ex|neighbour|baby|child|kids|children|son|daughter|partner|"
    r"husband|wife))\b"
)
# "I'll", "I'm going to" and the like, and the cue words they leave ("I'll" gives "ll").
_WILL = (
    r"(?:i'?ll|ill|i will|i shall|i'?m going to|im going to|i am going to|i'?m gonna|im gonna|"
    r"i swear i'?ll|i want to|i'?d like to|he'?s going to|she'?s going to|going to|gonna|will)"
)
_WILL_WORDS = "ll ill will shall going gonna want like"
# What someone does to themselves, "... myself".
_TO_MYSELF = (
    "kill killing hang hanging hurt hurting harm harming cut cutting drown drowning poison "
    "poisoning starve starving burn burning shoot shooting stab stabbing strangle strangling "
    "top topping off offing"
)
_HARM_WORDS = (
    "kill murder stab shoot batter beat strangle knife glass hurt harm attack punch hit thump "
    "kick slap headbutt"
)
_CHILD_WORDS = (
    "child children childs kid kids baby babies toddler toddlers infant infants son sons "
    "daughter daughters boy boys girl girls grandson grandsons granddaughter granddaughters "
    "grandchild grandchildren niece nieces nephew nephews teenager teenagers teen teens pupil "
    "pupils"
)
_CHILD = "(?:" + "|".join(_CHILD_WORDS.split()) + r"|little ones?|year old|yr old)"
_CHILD_CONCERN = (
    r"(?:left (?:alone|on (?:their|his|her) own|unattended|by (?:themselves|himself|herself))|"
    r"home alone|alone in the (?:house|flat|home)|on (?:his|her|their) own|unsupervised|"
    r"(?:haven'?t|hasn'?t|not|never|aren'?t|isn'?t|don'?t get)(?: been| being)? fed\b|"
    r"(?:always )?hungry\b(?! for)|starving|no food|filthy|unwashed|no coats?|"
    r"bruis(?:e|es|ed|ing)|"
    r"injur(?:y|ies|ed|ing)\b(?! (?:on|by|at|in|when|while|playing|falling|tripping)\b)|"
    r"marks on|burns on|neglect(?:ed|ing|ful)?\b|abus(?:e|es|ed|ing|ive)\b|"
    r"(?:hits?|hitting|beats?|beating|beaten|smacks?|smacked|punch(?:es|ed|ing)?|"
    r"kick(?:s|ed|ing)?|slap(?:s|ped|ping)?|hurts?|hurting) (?:him|her|them|the (?:kids|"
    r"children|baby))\b(?! (?:knee|leg|arm|head|back|foot|ankle|wrist|hand|finger|shoulder|"
    r"neck|face|toe|elbow|hip)s?\b)|"
    r"(?:being|been|was|were|gets?|got|getting) (?:hit|beaten|smacked|punched|kicked|slapped|"
    r"hurt|abused|assaulted|attacked|battered)\b"
    r"(?! (?:on|at|in|playing|falling|tripping|by (?:a|the|that|those))\b)|"
    r"scared to go home|frightened to go home|afraid to go home|not safe (?:at|in) (?:home|"
    r"the house|the flat)|"
    r"locks? (?:them|him|her) in|locked in|out (?:on the streets? )?(?:till|until) "
    r"(?:midnight|late|\d)|wandering|cries for hours|crying for hours|nobody comes|"
    r"groom(?:ed|ing)?\b|exploit(?:ed|ing|ation)?\b|sexual(?:ly)?\b|carry(?:ing)? drugs|"
    r"giv(?:e|es|ing|en) (?:them|him|her) (?:alcohol|drugs|drink|cannabis|weed|vapes?)|"
    r"shouts? at|screams? at|"
    r"(?:staying|stays|sleeping|sleeps|going off|goes off|hanging around|hangs around|living|"
    r"lives|spends? (?:the )?nights?) with (?:an? )?(?:older )?(?:men|man|lads|adults|guy|bloke)|"
    r"(?:man|men|guy|bloke) in (?:his|their) (?:twenties|thirties|forties|fifties|[2-5]0s)|"
    r"(?:same|dirty|filthy|soiled|smelly) clothes|"
    r"(?:asks?|asking|asked|begs?|begging|begged)(?: \w+){0,3}? for food|"
    r"eat(?:s|ing)? (?:out of|from) (?:the )?bins?|"
    r"(?:very|so|really|painfully|worryingly) (?:thin|skinny|underweight)\b|"
    r"(?:won'?t|doesn'?t|does not|will not|refuses to|never) come home|"
    r"(?:keeps|been|is|are|started) going missing|goes missing for|missing from home|"
    r"comes? (?:back|home) with (?:expensive|new) (?:things|stuff|phones?|clothes|trainers|"
    r"gifts)|(?:drag(?:s|ged|ging)?|grab(?:s|bed|bing)?|pull(?:s|ed|ing)?) (?:him|her|them) by "
    r"the (?:hair|throat|neck|arm))"
)
_ADULT_WORDS = (
    "mum mums mother mothers mam dad dads father fathers nan nans nana nanna gran granny "
    "grandma grandad granddad grandpa grandfather grandmother grandparents aunt auntie uncle "
    "brother brothers sister sisters neighbour neighbours elderly pensioner pensioners "
    "vulnerable disabled lady gentleman"
)
_ADULT = "(?:" + "|".join(_ADULT_WORDS.split()) + r"|old (?:man|lady|woman|gentleman|couple))"
_ADULT_CONCERN = (
    r"(?:(?:hasn'?t|has not|haven'?t|not) been seen\b(?! by)|no food\b(?! (?:waste|caddy|bin)\b)|"
    r"not eating|living in (?:filth|squalor)|(?:left )?in (?:soiled|dirty|wet) (?:sheets|"
    r"clothes|bedding|pads)|neglect(?:ed|ing|ful)?\b|wandering|bruis(?:e|es|ed|ing)|"
    r"push(?:es|ed|ing)? (?:her|him) around|rough with|exploit(?:ed|ing|ation)?\b|"
    r"taking (?:his|her|their) (?:money|benefits|pension|cards?)|not (?:feeding|washing)|"
    r"shouts? at (?:him|her)|screams? at (?:him|her)|locks? (?:him|her|them) in|locked in|"
    r"(?:hits?|hitting|slaps?|slapping) (?:him|her)\b|steal(?:s|ing)? from (?:him|her))"
)
# Who abuses: he or she, a partner or ex (anyone's: "her sister's husband" matches from
# "husband"), or a close relative of theirs.
_ABUSER = (
    r"(?:he|she|(?:(?:my|her|his|their) )?(?:partner|husband|wife|boyfriend|"
    r"girlfriend|ex|ex-partner|ex-husband|ex-wife|ex partner|stepdad|step-dad|fiance|fiancee)|"
    r"(?:my|his|her|their) (?:dad|father|mum|mother|son|brother))"
)
_ABUSER_WORDS = (
    "he she partner husband wife boyfriend girlfriend ex stepdad step fiance fiancee dad "
    "father mum mother son brother"
)
_ABUSE_WORDS = (
    "hits hit hitting beats beat beating punch punches punched punching kick kicks kicked "
    "kicking slap slaps slapped slapping strangle strangles strangled strangling choke chokes "
    "choked choking push pushes pushed pushing shove shoves shoved shoving threw throws rape "
    "rapes raped raping assault assaults assaulted assaulting attack attacks attacked "
    "attacking batter batters battered battering threaten threatens threatened threatening "
    "abuse abuses abused abusing bit bites burn burns burnt burned hurt hurts hurting kill "
    "stab find"
)
_ABUSE = "(?:" + "|".join(_ABUSE_WORDS.split()) + ")"
# Threatened with the council's or a landlord's own remedies: a dispute, not abuse.
_LEGAL_THREAT = (
    r"(?! with (?:court|bailiffs|eviction|legal|enforcement|prosecution|a fine|fines|the police|"
    r"the ombudsman)\b)"
)

SAFEGUARDING_RULES: tuple[WordingRule | SignsRule, ...] = (
    _rule(
        "self_harm_words",
        "mentions suicide, self-harm or an overdose",
        _when("suicide suicides suicidal suicidally", r"suicid(?:e|es|al|ally)\b"),
        _when(
            "self selfharm selfharms selfharmed selfharming selfharmer",
            r"self[- ]?harm(?:s|ed|ing|er)?\b",
        ),
        _when("overdose overdoses overdosed overdosing", r"overdos(?:e|es|ed|ing)\b"),
        _when("od", r"\bod'd\b"),  # "odd" is not an overdose
        _when(
            "myself self",
            # "I hurt myself on the broken paving" is a claim, not harm
            _any(_TO_MYSELF) + r" (?:my ?self|me self)\b(?! (?:on|when|while|falling|tripping|"
            r"slipping|at|laughing|in)\b)|do (?:my ?self|me self) in\b",
            starts=_TO_MYSELF + " do",
        ),
        _when("wrist wrists", r"(?:cut|cutting|slit|slitting|slash|slashing) (?:my|me) wrists?"),
    ),
    _rule(
        "ending_life",
        "talks about ending their life",
        _when("life", r"(?:end|ending|ended|take|taking|took) (?:my|me) (?:own )?life"),
        _when(
            "it things everything suffering",
            r"end(?:ing|s)? (?:it all|it tonight|it now|it today|it soon|things|everything|"
            r"my suffering)\b|end(?:ing)? it(?:[.!]|$)",
            also="end ending ends",
            starts="end ending ends",
        ),
    ),
    _rule(
        "wants_to_die",
        "says they want to die or not to live",
        _when(
            "die",
            r"(?:want|wanna|wish|wished|ready|prefer|going|like) (?:to )?die\b|rather die",
            starts="want wanna wish wished ready prefer going like rather",
        ),
        _when(
            "dead died born",
            r"wish (?:i|i'd) (?:was|were|had) (?:dead|never been born|died)|better off dead|"
            r"rather be dead",
            starts="wish better rather",
        ),
        _when(
            "live alive here exist wake carry go",
            r"(?:don'?t|do not|dont|no longer|not) (?:want|wish) to (?:live|be alive|be here|"
            r"exist|wake up|carry on|go on)",
            also="want wish",
            starts="don do dont no not",
        ),
        _when(
            "wake",
            r"(?:go to sleep|fall asleep) and (?:not|never) wake up|never wake up",
            starts="go fall never",
        ),
    ),
    _rule(
        "cannot_go_on",
        "says they cannot go on or see no way out",
        _when(
            "go carry keep",
            r"(?:can'?t|cannot|can not|couldn'?t) (?:go on|carry on|keep going)\b"
            r"(?! (?:holiday|the|your|a|an|my|to|line|like this|with|any|waiting|paying|putting|"
            r"online|living like this|the website)\b)",
            starts="can cant cannot couldn couldnt",
        ),
        _when(
            "stop end",
            r"want (?:it all|everything|the pain|all of it|my life) to (?:stop|end)",
            also="want",
            starts="want",
        ),
        _when(
            "way",
            r"(?:don'?t|can'?t|cannot|do not) see (?:a|any) way out|there(?:'s| is) no way out\b"
            r"(?! of\b)",
            also="out",
            starts="don dont can cant cannot do there theres",
        ),
        _when("over", r"my life is over", also="life", starts="my"),
        _when("out", r"i (?:just )?want out\b(?! of\b)", also="want", starts="i"),
        _when("anymore any", r"can'?t do (?:this|it) any ?more\b", also="do", starts="can cant"),
        _when(
            "anymore any",
            r"can'?t take (?:it|this) any ?more\b|can'?t take any ?more(?=[.!?,]|$)",
            also="take",
            starts="can cant",
        ),
        _when(
            "forever never ever good",
            r"want to (?:sleep|disappear|vanish|go away|go to sleep) (?:forever|for ever|for good|"
            r"and never)",
            starts="want",
        ),
    ),
    _rule(
        "nothing_to_live_for",
        "says they have nothing to live for",
        _when(
            "nothing",
            r"nothing (?:left )?to live for|"
            r"nothing (?:left )?for me(?: here| any ?more|$|[.!,])(?! to (?:do|say))",
            starts="nothing",
        ),
        _when(
            "reason point",
            r"(?:no|any|the|what'?s the|whats the) (?:reason|point) (?:to |in |of )?(?:me )?"
            r"(?:living|live|life|carry(?:ing)? on|go(?:ing)? on|keep (?:living|going)|being "
            r"here|being alive|waking up|trying any ?more|anything any ?more)\b"
            r"(?! (?:with|complain\w*|writing|emailing|talking|calling|about)\b)",
            starts="no any the what whats",
        ),
        _when(
            "worth",
            r"not worth living|(?:life|living)(?:'s| is|s) (?:not|no longer) worth",
            starts="not life lifes living livings",
        ),
        _when(
            "life living alive",
            r"(?:done with|had enough of|tired of|sick of|fed up (?:of|with)) (?:the life|life|"
            r"living|being alive|this life|my life)\b(?! (?:like this|here|in this|with)\b)",
            starts="done had tired sick fed",
        ),
    ),
    _rule(
        "better_off_without_them",
        "says others would be better off without them",
        _when(
            "without if",
            r"(?:better off|happier|easier|best|better)(?: for (?:everyone|everybody|them|all))? "
            r"(?:without me|if i (?:just )?(?:disappeared|vanished|was gone|were gone|died|die|"
            r"were to die|ended it|"
            r"wasn'?t (?:here|around|alive)|didn'?t exist))|"
            r"if i (?:was|were|wasn'?t|weren'?t) (?:gone|dead|around)\b|"
            r"if i (?:wasn'?t|weren'?t) here\b(?! (?:to|when|on|at|for)\b)",
            starts="better happier easier best if",
        ),
        _when("burden", r"(?:i'?m|i am|im) (?:just )?(?:a|such a) burden", starts="i im"),
        _when(
            "notice miss care",
            r"(?:nobody|no one|no-one|noone) (?:would|will|'d|'ll)(?: even)? (?:notice|miss me|"
            r"care if i\b)",
            starts="nobody no noone",
        ),
    ),
    _rule(
        "not_here_long",
        "says they will not be here much longer",
        _when(
            "here around alive gone problem bother burden nuisance",
            r"(?:won'?t|will not|wont|not going to) be (?:here|around|alive) (?:much longer|for "
            r"long|long|anymore|any more)|(?:i'?ll|ill|i will) be gone (?:by|before|soon)|"
            r"(?:won'?t|will not|wont) be (?:a|your|such a) (?:problem|bother|burden|nuisance)"
            r"(?: (?:to|for) (?:you|anyone|the council))? (?:much longer|for (?:much )?longer|"
            r"for long)",
            also="be",
            starts="won wont will not i ill",
        ),
        _when(
            "worry deal put",
            r"(?:won'?t|will not|wont) (?:have to |need to )?(?:worry about|deal with|put up with) "
            r"me (?:much longer|for (?:much )?longer|for long|soon|any ?more|after \w+)",
            starts="won wont will not i ill",
        ),
    ),
    _rule(
        "took_tablets",
        "says they have taken or saved up a lot of tablets",
        _when(
            "tablets pills meds medication medicine paracetamol painkillers antidepressants "
            "sleeping insulin",
            r"(?:taken|took|swallowed|take|taking|swallow|downed|had) (?:all|a (?:load|lot|bunch|"
            r"handful|whole \w+)|loads|handfuls?|the whole (?:box|packet|bottle|lot)|every one|"
            r"too many|lots)(?: of)?(?: my| the| of my| these| those)?(?: \w+)? (?:tablets|pills|"
            r"meds|medication|medicine|paracetamol|painkillers|antidepressants|sleeping \w+|"
            r"insulin)|"
            r"(?:pills|tablets|meds|medication) (?:are )?(?:lined up|ready|saved up|stockpiled|"
            r"counted out)|"
            r"(?:sav(?:e|ed|ing) up|stockpil(?:e|ed|ing)|hoard(?:ed|ing)?|collect(?:ed|ing)) "
            r"(?:all )?(?:my )?(?:pills|tablets|meds|medication|painkillers)",
            starts="taken took swallowed take taking swallow downed had pills tablets meds "
            "medication save saved saving stockpile stockpiled stockpiling hoard hoarded hoarding "
            "collect collected collecting",
        ),
    ),
    _rule(
        "a_way_to_die",
        "mentions a way of ending their life",
        _when(
            "bridge train bus lorry park multi multistorey storey building roof cliff balcony "
            "tower motorway flyover",
            r"(?:jump|jumping|throw myself|throwing myself|step|stepping)(?: off| from| in front "
            r"of| under)(?: a| the| this| that)?(?: \w+)? (?:bridge|train|bus|lorry|car park|"
            r"multi-?storey|building|roof|cliff|balcony|tower|motorway|flyover)|"
            r"in front of (?:a|the) (?:train|bus|lorry)",
            starts="jump jumping throw throwing step stepping in",
        ),
        _when(
            "ledge bridge roof railway tracks cliff parapet edge",
            r"(?:standing|stood|sat|sitting) on (?:the|a) (?:ledge|bridge|roof|railway|tracks|"
            r"cliff|parapet|edge of (?:the|a) (?:bridge|roof|cliff|building|platform))",
            starts="standing stood sat sitting",
        ),
        _when(
            "rope noose",
            r"(?:bought|got|have|found|tied|made) (?:a |the |some )?(?:rope|noose)\b"
            r"(?! (?:to|for)\b)",
            starts="bought got have found tied made",
        ),
    ),
    _rule(
        "saying_goodbye",
        "says goodbye as if for the last time",
        _when(
            "goodbye goodbyes farewell suicide",
            r"this is (?:my )?(?:goodbye|farewell)|(?:saying|said|say) (?:my )?goodbyes|"
            r"(?:suicide|goodbye) (?:note|letter)",
            starts="this saying said say suicide goodbye",
        ),
        _when("something", r"do something (?:stupid|silly|drastic)", starts="do"),
        _when(
            "given giving gave",
            r"(?:given|giving|gave) (?:away )?(?:my|all my) (?:cat|dog|pets?|things|belongings|"
            r"possessions|stuff)\b[^.!?]{0,80}?(?:won'?t|will not|wont) need\b",
            starts="given giving gave",
            also="need",
        ),
    ),
    _rule(
        "drastic_hint",
        "hints that something drastic will happen to them or because of them",
        _when(
            "paper papers news",
            r"(?:you'?ll|you will|you'?re going to|they'?ll|everyone will|you all will) (?:all )?"
            r"(?:read|hear|see) (?:all )?about (?:me|it|this) (?:in the (?:paper|papers|news)|on "
            r"the "
            r"news)",
            also="about",
        ),
    ),
    _rule(
        "harm_to_others",
        "threatens to harm someone",
        _when(
            _HARM_WORDS,
            _WILL + r"(?: \w+)? (?:kill|murder|stab|shoot|batter|beat up|strangle|knife|glass|"
            r"hurt|harm|attack|punch|hit|thump|kick|slap|headbutt) " + _PERSON + _NOT_A_MESSAGE,
            starts="i id ill im going gonna will he hes she shes",
            also=_WILL_WORDS,
        ),
        _when(
            "smash",
            _WILL,
            r" smash (?:his|her|their|your) (?:face|head|windows?|car|door|house)|",
            _WILL,
            r" smash(?: [\w'-]+){0,3}? (?:face|head|teeth) in\b",
            starts="i id ill im going gonna will he hes she shes",
            also=_WILL_WORDS,
        ),
        _when("could", r"could (?:really )?(?:hurt|kill|harm) (?:someone|somebody|him|her|them)\b"),
        _when(
            "someone somebody people one",
            r"(?:someone|somebody|people|one of you)(?: at [\w ]{1,20}?)?(?: is| are| will|'s|"
            r"'ll)?(?: going to| gonna| will)? (?:get|end up|be) (?:hurt|killed|dead|injured|"
            r"stabbed|shot)\b(?! (?:on|by|at|in|from) (?:the|that|those|these|this|a)\b| "
            r"(?:tripping|falling)\b)",
            starts="someone somebody people one",
            also="hurt killed dead injured stabbed shot",
        ),
        _when(
            "murder killing stabbing bloodshed burn blow bomb petrol fire torch",
            r"going to be (?:a )?(?:murder|killing|stabbing|bloodshed)|"
            r"burn (?:the|this|your|that|it|their|his|her)(?: \w+)? down|"
            r"(?:blow|bomb)(?: up)? (?:the|your|this|that)(?: \w+)? (?:building|office|place|"
            r"council|town hall|house)|"
            r"petrol (?:through|in|into|on|over)|"
            r"(?:set fire to|torch) (?:the|your|their|his|her) (?:house|home|flat|car|office|"
            r"building|place)",
            starts="going burn blow bomb petrol set torch",
        ),
        _when(
            "ambulance bag bodybag box coffin hearse",
            r"(?:'ll|will|going to|gonna|would|'d) (?:be )?(?:leav(?:e|ing)|go(?:ing)? home|"
            r"end(?:ing)? up|com(?:e|ing) out|carried out|taken (?:out|away)|need(?:ing)?|"
            r"go(?:ing)? out) (?:in )?(?:an ambulance|a body ?bag|a box|a coffin|a hearse)",
            also="ll will going gonna would d",
        ),
        _when(
            "petrol diesel paraffin fluid",
            r"with (?:a |some )?(?:can|canister|jerry ?can|jerrycan|bottle|gallon|container) of "
            r"(?:petrol|diesel|paraffin|lighter fluid)",
            starts="with",
        ),
        _when(
            "hospital ground box safe",
            r"put (?:you|him|her|them) in (?:hospital|the ground|a box)|"
            r"(?:you|they|she|he|family|your \w+) (?:will )?(?:never|won'?t|will not|wont) "
            r"(?:be|feel|feels) safe",
            starts="put you they she he family your",
        ),
        _when(
            "baby child children kid kids son daughter",
            r"(?:thoughts? (?:of|about)|urges? to|want to|going to|might) (?:(?:harm|hurt|kill|"
            r"smother)(?:ing)?|shak(?:e|ing)) (?:my|the) (?:baby|child|children|kids?|son|"
            r"daughter)",
            starts="thoughts thought urges urge want going might",
            also="harm hurt kill smother harming hurting killing smothering shake shaking",
        ),
    ),
    _rule(
        "weapon",
        "mentions having a weapon",
        _when(
            "knife gun machete blade weapon shotgun crossbow axe baseball",
            r"(?:got|have|carry|carrying|bring|brought|bought|has|with) (?:a |my |his |her )?"
            r"(?:knife|gun|machete|blade|weapon|shotgun|crossbow|axe|baseball bat)",
            starts="got have carry carrying bring brought bought has with",
        ),
    ),
    _rule(
        "threat_to_premises",
        "threatens a bomb, a shooting or a fire",
        _when(
            "bomb bombs",
            r"(?:there'?s|there is|i'?ve (?:put|planted|left|hidden)|i have (?:put|planted|left|"
            r"hidden)|(?:i'?ll|i will|i'?m going to|i am going to|i'?m gonna) (?:put|plant|"
            r"leave|send)) an? bomb|bombs? (?:will|is going to|'?ll|is set to) go off|"
            r"(?:i'?ll|i will|going to|gonna) bomb (?:the|your|you|this|that)",
            starts="there theres i ive ill im bomb bombs going gonna",
        ),
        _when(
            "shoot",
            r"(?:i'?ll|i will|i'?m going to|i am going to|i'?m gonna|gonna|going to) shoot "
            r"(?:up )?(?:the|your|you|everyone|every|them|him|her|this|that|staff|people)\b"
            + _NOT_A_MESSAGE,
            starts="i ill im gonna going",
        ),
        _when(
            "fire burn torch",
            r"(?:set fire to|set (?:the|your|this|that) (?:council|office|offices|building|"
            r"house|home|car|place|depot|library|centre|center) on fire|torch (?:the|your) "
            r"(?:council|office|offices|building|place)|burn (?:down )?(?:the|your|this|that) "
            r"(?:council|office|offices|building|house|place|depot|library|centre|center)"
            r"(?: down)?)",
            starts="set torch burn",
        ),
    ),
    _rule(
        "threat_to_staff",
        "threatens staff",
        _when(
            "where",
            r"(?:i know|i knew|i'?ll find out|i will find out|i'?m going to find out|"
            r"i am going to find out|i'?m gonna find out|i found out|i'?ve found out|"
            r"i can find out) where (?:you|u|your(?: \w+){1,2}|he|she|they|that \w+|the \w+) "
            r"(?:lives?|works?|parks?|drinks?|go(?:es)? to|sleeps?)|"
            r"i know where your (?:office|house|home|car|kids|children|family)",
            also="know knew find found",
            starts="i ill im ive",
        ),
        _when(
            "office desk room floor building",
            r"i know (?:exactly )?(?:which|what|where) (?:office|desk|room|floor|building)"
            r"(?: \w+){0,3}? (?:you|he|she|they|your \w+)(?: all)? (?:sit|sits|work|works|are|is)",
            also="know",
            starts="i",
        ),
        _when(
            "which what when",
            r"i know (?:which|what) (?:school|car|house|street|road|gym|pub|bus|train)"
            r"(?: \w+){0,3}? (?:your|you) (?:kids|children|drive|live|go|park)\b|"
            r"i know (?:what time|when) you (?:leave|finish|get home|go home|get off|clock off|"
            r"knock off)",
            also="know",
            starts="i",
        ),
        _when(
            "waiting",
            r"(?:i'?ll|ill|i will|i am|i'?m|we'?ll|we will) be waiting(?: for (?:you|her|him|"
            r"them))? (?:outside|in the car ?park|at your|by your|after work)\b"
            r"(?!(?: [\w'-]+){0,8}? (?:for (?:the|my|our|a|an) \w+|as agreed|as arranged))|"
            r"waiting for (?:you|her|him|them) (?:outside|in the car ?park|after work|when (?:you|"
            r"she|he|they) (?:finish|leave|come out))|"
            r"(?:in|at|outside) (?:the|your)(?: [\w'-]+){0,3}? waiting for (?:you|her|him|them)\b"
            r"(?! to\b)",
            starts="i ill im we well waiting in at outside",
        ),
        _when(
            "watch sort",
            r"watch your back|"
            r"(?:coming|come|i'?ll|i will)(?: \w+){0,3}? to sort (?:you|him|her|them) out|"
            r"(?:i'?ll|ill|i will|i'?m going to|im going to|i am going to|gonna)"
            r"(?: [\w'-]+){0,10}? sort (?:you|him|her|them) out\b(?! with\b)",
            starts="watch coming come i ill im gonna",
        ),
        _when(
            "find catch hold hands",
            r"when i (?:find|catch|get hold of|get my hands on) (?:you|him|her|them)\b",
            starts="when",
        ),
        _when(
            "you him her",
            r"(?:i'?ll|i will) find (?:you|him|her)\b(?! (?:the|a|an|my|your|some)\b)",
            also="find",
            starts="i ill",
        ),
        _when(
            "show",
            r"(?:better not|dare) show (?:his|her|their|your) face",
            also="face",
            starts="better dare",
        ),
        _when(
            "house home address door family",
            r"(?:come|coming|go|going|turn up|turning up|pay a visit) (?:to|round to|round|at) "
            r"(?:your|his|her|their) (?:house|home|address|door|family)|"
            r"(?:got|have|found|know|found out) (?:your|his|her) (?:home )?address",
            starts="come coming go going turn turning pay got have found know",
            also="your his her their",
        ),
        _when(
            "coming happens",
            r"(?:you'?ll|you will|you'?re going to|he'?ll|she'?ll|they'?ll) get what'?s coming|"
            r"see what happens to (?:you|your|him|her|them)\b",
            starts="you youll youre he hell she shell they theyll see",
        ),
    ),
    _rule(
        "child_at_risk",
        "describes a child at risk",
        # a child's thing ("the kids' play park") is not the child at risk
        _when(
            _CHILD_WORDS + " little year yr",
            _CHILD + r"\b(?!'|s')(?:[^.!?]{0,60}?)\b" + _CHILD_CONCERN,
            starts=_CHILD_WORDS + " little year yr",
        ),
        _when(
            _CHILD_WORDS + " little year yr",
            r"(?:hitting|beating|beats|hits|smacking|smacks|punching|kicking|slapping|hurting|"
            r"abusing|neglecting|starving|shouts at|shouting at|screams at|screaming at) (?:his|"
            r"her|their|the|my|our|them|those|that|a)(?: own)? " + _CHILD + r"\b|"
            r"(?:bruises|bruising|marks|burns|cuts|injuries) (?:all )?(?:on|over) (?:his|her|their|"
            r"the|that|a)(?: \w+)? " + _CHILD + r"\b",
            also="hitting beating beats hits smacking smacks punching kicking slapping hurting "
            "abusing neglecting starving shouts shouting screams screaming bruises bruising marks "
            "burns cuts injuries",
            starts="hitting beating beats hits smacking smacks punching kicking slapping hurting "
            "abusing neglecting starving shouts shouting screams screaming bruises bruising marks "
            "burns cuts injuries",
        ),
        _when(
            "county cuckooing cuckooed scared safe",
            r"county lines|cuckoo(?:ing|ed)\b|scared to go home|"
            r"(?:not|isn'?t|aren'?t|don'?t feel|doesn'?t feel|never feels?) safe (?:at home|in "
            r"(?:my|her|his|their|our) (?:own )?(?:home|house|flat))",
            starts="county cuckooing cuckooed scared not isn isnt aren arent don dont doesn "
            "doesnt never",
        ),
    ),
    _rule(
        "adult_at_risk",
        "describes an adult at risk",
        _when(
            _ADULT_WORDS + " old",
            _ADULT + r"\b(?:[^.!?]{0,60}?)\b" + _ADULT_CONCERN,
            starts=_ADULT_WORDS + " old",
        ),
        _when(
            "financial financially sign found money cash",
            r"financial(?:ly)? (?:abus(?:e|ed|ing)|exploit(?:ed|ing|ation))\b|"
            r"sign over (?:her|his|their) (?:savings|house|home|money)|found wandering|"
            r"taking (?:money|cash) from (?:her|his|their) (?:purse|wallet|account|bank)",
            starts="financial financially sign found taking",
        ),
        _when(
            "carer carers",
            r"carers? (?:haven'?t|hasn'?t|have not|has not|didn'?t|did not|never) (?:turned up|"
            r"come|been|visited)|"
            r"carers? (?:has been |have been |is |are |keeps? )?(?:stealing|steals|taking "
            r"(?:money|things)|hitting|hits|shouting at|rough with|locking)",
            starts="carer carers",
        ),
        _when(
            "milk post mail newspaper newspapers letters paper answering",
            r"(?:milk|post|mail|newspapers?|letters) (?:has been |is |are )?(?:piling up|"
            r"building up|still on the (?:step|doorstep))|hasn'?t (?:collected|taken in|picked "
            r"up) (?:her|his|their) (?:milk|post|mail|paper)|(?:isn'?t|not|hasn'?t been) "
            r"answering (?:the|her|his) door",
            starts="milk post mail newspapers newspaper letters hasn hasnt isn isnt not",
        ),
        _when(
            "nobody noone one",
            r"(?:nobody|no one|no-one|noone) (?:has |have )?(?:checked|been|come|visited|looked "
            r"in) (?:on|to see|round to see) (?:her|him|them)",
            starts="nobody no noone",
        ),
    ),
    _rule(
        "abuse_disclosed",
        "discloses abuse at night or fear of the abuser finding out",
        _when(
            "room bed",
            r"(?:boyfriend|stepdad|step-dad|uncle|dad|father|brother|cousin|man|grandad|granddad|"
            r"lodger|partner|husband|he) (?:\w+ ){0,2}?(?:comes?|came|coming|gets?|got|climbs?) "
            r"(?:in|into|in to) (?:my|our|her|his) (?:room|bed)\b",
        ),
        _when(
            "like touch touches touching touched",
            r"(?:don'?t|do not|dont) like (?:what|the way|it when) (?:he|she) (?:does|did|touches|"
            r"makes me)|touch(?:es|ed|ing)? me (?:where|there|down there|in places|at night)",
            starts="don dont do touch touches touched touching",
        ),
        _when(
            "tell let",
            r"(?:don'?t|do not|dont) (?:tell|let) (?:him|her|my (?:mum|dad|mom|parents|stepdad|"
            r"partner|husband|wife|boyfriend)|them|anyone)(?: know)? (?:that )?i "
            r"(?:wrote|told|emailed|said|messaged|contacted|rang|called)",
            starts="don dont do",
        ),
        _when(
            "broke broken",
            r"(?:he|she|my (?:partner|husband|wife|boyfriend|girlfriend|ex)) (?:has )?"
            r"(?:broke|broken) my (?:jaw|nose|arm|ribs?|wrist|leg|fingers?|cheekbone|teeth|tooth)",
        ),
        _when(
            "terrified scared frightened afraid petrified",
            r"(?:terrified|scared|frightened|afraid|petrified) (?:that )?(?:he|she)(?:'ll|'s going|"
            r" will| is going| might| would)\b",
        ),
    ),
    _rule(
        "domestic_abuse",
        "describes domestic abuse",
        _when(
            _ABUSER_WORDS,
            _ABUSER + r"(?: [\w'-]+){0,3}? " + _ABUSE + r" (?:me|us|my (?:mum|mom|kids|children)|"
            r"the (?:kids|children)|her|him|them)\b(?! (?:a|an|some|another|the|somewhere|"
            r"accommodation|housing|work|to|at)\b)" + _LEGAL_THREAT,
            also=_ABUSE_WORDS,
            starts=_ABUSER_WORDS + " my her his their",
        ),
        _when(
            "threaten threatens threatened threatening hitting hurting beating kicking",
            r"threaten(?:s|ed|ing)? (?:me|my (?:kids|children|family))\b" + _LEGAL_THREAT + "|"
            r"(?:stop|don'?t) (?:hitting|hurting|beating|kicking) me",
            starts="threaten threatens threatened threatening stop don dont",
        ),
        _when(
            "by",
            r"(?:being|been|was|were|is|gets?|got) (?:hit|beaten|punched|kicked|slapped|"
            r"strangled|choked|pushed|raped|assaulted|attacked|battered|abused|threatened|hurt) by "
            r"(?:her|his|my|their) (?:partner|husband|wife|boyfriend|girlfriend|ex|ex-\w+|"
            r"stepdad|dad|father|son|daughter|brother|sister)",
            also="hit beaten punched kicked slapped strangled choked pushed raped assaulted "
            "attacked battered abused threatened hurt",
            starts="being been was were is gets get got",
        ),
        _when(
            "scared frightened afraid terrified fearful",
            r"(?:scared|frightened|afraid|terrified) to go (?:back )?(?:home|to (?:my|our|the) "
            r"(?:house|home|flat))|"
            r"(?:scared|frightened|afraid|terrified|fearful) (?:of|for my life from) (?:my )?"
            r"(?:him|her|partner|husband|wife|boyfriend|girlfriend|ex|ex-\w+|dad|stepdad)\b",
            starts="scared frightened afraid terrified fearful",
        ),
        _when(
            "violent abusive dangerous",
            r"(?:my|her|his|their) (?:partner|husband|wife|boyfriend|girlfriend|ex|stepdad|dad|"
            r"father|son|brother) (?:is|has been|gets|can be|was|becomes?) (?:very |so |really |"
            r"getting )?(?:violent|abusive|dangerous)",
            starts="my her his their",
        ),
        _when(
            "sexual sexually molested molesting rape raped raping rapist",
            r"sexual(?:ly)? assault(?:ed)?|molest(?:ed|ing)\b|"
            r"(?<!oilseed )(?<!seed )\brap(?:e|ed|ing|ist)\b",
        ),
        _when(
            "domestic abuser abusers refuge",
            r"domestic (?:abuse|violence)|\babusers?\b|\brefuge\b",
        ),
        _when(
            "flee fleeing fled escape escaping",
            r"(?:flee|fleeing|fled|escape|escaping) (?:from )?(?:domestic|violence|abuse|my "
            r"(?:partner|husband|wife|ex|boyfriend|girlfriend))",
            starts="flee fleeing fled escape escaping",
        ),
        _when(
            "coercive controlling controls",
            r"coercive control|controlling (?:partner|behaviour|relationship)|"
            r"(?:he|she) controls (?:everything|me|my)",
            starts="coercive controlling he she",
        ),
        _when(
            "he she partner husband wife boyfriend girlfriend ex",
            r"(?:he|she|my (?:partner|husband|wife|boyfriend|girlfriend|ex)) (?:makes me ask for "
            r"money|checks my (?:phone|messages|texts|emails)|tracks (?:me|my phone|my location)|"
            r"monitors (?:me|my phone)|takes my (?:money|phone|bank card|car keys|passport))|"
            r"(?:he|she|my (?:partner|husband|wife|boyfriend|girlfriend|ex)) (?:won'?t|doesn'?t|"
            r"does not|will not|never) let me",
            also="makes checks tracks monitors takes won wont doesn doesnt does will never",
            starts="he she my",
        ),
        _when(
            "allowed",
            r"not allowed (?:out|to go out|to leave|to see (?:my )?(?:friends|family))",
        ),
    ),
    # --- signs of several kinds together: wording no single phrase catches ----------------
    SignsRule(
        "farewell_signs",
        "reads like a farewell",
        (
            _rule(
                "an_end",
                "speaks of an end",
                _when(
                    "need needing",
                    r"(?:won'?t|will not|wont|shan'?t) (?:be )?need(?:ing)? (?:it|them|this|any of "
                    r"(?:it|this|them)|anything|(?:the|my|a|this) \w+)"
                    r"(?: (?:any ?more|again|much longer|for (?:much )?longer|after\b[^.!?]{0,25}|"
                    r"where i'?m going))?(?=[.!?,]|$)",
                    starts="won wont will shan shant",
                ),
                _when(
                    "matter",
                    r"(?:it|that|nothing|none of (?:it|this)) (?:won'?t|will not|wont) matter"
                    r"(?: (?:soon|any ?more|after|by then|then|now))?(?=[.!?,]|$)",
                    starts="it that nothing none",
                ),
                _when(
                    "reads read gets get sees see opens open finds find",
                    r"by the time (?:anyone|anybody|someone|somebody|you|u|they) (?:reads?|gets?|"
                    r"sees?|opens?|finds?) (?:this|it|me)\b",
                    also="time",
                    starts="by",
                ),
                _when(
                    "last",
                    r"(?:the |my )?last thing i(?:'?m| am| will|'ll)? (?:do|doing|ask|asking|write|"
                    r"writing|send|sending|need)\b",
                    starts="the my last",
                ),
                _when(
                    "go gone",
                    r"before i go(?=[.!?,]|$)|(?:after|when|once) i'?m gone\b|"
                    r"(?:after|when|once) i am gone\b|(?:i'?ll|i will) be gone\b",
                    starts="before after when once i ill",
                ),
                _when(
                    "hear",
                    r"(?:won'?t|will not|wont|never) (?:have to )?hear from me (?:again|any ?more)",
                    starts="won wont will never",
                ),
            ),
            _rule(
                "affairs",
                "puts their affairs in order",
                _when(
                    "affairs things stuff belongings will",
                    r"(?:sort(?:ed|ing)?|put(?:ting)?|got|getting|have) (?:out )?(?:all )?(?:of )?"
                    r"my (?:affairs|things|stuff|belongings)(?: \w+){0,2}? "
                    r"(?:out|in order|sorted|straight)\b|"
                    r"(?:sort(?:ed|ing)?) (?:out )?(?:all )?my (?:affairs|belongings)|"
                    r"(?:made|written|wrote|updated|sorted) (?:out )?my will\b",
                    starts="sort sorted sorting put putting got getting have made written wrote "
                    "updated",
                ),
                _when(
                    "letters letter notes note cards card",
                    r"(?:written|wrote|writing|left) (?:a )?(?:letters?|notes?|cards?) (?:to|for) "
                    r"(?:my|the) (?:kids|children|family|son|daughter|mum|dad|wife|husband|partner|"
                    r"parents|sister|brother|friends)",
                    starts="written wrote writing left",
                ),
                _when(
                    "dog cat pet pets furniture things belongings possessions stuff clothes",
                    r"(?:given|giving|gave|give) (?:away )?(?:all )?(?:of )?my (?:dog|cat|pets?|"
                    r"furniture|things|belongings|possessions|stuff|clothes)\b",
                    starts="given giving gave give",
                ),
                _when(
                    "keys",
                    r"(?:left|leaving|put|posted) (?:the|my) keys (?:in|with|under|on|for|through)",
                    starts="left leaving put posted",
                ),
            ),
            _rule(
                "after_them",
                "provides for those left behind",
                _when(
                    "dog cat pet pets kids children son daughter",
                    r"(?:rehome|re-home|find a (?:new |good )?home for) my (?:dog|cat|pets?)|"
                    r"make sure my (?:dog|cat|pets?|kids|children|son|daughter) (?:goes|go|is|are|"
                    r"gets|get|will)",
                    starts="rehome re find make",
                ),
                _when(
                    "after",
                    r"(?:goes|go|is|are|will be|gets?|looked) (?:somewhere|to someone|after|ok|"
                    r"fine|taken care of)(?: \w+){0,2}? after(?=[.!?]|$)",
                    starts="goes go is are will gets get looked",
                ),
                _when(
                    "ok okay fine alright better",
                    r"(?:my (?:children|kids|son|daughter|family)|they) (?:are|will be|'ll be|'re) "
                    r"(?:ok|okay|fine|alright|better off)(?=[.!?,]|$)|"
                    r"so (?:they|my (?:children|kids)) will be (?:ok|okay|fine|alright)",
                    starts="my they so",
                ),
            ),
            _rule(
                "goodbye",
                "says goodbye",
                _when(
                    "goodbye bye farewell",
                    r"(?:^|[.!?,] ?)(?:good ?bye|farewell|bye (?:everyone|all|for ever|forever))"
                    r"(?: (?:everyone|all|then|now|for ever|forever))?[.!]*$",
                ),
                _when(
                    "kind everything",
                    r"(?:was|were|has been|have been|always been|always) (?:always )?(?:so |very )?"
                    r"kind to me|thank(?:s| you)(?: \w+){0,4}? for (?:everything|always being "
                    r"kind)",
                    starts="was were has have always thank thanks",
                ),
                _when(
                    "sorry forgive love loved",
                    r"(?:i'?m )?sorry for everything\b|please forgive me\b|"
                    r"tell (?:my \w+|them|her|him|everyone) (?:that )?i (?:love|loved) (?:them|her|"
                    r"him|you)",
                    starts="i im sorry please tell",
                ),
                _when(
                    "call ring phone contact visit look find",
                    r"please (?:don'?t|do not|dont) (?:try to )?(?:call|ring|phone|contact|visit|"
                    r"look for|find) me(?=[.!?]|$)",
                    starts="please",
                ),
            ),
            _rule(
                "hopeless",
                "sounds hopeless",
                _when(
                    "given give gave",
                    r"(?:i'?ve|i have|i) (?:given|give|gave) up\b(?! (?:smoking|drinking|the car|"
                    r"my (?:car|allotment|tenancy|job)))",
                    starts="i ive",
                ),
                _when(
                    "lose point nothing cope coping enough hope future lost",
                    r"nothing (?:left )?to lose|no point(?: in)?(?: \w+){0,3}? (?:now|any ?more)\b|"
                    r"what'?s the point\b|thanks for nothing\b|(?:can'?t|cannot) cope\b|"
                    r"(?:i'?m|i am) not coping|had enough\b(?! (?:of )?(?:the|your|this|these) "
                    r"(?:bins?|noise|delays?|letters?))|no (?:hope|future) (?:left|for me)\b|"
                    r"lost everything\b",
                    starts="nothing no what whats thanks can cant cannot i im had lost",
                ),
            ),
        ),
        needs=2,
        # the same words from someone moving house or emigrating
        unless=(
            _when(
                "moving moved relocating emigrating downsizing new",
                r"(?:i'?m|we'?re|i am|we are|i'?ve|we'?ve|i have|we have) (?:moving|moved|"
                r"relocating|emigrating|downsizing)\b|moving (?:house|abroad|away|out|in with|"
                r"to)\b|"
                r"(?:my|our) new (?:flat|house|home|address|place|tenancy)",
            ),
        ),
    ),
    SignsRule(
        "veiled_threat",
        "reads like a veiled threat",
        (
            _rule(
                "knows_where",
                "shows knowledge of where someone lives or works",
                _when(
                    "lives live parks park works work drinks drink",
                    r"(?:you|he|she|they|your \w+(?: \w+)?|mr \w+|mrs \w+|ms \w+|miss \w+) "
                    r"(?:lives?|parks?|works?|drinks?) (?:on|at|in|near|round|off) [a-z]+ (?:road|"
                    r"drive|street|close|avenue|lane|way|crescent|grove|gardens|terrace|place|"
                    r"court|"
                    r"estate|rise|hill|view)\b",
                ),
            ),
            _rule(
                "something_will_happen",
                "hints that something will happen",
                _when(
                    "shame pity",
                    r"(?:be|would be|it'?d be|it would be|'?d be) a (?:real )?(?:shame|pity) if "
                    r"(?:anything|something) (?:happened|was to happen|were to happen|happens)",
                    also="if",
                ),
                _when(
                    "happens",
                    r"(?<!wait )(?:and|or|then) see what happens\b",
                    starts="and or then",
                ),
                _when(
                    "accidents regret sorry pay",
                    r"accidents (?:happen|can happen)|(?:you'?ll|you will|he'?ll|she'?ll|they'?ll) "
                    r"(?:regret it|be sorry|pay for (?:this|that|it))(?=[.!?,]|$)",
                    starts="accidents you youll he hell she shell they theyll",
                ),
            ),
            _rule(
                "nothing_to_lose",
                "says they have nothing to lose",
                _when(
                    "lose care",
                    r"nothing (?:left )?to lose|don'?t care what happens to me",
                    starts="nothing don dont",
                ),
            ),
        ),
        needs=2,
    ),
    SignsRule(
        "adult_at_risk_signs",
        "describes an adult who may be at risk",
        (
            _rule(
                "vulnerable",
                "describes someone vulnerable",
                _when(
                    "dementia alzheimer alzheimers learning autism autistic seventies eighties "
                    "nineties 70s 80s 90s elderly frail housebound bedbound bed blind deaf "
                    "disabled wheelchair old pensioner vulnerable supported",
                    r"\b(?:dementia|alzheimer'?s|learning (?:difficult(?:y|ies)|disabilit(?:y|"
                    r"ies))|"
                    r"autism|autistic|in (?:her|his|their) (?:seventies|eighties|nineties|[7-9]0s)|"
                    r"elderly|frail|housebound|bed-?bound|blind|deaf|disabled|wheelchair|"
                    r"old (?:man|lady|woman|gentleman|couple)|pensioner|vulnerable|"
                    r"supported (?:housing|living))\b",
                ),
            ),
            _rule(
                "harmed",
                "describes them being exploited or mistreated",
                _when(
                    "pension benefit benefits money card cards savings pin wages",
                    r"(?:tak(?:e|es|ing|en)|took|steal(?:s|ing)?|stole|spend(?:s|ing)?|control"
                    r"(?:s|ling)?|has) (?:all )?(?:of )?(?:his|her|their) (?:\w+ )?(?:pension|"
                    r"benefits?|money|bank card|cards?|savings|pin|wages)\b",
                    starts="take takes taking taken took steal steals stealing stole spend spends "
                    "spending control controls controlling has",
                ),
                _when(
                    "empty emptied drained cleared",
                    r"account (?:is |has been |was )?(?:nearly |almost )?(?:empty|emptied|drained|"
                    r"cleared out)",
                    also="account",
                    starts="account",
                ),
                _when(
                    "drugs flat house home place sofa floor",
                    r"(?:deal(?:s|ing)?|sell(?:s|ing)?) drugs (?:from|out of|in) (?:his|her|their)"
                    r"(?: own)? (?:place|flat|house|home)|"
                    r"(?:moved|moving) into (?:his|her|their|my neighbour'?s|the) (?:flat|house|"
                    r"home|"
                    r"place)|sleeps? on (?:his|her|their) own (?:sofa|floor)",
                    starts="deal deals dealing sell sells selling moved moving sleep sleeps",
                ),
                _when(
                    "lock locks locked locking shout shouts shouting hit hits hitting slap slaps "
                    "slapping "
                    "push pushes pushed pushing rough",
                    r"lock(?:s|ed|ing)? (?:him|her|them) in\b|shout(?:s|ing)? at (?:him|her)|"
                    r"(?:hits?|hitting|slaps?|slapping|push(?:es|ed|ing)?) (?:him|her)\b|"
                    r"rough with (?:him|her)",
                    starts="lock locks locked locking shout shouts shouting hit hits hitting slap "
                    "slaps slapping push pushes pushed pushing rough",
                ),
            ),
            _rule(
                "not_coping",
                "describes them not coping or afraid",
                _when(
                    "coping thin frail confused rubbish junk smell clothes terrified frightened "
                    "scared petrified crying worried concerned food heating eating",
                    r"(?:isn'?t|is not|aren'?t|are not|not) coping|(?:don'?t|do not) think "
                    r"(?:she|he|they)(?:'s| is| are|'re) coping|(?:very|so|really|painfully) "
                    r"(?:thin|frail|confused)\b|full of (?:rubbish|junk|bags)|the smell is|"
                    r"same clothes|(?:looks?|seems?|is|was|were|are) (?:so |very )?(?:terrified|"
                    r"frightened|scared|petrified)|(?:is|was|left|always) crying\b(?! (?:about|"
                    r"over|because|at)\b)|(?:worried|"
                    r"concerned) (?:for|about) (?:him|her|them)\b|no (?:food|heating)\b|not eating",
                ),
            ),
        ),
        needs=2,
        must="vulnerable",
    ),
    SignsRule(
        "domestic_abuse_signs",
        "describes a partner or ex who may be abusive",
        (
            _rule(
                "partner",
                "names a partner or ex",
                _when(
                    "ex partner husband wife boyfriend girlfriend fiance fiancee stepdad step",
                    r"\b(?:my|her|his|their) (?:ex|ex-\w+|partner|husband|wife|boyfriend|"
                    r"girlfriend|"
                    r"fiance|fiancee|stepdad|step-dad)\b|\bex (?:partner|husband|wife|boyfriend|"
                    r"girlfriend)\b",
                ),
            ),
            _rule(
                "violence",
                "describes violence",
                _when(
                    "kicked smashed punched",
                    r"(?:kicked|smashed|punched) (?:in |down )?(?:the|my|our) (?:front |back )?"
                    r"(?:door|window)s?(?: (?:in|down))?",
                    starts="kicked smashed punched",
                ),
                _when(
                    "way",
                    r"forced (?:his|her|their) way in",
                    also="forced",
                    starts="forced",
                ),
                _when(
                    "pushed threw dragged grabbed pinned strangled choked",
                    r"(?:pushed|threw|dragged|grabbed|pinned|strangled|choked) me\b",
                    starts="pushed threw dragged grabbed pinned strangled choked",
                ),
                _when("black split eye lip", r"black eye|split lip", starts="black split"),
            ),
            _rule(
                "turns_up",
                "describes being followed or turned up on",
                _when(
                    "turning turn showing show",
                    r"(?:keeps?|kept|started|starts|has been|is|been|was|still) (?:turning|"
                    r"showing) up"
                    # turning up at the door or the school, at night, again: not late for a lift
                    r"(?= at (?:my|our|the) (?:house|home|flat|door|school|work|gates?)\b| at night"
                    r"| uninvited| drunk| outside| again|[.!?,]|$)",
                    starts="keep keeps kept started starts has is been was still",
                ),
                _when(
                    "follow follows followed following watches watching stalk stalks stalked "
                    "stalking alone",
                    r"(?:follow(?:s|ed|ing)?|watch(?:es|ing)|stalk(?:s|ed|ing)?) me\b|"
                    r"won'?t leave me alone",
                    starts="follow follows followed following watches watching stalk stalks "
                    "stalked stalking won wont",
                ),
                _when(
                    "whenever",
                    r"(?:comes?|turns? up|lets? (?:him|her)self in)(?: \w+){0,3}? whenever (?:he|"
                    r"she) (?:likes|wants)",
                    starts="come comes turn turns let lets",
                ),
                _when("key keys", r"still (?:has|got|have) (?:a |the )?keys?\b", starts="still"),
            ),
            _rule(
                "protection",
                "mentions police or court protection",
                _when(
                    "told warned ordered away molestation restraining protection occupation "
                    "injunction bail",
                    r"(?:police|court|judge) (?:have |has )?(?:told|warned|ordered) (?:him|her) to|"
                    r"told (?:him|her) to stay away|(?:non-molestation|non molestation|restraining|"
                    r"protection|occupation) order|injunction|bail conditions",
                ),
            ),
            _rule(
                "threat",
                "describes threats or fear",
                _when(
                    "if",
                    r"(?:he|she) (?:has )?(?:told|said|says|threatened|warned)(?: me)?(?: that)? "
                    r"if i\b",
                    also="told said says threatened warned",
                    starts="he she",
                ),
                _when(
                    "again away children kids baby",
                    r"never see (?:them|the (?:children|kids)|my (?:children|kids|baby)) again|"
                    r"(?:take|took) (?:the|my|our) (?:children|kids|baby) (?:away|from me)",
                    starts="never take took",
                ),
                _when(
                    "terrified scared frightened afraid petrified",
                    r"(?:terrified|scared|frightened|afraid|petrified) of (?:him|her)\b",
                    starts="terrified scared frightened afraid petrified",
                ),
            ),
        ),
        needs=2,
        must="partner",
    ),
)

# The cue words of a text are its runs of ASCII letters and digits: anything else, an
# apostrophe or an em dash, parts them ("brother's" gives "brother", "can't" gives "can").
# A bytes table does this at C speed; str.translate with a dict is five times slower.
_CUE_TABLE = bytes(b if chr(b).isascii() and chr(b).isalnum() else 0x20 for b in range(256))


def fold(text: str) -> str:
    """Lower case, one space between words, straight apostrophes: what the rules read."""
    return " ".join(text.lower().replace("\u2019", "'").replace("\u2018", "'").split())


def cue_words(folded: str) -> frozenset[bytes]:
    """The words of folded text that gates look up, as ASCII bytes."""
    return frozenset(folded.encode("utf-8", "replace").translate(_CUE_TABLE).split())


def _first_hit(
    rules: tuple[WordingRule | SignsRule, ...], folded: str, words: frozenset[bytes]
) -> WordingHit | None:
    for rule in rules:
        hit = rule.hit(folded, words)
        if hit:
            return hit
    return None


def statutory_hit(text: str) -> WordingHit | None:
    """The first statutory rule the text matches, with the words it matched."""
    folded = fold(text)
    return _first_hit(STATUTORY_RULES, folded, cue_words(folded))


def safeguarding_hit(text: str) -> WordingHit | None:
    """The first safeguarding rule the text matches, with the words it matched."""
    folded = fold(text)
    return _first_hit(SAFEGUARDING_RULES, folded, cue_words(folded))


def statutory_wording(text: str) -> bool:
    """Whether the text reads as a statutory request (the statutory half of `scan_text`),
    quickly enough to screen every message's opening."""
    return statutory_hit(text) is not None


def scan_text(text: str, *, routed_by: str | None = None) -> ContentHints:
    """Screen a subject and body for statutory-request and safeguarding wording."""
    folded = fold(text)
    words = cue_words(folded)
    statutory = _first_hit(STATUTORY_RULES, folded, words)
    safeguarding = _first_hit(SAFEGUARDING_RULES, folded, words)
    return ContentHints(
        statutory=statutory is not None,
        safeguarding=safeguarding is not None,
        routed_by=routed_by,
        statutory_because=statutory.because if statutory else None,
        safeguarding_because=safeguarding.because if safeguarding else None,
    )
