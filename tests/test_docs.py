"""The documentation's front door and its links: the README stays short, and no relative link
between the repository's Markdown files is dead (the file exists; an `#anchor` names a heading
there, as GitHub spells it)."""
import re
import unittest

from test_routes import ROOT

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def markdown_files(root=ROOT):
    files = [root / "README.md", root / "BENCHMARKS.md", *sorted((root / "docs").glob("*.md"))]
    return [f for f in files if f.exists()]


def anchors(path):
    """GitHub's heading ids: lower-case, punctuation dropped, spaces as hyphens."""
    text = FENCE.sub("", path.read_text())
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def dead_links(files, root=ROOT):
    dead = []
    for path in files:
        for target in LINK.findall(FENCE.sub("", path.read_text())):
            if re.match(r"^(https?:|mailto:)", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists() or root.resolve() not in [linked, *linked.parents]:
                dead.append(f"{path.relative_to(root)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                dead.append(f"{path.relative_to(root)}: {target} (no such heading)")
    return dead


class DocsHoldTogether(unittest.TestCase):
    def test_the_readme_is_a_front_door_of_at_most_200_lines(self):
        lines = (ROOT / "README.md").read_text().count("\n")
        self.assertLessEqual(lines, 200)
        self.assertIn("```mermaid", (ROOT / "README.md").read_text())

    def test_no_relative_link_between_the_docs_is_dead(self):
        self.assertEqual(dead_links(markdown_files()), [])

    def test_the_configuration_reference_names_every_template_parameter_and_variable(self):
        import yaml
        from test_routes import _CfnLoader

        operations = (ROOT / "docs" / "operations.md").read_text()
        stack = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
        for name in stack["Parameters"]:
            with self.subTest(name):
                self.assertTrue(f"| `{name}` |" in operations, name)
        for name in stack["Globals"]["Function"]["Environment"]["Variables"]:
            with self.subTest(name):
                self.assertTrue(f"`{name}`" in operations, name)

    def test_the_check_catches_a_missing_file_and_a_missing_heading(self):
        import tempfile
        from pathlib import Path
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "docs").mkdir()
            (root / "README.md").write_text(
                "[ok](docs/a.md#the-heading) [gone](docs/b.md) [bad](docs/a.md#nope)\n"
                "```\n[in code](nowhere.md)\n```\n"
            )
            (root / "docs" / "a.md").write_text("# A\n\n## The heading\n\n[up](../README.md)\n")
            self.assertEqual(
                dead_links(markdown_files(root), root),
                ["README.md: docs/b.md (no such file)", "README.md: docs/a.md#nope (no such heading)"],
            )


if __name__ == "__main__":
    unittest.main()
