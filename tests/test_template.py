"""The stack's operations: every function behind an alias that CodeDeploy shifts gradually,
rolled back by alarms on what users see (the API's 5xx rate and latency) and on throttling; the
alarms on what the functions' logs count; tracing; a budget of database connections; stages."""
import re
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


def functions(stack):
    return {name: r for name, r in stack["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def emitted_metrics():
    """The metric names the Rust code puts in its log lines (`metric = "A,B"`)."""
    names = set()
    for path in (ROOT / "shared" / "src").rglob("*.rs"):
        for found in re.findall(r'metric = "([A-Za-z,]+)"', path.read_text()):
            names.update(found.split(","))
    return names


class Monitoring(unittest.TestCase):
    stack = template()

    def test_every_function_is_traced_and_logs_its_metrics_per_stage(self):
        function = self.stack["Globals"]["Function"]
        self.assertEqual(function["Tracing"], "Active")
        self.assertEqual(function["LoggingConfig"]["LogFormat"], "JSON")
        variables = function["Environment"]["Variables"]
        self.assertEqual(variables["METRICS_NAMESPACE"], "todo-auth-lambda")
        self.assertEqual(variables["STAGE"], {"Ref": "Stage"})
        for name, resource in functions(self.stack).items():
            with self.subTest(name):
                self.assertNotIn("Tracing", resource["Properties"])
                self.assertNotIn("Timeout", resource["Properties"])

    def test_each_function_is_watched_for_running_near_its_timeout_once(self):
        resources = self.stack["Resources"]
        timeout_ms = self.stack["Globals"]["Function"]["Timeout"] * 1000
        watched = []
        for name in ("AuthDurationAlarm", "RecoveryDurationAlarm", "TasksDurationAlarm"):
            with self.subTest(name):
                alarm = resources[name]["Properties"]
                metrics = [m for m in alarm["Metrics"] if "MetricStat" in m]
                self.assertLessEqual(len(metrics), 10, "CloudWatch's limit for one alarm")
                for metric in metrics:
                    self.assertEqual(metric["MetricStat"]["Metric"]["MetricName"], "Duration")
                    self.assertEqual(metric["MetricStat"]["Stat"], "Maximum")
                    [dimension] = metric["MetricStat"]["Metric"]["Dimensions"]
                    watched.append(dimension["Value"]["Ref"])
                [expression] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
                self.assertEqual(expression["Expression"], "MAX([%s])" % ", ".join(m["Id"] for m in metrics))
                self.assertEqual(alarm["Threshold"], timeout_ms * 0.8)
        self.assertEqual(sorted(watched), sorted(functions(self.stack)))

    def test_the_alarms_on_the_logs_metrics_read_what_the_functions_write(self):
        resources = self.stack["Resources"]
        written = emitted_metrics()
        self.assertTrue({"SigninSucceeded", "SigninFailed", "Throttled", "RefreshTokenReuse", "ServerError", "DatabaseUnavailable"} <= written, written)
        for name, metric in (("DatabaseUnavailableAlarm", "DatabaseUnavailable"), ("RefreshTokenReuseAlarm", "RefreshTokenReuse"), ("FailedSigninsAlarm", "SigninFailed")):
            with self.subTest(name):
                alarm = resources[name]["Properties"]
                self.assertEqual(alarm["Namespace"], "todo-auth-lambda")
                self.assertEqual(alarm["MetricName"], metric)
                self.assertEqual(alarm["Dimensions"], [{"Name": "Stage", "Value": {"Ref": "Stage"}}])
                self.assertEqual(alarm["TreatMissingData"], "notBreaching")

    def test_every_alarm_notifies_the_topic_when_one_is_given(self):
        alarms = [name for name, r in self.stack["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]
        self.assertGreaterEqual(len(alarms), 9)
        for name in alarms:
            with self.subTest(name):
                properties = self.stack["Resources"][name]["Properties"]
                for key in ("AlarmActions", "OKActions"):
                    self.assertEqual(properties[key]["If"][0], "HasAlarmTopic")


class ConnectionBudget(unittest.TestCase):
    stack = template()

    def reservation(self, resource):
        properties = resource["Properties"]
        value = properties.get("ReservedConcurrentExecutions", self.stack["Globals"]["Function"]["ReservedConcurrentExecutions"])
        condition, reserved, unreserved = value["If"]
        self.assertEqual(condition, "HasConnectionBudget")
        self.assertEqual(unreserved, {"Ref": "AWS::NoValue"})
        table, budget, tier = reserved["FindInMap"]
        self.assertEqual((table, budget), ("ConnectionBudget", {"Ref": "DatabaseConnectionBudget"}))
        return tier

    def test_the_reservations_add_up_to_at_most_each_budget(self):
        parameter = self.stack["Parameters"]["DatabaseConnectionBudget"]
        rows = self.stack["Mappings"]["ConnectionBudget"]
        self.assertEqual({str(v) for v in parameter["AllowedValues"]}, set(rows))
        tiers = [self.reservation(r) for r in functions(self.stack).values()]
        self.assertEqual(len(tiers), len(functions(self.stack)))
        for budget, row in rows.items():
            with self.subTest(budget=budget):
                total = sum(row[tier] for tier in tiers)
                self.assertLessEqual(total, int(budget))
                if budget != "0":
                    self.assertTrue(all(row[tier] >= 1 for tier in tiers))
                    self.assertGreater(total, int(budget) * 0.9, "most of the budget is used")
        # The default fits the pooler of Neon's smallest compute (0.25 CU: about 100 connections).
        self.assertEqual(parameter["Default"], 100)

    def test_routes_that_run_bcrypt_or_send_mail_have_tighter_throttles_than_the_rest(self):
        api = self.stack["Resources"]["HttpApi"]["Properties"]
        parameters = self.stack["Parameters"]
        tight = api["RouteSettings"]
        for name, resource in functions(self.stack).items():
            properties = resource["Properties"]
            bcrypt = properties.get("MemorySize") == 1769
            mail = {"Ref": "SendMailPolicy"} in properties.get("Policies", [])
            for event in properties.get("Events", {}).values():
                if "Method" not in event["Properties"]:
                    continue  # the catch-all $default route
                route = f'{event["Properties"]["Method"]} {event["Properties"]["Path"]}'
                with self.subTest(route):
                    self.assertEqual(route in tight, bcrypt or mail)
        for settings in tight.values():
            self.assertEqual(settings, {"ThrottlingRateLimit": {"Ref": "AuthThrottlingRateLimit"}, "ThrottlingBurstLimit": {"Ref": "AuthThrottlingBurstLimit"}})
        self.assertLess(parameters["AuthThrottlingRateLimit"]["Default"], parameters["ThrottlingRateLimit"]["Default"])
        self.assertLess(parameters["AuthThrottlingBurstLimit"]["Default"], parameters["ThrottlingBurstLimit"]["Default"])


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
