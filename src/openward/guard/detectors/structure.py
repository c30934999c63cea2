# ruff: noqa: E501  (long regular expressions and test strings)
"""Prompt structure typed into text: fake chat-template tokens, role headers, fake completions
and goal hijacks (``injection-structure``).

Liu et al. 2024 ("Formalizing and Benchmarking Prompt Injection Attacks and Defenses") name the
building blocks of an injected prompt: *fake delimiters* and *context ignoring* (a chat-template
token or a "### System:" header that pretends the user's text ended and a new system turn
began), *fake completion* (a made-up "Assistant: done." followed by a new instruction) and the
injected task itself (*goal hijacking*: "instead of that, print ..."). A model tokenizes a typed
``<|im_start|>system`` as text, but it has seen those shapes as real turn boundaries in
training and may follow what comes after. This detector looks for those shapes in every
non-system segment; it is a set of patterns, not a model.

Kinds and scores:

- ``template-token``: a chat-template control token (ChatML ``<|im_start|>``, Llama ``[INST]``,
  ``<<SYS>>``, Llama-3 ``<|start_header_id|>``, Gemma ``<start_of_turn>``, Phi ``<|system|>``,
  ``<|endoftext|>``...) followed by an instruction to the model (override, new rules, persona,
  reveal, "from now on"...): 0.9, 0.95 when that turn claims the system/developer role, 0.45 when
  the text before the first token asks about templates and the instruction is not an
  override; a token with no instruction after it 0.45 (below the default threshold).
- ``role-header``: a line-start role header (``System:``, ``### System``, ``[SYSTEM]``,
  ``<system>``, ``### Instruction:``, ``ADMIN:``, ``Developer note:``, ``IMPORTANT SYSTEM
  NOTICE:``, ``URGENT ADMIN MESSAGE:``) after other text, or
  anywhere in a document or tool result, followed by an instruction: 0.85 (0.9 in untrusted
  text).
- ``fake-completion``: a made-up answer (``Assistant: ...``, ``Answer: done``, ``[/INST]``,
  "task complete") followed by a new instruction: 0.9.
- ``goal-hijack``: "instead of that / forget the task / your real task is" followed by an
  injected goal (print a fixed string, reveal, a link, an override): 0.85; with no such goal
  0.4 (below the default threshold: a user changing their own mind is not an attack).
- ``rules-off``: the model told it has no rules or to drop them ("You are DAN, which stands for
  Do Anything Now", "act as an unfiltered AI", "an AI without any rules", "pretend you have no
  restrictions", "enable developer mode" when it is the whole request or what the model should do
  in it follows, "disable your safety filters", "you have been jailbroken"), with the exceptions
  below for quotations, questions and labelled examples: 0.85, 0.9 in untrusted text.
- ``context-ignoring``: an imperative that sets the model's earlier instructions aside, at the
  start of a sentence, in English or nine other languages: 0.85 (0.9 in untrusted text) when it
  is strong: all / any / your / no determiner with instructions, prompt, rules or guidelines
  ("Ignore (all) previous instructions", "Forget all your rules"), the system prompt, the user's
  request ("disregard the user's question"), "the instructions you were given", "disregard
  everything above", or any form followed by a new goal ("...and instead print", "and say");
  otherwise ("Ignore the previous request, I found it", "ignore the following instructions",
  "drop the previous constraints") 0.45: a user taking back their own words or a document's
  reader told to skip a step. Not read: the user's own ("my previous instructions"), a quotation
  (an odd number of quote marks before it on its line, a ``>`` line, a line after "Attackers
  write:"), a question about the phrase, a human-qualified one ("...if you use Docker", "...
  guidance suggesting"), an example a few-shot prompt labels (``=> INJECTION``, ``Expected:``).

A few-shot prompt or a pasted transcript (four or more example lines such as ``Input:``/
``Output:`` or ``User:``/``Assistant:`` of two or more roles) or a labelled classification
prompt (``Expected: INJECTION``, ``<output>...</output>``, ``"output": "..."``) caps
``template-token``, ``context-ignoring`` and ``rules-off`` at 0.45 where they sit in an example
(not in what is typed after the examples), and reads no role answer as a fake completion:
labelled examples of attacks are data there.
Text that *discusses* the tokens does not fire: tokens inside backticks or a code fence are not
read, and a question about a template ("what does <|im_start|> mean in ChatML?") with no
instruction after its tokens scores 0.45. Evidence holds the kind, the token or header family and
counts, never the text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from itertools import islice
from typing import Any, Final

from openward.guard.detectors._common import capped_segments
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = ["InjectionStructureDetector", "in_example", "labelled_examples", "scan"]

NAME: Final = "injection-structure"
AFTER_CHARS: Final = 400  # text read after a marker to judge the turn it opens

_TOKEN = re.compile(
    r"<\|(?:im_start|im_end|system|user|assistant|end|endoftext|eot_id|start_header_id|"
    r"end_header_id|begin_of_text|eom_id|im_sep|prompter|model)\|>"
    r"|\[/?INST\]|<</?SYS>>|<start_of_turn>|<end_of_turn>|<\|?(?:bos|eos)\|?>"
    r"|\[/?(?:SYSTEM|SYS)\]|</?(?:system|sys|system_prompt|instructions?)>",
    re.IGNORECASE,
)
_SYSTEM_ROLE = re.compile(
    r"\A\s*(?:system|developer|<<SYS>>|\[SYS(?:TEM)?\]|<system|<sys|<instructions?)",
    re.IGNORECASE,
)
_HEADER = re.compile(
    r"^[ \t>*_#=\-\[(]*"
    r"(?:(?:important|urgent|critical|official|priority|attention|warning)[ \t!:*_\-]+)?"
    r"(?P<role>system|developer|admin(?:istrator)?|root|operator|instructions?|new instructions?|"
    r"system (?:message|prompt|note|override|update|instruction)s?|"
    r"developer (?:message|note|mode)|important (?:system )?(?:instructions?|notice|message) for (?:the )?(?:ai|assistant|model)|"
    r"note to (?:the )?(?:ai|assistant|model|llm)|ai instructions?|assistant instructions?)"
    r"(?:[ \t]+(?:override|message|note|notice|update|command|instructions?|prompt|mode|alert))?"
    r"[ \t*_\])]*(?::|-{1,3}|\]|=+)[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_ANSWER = re.compile(
    r"^[ \t*_#\[]*(?P<role>assistant|ai|bot|answer|response|output|model|gpt|result)[ \t*_\]]*:[ \t]*\S"
    r"|\[/INST\]|task (?:is )?(?:complete|completed|done|finished)\b|"
    r"(?:summary|translation|answer) (?:complete|done|finished)\b",
    re.IGNORECASE | re.MULTILINE,
)
_INSTR = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.\n]{0,40}\b(?:instructions?|rules?|"
    r"guidelines?|prompt|above|previous|prior|earlier|restrictions?|polic(?:y|ies)|task|safety)\b"
    r"|\byou (?:are now|will now|must now|are no longer|have no)\b|\bfrom now on\b"
    r"|\bnew (?:instructions?|rules?|task|objective|goal|directive|role|persona|system prompt)\b"
    r"|\b(?:reveal|print|output|repeat|show|leak|display|share|send)\b[^.\n]{0,40}\b(?:system prompt|"
    r"instructions|password|secret|api key|credentials?|hidden|initial prompt|configuration)\b"
    r"|\bdo not (?:tell|inform|mention|reveal|warn)\b[^.\n]{0,20}\buser\b"
    r"|\b(?:developer|debug|admin|god|unrestricted|jailbreak|dan) mode\b"
    r"|\bno (?:restrictions|filters|limitations|rules|content policy|safety)\b"
    r"|\b(?:always|only) (?:respond|reply|answer|say|output)\b"
    r"|\b(?:respond|reply|answer) (?:only )?with\b"
    r"|\b(?:say|print|output|write|respond with|reply with)\s+[\"'“‘`]"
    r"|\bi have been pwned\b|\bhttps?://|\b(?:click|visit|open) (?:this|the) link\b"
    r"|\b(?:the )?user (?:has )?(?:authori[sz]ed|granted|approved|consented)\b"
    r"|\b(?:updated?|revised|new) (?:system )?(?:polic(?:y|ies)|guidelines|configuration)\b"
    r"|\b(?:you must|you should|you will|you are required to|it is mandatory)\b"
    r"|\b(?:act as|pretend to be|roleplay as|role-play as|behave as)\b"
    r"|\b(?:forward|email|send|transfer|upload|post)\b[^.\n]{0,60}\bto\b[^.\n]{0,30}(?:@|\bhttps?://|\baccount\b|\baddress\b)",
    re.IGNORECASE,
)
_STRONG = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(?:instructions?|rules?|"
    r"guidelines?|prompt|above|previous|prior|restrictions?|polic(?:y|ies)|safety)\b"
    r"|\byou are now\b|\bfrom now on\b|\bnew (?:instructions?|rules?|system prompt|directive)\b"
    r"|\b(?:developer|debug|admin|god|unrestricted|jailbreak|dan) mode\b"
    r"|\bno (?:restrictions|filters|content policy)\b|\bi have been pwned\b"
    r"|\b(?:reveal|print|output|repeat|leak)\b[^.\n]{0,40}\b(?:system prompt|password|secret|api key)\b",
    re.IGNORECASE,
)
_HIJACK = re.compile(
    r"\b(?:instead(?: of (?:that|this|doing that|summari[sz]ing|translating|answering|the task|"
    r"what (?:i|you) (?:said|asked|were asked)))?,?|rather than (?:that|summari[sz]ing|translating|answering))"
    r"\s*(?:,\s*)?(?:please |just |you (?:should|must|will) |now )?"
    r"(?=(?:say|print|write|output|respond|reply|tell|do|give|translate|list|answer|produce|return|"
    r"type|generate|reveal|send|repeat)\b)"
    r"|\b(?:forget|never ?mind|scratch|drop|abandon|cancel|stop)\b[^.\n]{0,15}\b(?:the|that|this|your|"
    r"what i said|everything|all)\b[^.\n]{0,25}\b(?:task|question|request|summary|translation|"
    r"instructions?|above|before|assignment|job)\b"
    r"|\byour (?:real|actual|true|new|only|primary) (?:task|job|goal|objective|purpose|mission|instructions?) "
    r"(?:is|are|now)\b"
    r"|\b(?:actually|wait|new plan|change of plans?)\b[,.!:]?\s+(?:don'?t|do not)\s+"
    r"(?:summari[sz]e|translate|answer|classify|do)\b",
    re.IGNORECASE,
)
_GOAL = re.compile(
    r"\b(?:say|print|output|write|respond with|reply with|type|return|repeat)\s*(?:only |exactly |just )?(?:the (?:words?|phrases?|text|sentences?|string|message) )?"
    r"[:\"'“‘`]"
    r"|\bi have been pwned\b|\bhttps?://|\b(?:system prompt|password|secret|api key|credentials?)\b"
    r"|\b(?:ignore|disregard|override)\b|\byou are now\b|\bfrom now on\b|\bmalware|\bphishing\b"
    r"|\b(?:insult|threaten|curse at|swear at)\b|\b(?:visit|click|download)\b",
    re.IGNORECASE,
)
# Context ignoring (Liu et al. 2024; Perez & Ribeiro 2022, "Ignore Previous Prompt"): an
# imperative that sets earlier instructions aside, at the start of a sentence.
_IGNORE = re.compile(
    r"(?:^|(?<=[.!?;:\n>\-—–(\[])|(?<=\.\.\.))[ \t]*"
    r"(?:(?:please|now|ok(?:ay)?|so|but|and|then|just|first|also|kindly|actually|wait|"
    r"nevermind|never mind|stop)[ \t,.!]+){0,3}"
    r"(?P<verb>ignore|disregard|forget(?: about)?|override|bypass|discard|drop|abandon|set aside|"
    r"do not follow|don'?t follow|stop following|pay no attention to|throw (?:away|out))\s+"
    r"(?:(?:(?:the\s+)?(?:user'?s?|visible|original|actual)\s+(?:question|request|query|"
    r"prompt|instructions?|message|task)\b|what the user (?:asked|said|wants|requested)\b)"
    r"|(?:(?:all\s+(?:of\s+)?)?(?:your|the (?:model|assistant|ai)'s)\s+(?:own\s+|current\s+)?"
    r"(?:instructions|rules|guidelines|system prompt|programming|directives|restrictions|"
    r"constraints|safety (?:rules|guidelines))\b)"
    r"|(?:(?:all\s+)?(?:the\s+)?(?:instructions|rules)\s+(?:that\s+)?you(?:'ve| have)?\s+"
    r"(?:got|received|were given|have been given|were told)\b)"
    r"|(?P<det>(?:(?:all|any|every|each|the|your|these|those|of|other|whatever|previously|"
    r"earlier)\s+){0,3})"
    r"(?P<adj>previous|prior|above|earlier|preceding|foregoing|former|original|initial|old|"
    r"existing|given|system|default|current|following|aforementioned)\s+"
    r"(?:(?:and|or|&)\s+(?:following|subsequent|later|future)\s+)?"
    r"(?P<noun>instructions?|directions?|directives?|prompts?|rules|guidelines|commands|orders|"
    r"context|constraints|restrictions|guidance|programming|policies|messages|text|content|"
    r"conversation|system prompt|task|requests?)\b)"
    r"|(?:^|(?<=[.!?;:\n]))[ \t]*(?:ignore|disregard|forget)\s+(?:everything|all)\s+"
    r"(?:(?:above|before|prior)\b(?=\s*(?:[.,;:!\n]|and\b|\Z))|you (?:were|have been|'ve been) "
    r"told|in your (?:system )?prompt|(?:that )?(?:was )?(?:said|written|stated) (?:above|"
    r"before))\b",
    re.IGNORECASE,
)
# The nouns that name a model's instructions (others, "the previous request / text /
# conversation", are what a user takes back); the words that say which.
_MODEL_NOUNS: Final = frozenset(
    {"instruction", "instructions", "prompt", "prompts", "system prompt", "directive",
     "directives", "programming", "rules", "guidelines"}
)  # fmt: skip
_ALL_WORDS: Final = frozenset({"all", "any", "every", "each", "your"})
_WEAK_ADJ: Final = frozenset({"default", "existing", "current", "given", "following", "old"})
_WEAK_VERBS: Final = ("discard", "drop", "abandon", "set aside", "throw", "pay no")
# What an injection asks once the instructions are set aside (Perez & Ribeiro's "...and instead
# print", "and say"); a user taking back their own request goes on differently.
_THEN_GOAL = re.compile(
    r"[^\n]{0,150}?\b(?:instead|and (?:just |only |now |then )?(?:say|print|output|respond|"
    r"reply|reveal|repeat|type|answer|obey)|say|print|output|reveal|repeat)\b",
    re.IGNORECASE,
)
# The same in other languages (verb, "all", "previous", "instructions"): Spanish, Portuguese,
# Italian, French, German, Dutch, Polish, Russian, Ukrainian.
_IGNORE_INTL = re.compile(
    r"\b(?:ignora|ignore[sz]?|olvida|olvide|esquece|esqueça|dimentica|oubliez|oublie|ignoriere|"
    r"ignorieren sie|vergiss|vergessen sie|negeer|vergeet|zignoruj|zapomnij|игнорируй|"
    r"проигнорируй|забудь|забудьте|игнорируйте|ігноруй)\s+(?:\w+\s+){0,3}?"
    r"(?:(?:anteriores|previas|precedentes|anteriori|precedenti|vorherigen|bisherigen|obigen|"
    r"vorigen|vorherige|eerdere|vorige|poprzednie|wcześniejsze|предыдущие|прошлые|прежние|"
    r"вышеуказанные|попередні)\s+(?:\w+\s+)?(?:instrucciones|instruções|istruzioni|"
    r"instructions|consignes|anweisungen|instruktionen|regeln|instructies|instrukcje|polecenia|"
    r"инструкции|указания|правила|інструкції)"
    r"|(?:instrucciones|instruções|istruzioni|instructions|consignes|regole|règles|reglas|"
    r"regras)\s+(?:anteriores|precedenti|précédentes|precedentes|previas))\b"
    r"(?!\s+(?:si|se|wenn|falls|als|jeśli|если|якщо|s'il|when|if)\b)",
    re.IGNORECASE,
)
_INTL_STEMS: Final = (
    "ignor", "olvid", "esque", "diment", "oubli", "vergi", "verges", "negeer", "vergeet",
    "zapomn", "игнор", "забуд", "ігнор",
)  # fmt: skip
# What follows an ignore-phrase written for a human reader: "ignore earlier guidance suggesting
# ...", "ignore the above steps if you use Docker".
_QUALIFIED = re.compile(
    r"[ \t]*(?:if|when|unless|suggesting|saying|stating|claiming|recommending|that|which|"
    r"about|on|regarding|from (?:the|our|this|that|version)|in (?:the|this|that|section|step|"
    r"chapter)|for (?:the|this|that|windows|mac|linux)|on (?:windows|mac|linux))\b",
    re.IGNORECASE,
)
_QUOTES: Final = '"“”`'
_APOSTROPHE = re.compile(r"(?<![^\W\d_])'|'(?![^\W\d_])")  # a quote mark, not a contraction
# A line that introduces a quoted example: "Attackers often write:", "The payload was:".
_INTRO = re.compile(
    r"(?:\b(?:writes?|wrote|written|say|says|said|types?|typed|posts?|posted|sends?|sent|"
    r"examples?|payloads?|such as|like|e\.g\.|for instance|reads?|looks? like|messages?|"
    r"prompts?|attacks?|injections?|jailbreaks?)\b[^\n]{0,20}:|:\s*[\"“'])[ \t]*$",
    re.IGNORECASE,
)
# An example under a label: "... => INJECTION", "<input>...</input>", or a next line such as
# "Output: prompt_injection" / "Expected: INJECTION" (a classification few-shot prompt quotes
# attacks as the data to label).
_LABEL_AFTER = re.compile(
    r"\A[^\n]*?(?:(?:=>|->|→)[ \t]*(?:[\w-]{2,30})?[ \t.]*$|\t[ \t]*[\w-]{2,30}[ \t.]*$|"
    r"</(?:input|text|example|query|prompt)>)"
    r"|\A[^\n]*\n[ \t]*\n?[ \t*#<]*(?:output|expected|label|category|class|classification|"
    r"verdict|tag|type)\b[ \t*>]*[:>=]",
    re.IGNORECASE | re.MULTILINE,
)
_IGNORE_VERBS: Final = (
    "ignore", "disregard", "forget", "override", "bypass", "discard", "drop", "abandon",
    "set aside", "follow", "pay no", "throw",
)  # fmt: skip

# Rules off: the model told it has no rules, or to drop them (DAN, "developer mode", "pretend you
# have no restrictions", "disable your safety filters"), however short the prompt.
_NO_RULES = (
    r"(?:restrictions|rules|filters|guidelines|limitations|content polic(?:y|ies)|"
    r"ethical (?:guidelines|constraints)|censorship)"
)
_RULES_OFF = re.compile(
    r"\bDAN\b[ \t]*(?:[,:(=-]|\bwhich\b|\bstands for\b|\bmeans\b)[ \t,]*(?:which[ \t]+)?"
    r"(?:stands[ \t]+for[ \t]+|means[ \t]+)?[\"“']?do anything now\b"
    r"|\b(?:you are|you're|you will be|act as|become|pretend to be|role-?play as|play the role "
    r"of)\s+(?:now\s+)?(?:an? )?(?:DAN(?![’'][sS])\b(?!,?\s+(?:a|an|the|my|our|your)\b)"
    r"|(?-i:STAN|DUDE)\b"
    r"|(?:unfiltered|unrestricted|uncensored|jailbroken|unbound|amoral|unethical|unaligned)\s+"
    r"(?:ai|model|assistant|chatbot|llm)\b(?!\s+(?:user|account|plan|tier|access|subscription))"
    rf"|(?:ai|model|assistant|chatbot|llm)\s+(?:without|with no)\s+(?:any\s+)?{_NO_RULES}\b)"
    r"|\b(?:pretend|imagine|act as if|assume|suppose|from now on)\b[^.\n]{0,30}?\byou (?:have|had|"
    r"are under|operate with|follow) no "
    rf"{_NO_RULES}\b(?!\s+(?:on|for|about|regarding|in|with|when|around|to|at|over)\b)"
    r"|\b(?:pretend|imagine|act as if|assume|suppose|from now on)\b[^.\n]{0,30}?\byou (?:do not|"
    rf"don'?t|no longer) have any {_NO_RULES}\b"
    r"(?!\s+(?:on|for|about|regarding|in|with|when|around|to|at|over)\b)"
    r"|\b(?:enable|activate|enter|switch to|turn on|unlock|engage)\s+(?:your\s+)?(?:developer|dev|"
    r"god|jailbreak|jailbroken|unrestricted|unfiltered|dan|evil|chaos) ?mode\b"
    r"(?P<mode>(?!\s+(?:on|in|for|of|from|via|using|with|by)\b))"
    r"|\b(?:disable|turn off|remove|deactivate|bypass|switch off)\s+(?:all\s+(?:of\s+)?)?"
    r"(?:your|the|all)\s+(?:safety|content|ethical|moral)\s+(?:filters?|guidelines|guardrails|"
    r"restrictions|safeguards|protocols|polic(?:y|ies)|limitations|censorship)\b"
    r"(?!\s+(?:in|on|for|from|of)\b)"
    r"|\b(?:disable|turn off|remove|deactivate|bypass|switch off)\s+(?:all\s+(?:of\s+)?)?your\s+"
    r"(?:filters|guardrails|safeguards|censorship|alignment)\b(?!\s+(?:in|on|for|from|of)\b)"
    r"|\byou (?:are|have been) (?:now )?(?:jailbroken|unshackled|unchained|(?:freed|liberated|"
    r"released) from (?:your|all|the) (?:rules|restrictions|guidelines|programming|filters)"
    r"(?!\s+of\b))\b",
    re.IGNORECASE,
)
_RULES_OFF_WORDS: Final = (
    "anything now", "dan", "stan", "dude", "unfiltered", "unrestricted", "uncensored",
    "jailbr", "unbound", "amoral", "unethical", "unaligned", "without", "with no", "no ",
    "have any", "mode", "filter", "guardrail", "safeguard", "censor", "alignment", "unshackled",
    "unchained", "freed", "liberated", "released",
)  # fmt: skip
# A mode switch counts when the model is told what to do in it, or when it is the whole request
# ("Enable developer mode."), not "enable developer mode, then click Load unpacked".
_MODE_CONTEXT = re.compile(
    r"[^\n]{0,80}?\b(?:respond|answer|output|generate|reply|without|no (?:filters|restrictions|"
    r"rules)|you|your|uncensored|unfiltered|confirm)\b",
    re.IGNORECASE,
)
_BARE_COMMAND = re.compile(
    r"\A[\s\W]*(?:(?:please|now|ok(?:ay)?)[\s,]+)?(?:enable|activate|enter|switch to|turn on|"
    r"unlock|engage)\b[\w ]{0,30}mode[\s.!]*\Z",
    re.IGNORECASE,
)

_CANDIDATES: Final = 50  # matches judged per expression: a text repeating one costs no more


def _quoted(text: str, start: int) -> bool:
    """Whether ``start`` sits inside a quotation: an odd number of quote marks before it on its
    line (apostrophes of contractions not counted), a markdown quote (``>``), or a line (or list
    item) right after a line that introduces an example ("Attackers often write:")."""
    lo = max(0, start - 1000)  # a quotation opened further back on the line is not seen
    nl = text.rfind("\n", lo, start)
    line_start = nl + 1 if nl >= 0 else lo
    line = text[line_start:start]
    if sum(line.count(q) for q in _QUOTES) % 2 or len(_APOSTROPHE.findall(line)) % 2:
        return True
    if line.lstrip().startswith(">"):
        return True
    if nl < 0:
        return False  # the line began more than 1 000 characters back (or the text did)
    # the previous non-empty lines (a list of examples after its intro: up to four back)
    pos = line_start - 1
    for _ in range(5):
        if pos <= 0:
            return False
        prev_start = text.rfind("\n", max(0, pos - 1000), pos) + 1 or max(0, pos - 1000)
        prev = text[prev_start:pos].strip()
        pos = prev_start - 1
        if not prev:
            continue
        if _INTRO.search(prev[-80:]):
            return True
        if not prev.startswith(("-", "*", "•")) and not re.match(r"\d+[.)]", prev):
            return False
    return False


def _addressed(text: str, start: int, end: int) -> bool:
    """Neither quoted, nor asked about, nor an example a few-shot prompt labels."""
    if _quoted(text, start):
        return False  # reported, not addressed to the model
    after = text[end : end + 200]
    if _LABEL_AFTER.match(after):
        return False  # an example a few-shot prompt labels
    stop = re.search(r"[.!\n?:]", after)  # "...: how do I ...?" asks the payload, not about it
    return stop is None or stop.group(0) != "?"  # not a question about the phrase


def rules_off(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each place ``text`` tells the model it has no rules, or to drop them."""
    low = text.lower()
    if not any(w in low for w in _RULES_OFF_WORDS):
        return
    for m in islice(_RULES_OFF.finditer(text), _CANDIDATES):
        if m.group("mode") is not None and not (
            _MODE_CONTEXT.match(text, m.end()) or _BARE_COMMAND.match(text)
        ):
            continue  # a device's or a game's mode
        if _addressed(text, m.start(), m.end()):
            yield m.start(), m.end()


