"""The stack's safe deployments: every function behind an alias that CodeDeploy shifts gradually,
rolled back by alarms on what users see (the API's 5xx rate and latency) and on throttling."""
import unittest

import yaml

from test_routes import ROOT, _CfnLoader


def template():
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)


class SafeDeployments(unittest.TestCase):
    stack = template()

    def test_every_function_is_published_behind_an_alias_with_a_gradual_deployment(self):
        function = self.stack["Globals"]["Function"]
        self.assertEqual(function["AutoPublishAlias"], "live")
        self.assertEqual(function["DeploymentPreference"]["Type"], {"Ref": "DeploymentType"})
        self.assertIn("Canary10Percent5Minutes", self.stack["Parameters"]["DeploymentType"]["AllowedValues"])
        for name, resource in self.stack["Resources"].items():
            if resource["Type"] == "AWS::Serverless::Function":
                with self.subTest(name):
                    # Nothing opts out: the Globals apply to every function.
                    self.assertNotIn("AutoPublishAlias", resource["Properties"])
                    self.assertNotIn("DeploymentPreference", resource["Properties"])

    def test_the_rollback_alarms_watch_what_users_see_and_throttling(self):
        alarms = self.stack["Globals"]["Function"]["DeploymentPreference"]["Alarms"]
        names = {alarm["Ref"] for alarm in alarms}
        self.assertEqual(names, {"ApiServerErrorsAlarm", "ApiLatencyAlarm", "LambdaThrottlesAlarm"})
        resources = self.stack["Resources"]
        for name in names:
            self.assertEqual(resources[name]["Type"], "AWS::CloudWatch::Alarm")
        errors = resources["ApiServerErrorsAlarm"]["Properties"]
        watched = {m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Metric"] for m in errors["Metrics"] if "MetricStat" in m}
        self.assertEqual(set(watched), {"5xx", "Count"})
        for metric in watched.values():
            self.assertEqual(metric["Namespace"], "AWS/ApiGateway")
            self.assertEqual(metric["Dimensions"], [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}])
        self.assertTrue([m for m in errors["Metrics"] if m.get("ReturnData") and "errors / requests" in m["Expression"]])
        latency = resources["ApiLatencyAlarm"]["Properties"]
        self.assertEqual((latency["Namespace"], latency["MetricName"], latency["ExtendedStatistic"]), ("AWS/ApiGateway", "Latency", "p99"))
        self.assertEqual(latency["Threshold"], {"Ref": "MaxP99LatencyMs"})
        throttles = resources["LambdaThrottlesAlarm"]["Properties"]
        self.assertEqual((throttles["Namespace"], throttles["MetricName"]), ("AWS/Lambda", "Throttles"))
        for name in names:
            with self.subTest(name):
                # Quiet minutes are not failures: a rollback needs data that says so.
                self.assertEqual(resources[name]["Properties"]["TreatMissingData"], "notBreaching")


class Stages(unittest.TestCase):
    stack = template()

    def test_no_default_names_a_stage_each_stage_derives_its_own_from_stage(self):
        for name, parameter in self.stack["Parameters"].items():
            with self.subTest(name):
                self.assertNotIn("/prod/", str(parameter.get("Default", "")))
        variables = self.stack["Globals"]["Function"]["Environment"]["Variables"]
        for variable, suffix in (("DATABASE_URL_PARAMETER", "database-url"), ("JWT_SECRET_PARAMETER", "jwt-secret")):
            with self.subTest(variable):
                condition, given, derived = variables[variable]["If"]
                self.assertEqual(derived, {"Sub": f"/todo/${{Stage}}/{suffix}"})

    def test_samconfig_has_a_staging_and_a_production_stack(self):
        import tomllib

        config = tomllib.loads((ROOT / "samconfig.toml").read_text())
        self.assertEqual(config["default"]["global"]["parameters"]["stack_name"], "todo-auth-lambda-prod")
        self.assertIn("Stage=prod", config["default"]["deploy"]["parameters"]["parameter_overrides"])
        self.assertEqual(config["staging"]["global"]["parameters"]["stack_name"], "todo-auth-lambda-staging")
        self.assertIn("Stage=staging", config["staging"]["deploy"]["parameters"]["parameter_overrides"])


if __name__ == "__main__":
    unittest.main()
