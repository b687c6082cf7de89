"""HTML to readable text, and HTML sanitizing for display."""

from __future__ import annotations

import re

from mailgate.htmlsafe import sanitize_html
from mailgate.htmltext import html_to_text

HOSTILE = """<html><head><title>Title</title><style>p{color:red}</style>
<meta http-equiv="refresh" content="0;url=http://evil.example/"><base href="http://evil.example/">
<link rel="stylesheet" href="http://evil.example/x.css"></head>
<body onload="alert(1)" background="http://tracker.example/bg.png">
<p style="color:red;position:fixed;top:0;background:url(http://tracker.example/x.png)">Hi
<a href="javascript:alert(1)">click</a> <a href=" JaVaScRiPt:alert(2)">again</a>
<a href="https://ok.example/">fine</a> <a href="data:text/html,<script>x</script>">data</a></p>
<img src="http://tracker.example/pixel.gif" width="1" onerror="alert(3)">
<img src="cid:logo@example" alt="logo"><img src="data:image/png;base64,iVBORw0KGgo=">
<svg onload="alert(4)"><script>alert(5)</script></svg><script>alert(6)</script>
<iframe src="http://evil.example/"></iframe><object data="x.swf"></object>
<form action="http://evil.example/"><input name="password"></form>
<div style="display:none">hidden text</div><!-- a comment -->
<math><mi xlink:href="javascript:alert(7)">x</mi></math></body></html>"""


class TestSanitize:
    def test_no_script_or_handlers(self) -> None:
        clean = sanitize_html(HOSTILE).lower()
        for bad in (
            "<script",
            "onload",
            "onerror",
            "javascript:",
            "<svg",
            "<iframe",
            "<object",
            "<form",
            "<input",
            "<base",
            "<meta",
            "<link",
            "<style",
            "alert(",
            "<!--",
            "position",
            "url(",
            "data:text",
        ):
            assert bad not in clean, bad

    def test_nothing_loads_from_the_network(self) -> None:
        clean = sanitize_html(HOSTILE)
        sources = re.findall(r'\ssrc="([^"]*)"', clean)
        assert sources == ["cid:logo@example", "data:image/png;base64,iVBORw0KGgo="]
        assert "tracker.example" not in clean
        assert "background=" not in clean

    def test_text_and_safe_links_survive(self) -> None:
        clean = sanitize_html(HOSTILE)
        assert "Hi" in clean and "hidden text" in clean
        assert 'href="https://ok.example/"' in clean
        assert 'rel="noopener noreferrer nofollow"' in clean
        assert 'style="color:red"' in clean


class TestHtmlToText:
    def test_structure(self) -> None:
        html = (
            "<h1>Hello &amp; welcome</h1><p>First <b>bold</b> para.<br>Second line.</p>"
            "<ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul>"
            "<ol><li>first<li>second</ol><p>end</p>"
        )
        assert html_to_text(html) == (
            "Hello & welcome\n\nFirst bold para.\nSecond line.\n\n"
            "- one\n- two\n  - nested\n\n1. first\n2. second\n\nend"
        )

    def test_no_markdown_artifacts(self) -> None:
        text = html_to_text("<h2>Title</h2><p><strong>Bold</strong> and <em>it</em></p>")
        assert text == "Title\n\nBold and it"
        assert "*" not in text and "#" not in text and "_" not in text

    def test_links(self) -> None:
        html = (
            '<p><a href="https://example.com/x">our site</a>, '
            '<a href="https://example.com/">https://example.com/</a>, '
            '<a href="mailto:a@b.example">a@b.example</a>, <a href="javascript:x()">js</a>, '
            '<a href="http://img.example/"><img src="x.png" alt="Logo"></a></p>'
        )
        assert html_to_text(html) == (
            "our site (https://example.com/x), https://example.com/, a@b.example, js, "
            "Logo (http://img.example/)"
        )

    def test_scripts_styles_head_dropped(self) -> None:
        text = html_to_text(HOSTILE)
        assert "alert" not in text and "color:red" not in text and "Title" not in text
        assert text.startswith("Hi click again fine (https://ok.example/) data")
        assert "hidden text" in text

    def test_quotes_tables_pre_entities(self) -> None:
        html = (
            "<p>Reply</p><blockquote><p>quoted</p><p>more</p></blockquote>"
            "<table><tr><td>A</td><td>B</td></tr><tr><td>C</td><td>D</td></tr></table>"
            "<pre>  code\n    indented</pre><p>&lt;tag&gt; &eacute;&nbsp;&#8364;</p>"
        )
        assert html_to_text(html) == (
            "Reply\n\n> quoted\n>\n> more\n\nA B\nC D\n\n  code\n    indented\n\n<tag> é €"
        )

    def test_broken_markup(self) -> None:
        assert html_to_text("<p>unclosed <b>bold <p>second</td></tr>") == (
            "unclosed bold\n\nsecond"
        )
        assert html_to_text("") == ""
        assert html_to_text("just text") == "just text"
