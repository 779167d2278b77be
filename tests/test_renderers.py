"""The Markdown lecture as notebooks and sites render it: every formula through MathJax 3,
MathJax 2 (classic Notebook, nbconvert) and KaTeX in headless Chromium — no render error, a box
for every formula. The renderers come from npm, pinned and installed by ``make test``
(``.venv/npm``); nothing is fetched while the tests run."""

import json
import os
import re
from pathlib import Path

import pytest

import symbackprop as sb

from .test_documents import EXAMPLES, PRELU_SOFTMAX, _tool, chromium_probe
from .test_generated_code import EVERY_OPTIMIZER

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / ".venv" / "npm" / "node_modules"


def formulas(markdown: str) -> list[tuple[str, bool]]:
    """(TeX, display) of every formula of a Markdown document: $$ blocks, then inline $…$."""
    text = "\n".join(
        line.removeprefix("> ").removeprefix(">") for line in markdown.splitlines()
    )
    found = [(m, True) for m in re.findall(r"\$\$\n(.*?)\n\$\$", text, re.DOTALL)]
    rest = re.sub(r"\$\$\n.*?\n\$\$", "", text, flags=re.DOTALL)
    found += [(m, False) for m in re.findall(r"\$([^$\n]+?)\$", rest)]
    return found


def _renderer(name: str) -> Path:
    path = PACKAGES / name
    if not path.is_dir():
        message = (
            f"{path} is missing: `make test` installs MathJax and KaTeX with npm "
            "(Debian package npm; .ci/run installs it)"
        )
        if os.environ.get("SYMBACKPROP_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


COLLECT = """
function report(result) {
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
}
function boxes(selector) {
  return [...document.querySelectorAll(selector)].map((e) => {
    const r = e.getBoundingClientRect();
    return [r.width, r.height];
  });
}
"""


def _page(renderer: str, items: list[tuple[str, bool]]) -> str:
    data = json.dumps([{"tex": tex, "display": display} for tex, display in items])
    if renderer == "katex":
        base = _renderer("katex").as_uri()
        head = (
            f'<link rel="stylesheet" href="{base}/dist/katex.min.css">'
            f'<script src="{base}/dist/katex.min.js"></script>'
        )
        body = f"""<script>{COLLECT}
window.addEventListener("load", () => {{
  const errors = [];
  for (const f of {data}) {{
    const node = document.createElement(f.display ? "div" : "span");
    node.className = "formula";
    document.body.appendChild(node);
    try {{ katex.render(f.tex, node, {{displayMode: f.display, throwOnError: true}}); }}
    catch (e) {{ errors.push(String(e).slice(0, 300) + " IN " + f.tex.slice(0, 200)); }}
  }}
  report({{errors, boxes: boxes(".formula > .katex, .formula > .katex-display")}});
}});
</script>"""
        return head, body
    if renderer == "mathjax3":
        base = _renderer("mathjax").as_uri()
        head = (
            # without noundefined and noerrors an unknown macro is an error, not red text
            "<script>window.MathJax = {startup: {typeset: false}, "
            "tex: {packages: {'[-]': ['noundefined', 'noerrors']}}};</script>"
            f'<script src="{base}/es5/tex-chtml.js"></script>'
        )
        body = f"""<script>{COLLECT}
window.addEventListener("load", () => {{
  MathJax.startup.promise.then(async () => {{
    const errors = [];
    for (const f of {data}) {{
      const node = await MathJax.tex2chtmlPromise(f.tex, {{display: f.display}});
      const holder = document.createElement("div");
      holder.className = "formula";
      holder.appendChild(node);
      document.body.appendChild(holder);
      const error = node.querySelector("mjx-merror, [data-mjx-error]");
      if (error) errors.push((error.getAttribute("data-mjx-error") || error.textContent)
                             + " IN " + f.tex.slice(0, 200));
    }}
    MathJax.startup.document.updateDocument();
    report({{errors, boxes: boxes(".formula > mjx-container")}});
  }});
}});
</script>"""
        return head, body
    base = _renderer("mathjax2").as_uri()
    head = (
        '<script type="text/x-mathjax-config">'
        "MathJax.Hub.Config({messageStyle: 'none', tex2jax: {inlineMath: [['$','$']]}, "
        "TeX: {noUndefined: {disabled: true}, noErrors: {disabled: true}}});"
        "window.__errors = [];"
        "MathJax.Hub.Register.MessageHook('TeX Jax - parse error', (m) => "
        "window.__errors.push(String(m[1]) + ' IN ' + String(m[2]).slice(0, 200)));"
        "MathJax.Hub.Register.MessageHook('Math Processing Error', (m) => "
        "window.__errors.push('Math Processing Error: ' + String(m[2] && m[2].message)));"
        "</script>"
        f'<script src="{base}/MathJax.js?config=TeX-AMS_CHTML"></script>'
    )
    formulas_html = "".join(
        (
            f'<div class="formula">$${_escape(tex)}$$</div>'
            if display
            else f'<p class="formula">${_escape(tex)}$</p>'
        )
        for tex, display in items
    )
    body = f"""{formulas_html}<script>{COLLECT}
window.addEventListener("load", () => {{
  MathJax.Hub.Queue(() => {{
    const errors = window.__errors.slice();
    for (const e of document.querySelectorAll(".MathJax_Error, .noError, merror, .mjx-merror"))
      errors.push("error box: " + e.textContent.slice(0, 200));
    report({{errors, boxes: boxes(".formula .MathJax_CHTML")}});
  }});
}});
</script>"""
    return head, body


def _escape(tex: str) -> str:
    return tex.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


NETWORKS = [EXAMPLES[0], PRELU_SOFTMAX, EVERY_OPTIMIZER[1]]


@pytest.mark.parametrize("renderer", ["mathjax3", "mathjax2", "katex"])
@pytest.mark.parametrize("network", NETWORKS, ids=lambda n: n.name)
def test_markdown_renders_in_every_notebook_renderer(network, renderer, tmp_path):
    chromium = _tool(("chromium", "chromium-browser", "google-chrome"), "chromium")
    items = formulas(sb.derive(network).to_markdown())
    assert len(items) > 15
    head, body = _page(renderer, items)
    page = tmp_path / f"{renderer}.html"
    page.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8">{head}</head>'
        f"<body>{body}</body></html>",
        encoding="utf-8",
    )
    result = chromium_probe(chromium, page, 60_000)
    assert result["errors"] == []
    assert len(result["boxes"]) == len(items)
    assert all(width > 0 and height > 0 for width, height in result["boxes"])
