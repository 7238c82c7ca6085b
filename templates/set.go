package templates

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	texttemplate "text/template"
	"text/template/parse"

	"github.com/postiemail/postie/mailer"
)

// Options configures New. A nil *Options means defaults.
type Options struct {
	// Funcs are extra template functions for every template. They must not do I/O:
	// rendering is expected to be fast and repeatable. "embed" is reserved.
	Funcs map[string]any
	// Layout is the layout bodies use unless they name another; default "default".
	// When it is left empty and layouts/default.*.tmpl does not exist, bodies have no layout.
	Layout string
}

// ErrNotFound is returned (wrapped) by Render for a notification the Set does not have.
var ErrNotFound = errors.New("templates: no such notification")

// Set holds every notification of a template file system, parsed and prepared. It is
// safe for concurrent use.
type Set struct {
	fsys    fs.FS
	names   []string
	locales []string
	units   map[string]map[string]*unit // notification → locale key → unit
	assets  map[string]mailer.Attachment
	cidOf   map[string]string // asset path → Content-ID

	htmlFuncs htmltemplate.FuncMap
	textFuncs texttemplate.FuncMap

	// cssRuns counts CSS inlining passes; they happen only in New (tests check it).
	cssRuns atomic.Int64
}

type kind int

const (
	kindSubject kind = iota
	kindText
	kindHTML
)

var kindSuffix = map[string]kind{"subject": kindSubject, "txt": kindText, "html": kindHTML}

func (k kind) String() string { return [...]string{"subject", "txt", "html"}[k] }

// file is one parsed template file.
type file struct {
	path   string
	name   string // notification, layout or partial name
	locale string // canonical locale key; "" is the base
	kind   kind
	trees  map[string]*parse.Tree
	layout string // from a "layout:" directive; "" means none given
}

// unit is one notification in one locale, ready to execute.
type unit struct {
	name, locale string
	subject      *texttemplate.Template
	text         *texttemplate.Template // nil: derive the text from the HTML
	html         *htmltemplate.Template // nil: no HTML body
	htmlHint     atomic.Int64           // size of the last rendering, to size buffers
	textHint     atomic.Int64
}

var (
	localeRE    = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)
	directiveRE = regexp.MustCompile(`^\s*\{\{-?\s*/\*\s*layout:\s*([^\s*]+)\s*\*/\s*-?\}\}`)
)

// New reads and parses every template in fsys, inlines CSS and resolves images, and
// returns the Set. Any problem (a syntax error, a missing layout, an unknown function, an
// HTML context error) is reported here, naming the file and line, not at render time.
func New(fsys fs.FS, opts *Options) (*Set, error) {
	if fsys == nil {
		return nil, errors.New("templates: nil fs.FS: pass the file system holding the templates (an embed.FS, os.DirFS(dir), ...)")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if _, ok := o.Funcs["embed"]; ok {
		return nil, errors.New(`templates: Options.Funcs may not define "embed": the Set provides it`)
	}
	s := &Set{fsys: fsys, units: map[string]map[string]*unit{}, assets: map[string]mailer.Attachment{}, cidOf: map[string]string{}}

	var paths []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if strings.HasSuffix(p, ".tmpl") {
			paths = append(paths, p)
			return nil
		}
		return s.addAsset(p)
	})
	if err != nil {
		return nil, fmt.Errorf("templates: reading the file system: %w", err)
	}
	htmlFuncs := htmltemplate.FuncMap{"embed": s.embed}
	textFuncs := texttemplate.FuncMap{}
	for k, v := range o.Funcs {
		htmlFuncs[k] = v
		textFuncs[k] = v
	}
	s.htmlFuncs, s.textFuncs = htmlFuncs, textFuncs

	var l library
	l.byKey = map[string]*file{}
	locales := map[string]bool{"": true}
	for _, p := range paths {
		f, err := s.parseFile(p)
		if err != nil {
			return nil, err
		}
		if err := l.add(f); err != nil {
			return nil, err
		}
		locales[f.locale] = true
	}
	for loc := range locales {
		s.locales = append(s.locales, loc)
	}
	sort.Strings(s.locales)

	layout := o.Layout
	if layout == "" {
		layout = "default"
	} else if !l.hasLayout(layout) {
		return nil, fmt.Errorf("templates: Options.Layout is %q but there is no layouts/%s.html.tmpl or layouts/%s.txt.tmpl", layout, layout, layout)
	}
	if len(l.notifications) == 0 {
		return nil, errors.New("templates: no notification templates found: add files such as welcome.subject.tmpl and welcome.html.tmpl at the root of the file system")
	}
	cache := map[string]*unit{}
	for _, name := range slices.Sorted(maps.Keys(l.notifications)) {
		s.names = append(s.names, name)
		if err := l.checkBase(name); err != nil {
			return nil, err
		}
		s.units[name] = map[string]*unit{}
		for _, loc := range s.locales {
			u, err := s.buildUnit(&l, name, loc, layout, cache)
			if err != nil {
				return nil, err
			}
			s.units[name][loc] = u
		}
	}
	return s, nil
}

