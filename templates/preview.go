package templates

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/postiemail/postie/mailer"
	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

// Fixture is one set of sample data a notification is previewed with, like a method of a
// Rails mailer preview.
type Fixture struct {
	Name string // shown in the list, e.g. "new customer"
	Data any    // passed to Render; a func() any is called on every preview for fresh data
}

// PreviewOptions configures PreviewHandler. A nil *PreviewOptions means defaults.
type PreviewOptions struct {
	// From and To address the previewed message; defaults preview@example.com and
	// recipient@example.com.
	From, To mail.Address
	// Now stamps the Date header; default time.Now.
	Now func() time.Time
}

// PreviewHandler returns an http.Handler that shows every notification of set, like Rails'
// mailer previews: the index lists each notification with each fixture and locale, and a
// preview page shows the HTML (in a sandboxed iframe served with a restrictive
// Content-Security-Policy, inline images as data: URLs), the text, the headers and the
// raw MIME message exactly as the SMTP engine would send it. fixtures maps a notification
// name to its sample data; a notification without fixtures is previewed with nil data.
//
// Mount it on a development server only: it renders whatever the fixtures hold. It works
// under any prefix, e.g. mux.Handle("/previews/", http.StripPrefix("/previews", h)).
func PreviewHandler(set *Set, fixtures map[string][]Fixture, opts *PreviewOptions) http.Handler {
	p := &preview{set: set, fixtures: fixtures, from: mail.Address{Name: "Preview", Address: "preview@example.com"}, to: mail.Address{Address: "recipient@example.com"}}
	now := time.Now
	if opts != nil {
		if opts.From.Address != "" {
			p.from = opts.From
		}
		if opts.To.Address != "" {
			p.to = opts.To
		}
		if opts.Now != nil {
			now = opts.Now
		}
	}
	refuse := transport.SendFunc(func(context.Context, *transport.Message) (*transport.Receipt, error) {
		return nil, errors.New("templates: the preview does not send")
	})
	p.client = mailer.New(refuse, &mailer.Options{Now: now, NewMessageID: func(domain string) string { return "preview@" + domain }})
	return p
}

type preview struct {
	set      *Set
	fixtures map[string][]Fixture
	from, to mail.Address
	client   *mailer.Client
}

// Content-Security-Policy of the preview pages: no script anywhere, and the email's HTML
// in an opaque-origin sandbox that can load nothing but inline styles and data: images.
const (
	pageCSP  = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
	emailCSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)

func (p *preview) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	switch last := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]; last {
	case "":
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && !strings.HasSuffix(u.Path, "/") {
			// Relative links need the index at a path ending in "/".
			http.Redirect(w, r, u.Path+"/", http.StatusMovedPermanently)
			return
		}
		p.index(w)
	case "view", "html", "text", "raw":
		p.item(w, r, last)
	default:
		http.NotFound(w, r)
	}
}

type previewLink struct {
	Fixture, Locale string
	URL             string
}

type previewEntry struct {
	Name  string
	Links []previewLink
	Note  string
}

func localeLabel(l string) string {
	if l == "" {
		return "base"
	}
	return l
}

func itemQuery(name string, fixture int, locale string) string {
	v := url.Values{"n": {name}, "f": {strconv.Itoa(fixture)}, "l": {locale}}
	return v.Encode()
}

func (p *preview) fixturesOf(name string) []Fixture {
	if fs := p.fixtures[name]; len(fs) > 0 {
		return fs
	}
	return []Fixture{{Name: "no data"}}
}

func (p *preview) index(w http.ResponseWriter) {
	var entries []previewEntry
	for _, name := range p.set.Names() {
		e := previewEntry{Name: name}
		if len(p.fixtures[name]) == 0 {
			e.Note = "no fixtures: add some to PreviewHandler's fixtures map"
		}
		for i, f := range p.fixturesOf(name) {
			for _, l := range p.set.Locales() {
				e.Links = append(e.Links, previewLink{Fixture: f.Name, Locale: localeLabel(l), URL: "view?" + itemQuery(name, i, l)})
			}
		}
		entries = append(entries, e)
	}
	var unknown []string
	for name := range p.fixtures {
		if !p.set.Has(name) {
			unknown = append(unknown, name)
		}
	}
	p.page(w, http.StatusOK, indexTmpl, map[string]any{"Entries": entries, "Unknown": unknown})
}

