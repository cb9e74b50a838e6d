"""eddy.template: Tornado's template language.

{{ expr }} (escaped by the autoescape function, xhtml_escape by default), {% raw expr %},
{% if/elif/else %}, {% for %}, {% while %}, {% try/except/else/finally %}, {% with %},
{% break %}, {% continue %}, {% set x = y %}, {% import m %}, {% from m import n %},
{% apply fn %}...{% end %}, {% autoescape fn|None %}, {% whitespace all|single|oneline %},
{% extends "base.html" %} with {% block name %}...{% end %}, {% include "file" %},
{% module expr %}, {% comment ... %}, {# ... #}, and {{! / {%! / {#! for the literal
openers. Templates compile to a Python function; generate() returns bytes, as Tornado's does.
Text between tags has its whitespace collapsed in "single" mode (the default for .html and .js
files) unless it contains <pre>."""

import datetime
import linecache
import os
import re
import threading

from . import escape

_DEFAULT_AUTOESCAPE = "xhtml_escape"
_UNSET = object()
_CONTROL = ("if", "for", "while", "try", "with")
_INTERMEDIATE = {"else": ("if", "for", "while", "try"), "elif": ("if",),
                 "except": ("try",), "finally": ("try",)}


class ParseError(Exception):
    """A template that cannot be parsed (where: filename and line)."""

    def __init__(self, message, filename=None, lineno=0):
        self.message = message
        self.filename = filename
        self.lineno = lineno

    def __str__(self):
        return "%s at %s:%d" % (self.message, self.filename, self.lineno)


def filter_whitespace(mode, text):
    """"all": unchanged; "single": runs of spaces/tabs become one space and runs containing a
    newline become one newline; "oneline": every run becomes one space."""
    if mode == "all":
        return text
    if mode == "single":
        text = re.sub(r"([\t ]+)", " ", text)
        return re.sub(r"(\s*\n\s*)", "\n", text)
    if mode == "oneline":
        return re.sub(r"(\s+)", " ", text)
    raise Exception("invalid whitespace mode %s" % mode)


# ---- the parsed tree -------------------------------------------------------------------------
class _Node:
    line = 0

    def each_child(self):
        return ()

    def find_named_blocks(self, loader, named_blocks):
        for child in self.each_child():
            child.find_named_blocks(loader, named_blocks)


class _Body(_Node):
    def __init__(self, nodes=None):
        self.nodes = nodes or []

    def each_child(self):
        return self.nodes

    def generate(self, w):
        for node in self.nodes:
            node.generate(w)


class _Text(_Node):
    def __init__(self, value, line, whitespace):
        self.value, self.line, self.whitespace = value, line, whitespace

    def generate(self, w):
        value = self.value
        if "<pre>" not in value:  # whitespace is kept inside <pre>
            value = filter_whitespace(self.whitespace, value)
        if value:
            w.line("_tt_append(%r)" % escape.utf8(value), self.line)


class _Expression(_Node):
    def __init__(self, expression, line, raw=False):
        self.expression, self.line, self.raw = expression, line, raw

    def generate(self, w):
        w.line("_tt_tmp = %s" % self.expression, self.line)
        w.line("if isinstance(_tt_tmp, _tt_string_types): _tt_tmp = _tt_utf8(_tt_tmp)",
               self.line)
        w.line("else: _tt_tmp = _tt_utf8(str(_tt_tmp))", self.line)
        if not self.raw and w.template.autoescape is not None:
            w.line("_tt_tmp = _tt_utf8(%s(_tt_tmp))" % w.template.autoescape, self.line)
        w.line("_tt_append(_tt_tmp)", self.line)


class _Module(_Expression):
    def __init__(self, expression, line):
        super().__init__("_tt_modules." + expression, line, raw=True)


class _Statement(_Node):
    def __init__(self, statement, line):
        self.statement, self.line = statement, line

    def generate(self, w):
        w.line(self.statement, self.line)


class _Control(_Node):
    """if/for/while/try/with: the statement, then its body one level in (the body holds the
    elif/else/except/finally clauses, written one level out)."""

    def __init__(self, statement, line, body):
        self.statement, self.line, self.body = statement, line, body

    def each_child(self):
        return (self.body,)

    def generate(self, w):
        w.line("%s:" % self.statement, self.line)
        with w.indented():
            self.body.generate(w)
            w.line("pass", self.line)  # an empty body is still valid Python


class _Intermediate(_Node):
    def __init__(self, statement, line):
        self.statement, self.line = statement, line

    def generate(self, w):
        w.line("pass", self.line)  # the clause before may be empty
        w.line("%s:" % self.statement, self.line, w.indent - 1)


