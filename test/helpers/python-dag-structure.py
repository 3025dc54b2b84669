"""Prints the structure of an Airflow DAG file as JSON, read with `ast` (Airflow not needed).

Used by test/integration/examples.test.ts: the operators with their task ids and commands, the
mapped operator (`.partial(...).expand(...)`), the lists a mapping function returns, the DAG's
keyword arguments, the imports, and every string constant (to scan for tokens).
"""

import ast
import json
import sys


def literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return {"expression": ast.unparse(node)}


def call_name(node):
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def keywords(node):
    return {kw.arg: literal(kw.value) for kw in node.keywords if kw.arg}


def main(path):
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), filename=path)
    out = {"imports": [], "dag": None, "operators": [], "mapped": [], "functions": {}, "strings": []}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out["imports"] += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            out["imports"] += [alias.name for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out["strings"].append(node.value)
        elif isinstance(node, ast.FunctionDef):
            returns = [literal(n.value) for n in ast.walk(node) if isinstance(n, ast.Return) and n.value]
            comprehensions = [
                literal(n.elt) for n in ast.walk(node) if isinstance(n, ast.ListComp)
            ]
            out["functions"][node.name] = {
                "decorators": [ast.unparse(d) for d in node.decorator_list],
                "returns": returns,
                "listElements": comprehensions,
            }
        elif isinstance(node, ast.Call):
            name = call_name(node)
            if name == "DAG":
                out["dag"] = keywords(node)
            elif name == "DockerOperator" or name == "KubernetesPodOperator":
                out["operators"].append({"class": name, **keywords(node)})
            elif name == "expand" and isinstance(node.func, ast.Attribute):
                partial = node.func.value
                if isinstance(partial, ast.Call) and call_name(partial) == "partial":
                    out["mapped"].append(
                        {
                            "class": ast.unparse(partial.func.value),
                            "partial": keywords(partial),
                            "expand": {kw.arg: ast.unparse(kw.value) for kw in node.keywords},
                        }
                    )
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv[1])
