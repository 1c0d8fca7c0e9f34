"""docs/reference/cli.md, made from the command line itself: every sub-command's arguments as argparse
holds them (vmatte.cli.build_parser), and for each option the type, default, range and help declared once
in vmatte.options. The page cannot drift from the code: tests/test_docs.py runs `--check`.

    python tools/cli_reference.py          # rewrite docs/reference/cli.md
    python tools/cli_reference.py --check  # exit 1 if the page differs from what this makes
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "cli.md"
sys.path.insert(0, str(ROOT))

from vmatte.cli import build_parser  # noqa: E402
from vmatte.options import ExportOptions, LiveOptions, MattingOptions, OutputOptions, ScaleOptions  # noqa: E402
from vmatte.optionspec import spec_of  # noqa: E402

HEADER = """\
# Command-line reference

Made by `tools/cli_reference.py` from the parser (`vmatte/cli.py`) and the options model
(`vmatte/options.py`); a test fails when this page and the code differ. Do not edit it by hand.

Every option of `convert`, `report`, `live` and `export` is declared once, in `vmatte/options.py`
(frozen dataclasses: `MattingOptions`, `OutputOptions`, `ScaleOptions`, `LiveOptions`, `ExportOptions`),
with its type, default, range or choices, and help. The command line is built from them, `--config`
presets are checked against them (an unknown key or a value of the wrong type names the key and the
file; keys are the option names, with `-` or `_`), and the Python API checks the same way:
`vmatte.convert(..., downsample_ratio="abc")` raises `VmatteError` with the message the command line
prints. A bad value gets one line, `vmatte: error: --OPTION: VALUE ...` saying what is allowed, and exit 2,
before torch is imported, any model loads or any file opens.

In the tables, *allowed* is what the option's check accepts beyond its type; a flag takes no value,
and a preset (`--config`) writes it as its option name with `true` or `false`.
"""
KINDS = {float: "number", int: "whole number", bool: "flag", "path": "path", str: "text", object: "text"}
CLASSES = (OutputOptions, MattingOptions, ScaleOptions, LiveOptions, ExportOptions)


def _cell(text: object) -> str:
    return str(text).replace("%%", "%").replace("|", "\\|").replace("\n", " ")


def _fields(command: str) -> dict[str, object]:
    """dest -> dataclass field for the options `command` takes (live's own fields win over convert's)."""
    owners = {"live": (LiveOptions, MattingOptions), "export": (ExportOptions, MattingOptions)}.get(
        command, (OutputOptions, MattingOptions, ScaleOptions))
    return {f.name: f for cls in reversed(owners) for f in fields(cls)}


def _row(action: argparse.Action, field: object | None) -> str:
    flags = ", ".join(f"`{s}`" for s in action.option_strings)
    if field is None:  # an argument cli.py adds itself (--config, --all, ...)
        value = "flag" if action.nargs == 0 else (action.metavar or action.dest.upper())
        allowed = ", ".join(action.choices) if action.choices else ""
        default = "" if action.default in (None, False, argparse.SUPPRESS) else f"`{action.default}`"
        return f"| {flags} | {value} | {default} | {_cell(allowed)} | {_cell(action.help or '')} |"
    spec = spec_of(field)
    value = KINDS.get(spec.kind, "text")
    if spec.metavar:
        value = f"{value} ({spec.metavar})" if spec.kind is not object else spec.metavar
    if spec.const is not None:
        value += f"; alone: `{spec.const}`"
    default = "" if field.default in (None, MISSING) else f"`{field.default}`"
    allowed = spec.allowed() if (spec.choices or spec.low is not None or spec.high is not None) else ""
    if spec.kind is bool:  # the flag turns the default over; a preset spells the field and its value
        default, allowed = "", f"in a preset: `{field.name}: {str(not field.default).lower()}`"
    return f"| {flags} | {value} | {default} | {_cell(allowed)} | {_cell(spec.help)} |"


def render() -> str:
    """The whole page, as Markdown."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # argparse's own walk
    helps = {c.dest: c.help for c in sub._choices_actions}
    out = [HEADER, "```text", "vmatte [--version] COMMAND ...", "```", ""]
    out += [f"- [`vmatte {name}`](#vmatte-{name}): {helps[name]}" for name in sub.choices]
    for name, p in sub.choices.items():
        owned = _fields(name)
        out += ["", f"## vmatte {name}", "", f"{helps[name][0].upper()}{helps[name][1:]}.", ""]
        positional = [a for a in p._actions if not a.option_strings]
        if positional:
            out += ["| argument | allowed | help |", "|---|---|---|"]
            out += [f"| `{a.dest.upper()}`{' (optional)' if a.nargs == '?' else ''} | "
                    f"{_cell(', '.join(a.choices) if a.choices else '')} | {_cell(a.help or '')} |" for a in positional]
            out.append("")
        for group in p._action_groups:
            actions = [a for a in group._group_actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
            if not actions:
                continue
            title = "options" if group.title in ("options", "optional arguments") else group.title
            out += [f"### {name}: {title}", "", "| option | value | default | allowed | help |",
                    "|---|---|---|---|---|"]
            out += [_row(a, owned.get(a.dest) if a.dest != "report" or name != "report" else None) for a in actions]
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the page differs from what the code makes")
    a = ap.parse_args()
    page = render()
    if a.check:
        if not PAGE.is_file() or PAGE.read_text() != page:
            sys.exit(f"{PAGE.relative_to(ROOT)} differs from the code; run python tools/cli_reference.py")
        print(f"{PAGE.relative_to(ROOT)} matches the code")
        return
    PAGE.write_text(page)
    print(f"wrote {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
