"""The `callcenter` command: demo, serve, migrate, seed, and bulk imports."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import asyncpg

from callcenter.embedded import EmbeddedError, EmbeddedServices
from callcenter.i18n_cli import add_i18n_parser, cmd_i18n
from callcenter.logs import configure_logging
from callcenter.migrate import migrate
from callcenter.settings import Settings, SettingsError, ensure_secret_key, load_settings
from callcenter.sim_run import add_simulate_parser, cmd_simulate

log = logging.getLogger("callcenter.cli")
DEMO_PASSWORD = "anxin12349"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callcenter", description="安心12349 虚拟养老院呼叫中心 (Anxin 12349 call centre)")
    parser.add_argument("--config", help="TOML settings file (environment variables win)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def listen(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", help="address to listen on (ANXIN_HOST)")
        p.add_argument("--port", type=int, help="port to listen on (ANXIN_PORT)")

    demo = sub.add_parser("demo", help="start the Weihai demo city: embedded services unless "
                                       "DATABASE_URL/REDIS_URL are set, seed once, serve")
    listen(demo)
    demo.add_argument("--elders", type=int, default=2000, help="elders to seed (default 2000)")
    demo.add_argument("--seed", type=int, default=12349, help="random seed (default 12349)")
    demo.add_argument("--simulate", type=float, default=4.0, metavar="SPEED",
                      help="run the city simulator at SPEED × Weihai's real pace (3,500 calls a"
                           " day; default 4: a call every ~6 s); 0 turns it off")
    demo.add_argument("--alarm-every", type=float, default=45.0, metavar="SECONDS",
                      help="a pretend device sends an event about this often (0: never)")
    serve = sub.add_parser("serve", help="migrate, then serve the web app")
    listen(serve)
    worker = sub.add_parser("worker", help="migrate, then run a dispatch worker (run several: "
                                           "they share the work)")
    worker.add_argument("--name", help="consumer name in the Redis group (default host-pid)")
    worker.add_argument("--claim-idle-s", type=float, default=30.0, metavar="SECONDS",
                        help="take over entries a silent worker has held this long (default 30)")
    add_simulate_parser(sub)
    add_i18n_parser(sub)
    sub.add_parser("migrate", help="apply the SQL migrations not yet applied")
    seed = sub.add_parser("seed", help="build the Weihai demo city into an empty database")
    seed.add_argument("--elders", type=int, default=2000, help="elders to create (default 2000)")
    seed.add_argument("--seed", type=int, default=12349, help="random seed (default 12349)")
    seed.add_argument("--password", default=DEMO_PASSWORD, help="password of every demo login")
    users = sub.add_parser("users", help="user accounts")
    user_actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = user_actions.add_parser("add", help="create a user; the password is read from stdin "
                                              "(or asked for on a terminal)")
    add.add_argument("username")
    add.add_argument("--role", required=True, help="admin, supervisor, operator, "
                                                   "provider_admin or provider_staff")
    add.add_argument("--region", required=True, help="region code, e.g. 371000 for the city")
    add.add_argument("--name", default="", help="display name (default: the user name)")
    add.add_argument("--provider-id", type=int, help="provider of a provider_* user")
    for kind in ("elders", "devices"):
        group = sub.add_parser(kind, help=f"{kind} registry commands")
        actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
        imp = actions.add_parser("import", help=f"import {kind} from CSV or XLSX (all or nothing)")
        imp.add_argument("file", type=Path, help="CSV (UTF-8, BOM allowed) or XLSX file")
        imp.add_argument("--skip-bad", action="store_true",
                         help="write the good rows and report the bad ones")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "i18n":  # files only: no settings, no services
        return cmd_i18n(args)
    # pgserver asks platformdirs for a runtime dir; on servers without XDG_RUNTIME_DIR it warns
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
    try:
        overrides: dict[str, Any] = {"config_file": args.config}
        if getattr(args, "host", None):
            overrides["host"] = args.host
        if getattr(args, "port", None):
            overrides["port"] = args.port
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"配置错误 (settings error): {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    for name, low in (("elders", 0), ("seed", 0), ("claim_idle_s", 0.1)):
        value = getattr(args, name, None)
        if isinstance(value, int | float) and value < low:
            print(f"--{name.replace('_', '-')} must be ≥ {low}", file=sys.stderr)
            return 2
    try:
        with EmbeddedServices(settings) as running:
            running = ensure_secret_key(running)
            print(f"PostgreSQL: {_describe(running.database_url, settings.database_url)}")
            print(f"Redis:      {_describe(running.redis_url, settings.redis_url)}", flush=True)
            return COMMANDS[args.command](running, args)
    except EmbeddedError as exc:
        print(f"无法启动内置服务 (cannot start an embedded server): {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"连接失败 (connection failed): {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _describe(url: str, configured: str) -> str:
    from callcenter.settings import hide_password

    where = "external (from the environment)" if configured else "embedded, in the data folder"
    return f"{hide_password(url)}  [{where}]"


def _run(coro_fn: Callable[[], Coroutine[Any, Any, int]]) -> int:
    return asyncio.run(coro_fn())


async def _connect(settings: Settings) -> asyncpg.Connection:
    return await asyncpg.connect(settings.database_url)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def go() -> int:
        conn = await _connect(settings)
        try:
            applied = await migrate(conn)
        finally:
            await conn.close()
        print("applied: " + ", ".join(applied) if applied else "schema is up to date")
        return 0
    return _run(go)


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from callcenter.seed import SeedError, seed_city

    async def go() -> int:
        conn = await _connect(settings)
        try:
            await migrate(conn)
            report = await seed_city(conn, elders=args.elders, seed=args.seed,
                                     demo_password=args.password)
        except SeedError as exc:
            print(f"未写入 (nothing written): {exc}", file=sys.stderr)
            return 1
        finally:
            await conn.close()
        print(f"seeded Weihai in {report.seconds:.1f} s: {report}")
        return 0
    return _run(go)


def _serve(settings: Settings, banner: Callable[[], None] | None = None,
           alarm_every_s: float = 0, demo: bool = False, simulate_speed: float = 0) -> int:
    from aiohttp import web

    from callcenter.app import create_app

    async def prepare() -> None:
        conn = await _connect(settings)
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(prepare())

    def ready(*_: Any) -> None:
        print(f"\n安心12349 已启动 (Anxin is running): http://{settings.host}:{settings.port}/",
              flush=True)
        if banner:
            banner()

    app = create_app(settings)
    if demo:  # one process: the web app, a dispatch worker and pretend provider staff
        from callcenter.demo_providers import providers_ctx
        from callcenter.worker_app import worker_ctx

        app.cleanup_ctx.append(worker_ctx)
        app.cleanup_ctx.append(providers_ctx)
    if alarm_every_s > 0:
        from callcenter.demo_feed import feed_ctx

        app.cleanup_ctx.append(feed_ctx(alarm_every_s))
    if simulate_speed > 0:
        from callcenter.demo_sim import sim_ctx

        app.cleanup_ctx.append(sim_ctx(simulate_speed, DEMO_PASSWORD))
    app.on_startup.append(_async(ready))
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None,
                shutdown_timeout=10)
    return 0


def _async(fn: Callable[..., None]) -> Callable[..., Coroutine[Any, Any, None]]:
    async def wrapper(*args: Any) -> None:
        fn(*args)
    return wrapper


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    return _serve(settings)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from callcenter.worker_app import run_worker

    async def go() -> int:
        conn = await _connect(settings)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        return await run_worker(settings, args.name, int(args.claim_idle_s * 1000))

    return _run(go)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from callcenter.care import plan_current_month
    from callcenter.seed import DEMO_LOGINS, seed_city
    from callcenter.seed_history import seed_history
    from callcenter.seed_quality import seed_quality

    async def prepare() -> None:
        conn = await _connect(settings)
        try:
            await migrate(conn)
            if await conn.fetchval("SELECT count(*) FROM regions") == 0:
                started = time.monotonic()
                print(f"seeding the Weihai demo city ({args.elders} elders)…", flush=True)
                await seed_city(conn, elders=args.elders, seed=args.seed,
                                demo_password=DEMO_PASSWORD)
                await seed_history(conn)  # last month's visits: a settlement to download
                await seed_quality(conn)  # follow-ups, complaints: stars that differ
                print(f"seeded in {time.monotonic() - started:.1f} s", flush=True)
            else:
                print("demo city already in the database; not seeding again", flush=True)
            await plan_current_month(conn, settings)  # active care: the rate climbs from 0
        finally:
            await conn.close()

    asyncio.run(prepare())
    if args.simulate > 0 and not settings.cti_token:  # the simulator's calls use the CTI hook
        settings = settings.replace(cti_token=secrets.token_hex(16))

    def banner() -> None:
        print(f"演示账号 (demo logins), password / 密码: {DEMO_PASSWORD}")
        for username, role, region, description in DEMO_LOGINS:
            print(f"  {username:<14} {role:<15} {description} · {region}")
        feed = (f"a pretend device sends an SOS, fall or notice about every "
                f"{args.alarm_every:.0f} s" if args.alarm_every > 0 else "pretend devices off")
        print(f"控制台 (operator console): http://{settings.host}:{settings.port}/console — {feed};"
              " pretend provider staff answer the orders you create there")
        print(f"服务人员 (provider staff, phone-sized): http://{settings.host}:{settings.port}"
              "/provider as ps.001.01")
        if args.simulate > 0:
            print(f"模拟城市 (simulated city): calls, alarms and bracelets at ×{args.simulate:g} "
                  "Weihai's pace; simulated district operators take some of them "
                  "(never the `operator` login)")
        print("Ctrl-C 停止 (to stop)", flush=True)

    return _serve(settings, banner, alarm_every_s=args.alarm_every, demo=True,
                  simulate_speed=args.simulate)


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from callcenter import imports

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"无法读取文件 (cannot read file): {exc}", file=sys.stderr)
        return 2
    fn = imports.import_elders if args.command == "elders" else imports.import_devices

    async def go() -> int:
        conn = await _connect(settings)
        try:
            await migrate(conn)
            report = await fn(conn, data, args.file.name, skip_bad=args.skip_bad,
                              default_area_code=settings.default_area_code)
        except imports.ImportFileError as exc:
            print(f"文件无法导入 (file cannot be imported): {exc}", file=sys.stderr)
            return 2
        finally:
            await conn.close()
        print(report.format_text())
        return 0 if report.ok else 1
    return _run(go)


def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    import getpass

    from callcenter.users import create_user
    from callcenter.validation import Invalid, ValidationError

    password = getpass.getpass("密码 (password): ") if sys.stdin.isatty() \
        else sys.stdin.readline().rstrip("\n")

    async def go() -> int:
        conn = await _connect(settings)
        try:
            await migrate(conn)
            user_id = await create_user(conn, username=args.username, password=password,
                                        role=args.role, region_code=args.region,
                                        display_name=args.name, provider_id=args.provider_id)
        except ValidationError as exc:
            for field, reason in exc.fields.items():
                print(f"{field}: {reason}", file=sys.stderr)
            return 2
        except Invalid as exc:
            print(exc.reason, file=sys.stderr)
            return 2
        finally:
            await conn.close()
        print(f"created user {args.username} (id {user_id}, {args.role}, region {args.region})")
        return 0
    return _run(go)


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "demo": cmd_demo, "serve": cmd_serve, "worker": cmd_worker, "simulate": cmd_simulate,
    "migrate": cmd_migrate, "seed": cmd_seed,
    "elders": cmd_import, "devices": cmd_import, "users": cmd_users,
}
