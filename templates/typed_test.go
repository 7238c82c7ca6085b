package templates

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

type item struct {
	Name  string
	Price string
}

type receiptData struct {
	Number string
	Items  []item
}

type urlMethod struct{ Name string }

func (urlMethod) URL() string  { return "https://shop.example/m" }
func (*urlMethod) VIP() bool   { return true }
func (u urlMethod) Upper() any { return u.Name }

func TestTyped(t *testing.T) {
	s := newShop(t)
	welcome, err := NewTyped[welcomeData](s, "welcome")
	if err != nil {
		t.Fatal(err)
	}
	r, err := welcome.Render("fr", welcomeData{Name: "Zoé", URL: "https://shop.example/"})
	if err != nil || r.Subject != "Bienvenue, Zoé !" || welcome.Name() != "welcome" {
		t.Fatalf("%v %+v", err, r)
	}
	if _, err := NewTyped[receiptData](s, "receipt"); err != nil {
		t.Errorf("receipt: %v", err)
	}
	// Methods count as fields, on the value or the pointer; data behind an interface or
	// a map is not checked.
	if _, err := NewTyped[*urlMethod](s, "welcome"); err != nil {
		t.Errorf("methods: %v", err)
	}
	if _, err := NewTyped[map[string]any](s, "welcome"); err != nil {
		t.Errorf("map: %v", err)
	}
	if _, err := NewTyped[any](s, "welcome"); err != nil {
		t.Errorf("any: %v", err)
	}
}

func TestTypedRejectsMismatchedData(t *testing.T) {
	s := newShop(t)
	type noURL struct {
		Name string
		VIP  bool
	}
	type noPrice struct {
		Number string
		Items  []struct{ Name string }
	}
	type unexported struct {
		Name, URL string
		vip       bool
	}
	for _, tc := range []struct {
		name string
		new  func() error
		want string
	}{
		{"missing field", func() error { _, err := NewTyped[noURL](s, "welcome"); return err }, "has no field or method URL"},
		{"field inside range", func() error { _, err := NewTyped[noPrice](s, "receipt"); return err }, "receipt.html.tmpl:1:"},
		{"unexported field", func() error { _, err := NewTyped[unexported](s, "welcome"); return err }, "has no field or method VIP"},
		{"field of a string", func() error { _, err := NewTyped[string](s, "plain"); return err }, "string has no field or method Name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.new()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := NewTyped[welcomeData](s, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown notification: %v", err)
	}
}

func TestTypedFollowsWithTemplateAndVariables(t *testing.T) {
	type addr struct{ City string }
	type user struct {
		Name string
		Home *addr
	}
	type data struct {
		User  user
		Tags  map[string]string
		Count int
	}
	fsys := fstest.MapFS{
		"n.subject.tmpl":          mf(`{{.User.Name}}`),
		"partials/city.html.tmpl": mf(`{{.City}}`),
		"n.html.tmpl":             mf(`{{with .User.Home}}{{template "city" .}}{{end}}{{range $i := .Count}}{{$.User.Name}}{{end}}{{.Tags.anything}}{{printf "%d" .Count}}`),
	}
	s, err := New(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTyped[data](s, "n"); err != nil {
		t.Errorf("valid data rejected: %v", err)
	}
	type badCity struct {
		User struct {
			Name string
			Home *struct{ Town string }
		}
		Tags  map[string]string
		Count int
	}
	if _, err := NewTyped[badCity](s, "n"); err == nil || !strings.Contains(err.Error(), "partials/city.html.tmpl:1:") || !strings.Contains(err.Error(), "no field or method City") {
		t.Errorf("bad City through {{with}} and {{template}}: %v", err)
	}
}
