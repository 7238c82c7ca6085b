package templates

import (
	"strings"
	"testing"
	"testing/fstest"
	texttemplate "text/template"
	"text/template/parse"
)

// actions lists every non-text node of the trees, in order: what CSS inlining and image
// rewriting must never change.
func actions(trees map[string]*parse.Tree, names []string) string {
	var b strings.Builder
	for _, n := range names {
		t := trees[n]
		if t == nil {
			continue
		}
		b.WriteString("[" + n + "]")
		walkNodes(t.Root, func(nd parse.Node) {
			switch nd := nd.(type) {
			case *parse.TextNode, *parse.ListNode:
			case *parse.TemplateNode:
				b.WriteString("{{template}}") // its name may point at a specialized copy
			case *parse.IfNode:
				b.WriteString("{{if " + nd.Pipe.String() + "}}")
			case *parse.RangeNode:
				b.WriteString("{{range " + nd.Pipe.String() + "}}")
			case *parse.WithNode:
				b.WriteString("{{with " + nd.Pipe.String() + "}}")
			default:
				b.WriteString(nd.String())
			}
		})
	}
	return b.String()
}

// FuzzPrepareHTML feeds arbitrary template bodies, with CSS, through the HTML preparation
// and checks that it never panics and never changes a template action.
func FuzzPrepareHTML(f *testing.F) {
	f.Add(`<table>{{range .Items}}<tr><td class="a">{{.}}</td></tr>{{end}}</table>`)
	f.Add(`<p class="a {{.C}}" style="{{.S}}">{{if .X}}<b class=a>x</b>{{else}}<i>y</i>{{end}}</p><img src="images/logo.png">`)
	f.Add(`<style>.a{color:{{.C}}}</style><a class=a href='{{.U}}' style=color:blue>{{template "p" .}}</a>`)
	f.Add(`<div class="a"<p>{{.X}}</div></style><style media=all>.b{x:y}</style><br/><svg><rect class=a /></svg>`)
	f.Fuzz(func(t *testing.T, body string) {
		src := `<html><head><style>.a{color:red;width:10px} p{margin:0} @media(max-width:1px){.a{color:blue}}</style></head><body>` + body + `</body></html>`
		tt, err := texttemplate.New("n.html.tmpl").Funcs(texttemplate.FuncMap{"embed": func(string) string { return "" }}).Parse(src)
		if err != nil {
			return
		}
		if _, err := tt.New("p").Parse(`<span class="a">{{.}}</span>`); err != nil {
			t.Fatal(err)
		}
		trees := map[string]*parse.Tree{}
		var names []string
		for _, x := range tt.Templates() {
			trees[x.Name()] = x.Tree.Copy()
			names = append(names, x.Name())
		}
		before := actions(trees, names)
		s := &Set{cidOf: map[string]string{"images/logo.png": "logo@postie"}}
		if err := s.prepareHTML("n.html.tmpl", trees); err != nil {
			return // a clear error is fine; a panic or a changed action is not
		}
		if after := actions(trees, names); after != before {
			t.Fatalf("preparation changed the actions\nbefore %s\nafter  %s", before, after)
		}
		for n, tr := range trees {
			if _, err := texttemplate.New(n).Funcs(texttemplate.FuncMap{"embed": func(string) string { return "" }}).AddParseTree(n, tr); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestPrepareLeavesSetWithoutCSSAlone(t *testing.T) {
	src := `<p class="a">{{.X}}</p>`
	s, err := New(fstest.MapFS{"n.subject.tmpl": mf("s"), "n.html.tmpl": mf(src)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.cssRuns.Load() != 0 {
		t.Error("premailer ran although there is no <style>")
	}
	r, err := s.Render("n", "", map[string]string{"X": "<x>"})
	if err != nil || r.HTML != `<p class="a">&lt;x&gt;</p>` {
		t.Errorf("%v %q", err, r.HTML)
	}
}
