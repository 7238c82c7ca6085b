package templates

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/PuerkitoBio/goquery"
	"github.com/vanng822/go-premailer/premailer"
	"golang.org/x/net/html"
)

// HTML preparation, done once per notification and locale in New.
//
// The template's literal text is laid out, in the order it would run, into a skeleton
// document: every {{template}} call is expanded in place, every {{if}}/{{range}}/{{with}}
// branch appears once, and every action is replaced by a placeholder word. Each start tag
// of the skeleton gets a data-pst="N" marker, the skeleton goes through premailer, and the
// styles premailer computed for tag N are written back into the parse tree's TextNode that
// holds that tag. The template's actions are never re-parsed or re-serialized, so the
// inliner cannot mangle them; only the literal HTML between them changes.

const (
	phPrefix = "x-postie-ph-"
	markAttr = "data-pst"
)

type segment struct {
	start int             // offset in the skeleton
	text  *parse.TextNode // nil for an action placeholder
	tree  *parse.Tree
}

type specialization struct {
	call     *parse.TemplateNode
	original string
}

type skeleton struct {
	trees    map[string]*parse.Tree
	pristine map[string]*parse.Tree // unexpanded copies, the source of specializations
	seen     map[*parse.Tree]bool
	buf      strings.Builder
	segs     []segment
	expanded map[string]int
	stack    []string
	specs    []specialization
	nph      int
}

func (k *skeleton) placeholder() {
	k.segs = append(k.segs, segment{start: k.buf.Len()})
	k.nph++
	fmt.Fprintf(&k.buf, " %s%d ", phPrefix, k.nph)
}

func (k *skeleton) template(name string) {
	t := k.trees[name]
	if t == nil || slices.Contains(k.stack, name) || k.seen[t] {
		k.placeholder() // unknown (html/template reports it) or recursive
		return
	}
	k.seen[t] = true
	k.stack = append(k.stack, name)
	k.node(t, t.Root)
	k.stack = k.stack[:len(k.stack)-1]
}

func (k *skeleton) node(t *parse.Tree, n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			k.node(t, c)
		}
	case *parse.TextNode:
		k.segs = append(k.segs, segment{start: k.buf.Len(), text: n, tree: t})
		k.buf.Write(n.Text)
	case *parse.IfNode:
		k.branches(t, n.List, n.ElseList)
	case *parse.RangeNode:
		k.branches(t, n.List, n.ElseList)
	case *parse.WithNode:
		k.branches(t, n.List, n.ElseList)
	case *parse.TemplateNode:
		k.placeholder()
		name := n.Name
		if k.trees[name] != nil && !slices.Contains(k.stack, name) {
			// A template called more than once gets its own copy per call, since the
			// same markup may be styled differently in different places. Copies that
			// end up identical are folded back afterwards.
			if c := k.expanded[name]; c > 0 {
				spec := name + "#" + strconv.Itoa(c+1)
				cp := k.pristine[name].Copy()
				cp.Name = spec
				k.trees[spec] = cp
				k.specs = append(k.specs, specialization{call: n, original: name})
				n.Name = spec
			}
			k.expanded[name]++
		}
		k.template(n.Name)
		k.placeholder()
	case *parse.ActionNode:
		k.placeholder()
	}
}

func (k *skeleton) branches(t *parse.Tree, list, elseList *parse.ListNode) {
	k.placeholder()
	k.node(t, list)
	if elseList != nil {
		k.placeholder()
		k.node(t, elseList)
	}
	k.placeholder()
}

// locate maps a skeleton offset to the text segment holding it (an offset at the very end
// of a segment belongs to it too).
func (k *skeleton) locate(off int) (*segment, int, bool) {
	i := sort.Search(len(k.segs), func(i int) bool { return k.segs[i].start > off }) - 1
	for ; i >= 0; i-- {
		s := &k.segs[i]
		if s.text != nil && off <= s.start+len(s.text.Text) {
			return s, off - s.start, true
		}
		if s.start < off {
			break
		}
	}
	return nil, 0, false
}

// rawAttr is one attribute of a start tag, with offsets into the skeleton.
type rawAttr struct {
	name               string // lower case
	start, end         int    // the whole attribute
	valStart, valEnd   int    // the value, quotes excluded; -1 when there is none
	quote              byte   // '"', '\'' or 0
	value              string // decoded
	dynamic            bool   // holds a placeholder
	nameStart, nameEnd int
}