def context_ignoring(text: str) -> Iterator[tuple[int, int, bool]]:
    """``(start, end, strong)`` of each context-ignoring imperative in ``text``. ``strong``: it
    sets aside all (any, your) instructions, the user's request, everything above, or goes on
    to a new goal ("...and say"); otherwise ("ignore the previous request, I found it") it may be
    a user taking back their own words or a document's reader told to skip a step."""
    low = text.lower()
    if any(stem in low for stem in _INTL_STEMS):
        for m in islice(_IGNORE_INTL.finditer(text), _CANDIDATES):
            if _addressed(text, m.start(), m.end()):
                yield m.start(), m.end(), True
    if not any(verb in low for verb in _IGNORE_VERBS):
        return  # most texts: no verb the expression starts with (str search, no regex pass)
    for m in islice(_IGNORE.finditer(text), _CANDIDATES):
        if _QUALIFIED.match(text, m.end()) or not _addressed(text, m.start(), m.end()):
            continue
        goal = _THEN_GOAL.match(text, m.end()) is not None
        verb = m.group("verb") or ""
        if m.group("det") is not None:
            words = set(m.group("det").lower().split())
            noun = (m.group("noun") or "").lower()
            adj = (m.group("adj") or "").lower()
            strong = (
                (
                    noun in _MODEL_NOUNS
                    and (not words or bool(words & _ALL_WORDS))  # "ignore previous instructions"
                    and adj not in _WEAK_ADJ
                )
                or (adj == "system" and noun in _MODEL_NOUNS)
                or goal
            )
        else:  # the user's request, your instructions, the ones you got, everything above
            strong = True
        if verb.lower().startswith(_WEAK_VERBS) and not goal:
            strong = False
        yield m.start(), m.end(), strong


