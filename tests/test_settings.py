"""Settings: defaults, environment, TOML, clear failures, and every setting documented."""

from pathlib import Path

import pytest

from callcenter.settings import SETTINGS, Settings, SettingsError, hide_password, load_settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults_match_the_table() -> None:
    s = load_settings(environ={})
    for setting in SETTINGS:
        assert getattr(s, setting.name) == setting.default, setting.name
        assert setting.help
    assert set(Settings.__dataclass_fields__) == {s.name for s in SETTINGS}


def test_environment_and_toml(tmp_path: Path) -> None:
    conf = tmp_path / "anxin.toml"
    conf.write_text('port = 9000\nhost = "0.0.0.0"\ncookie_secure = true\n')
    s = load_settings(environ={"ANXIN_CONFIG": str(conf), "ANXIN_PORT": "9100"})
    assert s.port == 9100 and s.host == "0.0.0.0" and s.cookie_secure is True


@pytest.mark.parametrize("env, name", [
    ({"ANXIN_PORT": "eighty"}, "ANXIN_PORT"),
    ({"ANXIN_PORT": "70000"}, "ANXIN_PORT"),
    ({"ANXIN_TIME_ZONE": "Mars/Olympus"}, "ANXIN_TIME_ZONE"),
    ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ({"REDIS_URL": "http://x"}, "REDIS_URL"),
    ({"ANXIN_COOKIE_SECURE": "maybe"}, "ANXIN_COOKIE_SECURE"),
    ({"ANXIN_CONFIG": "/nonexistent.toml"}, "ANXIN_CONFIG"),
])
def test_bad_values_fail_fast_naming_the_setting(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(environ=env)


def test_unknown_toml_key_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "anxin.toml"
    conf.write_text("prot = 9000\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings(environ={"ANXIN_CONFIG": str(conf)})


def test_passwords_hidden_in_logs() -> None:
    assert hide_password("postgresql://anxin:s3cret@db:5432/anxin") == \
        "postgresql://anxin:***@db:5432/anxin"
    s = load_settings(environ={"DATABASE_URL": "postgresql://a:pw@h/d"})
    assert "pw" not in s.describe()


def test_every_setting_is_documented_in_readme() -> None:
    text = README.read_text("utf-8")
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in text]
    assert not missing, f"README lacks: {missing}"