type tag struct {
	name        string
	start, end  int // the whole tag
	close       int // offset of the closing ">" or "/>"
	attrs       []rawAttr
	dynamic     bool // a placeholder somewhere in the tag
	styleText   string
	styleEnd    int  // for <style>: end of the element
	styleStatic bool // for <style>: no placeholder in the element
}

func (t *tag) attr(name string) *rawAttr {
	for i := range t.attrs {
		if t.attrs[i].name == name {
			return &t.attrs[i]
		}
	}
	return nil
}

// scanTag parses the attributes of the raw start tag s found at offset base.
func scanTag(s string, base int) *tag {
	t := &tag{start: base, end: base + len(s), dynamic: strings.Contains(s, phPrefix)}
	i := 1
	for i < len(s) && !isSpace(s[i]) && s[i] != '/' && s[i] != '>' {
		i++
	}
	t.name = strings.ToLower(s[1:i])
	t.close = base + len(s) - 1
	if strings.HasSuffix(s, "/>") {
		t.close--
	}
	for i < len(s) {
		for i < len(s) && (isSpace(s[i]) || s[i] == '/') {
			i++
		}
		if i >= len(s) || s[i] == '>' {
			break
		}
		a := rawAttr{start: base + i, nameStart: base + i, valStart: -1, valEnd: -1}
		j := i + 1 // the first character may be "=" (an odd but legal name)
		for j < len(s) && !isSpace(s[j]) && s[j] != '/' && s[j] != '>' && s[j] != '=' {
			j++
		}
		a.name, a.nameEnd = strings.ToLower(s[i:j]), base+j
		i = j
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i < len(s) && s[i] == '=' {
			i++
			for i < len(s) && isSpace(s[i]) {
				i++
			}
			if i < len(s) && (s[i] == '"' || s[i] == '\'') {
				q := s[i]
				e := strings.IndexByte(s[i+1:], q)
				if e < 0 {
					e = len(s) - i - 1
				}
				a.quote, a.valStart, a.valEnd = q, base+i+1, base+i+1+e
				i = i + 1 + e + 1
			} else {
				j := i
				for j < len(s) && !isSpace(s[j]) && s[j] != '>' {
					j++
				}
				a.valStart, a.valEnd = base+i, base+j
				i = j
			}
			raw := s[a.valStart-base : a.valEnd-base]
			a.value, a.dynamic = html.UnescapeString(raw), strings.Contains(raw, phPrefix)
		} else {
			i = a.nameEnd - base
		}
		a.end = base + min(i, len(s))
		if strings.Contains(a.name, phPrefix) {
			a.dynamic = true
		}
		t.attrs = append(t.attrs, a)
	}
	return t
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

type edit struct {
	at, del int
	ins     string
}

// prepareHTML inlines CSS and rewrites asset references in the trees entry runs with.
// It may add specialized copies of templates to trees.
func (s *Set) prepareHTML(entry string, trees map[string]*parse.Tree) error {
	k := &skeleton{trees: trees, pristine: map[string]*parse.Tree{}, seen: map[*parse.Tree]bool{}, expanded: map[string]int{entry: 1}}
	for n, t := range trees {
		k.pristine[n] = t.Copy()
	}
	k.template(entry)
	skel := k.buf.String()

	// Tokenize the skeleton, recording start tags and <style> elements, and build the
	// marked copy premailer works on.
	var (
		tags   []*tag
		styles []*tag
		marked strings.Builder
		open   *tag // the <style> being read
	)
	z := html.NewTokenizer(strings.NewReader(skel))
	off := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		raw := string(z.Raw())
		start := off
		off += len(raw)
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			t := scanTag(raw, start)
			id := len(tags)
			tags = append(tags, t)
			if t.name == "style" && tt == html.StartTagToken {
				open = t
				t.styleStatic = !t.dynamic
			}
			// The marked tag: the raw tag without its style attribute, plus the marker.
			cut := start
			for _, a := range t.attrs {
				if a.name == "style" {
					marked.WriteString(skel[cut:a.start])
					cut = a.end
				}
			}
			marked.WriteString(skel[cut:t.close])
			fmt.Fprintf(&marked, ` %s="%d"`, markAttr, id)
			if t.name == "style" && (t.dynamic || styleHasPlaceholder(skel[off:])) {
				marked.WriteString(` data-premailer="ignore"`)
				t.styleStatic = false
			}
			marked.WriteString(skel[t.close:t.end])
			continue
		case html.TextToken:
			if open != nil {
				open.styleText += raw
			}
		case html.EndTagToken:
			if open != nil && strings.EqualFold(strings.TrimSpace(raw[2:len(raw)-1]), "style") {
				open.styleEnd = off
				styles = append(styles, open)
				open = nil
			}
		}
		marked.WriteString(raw)
	}
	if off != len(skel) {
		return fmt.Errorf("internal error: tokenized %d of %d bytes of the skeleton", off, len(skel))
	}
	if open != nil { // unterminated <style>: it runs to the end
		open.styleEnd = off
		styles = append(styles, open)
	}

	edits := map[*parse.TextNode][]edit{}
	addEdit := func(at int, del int, ins string) bool {
		seg, local, ok := k.locate(at)
		if !ok || local+del > len(seg.text.Text) {
			return false
		}
		edits[seg.text] = append(edits[seg.text], edit{at: local, del: del, ins: ins})
		return true
	}
	where := func(off int) string {
		seg, local, ok := k.locate(off)
		if !ok {
			return "?"
		}
		// ErrorContext gives "file:line:col" of the TextNode; add the lines before off.
		loc, _ := seg.tree.ErrorContext(seg.text)
		parts := strings.Split(loc, ":")
		if len(parts) >= 3 {
			if line, err := strconv.Atoi(parts[len(parts)-2]); err == nil {
				line += strings.Count(string(seg.text.Text[:local]), "\n")
				return strings.Join(parts[:len(parts)-2], ":") + ":" + strconv.Itoa(line)
			}
		}
		return loc
	}

	// Asset references become cid: URLs.
	for _, t := range tags {
		for _, name := range []string{"src", "background"} {
			a := t.attr(name)
			if a == nil || a.valStart < 0 || a.dynamic {
				continue
			}
			cid, ok := s.assetRef(a.value)
			if !ok {
				continue
			}
			v := "cid:" + cid
			if a.quote == 0 {
				v = `"` + v + `"`
			}
			if !addEdit(a.valStart, a.valEnd-a.valStart, v) {
				return fmt.Errorf("%s: cannot rewrite %s=%q", where(a.start), name, a.value)
			}
		}
	}

	// CSS inlining, when there is CSS to inline.
	hasCSS := false
	for _, st := range styles {
		if st.styleStatic && inlinable(st) {
			hasCSS = true
		}
	}
	if hasCSS {
		if err := s.inlineCSS(marked.String(), tags, styles, addEdit, where); err != nil {
			return err
		}
	}

	for n, es := range edits {
		n.Text = applyEdits(n.Text, es)
	}
	// Fold specialized copies into an identical variant (the original or an earlier
	// copy), innermost first, so only copies that really differ remain.
	for i := len(k.specs) - 1; i >= 0; i-- {
		sp := k.specs[i]
		mine := trees[sp.call.Name].Root.String()
		into := ""
		if trees[sp.original].Root.String() == mine {
			into = sp.original
		} else {
			for _, other := range k.specs[:i] {
				if other.original == sp.original && trees[other.call.Name] != nil && trees[other.call.Name].Root.String() == mine {
					into = other.call.Name
					break
				}
			}
		}
		if into != "" {
			delete(trees, sp.call.Name)
			sp.call.Name = into
		}
	}
	return nil
}

