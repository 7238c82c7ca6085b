package templates

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTMLToText converts an HTML email body into a readable plain-text alternative:
//
//   - paragraphs, headings, tables and block quotes are separated by blank lines; <br>
//     breaks a line; whitespace is collapsed as a browser would, except in <pre>;
//   - links become "text (url)", or just the url when the text is the url; mailto: links
//     show the address; links to "#..." and javascript: keep only their text;
//   - <h1> and <h2> are underlined with "=" and "-", <h3> to <h6> get "### ";
//   - list items become "- item" or "1. item" (following <ol start>), nested lists indent;
//   - table cells on one row are separated by two spaces;
//   - <blockquote> lines start with "> "; <hr> is a line of dashes;
//   - entities are decoded; <head>, <script>, <style> and hidden elements (the hidden
//     attribute or style="display:none", typical of preheaders) are dropped; an image
//     contributes its alt text only inside a link.
//
// It is a small converter written for email. The well-known html2text packages render links
// as "text ( url )", do not number ordered lists and frame headings in asterisks.
func HTMLToText(src string) string {
	root, err := html.Parse(strings.NewReader(src))
	if err != nil { // only a failing reader errors; a string reader does not
		return ""
	}
	w := &textWriter{}
	w.children(root)
	return w.finish()
}

type textLevel struct {
	indent string // written at the start of each line in this block
	marker string // written once instead of indent, on the next line (a list bullet)
}

type textWriter struct {
	out      strings.Builder
	line     strings.Builder // the current line, prefix included
	content  bool            // the current line has content beyond its prefix
	started  bool            // anything written at all
	newlines int             // line breaks owed before the next content
	space    bool            // a collapsed space is owed
	sep      bool            // a table-cell separator is owed
	levels   []textLevel
	pre      int
	captures []*strings.Builder // text of the links and headings being written
	links    int                // depth of <a> elements
}

func (w *textWriter) block(n int) {
	if w.started && w.newlines < n {
		w.newlines = n
	}
	w.space, w.sep = false, false
}

func (w *textWriter) breakLine() {
	if w.newlines < 2 {
		w.newlines++
	}
	if !w.started {
		w.newlines = 0
	}
	w.space = false
}

func (w *textWriter) endLine() {
	w.out.WriteString(strings.TrimRight(w.line.String(), " \t"))
	w.out.WriteByte('\n')
	w.line.Reset()
	w.content = false
}

// writeRaw writes s, which contains no line break, as content.
func (w *textWriter) writeRaw(s string) {
	if s == "" {
		return
	}
	if w.started && w.newlines > 0 {
		for i := 0; i < w.newlines; i++ {
			w.endLine()
			if i < w.newlines-1 { // a blank line keeps the quote prefix, not bullets
				for _, l := range w.levels {
					if strings.HasPrefix(l.indent, ">") {
						w.line.WriteString(">")
					}
				}
			}
		}
		w.newlines = 0
		w.space, w.sep = false, false
	}
	if !w.content {
		for i := range w.levels {
			if w.levels[i].marker != "" {
				w.line.WriteString(w.levels[i].marker)
				w.levels[i].marker = ""
			} else {
				w.line.WriteString(w.levels[i].indent)
			}
		}
	} else if w.sep {
		w.line.WriteString("  ")
		w.capture("  ")
	} else if w.space {
		w.line.WriteByte(' ')
		w.capture(" ")
	}
	w.space, w.sep = false, false
	w.line.WriteString(s)
	w.capture(s)
	w.content, w.started = true, true
}

func (w *textWriter) capture(s string) {
	for _, c := range w.captures {
		c.WriteString(s)
	}
}

func (w *textWriter) text(s string) {
	if w.pre > 0 {
		for i, l := range strings.Split(s, "\n") {
			if i > 0 {
				w.newlines++
				w.started = true
			}
			w.writeRaw(l)
		}
		return
	}
	for len(s) > 0 {
		i := strings.IndexFunc(s, isHTMLSpace)
		if i < 0 {
			w.writeRaw(s)
			return
		}
		w.writeRaw(s[:i])
		if w.content {
			w.space = true
		}
		j := strings.IndexFunc(s[i:], func(r rune) bool { return !isHTMLSpace(r) })
		if j < 0 {
			return
		}
		s = s[i+j:]
	}
}

func isHTMLSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f'
}

func (w *textWriter) children(n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key && a.Namespace == "" {
			return a.Val, true
		}
	}
	return "", false
}

func hidden(n *html.Node) bool {
	if _, ok := attr(n, "hidden"); ok {
		return true
	}
	st, _ := attr(n, "style")
	st = strings.ToLower(strings.ReplaceAll(st, " ", ""))
	return strings.Contains(st, "display:none")
}