class _Apply(_Node):
    """{% apply fn %}body{% end %}: fn gets the rendered body (bytes)."""

    def __init__(self, method, line, body):
        self.method, self.line, self.body = method, line, body

    def each_child(self):
        return (self.body,)

    def generate(self, w):
        name = "_tt_apply%d" % w.next_id()
        w.line("def %s():" % name, self.line)
        with w.indented():
            w.line("_tt_buffer = []", self.line)
            w.line("_tt_append = _tt_buffer.append", self.line)
            self.body.generate(w)
            w.line("return _tt_utf8('').join(_tt_buffer)", self.line)
        w.line("_tt_append(_tt_utf8(%s(%s())))" % (self.method, name), self.line)


class _NamedBlock(_Node):
    def __init__(self, name, body, template, line):
        self.name, self.body, self.template, self.line = name, body, template, line

    def each_child(self):
        return (self.body,)

    def generate(self, w):
        block = w.named_blocks[self.name]  # the most derived template's version
        with w.switch(block.template):
            block.body.generate(w)

    def find_named_blocks(self, loader, named_blocks):
        named_blocks[self.name] = self
        super().find_named_blocks(loader, named_blocks)


class _Extends(_Node):
    def __init__(self, name):
        self.name = name

    def generate(self, w):
        pass  # the base template is generated instead (see Template._generate_code)


class _Include(_Node):
    def __init__(self, name, reader, line):
        self.name, self.template_name, self.line = name, reader.name, line

    def find_named_blocks(self, loader, named_blocks):
        loader.load(self.name, self.template_name).file.find_named_blocks(loader, named_blocks)

    def generate(self, w):
        included = w.loader.load(self.name, self.template_name)
        with w.switch(included):
            included.file.body.generate(w)


class _File(_Node):
    def __init__(self, template, body):
        self.template, self.body = template, body

    def each_child(self):
        return (self.body,)

    def generate(self, w):
        w.line("def _tt_execute():", 0)
        with w.indented():
            w.line("_tt_buffer = []", 0)
            w.line("_tt_append = _tt_buffer.append", 0)
            self.body.generate(w)
            w.line("return _tt_utf8('').join(_tt_buffer)", 0)


# ---- parsing ---------------------------------------------------------------------------------
class _Reader:
    def __init__(self, name, text, whitespace):
        self.name, self.text, self.whitespace = name, text, whitespace
        self.pos = 0
        self.line = 1

    def find(self, needle, start=0):
        index = self.text.find(needle, self.pos + start)
        return -1 if index == -1 else index - self.pos

    def consume(self, count=None):
        end = len(self.text) if count is None else self.pos + count
        piece = self.text[self.pos:end]
        self.line += piece.count("\n")
        self.pos = end
        return piece

    def remaining(self):
        return len(self.text) - self.pos

    def peek(self, offset=0, length=1):
        return self.text[self.pos + offset:self.pos + offset + length]

    def error(self, message, line=None):
        raise ParseError(message, self.name, self.line if line is None else line)


