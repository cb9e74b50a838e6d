"""eddy.options: tornado.options — define() options once, read them as options.name, fill them
from the command line (parse_command_line) or a Python config file (parse_config_file).

As in Tornado, the global `options` comes with the logging options (--logging=info|warning|
...|none, --log-to-stderr, --log-file-prefix, ...) and a final parse sets up logging."""

import datetime
import logging
import logging.handlers
import numbers
import re
import sys


class Error(Exception):
    """A bad option definition or value."""


class _Option:
    def __init__(self, name, default, type_, help_, metavar, multiple, file_name, group,
                 callback):
        if default is None and multiple:
            default = []
        self.name, self.default, self.help, self.metavar = name, default, help_, metavar
        self.multiple, self.file_name, self.group_name = multiple, file_name, group
        self.callback = callback
        self.type = type_ or (type(default) if default is not None and not multiple else str)
        self._value = None  # None: not set, the default applies

    def value(self):
        return self.default if self._value is None else self._value

    def parse(self, text):
        convert = {datetime.datetime: self._parse_datetime,
                   datetime.timedelta: self._parse_timedelta,
                   bool: self._parse_bool}.get(self.type, self.type)
        if self.multiple:
            values = []
            for part in text.split(","):
                if issubclass(self.type, numbers.Integral) and ":" in part:
                    lo, hi = part.split(":")  # "1:3" is 1, 2, 3
                    values.extend(range(convert(lo), convert(hi) + 1))
                else:
                    values.append(convert(part))
            self._value = values
        else:
            self._value = convert(text)
        if self.callback is not None:
            self.callback(self._value)
        return self._value

    def set(self, value):
        if self.multiple:
            if not isinstance(value, list):
                raise Error("Option %r is required to be a list of %s"
                            % (self.name, self.type.__name__))
            for item in value:
                if item is not None and not isinstance(item, self.type):
                    raise Error("Option %r is required to be a list of %s"
                                % (self.name, self.type.__name__))
        elif value is not None and not isinstance(value, self.type):
            raise Error("Option %r is required to be a %s (%s given)"
                        % (self.name, self.type.__name__, type(value)))
        self._value = value
        if self.callback is not None:
            self.callback(self._value)

    @staticmethod
    def _parse_bool(text):
        return text.lower() not in ("false", "0", "f")

    @staticmethod
    def _parse_datetime(text):
        for fmt in ("%a %b %d %H:%M:%S %Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                    "%Y-%m-%dT%H:%M", "%Y%m%d %H:%M:%S", "%Y%m%d %H:%M", "%Y-%m-%d", "%Y%m%d",
                    "%H:%M:%S", "%H:%M"):
            try:
                return datetime.datetime.strptime(text, fmt)
            except ValueError:
                pass
        raise Error("Unrecognized date/time format: %r" % text)

    _UNITS = {"d": "days", "day": "days", "h": "hours", "hr": "hours", "m": "minutes",
              "min": "minutes", "s": "seconds", "sec": "seconds", "ms": "milliseconds",
              "us": "microseconds", "w": "weeks"}

    @classmethod
    def _parse_timedelta(cls, text):
        total = datetime.timedelta()
        matched = False
        for number, unit in re.findall(r"\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*([a-z]*)\s*",
                                       text):
            unit = unit or "s"
            if unit not in cls._UNITS.values():
                unit = cls._UNITS.get(unit) or cls._UNITS.get(unit.rstrip("s"))
            if not unit:
                raise Error("Unrecognized time unit in %r" % text)
            total += datetime.timedelta(**{unit: float(number)})
            matched = True
        if not matched:
            raise Error("Unrecognized timedelta: %r" % text)
        return total


def _normalize(name):
    return name.replace("_", "-")