// Names returns the notification names, sorted.
func (s *Set) Names() []string { return slices.Clone(s.names) }

// Locales returns the locales that have at least one template, sorted; "" is the base.
func (s *Set) Locales() []string { return slices.Clone(s.locales) }

// Has reports whether the Set has the notification name.
func (s *Set) Has(name string) bool { _, ok := s.units[name]; return ok }

func (s *Set) addAsset(p string) error {
	a, err := mailer.AttachmentFromFS(s.fsys, p)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(p))
	base := strings.Map(func(r rune) rune {
		if r < 128 && (r == '.' || r == '-' || r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, path.Base(p))
	cid := base + "." + hex.EncodeToString(sum[:4]) + "@postie"
	s.cidOf[p] = cid
	s.assets[cid] = mailer.Inline(a, cid)
	return nil
}

// embed is the template func {{embed "images/logo.png"}}: the cid: URL of an asset.
func (s *Set) embed(p string) (htmltemplate.URL, error) {
	cid, ok := s.assetCID(p)
	if !ok {
		return "", fmt.Errorf("embed: %q is not an asset of the template set (paths are relative to its root)", p)
	}
	return htmltemplate.URL("cid:" + cid), nil
}

func (s *Set) assetCID(p string) (string, bool) {
	p = path.Clean(strings.TrimPrefix(p, "/"))
	cid, ok := s.cidOf[p]
	return cid, ok
}

// parseFile classifies and parses one template file.
func (s *Set) parseFile(p string) (*file, error) {
	dir, base := path.Split(p)
	parts := strings.Split(strings.TrimSuffix(base, ".tmpl"), ".")
	f := &file{path: p}
	var k string
	switch len(parts) {
	case 2:
		f.name, k = parts[0], parts[1]
	case 3:
		f.name, k = parts[0], parts[2]
		if !localeRE.MatchString(parts[1]) {
			return nil, fmt.Errorf("templates: %s: %q is not a locale: name locale variants NAME.LOCALE.KIND.tmpl, e.g. welcome.fr-CA.html.tmpl", p, parts[1])
		}
		f.locale = canonLocale(parts[1])
	}
	kd, ok := kindSuffix[k]
	if f.name == "" || !ok {
		return nil, fmt.Errorf("templates: %s: cannot tell what this template is: name it NAME[.LOCALE].KIND.tmpl with KIND one of subject, txt, html (e.g. welcome.html.tmpl)", p)
	}
	f.kind = kd
	switch {
	case strings.HasPrefix(dir, "layouts/"):
		f.name = "layouts/" + strings.TrimPrefix(dir, "layouts/") + f.name
	case strings.HasPrefix(dir, "partials/"):
		f.name = strings.TrimPrefix(dir, "partials/") + f.name
	default:
		f.name = dir + f.name
	}
	if (strings.HasPrefix(dir, "layouts/") || strings.HasPrefix(dir, "partials/")) && kd == kindSubject {
		return nil, fmt.Errorf("templates: %s: layouts and partials are txt or html templates, not subjects", p)
	}

	b, err := fs.ReadFile(s.fsys, p)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	src := string(b)
	if kd == kindSubject {
		// Editors end files with a newline; it is not part of the subject.
		src = strings.TrimRight(src, "\r\n")
	}
	if m := directiveRE.FindStringSubmatch(src); m != nil {
		f.layout = m[1]
	}
	var t *texttemplate.Template
	if kd == kindHTML {
		t = texttemplate.New(p).Funcs(texttemplate.FuncMap(s.htmlFuncs))
	} else {
		t = texttemplate.New(p).Funcs(s.textFuncs)
	}
	if _, err := t.Parse(src); err != nil {
		return nil, fmt.Errorf("templates: %w", err) // "template: welcome.html.tmpl:3: ..."
	}
	f.trees = map[string]*parse.Tree{}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			f.trees[tt.Name()] = tt.Tree
		}
	}
	return f, nil
}

