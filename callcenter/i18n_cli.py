"""`callcenter i18n extract|update|compile|check`: maintain the gettext catalogues.

extract: pybabel extract (babel.cfg) plus the run-time ids of i18n_keys -> messages.pot
update:  merge messages.pot into zh_CN and en messages.po (no fuzzy guesses, obsolete dropped)
compile: messages.po -> messages.mo (committed, so a fresh clone and the demo need no build step)
check:   exit 1 if a .mo is not what compiling its .po gives, or a catalogue lacks a translation
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from callcenter import i18n, i18n_keys

ROOT = Path(__file__).resolve().parent.parent
POT = i18n.LOCALE_DIR / f"{i18n.DOMAIN}.pot"
PO_WIDTH = 100
KEEP_COMMENT = "i18n-keep: built at run time (callcenter/i18n_keys.py)"


def po_path(lang: str) -> Path:
    return i18n.LOCALE_DIR / i18n.CATALOGUES[lang] / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


def _pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "--quiet", *args])


def extract() -> Catalog:
    """Write messages.pot: the keys found in the source plus the run-time ids. When the ids are
    the ones already there, the file is left as it was (no new date, so no churn downstream)."""
    before = POT.read_bytes() if POT.exists() else b""
    _pybabel("extract", "--mapping-file", str(ROOT / "babel.cfg"), "--keyword", "t",
             "--no-default-keywords", "--no-location", "--sort-output", "--width",
             str(PO_WIDTH), "--project", "anxin", "--output-file", str(POT), str(ROOT))
    with POT.open("rb") as fp:
        template = read_po(fp)
    for key in i18n_keys.dynamic_ids():
        if key not in template:
            template.add(key, auto_comments=[KEEP_COMMENT])
    if before and _ids(read_po(io.BytesIO(before))) == _ids(template):
        POT.write_bytes(before)
        return template
    with POT.open("wb") as fp:
        write_po(fp, template, width=PO_WIDTH, omit_header=False, sort_output=True)
    return template


def _ids(catalog: Catalog) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((str(m.id), tuple(m.auto_comments)) for m in catalog if m.id)


def update() -> None:
    """Merge messages.pot into both catalogues."""
    for lang in i18n.LANGS:
        _pybabel("update", "--input-file", str(POT), "--output-file", str(po_path(lang)),
                 "--locale", i18n.CATALOGUES[lang], "--domain", i18n.DOMAIN,
                 "--no-fuzzy-matching", "--ignore-obsolete", "--width", str(PO_WIDTH))


def compiled(lang: str) -> bytes:
    """The .mo that the language's .po compiles to (fuzzy entries left out)."""
    with po_path(lang).open("rb") as fp:
        catalog = read_po(fp, locale=i18n.CATALOGUES[lang])
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def untranslated(lang: str) -> list[str]:
    with po_path(lang).open("rb") as fp:
        catalog = read_po(fp)
    return sorted(str(m.id) for m in catalog if m.id and (not m.string or m.fuzzy))


def compile_all() -> list[Path]:
    """Write every .mo whose bytes differ from its .po's compilation; returns those written."""
    written = []
    for lang in i18n.LANGS:
        data, path = compiled(lang), i18n.mo_path(lang)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            written.append(path)
    return written


def check() -> list[str]:
    """What is wrong with the catalogues, as sentences; empty when all is well."""
    problems = []
    for lang in i18n.LANGS:
        path = i18n.mo_path(lang)
        if not path.exists() or path.read_bytes() != compiled(lang):
            problems.append(f"{path} is out of date: run `python -m callcenter i18n compile`")
        if missing := untranslated(lang):
            problems.append(f"{po_path(lang)}: no translation for {', '.join(missing)}")
    return problems


def add_i18n_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("i18n", help="translations: extract, update, compile or check the "
                                    "gettext catalogues under callcenter/locale")
    p.add_argument("action", choices=("extract", "update", "compile", "check"))


def cmd_i18n(args: argparse.Namespace) -> int:
    if args.action == "extract":
        print(f"{POT}: {len(extract())} message ids")
    elif args.action == "update":
        update()
        for lang in i18n.LANGS:
            if missing := untranslated(lang):
                print(f"{po_path(lang)}: translate {', '.join(missing)}")
    elif args.action == "compile":
        for path in compile_all():
            print(f"wrote {path}")
    else:
        problems = check()
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    return 0
