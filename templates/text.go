package templates

import (
	"bytes"
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
// It is a small converter written for email, streaming over golang.org/x/net/html's
// tokenizer (no document tree), with the implied end tags of p, li, dt, dd, tr, td and th. The well-known html2text packages render links
// as "text ( url )", do not number ordered lists and frame headings in asterisks.
func HTMLToText(src string) string {
	w := &textWriter{}
	z := html.NewTokenizerFragment(strings.NewReader(src), "body")
	for {
		switch z.Next() {
		case html.ErrorToken: // io.EOF: a string reader fails in no other way
			w.closeTo(0)
			return w.finish()
		case html.TextToken:
			if w.skip == 0 {
				w.text(string(z.Text()))
			}
		case html.StartTagToken:
			w.start(z, false)
		case html.SelfClosingTagToken:
			w.start(z, true)
		case html.EndTagToken:
			name, _ := z.TagName()
			w.end(atom.Lookup(name))
		}
	}
}

// openElem is an element on the converter's stack, with what its end tag must undo.
type openElem struct {
	a      atom.Atom
	skip   bool             // its content is dropped
	level  bool             // it pushed a textLevel
	nested bool             // a list inside a list item: single line breaks
	list   *listState       // for ul and ol
	link   string           // for a: the href
	text   *strings.Builder // for a, h1 and h2: the text written inside
}

type listState struct {
	ordered bool
	next    int
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
	stack    []openElem
	skip     int // depth of elements whose content is dropped
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

// skipped are the elements whose content never reaches the text.
var skipped = map[atom.Atom]bool{
	atom.Head: true, atom.Script: true, atom.Style: true, atom.Template: true, atom.Noscript: true,
	atom.Iframe: true, atom.Object: true, atom.Svg: true, atom.Math: true, atom.Title: true, atom.Textarea: true, atom.Select: true,
}

var voids = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true, atom.Hr: true, atom.Img: true,
	atom.Input: true, atom.Link: true, atom.Meta: true, atom.Param: true, atom.Source: true, atom.Track: true, atom.Wbr: true,
}

// blocks maps block elements to the line breaks around them: 2 leaves a blank line.
var blocks = map[atom.Atom]int{
	atom.P: 2, atom.Table: 2, atom.Dl: 2, atom.Pre: 2, atom.Blockquote: 2, atom.Ul: 2, atom.Ol: 2,
	atom.H1: 2, atom.H2: 2, atom.H3: 2, atom.H4: 2, atom.H5: 2, atom.H6: 2,
	atom.Div: 1, atom.Section: 1, atom.Article: 1, atom.Header: 1, atom.Footer: 1, atom.Main: 1, atom.Nav: 1,
	atom.Aside: 1, atom.Address: 1, atom.Figure: 1, atom.Figcaption: 1, atom.Center: 1, atom.Tr: 1, atom.Dt: 1,
	atom.Dd: 1, atom.Form: 1, atom.Fieldset: 1, atom.Tbody: 1, atom.Thead: 1, atom.Tfoot: 1, atom.Caption: 1,
}

// closesP are the start tags that end an open <p>, as in an HTML parser.
var closesP = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Ul: true, atom.Ol: true, atom.Dl: true, atom.Table: true, atom.Pre: true,
	atom.Blockquote: true, atom.Hr: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true,
	atom.H6: true, atom.Section: true, atom.Article: true, atom.Header: true, atom.Footer: true, atom.Main: true,
	atom.Nav: true, atom.Aside: true, atom.Address: true, atom.Figure: true, atom.Center: true, atom.Form: true,
	atom.Fieldset: true, atom.Li: true, atom.Dt: true, atom.Dd: true,
}

// find returns the index of the innermost open element a, looking no further out than
// an element in stop; -1 when there is none.
func (w *textWriter) find(a atom.Atom, stop ...atom.Atom) int {
	for i := len(w.stack) - 1; i >= 0; i-- {
		e := w.stack[i].a
		if e == a {
			return i
		}
		for _, s := range stop {
			if e == s {
				return -1
			}
		}
	}
	return -1
}

