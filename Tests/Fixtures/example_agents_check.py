"""Checks the LiveKit examples against what the tests run: every livekit-agents version the
examples name is the one pinned in Tests/Fixtures/livekit-requirements.txt, and the worker
example's agent calls clients/python/corral_livekit.py's run() as run() expects (an async
entrypoint taking the JobContext, a prewarm taking the JobProcess, keywords run() has).

Run with the LiveKit venv's python from the repository's root; prints one line per problem and
exits 1 if there is any, else prints "examples ok".
"""
import ast
import inspect
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(root / "clients" / "python"))
import corral_livekit  # noqa: E402

problems = []
pins = {}
for line in (root / "Tests" / "Fixtures" / "livekit-requirements.txt").read_text().splitlines():
    line = line.split("#")[0].strip()
    if "==" in line:
        name, version = line.split("==")
        pins[name.strip()] = version.strip()
pinned = pins["livekit-agents"]

examples = sorted(p for p in (root / "examples").rglob("*") if p.suffix in (".py", ".md", ".json", ".txt"))
for path in examples:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        for spec in re.findall(r"livekit-agents(?:\[[^\]]*\])?\s*([=~<>!]=?\s*[0-9][0-9.]*)", line):
            if spec.replace(" ", "") != "==" + pinned:
                problems.append(f"{path.relative_to(root)}:{number}: livekit-agents {spec}, the tests run {pinned}")

agent = root / "examples" / "livekit-worker" / "agent.py"
tree = ast.parse(agent.read_text())
functions = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
calls = [
    node for node in ast.walk(tree)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    and isinstance(node.func.value, ast.Name) and node.func.value.id == "corral_livekit" and node.func.attr == "run"
]
if len(calls) != 1:
    problems.append(f"{agent.relative_to(root)}: calls corral_livekit.run {len(calls)} times, not once")
else:
    call = calls[0]
    parameters = inspect.signature(corral_livekit.run).parameters
    for keyword in call.keywords:
        if keyword.arg not in parameters:
            problems.append(f"{agent.relative_to(root)}: corral_livekit.run() has no parameter {keyword.arg}")
    given = {"entrypoint": call.args[0] if call.args else None}
    given.update({k.arg: k.value for k in call.keywords})
    for role, asynchronous in (("entrypoint", True), ("prewarm", False)):
        node = given.get(role)
        if node is None:
            continue
        function = functions.get(node.id) if isinstance(node, ast.Name) else None
        if function is None:
            problems.append(f"{agent.relative_to(root)}: the {role} given to run() is not a function of the file")
        elif isinstance(function, ast.AsyncFunctionDef) != asynchronous:
            problems.append(f"{agent.relative_to(root)}: {function.name} must {'' if asynchronous else 'not '}be async")
        elif len(function.args.args) != 1:
            problems.append(f"{agent.relative_to(root)}: {function.name} must take one argument (the {'JobContext' if asynchronous else 'JobProcess'})")
if "draft" in agent.read_text().lower():
    problems.append(f"{agent.relative_to(root)}: still calls itself a draft")

for problem in problems:
    print(problem)
if problems:
    sys.exit(1)
print("examples ok")