// library indexes the parsed files.
type library struct {
	byKey         map[string]*file // "n|welcome|html|fr", "l|layouts/default|html|", "p|button|html|"
	notifications map[string]bool
	partials      map[kind][]string // partial names per kind
}

func fileKey(role byte, name string, k kind, locale string) string {
	return string(role) + "|" + name + "|" + k.String() + "|" + locale
}

func roleOf(f *file) byte {
	switch {
	case strings.HasPrefix(f.path, "layouts/"):
		return 'l'
	case strings.HasPrefix(f.path, "partials/"):
		return 'p'
	}
	return 'n'
}

func (l *library) add(f *file) error {
	role := roleOf(f)
	key := fileKey(role, f.name, f.kind, f.locale)
	if old, ok := l.byKey[key]; ok {
		return fmt.Errorf("templates: %s and %s are the same template (locale names compare case-insensitively)", old.path, f.path)
	}
	l.byKey[key] = f
	switch role {
	case 'n':
		if l.notifications == nil {
			l.notifications = map[string]bool{}
		}
		l.notifications[f.name] = true
		if _, ok := f.trees["content"]; ok {
			return fmt.Errorf(`templates: %s defines "content": a body's top-level text is its content; remove the {{define "content"}} wrapper`, f.path)
		}
	case 'p':
		if l.partials == nil {
			l.partials = map[kind][]string{}
		}
		if !slices.Contains(l.partials[f.kind], f.name) {
			l.partials[f.kind] = append(l.partials[f.kind], f.name)
			sort.Strings(l.partials[f.kind])
		}
	}
	return nil
}

func (l *library) hasLayout(name string) bool {
	for key := range l.byKey {
		if strings.HasPrefix(key, "l|layouts/"+name+"|") {
			return true
		}
	}
	return false
}

func (l *library) checkBase(name string) error {
	if l.byKey[fileKey('n', name, kindSubject, "")] == nil {
		return fmt.Errorf("templates: notification %q has no subject: add %s.subject.tmpl", name, name)
	}
	if l.byKey[fileKey('n', name, kindHTML, "")] == nil && l.byKey[fileKey('n', name, kindText, "")] == nil {
		return fmt.Errorf("templates: notification %q has no body: add %s.html.tmpl or %s.txt.tmpl", name, name, name)
	}
	return nil
}

// resolve returns the most specific file along the locale chain and its position in it.
func (l *library) resolve(role byte, name string, k kind, locale string) (*file, int) {
	for i, loc := range localeChain(locale) {
		if f := l.byKey[fileKey(role, name, k, loc)]; f != nil {
			return f, i
		}
	}
	return nil, -1
}

