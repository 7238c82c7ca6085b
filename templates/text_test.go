package templates

import "testing"

func TestHTMLToText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", ``, ``},
		{"paragraphs", `<p>One</p><p>Two</p>`, "One\n\nTwo\n"},
		{"whitespace collapses", "<p>  a \n\t b  </p>", "a b\n"},
		{"inline elements join", `<p>Hello <b>bold</b> <i>world</i>!</p>`, "Hello bold world!\n"},
		{"br", `<p>line one<br>line two<br/>line three</p>`, "line one\nline two\nline three\n"},
		{"double br leaves a blank line", `a<br><br>b`, "a\n\nb\n"},
		{"entities decoded", `<p>Fish &amp; chips &lt;3 &eacute;t&eacute; &#8212; &nbsp;x</p>`, "Fish & chips <3 été — \u00a0x\n"},
		{"link", `<p>Go <a href="https://x.example/a?b=1&amp;c=2">to the shop</a> now</p>`, "Go to the shop (https://x.example/a?b=1&c=2) now\n"},
		{"link whose text is the url", `<a href="https://x.example/">https://x.example/</a>`, "https://x.example/\n"},
		{"link without text", `<a href="https://x.example/"></a>`, "https://x.example/\n"},
		{"mailto", `<a href="mailto:help@x.example">Email us</a>`, "Email us (help@x.example)\n"},
		{"mailto same text", `<a href="mailto:help@x.example">help@x.example</a>`, "help@x.example\n"},
		{"anchor and javascript links keep text", `<a href="#top">Top</a> <a href="javascript:void(0)">JS</a>`, "Top JS\n"},
		{"image link uses alt", `<a href="https://x.example/"><img src="cid:logo" alt="Shop"></a>`, "Shop (https://x.example/)\n"},
		{"image outside link dropped", `<p><img src="x.png" alt="Logo">Hi</p>`, "Hi\n"},
		{"unordered list", `<ul><li>one</li><li>two</li></ul>`, "- one\n- two\n"},
		{"ordered list", `<ol><li>first</li><li>second</li></ol>`, "1. first\n2. second\n"},
		{"ordered list start", `<ol start="4"><li>four</li><li>five</li></ol>`, "4. four\n5. five\n"},
		{"nested list", `<ul><li>a<ul><li>a1</li><li>a2</li></ul></li><li>b</li></ul>`, "- a\n  - a1\n  - a2\n- b\n"},
		{"list item with paragraphs", `<ol><li><p>Step one</p><p>details</p></li></ol>`, "1. Step one\n\n   details\n"},
		{"text around a list", `<p>Items:</p><ul><li>x</li></ul><p>Done</p>`, "Items:\n\n- x\n\nDone\n"},
		{"h1", `<h1>Welcome</h1><p>Hi</p>`, "Welcome\n=======\n\nHi\n"},
		{"h2 counts runes", `<h2>Été</h2>`, "Été\n---\n"},
		{"h3", `<h3>Details</h3><p>x</p>`, "### Details\n\nx\n"},
		{"script and style dropped", `<style>p{color:red}</style><p>a</p><script>alert(1)</script>`, "a\n"},
		{"head dropped", `<html><head><title>T</title></head><body><p>b</p></body></html>`, "b\n"},
		{"hidden preheader dropped", `<div style="display: none; max-height:0">preheader</div><span hidden>x</span><p>Body</p>`, "Body\n"},
		{"display none in any case", `<p style="color:red;DISPLAY : None">x</p><p style="display:block">y</p><p style="mso-display:nonex">z</p>`, "y\n\nz\n"},
		{"table rows and cells", `<table><tr><th>Item</th><th>Price</th></tr><tr><td>Tea</td><td>$3.00</td></tr></table>`, "Item  Price\nTea  $3.00\n"},
		{"layout tables vanish", `<table><tr><td><table><tr><td><p>Hello</p></td></tr></table></td></tr></table>`, "Hello\n"},
		{"blockquote", `<blockquote><p>quoted</p><p>more</p></blockquote><p>after</p>`, "> quoted\n>\n> more\n\nafter\n"},
		{"pre keeps lines", "<pre>a  b\n  c</pre>", "a  b\n  c\n"},
		{"hr", `<p>a</p><hr><p>b</p>`, "a\n\n--------------------------------\n\nb\n"},
		{"divs break lines", `<div>a</div><div>b</div>`, "a\nb\n"},
		{"comments dropped", `<p>a<!-- secret --></p>`, "a\n"},
		{"implied </li>", `<ul><li>a<li>b</ul><p>x`, "- a\n- b\n\nx\n"},
		{"implied </p>", `<p>a<p>b<div>c</div>`, "a\n\nb\n\nc\n"},
		{"implied </td> and </tr>", `<table><tr><td>a<td>b<tr><td>c</table>`, "a  b\nc\n"},
		{"definition list", `<dl><dt>Term<dd>Meaning</dl>`, "Term\nMeaning\n"},
		{"head without end tag", `<html><head><title>T</title><meta charset=utf-8><body><p>b`, "b\n"},
		{"stray end tags ignored", `</div></p>a</b>`, "a\n"},
		{"li value", `<ol><li>a<li value="7">b<li>c</ol>`, "1. a\n7. b\n8. c\n"},
		{"self-closing div", `a<div/>b`, "a\nb\n"},
		{"hidden subtree with void elements", `<div hidden><img alt=x><br>gone</div>kept`, "kept\n"},
		{"heading with a link", `<h2><a href="https://x.example/">Sale</a></h2>`, "Sale (https://x.example/)\n-------------------------\n"},
		{"no triple blank lines", `<p>a</p><p></p><p></p><br><br><br><p>b</p>`, "a\n\nb\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HTMLToText(tt.in); got != tt.want {
				t.Errorf("HTMLToText(%q)\n got: %q\nwant: %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzHTMLToText(f *testing.F) {
	f.Add(`<ul><li><a href="x">y</a></li></ul><h1>t</h1><pre>p</pre>`)
	f.Add(`<ol start=-3><li><blockquote>q<br>r</blockquote></li></ol>`)
	f.Fuzz(func(t *testing.T, s string) {
		out := HTMLToText(s)
		if out != "" && out[len(out)-1] != '\n' {
			t.Fatalf("output does not end in a newline: %q", out)
		}
	})
}
