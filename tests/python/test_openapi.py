#!/usr/bin/python3
"""docs/api/openapi.yaml parses and documents every route the server's router serves."""
import os
import re
import sys

import yaml

SRC = os.environ["MARQUEE_SOURCE_DIR"]


def main():
    with open(os.path.join(SRC, "docs", "api", "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    with open(os.path.join(SRC, "src", "serving", "service.cc")) as f:
        code = f.read()
    block = code[code.index("Service::Routes()"):]
    block = block[:block.index("return routes;")]
    routes = [r for r in re.findall(r'"(/[^"]*)"', block)]
    missing = [r for r in routes if r not in spec["paths"]]
    print(f"{len(routes)} routes served, {len(spec['paths'])} documented")
    if missing or not routes:
        print(f"FAIL  undocumented routes: {missing}")
        return 1
    print("ok    every served route is in docs/api/openapi.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
