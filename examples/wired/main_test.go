package main

import (
	"context"
	"net/mail"
	"os"
	"strings"
	"testing"

	"github.com/postiemail/postie"
)

func TestInjectorWritesTheMessage(t *testing.T) {
	dir := t.TempDir()
	n, cleanup, err := initNotifier(context.Background(), postie.Config{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	r, err := n.Welcome(context.Background(), mail.Address{Name: "Ann", Address: "ann@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(r.ID) // filemail's receipt id is the file's path
	if err != nil {
		t.Fatalf("receipt id %q is not the written file: %v", r.ID, err)
	}
	if !strings.Contains(string(raw), "Subject: Welcome, Ann\r\n") {
		t.Errorf("written message lacks the subject:\n%s", raw)
	}
}
