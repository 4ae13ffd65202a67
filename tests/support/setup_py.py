"""What setup.py declares, read without running it."""
import ast
import os

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def console_commands() -> dict:
    """setup.py's COMMANDS: {console script: the module whose run() it calls}."""
    with open(os.path.join(CHECKOUT, "setup.py")) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["COMMANDS"]:
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py defines no COMMANDS")
