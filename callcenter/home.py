"""Server pages of the registry: home (counts for your region), elder search and record,
regions, providers, catalogue. Every query goes through the same role and region checks."""

from __future__ import annotations

from aiohttp import web

from callcenter import auth, catalogue, elders, keys, providers
from callcenter.http import paging, path_id
from callcenter.pages import render
from callcenter.routing import ALL_ROLES, STAFF_ROLES, Routes
from callcenter.validation import RISK_GROUPS, RISK_GROUPS_EN

routes = Routes("pages", "页面 (pages)")

_COUNTS = f"""
SELECT (SELECT count(*) FROM elders e JOIN regions r ON r.code = e.region_code
         WHERE e.status = 'active' AND {auth.scope_sql(1)}) AS elders,
       (SELECT count(*) FROM devices d JOIN elders e ON e.id = d.elder_id
         JOIN regions r ON r.code = e.region_code
         WHERE d.status = 'active' AND {auth.scope_sql(1)}) AS devices,
       (SELECT count(*) FROM providers p JOIN regions r ON r.code = p.region_code
         WHERE p.active AND {auth.scope_sql(1)}) AS providers,
       (SELECT count(*) FROM staff s JOIN providers p ON p.id = s.provider_id
         JOIN regions r ON r.code = p.region_code WHERE s.active AND {auth.scope_sql(1)}) AS staff,
       (SELECT count(*) FROM service_items WHERE active) AS items
"""
_BY_CHILD = """
SELECT c.code, c.name, c.kind, c.service_radius_m, count(e.id) AS elders
FROM regions c
LEFT JOIN regions r ON r.path = c.path OR r.path LIKE c.path || '.%'
LEFT JOIN elders e ON e.region_code = r.code AND e.status = 'active'
WHERE c.parent_code = $1
GROUP BY c.code, c.name, c.kind, c.service_radius_m ORDER BY c.code
"""
_BY_RISK = f"""
SELECT g AS risk_group, count(*) AS elders
FROM elders e JOIN regions r ON r.code = e.region_code, unnest(e.risk_groups) g
WHERE e.status = 'active' AND {auth.scope_sql(1)} GROUP BY g
"""


@routes.get("/", name="home", roles=ALL_ROLES, page=True, summary="首页 (home)")
async def home(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    if p.role not in STAFF_ROLES:
        provider = None
        if p.provider_id is not None:
            provider = providers.provider_view(await providers.fetch_provider(
                db, p, p.provider_id)) if p.role == "provider_admin" else None
        return render(request, "home_provider.html", provider=provider)
    counts = await db.fetchrow(_COUNTS, *auth.scope_args(p))
    by_child = await db.fetch(_BY_CHILD, p.region_code)
    risk = {r["risk_group"]: r["elders"] for r in await db.fetch(_BY_RISK, *auth.scope_args(p))}
    by_risk = [(g, RISK_GROUPS_EN[g], risk.get(g, 0)) for g in RISK_GROUPS]
    return render(request, "home.html", counts=counts, by_child=by_child, by_risk=by_risk)


@routes.get("/elders", name="elders_page", roles=STAFF_ROLES, page=True,
            summary="老人档案搜索页 (elder search page)")
async def elders_page(request: web.Request) -> web.Response:
    p = auth.principal(request)
    limit, after = paging(request)
    params = elders.search_params(request)
    rows = await elders.search(request, p, limit=limit, after=after, **params)
    today = elders.today_in(request)
    children = await request.app[keys.DB].fetch(
        "SELECT code, name FROM regions WHERE parent_code = $1 ORDER BY code", p.region_code)
    return render(request, "elders.html", rows=[elders.summary(r, today) for r in rows],
                  params=params, children=children, risk_groups=RISK_GROUPS,
                  next_after=rows[-1]["id"] if len(rows) == limit else None)


@routes.get("/elders/{id}", name="elder_page", roles=STAFF_ROLES, page=True,
            summary="老人完整档案页 (elder record page; audited)")
async def elder_page(request: web.Request) -> web.Response:
    record = await elders.full_record(request, path_id(request))
    return render(request, "elder.html", e=record)


@routes.get("/regions", name="regions_page", roles=ALL_ROLES, page=True,
            summary="区划页 (regions page)")
async def regions_page(request: web.Request) -> web.Response:
    p = auth.principal(request)
    rows = await request.app[keys.DB].fetch(
        f"SELECT r.code, r.name, r.name_en, r.level, r.kind, r.service_radius_m, "
        f"r.service_minutes, cardinality(string_to_array(r.path, '.')) AS depth "
        f"FROM regions r WHERE {auth.scope_sql(1)} ORDER BY r.path", *auth.scope_args(p))
    return render(request, "regions.html", rows=rows)


@routes.get("/providers", name="providers_page", roles=STAFF_ROLES | {"provider_admin"},
            page=True, summary="服务商页 (providers page)")
async def providers_page(request: web.Request) -> web.Response:
    p = auth.principal(request)
    cond, args = providers.provider_scope(p, 1)
    rows = await request.app[keys.DB].fetch(
        providers.PROVIDER_SELECT + f" WHERE {cond} ORDER BY p.id", *args)
    return render(request, "providers.html", rows=[providers.provider_view(r) for r in rows])


@routes.get("/catalogue", name="catalogue_page", roles=ALL_ROLES, page=True,
            summary="服务目录页 (catalogue page)")
async def catalogue_page(request: web.Request) -> web.Response:
    cats = await catalogue.catalogue(request.app[keys.DB], active_only=True)
    return render(request, "catalogue.html", categories=cats)
