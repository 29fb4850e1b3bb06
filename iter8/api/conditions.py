"""The `if:` guards of tasks: `CandidateWon()`, `WinnerFound()`, `not`, `and`, `or`, parentheses.

Iter8 v2 evaluated these with Go's `expr` library; this is the subset its samples and docs use,
with the `!`, `&&`, `||` spellings `expr` also accepts. Parsing is separate from evaluation so
that `iter8 validate` can reject a bad guard long before the finish action would run it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

FUNCTIONS = ("CandidateWon", "WinnerFound")
MAX_LENGTH = 1_000  # characters of a guard
MAX_DEPTH = 32  # parentheses and negations nested in one another

_TOKEN = re.compile(r"\s*(?:(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\(\)|&&|\|\||[!()]))")


class ConditionError(ValueError):
    """The guard does not parse; the message says where and why."""


@dataclass(frozen=True)
class Call:
    function: str


@dataclass(frozen=True)
class Constant:
    value: bool


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BinaryOp:
    operator: str  # "and" | "or"
    left: Node
    right: Node


Node = Call | Constant | Not | BinaryOp


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ConditionError(f"unexpected {text[position:].strip()[:10]!r} at {position}")
        tokens.append(match["word"] or match["op"])
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(f"nested deeper than {MAX_DEPTH} levels")

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ConditionError("the expression ends too early")
        self.index += 1
        return token

    def expression(self) -> Node:
        node = self.conjunction()
        while self.peek() in ("or", "||"):
            self.take()
            node = BinaryOp("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.peek() in ("and", "&&"):
            self.take()
            node = BinaryOp("and", node, self.negation())
        return node

    def negation(self) -> Node:
        if self.peek() in ("not", "!"):
            self.take()
            self.nested()
            node = Not(self.negation())
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token == "(":
            self.nested()
            node = self.expression()
            if self.take() != ")":
                raise ConditionError("a '(' is not closed")
            self.depth -= 1
            return node
        if token in ("true", "false"):
            return Constant(token == "true")
        if token in FUNCTIONS:
            if self.peek() != "()":
                raise ConditionError(f"{token} must be called: {token}()")
            self.take()
            return Call(token)
        known = ", ".join(f"{name}()" for name in FUNCTIONS)
        raise ConditionError(f"unknown {token!r}; expected {known}, not, and, or, parentheses")


def parse(text: str) -> Node:
    """The syntax tree of a guard, or ConditionError (also for one too long or too deep to
    parse without exhausting the recursion of this parser and of `evaluate`)."""
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"longer than {MAX_LENGTH} characters")
    parser = _Parser(_tokenize(text))
    if parser.peek() is None:
        raise ConditionError("the expression is empty")
    node = parser.expression()
    if parser.peek() is not None:
        raise ConditionError(f"unexpected {parser.peek()!r} after a complete expression")
    return node


def evaluate(node: Node, facts: Mapping[str, bool]) -> bool:
    """The guard's value, given the value of each function (e.g. `{"CandidateWon": True}`)."""
    match node:
        case Constant(value):
            return value
        case Call(function):
            return facts[function]
        case Not(operand):
            return not evaluate(operand, facts)
        case BinaryOp("and", left, right):
            return evaluate(left, facts) and evaluate(right, facts)
        case BinaryOp(_, left, right):
            return evaluate(left, facts) or evaluate(right, facts)
    raise TypeError(f"not a condition node: {node!r}")  # pragma: no cover