// render renders the requested item and prepares the message.
func (p *preview) render(r *http.Request) (name string, fixture Fixture, fi int, locale string, rd *Rendered, tm *transport.Message, status int, err error) {
	q := r.URL.Query()
	name, locale = q.Get("n"), q.Get("l")
	if !p.set.Has(name) {
		return name, fixture, 0, locale, nil, nil, http.StatusNotFound, fmt.Errorf("no notification %q", name)
	}
	fs := p.fixturesOf(name)
	fi, err = strconv.Atoi(q.Get("f"))
	if err != nil || fi < 0 || fi >= len(fs) {
		return name, fixture, 0, locale, nil, nil, http.StatusNotFound, fmt.Errorf("no fixture %q for %s", q.Get("f"), name)
	}
	fixture = fs[fi]
	data := fixture.Data
	if f, ok := data.(func() any); ok {
		data = f()
	}
	rd, err = p.set.Render(name, locale, data)
	if err != nil {
		return name, fixture, fi, locale, nil, nil, http.StatusInternalServerError, err
	}
	m := &mailer.Message{From: p.from, To: []mail.Address{p.to}}
	rd.ApplyTo(m)
	tm, err = p.client.Prepare(m)
	if err != nil {
		return name, fixture, fi, locale, rd, nil, http.StatusInternalServerError, err
	}
	return name, fixture, fi, locale, rd, tm, http.StatusOK, nil
}

