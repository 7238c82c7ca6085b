package mime_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/postiemail/postie/smtp/mime"
	"github.com/postiemail/postie/transport"
)

// TestValidateAgreesWithWrite checks that Validate refuses exactly the messages Write
// refuses up front, with the same error, and never opens an attachment.
func TestValidateAgreesWithWrite(t *testing.T) {
	opened := 0
	good := func() *transport.Message {
		m := base()
		m.Text = "hi"
		m.Attachments = []transport.Attachment{{Filename: "a.bin", Open: func() (io.ReadCloser, error) {
			opened++
			return io.NopCloser(bytes.NewReader([]byte("data"))), nil
		}}}
		return m
	}
	edits := map[string]func(m *transport.Message){
		"good":              func(m *transport.Message) {},
		"CRLF in subject":   func(m *transport.Message) { m.Subject = "a\r\nb" },
		"bad header name":   func(m *transport.Message) { m.Headers = []transport.Field{{Name: "X Bad", Value: "v"}} },
		"no date":           func(m *transport.Message) { m.Date = m.Date.AddDate(-5000, 0, 0) },
		"no message id":     func(m *transport.Message) { m.MessageID = "" },
		"no from":           func(m *transport.Message) { m.From.Address = "" },
		"inline without id": func(m *transport.Message) { m.Attachments[0].Inline = true },
		"bad content type":  func(m *transport.Message) { m.Attachments[0].ContentType = "not a type" },
	}
	for name, edit := range edits {
		m := good()
		edit(m)
		opened = 0
		verr := mime.Validate(m, nil)
		if opened != 0 {
			t.Errorf("%s: Validate opened an attachment", name)
		}
		var b bytes.Buffer
		werr := mime.Write(&b, m, nil)
		switch {
		case name == "good" && (verr != nil || werr != nil):
			t.Errorf("good message: Validate %v, Write %v", verr, werr)
		case name != "good" && verr == nil:
			t.Errorf("%s: Validate accepted a message Write refuses (%v)", name, werr)
		case name != "good" && (werr == nil || verr.Error() != werr.Error()):
			t.Errorf("%s: Validate says %v, Write says %v", name, verr, werr)
		}
		var te *transport.Error
		if verr != nil && (!errors.As(verr, &te) || te.Code != transport.InvalidArgument) {
			t.Errorf("%s: %v is not an InvalidArgument *transport.Error", name, verr)
		}
	}
}
