"""Placeholders in a bash script become references to environment variables, never text.

A `run` task's script is the experiment author's code; the values its `@< … >@` placeholders
stand for (version names, variables, status fields) are data. Splicing data into code is how
Iter8 v2's templates let a crafted value run commands. Here each distinct expression's value
goes into its own variable (`ITER8_VALUE_<n>`) of the script's environment, and the placeholder
becomes a parameter expansion, whose result bash never parses as code. A small lexer picks the
spelling of the expansion that keeps the author's meaning at that point of the script:

- unquoted (also inside `$(…)`, backquotes, `${…}`): `"${V}"` — one word, no globbing;
- inside "…": `${V}`;  inside '…': `'"${V}"'`;  inside $'…': `'"${V}"$'`;
- in a here-document body with an unquoted delimiter: `${V}`;
- where a value would be re-read as code or text by something else, it is inlined only if it is
  plainly safe: arithmetic (`$(( … ))`, `(( … ))`, `for (( … ))`, `$[ … ]`) takes integers
  only; a quoted here-document (<<'EOF', often fed to another interpreter) takes only
  `[A-Za-z0-9._/:@%+=,-]` characters.

Bash evaluates a variable's *value* as arithmetic in more places than a lexer can see: `(( V ))`
after `V=@< … >@`, `let`, `declare -i`, `[[ $V -eq 1 ]]`, `${a[$V]}`, and it takes a value as a
variable name in `printf -v`, `read`, `declare`, `unset`, `[[ -v ]]`. There, an array subscript
holding an expansion (`a[$(cmd)]`, ``a[`cmd`]``) runs `cmd`. So no placeholder may stand for
such a value, wherever it is written (`_RUNS_IN_ARITHMETIC`); without one, arithmetic can only
read or assign integers. What is left is `eval "$V"` and its kin: the script author's explicit
choice to run a value as code, outside what rendering can prevent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from iter8.tasks.template import TemplateError

PREFIX = "ITER8_VALUE_"
_SAFE_LITERAL = re.compile(r"[A-Za-z0-9._/:@%+=,-]*")
_INTEGER = re.compile(r"-?[0-9]+")
# A name, `[`, then `$` or a backquote before the subscript closes: bash expands it, commands
# included, when it evaluates the value as arithmetic or takes it as a variable name.
_RUNS_IN_ARITHMETIC = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\[[^\]]*[$`]")
_WORD_BREAK = " \t\n;&|()<>"
_CODE = ("top", "cmd", "bq", "param")


@dataclass(frozen=True)
class RenderedScript:
    script: str
    env: dict[str, str]  # ITER8_VALUE_<n> → value


@dataclass
class _HereDoc:
    delimiter: str
    strip_tabs: bool
    quoted: bool


@dataclass
class _Frame:
    context: str
    depth: int = 0  # open parentheses or braces inside this frame


@dataclass
class _Lexer:
    text: str
    evaluate: Callable[[str], str]
    i: int = 0
    out: list[str] = field(default_factory=list)
    stack: list[_Frame] = field(default_factory=lambda: [_Frame("top")])
    env: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    pending: list[_HereDoc] = field(default_factory=list)

    @property
    def context(self) -> str:
        return self.stack[-1].context

    def emit(self, count: int) -> None:
        self.out.append(self.text[self.i : self.i + count])
        self.i += count

    def push(self, context: str, count: int) -> None:
        self.emit(count)
        self.stack.append(_Frame(context))

    def pop(self, count: int) -> None:
        self.emit(count)
        if len(self.stack) > 1:
            self.stack.pop()

    def run(self) -> RenderedScript:
        while self.i < len(self.text):
            if self.text.startswith("@<", self.i):
                self.placeholder(self.context)
                continue
            getattr(self, f"_{self.context.replace('-', '_')}")(self.text[self.i])
        return RenderedScript("".join(self.out), self.env)

    # -- placeholders ----------------------------------------------------------------------

    def value_of(self, expression: str) -> tuple[str, str]:
        expression = expression.strip()
        if expression not in self.names:
            value = self.evaluate(expression)
            if _RUNS_IN_ARITHMETIC.search(value):  # the value is not quoted: it may be a secret
                raise TemplateError(
                    f"@<{expression}>@ holds an array subscript with an expansion (like "
                    "a[$(cmd)]), which bash runs as a command wherever it evaluates the value "
                    "as arithmetic or as a variable name ((( )), let, declare -i, read, printf -v)"
                )
            name = f"{PREFIX}{len(self.names)}"
            self.names[expression] = name
            self.env[name] = value
        name = self.names[expression]
        return name, self.env[name]

    def read_placeholder(self, text: str, start: int) -> tuple[str, int]:
        end = text.find(">@", start + 2)
        if end < 0:
            raise TemplateError(f"'@<' at offset {start} is never closed by '>@'")
        return text[start + 2 : end], end + 2

    def placeholder(self, context: str) -> None:
        expression, end = self.read_placeholder(self.text, self.i)
        self.out.append(self.spelling(context, expression))
        self.i = end

    def spelling(self, context: str, expression: str) -> str:
        name, value = self.value_of(expression)
        if context == "dq" or context == "heredoc":
            return f"${{{name}}}"
        if context == "sq":
            return f"'\"${{{name}}}\"'"
        if context == "ansi":
            return f"'\"${{{name}}}\"$'"
        if context in ("arith", "old-arith"):
            if not _INTEGER.fullmatch(value):
                raise TemplateError(
                    f"@<{expression}>@ is in arithmetic but {value!r} is no integer"
                )
            return value
        if context == "quoted-heredoc":
            if not _SAFE_LITERAL.fullmatch(value):
                raise TemplateError(
                    f"@<{expression}>@ is in a quoted here-document, where its value would be "
                    "written into the text; it holds characters that are not safe there "
                    "(use an unquoted delimiter to pass it as a variable)"
                )
            return value
        return f'"${{{name}}}"'  # unquoted code, comments

    # -- contexts --------------------------------------------------------------------------

    def _code(self, c: str) -> bool:
        """What every unquoted context shares; False if `c` is not special here."""
        text, i = self.text, self.i
        if c == "\\":
            self.emit(2)
        elif c == "'":
            self.push("sq", 1)
        elif c == '"':
            self.push("dq", 1)
        elif c == "`" and self.context == "bq":
            self.pop(1)
        elif c == "`":
            self.push("bq", 1)
        elif c == "$":
            self.dollar()
        elif c == "#" and self.context != "param" and (i == 0 or text[i - 1] in _WORD_BREAK):
            self.push("comment", 1)
        elif c == "(" and text.startswith("((", i) and self.context != "param":
            self.push("arith", 2)  # an arithmetic command, `(( … ))` or `for (( … ))`
        elif c == "<" and text.startswith("<<", i) and self.context != "param":
            self.heredoc_operator()
        elif c == "\n":
            self.emit(1)
            self.heredoc_bodies()
        else:
            return False
        return True

    def dollar(self) -> None:
        rest = self.text[self.i : self.i + 3]
        if rest.startswith("$(("):
            self.push("arith", 3)
        elif rest.startswith("$("):
            self.push("cmd", 2)
        elif rest.startswith("$["):
            self.push("old-arith", 2)  # `$[ … ]`, the deprecated spelling of `$(( … ))`
        elif rest.startswith("${"):
            self.push("param", 2)
        elif rest.startswith("$'") and self.context != "dq":
            self.push("ansi", 2)
        elif rest.startswith('$"') and self.context != "dq":
            self.push("dq", 2)
        else:
            self.emit(1)

    def _top(self, c: str) -> None:
        if not self._code(c):
            self.emit(1)

    _bq = _top

    def _cmd(self, c: str) -> None:
        if self._code(c):
            return
        if c == "(":
            self.stack[-1].depth += 1
        elif c == ")":
            if self.stack[-1].depth == 0:
                self.pop(1)
                return
            self.stack[-1].depth -= 1
        self.emit(1)

    def _param(self, c: str) -> None:
        if self._code(c):
            return
        if c == "{":
            self.stack[-1].depth += 1
        elif c == "}":
            if self.stack[-1].depth == 0:
                self.pop(1)
                return
            self.stack[-1].depth -= 1
        self.emit(1)

    def _arith(self, c: str) -> None:
        if c == "$":
            self.dollar()
        elif c == "(":
            self.stack[-1].depth += 1
            self.emit(1)
        elif c == ")" and self.stack[-1].depth == 0 and self.text.startswith("))", self.i):
            self.pop(2)
        elif c == ")":
            self.stack[-1].depth -= 1
            self.emit(1)
        else:
            self.emit(1)

    def _old_arith(self, c: str) -> None:
        if c == "$":
            self.dollar()
        elif c == "[":
            self.stack[-1].depth += 1
            self.emit(1)
        elif c == "]" and self.stack[-1].depth == 0:
            self.pop(1)
        elif c == "]":
            self.stack[-1].depth -= 1
            self.emit(1)
        else:
            self.emit(1)

    def _dq(self, c: str) -> None:
        if c == "\\":
            self.emit(2)
        elif c == '"':
            self.pop(1)
        elif c == "`":
            self.push("bq", 1)
        elif c == "$":
            self.dollar()
        else:
            self.emit(1)

    def _sq(self, c: str) -> None:
        if c == "'":
            self.pop(1)
        else:
            self.emit(1)

    def _ansi(self, c: str) -> None:
        if c == "\\":
            self.emit(2)
        elif c == "'":
            self.pop(1)
        else:
            self.emit(1)

    def _comment(self, c: str) -> None:
        if c == "\n":
            self.stack.pop()  # the newline is handled by the enclosing context
        else:
            self.emit(1)

    # -- here-documents --------------------------------------------------------------------

    def heredoc_operator(self) -> None:
        text, j = self.text, self.i + 2
        if text.startswith("<", j):  # a here-string, `<<<`
            self.emit(3)
            return
        strip = text.startswith("-", j)
        j += 1 if strip else 0
        while j < len(text) and text[j] in " \t":
            j += 1
        word, quoted = [], False
        while j < len(text) and text[j] not in _WORD_BREAK:
            if text[j] in "'\"":
                close = text.find(text[j], j + 1)
                close = len(text) if close < 0 else close
                word.append(text[j + 1 : close])
                quoted, j = True, close + 1
            elif text[j] == "\\":
                word.append(text[j + 1 : j + 2])
                quoted, j = True, j + 2
            else:
                word.append(text[j])
                j += 1
        if word:
            self.pending.append(_HereDoc("".join(word), strip, quoted))
        self.emit(j - self.i)

    def heredoc_bodies(self) -> None:
        while self.pending:
            doc = self.pending.pop(0)
            context = "quoted-heredoc" if doc.quoted else "heredoc"
            while self.i < len(self.text):
                end = self.text.find("\n", self.i)
                end = len(self.text) if end < 0 else end
                line = self.text[self.i : end]
                if (line.lstrip("\t") if doc.strip_tabs else line) == doc.delimiter:
                    self.emit(end - self.i + 1)
                    break
                rendered = self.render_line(line, context)
                if (rendered.lstrip("\t") if doc.strip_tabs else rendered) == doc.delimiter:
                    raise TemplateError(
                        f"a placeholder would end the here-document early with {doc.delimiter!r}"
                    )
                self.out.append(rendered + self.text[end : end + 1])
                self.i = end + 1

    def render_line(self, line: str, context: str) -> str:
        parts, position = [], 0
        while (start := line.find("@<", position)) >= 0:
            expression, end = self.read_placeholder(line, start)
            parts += [line[position:start], self.spelling(context, expression)]
            position = end
        return "".join([*parts, line[position:]])


def render_script(script: str, evaluate: Callable[[str], str]) -> RenderedScript:
    """The script with every `@< expr >@` replaced by a quoted reference to an environment
    variable holding `evaluate(expr)`; raises TemplateError where that cannot be done safely."""
    return _Lexer(script, evaluate).run()
