"""The modules of `shared` are layered without cycles: `error`, `db` and `events` (the security
events' log lines, which depend on nothing) at the bottom, the domain
modules above them, `http` and `handlers` on top. A module that names another (`crate::x`, in a
`use` or inline) depends on it; test code at the end of a file (`#[cfg(test)]`) does not count.
Run: python3 -m unittest discover -s tests (make test does).
"""
import pathlib
import re
import unittest

from test_routes import ROOT

SRC = ROOT / "shared/src"


def strip_comments_and_tests(source):
    source = source.split("\n#[cfg(test)]", 1)[0]
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    return re.sub(r"//[^\n]*", "", source)


def root_reexports(src=SRC):
    """`pub use app::App;` in lib.rs: `crate::App` means the module `app`."""
    lib = (src / "lib.rs").read_text()
    return {name: module for module, name in re.findall(r"pub use (\w+)::(\w+);", lib)}


def module_of(path, src=SRC):
    """The top-level module a file belongs to (`tasks/list.rs` → `tasks`); None for the crate
    root and the binaries."""
    parts = path.relative_to(src).parts
    if parts[0] in ("lib.rs", "bin"):
        return None
    return parts[0].removesuffix(".rs")


def dependencies(src=SRC):
    """{module: set of the other top-level modules it names}."""
    reexports = root_reexports(src)
    graph = {}
    for path in sorted(src.rglob("*.rs")):
        module = module_of(path, src)
        if module is None:
            continue
        code = strip_comments_and_tests(path.read_text())
        named = set(re.findall(r"\bcrate::(\w+)", code))
        for group in re.findall(r"\bcrate::\{([^}]*)\}", code):
            named |= {item.strip().split("::")[0] for item in group.split(",") if item.strip()}
        targets = {reexports.get(name, name) for name in named}
        graph.setdefault(module, set()).update(targets - {module, "self"})
    return graph


def cycles(graph):
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


class ModulesAreLayered(unittest.TestCase):
    def test_shared_has_no_module_cycles(self):
        self.assertEqual(cycles(dependencies()), [])

    def test_the_bottom_layer_depends_on_no_domain_or_http_module(self):
        graph = dependencies()
        for bottom in ("error", "db", "events"):
            with self.subTest(bottom):
                self.assertLessEqual(graph[bottom], {"error", "db", "validation", "events"})
        self.assertEqual(graph["events"], set())

    def test_the_check_finds_cycles_and_reads_the_sources(self):
        self.assertEqual(cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}), [["a", "b", "c"]])
        self.assertEqual(cycles({"a": {"b"}, "b": set()}), [])
        graph = dependencies()
        self.assertIn("tasks", graph["handlers"])
        self.assertIn("error", graph["tasks"])


if __name__ == "__main__":
    unittest.main()
