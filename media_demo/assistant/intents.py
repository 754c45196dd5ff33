"""What a question asks for, decided by rules: the same question always gets the same intent.

Rules rather than a model because the intent picks which of the reader's data is read
(history for "what's new", attributes for "what do you know about me"): that choice has to
be predictable and testable. Anything no rule claims is an OPEN question, answered from
the archive only.

"Summarise this" off an article page is still SUMMARISE, with no topic: the answer asks
the reader to open a story (there is nothing to summarise yet). "Summarise <a topic>" off
an article is a CATCH_UP on that topic, whose answer is a summary across the stories.
"""

from __future__ import annotations

import re

from media_demo.assistant.answer import Intent

# The page itself, as readers refer to it: "this", "this article", "the story", "it", "here".
_THIS = r"(?:(?:this|the|that)\s+(?:article|story|piece|page|report|post|one)|this|that|it|here)"
_SUMMARY_VERB = r"(?:summari[sz]e|sum\s+up|recap|condense|give\s+me\s+(?:a|the)\s+(?:summary|gist|tl;?dr)(?:\s+of)?)"

_ABOUT_ME = re.compile(
    r"\b(?:what|which)\b.*\b(?:know|knows|have|has|store|stored|hold|holds|keep|keeps|collect|collected|track|tracked)\b"
    r".*\b(?:about|on|of)\s+me\b"
    r"|\b(?:my|me)\s+(?:data|profile|attributes|information|info|segment)\b"
    r"|\bwho\s+do\s+you\s+think\s+i\s+am\b"
    r"|\bwhat\s+(?:kind|sort|type)\s+of\s+reader\s+am\s+i\b"
)
_WHY_RECOMMENDED = re.compile(
    r"\bwhy\b.*\b(?:recommend\w*|suggest\w*|picks?|picked|seeing|shown|showing|these\s+stories|these\s+articles)\b"
    r"|\bhow\s+(?:do|does|are|is)\b.*\b(?:recommend\w*|picks?|suggestions?)\b"
)
_NEXT_READ = re.compile(
    r"\b(?:what|which)\b.*\bread\b.*\bnext\b"
    r"|\bread\s+next\b"
    r"|\bwhat\s+(?:should|could|shall|can)\s+i\s+read\b"
    r"|\brecommend\s+(?:me\s+)?(?:something|a\s+story|an\s+article|some\w*|anything)\b"
    r"|\bsuggest\s+(?:me\s+)?(?:something|a\s+story|an\s+article|some\w*|anything)\b"
    r"|\b(?:anything|something)\s+(?:good\s+)?(?:to|i\s+should)\s+read\b"
    r"|\bgive\s+me\s+something\s+to\s+read\b"
)
# "What's new on/with <topic>" is a catch-up on that topic, not "what's new for me".
_NEW_ON_TOPIC = re.compile(r"\bwhat(?:'s|\s+is)\s+new\s+(?:on|with|about|in|from)\s+(?P<topic>.+)")
_WHATS_NEW = re.compile(
    r"\bwhat(?:'s|\s+is)\s+new\b"
    r"|\b(?:anything|something)\s+new\b"
    r"|\bnew\s+since\b"
    r"|\bsince\s+(?:my|i\s+was|i\s+last)\b.*\b(?:visit|here|last|came|checked)\b"
    r"|\bwhat\s+(?:did|have)\s+i\s+miss(?:ed)?\b"
    r"|\b(?:latest|newest)\s+(?:news|stories|articles|headlines)\b"
    r"|\bwhat'?s\s+(?:the\s+)?news\s+today\b"
)
_SUMMARISE_THIS = re.compile(
    rf"\b{_SUMMARY_VERB}\s+(?:of\s+)?{_THIS}\b"
    r"|\btl;?\s?dr\b"
    r"|\b(?:summary|gist|key\s+points|main\s+points)\b(?:\s+(?:of|in)\s+" + _THIS + r")?\s*\??$"
)
# Only on an article page does a bare "this" surely mean the story.
_ABOUT_THIS = re.compile(rf"\bwhat(?:'s|\s+is)\s+{_THIS}\s+(?:about|saying)\b|\bexplain\s+{_THIS}\b")
_SUMMARISE_TOPIC = re.compile(rf"\b{_SUMMARY_VERB}\s+(?P<topic>.+)")
_CATCH_UP = re.compile(
    r"\b(?:catch|caught)\s+me\s+up\s+(?:on|with|about)\s+(?P<a>.+)"
    r"|\b(?:bring|get)\s+me\s+up\s+to\s+(?:speed|date)\s+(?:on|with|about)\s+(?P<b>.+)"
    r"|\bfill\s+me\s+in\s+(?:on|about)\s+(?P<c>.+)"
    r"|\bupdate\s+me\s+(?:on|about)\s+(?P<d>.+)"
    r"|\bwhat(?:'s|\s+is|\s+has\s+been)\s+(?:the\s+latest|happening|going\s+on)\s+(?:on|with|in|about)\s+(?P<e>.+)"
    r"|\bwhat\s+happened\s+(?:with|to|in|at)\s+(?P<f>.+)"
    r"|\b(?:the\s+)?story\s+so\s+far\s+(?:on|with)\s+(?P<g>.+)"
    r"|\b(?:latest|news|updates?)\s+on\s+(?P<h>.+)"
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_TRAILING = " ?!.,;:'\""


def _normal(question: str) -> str:
    """Lower case, straight apostrophes, single spaces: the form every rule reads."""
    return " ".join(question.translate(_APOSTROPHES).lower().split())


def _topic(text: str) -> str:
    """A captured topic without trailing punctuation or politeness."""
    topic = text.strip(_TRAILING)
    topic = re.sub(r"\s*(?:,\s*)?(?:please|thanks|thank\s+you)$", "", topic)
    return topic.strip(_TRAILING)


def classify(question: str, on_article: bool) -> tuple[Intent, str]:
    """The question's intent and its topic phrase ("" when the intent takes none).

    The topic is the reader's own words for a CATCH_UP or OPEN question (the retrieval
    query); it is only ever used as a query, never as an instruction.
    """
    text = _normal(question)
    if not text:
        raise ValueError("question: ask something (it is empty)")
    if _ABOUT_ME.search(text):
        return Intent.ABOUT_ME, ""
    if _WHY_RECOMMENDED.search(text):
        return Intent.WHY_RECOMMENDED, ""
    if _NEXT_READ.search(text):
        return Intent.NEXT_READ, ""
    if match := _NEW_ON_TOPIC.search(text):
        topic = _topic(match["topic"])
        if topic and not re.fullmatch(r"(?:for\s+me|today|here|this\s+week|since.*)", topic):
            return Intent.CATCH_UP, topic
    if _WHATS_NEW.search(text):
        return Intent.WHATS_NEW, ""
    if _SUMMARISE_THIS.search(text) or (on_article and _ABOUT_THIS.search(text)):
        return Intent.SUMMARISE, ""
    if (match := _SUMMARISE_TOPIC.search(text)) and (topic := _topic(match["topic"])):
        if re.fullmatch(rf"(?:of\s+)?{_THIS}\b.*", topic):
            return Intent.SUMMARISE, ""  # "summarise this piece on comets": the page, whatever it is about
        return Intent.CATCH_UP, re.sub(r"^(?:the\s+)?(?:news|stories|articles)\s+(?:on|about)\s+", "", topic)
    if match := _CATCH_UP.search(text):
        topic = _topic(next(value for value in match.groupdict().values() if value))
        if topic:
            return Intent.CATCH_UP, topic
    return Intent.OPEN, _topic(text)