// closeTo ends the open elements from the innermost down to index i.
func (w *textWriter) closeTo(i int) {
	for len(w.stack) > i {
		e := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		w.finishElem(&e)
	}
}

func (w *textWriter) inListItem() bool {
	for i := len(w.stack) - 1; i >= 0; i-- {
		if w.stack[i].a == atom.Li {
			return true
		}
	}
	return false
}

func (w *textWriter) start(z *html.Tokenizer, selfClosing bool) {
	name, hasAttr := z.TagName()
	a := atom.Lookup(name)
	var href, alt, start, value string
	hide := false
	for hasAttr {
		var k, v []byte
		k, v, hasAttr = z.TagAttr()
		switch string(k) {
		case "hidden":
			hide = true
		case "style":
			hide = hide || displayNone(v)
		case "href":
			href = string(v)
		case "alt":
			alt = string(v)
		case "start":
			start = string(v)
		case "value":
			value = string(v)
		}
	}

	// Implied end tags.
	switch a {
	case atom.Li:
		if i := w.find(atom.Li, atom.Ul, atom.Ol); i >= 0 {
			w.closeTo(i)
		}
	case atom.Dt, atom.Dd:
		if i := w.find(atom.Dt, atom.Dl); i >= 0 {
			w.closeTo(i)
		} else if i := w.find(atom.Dd, atom.Dl); i >= 0 {
			w.closeTo(i)
		}
	case atom.Tr:
		if i := w.find(atom.Tr, atom.Table); i >= 0 {
			w.closeTo(i)
		}
	case atom.Td, atom.Th:
		if i := w.find(atom.Td, atom.Tr, atom.Table); i >= 0 {
			w.closeTo(i)
		} else if i := w.find(atom.Th, atom.Tr, atom.Table); i >= 0 {
			w.closeTo(i)
		}
	case atom.Body:
		if i := w.find(atom.Head); i >= 0 {
			w.closeTo(i)
		}
	}
	if closesP[a] {
		if i := w.find(atom.P, atom.Table, atom.Td, atom.Th, atom.Caption, atom.Button, atom.Object, atom.Template); i >= 0 {
			w.closeTo(i)
		}
	}

	if voids[a] || selfClosing && !blocksOrSkipped(a) {
		if w.skip > 0 || hide {
			return
		}
		switch a {
		case atom.Br:
			w.breakLine()
		case atom.Hr:
			w.block(2)
			w.writeRaw("--------------------------------")
			w.block(2)
		case atom.Img:
			if w.links > 0 && strings.TrimSpace(alt) != "" {
				w.text(alt)
			}
		}
		return
	}

	e := openElem{a: a}
	if w.skip > 0 || hide || skipped[a] {
		e.skip = true
		w.skip++
		w.stack = append(w.stack, e)
		if selfClosing {
			w.closeTo(len(w.stack) - 1)
		}
		return
	}
	if n, ok := blocks[a]; ok {
		if (a == atom.Ul || a == atom.Ol) && w.inListItem() {
			e.nested, n = true, 1
		}
		w.block(n)
	}
	switch a {
	case atom.Pre:
		w.pre++
	case atom.Blockquote:
		w.levels = append(w.levels, textLevel{indent: "> "})
		e.level = true
	case atom.H1, atom.H2:
		e.text = w.startCapture()
	case atom.H3, atom.H4, atom.H5, atom.H6:
		w.writeRaw(strings.Repeat("#", int(name[1]-'0')) + " ")
		w.space = false
	case atom.Ul, atom.Ol:
		e.list = &listState{ordered: a == atom.Ol, next: 1}
		if v, err := strconv.Atoi(strings.TrimSpace(start)); err == nil && a == atom.Ol {
			e.list.next = v
		}
	case atom.Li:
		marker := "- "
		for i := len(w.stack) - 1; i >= 0; i-- {
			if l := w.stack[i].list; l != nil {
				if l.ordered {
					if v, err := strconv.Atoi(strings.TrimSpace(value)); err == nil {
						l.next = v
					}
					marker = strconv.Itoa(l.next) + ". "
					l.next++
				}
				break
			}
		}
		w.block(1)
		w.levels = append(w.levels, textLevel{indent: strings.Repeat(" ", len(marker)), marker: marker})
		e.level = true
	case atom.Td, atom.Th:
		if w.content {
			w.sep = true
		}
	case atom.A:
		e.link = strings.TrimSpace(href)
		e.text = w.startCapture()
		w.links++
	}
	w.stack = append(w.stack, e)
	if selfClosing {
		w.closeTo(len(w.stack) - 1)
	}
}

