"""eddy.template: a small subset of Tornado's template language, enough for render():
{{ expr }} (HTML-escaped), {% raw expr %}, {% if/elif/else/for/while/try/except %} ... {% end %},
{% set x = expr %}, {% module Template("file.html", **kwargs) %}, {# comments #}.
Templates compile to Python functions; Loader caches them per file."""

import os
import re

from . import escape

_TOKEN = re.compile(r"({{.*?}}|{%.*?%}|{#.*?#})", re.S)
_BLOCK_OPENERS = ("if", "for", "while", "try", "with")
_BLOCK_MIDDLES = ("elif", "else", "except", "finally")


class ParseError(Exception):
    pass


class Template:
    def __init__(self, source, name="<string>", loader=None):
        self.name = name
        self.loader = loader
        code = self._compile(source)
        namespace = {}
        exec(compile(code, name, "exec"), namespace)
        self._render = namespace["_render"]

    def _compile(self, source):
        lines = ["def _render(_ns):", "    globals().update(_ns)", "    _out = []"]
        depth = 1
        for token in _TOKEN.split(source):
            if not token:
                continue
            indent = "    " * depth
            if token.startswith("{#"):
                continue
            if token.startswith("{{"):
                lines.append(indent + "_out.append(_escape(%s))" % token[2:-2].strip())
                continue
            if not token.startswith("{%"):
                lines.append(indent + "_out.append(%r)" % token)
                continue
            stmt = token[2:-2].strip()
            word = stmt.split(None, 1)[0] if stmt else ""
            rest = stmt[len(word):].strip()
            if word == "end":
                depth -= 1
                if depth < 1:
                    raise ParseError("%s: unmatched {%% end %%}" % self.name)
            elif word in _BLOCK_OPENERS:
                lines.append(indent + stmt + ":")
                depth += 1
            elif word in _BLOCK_MIDDLES:
                lines.append("    " * (depth - 1) + stmt + ":")
            elif word == "raw":
                lines.append(indent + "_out.append(_str(%s))" % rest)
            elif word == "set":
                lines.append(indent + rest)
            elif word == "module":
                lines.append(indent + "_out.append(_str(_modules.%s))" % rest)
            elif word in ("autoescape", "whitespace", "comment"):
                continue
            else:
                raise ParseError("%s: unknown directive {%% %s %%}" % (self.name, word))
            if word in _BLOCK_OPENERS or word in _BLOCK_MIDDLES:
                lines.append("    " * depth + "pass")
        if depth != 1:
            raise ParseError("%s: missing {%% end %%}" % self.name)
        lines.append("    return ''.join(_out)")
        return "\n".join(lines) + "\n"

    def generate(self, **kwargs):
        namespace = dict(kwargs)
        namespace["_escape"] = lambda v: escape.xhtml_escape(_to_str(v))
        namespace["_str"] = _to_str
        namespace["_modules"] = _Modules(self.loader, kwargs)
        return self._render(namespace)


def _to_str(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value if isinstance(value, str) else str(value)


class _Modules:
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


class Loader:
    def __init__(self, root_directory, **kwargs):
        self.root = os.path.abspath(root_directory)
        self.templates = {}

    def load(self, name, parent_path=None):
        if name not in self.templates:
            with open(os.path.join(self.root, name), encoding="utf-8") as f:
                self.templates[name] = Template(f.read(), name=name, loader=self)
        return self.templates[name]

    def reset(self):
        self.templates = {}
