"""UI text: Simplified Chinese first, English available, from Babel gettext catalogues.

Message ids are keys (`t('login')`); the text lives in callcenter/locale/<locale>/LC_MESSAGES/
messages.po, compiled to messages.mo (see callcenter/i18n_cli.py and README "Language").
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from babel import Locale
from babel.messages.mofile import read_mo
from babel.support import Translations

LANGS = ("zh", "en")
LANG_COOKIE = "anxin_lang"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
CATALOGUES = {"zh": "zh_CN", "en": "en"}  # lang -> catalogue directory under locale/
# lang -> locale for dates and numbers; "en" reads like the scripts' Intl "en-GB" (24-hour)
FORMAT_LOCALES = {"zh": "zh_Hans_CN", "en": "en_GB"}
USER_LANG = web.RequestKey("user_lang", str)  # the logged-in user's stored language (auth.py)


def mo_path(lang: str) -> Path:
    return LOCALE_DIR / CATALOGUES[lang] / "LC_MESSAGES" / f"{DOMAIN}.mo"


@functools.cache
def translations(lang: str) -> Translations:
    """The compiled catalogue of one language, read once per process."""
    path = mo_path(lang)
    try:
        with path.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    except FileNotFoundError:
        raise RuntimeError(f"missing compiled catalogue {path}: run "
                           "`python -m callcenter i18n compile`") from None


@functools.cache
def message_ids() -> frozenset[str]:
    """Every message id of the catalogues (both languages have the same ids)."""
    with mo_path("zh").open("rb") as fp:
        return frozenset(str(m.id) for m in read_mo(fp) if m.id)


@functools.cache
def format_locale(lang: str) -> Locale:
    return Locale.parse(FORMAT_LOCALES[lang])


def lang_of(request: web.Request) -> str:
    """An explicit ?lang=, then the user's stored language, then the cookie, then Chinese."""
    for wanted in (request.query.get("lang"), request.get(USER_LANG),
                   request.cookies.get(LANG_COOKIE)):
        if wanted in LANGS:
            return wanted
    return "zh"


def translator(lang: str) -> Callable[[str], str]:
    """`t(key)`: the key's text in `lang`; an unknown key is returned as it is."""
    gettext = translations(lang if lang in LANGS else "zh").gettext

    def t(key: str) -> str:
        return gettext(key)

    return t