// displayNone reports whether a style attribute value says display:none (any case and
// spacing), without allocating: inlined CSS puts a long style on most elements.
func displayNone(v []byte) bool {
	const prop = "display"
	for i := 0; i+len(prop) <= len(v); i++ {
		if !bytes.EqualFold(v[i:i+len(prop)], []byte(prop)) || i > 0 && !bytes.ContainsRune([]byte("; \t\n"), rune(v[i-1])) {
			continue
		}
		j := i + len(prop)
		for j < len(v) && (v[j] == ' ' || v[j] == '\t') {
			j++
		}
		if j >= len(v) || v[j] != ':' {
			continue
		}
		j++
		for j < len(v) && (v[j] == ' ' || v[j] == '\t') {
			j++
		}
		if j+4 <= len(v) && bytes.EqualFold(v[j:j+4], []byte("none")) && (j+4 == len(v) || bytes.ContainsRune([]byte("; \t\n!"), rune(v[j+4]))) {
			return true
		}
	}
	return false
}

func blocksOrSkipped(a atom.Atom) bool {
	_, ok := blocks[a]
	return ok || skipped[a] || a == atom.A || a == atom.Li || a == atom.Td || a == atom.Th
}

func (w *textWriter) end(a atom.Atom) {
	if i := w.find(a); i >= 0 {
		w.closeTo(i)
	} else if a == atom.Br { // </br> is read as <br>
		w.breakLine()
	}
}

// finishElem does what the end of e implies.
func (w *textWriter) finishElem(e *openElem) {
	if e.skip {
		w.skip--
		return
	}
	switch e.a {
	case atom.Pre:
		w.pre--
	case atom.H1, atom.H2:
		w.endCapture(e.text)
		if width := utf8.RuneCountInString(strings.TrimSpace(e.text.String())); width > 0 {
			u := "="
			if e.a == atom.H2 {
				u = "-"
			}
			w.block(1)
			w.writeRaw(strings.Repeat(u, width))
		}
	case atom.Li:
		if l := w.levels[len(w.levels)-1]; l.marker != "" { // an empty item still shows its bullet
			w.writeRaw(" ")
		}
	case atom.Td, atom.Th:
		if w.content {
			w.sep = true
		}
	case atom.A:
		w.links--
		w.endCapture(e.text)
		w.linkEnd(e.link, e.text.String())
	}
	if e.level {
		w.levels = w.levels[:len(w.levels)-1]
	}
	if n, ok := blocks[e.a]; ok {
		if e.nested {
			n = 1
		}
		w.block(n)
	}
	if e.a == atom.Li {
		w.block(1)
	}
}

func (w *textWriter) startCapture() *strings.Builder {
	c := &strings.Builder{}
	w.captures = append(w.captures, c)
	return c
}

// endCapture stops capturing into c (captures nest, so c is the innermost).
func (w *textWriter) endCapture(c *strings.Builder) {
	if n := len(w.captures); n > 0 && w.captures[n-1] == c {
		w.captures = w.captures[:n-1]
	}
}

func (w *textWriter) linkEnd(href, text string) {
	lower := strings.ToLower(href)
	if href == "" || strings.HasPrefix(href, "#") || strings.HasPrefix(lower, "javascript:") {
		return
	}
	shown := href
	if strings.HasPrefix(lower, "mailto:") {
		shown = href[len("mailto:"):]
	}
	text = strings.Join(strings.Fields(text), " ")
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
