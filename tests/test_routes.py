"""The function set, the `cargo lambda watch` router, the SAM template and events/ must agree.

A function without a route, a route in one place only, a method mismatch or a missing sample
event fails here. Run: python3 -m unittest discover -s tests (make test does).
"""
import json
import pathlib
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


def watch_routes(root=ROOT):
    manifest = tomllib.loads((root / "Cargo.toml").read_text())
    router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
    return {(r["method"], path, r["function"]) for path, routes in router.items() for r in routes}


def template_functions(root=ROOT):
    """{binary: set of (method, path)} for every Lambda function in template.yaml."""
    template = yaml.load((root / "template.yaml").read_text(), Loader=_CfnLoader)
    functions = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        events = resource["Properties"].get("Events", {}).values()
        functions[binary] = {
            (e["Properties"]["Method"], e["Properties"]["Path"]) for e in events if e["Type"] == "HttpApi"
        }
    return functions


def template_routes(root=ROOT):
    return {(m, p, name) for name, routes in template_functions(root).items() for m, p in routes}


def event_fixtures(root=ROOT):
    """{fixture name: (method, route path)} from events/*.json."""
    fixtures = {}
    for path in (root / "events").glob("*.json"):
        method, route = json.loads(path.read_text())["routeKey"].split(" ", 1)
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
        if routes.get((method, path)) != name:
            found.append(f"events/{fixture}.json is {method} {path}, which is not a route of {name}")
    return found


class RoutesAgree(unittest.TestCase):
    def test_functions_router_template_and_events_agree(self):
        self.assertEqual(
            problems(function_dirs(), watch_routes(), template_routes(), set(template_functions()), event_fixtures()),
            [],
        )

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
