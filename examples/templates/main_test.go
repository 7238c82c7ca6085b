package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTemplates runs the program: three notifications rendered from the embedded set go
// through the default stack to the in-process SMTP server, each as text plus HTML with the
// logo as a related inline part.
func TestTemplates(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		`hello@shop.example -> zoe@example.com: "Bienvenue chez Acme Shop, Zoé"`,
		`hello@shop.example -> ada@example.com: "Reset your Acme Shop password"`,
		`hello@shop.example -> ada@example.com: "Your Acme Shop receipt R-1042"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %s:\n%s", want, s)
		}
	}
	msgs := strings.Split(strings.TrimSpace(s), "\n\n")
	if len(msgs) != 3 {
		t.Fatalf("want 3 messages, got %d:\n%s", len(msgs), s)
	}
	for _, m := range msgs {
		lines := strings.Split(m, "\n")
		shape := []string{"  multipart/alternative", "    text/plain", "    multipart/related", "      text/html", "      image/png"}
		if len(lines) != 1+len(shape) {
			t.Errorf("unexpected MIME tree:\n%s", m)
			continue
		}
		for i, p := range shape {
			if !strings.HasPrefix(lines[i+1], p) {
				t.Errorf("line %d = %q, want prefix %q", i+1, lines[i+1], p)
			}
		}
		if !strings.Contains(lines[5], "Content-ID: <logo.png.") {
			t.Errorf("the logo has no Content-ID: %q", lines[5])
		}
	}
}

// TestSamplesRender checks the sample data used by -preview against every locale.
func TestSamplesRender(t *testing.T) {
	n, err := load()
	if err != nil {
		t.Fatal(err)
	}
	for _, loc := range n.set.Locales() {
		w, err := n.welcome.Render(loc, sampleWelcome)
		if err != nil {
			t.Fatal(err)
		}
		r, err := n.receipt.Render(loc, sampleReceipt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.reset.Render(loc, sampleReset); err != nil {
			t.Fatal(err)
		}
		// The receipt has no text template: its text comes from the HTML, preheader dropped.
		if !strings.HasPrefix(r.Text, "Thanks for your order, Ada\n") || !strings.Contains(r.Text, "2 × Earl Grey tea  €12.00\n") {
			t.Errorf("receipt text:\n%s", r.Text)
		}
		if strings.Contains(w.HTML, ".btn {") || !strings.Contains(w.HTML, `class="btn" href="https://shop.example/start" style="display:inline-block;`) {
			t.Errorf("welcome (%q) kept the inlined CSS rules:\n%s", loc, w.HTML)
		}
	}
}
