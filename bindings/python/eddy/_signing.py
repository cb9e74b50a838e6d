"""eddy._signing (re-exported by eddy.web): Tornado's signed values (what set_signed_cookie() produces), in Python.

The C layer signs and verifies the cookies of requests; these functions give the same format
to Python code: create_signed_value()/decode_signed_value() as in tornado.web (version 2:
HMAC-SHA256 over length-prefixed fields, optionally with a key version; version 1: HMAC-SHA1,
read only unless asked for). Values made here verify in Tornado and the other way round."""

import base64
import hashlib
import hmac
import re
import time

from .escape import utf8

DEFAULT_SIGNED_VALUE_VERSION = 2
DEFAULT_SIGNED_VALUE_MIN_VERSION = 1
MIN_SUPPORTED_SIGNED_VALUE_VERSION = 1
MAX_SUPPORTED_SIGNED_VALUE_VERSION = 2

_VERSION_RE = re.compile(rb"^([1-9][0-9]*)\|(.*)$", re.S)


def _field(data):
    return b"%d:%s" % (len(data), data)


def _mac(algorithm, secret, *parts):
    mac = hmac.new(utf8(secret), digestmod=algorithm)
    for part in parts:
        mac.update(utf8(part))
    return utf8(mac.hexdigest())


def create_signed_value(secret, name, value, version=None, clock=None, key_version=None):
    """A signed, timestamped `value` for `name` (bytes). `secret` may be a dict of key versions
    (then key_version picks one)."""
    version = DEFAULT_SIGNED_VALUE_VERSION if version is None else version
    timestamp = utf8(str(int(clock() if clock else time.time())))
    value = base64.b64encode(utf8(value))
    if version == 1:
        if isinstance(secret, dict):
            raise ValueError("key versions need signed value version 2")
        return b"|".join([value, timestamp, _mac(hashlib.sha1, secret, name, value, timestamp)])
    if version != 2:
        raise ValueError("Unsupported version %d" % version)
    if isinstance(secret, dict):
        if key_version is None:
            raise ValueError("key_version is required with a dict of secrets")
        secret = secret[key_version]
    signed = b"|".join([b"2", _field(utf8(str(key_version or 0))), _field(timestamp),
                        _field(utf8(name)), _field(value), b""])
    return signed + _mac(hashlib.sha256, secret, signed)


def _version(value):
    m = _VERSION_RE.match(value)
    if not m:
        return 1
    version = int(m.group(1))
    return 1 if version > 999 else version


def _take_field(rest):
    """Splits "<n>:<n bytes>|..." into (field, rest); raises ValueError when malformed."""
    length, _, rest = rest.partition(b":")
    n = int(length)
    field, bar, rest = rest[:n], rest[n:n + 1], rest[n + 1:]
    if len(field) != n or bar != b"|":
        raise ValueError("malformed field")
    return field, rest


def _parse_v2(value):
    """(key_version, timestamp, name, value_b64, to_sign, signature) or ValueError."""
    rest = value[2:]
    key_version, rest = _take_field(rest)
    timestamp, rest = _take_field(rest)
    name, rest = _take_field(rest)
    payload, rest = _take_field(rest)
    return int(key_version), int(timestamp), name, payload, value[:len(value) - len(rest)], rest


def decode_signed_value(secret, name, value, max_age_days=31, clock=None, min_version=None):
    """The original bytes of a signed value, or None when it is forged, for another name, too
    old (max_age_days) or of a version below min_version."""
    if not value:
        return None
    value = utf8(value)
    min_version = DEFAULT_SIGNED_VALUE_MIN_VERSION if min_version is None else min_version
    if min_version > 2:
        raise ValueError("Unsupported min_version %d" % min_version)
    version = _version(value)
    if version < min_version:
        return None
    now = clock() if clock else time.time()
    if version == 1:
        return _decode_v1(secret, name, value, max_age_days, now)
    if version == 2:
        return _decode_v2(secret, name, value, max_age_days, now)
    return None


def _decode_v1(secret, name, value, max_age_days, now):
    if isinstance(secret, dict):
        return None
    parts = value.split(b"|")
    if len(parts) != 3:
        return None
    payload, timestamp, signature = parts
    if not hmac.compare_digest(_mac(hashlib.sha1, secret, name, payload, timestamp), signature):
        return None
    if timestamp.startswith(b"0") or not timestamp.isdigit():
        return None
    ts = int(timestamp)
    # Too old, or dated more than a month ahead (a forged or replayed value).
    if ts < now - max_age_days * 86400 or ts > now + 31 * 86400:
        return None
    try:
        return base64.b64decode(payload)
    except Exception:
        return None


def _decode_v2(secret, name, value, max_age_days, now):
    try:
        key_version, ts, name_field, payload, to_sign, signature = _parse_v2(value)
    except ValueError:
        return None
    if isinstance(secret, dict):
        if key_version not in secret:
            return None
        secret = secret[key_version]
    if not hmac.compare_digest(_mac(hashlib.sha256, secret, to_sign), signature):
        return None
    if name_field != utf8(name):
        return None
    if ts < now - max_age_days * 86400:
        return None
    try:
        return base64.b64decode(payload)
    except Exception:
        return None


def get_signature_key_version(value):
    """The key version of a version 2 signed value (None for version 1 or a malformed one)."""
    value = utf8(value)
    if _version(value) < 2:
        return None
    try:
        return _parse_v2(value)[0]
    except ValueError:
        return None