class OptionParser:
    """A set of options; the module-level `options` is the usual one."""

    def __init__(self):
        self.__dict__["_options"] = {}
        self.__dict__["_parse_callbacks"] = []
        self.define("help", type=bool, help="show this help information",
                    callback=self._help_callback)

    def __getattr__(self, name):
        name = _normalize(name)
        if name in self._options:
            return self._options[name].value()
        raise AttributeError("Unrecognized option %r" % name)

    def __setattr__(self, name, value):
        name = _normalize(name)
        if name in self._options:
            return self._options[name].set(value)
        raise AttributeError("Unrecognized option %r" % name)

    def __iter__(self):
        return (opt.name for opt in self._options.values())

    def __contains__(self, name):
        return _normalize(name) in self._options

    def __getitem__(self, name):
        return self.__getattr__(name)

    def __setitem__(self, name, value):
        return self.__setattr__(name, value)

    def items(self):
        return [(opt.name, opt.value()) for opt in self._options.values()]

    def groups(self):
        return {opt.group_name for opt in self._options.values()}

    def group_dict(self, group):
        return {opt.name: opt.value() for opt in self._options.values()
                if not group or group == opt.group_name}

    def as_dict(self):
        return {opt.name: opt.value() for opt in self._options.values()}

    def define(self, name, default=None, type=None, help=None, metavar=None, multiple=False,
               group=None, callback=None):
        """Defines --name; type defaults to the default's type (str when None)."""
        normalized = _normalize(name)
        if normalized in self._options:
            raise Error("Option %r already defined in %s"
                        % (normalized, self._options[normalized].file_name))
        frame = sys._getframe(1)
        if frame.f_code.co_name == "define" and frame.f_back is not None:
            frame = frame.f_back  # the module-level define() wrapper: its caller's file
        file_name = frame.f_code.co_filename
        if file_name == __file__:
            file_name = ""  # eddy's own options (help, logging) have no file group
        self._options[normalized] = _Option(name, default, type, help, metavar, multiple,
                                            file_name, group or file_name, callback)

    def parse_command_line(self, args=None, final=True):
        """Sets options from `--name=value` arguments (a bool may omit "=value"); returns the
        arguments after the last option. With final=True the parse callbacks run."""
        args = sys.argv if args is None else args
        remaining = []
        for i in range(1, len(args)):
            if not args[i].startswith("-"):
                remaining = args[i:]
                break
            if args[i] == "--":
                remaining = args[i + 1:]
                break
            arg = args[i].lstrip("-")
            name, equals, value = arg.partition("=")
            name = _normalize(name)
            if name not in self._options:
                self.print_help()
                raise Error("Unrecognized command line option: %r" % name)
            option = self._options[name]
            if not equals:
                if option.type is bool:
                    value = "true"
                else:
                    raise Error("Option %r requires a value" % name)
            option.parse(value)
        if final:
            self.run_parse_callbacks()
        return remaining

    def parse_config_file(self, path, final=True):
        """Runs the Python file at `path` and takes the values of its globals named like
        options (strings are parsed, other values must have the option's type)."""
        config = {"__file__": path}
        with open(path, "rb") as f:
            exec(compile(f.read(), path, "exec"), config, config)
        for name in config:
            normalized = _normalize(name)
            if normalized in self._options:
                option = self._options[normalized]
                value = config[name]
                if option.multiple and not isinstance(value, (list, str)):
                    raise Error("Option %r is required to be a list of %s or a comma-separated "
                                "string" % (option.name, option.type.__name__))
                if isinstance(value, str) and option.type is not str:
                    option.parse(value)
                else:
                    option.set(value)
        if final:
            self.run_parse_callbacks()

    def print_help(self, file=None):
        file = file or sys.stderr
        print("Usage: %s [OPTIONS]" % sys.argv[0], file=file)
        print("\nOptions:\n", file=file)
        by_group = {}
        for option in self._options.values():
            by_group.setdefault(option.group_name, []).append(option)
        for group, options in sorted(by_group.items()):
            if group:
                print("\n%s options:\n" % group, file=file)
            for option in sorted(options, key=lambda o: o.name):
                prefix = _normalize(option.name)
                if option.metavar:
                    prefix += "=" + option.metavar
                description = option.help or ""
                if option.default is not None and option.default != "":
                    description += " (default %s)" % option.default
                print("  --%-30s %s" % (prefix, description), file=file)
        print(file=file)

    def _help_callback(self, value):
        if value:
            self.print_help()
            sys.exit(0)

    def add_parse_callback(self, callback):
        """callback() runs after each final parse."""
        self._parse_callbacks.append(callback)

    def run_parse_callbacks(self):
        for callback in self._parse_callbacks:
            callback()

    def mockable(self):
        """An object whose attributes can be patched with unittest.mock.patch.object."""
        return _Mockable(self)


