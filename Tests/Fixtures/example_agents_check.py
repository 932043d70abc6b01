"""Checks the LiveKit examples against what the tests run: every livekit-agents version the
examples name is the one pinned in Tests/Fixtures/livekit-requirements.txt, and the worker
example's agent calls clients/python/corral_livekit.py's run() as run() expects: with the
functions (an async entrypoint taking the JobContext, a prewarm taking the JobProcess, keywords
run() has) or with an AgentServer made in the file (keywords its constructor and rtc_session()
have, its setup_fnc and the one entrypoint registered with rtc_session() as above).

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
    from livekit.agents import AgentServer

    def keywords(node, function, what):
        parameters = inspect.signature(function).parameters
        for keyword in node.keywords:
            if keyword.arg not in parameters:
                problems.append(f"{agent.relative_to(root)}: {what} has no parameter {keyword.arg}")

    def named(node):
        return functions.get(node.id) if isinstance(node, ast.Name) else None

    keywords(call, corral_livekit.run, "corral_livekit.run()")
    servers = {
        target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
        for target in node.targets if isinstance(target, ast.Name)
        and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "AgentServer"
    }
    argument = call.args[0] if call.args else None
    if isinstance(argument, ast.Name) and argument.id in servers:
        server = servers[argument.id]
        keywords(server, AgentServer, "AgentServer()")
        registered = []
        for function in functions.values():
            for decorator in function.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Attribute) and target.attr == "rtc_session" and getattr(target.value, "id", None) == argument.id:
                    registered.append(function)
                    if isinstance(decorator, ast.Call):
                        keywords(decorator, AgentServer.rtc_session, "rtc_session()")
        if len(registered) != 1:
            problems.append(f"{agent.relative_to(root)}: {len(registered)} entrypoints registered with {argument.id}.rtc_session(), not one")
        setup = next((k.value for k in server.keywords if k.arg == "setup_fnc"), None)
        given = {"entrypoint": registered[0] if len(registered) == 1 else None, "prewarm": named(setup) if setup is not None else None}
        if setup is not None and given["prewarm"] is None:
            problems.append(f"{agent.relative_to(root)}: the setup_fnc given to AgentServer() is not a function of the file")
    else:
        given = {"entrypoint": named(argument) if argument is not None else None}
        if given["entrypoint"] is None:
            problems.append(f"{agent.relative_to(root)}: the entrypoint given to run() is not a function of the file")
        prewarm = next((k.value for k in call.keywords if k.arg == "prewarm"), None)
        if prewarm is not None:
            given["prewarm"] = named(prewarm)
            if given["prewarm"] is None:
                problems.append(f"{agent.relative_to(root)}: the prewarm given to run() is not a function of the file")
    for role, asynchronous in (("entrypoint", True), ("prewarm", False)):
        function = given.get(role)
        if function is None:
            continue
        if isinstance(function, ast.AsyncFunctionDef) != asynchronous:
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