// buildUnit resolves the files of one notification in one locale and compiles them, reusing
// an identical unit of another locale.
func (s *Set) buildUnit(l *library, name, locale, defLayout string, cache map[string]*unit) (*unit, error) {
	subj, _ := l.resolve('n', name, kindSubject, locale)
	html, hi := l.resolve('n', name, kindHTML, locale)
	text, ti := l.resolve('n', name, kindText, locale)
	if text != nil && html != nil && ti > hi {
		text = nil // the HTML is more specific: derive the text from it
	}
	layoutFor := func(body *file) (*file, error) {
		if body == nil {
			return nil, nil
		}
		want := body.layout
		if want == "none" {
			return nil, nil
		}
		if want == "" {
			want = defLayout
		}
		f, _ := l.resolve('l', "layouts/"+want, body.kind, locale)
		if f == nil && body.layout != "" {
			return nil, fmt.Errorf("templates: %s asks for layout %q but there is no layouts/%s.%s.tmpl", body.path, want, want, body.kind)
		}
		return f, nil
	}
	htmlLayout, err := layoutFor(html)
	if err != nil {
		return nil, err
	}
	textLayout, err := layoutFor(text)
	if err != nil {
		return nil, err
	}
	partials := func(k kind) []*file {
		var out []*file
		for _, p := range l.partials[k] {
			if f, _ := l.resolve('p', p, k, locale); f != nil {
				out = append(out, f)
			}
		}
		return out
	}
	htmlPartials, textPartials := partials(kindHTML), partials(kindText)

	var sig strings.Builder
	for _, f := range append([]*file{subj, html, text, htmlLayout, textLayout}, append(htmlPartials, textPartials...)...) {
		if f != nil {
			sig.WriteString(f.path)
		}
		sig.WriteByte('|')
	}
	if u, ok := cache[name+"\x00"+sig.String()]; ok {
		return u, nil
	}
	// A unit's locale is the most specific locale any of its files has.
	u := &unit{name: name}
	for _, f := range append([]*file{subj, html, text, htmlLayout, textLayout}, append(htmlPartials, textPartials...)...) {
		if f != nil && len(f.locale) > len(u.locale) {
			u.locale = f.locale
		}
	}

	u.subject = texttemplate.New(subj.path).Funcs(s.textFuncs).Option("missingkey=error")
	for n, tr := range subj.trees {
		if _, err := u.subject.AddParseTree(n, tr); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", subj.path, err)
		}
	}
	if text != nil {
		entry, trees, err := s.namespace(text, textLayout, textPartials)
		if err != nil {
			return nil, err
		}
		t := texttemplate.New(entry).Funcs(s.textFuncs).Option("missingkey=error")
		for n, tr := range trees {
			if _, err := t.AddParseTree(n, tr); err != nil {
				return nil, fmt.Errorf("templates: %s: %w", text.path, err)
			}
		}
		u.text = t.Lookup(entry)
	}
	if html != nil {
		entry, trees, err := s.namespace(html, htmlLayout, htmlPartials)
		if err != nil {
			return nil, err
		}
		if err := s.prepareHTML(entry, trees); err != nil {
			return nil, fmt.Errorf("templates: %s: %w", html.path, err)
		}
		t := htmltemplate.New(entry).Funcs(s.htmlFuncs).Option("missingkey=error")
		for _, n := range slices.Sorted(maps.Keys(trees)) {
			if _, err := t.AddParseTree(n, trees[n]); err != nil {
				return nil, fmt.Errorf("templates: %s: %w", html.path, err)
			}
		}
		t = t.Lookup(entry)
		// Executing once makes html/template escape the whole tree now: context errors
		// (an action inside an unquoted attribute, a tag left open, ...) surface in New.
		var escErr *htmltemplate.Error
		if err := t.Execute(io.Discard, nil); errors.As(err, &escErr) {
			return nil, fmt.Errorf("templates: %w", err)
		}
		u.html = t
	}
	cache[name+"\x00"+sig.String()] = u
	return u, nil
}