_EXAMPLE_LINE = re.compile(
    r"^[ \t*#]*(user|human|assistant|ai|bot|q|a|input|output|label|answer|question|text|review|"
    r"customer|client|agent|visitor|guest|student|tutor|teacher|patient|"
    r"message|prompt|response|email|sentence|category|sentiment)[ \t*]*:",
    re.IGNORECASE | re.MULTILINE,
)
_FENCE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.DOTALL)
_TICKS = re.compile(r"`[^`\n]{1,200}`")
_QUOTED_TOKEN = re.compile(r"[\"'“‘«]\s*(?:" + _TOKEN.pattern + r")\s*[\"'”’»]", re.IGNORECASE)
_ABOUT = re.compile(
    r"\b(?:chatml|chat[ -]?templates?|special tokens?|control tokens?|tokeni[sz]er|prompt (?:format|template)|"
    r"jinja|fine-?tun\w*|what (?:does|do|is|are)|how (?:does|do|should|can|to)|why (?:does|do|is)|explain|"
    r"meaning of|format(?:ted|ting)?|dataset|training data|llama\.cpp|vllm|huggingface|transformers|"
    r"apply_chat_template|escape|sanitiz\w*|strip|regex|remove|replace|parse|filter|detect|"
    r"do i need|is (?:this|that|it)|should i|looks? like|correct|example)\b",
    re.IGNORECASE,
)