class _Mockable:
    def __init__(self, options):
        self.__dict__["_options"] = options
        self.__dict__["_originals"] = {}

    def __getattr__(self, name):
        return getattr(self._options, name)

    def __setattr__(self, name, value):
        assert name not in self._originals, "don't reuse mockable objects"
        self._originals[name] = getattr(self._options, name)
        setattr(self._options, name, value)

    def __delattr__(self, name):
        setattr(self._options, name, self._originals.pop(name))


options = OptionParser()


def define(name, default=None, type=None, help=None, metavar=None, multiple=False, group=None,
           callback=None):
    return options.define(name, default=default, type=type, help=help, metavar=metavar,
                          multiple=multiple, group=group, callback=callback)


def parse_command_line(args=None, final=True):
    return options.parse_command_line(args, final=final)


def parse_config_file(path, final=True):
    return options.parse_config_file(path, final=final)


def print_help(file=None):
    return options.print_help(file)


def add_parse_callback(callback):
    options.add_parse_callback(callback)


# ---- logging (tornado.log's options and pretty logging) -------------------------------------
class LogFormatter(logging.Formatter):
    """Tornado's log line: "[I 201128 10:00:00 module:12] message"."""

    def __init__(self, fmt="[%(levelname)1.1s %(asctime)s %(module)s:%(lineno)d] %(message)s",
                 datefmt="%y%m%d %H:%M:%S", style="%", **kwargs):
        super().__init__(fmt=fmt, datefmt=datefmt, style=style)


def enable_pretty_logging(options=None, logger=None):
    """Sets the root logger up from the logging options (level, stderr and/or a file)."""
    if options is None:
        options = globals()["options"]
    if options.logging is None or options.logging.lower() == "none":
        return
    logger = logger or logging.getLogger()
    logger.setLevel(getattr(logging, options.logging.upper()))
    if options.log_file_prefix:
        if options.log_rotate_mode == "time":
            channel = logging.handlers.TimedRotatingFileHandler(
                options.log_file_prefix, when=options.log_rotate_when,
                interval=options.log_rotate_interval, backupCount=options.log_file_num_backups,
                encoding="utf-8")
        else:
            channel = logging.handlers.RotatingFileHandler(
                options.log_file_prefix, maxBytes=options.log_file_max_size,
                backupCount=options.log_file_num_backups, encoding="utf-8")
        channel.setFormatter(LogFormatter())
        logger.addHandler(channel)
    if options.log_to_stderr or (options.log_to_stderr is None and not logger.handlers):
        channel = logging.StreamHandler()
        channel.setFormatter(LogFormatter())
        logger.addHandler(channel)


def define_logging_options(options=None):
    """Adds --logging, --log-to-stderr, --log-file-* and --log-rotate-* to `options`."""
    if options is None:
        options = globals()["options"]
    options.define("logging", default="info",
                   help="Set the Python log level. If 'none', eddy won't touch the logging "
                        "configuration.", metavar="debug|info|warning|error|none")
    options.define("log_to_stderr", type=bool, default=None,
                   help="Send log output to stderr (default: when there is no log file)")
    options.define("log_file_prefix", type=str, default=None, metavar="PATH",
                   help="Path prefix for log files")
    options.define("log_file_max_size", type=int, default=100 * 1000 * 1000,
                   help="max size of log files before rollover")
    options.define("log_file_num_backups", type=int, default=10,
                   help="number of log files to keep")
    options.define("log_rotate_when", type=str, default="midnight",
                   help="specify the type of TimedRotatingFileHandler interval")
    options.define("log_rotate_interval", type=int, default=1,
                   help="The interval value of timed rotating")
    options.define("log_rotate_mode", type=str, default="size",
                   help="The mode of rotating files(time or size)")
    options.add_parse_callback(lambda: enable_pretty_logging(options))


define_logging_options(options)
