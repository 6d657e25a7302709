"""The deploy workflows: what the docs tell people to trust is what GitHub will send, only main
deploys, one build goes to staging and then to production with a smoke test after each, no
build runs beside cloud credentials, and every action runs the code of one commit."""

import json
import os
import pathlib
import shutil
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

from test_routes import ROOT, _CfnLoader

WORKFLOW = ROOT / ".github/workflows/deploy.yml"
STAGE_WORKFLOW = ROOT / ".github/workflows/deploy-stage.yml"


def workflow(path=WORKFLOW):
    return yaml.safe_load(path.read_text())


def steps():
    for path in (WORKFLOW, STAGE_WORKFLOW):
        for job in workflow(path)["jobs"].values():
            yield from job.get("steps", [])


def stage_steps():
    return workflow(STAGE_WORKFLOW)["jobs"]["deploy"]["steps"]


class DeployTrust(unittest.TestCase):
    def test_every_action_is_pinned_to_a_full_commit_sha(self):
        for step in steps():
            if "uses" in step:
                self.assertRegex(step["uses"], r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$", step["uses"])

    def test_the_deploy_docs_trust_the_subjects_the_deploy_jobs_get(self):
        jobs = workflow()["jobs"]
        environments = {jobs[stage]["with"]["environment"] for stage in ("staging", "production")}
        self.assertEqual(environments, {"staging", "production"})
        self.assertEqual(workflow(STAGE_WORKFLOW)["jobs"]["deploy"]["environment"], "${{ inputs.environment }}")
        docs = (ROOT / "docs" / "operations.md").read_text()
        subjects = set(re.findall(r"`(repo:OWNER/REPO:[^`]+)`", docs))
        # A job that names an environment gets `...:environment:<name>` as its OIDC subject.
        self.assertEqual(subjects, {f"repo:OWNER/REPO:environment:{e}" for e in environments})

    def test_only_main_deploys_even_when_run_by_hand(self):
        jobs = workflow()["jobs"]
        self.assertEqual(jobs["build"].get("if"), "github.ref == 'refs/heads/main'")
        self.assertEqual(jobs["staging"]["needs"], "build")
        self.assertEqual(jobs["production"]["needs"], "staging")
        for stage in ("staging", "production"):
            self.assertEqual(jobs[stage]["permissions"].get("id-token"), "write")
        # Neither the tests nor the build get a token they could assume a role with.
        self.assertNotIn("id-token", workflow().get("permissions", {}))
        self.assertNotIn("permissions", jobs["test"])
        self.assertNotIn("permissions", jobs["build"])


class OneBuildTwoStages(unittest.TestCase):
    def test_the_build_job_builds_once_without_credentials(self):
        build = workflow()["jobs"]["build"]["steps"]
        self.assertFalse([s for s in build if "configure-aws-credentials" in s.get("uses", "")])
        self.assertTrue([s for s in build if "sam build" in s.get("run", "")])
        self.assertTrue([s for s in build if "upload-artifact" in s.get("uses", "")])

    def test_the_stages_build_nothing_and_deploy_the_uploaded_build(self):
        scripts = "\n".join(s.get("run", "") for s in stage_steps())
        for building in ("cargo ", "sam build", "npm "):
            self.assertNotIn(building, scripts)
        self.assertTrue([s for s in stage_steps() if "download-artifact" in s.get("uses", "")])

    def test_each_deploy_is_followed_by_the_smoke_test_against_the_stacks_api_url(self):
        runs = [s.get("run", "") for s in stage_steps()]
        deploy = next(i for i, r in enumerate(runs) if "sam deploy" in r)
        smoke = next(i for i, r in enumerate(runs) if "scripts/smoke.py" in r)
        self.assertGreater(smoke, deploy)
        self.assertIn("ApiUrl", runs[smoke])

    def test_every_template_parameter_has_its_variable_and_is_passed_as_a_file_through_an_execution_role(self):
        sys.path.insert(0, str(ROOT / "scripts"))
        from stack_parameters import variable

        job = workflow(STAGE_WORKFLOW)["jobs"]["deploy"]
        template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
        for name in template["Parameters"]:
            with self.subTest(name):
                expected = "${{ inputs.stage }}" if name == "Stage" else "${{ vars.%s }}" % variable(name)
                self.assertEqual(job["env"][variable(name)], expected)
        deploy = next(s["run"] for s in stage_steps() if "sam deploy" in s.get("run", ""))
        self.assertIn("python scripts/stack_parameters.py .aws-sam/build/template.yaml > \"$RUNNER_TEMP/parameters.yaml\"", deploy)
        self.assertIn('--parameter-overrides "file://$RUNNER_TEMP/parameters.yaml"', deploy)
        self.assertIn('--role-arn "$CLOUDFORMATION_EXECUTION_ROLE_ARN"', deploy)
        self.assertIn(':?', deploy.split("CLOUDFORMATION_EXECUTION_ROLE_ARN")[1], "an unset role stops the deploy")


def stack_parameters(environ):
    """Runs scripts/stack_parameters.py on template.yaml with `environ`: exit status, output."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/stack_parameters.py"), str(ROOT / "template.yaml")],
        env={"PATH": os.environ["PATH"], **environ},
        capture_output=True,
        text=True,
    )
    return done.returncode, done.stdout, done.stderr


def sam_reads(overrides):
    """What `sam deploy --parameter-overrides <overrides>` makes of them: SAM's own parser, in
    the Python the `sam` on PATH runs with."""
    sam = shutil.which("sam")
    assert sam, "no sam on PATH: make test installs the SAM CLI into .venv"
    with open(sam) as script:
        interpreter = script.readline().removeprefix("#!").strip()
    code = (
        "import json, sys\n"
        "from samcli.cli.types import CfnParameterOverridesType\n"
        "print(json.dumps(CfnParameterOverridesType().convert([sys.argv[1]], None, None)))"
    )
    return json.loads(subprocess.check_output([interpreter, "-c", code, overrides], text=True))


class StackParameters(unittest.TestCase):
    required = {"APP_URL": "https://todo.example.com", "EMAIL_FROM": 'Todo "the app" <no-reply@example.com>', "SES_IDENTITY": "example.com"}

    def test_sam_reads_every_parameter_from_the_file_with_values_exactly_as_given(self):
        environ = {**self.required, "STAGE": "staging", "ALLOWED_ORIGINS": "https://a.example.com,https://b.example.com", "BCRYPT_COST": "11", "ALARM_TOPIC_ARN": ""}
        status, out, err = stack_parameters(environ)
        self.assertEqual(status, 0, err)
        with tempfile.TemporaryDirectory() as directory:
            path = pathlib.Path(directory) / "parameters.yaml"
            path.write_text(out)
            read = sam_reads(f"file://{path}")
        template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
        self.assertEqual(set(read), set(template["Parameters"]))
        self.assertEqual(read["Stage"], "staging")
        self.assertEqual(read["EmailFrom"], 'Todo "the app" <no-reply@example.com>')
        self.assertEqual(read["AllowedOrigins"], "https://a.example.com,https://b.example.com")
        self.assertEqual(read["BcryptCost"], "11")
        # Unset or empty: the template's default, passed all the same.
        self.assertEqual(read["AlarmTopicArn"], "")
        self.assertEqual(read["DatabaseConnectionBudget"], "100")
        self.assertEqual(read["RequireVerifiedEmail"], "false")
        self.assertEqual(read["DeploymentType"], "Canary10Percent5Minutes")

    def test_a_parameter_with_no_default_and_no_variable_stops_the_deploy_named(self):
        status, out, err = stack_parameters({"APP_URL": "https://todo.example.com"})
        self.assertEqual(status, 1)
        self.assertEqual(out, "")
        self.assertIn("EmailFrom (EMAIL_FROM), SesIdentity (SES_IDENTITY)", err)
        self.assertNotIn("AppUrl", err)


class ScriptsTakeNoExpressions(unittest.TestCase):
    def test_no_expression_is_expanded_inside_a_run_script(self):
        # GitHub pastes `${{ ... }}` into the script before the shell reads it: a variable or
        # input holding `"; curl ... | sh; "` would run. Values go through `env:` instead.
        for step in steps():
            if "run" in step:
                self.assertNotIn("${{", step["run"], step.get("name", step["run"][:40]))


class DependenciesStayCurrent(unittest.TestCase):
    def test_the_rust_toolchain_is_pinned_and_every_job_uses_the_pinned_one(self):
        import tomllib

        pinned = tomllib.loads((ROOT / "rust-toolchain.toml").read_text())["toolchain"]
        self.assertRegex(pinned["channel"], r"^\d+\.\d+\.\d+$", "a release, not a moving channel")
        self.assertLessEqual({"rustfmt", "clippy"}, set(pinned["components"]))
        self.assertIn("aarch64-unknown-linux-gnu", pinned["targets"])
        for step in steps():
            run = step.get("run", "")
            with self.subTest(step.get("name")):
                self.assertNotIn("rustup default", run)
                if "rustup toolchain install" in run:
                    self.assertEqual(run.strip(), "rustup toolchain install", "the toolchain file names it")

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
