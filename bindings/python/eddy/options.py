"""eddy.options: the define()/options/parse_command_line() subset of tornado.options."""

import sys


class Error(Exception):
    pass


class _Option:
    def __init__(self, name, default, type_, help_, multiple):
        self.name, self.default, self.help, self.multiple = name, default, help_, multiple
        self.type = type_ or (type(default) if default is not None else str)
        self.value = default

    def parse(self, text):
        if self.type is bool:
            return text.lower() not in ("false", "0", "f", "no", "")
        if self.multiple:
            return [self.type(part) for part in text.split(",")]
        return self.type(text)


class OptionParser:
    def __init__(self):
        self.__dict__["_options"] = {}

    def define(self, name, default=None, type=None, help=None, metavar=None, multiple=False,
               group=None, callback=None):
        key = name.replace("_", "-")
        if key in self._options:
            raise Error("Option %r already defined" % name)
        self._options[key] = _Option(name, default, type, help, multiple)

    def __getattr__(self, name):
        key = name.replace("_", "-")
        if key in self._options:
            return self._options[key].value
        raise AttributeError("Unrecognized option %r" % name)

    def __setattr__(self, name, value):
        key = name.replace("_", "-")
        if key not in self._options:
            raise AttributeError("Unrecognized option %r" % name)
        self._options[key].value = value

    def __getitem__(self, name):
        return getattr(self, name)

    def parse_command_line(self, args=None, final=True):
        args = sys.argv if args is None else args
        remaining = []
        i = 1
        while i < len(args):
            arg = args[i]
            if not arg.startswith("-"):
                remaining = args[i:]
                break
            if arg == "--":
                remaining = args[i + 1:]
                break
            name, eq, value = arg.lstrip("-").partition("=")
            key = name.replace("_", "-")
            if key == "help":
                for opt in self._options.values():
                    print("  --%-20s %s (default %r)" % (opt.name, opt.help or "", opt.default))
                sys.exit(0)
            if key not in self._options:
                raise Error("Unrecognized command line option: %r" % name)
            opt = self._options[key]
            if not eq:
                if opt.type is bool:
                    value = "true"
                elif i + 1 < len(args):
                    i += 1
                    value = args[i]
                else:
                    raise Error("Option %r requires a value" % name)
            opt.value = opt.parse(value)
            i += 1
        return remaining


options = OptionParser()


def define(name, default=None, type=None, help=None, metavar=None, multiple=False, group=None,
           callback=None):
    return options.define(name, default, type, help, metavar, multiple, group, callback)


def parse_command_line(args=None, final=True):
    return options.parse_command_line(args, final)
