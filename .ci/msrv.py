"""The stated MSRV (workspace rust-version) against what the library crates need.

No other toolchain can be installed here, so the compiler itself cannot be run at the
MSRV. What is checked: every crate in the normal dependency closure of genai-wire and
adk-live (all features) declares a rust-version no newer than ours, and clippy's
`incompatible_msrv` lint (on in `cargo clippy`) flags std APIs newer than it.
"""
import json
import subprocess
import sys

meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"]))
pkgs = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}


def version(v):
    return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])


ours = next(p for p in meta["packages"] if p["name"] == "adk-live")["rust_version"]
roots = [i for i, p in pkgs.items() if p["name"] in ("genai-wire", "adk-live")]
seen, todo, bad = set(), list(roots), []
while todo:
    i = todo.pop()
    if i in seen:
        continue
    seen.add(i)
    p = pkgs[i]
    if p.get("rust_version") and version(p["rust_version"]) > version(ours):
        bad.append(f'{p["name"]} {p["version"]} needs {p["rust_version"]}')
    for d in nodes[i]["deps"]:
        if any(k["kind"] in (None, "build") for k in d["dep_kinds"]):
            todo.append(d["pkg"])
print(f"MSRV {ours}: {len(seen)} crates in the libraries' dependency closure")
if bad:
    print("newer than the MSRV:\n  " + "\n  ".join(sorted(bad)))
    sys.exit(1)
