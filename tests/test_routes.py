"""The function set, the `cargo lambda watch` router, the SAM template, the fallback's route
table (shared/src/http/routes.rs) and events/ must agree, and CORS must expose what the functions
set for browser code.

A function without a route, a route in one place only, a method mismatch, a method the local
router would leave to the emulator's own page, or a missing sample event fails here.
Run: python3 -m unittest discover -s tests (make test does).
"""
import json
import pathlib
import re
import tomllib
import unittest

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML; intrinsic functions (!Ref, !Sub...) are kept as plain values."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def function_dirs(root=ROOT):
    return {p.name for p in (root / "functions").iterdir() if (p / "Cargo.toml").exists()}


FALLBACK = "fallback"
# The methods the local router spells out for every path (it matches methods exactly): what
# browsers, clients and schemathesis's unsupported-method probes send.
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY"}
# Paths the local router sends to the fallback whatever the method, as API Gateway's $default.
CATCH_ALL = {"/", "/{*path}"}


def watch_router(root=ROOT):
    """{(method or None for any, path, function)} as the `cargo lambda watch` router lists them."""
    manifest = tomllib.loads((root / "Cargo.toml").read_text())
    router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
    return {
        (None, path, routes) if isinstance(routes, str) else (r["method"], path, r["function"])
        for path, routes in router.items()
        for r in ([routes] if isinstance(routes, str) else routes)
    }


def watch_routes(root=ROOT):
    """The routes the local router serves with a function of their own (not the fallback)."""
    return {route for route in watch_router(root) if route[2] != FALLBACK}


def template_functions(root=ROOT):
    """{binary: set of (method, path)} for every Lambda function in template.yaml."""
    template = yaml.load((root / "template.yaml").read_text(), Loader=_CfnLoader)
    functions = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        events = resource["Properties"].get("Events", {}).values()
        # An HttpApi event without Method and Path is the API's $default route.
        functions[binary] = {
            (e["Properties"].get("Method", "ANY"), e["Properties"].get("Path", "$default"))
            for e in events
            if e["Type"] == "HttpApi"
        }
    return functions


def template_routes(root=ROOT):
    """The routes template.yaml serves, its $default route aside."""
    return {(m, p, name) for name, routes in template_functions(root).items() for m, p in routes if p != "$default"}


def template_default(root=ROOT):
    """The functions behind template.yaml's $default route."""
    return {name for name, routes in template_functions(root).items() if ("ANY", "$default") in routes}


def fallback_table(root=ROOT):
    """{(METHOD, path)} of the fallback's route table, read from the one place it is written."""
    source = (root / "shared/src/http/routes.rs").read_text()
    table = source[source.index("pub const ROUTES"):source.index("];")]
    return {
        (method, path)
        for path, methods in re.findall(r'\("([^"]+)", &\[([A-Z, ]+)\]\)', table)
        for method in methods.replace(" ", "").split(",")
    }


def fallback_problems(router, default, table, served):
    """Where unrouted requests would not reach the fallback, or it would answer them wrongly."""
    found = []
    if default != {FALLBACK}:
        found.append(f"template.yaml's $default route goes to {sorted(default)}, not {FALLBACK}")
    for path in sorted(CATCH_ALL):
        if (None, path, FALLBACK) not in router:
            found.append(f"cargo lambda watch does not send {path} to {FALLBACK}")
    for path in sorted({p for _, p, _ in router} - CATCH_ALL):
        routed = {m for m, p, _ in router if p == path}
        for method in sorted(METHODS - routed):
            found.append(f"{method} {path} reaches the emulator's own page, not {FALLBACK}")
    for method, path in sorted(table ^ {(m, p) for m, p, _ in served}):
        found.append(f"{method} {path} is in only one of routes.rs and the served routes")
    return found


