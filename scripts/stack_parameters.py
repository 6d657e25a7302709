#!/usr/bin/env python3
"""Every template parameter's value for one deploy, as the YAML file `sam deploy
--parameter-overrides file://<it>.yaml` reads: the environment variable named after the parameter
(`AllowedOrigins` is `ALLOWED_ORIGINS`) when set and not empty, else the template's default.
Each is passed explicitly, defaults included: a parameter left out keeps whatever the stack's
last deploy gave it, and the live configuration would no longer be the one in git and the
environment's variables. A parameter with no default and no variable stops the deploy, named.

Usage: stack_parameters.py [template.yaml] > parameters.yaml
"""
import os
import re
import sys

import yaml


class _Template(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (`!Ref`, `!Sub`...) as plain values."""


_Template.add_multi_constructor("!", lambda loader, suffix, node: None)


def variable(parameter):
    """The environment variable that sets a parameter: `AllowedOrigins` → `ALLOWED_ORIGINS`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", parameter).upper()


def values(template, environ):
    """Each parameter's value, and the parameters that have none."""
    chosen, missing = {}, []
    for name, parameter in template["Parameters"].items():
        given = environ.get(variable(name), "")
        if given != "":
            chosen[name] = given
        elif "Default" in parameter:
            chosen[name] = str(parameter["Default"])
        else:
            missing.append(name)
    return chosen, missing


def main(argv):
    path = argv[1] if len(argv) > 1 else "template.yaml"
    with open(path) as file:
        template = yaml.load(file, Loader=_Template)
    chosen, missing = values(template, os.environ)
    if missing:
        names = ", ".join(f"{name} ({variable(name)})" for name in missing)
        print(f"stack_parameters: no value and no default for {names}", file=sys.stderr)
        return 1
    # Every value a string (quoted where YAML would read another type): CloudFormation's own.
    yaml.safe_dump(chosen, sys.stdout, default_flow_style=False, sort_keys=True, allow_unicode=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
