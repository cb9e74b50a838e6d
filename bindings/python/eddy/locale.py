"""eddy.locale: tornado.locale's translations for handlers and templates.

load_translations(directory) reads CSV files named after their locale (es_LA.csv: rows of
"original","translation"[,"singular"|"plural"]); load_gettext_translations(directory, domain)
reads compiled gettext catalogs. get("es-la", "en") gives the closest supported Locale, whose
translate(message, plural_message, count) and pgettext(context, ...) templates call as _() and
pgettext(). RequestHandler.locale picks one from get_user_locale() or Accept-Language."""

import csv
import gettext
import logging
import os

gen_log = logging.getLogger("eddy.general")

_default_locale = "en_US"
_translations = {}  # code → {"singular"|"plural"|"unknown": {message: translation}} (CSV)
_supported_locales = frozenset([_default_locale])
_use_gettext = False
CONTEXT_SEPARATOR = "\x04"


def get(*locale_codes):
    """The closest Locale to the codes given, in order of preference."""
    return Locale.get_closest(*locale_codes)


def set_default_locale(code):
    """The locale used when nothing closer is supported (en_US at first)."""
    global _default_locale, _supported_locales
    _default_locale = code
    _supported_locales = frozenset(list(_translations) + [_default_locale])


def load_translations(directory, encoding=None):
    """Loads every <locale>.csv of `directory` (UTF-8 unless `encoding`; a UTF-16 BOM is
    recognised)."""
    global _translations, _supported_locales
    _translations = {}
    for path in sorted(os.listdir(directory)):
        if not path.endswith(".csv"):
            continue
        code = path[:-4]
        full_path = os.path.join(directory, path)
        file_encoding = encoding
        if file_encoding is None:
            with open(full_path, "rb") as f:
                head = f.read(2)
            file_encoding = "utf-16" if head in (b"\xfe\xff", b"\xff\xfe") else "utf-8-sig"
        with open(full_path, encoding=file_encoding) as f:
            _translations[code] = {}
            for i, row in enumerate(csv.reader(f)):
                if not row or len(row) < 2:
                    continue
                english, translation = row[0], row[1]
                plural = (row[2] or "unknown") if len(row) > 2 else "unknown"
                if plural not in ("plural", "singular", "unknown"):
                    gen_log.error("Unrecognized plural indicator %r in %s line %d", plural,
                                  path, i + 1)
                    continue
                _translations[code].setdefault(plural, {})[english] = translation
    _supported_locales = frozenset(list(_translations) + [_default_locale])
    gen_log.debug("Supported locales: %s", sorted(_supported_locales))


def load_gettext_translations(directory, domain):
    """Loads <directory>/<locale>/LC_MESSAGES/<domain>.mo catalogs."""
    global _translations, _supported_locales, _use_gettext
    _translations = {}
    for code in sorted(os.listdir(directory)):
        if code.startswith(".") or os.path.isfile(os.path.join(directory, code)):
            continue
        try:
            _translations[code] = gettext.translation(domain, directory, languages=[code])
        except Exception as e:
            gen_log.error("Cannot load translation for '%s': %s", code, str(e))
    _supported_locales = frozenset(list(_translations) + [_default_locale])
    _use_gettext = True


def get_supported_locales():
    return _supported_locales


class Locale:
    """One language's translations. Use Locale.get(code) or get_closest(...)."""

    _cache = {}

    @classmethod
    def get_closest(cls, *locale_codes):
        for code in locale_codes:
            if not code:
                continue
            parts = code.replace("-", "_").split("_")
            if len(parts) > 2:
                continue
            if len(parts) == 2:
                code = parts[0].lower() + "_" + parts[1].upper()
            if code in _supported_locales:
                return cls.get(code)
            if parts[0].lower() in _supported_locales:
                return cls.get(parts[0].lower())
        return cls.get(_default_locale)

    @classmethod
    def get(cls, code):
        if code not in cls._cache:
            assert code in _supported_locales
            translations = _translations.get(code, None)
            if translations is None:
                locale = CSVLocale(code, {})
            elif _use_gettext:
                locale = GettextLocale(code, translations)
            else:
                locale = CSVLocale(code, translations)
            cls._cache[code] = locale
        return cls._cache[code]

    def __init__(self, code):
        self.code = code
        self.name = code
        self.rtl = code.split("_")[0] in ("fa", "ar", "he")

    def translate(self, message, plural_message=None, count=None):
        raise NotImplementedError()

    def pgettext(self, context, message, plural_message=None, count=None):
        raise NotImplementedError()

    def list(self, parts):
        """"A, B and C" (the "and" translated)."""
        _ = self.translate
        if len(parts) == 0:
            return ""
        if len(parts) == 1:
            return parts[0]
        comma = " \u0648 " if self.code.startswith("fa") else ", "
        return _("%(commas)s and %(last)s") % {"commas": comma.join(parts[:-1]),
                                               "last": parts[len(parts) - 1]}

    def friendly_number(self, value):
        """1234567 → "1,234,567" (English locales only, as Tornado)."""
        if self.code not in ("en", "en_US"):
            return str(value)
        s = str(value)
        groups = []
        while s:
            groups.append(s[-3:])
            s = s[:-3]
        return ",".join(reversed(groups))


class CSVLocale(Locale):
    def __init__(self, code, translations):
        self.translations = translations
        super().__init__(code)

    def translate(self, message, plural_message=None, count=None):
        if plural_message is not None:
            assert count is not None
            if count != 1:
                message = plural_message
                table = self.translations.get("plural", {})
            else:
                table = self.translations.get("singular", {})
        else:
            table = self.translations.get("unknown", {})
        return table.get(message, message)

    def pgettext(self, context, message, plural_message=None, count=None):
        if self.translations:
            gen_log.warning("pgettext is not supported by CSVLocale")
        return self.translate(message, plural_message, count)


class GettextLocale(Locale):
    def __init__(self, code, translations):
        self.ngettext = translations.ngettext
        self.gettext = translations.gettext
        super().__init__(code)

    def translate(self, message, plural_message=None, count=None):
        if plural_message is not None:
            assert count is not None
            return self.ngettext(message, plural_message, count)
        return self.gettext(message)

    def pgettext(self, context, message, plural_message=None, count=None):
        if plural_message is not None:
            assert count is not None
            msgs_with_ctxt = ("%s%s%s" % (context, CONTEXT_SEPARATOR, message),
                              "%s%s%s" % (context, CONTEXT_SEPARATOR, plural_message), count)
            result = self.ngettext(*msgs_with_ctxt)
            if CONTEXT_SEPARATOR in result:
                result = self.ngettext(message, plural_message, count)
            return result
        msg_with_ctxt = "%s%s%s" % (context, CONTEXT_SEPARATOR, message)
        result = self.gettext(msg_with_ctxt)
        if CONTEXT_SEPARATOR in result:
            result = message
        return result