def event_fixtures(root=ROOT):
    """{fixture name: (method, route path)} from events/*.json."""
    fixtures = {}
    for path in (root / "events").glob("*.json"):
        key = json.loads(path.read_text())["routeKey"]
        method, route = key.split(" ", 1) if key != "$default" else (key, key)
        fixtures[path.stem] = (method, route)
    return fixtures


def problems(functions, watch, template, template_binaries, fixtures):
    """Every disagreement, as sentences; empty when all agree."""
    found = []
    for name in sorted(functions):
        if name not in template_binaries:
            found.append(f"functions/{name} is not deployed by template.yaml")
        if not any(f == name for _, _, f in watch):
            found.append(f"functions/{name} has no cargo lambda watch route")
        if name not in fixtures:
            found.append(f"functions/{name} has no events/{name}.json")
    for name in sorted(template_binaries - functions):
        found.append(f"template.yaml deploys {name}, which is not in functions/")
    for route in sorted(watch - template):
        found.append(f"{route[0]} {route[1]} → {route[2]} is routed by cargo lambda watch only")
    for route in sorted(template - watch):
        found.append(f"{route[0]} {route[1]} → {route[2]} is routed by template.yaml only")
    seen = {}
    for method, path, name in sorted(watch | template):
        other = seen.setdefault((method, path), name)
        if other != name:
            found.append(f"{method} {path} goes to both {other} and {name}")
    for method, path, name in sorted(watch):
        if path.startswith("/api/tasks") and (method, path.replace("/api/", "/api/{user_id}/", 1), name) not in watch:
            found.append(f"{method} {path} has no /api/{{user_id}}/... twin")
    routes = {(m, p): n for m, p, n in watch | template}
    for fixture, (method, path) in sorted(fixtures.items()):
        name = fixture.split("-")[0]
        if method == "$default" and name == FALLBACK:
            continue
        if routes.get((method, path)) != name:
            found.append(f"events/{fixture}.json is {method} {path}, which is not a route of {name}")
    return found


# Response headers a browser lets any cross-origin script read (Fetch's CORS-safelisted ones).
SAFELISTED = {"cache-control", "content-language", "content-length", "content-type", "expires", "last-modified", "pragma"}


def headers_set_by_functions(root=ROOT):
    """Names of the response headers the functions insert (the `http` crate's constants)."""
    found = set()
    for path in [root / "shared/src/error.rs", *(root / "shared/src/http").glob("*.rs")]:
        for constant in re.findall(r"\.insert\(\s*([A-Z_]+)\s*,", path.read_text()):
            found.add(constant.lower().replace("_", "-"))
    # CORS's own headers are about the others, and nosniff is addressed to the browser itself:
    # neither is read by browser code.
    return {name for name in found if not name.startswith("access-control-") and name != "x-content-type-options"}


def exposed_by_functions(root=ROOT):
    """The `Access-Control-Expose-Headers` the functions send (for `cargo lambda watch`)."""
    source = (root / "shared/src/http/response.rs").read_text()
    listed = re.search(r'const EXPOSED: &str = "([^"]*)";', source).group(1)
    return {name.strip().lower() for name in listed.split(",")}


def exposed_headers(root=ROOT):
    template = yaml.load((root / "template.yaml").read_text(), Loader=_CfnLoader)
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    return {h.lower() for h in cors.get("ExposeHeaders", [])}


