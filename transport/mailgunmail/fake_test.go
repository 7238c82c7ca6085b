package mailgunmail

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"strconv"
	"strings"

	"github.com/postiemail/postie/transport/internal/fakeapi"
	"github.com/postiemail/postie/transport/transporttest"
)

const (
	testKey    = "key-mailgun-never-printed"
	testDomain = "mg.example.com"
)

// fakeMailgun checks requests the way POST /v3/{domain}/messages.mime does, from Mailgun's
// API reference, and answers as Mailgun does: 200 {"id":"<...>","message":"Queued. Thank
// you."}, {"message":"..."} for errors, a plain "Forbidden" for a bad key. What it
// delivers is the MIME file as sent (Delivery.Raw), to the to fields.
type fakeMailgun struct{}

func mgError(status int, msg string) *fakeapi.Reply {
	return fakeapi.JSON(status, map[string]string{"message": msg})
}

func (fakeMailgun) Accept(r *http.Request, body []byte) (transporttest.Delivery, *fakeapi.Reply) {
	var d transporttest.Delivery
	user, pass, ok := r.BasicAuth()
	switch {
	case r.Method != http.MethodPost:
		return d, &fakeapi.Reply{Status: 405}
	case !ok || user != "api" || pass != testKey:
		return d, &fakeapi.Reply{Status: 401, Body: []byte("Forbidden")}
	case r.URL.Path == "/v3/"+testDomain+"/messages":
		return d, mgError(400, "this fake speaks messages.mime only")
	case r.URL.Path != "/v3/"+testDomain+"/messages.mime":
		return d, mgError(404, "Domain not found: "+strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/messages.mime"), "/v3/"))
	case fakeapi.MediaType(r) != "multipart/form-data":
		return d, mgError(400, "Content-Type must be multipart/form-data")
	}
	_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(64 << 20)
	if err != nil {
		return d, mgError(400, "malformed multipart body: "+err.Error())
	}
	n := 0
	for k, vs := range form.Value {
		switch {
		case k == "to":
		case strings.HasPrefix(k, "o:"), strings.HasPrefix(k, "v:"), strings.HasPrefix(k, "h:"), strings.HasPrefix(k, "t:"):
			for _, v := range vs {
				n += len(k) + len(v)
			}
		default:
			return d, mgError(400, "unknown parameter "+k)
		}
	}
	if n > MaxOptions {
		return d, mgError(400, "Send options (parameters starting with o:, h:, v:, or t:) are limited to 16 kB total")
	}
	if len(form.Value["o:tag"]) > MaxTags {
		return d, mgError(400, "too many tags")
	}
	files := form.File["message"]
	if len(files) != 1 || len(form.File) != 1 {
		return d, mgError(400, "'message' parameter is missing")
	}
	f, err := files[0].Open()
	if err != nil {
		return d, mgError(400, err.Error())
	}
	raw, _ := io.ReadAll(f)
	f.Close()
	if len(raw) > MaxSize {
		return d, &fakeapi.Reply{Status: 413, Body: []byte("Request Entity Too Large")}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return d, mgError(400, "message is not a valid MIME document: "+err.Error())
	}
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil {
		return d, mgError(400, "from parameter is missing")
	}
	d.Envelope.From = from.Address
	if len(form.Value["to"]) == 0 {
		return d, mgError(400, "to parameter is missing")
	}
	for _, v := range form.Value["to"] {
		l, err := mail.ParseAddressList(v)
		if err != nil {
			return d, mgError(400, "to parameter is not a valid address. please check documentation")
		}
		for _, a := range l {
			d.Envelope.To = append(d.Envelope.To, a.Address)
		}
	}
	if len(d.Envelope.To) > MaxRecipients {
		return d, mgError(400, "Too many recipients")
	}
	d.Raw = raw
	return d, nil
}

func (fakeMailgun) Accepted(_ *http.Request, _ []byte, d transporttest.Delivery, n int) *fakeapi.Reply {
	msg, _ := mail.ReadMessage(bytes.NewReader(d.Raw))
	id := msg.Header.Get("Message-Id")
	if id == "" {
		id = "<20240309120000." + strconv.Itoa(n) + "@" + testDomain + ">"
	}
	return fakeapi.JSON(200, map[string]string{"id": id, "message": "Queued. Thank you."})
}

func (fakeMailgun) Refusal(f transporttest.Fault) *fakeapi.Reply {
	switch f.Kind {
	case transporttest.AuthFailed:
		return &fakeapi.Reply{Status: 401, Body: []byte("Forbidden")}
	case transporttest.RateLimited:
		return mgError(429, "Too many requests").With("Retry-After", "5")
	case transporttest.ServiceUnavailable:
		return mgError(503, "Service Unavailable")
	}
	return nil // Mailgun refuses no single recipient at send time; bounces come as events
}
