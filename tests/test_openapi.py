"""openapi.yaml is the exact contract: a valid OpenAPI 3.1 document whose operations are the
routes the functions serve, whose error codes are the ones the code maps, and which documents
the statuses every operation can answer. The fuzzer (schemathesis, in make test) then checks
the running API against it. Run: python3 -m unittest discover -s tests
"""
import pathlib
import re
import unittest

import yaml
from openapi_spec_validator import validate

from test_routes import ROOT, template_routes, watch_routes

METHODS = {"get", "put", "post", "patch", "delete"}
PUBLIC = {
    ("POST", "/api/auth/signup"), ("POST", "/api/auth/signin"), ("POST", "/api/auth/refresh"),
    # The emailed link is the proof: a person who forgot their password has no session.
    ("POST", "/api/auth/password/forgot"), ("POST", "/api/auth/password/reset"),
    ("POST", "/api/auth/email/verify"),
}


def document(root=ROOT):
    return yaml.safe_load((root / "openapi.yaml").read_text())


def operations(doc):
    """{(METHOD, path): operation}"""
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def mapped_error_codes(root=ROOT):
    """The machine codes `Error::status_and_code` maps to, read from the one place it is done."""
    source = (root / "shared/src/error.rs").read_text()
    mapping = source[source.index("fn status_and_code"):source.index("fn to_http")]
    return set(re.findall(r'StatusCode::\w+, "(\w+)"\)', mapping))


class OpenApiIsTheContract(unittest.TestCase):
    doc = document()

    def test_the_document_is_valid_openapi_3_1(self):
        self.assertEqual(self.doc["openapi"], "3.1.0")
        validate(self.doc)

    def test_its_operations_are_exactly_the_served_routes(self):
        served = {(m, p) for m, p, _ in watch_routes()}
        self.assertEqual(served, {(m, p) for m, p, _ in template_routes()})
        self.assertEqual(set(operations(self.doc)), served)

    def test_its_error_codes_are_exactly_the_ones_the_code_maps(self):
        codes = self.doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
        self.assertEqual(set(codes), mapped_error_codes())

    def test_every_operation_documents_the_statuses_it_can_answer(self):
        for (method, path), op in operations(self.doc).items():
            statuses = set(op["responses"])
            with self.subTest(f"{method} {path}"):
                self.assertIn("503", statuses, "any database call can find it unavailable")
                if (method, path) in PUBLIC:
                    self.assertEqual(op.get("security"), [], "public operations need no token")
                else:
                    self.assertNotIn("security", op, "protected by the document's bearer default")
                    self.assertIn("401", statuses)
                if "requestBody" in op:
                    self.assertTrue({"400", "413", "415", "422"} <= statuses)
                if "{id}" in path:
                    self.assertIn("404", statuses)
                if "{user_id}" in path:
                    self.assertIn("403", statuses)

    def test_the_unpaged_list_cap_is_the_codes(self):
        source = (ROOT / "shared/src/tasks/list.rs").read_text()
        cap = int(re.search(r"pub const MAX_UNPAGED: i64 = (\d+);", source).group(1))
        for path in ("/api/tasks", "/api/{user_id}/tasks"):
            schema = self.doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            self.assertEqual(schema["maxItems"], cap, path)
            self.assertIn(f"up to {cap}", self.doc["paths"][path]["get"]["description"])

    def test_the_check_reads_the_error_mapping(self):
        self.assertIn("rate_limited", mapped_error_codes())
        self.assertIn("unavailable", mapped_error_codes())


if __name__ == "__main__":
    unittest.main()


def resolve(doc, ref):
    node = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def path_parameters(doc, path, op):
    params = doc["paths"][path].get("parameters", []) + op.get("parameters", [])
    return {resolve(doc, p["$ref"])["name"] if "$ref" in p else p["name"] for p in params if
            (resolve(doc, p["$ref"]) if "$ref" in p else p)["in"] == "path"}


class LinksChainTheTaskOperations(unittest.TestCase):
    """The fuzzer's stateful phase follows these links: create → get → update → toggle → delete."""

    doc = document()

    def links_of(self, op):
        found = {}
        for response in op["responses"].values():
            response = resolve(self.doc, response["$ref"]) if "$ref" in response else response
            found.update(response.get("links", {}))
        return found

    def test_every_task_answer_links_every_operation_on_it_in_its_own_path_form(self):
        for prefix in ("/api/tasks", "/api/{user_id}/tasks"):
            targets = {
                ("GET", f"{prefix}/{{id}}"), ("PUT", f"{prefix}/{{id}}"), ("PATCH", f"{prefix}/{{id}}"),
                ("PATCH", f"{prefix}/{{id}}/complete"), ("DELETE", f"{prefix}/{{id}}"),
            }
            for method, path in [("POST", prefix), *sorted(targets - {("DELETE", f"{prefix}/{{id}}")})]:
                op = operations(self.doc)[(method, path)]
                linked = {
                    (ref.rsplit("/", 1)[1].upper(), ref.split("/")[2].replace("~1", "/"))
                    for ref in (link["operationRef"] for link in self.links_of(op).values())
                }
                with self.subTest(f"{method} {path}"):
                    self.assertEqual(linked, targets)

    def test_links_name_only_parameters_their_operations_have(self):
        for (method, path), op in operations(self.doc).items():
            for name, link in self.links_of(op).items():
                target_path = link["operationRef"].split("/")[2].replace("~1", "/")
                target = resolve(self.doc, link["operationRef"])
                with self.subTest(f"{method} {path} → {name}"):
                    self.assertEqual(set(link["parameters"]), path_parameters(self.doc, target_path, target))
                    for expression in link["parameters"].values():
                        if expression.startswith("$request.path."):
                            self.assertIn(expression.removeprefix("$request.path."),
                                          path_parameters(self.doc, path, op))
