"""The gettext catalogues: every key the code uses has text in both languages, the compiled
.mo files are what the .po files compile to, and pages format by language (issue 6, Language)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import jinja2
import pytest
from aiohttp.test_utils import make_mocked_request
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from callcenter import i18n, i18n_cli, i18n_keys, pages

ROOT = Path(__file__).resolve().parent.parent


def _catalogue(lang: str) -> dict[str, str]:
    with i18n_cli.po_path(lang).open("rb") as fp:
        return {str(m.id): str(m.string) for m in read_po(fp) if m.id}


def _static_keys() -> set[str]:
    """The keys `pybabel extract` finds with babel.cfg: t('key') in Python, templates, scripts."""
    with (ROOT / "babel.cfg").open() as fp:
        method_map, options_map = parse_mapping_cfg(fp)
    return {str(found[2]) for found in extract_from_dir(
        str(ROOT), method_map, options_map, keywords={"t": None}) if found[2]}


def test_both_languages_have_the_same_ids() -> None:
    zh, en = _catalogue("zh"), _catalogue("en")
    assert zh.keys() == en.keys(), zh.keys() ^ en.keys()


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_every_key_in_use_has_text(lang: str) -> None:
    catalogue = _catalogue(lang)
    used = _static_keys() | set(i18n_keys.dynamic_ids())
    assert len(used) > 600
    missing = sorted(k for k in used if not catalogue.get(k, "").strip())
    assert not missing, missing


def test_extraction_finds_the_templates_and_scripts_keys() -> None:
    """A smoke test of babel.cfg: one key from each kind of source."""
    found = _static_keys()
    assert {"app_name", "login_failed", "con_acknowledge", "pv_offers", "map_counts",
            "rep_alarms_by_kind"} <= found
    assert not any("$" in k or " " in k for k in found), sorted(found)


def test_dynamic_families_cover_the_code_data() -> None:
    from dispatch.states import ACTORS, LABELS, STATES

    ids = set(i18n_keys.dynamic_ids())
    assert {f"os_{s}" for s in STATES} | {f"ord_actor_{a}" for a in ACTORS} <= ids
    assert set(LABELS) == set(STATES)
    # a label kept as code data for the dispatch core says the same as the catalogue
    assert i18n.translator("zh")("os_on_site") == LABELS["on_site"][0]


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_compiled_catalogues_are_up_to_date(lang: str) -> None:
    assert i18n.mo_path(lang).read_bytes() == i18n_cli.compiled(lang), (
        "run `python -m callcenter i18n compile` and commit the .mo files")


def test_check_command_is_clean() -> None:
    assert i18n_cli.check() == []
    assert i18n_cli.cmd_i18n(type("Args", (), {"action": "check"})()) == 0


def test_package_data_ships_the_catalogues() -> None:
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    assert '"locale/*/LC_MESSAGES/*.mo"' in text and '"babel>=' in text


def test_translator_reads_the_catalogue() -> None:
    assert i18n.translator("zh")("login") == "登录"
    assert i18n.translator("en")("login") == "Log in"
    assert i18n.translator("en")("no_such_key") == "no_such_key"
    assert "pv_offers" in i18n.message_ids() and "" not in i18n.message_ids()


@pytest.mark.parametrize(("query", "user_lang", "cookie", "expected"), [
    ("", None, None, "zh"),
    ("", None, "en", "en"),
    ("", "en", "zh", "en"),          # the user's stored language beats the cookie
    ("lang=zh", "en", "en", "zh"),   # an explicit switch beats both
    ("lang=xx", None, "en", "en"),
    ("", None, "fr", "zh"),
])
def test_lang_of_precedence(query: str, user_lang: str | None, cookie: str | None,
                            expected: str) -> None:
    headers = {"Cookie": f"{i18n.LANG_COOKIE}={cookie}"} if cookie else {}
    request = make_mocked_request("GET", f"/?{query}", headers=headers)
    if user_lang:
        request[i18n.USER_LANG] = user_lang
    assert i18n.lang_of(request) == expected


SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("lang", "expected"), [
    ("zh", "2026/3/1 08:05 · 2026年3月1日 · 12,345 · 1,234.50 · 97.5% · 99%"),
    ("en", "01/03/2026, 08:05 · 1 Mar 2026 · 12,345 · 1,234.50 · 97.5% · 99%"),
])
def test_page_filters_format_by_language_in_shanghai_time(lang: str, expected: str) -> None:
    env = pages.make_templates()
    moment = dt.datetime(2026, 3, 1, 0, 5, tzinfo=dt.UTC)  # 08:05 in Shanghai
    out = env.from_string(
        "{{ m | datetime }} · {{ m | date }} · {{ 12345 | number }} · {{ 1234.5 | number(2) }}"
        " · {{ 0.975 | percent(1) }} · {{ 0.99 | percent }}").render(m=moment, lang=lang,
                                                                     tz=SHANGHAI)
    assert out == expected


def test_filters_show_a_dash_for_nothing() -> None:
    env = pages.make_templates()
    out = env.from_string("{{ none | datetime }}{{ none | number }}").render(
        none=None, lang="en", tz=SHANGHAI)
    assert out == "——"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ nothing | number }}").render(lang="en", tz=SHANGHAI)