func (p *preview) item(w http.ResponseWriter, r *http.Request, what string) {
	name, fixture, fi, locale, rd, tm, status, err := p.render(r)
	if err != nil {
		if what == "view" {
			p.page(w, status, errorTmpl, map[string]any{"Name": name, "Fixture": fixture.Name, "Locale": localeLabel(locale), "Error": err.Error()})
			return
		}
		http.Error(w, err.Error(), status)
		return
	}
	var raw bytes.Buffer
	rawErr := mime.Write(&raw, tm, nil)
	switch what {
	case "html":
		w.Header().Set("Content-Security-Policy", emailCSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, withDataURLs(rd))
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, rd.Text)
	case "raw":
		if rawErr != nil {
			http.Error(w, rawErr.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(raw.Bytes())
	default:
		var others []previewLink
		for i, f := range p.fixturesOf(name) {
			for _, l := range p.set.Locales() {
				others = append(others, previewLink{Fixture: f.Name, Locale: localeLabel(l), URL: "view?" + itemQuery(name, i, l)})
			}
		}
		headers, _, _ := strings.Cut(raw.String(), "\r\n\r\n")
		q := itemQuery(name, fi, locale)
		data := map[string]any{
			"Name": name, "Fixture": fixture.Name, "Locale": localeLabel(locale), "Used": localeLabel(rd.Locale),
			"HTMLURL": "html?" + q, "TextURL": "text?" + q, "RawURL": "raw?" + q, "HasHTML": rd.HTML != "", "Text": rd.Text,
			"Headers": unfold(headers), "Raw": raw.String(), "Others": others, "Inline": rd.Inline,
		}
		if rawErr != nil {
			data["Raw"] = "cannot render the MIME message: " + rawErr.Error()
			data["Headers"] = [][2]string{{"Subject", tm.Subject}, {"From", tm.From.String()}, {"To", p.to.String()}}
		}
		p.page(w, http.StatusOK, viewTmpl, data)
	}
}

// unfold splits a header block into fields, undoing folding.
func unfold(block string) [][2]string {
	var out [][2]string
	for _, line := range strings.Split(block, "\r\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1][1] += " " + strings.TrimLeft(line, " \t")
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		out = append(out, [2]string{k, strings.TrimSpace(v)})
	}
	return out
}

// withDataURLs replaces the cid: references of inline images by data: URLs, so the
// sandboxed iframe can show them without fetching anything.
func withDataURLs(rd *Rendered) string {
	h := rd.HTML
	for _, a := range rd.Inline {
		rc, err := a.Reader()
		if err != nil {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(rc, 10<<20))
		rc.Close()
		if err != nil {
			continue
		}
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h = strings.ReplaceAll(h, "cid:"+a.ContentID, "data:"+ct+";base64,"+base64.StdEncoding.EncodeToString(b))
	}
	return h
}

func (p *preview) page(w http.ResponseWriter, status int, t *htmltemplate.Template, data any) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		http.Error(w, "preview page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

const pageStyle = `<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#f5f5f7}
header{background:#1d1d1f;color:#fff;padding:10px 20px}header a{color:#fff}
main{padding:16px 20px;max-width:1100px}h1{font-size:20px;margin:8px 0 12px}h2{font-size:16px;margin:20px 0 6px}
ul{padding-left:18px}li{margin:2px 0}a{color:#0a58ca}
.note{color:#8a5300}.err{background:#fde8e8;border:1px solid #e0a0a0;padding:10px;white-space:pre-wrap}
nav a{margin-right:14px}iframe{width:100%;height:640px;border:1px solid #ccc;background:#fff}
pre{background:#fff;border:1px solid #ccc;padding:10px;overflow:auto;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top;font-size:13px}
</style>`

var (
	indexTmpl = htmltemplate.Must(htmltemplate.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Email previews</title>` + pageStyle + `</head>
<body><header>Email previews</header><main>
<h1>Notifications</h1>
{{range .Entries}}<section class="notification">
<h2 id="n-{{.Name}}">{{.Name}}</h2>
{{with .Note}}<p class="note">{{.}}</p>{{end}}
<ul>{{range .Links}}<li><a href="{{.URL}}">{{.Fixture}} · {{.Locale}}</a></li>{{end}}</ul>
</section>{{end}}
{{with .Unknown}}<p class="note">Fixtures for unknown notifications: {{range $i, $n := .}}{{if $i}}, {{end}}{{$n}}{{end}}</p>{{end}}
</main></body></html>`))

	viewTmpl = htmltemplate.Must(htmltemplate.New("view").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Name}} · {{.Fixture}} · {{.Locale}}</title>` + pageStyle + `</head>
<body><header><a href="./">Email previews</a> / {{.Name}}</header><main>
<h1>{{.Name}} <small>· {{.Fixture}} · {{.Locale}}{{if ne .Locale .Used}} (templates: {{.Used}}){{end}}</small></h1>
<nav><a href="#html">HTML</a><a href="#text">Text</a><a href="#headers">Headers</a><a href="#raw">Raw MIME</a>
<a href="{{.TextURL}}">text only</a><a href="{{.RawURL}}">raw only</a></nav>
<p>{{range .Others}}<a class="variant" href="{{.URL}}">{{.Fixture}} · {{.Locale}}</a> {{end}}</p>
<h2 id="html">HTML</h2>
{{if .HasHTML}}<iframe id="email" title="HTML body" sandbox="" referrerpolicy="no-referrer" src="{{.HTMLURL}}"></iframe>
{{with .Inline}}<p>Inline parts: {{range .}}<code>{{.Filename}}</code> (cid:{{.ContentID}}) {{end}}</p>{{end}}
{{else}}<p class="note">This notification has no HTML body.</p>{{end}}
<h2 id="text">Text</h2>
<pre id="text-body">{{.Text}}</pre>
<h2 id="headers">Headers</h2>
<table id="header-table">{{range .Headers}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
<h2 id="raw">Raw MIME</h2>
<pre id="raw-body">{{.Raw}}</pre>
</main></body></html>`))

	errorTmpl = htmltemplate.Must(htmltemplate.New("error").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Preview error</title>` + pageStyle + `</head>
<body><header><a href="./">Email previews</a> / {{.Name}}</header><main>
<h1>{{.Name}} <small>· {{.Fixture}} · {{.Locale}}</small></h1>
<p class="err" id="error">{{.Error}}</p>
</main></body></html>`))
)
