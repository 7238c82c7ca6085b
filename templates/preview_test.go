package templates

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"
	"time"
)

func previewServer(t *testing.T) *httptest.Server {
	t.Helper()
	fixtures := map[string][]Fixture{
		"welcome": {
			{Name: "new customer", Data: welcomeData{Name: "Ann", URL: "https://shop.example/start"}},
			{Name: `<script>alert("fixture")</script>`, Data: func() any { return welcomeData{Name: `<img src=x onerror=alert(1)>`, URL: "https://shop.example/"} }},
			{Name: "broken", Data: map[string]any{}},
		},
		"receipt": {{Name: "two items", Data: map[string]any{"Number": "R-1", "Items": []map[string]string{{"Name": "Tea", "Price": "$3"}}}}},
		"ghost":   {{Name: "x"}},
	}
	now := func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }
	h := PreviewHandler(newShop(t), fixtures, &PreviewOptions{Now: now})
	mux := http.NewServeMux()
	mux.Handle("/previews/", http.StripPrefix("/previews", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestPreviewIndex(t *testing.T) {
	srv := previewServer(t)
	resp, body := get(t, srv.URL+"/previews/")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`<a href="view?f=0&amp;l=&amp;n=welcome">new customer · base</a>`,
		`<a href="view?f=0&amp;l=fr&amp;n=welcome">new customer · fr</a>`,
		`&lt;script&gt;alert(&#34;fixture&#34;)&lt;/script&gt; · base`,
		`<a href="view?f=0&amp;l=&amp;n=plain">no data · base</a>`,
		"no fixtures: add some",
		"Fixtures for unknown notifications: ghost",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("index lacks %s\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("index has an unescaped <script>")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("index CSP = %q", csp)
	}
}

func TestPreviewIndexRedirectsToSlash(t *testing.T) {
	// Mounted with http.Handle("/previews", http.StripPrefix("/previews", h)), the index
	// arrives without a trailing slash and relative links would break: redirect.
	h := http.StripPrefix("/previews", PreviewHandler(newShop(t), nil, nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/previews", nil))
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/previews/" {
		t.Errorf("GET /previews: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestPreviewView(t *testing.T) {
	srv := previewServer(t)
	resp, body := get(t, srv.URL+"/previews/view?n=welcome&f=1&l=fr-CA")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<iframe id="email" title="HTML body" sandbox="" referrerpolicy="no-referrer" src="html?f=1&amp;l=fr-CA&amp;n=welcome">`,
		`· fr-CA (templates: fr)`,
		// The text derived from the French HTML, escaped.
		"Bonjour &lt;img src=x onerror=alert(1)&gt;",
		// Headers from the real MIME rendering.
		"<th>Subject</th><td>Bienvenue, &lt;img src=x onerror=alert(1)&gt; !</td>",
		"<th>Date</th><td>Sun, 01 Mar 2026 12:00:00 &#43;0000</td>",
		"<th>Message-ID</th><td>&lt;preview@example.com&gt;</td>",
		"MIME-Version: 1.0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("view lacks %s\n%s", want, body)
		}
	}
	if strings.Contains(body, "<img src=x") || strings.Contains(body, "<script>") {
		t.Errorf("view has unescaped markup:\n%s", body)
	}
}

func TestPreviewHTMLFrame(t *testing.T) {
	srv := previewServer(t)
	resp, body := get(t, srv.URL+"/previews/html?n=welcome&f=0&l=")
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"sandbox", "default-src 'none'", "img-src data:"} {
		if !strings.Contains(csp, want) {
			t.Errorf("email CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "allow-scripts") {
		t.Errorf("email CSP allows scripts: %q", csp)
	}
	if !strings.Contains(body, `<img src="data:image/png;base64,`) || strings.Contains(body, "cid:") {
		t.Errorf("inline image not turned into a data: URL:\n%s", body)
	}
	if !strings.Contains(body, `style="color:red;padding:4px"`) {
		t.Errorf("the previewed HTML is not the inlined one:\n%s", body)
	}
}

func TestPreviewTextAndRaw(t *testing.T) {
	srv := previewServer(t)
	resp, text := get(t, srv.URL+"/previews/text?n=welcome&f=0&l=")
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || text != "Hello Ann, start at https://shop.example/start\n-- \nShop\n" {
		t.Errorf("text: %q %q", ct, text)
	}
	_, raw := get(t, srv.URL+"/previews/raw?n=welcome&f=0&l=")
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("raw MIME does not parse: %v\n%s", err, raw)
	}
	to, err := m.Header.AddressList("To")
	if m.Header.Get("Subject") != "Welcome, Ann!" || err != nil || len(to) != 1 || to[0].Address != "recipient@example.com" {
		t.Errorf("headers: %v", m.Header)
	}
	// multipart/alternative holding text and multipart/related (HTML + logo).
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	var types []string
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		ct := p.Header.Get("Content-Type")
		types = append(types, strings.SplitN(ct, ";", 2)[0])
		if strings.HasPrefix(ct, "multipart/related") {
			_, pp, _ := mime.ParseMediaType(ct)
			rr := multipart.NewReader(p, pp["boundary"])
			for {
				q, err := rr.NextPart()
				if err != nil {
					break
				}
				types = append(types, "  "+strings.SplitN(q.Header.Get("Content-Type"), ";", 2)[0]+" "+q.Header.Get("Content-Id"))
				var b bytes.Buffer
				io.Copy(&b, q)
			}
		}
	}
	got := strings.Join(types, "|")
	if !strings.HasPrefix(got, "text/plain|multipart/related|  text/html |  image/png <logo.png.") {
		t.Errorf("structure = %s", got)
	}
}

func TestPreviewErrors(t *testing.T) {
	srv := previewServer(t)
	resp, body := get(t, srv.URL+"/previews/view?n=welcome&f=2&l=")
	if resp.StatusCode != 500 || !strings.Contains(body, `map has no entry for key &#34;Name&#34;`) {
		t.Errorf("broken fixture: %d\n%s", resp.StatusCode, body)
	}
	for _, u := range []string{"/previews/view?n=nope&f=0", "/previews/view?n=welcome&f=9", "/previews/html?n=welcome&f=x", "/previews/other"} {
		if resp, _ := get(t, srv.URL+u); resp.StatusCode != 404 {
			t.Errorf("%s: status %d, want 404", u, resp.StatusCode)
		}
	}
	resp, err := http.Post(srv.URL+"/previews/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}