// styleHasPlaceholder reports whether the raw text up to the next "</style" has a placeholder.
func styleHasPlaceholder(rest string) bool {
	end := strings.Index(strings.ToLower(rest), "</style")
	if end < 0 {
		end = len(rest)
	}
	return strings.Contains(rest[:end], phPrefix)
}

// inlinable mirrors premailer's choice of the <style> elements it consumes.
func inlinable(st *tag) bool {
	if a := st.attr("data-premailer"); a != nil && a.value == "ignore" {
		return false
	}
	if a := st.attr("media"); a != nil && a.value != "all" {
		return false
	}
	return true
}

func (s *Set) inlineCSS(marked string, tags, styles []*tag, addEdit func(int, int, string) bool, where func(int) string) error {
	s.cssRuns.Add(1)
	root, err := html.Parse(strings.NewReader(marked))
	if err != nil {
		return fmt.Errorf("parsing the HTML for CSS inlining: %w", err)
	}
	p := premailer.NewPremailer(goquery.NewDocumentFromNode(root), premailer.NewOptions())
	if _, err := p.Transform(); err != nil {
		return fmt.Errorf("inlining CSS: %w", err)
	}
	out := map[int]*html.Node{}
	var leftover strings.Builder
	var visit func(*html.Node)
	visit = func(n *html.Node) {
		if n.Type == html.ElementNode {
			id := -1
			for _, a := range n.Attr {
				if a.Key == markAttr {
					id, _ = strconv.Atoi(a.Val)
				}
			}
			if id >= 0 && id < len(tags) {
				out[id] = n
			} else if n.Data == "style" && n.FirstChild != nil {
				leftover.WriteString(n.FirstChild.Data) // premailer's rules it could not inline
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			visit(c)
		}
	}
	visit(root)

	for id, t := range tags {
		n := out[id]
		if n == nil || t.name == "style" {
			continue
		}
		for _, a := range n.Attr {
			if a.Key != "style" && a.Key != "width" && a.Key != "height" {
				continue // the only attributes premailer writes
			}
			src := t.attr(a.Key)
			if a.Key == "style" {
				if err := styleEdit(t, src, a.Val, addEdit); err != nil {
					return fmt.Errorf("%s: %w", where(t.start), err)
				}
				continue
			}
			switch {
			case src == nil:
				if !addEdit(t.close, 0, " "+a.Key+`="`+html.EscapeString(a.Val)+`"`) {
					return fmt.Errorf("%s: cannot add %s to <%s>", where(t.start), a.Key, t.name)
				}
			case src.dynamic || src.value == a.Val:
			case src.valStart < 0:
				addEdit(src.nameEnd, 0, `="`+html.EscapeString(a.Val)+`"`)
			default:
				v := html.EscapeString(a.Val)
				if src.quote == 0 {
					v = `"` + v + `"`
				}
				addEdit(src.valStart, src.valEnd-src.valStart, v)
			}
		}
	}

	// The <style> elements premailer consumed go; what it could not inline takes the
	// place of the first of them.
	first := true
	for _, st := range styles {
		id := slices.Index(tags, st)
		if out[id] != nil || !st.styleStatic {
			continue // premailer kept it
		}
		ins := ""
		if first && strings.TrimSpace(leftover.String()) != "" {
			ins = `<style type="text/css">` + leftover.String() + `</style>`
		}
		first = false
		if !addEdit(st.start, st.styleEnd-st.start, ins) {
			return fmt.Errorf("%s: cannot remove the inlined <style> element", where(st.start))
		}
	}
	return nil
}

// styleEdit merges the rules premailer computed into the tag's style attribute. The
// template's own declarations come last, so they keep precedence, as in the cascade.
func styleEdit(t *tag, src *rawAttr, rules string, addEdit func(int, int, string) bool) error {
	if rules == "" {
		return nil
	}
	esc := html.EscapeString(rules)
	switch {
	case src == nil:
		if !addEdit(t.close, 0, ` style="`+esc+`"`) {
			return fmt.Errorf("cannot add a style attribute to <%s>", t.name)
		}
	case src.valStart < 0 || strings.TrimSpace(src.value) == "":
		if src.valStart < 0 {
			addEdit(src.nameEnd, 0, `="`+esc+`"`)
		} else {
			v := esc
			if src.quote == 0 {
				v = `"` + v + `"`
			}
			addEdit(src.valStart, src.valEnd-src.valStart, v)
		}
	case src.quote != 0:
		if !addEdit(src.valStart, 0, esc+";") {
			return fmt.Errorf("cannot merge CSS into the style attribute of <%s>", t.name)
		}
	case src.dynamic:
		return fmt.Errorf(`<%s> has an unquoted style attribute holding a template action: quote it (style="...") so CSS can be inlined`, t.name)
	default:
		addEdit(src.valStart, src.valEnd-src.valStart, `"`+esc+";"+html.EscapeString(src.value)+`"`)
	}
	return nil
}

// assetRef resolves a static src value to an asset's Content-ID.
func (s *Set) assetRef(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "" || strings.Contains(v, ":") || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "?#") {
		return "", false
	}
	return s.assetCID(strings.TrimPrefix(v, "./"))
}

func applyEdits(text []byte, es []edit) []byte {
	slices.SortStableFunc(es, func(a, b edit) int { return a.at - b.at })
	var b []byte
	cur := 0
	for _, e := range es {
		if e.at < cur {
			continue // overlapping edits cannot happen; never corrupt the text if they do
		}
		b = append(b, text[cur:e.at]...)
		b = append(b, e.ins...)
		cur = e.at + e.del
	}
	return append(b, text[cur:]...)
}