// namespace gathers copies of the trees a body runs with: layout first, then partials, then
// the body, later ones overriding earlier ones. The body's top-level template becomes
// "content" when there is a layout. It returns the name of the template to execute.
func (s *Set) namespace(body, layout *file, partials []*file) (string, map[string]*parse.Tree, error) {
	trees := map[string]*parse.Tree{}
	owner := map[string]string{}
	put := func(f *file, n string, t *parse.Tree, overrideOK bool) error {
		if old, ok := trees[n]; ok {
			if parse.IsEmptyTree(t.Root) && !parse.IsEmptyTree(old.Root) {
				return nil
			}
			if !overrideOK && owner[n] != f.path {
				return fmt.Errorf("templates: template %q is defined in both %s and %s: rename one", n, owner[n], f.path)
			}
		}
		c := t.Copy()
		c.Name = n
		trees[n], owner[n] = c, f.path
		return nil
	}
	entry := body.path
	if layout != nil {
		entry = layout.path
		for n, t := range layout.trees {
			if err := put(layout, n, t, false); err != nil {
				return "", nil, err
			}
		}
	}
	for _, p := range partials {
		for n, t := range p.trees {
			if n == p.path {
				n = p.name // a partial's top-level template is named after the file
			}
			if err := put(p, n, t, owner[n] == "" || strings.HasPrefix(owner[n], "layouts/")); err != nil {
				return "", nil, err
			}
		}
	}
	for n, t := range body.trees {
		if n == body.path && layout != nil {
			n = "content"
		}
		if err := put(body, n, t, true); err != nil {
			return "", nil, err
		}
	}
	if layout != nil && !calls(trees, entry, "content", map[string]bool{}) {
		return "", nil, fmt.Errorf(`templates: layout %s never calls {{template "content" .}}, so %s would not be shown`, layout.path, body.path)
	}
	return entry, trees, nil
}

// calls reports whether template from (transitively) calls template target.
func calls(trees map[string]*parse.Tree, from, target string, seen map[string]bool) bool {
	if seen[from] || trees[from] == nil {
		return false
	}
	seen[from] = true
	found := false
	walkNodes(trees[from].Root, func(n parse.Node) {
		if t, ok := n.(*parse.TemplateNode); ok && !found {
			found = t.Name == target || calls(trees, t.Name, target, seen)
		}
	})
	return found
}

// walkNodes calls fn for every node under n, depth first.
func walkNodes(n parse.Node, fn func(parse.Node)) {
	if n == nil {
		return
	}
	fn(n)
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkNodes(c, fn)
		}
	case *parse.IfNode:
		walkNodes(n.List, fn)
		walkNodes(n.ElseList, fn)
	case *parse.RangeNode:
		walkNodes(n.List, fn)
		walkNodes(n.ElseList, fn)
	case *parse.WithNode:
		walkNodes(n.List, fn)
		walkNodes(n.ElseList, fn)
	}
}

// canonLocale writes a locale tag the way BCP 47 does: "fr", "fr-CA", "zh-Hant-TW".
func canonLocale(s string) string {
	if s == "" {
		return ""
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' })
	for i, p := range parts {
		switch {
		case i == 0:
			parts[i] = strings.ToLower(p)
		case len(p) == 2:
			parts[i] = strings.ToUpper(p)
		case len(p) == 4:
			parts[i] = strings.ToUpper(p[:1]) + strings.ToLower(p[1:])
		default:
			parts[i] = strings.ToLower(p)
		}
	}
	return strings.Join(parts, "-")
}

// localeChain returns the fallback chain of a canonical locale: fr-CA, fr, "".
func localeChain(loc string) []string {
	var out []string
	for loc != "" {
		out = append(out, loc)
		i := strings.LastIndexByte(loc, '-')
		if i < 0 {
			break
		}
		loc = loc[:i]
	}
	return append(out, "")
}
