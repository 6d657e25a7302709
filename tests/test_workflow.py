"""The deploy workflow's trust: what the docs tell people to trust is what GitHub will send,
only main deploys, and every action runs the code of one commit."""

import re
import unittest

import yaml

from test_routes import ROOT

WORKFLOW = ROOT / ".github/workflows/deploy.yml"


def workflow():
    return yaml.safe_load(WORKFLOW.read_text())


def steps():
    for job in workflow()["jobs"].values():
        yield from job.get("steps", [])


class DeployTrust(unittest.TestCase):
    def test_every_action_is_pinned_to_a_full_commit_sha(self):
        for step in steps():
            if "uses" in step:
                self.assertRegex(step["uses"], r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$", step["uses"])

    def test_the_deploy_docs_trust_the_subject_the_deploy_job_gets(self):
        deploy = workflow()["jobs"]["deploy"]
        environment = deploy["environment"]
        environment = environment["name"] if isinstance(environment, dict) else environment
        docs = (ROOT / "docs" / "operations.md").read_text()
        subjects = set(re.findall(r"`(repo:OWNER/REPO:[^`]+)`", docs))
        # A job that names an environment gets `...:environment:<name>` as its OIDC subject.
        self.assertEqual(subjects, {f"repo:OWNER/REPO:environment:{environment}"})

    def test_only_main_deploys_even_when_run_by_hand(self):
        deploy = workflow()["jobs"]["deploy"]
        self.assertEqual(deploy.get("if"), "github.ref == 'refs/heads/main'")
        self.assertEqual(deploy["permissions"].get("id-token"), "write")
        # The test job gets no token it could assume the role with.
        self.assertNotIn("id-token", workflow().get("permissions", {}))
        self.assertNotIn("permissions", workflow()["jobs"]["test"])


class ScriptsTakeNoExpressions(unittest.TestCase):
    def test_no_expression_is_expanded_inside_a_run_script(self):
        # GitHub pastes `${{ ... }}` into the script before the shell reads it: a variable or
        # input holding `"; curl ... | sh; "` would run. Values go through `env:` instead.
        for step in steps():
            if "run" in step:
                self.assertNotIn("${{", step["run"], step.get("name", step["run"][:40]))


class DependenciesStayCurrent(unittest.TestCase):
    def test_dependabot_watches_every_pinned_manifest(self):
        config = yaml.safe_load((ROOT / ".github/dependabot.yml").read_text())
        watched = {
            (update["package-ecosystem"], directory.rstrip("/") or "/")
            for update in config["updates"]
            for directory in update.get("directories", [update.get("directory")])
        }
        pinned = {("github-actions", "/"), ("cargo", "/")}
        for manifest, ecosystem in (("package.json", "npm"), ("requirements.txt", "pip")):
            for path in ROOT.rglob(manifest):
                relative = path.relative_to(ROOT)
                if relative.parts[0] in {".venv", ".local", "target"} or "node_modules" in relative.parts:
                    continue
                pinned.add((ecosystem, "/" + str(relative.parent)))
        self.assertEqual(watched, pinned)


if __name__ == "__main__":
    unittest.main()