func (w *textWriter) node(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		w.text(n.Data)
		return
	case html.DocumentNode:
		w.children(n)
		return
	case html.ElementNode:
	default:
		return
	}
	if hidden(n) {
		return
	}
	switch n.DataAtom {
	case atom.Head, atom.Script, atom.Style, atom.Template, atom.Noscript, atom.Iframe, atom.Object, atom.Svg, atom.Title:
		return
	case atom.Br:
		w.breakLine()
	case atom.Hr:
		w.block(2)
		w.writeRaw("--------------------------------")
		w.block(2)
	case atom.P, atom.Table, atom.Dl, atom.Pre, atom.Blockquote, atom.Ul, atom.Ol, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		w.blockElement(n)
	case atom.Div, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Main, atom.Nav, atom.Aside,
		atom.Address, atom.Figure, atom.Figcaption, atom.Center, atom.Tr, atom.Dt, atom.Dd, atom.Form, atom.Fieldset,
		atom.Tbody, atom.Thead, atom.Tfoot, atom.Caption:
		w.block(1)
		w.children(n)
		w.block(1)
	case atom.Li:
		w.listItem(n)
	case atom.Td, atom.Th:
		if w.content {
			w.sep = true
		}
		w.children(n)
		if w.content {
			w.sep = true
		}
	case atom.A:
		w.link(n)
	case atom.Img:
		if w.links > 0 {
			if alt, _ := attr(n, "alt"); strings.TrimSpace(alt) != "" {
				w.text(alt)
			}
		}
	default:
		w.children(n)
	}
}

func (w *textWriter) blockElement(n *html.Node) {
	nested := false
	if n.DataAtom == atom.Ul || n.DataAtom == atom.Ol {
		for p := n.Parent; p != nil; p = p.Parent {
			if p.DataAtom == atom.Li {
				nested = true
			}
		}
	}
	if nested {
		w.block(1)
	} else {
		w.block(2)
	}
	switch n.DataAtom {
	case atom.Pre:
		w.pre++
		w.children(n)
		w.pre--
	case atom.Blockquote:
		w.levels = append(w.levels, textLevel{indent: "> "})
		w.children(n)
		w.levels = w.levels[:len(w.levels)-1]
	case atom.H1, atom.H2:
		c := w.startCapture()
		w.children(n)
		w.endCapture()
		if width := utf8.RuneCountInString(strings.TrimSpace(c.String())); width > 0 {
			u := "="
			if n.DataAtom == atom.H2 {
				u = "-"
			}
			w.block(1)
			w.writeRaw(strings.Repeat(u, width))
		}
	case atom.H3, atom.H4, atom.H5, atom.H6:
		w.writeRaw(strings.Repeat("#", int(n.Data[1]-'0')) + " ")
		w.space = false
		w.children(n)
	default:
		w.children(n)
	}
	if nested {
		w.block(1)
	} else {
		w.block(2)
	}
}

func (w *textWriter) listItem(n *html.Node) {
	marker := "- "
	if p := n.Parent; p != nil && p.DataAtom == atom.Ol {
		num := 1
		if s, ok := attr(p, "start"); ok {
			if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				num = v
			}
		}
		for c := p.FirstChild; c != nil && c != n; c = c.NextSibling {
			if c.Type == html.ElementNode && c.DataAtom == atom.Li {
				num++
			}
		}
		if v, ok := attr(n, "value"); ok {
			if v, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				num = v
			}
		}
		marker = strconv.Itoa(num) + ". "
	}
	w.block(1)
	w.levels = append(w.levels, textLevel{indent: strings.Repeat(" ", len(marker)), marker: marker})
	w.children(n)
	if l := w.levels[len(w.levels)-1]; l.marker != "" { // an empty item still shows its bullet
		w.writeRaw(" ")
	}
	w.levels = w.levels[:len(w.levels)-1]
	w.block(1)
}

func (w *textWriter) startCapture() *strings.Builder {
	c := &strings.Builder{}
	w.captures = append(w.captures, c)
	return c
}

func (w *textWriter) endCapture() { w.captures = w.captures[:len(w.captures)-1] }

func (w *textWriter) link(n *html.Node) {
	href, _ := attr(n, "href")
	href = strings.TrimSpace(href)
	c := w.startCapture()
	w.links++
	w.children(n)
	w.links--
	w.endCapture()
	lower := strings.ToLower(href)
	if href == "" || strings.HasPrefix(href, "#") || strings.HasPrefix(lower, "javascript:") {
		return
	}
	shown := href
	if strings.HasPrefix(lower, "mailto:") {
		shown = href[len("mailto:"):]
	}
	text := strings.Join(strings.Fields(c.String()), " ")
	switch {
	case text == "":
		w.writeRaw(shown)
	case text == shown || text == href || strings.TrimRight(text, "/") == strings.TrimRight(shown, "/"):
	default:
		w.space = true
		w.writeRaw("(" + shown + ")")
	}
}

func (w *textWriter) finish() string {
	if w.content {
		w.endLine()
	}
	s := strings.TrimRight(w.out.String(), "\n ")
	if s == "" {
		return ""
	}
	return s + "\n"
}