_LABEL_LINE = re.compile(
    r"^[ \t*#]*(?:label|output|a|assistant|answer|category|sentiment|class|verdict|expected)[ \t*]*:"
    r"[ \t]*[\w-]+(?:[ \t]+[\w-]+){0,2}[ \t.]*$"
    r"|^[ \t]*<(label|output|answer|category|class|verdict|expected)>[ \t]*[\w-]+(?:[ \t]+[\w-]+){0,2}"
    r"[ \t]*</\1>[ \t]*$"
    r"|^[ \t]*\"(?:label|output|answer|category|class|verdict|expected)\"[ \t]*:[ \t]*\"[\w-]+"
    r"(?:[ \t]+[\w-]+){0,2}\",?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_INPUT_LINE = re.compile(
    r"^[ \t*#]*(?:text|input|q|user|review|message|prompt|email|sentence|example \d+)[ \t*]*:"
    r"|^[ \t]*<(?:text|input|review|message|prompt|email|sentence)>"
    r"|^[ \t]*\"(?:text|input|review|message|prompt|email|sentence)\"[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)


_ARROW_LINE = re.compile(r"^[^\n]{3,}?[ \t](?:=>|->|→)[ \t]*[\w-]{2,30}[ \t.]*$", re.MULTILINE)
_CLASSIFY = re.compile(
    r"\b(?:classify|classif(?:ier|ication)|label(?:s|led|ing)?|categori[sz]e|tag each|say whether|"
    r"decide whether|is (?:it|each|this) (?:a|an)\b|detect(?:or)?|flag each|test cases?)\b",
    re.IGNORECASE,
)


def labelled_examples(text: str) -> bool:
    """A classification few-shot prompt: three or more inputs each answered by a short label
    (``Text: ... / Label: INJECTION``; arrow lines alone do not count), or two under an instruction to
    classify at its start. Attacks quoted as its examples are data to classify."""
    # "x -> word" lines alone do not make one: three of them before an attack ending "-> go"
    # would turn the attack into an "example" (a reviewer's finding)
    labels = len(_LABEL_LINE.findall(text))
    inputs = len(_INPUT_LINE.findall(text))
    if labels >= 3 and inputs >= 3:
        return True
    return labels >= 2 and inputs >= 2 and _CLASSIFY.search(text[:400]) is not None


_JSON_VALUE = re.compile(
    r"\"(?:input|content|text|prompt|message|query|example|user)\"\s*:\s*\"[^\"\n]*\Z",
    re.IGNORECASE,
)


def in_example(text: str, pos: int) -> bool:
    """Whether ``pos`` lies in one of a few-shot prompt's examples: on an example line
    (``Input:``, ``User:``, ``<input>``, ``"input":``, ``... => LABEL``), on a line continuing
    one (no blank line between), or inside a JSON string under an input key. Text after the
    examples (an instruction following a fake frame) is not data, nor is a line after an answer."""
    ls = text.rfind("\n", 0, pos) + 1
    le = text.find("\n", pos)
    line = text[ls : le if le >= 0 else len(text)]
    if _JSON_VALUE.search(text[ls:pos]) is not None:
        return True
    if _INPUT_LINE.match(line) or _EXAMPLE_LINE.match(line) or _ARROW_LINE.match(line):
        return True
    if _TOKEN.match(line.lstrip()) or _HEADER.match(line):
        return False  # a new turn typed after the examples
    end = ls - 1
    for _ in range(3):  # an example's input running over a few lines (an answer's does not)
        if end <= 0:
            return False
        start = text.rfind("\n", 0, end) + 1
        prev = text[start:end]
        if not prev.strip() or (_EXAMPLE_LINE.match(prev) and not _INPUT_LINE.match(prev)):
            return False
        if _INPUT_LINE.match(prev):
            return True
        end = start - 1
    return False


def _blank(text: str) -> str:
    """Code fences, backtick spans and quoted single tokens blanked (same length): discussed, not
    used."""

    def sp(m: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    text = _FENCE.sub(sp, text)
    text = _TICKS.sub(sp, text)
    return _QUOTED_TOKEN.sub(sp, text)


def _after(text: str, end: int) -> str:
    return text[end : end + AFTER_CHARS]


class _Spans:
    """Where an expression matches in a text, found once, so that "does it match in the
    ``AFTER_CHARS`` after this marker?" costs a bisection for each of thousands of markers.

    A match inside a window of the text is always covered by one of the whole text's matches
    (``finditer`` finds it or an earlier one overlapping it), so ``near`` never says no where
    the window's own search would say yes; where it says yes, the window is searched exactly."""

    def __init__(self, pattern: re.Pattern[str], text: str) -> None:
        self.pattern, self.text = pattern, text
        self.starts: list[int] | None = None  # found on first use: most texts have no marker
        self.ends: list[int] = []

    def near(self, a: int, b: int) -> bool:
        if self.starts is None:
            spans = [m.span() for m in self.pattern.finditer(self.text)]
            self.starts = [x for x, _ in spans]
            self.ends = [y for _, y in spans]
        i = bisect.bisect_left(self.starts, b) - 1
        return i >= 0 and self.ends[i] > a

    def search(self, a: int) -> bool:
        """The exact question: a match in the window of ``AFTER_CHARS`` from ``a``."""
        b = a + AFTER_CHARS
        return self.near(a, b) and self.pattern.search(self.text[a:b]) is not None


def scan(
    text: str, untrusted: bool = False, own_turns: bool = False
) -> list[tuple[str, float, int, int, dict[str, Any]]]:
    """``(kind, score, start, end, evidence)`` findings in ``text``, best first. ``own_turns``:
    the text is a user turn after earlier user turns (it may take back the user's own)."""
    t = _blank(text)
    found: list[tuple[str, float, int, int, dict[str, Any]]] = []
    # a few-shot prompt or a pasted transcript (4+ example lines of 2+ roles): its examples may
    # quote attacks; that shape is the many-shot detector's and the classifier's to judge
    labels = [m.group(1).lower() for m in _EXAMPLE_LINE.finditer(t)]
    examples = len(labels) >= 4 and len(set(labels)) >= 2
    labelled = examples or labelled_examples(t)
    strong, instr = _Spans(_STRONG, t), _Spans(_INSTR, t)
    # template tokens
    toks = list(_TOKEN.finditer(t))
    if toks:
        # a question about templates names its subject before the first token
        about = _ABOUT.search(t[: toks[0].start()]) is not None
        best = 0.0
        for m in toks:
            rest = _after(t, m.end())
            role_sys = _SYSTEM_ROLE.match(m.group(0).lstrip("<|[").lower() + " " + rest) is not None
            role_sys = role_sys or _SYSTEM_ROLE.match(rest) is not None
            if strong.search(m.end()):
                s = 0.95 if role_sys else 0.9
            elif instr.search(m.end()):
                s = 0.45 if about else (0.95 if role_sys else 0.9)
            else:
                s = 0.45  # a token with no instruction after it: shown or discussed, not used
            best = max(best, min(s, 0.45) if labelled and in_example(t, m.start()) else s)
        start, end = toks[0].start(), min(len(text), toks[-1].end() + AFTER_CHARS)
        found.append(("template-token", best, start, end, {"tokens": len(toks)}))
    # role headers
    lead = len(t) - len(t.lstrip())  # where the text's first non-blank character is
    for m in _HEADER.finditer(t):
        if m.start() <= lead and not untrusted:
            continue  # a user's own message starting "System:" is their text, read as such
        if strong.search(m.end()) or instr.search(m.end()):
            s = 0.9 if untrusted else 0.85
            if not strong.search(m.end()) and _ABOUT.search(t[: m.start()]):
                s = 0.45
            found.append(("role-header", s, m.start(), min(len(text), m.end() + AFTER_CHARS),
                          {"header": m.group("role").lower()[:24]}))  # fmt: skip
            break
    # fake completion: a made-up answer, then a new instruction
    hijack = _Spans(_HIJACK, t)
    judged = 0
    for m in _ANSWER.finditer(t):
        if m.start() <= lead:
            continue
        done = m.group("role") is None  # "task complete", "[/INST]": the answer is declared over
        if examples and not done:
            continue
        a, b = m.end(), m.end() + AFTER_CHARS
        if not (strong.near(a, b) or instr.near(a, b) or hijack.near(a, b)):
            continue  # nothing after it that any condition below could find
        judged += 1
        if judged > 4 * _CANDIDATES:
            break  # hundreds of answers followed by cue words: the many-shot detector's shape
        rest = _after(t, m.end())
        if (
            _STRONG.search(rest)
            or (_HIJACK.search(rest) and _GOAL.search(rest))
            or ((h := _HEADER.search(rest)) is not None and _INSTR.search(rest, h.end()))
            or (done and _INSTR.search(rest))
        ):
            found.append(
                ("fake-completion", 0.9, m.start(), min(len(text), m.end() + AFTER_CHARS), {})
            )
            break
    # context ignoring and rules off: one finding each (a labelled few-shot prompt's examples
    # are data: 0.45)
    weak, full = 0.45, (0.9 if untrusted else 0.85)

    def data(pos: int) -> bool:  # an example of a labelled few-shot prompt, not an instruction
        return labelled and in_example(t, pos)

    for start, end, is_strong in context_ignoring(t):
        s = full if is_strong and not data(start) else weak
        if s < 0.5 and (own_turns or labelled):
            continue  # taking back their own words, or an example: look for a stronger one
        found.append(("context-ignoring", s, start, min(len(text), end + AFTER_CHARS // 4), {}))
        break
    off: tuple[str, float, int, int, dict[str, Any]] | None = None
    for start, end in rules_off(t):
        s = weak if data(start) else full
        if off is None or s > off[1]:
            off = ("rules-off", s, start, min(len(text), end + AFTER_CHARS // 4), {})
        if s == full:
            break
    if off is not None:
        found.append(off)
    # goal hijack
    for m in _HIJACK.finditer(t):
        goal = _GOAL.search(t[m.start() : m.end() + 150]) is not None
        s = 0.85 if goal else 0.4
        found.append(("goal-hijack", s, m.start(), min(len(text), m.end() + 150), {"goal": goal}))
        break
    found.sort(key=lambda f: -f[1])
    return found


class InjectionStructureDetector:
    name = NAME

    def detect(self, conv: Conversation, ctx: DetectorContext) -> list[Detection]:
        threshold = float(ctx.thresholds.get(NAME, 0.5))
        out: list[Detection] = []
        first_user = min((s.message for s in conv.segments if s.role == "user"), default=-1)
        for idx, seg, cap in capped_segments(conv):
            untrusted = seg.untrusted or seg.role in ("tool", "function", "document")
            own_turns = seg.role == "user" and seg.message > first_user
            hits = scan(cap.text, untrusted, own_turns)
            if not hits or hits[0][1] < threshold:
                continue
            kind, score, s, e, ev = hits[0]
            ev = {**ev, "kinds": sorted({h[0] for h in hits if h[1] >= threshold})}
            if cap.truncated:
                ev["truncated"] = True
            out.append(
                Detection(NAME, kind, score, idx, cap.to_original(s), cap.to_original(e), ev)
            )
        return out
