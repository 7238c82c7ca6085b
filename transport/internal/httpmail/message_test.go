package httpmail

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/postiemail/postie/transport"
)

func TestReadAttachments(t *testing.T) {
	opens := 0
	m := &transport.Message{Attachments: []transport.Attachment{
		{Filename: "a.pdf", ContentType: "application/pdf", Data: []byte("%PDF")},
		{Inline: true, ContentID: "logo", Open: func() (io.ReadCloser, error) {
			opens++
			return io.NopCloser(strings.NewReader("png")), nil
		}},
	}}
	var checked []string
	parts, err := ReadAttachments("testmail", m, 100, func(i int, p *Part) error {
		checked = append(checked, p.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].Name != "a.pdf" || string(parts[0].Data) != "%PDF" || parts[0].ContentType != "application/pdf" ||
		parts[1].Name != "logo" || string(parts[1].Data) != "png" || parts[1].ContentType != "application/octet-stream" || !parts[1].Inline {
		t.Errorf("parts %+v", parts)
	}
	if strings.Join(checked, ",") != "a.pdf,logo" || opens != 1 {
		t.Errorf("checked %v, opened %d times", checked, opens)
	}
}

func TestReadAttachmentsRefuses(t *testing.T) {
	never := func() (io.ReadCloser, error) {
		t.Error("a refused attachment was opened")
		return nil, errors.New("unreachable")
	}
	endless := func() (io.ReadCloser, error) { return io.NopCloser(zeros{}), nil }
	for name, tc := range map[string]struct {
		atts  []transport.Attachment
		check func(int, *Part) error
		code  transport.Code
		says  string
	}{
		"no name":      {[]transport.Attachment{{Open: never}}, nil, transport.InvalidArgument, "attachment 0 without a file name"},
		"check first":  {[]transport.Attachment{{Filename: "x.exe", Open: never}}, func(int, *Part) error { return Unsupported("testmail", ".exe", "zip it") }, transport.InvalidArgument, ".exe"},
		"known size":   {[]transport.Attachment{{Filename: "big", Size: 101, Open: never}}, nil, transport.ResourceExhausted, "limit of 100"},
		"budget spent": {[]transport.Attachment{{Filename: "a", Data: make([]byte, 60)}, {Filename: "b", Data: make([]byte, 60)}}, nil, transport.ResourceExhausted, "limit of 40"},
		// An attachment of unknown length that never ends: reading stops past the budget.
		"endless": {[]transport.Attachment{{Filename: "endless", Open: endless}}, nil, transport.ResourceExhausted, "101 exceeds"},
	} {
		_, err := ReadAttachments("testmail", &transport.Message{Attachments: tc.atts}, 100, tc.check)
		if transport.CodeOf(err) != tc.code || err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: got %v (code %v), want %v containing %q", name, err, transport.CodeOf(err), tc.code, tc.says)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestTags(t *testing.T) {
	m := &transport.Message{Tags: []string{"orders", "eu"}, Metadata: map[string]string{"tier": "gold", "order_id": "42", "note": ""}}
	got, err := Tags("testmail", "Test tags", m, 10, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []Tag{{Name: "orders"}, {Name: "eu"}, {Name: "note", Meta: true}, {Name: "order_id", Value: "42", Meta: true}, {Name: "tier", Value: "gold", Meta: true}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for name, tc := range map[string]struct {
		m           transport.Message
		emptyValues bool
		says        string
	}{
		"empty value":   {transport.Message{Metadata: map[string]string{"k": ""}}, false, "value of metadata k"},
		"long tag":      {transport.Message{Tags: []string{"abcdefghijk"}}, true, "1 to 10 ASCII"},
		"space":         {transport.Message{Tags: []string{"a b"}}, true, `"a b"`},
		"non-ASCII key": {transport.Message{Metadata: map[string]string{"stadt": "Köln"}}, true, "Köln"},
		"twice":         {transport.Message{Tags: []string{"a", "a"}}, true, "given twice"},
		"tag is key":    {transport.Message{Tags: []string{"k"}, Metadata: map[string]string{"k": "v"}}, true, "also a tag"},
	} {
		if _, err := Tags("testmail", "Test tags", &tc.m, 10, tc.emptyValues); transport.CodeOf(err) != transport.InvalidArgument || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: got %v, want InvalidArgument containing %q", name, err, tc.says)
		}
	}
}