def _parse(reader, template, in_block=None, in_loop=None):
    """Parses up to the {% end %} of `in_block` (a directive name) or the end of the text."""
    body = _Body()
    while True:
        # Text up to the next tag; "{{!", "{%!" and "{#!" are literal openers.
        curly = 0
        while True:
            curly = reader.find("{", curly)
            if curly == -1 or curly + 1 == reader.remaining():
                if in_block:
                    reader.error("Missing {%% end %%} block for %s" % in_block)
                body.nodes.append(_Text(reader.consume(), reader.line, reader.whitespace))
                return body
            if reader.peek(curly + 1) not in ("{", "%", "#"):
                curly += 1
                continue
            if (curly + 2 < reader.remaining() and reader.peek(curly + 1) == "{"
                    and reader.peek(curly + 2) == "{"):
                curly += 1  # "{{{": the tag starts at the last two
                continue
            break
        if curly > 0:
            body.nodes.append(_Text(reader.consume(curly), reader.line, reader.whitespace))
        start = reader.consume(2)
        line = reader.line
        if reader.remaining() and reader.peek() == "!":
            reader.consume(1)
            body.nodes.append(_Text(start, line, reader.whitespace))
            continue

        if start == "{#":
            end = reader.find("#}")
            if end == -1:
                reader.error("Missing end comment #}")
            reader.consume(end + 2)
            continue

        if start == "{{":
            end = reader.find("}}")
            if end == -1:
                reader.error("Missing end expression }}")
            contents = reader.consume(end).strip()
            reader.consume(2)
            if not contents:
                reader.error("Empty expression")
            body.nodes.append(_Expression(contents, line))
            continue

        end = reader.find("%}")
        if end == -1:
            reader.error("Missing end block %}")
        contents = reader.consume(end).strip()
        reader.consume(2)
        if not contents:
            reader.error("Empty block tag ({% %})")
        operator, _, suffix = contents.partition(" ")
        suffix = suffix.strip()

        if operator in _INTERMEDIATE:
            if not in_block:
                reader.error("%s outside %s block" % (operator, _INTERMEDIATE[operator]))
            if in_block not in _INTERMEDIATE[operator]:
                reader.error("%s block cannot be attached to %s block" % (operator, in_block))
            body.nodes.append(_Intermediate(contents, line))
            continue
        if operator == "end":
            if not in_block:
                reader.error("Extra {% end %} block")
            return body
        if operator in ("extends", "include", "set", "import", "from", "comment",
                        "autoescape", "whitespace", "raw", "module"):
            if operator == "comment":
                continue
            if operator == "extends":
                name = suffix.strip('"').strip("'")
                if not name:
                    reader.error("extends missing file path")
                body.nodes.append(_Extends(name))
            elif operator in ("import", "from"):
                if not suffix:
                    reader.error("import missing statement")
                body.nodes.append(_Statement(contents, line))
            elif operator == "include":
                name = suffix.strip('"').strip("'")
                if not name:
                    reader.error("include missing file path")
                body.nodes.append(_Include(name, reader, line))
            elif operator == "set":
                if not suffix:
                    reader.error("set missing statement")
                body.nodes.append(_Statement(suffix, line))
            elif operator == "autoescape":
                template.autoescape = None if suffix == "None" else suffix
            elif operator == "whitespace":
                filter_whitespace(suffix, "")  # validates the mode
                reader.whitespace = suffix
            elif operator == "raw":
                body.nodes.append(_Expression(suffix, line, raw=True))
            elif operator == "module":
                body.nodes.append(_Module(suffix, line))
            continue
        if operator in ("apply", "block", "try", "if", "for", "while", "with"):
            loop = operator if operator in ("for", "while") else in_loop
            inner = _parse(reader, template, operator, loop)
            if operator == "apply":
                if not suffix:
                    reader.error("apply missing method name")
                body.nodes.append(_Apply(suffix, line, inner))
            elif operator == "block":
                if not suffix:
                    reader.error("block missing name")
                body.nodes.append(_NamedBlock(suffix, inner, template, line))
            else:
                body.nodes.append(_Control(contents, line, inner))
            continue
        if operator in ("break", "continue"):
            if not in_loop:
                reader.error("%s outside %s block" % (operator, {"for", "while"}))
            body.nodes.append(_Statement(contents, line))
            continue
        reader.error("unknown operator: %r" % operator)


# ---- code generation -------------------------------------------------------------------------
class _Writer:
    def __init__(self, named_blocks, loader, template):
        self.named_blocks, self.loader, self.template = named_blocks, loader, template
        self.lines = []
        self.indent = 0
        self._ids = 0
        self._stack = []

    def next_id(self):
        self._ids += 1
        return self._ids

    def indented(self):
        writer = self

        class _Indent:
            def __enter__(self):
                writer.indent += 1

            def __exit__(self, *args):
                writer.indent -= 1

        return _Indent()

    def switch(self, template):
        """Generates code of another template (a block's or an included one): its autoescape
        applies, and line comments name it."""
        writer = self

        class _Switch:
            def __enter__(self):
                writer._stack.append(writer.template)
                writer.template = template

            def __exit__(self, *args):
                writer.template = writer._stack.pop()

        return _Switch()

    def line(self, text, line, indent=None):
        where = "  # %s:%d" % (self.template.name, line)
        self.lines.append("    " * (self.indent if indent is None else indent) + text + where)