class RoutesAgree(unittest.TestCase):
    def test_functions_router_template_and_events_agree(self):
        # The fallback has no route of its own: it is the $default route and the router's catch-all.
        self.assertEqual(
            problems(
                function_dirs() - {FALLBACK},
                watch_routes(),
                template_routes(),
                set(template_functions()) - {FALLBACK},
                event_fixtures(),
            ),
            [],
        )

    def test_every_unrouted_request_reaches_the_fallback(self):
        self.assertIn(FALLBACK, function_dirs())
        self.assertIn(FALLBACK, event_fixtures())
        self.assertEqual(fallback_problems(watch_router(), template_default(), fallback_table(), watch_routes()), [])

    def test_the_fallback_check_catches_each_kind_of_gap(self):
        served = {("GET", "/api/tasks", "list")}
        router = served | {(m, "/api/tasks", FALLBACK) for m in METHODS - {"GET"}} | {(None, p, FALLBACK) for p in CATCH_ALL}
        table = {("GET", "/api/tasks")}
        self.assertEqual(fallback_problems(router, {FALLBACK}, table, served), [])
        self.assertIn("template.yaml's $default route goes to [], not fallback",
                      fallback_problems(router, set(), table, served))
        self.assertIn("cargo lambda watch does not send /{*path} to fallback",
                      fallback_problems(router - {(None, "/{*path}", FALLBACK)}, {FALLBACK}, table, served))
        self.assertIn("TRACE /api/tasks reaches the emulator's own page, not fallback",
                      fallback_problems(router - {("TRACE", "/api/tasks", FALLBACK)}, {FALLBACK}, table, served))
        self.assertIn("POST /api/tasks is in only one of routes.rs and the served routes",
                      fallback_problems(router, {FALLBACK}, table | {("POST", "/api/tasks")}, served))

    def test_the_route_table_is_read_from_routes_rs(self):
        table = fallback_table()
        self.assertIn(("PATCH", "/api/{user_id}/tasks/{id}/complete"), table)
        self.assertIn(("POST", "/api/auth/signup"), table)

    def test_cors_exposes_every_header_the_functions_set_for_browser_code(self):
        unexposed = headers_set_by_functions() - SAFELISTED - exposed_headers()
        self.assertEqual(unexposed, set(), "add them to CorsConfiguration.ExposeHeaders in template.yaml")

    def test_local_cors_exposes_what_api_gateway_does(self):
        self.assertEqual(exposed_by_functions(), exposed_headers())

    def test_the_header_check_reads_what_the_functions_set(self):
        self.assertTrue({"retry-after", "www-authenticate", "link", "allow", "cache-control"} <= headers_set_by_functions())

    def test_the_check_catches_each_kind_of_disagreement(self):
        functions = {"list", "create"}
        watch = {("GET", "/api/tasks", "list"), ("GET", "/api/{user_id}/tasks", "list"),
                 ("POST", "/api/tasks", "create"), ("POST", "/api/{user_id}/tasks", "create")}
        fixtures = {"list": ("GET", "/api/tasks"), "create": ("POST", "/api/tasks")}
        self.assertEqual(problems(functions, watch, set(watch), functions, fixtures), [])

        def check(functions=functions, watch=watch, template=watch, binaries=functions, fixtures=fixtures):
            return problems(functions, watch, template, binaries, fixtures)

        self.assertIn("functions/delete is not deployed by template.yaml", check(functions=functions | {"delete"}))
        self.assertIn("functions/delete has no cargo lambda watch route", check(functions=functions | {"delete"}))
        self.assertIn("template.yaml deploys get, which is not in functions/", check(binaries=functions | {"get"}))
        self.assertIn("POST /api/tasks → create is routed by cargo lambda watch only",
                      check(template=watch - {("POST", "/api/tasks", "create")}))
        self.assertIn("PUT /api/tasks → create is routed by template.yaml only",
                      check(template=watch | {("PUT", "/api/tasks", "create")}))
        self.assertIn("GET /api/tasks goes to both create and list",
                      check(template=watch | {("GET", "/api/tasks", "create")}))
        self.assertIn("GET /api/tasks has no /api/{user_id}/... twin",
                      check(watch=watch - {("GET", "/api/{user_id}/tasks", "list")}))
        self.assertIn("functions/create has no events/create.json", check(fixtures={"list": fixtures["list"]}))
        self.assertIn("events/list.json is DELETE /api/tasks, which is not a route of list",
                      check(fixtures={**fixtures, "list": ("DELETE", "/api/tasks")}))


if __name__ == "__main__":
    unittest.main()