# ---- public API ------------------------------------------------------------------------------
class Template:
    """A compiled template. generate(**kwargs) renders it to bytes."""

    def __init__(self, template_string, name="<string>", loader=None, compress_whitespace=_UNSET,
                 autoescape=_UNSET, whitespace=None):
        self.name = escape.native_str(name)
        if compress_whitespace is not _UNSET:
            if whitespace is not None:
                raise Exception("cannot set both whitespace and compress_whitespace")
            whitespace = "single" if compress_whitespace else "all"
        if whitespace is None:
            if loader and loader.whitespace:
                whitespace = loader.whitespace
            elif name.endswith(".html") or name.endswith(".js"):
                whitespace = "single"
            else:
                whitespace = "all"
        filter_whitespace(whitespace, "")  # validates the mode
        if autoescape is not _UNSET:
            self.autoescape = autoescape
        elif loader:
            self.autoescape = loader.autoescape
        else:
            self.autoescape = _DEFAULT_AUTOESCAPE
        self.namespace = loader.namespace if loader else {}
        self.loader = loader
        reader = _Reader(self.name, escape.native_str(template_string), whitespace)
        self.file = _File(self, _parse(reader, self))
        self.code = self._generate_code(loader)
        try:
            # The template's name in the filename makes tracebacks readable.
            self.compiled = compile(self.code, "%s.generated.py" % self.name.replace(".", "_"),
                                    "exec", dont_inherit=True)
        except Exception:
            numbered = "\n".join("%4d  %s" % (i + 1, text)
                                 for i, text in enumerate(self.code.splitlines()))
            raise ParseError("%s code:\n%s" % (self.name, numbered), self.name)

    def _ancestors(self, loader):
        ancestors = [self.file]
        for node in self.file.body.nodes:
            if isinstance(node, _Extends):
                if not loader:
                    raise ParseError("{% extends %} block found, but no template loader",
                                     self.name)
                ancestors.extend(loader.load(node.name, self.name)._ancestors(loader))
        return ancestors

    def _generate_code(self, loader):
        ancestors = self._ancestors(loader)
        named_blocks = {}
        for ancestor in reversed(ancestors):  # the base first, overridden by its children
            ancestor.find_named_blocks(loader, named_blocks)
        writer = _Writer(named_blocks, loader, ancestors[-1].template)
        ancestors[-1].generate(writer)
        return "\n".join(writer.lines) + "\n"

    def generate(self, **kwargs):
        namespace = {
            "escape": escape.xhtml_escape,
            "xhtml_escape": escape.xhtml_escape,
            "url_escape": escape.url_escape,
            "json_encode": escape.json_encode,
            "squeeze": escape.squeeze,
            "linkify": escape.linkify,
            "datetime": datetime,
            "_tt_utf8": escape.utf8,
            "_tt_string_types": (str, bytes),
            "__name__": self.name.replace(".", "_"),
            "__loader__": _SourceLoader(self.code),
        }
        namespace.update(self.namespace)
        if "_tt_modules" not in kwargs:
            namespace["_tt_modules"] = _Modules(self.loader, kwargs)
        namespace.update(kwargs)
        exec(self.compiled, namespace)
        linecache.clearcache()
        return namespace["_tt_execute"]()


class _SourceLoader:
    """Lets tracebacks show the generated code (linecache asks the module's __loader__)."""

    def __init__(self, code):
        self.code = code

    def get_source(self, name):
        return self.code


class _Modules:
    """{% module ... %} without a handler: Template("file", **kw), linkify(text)."""

    def __init__(self, loader, namespace):
        self._loader = loader
        self._namespace = namespace

    def linkify(self, text, **kwargs):
        return escape.linkify(text, **kwargs)

    def xsrf_form_html(self):
        return self._namespace["xsrf_form_html"]()

    def Template(self, name, **kwargs):
        namespace = dict(self._namespace)
        namespace.update(kwargs)
        return self._loader.load(name).generate(**namespace)


class BaseLoader:
    """Loads and caches templates by name; subclasses say where the text comes from."""

    def __init__(self, autoescape=_DEFAULT_AUTOESCAPE, namespace=None, whitespace=None):
        self.autoescape = autoescape
        self.namespace = namespace or {}
        self.whitespace = whitespace
        self.templates = {}
        # An RLock: loading a template loads its parents and includes.
        self.lock = threading.RLock()

    def reset(self):
        with self.lock:
            self.templates = {}

    def resolve_path(self, name, parent_path=None):
        raise NotImplementedError()

    def load(self, name, parent_path=None):
        name = self.resolve_path(name, parent_path=parent_path)
        with self.lock:
            if name not in self.templates:
                self.templates[name] = self._create_template(name)
            return self.templates[name]

    def _create_template(self, name):
        raise NotImplementedError()


class Loader(BaseLoader):
    """Templates from files under root_directory; names are relative to the template that
    names them ("./x.html" and "../x.html" work), or to the root."""

    def __init__(self, root_directory, **kwargs):
        super().__init__(**kwargs)
        self.root = os.path.abspath(root_directory)

    def resolve_path(self, name, parent_path=None):
        if (parent_path and not parent_path.startswith("<") and not parent_path.startswith("/")
                and not name.startswith("/")):
            current = os.path.join(self.root, parent_path)
            path = os.path.abspath(os.path.join(os.path.dirname(current), name))
            if path.startswith(self.root):
                name = path[len(self.root) + 1:]
        return name

    def _create_template(self, name):
        path = os.path.join(self.root, name)
        with open(path, "rb") as f:
            return Template(f.read(), name=name, loader=self)


class DictLoader(BaseLoader):
    """Templates from a dict of name → text."""

    def __init__(self, dict, **kwargs):
        super().__init__(**kwargs)
        self.dict = dict

    def resolve_path(self, name, parent_path=None):
        if (parent_path and not parent_path.startswith("<") and not parent_path.startswith("/")
                and not name.startswith("/")):
            name = os.path.normpath(os.path.join(os.path.dirname(parent_path), name))
        return name

    def _create_template(self, name):
        return Template(self.dict[name], name=name, loader=self)
